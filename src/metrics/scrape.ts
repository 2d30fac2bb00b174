import type { Clock } from '../common/clock.ts';
import { deriveSeed } from '../common/random.ts';
import { type Bucket, extrapolatedRate, histogramQuantile, type Sample, selectRange } from './promql.ts';
import type { MetricsStore, SeriesLabels } from './store.ts';
import { ISTIO_DURATION_BUCKETS_MS, type MetricsSource, type ServiceQuery, type WorkloadQuery } from './types.ts';

export interface ScrapeOptions {
  clock: Clock;
  /** Prometheus' scrape_interval, scenario ms. */
  intervalMs: number;
  /** Seeds each target's phase within the interval (see rephase). */
  seed: number;
  /** Each target's phase in ms, 0 ≤ phase < interval, in place of the seeded draw (tests pin it to derive values by hand). */
  phase?: (target: string) => number;
}

/** What Prometheus keeps of one series: its samples, time-ordered. */
export interface StoredSeries {
  labels: SeriesLabels;
  counts: Sample[];
  /** One series per histogram bucket (ISTIO_DURATION_BUCKETS_MS, then +Inf), sampled together. */
  buckets: Sample[][];
}

const BOUNDS = [...ISTIO_DURATION_BUCKETS_MS, Infinity];

/**
 * Prometheus in front of the store (docs/design.md §11): every target (a pod's sidecar, the client
 * side's proxy) is scraped every interval on its own seeded phase, on the run's clock, and the
 * queries see those samples only, with PromQL's semantics (promql.ts). A series appears at the
 * first scrape after its first request, with its count so far: rate() never sees that first
 * increment. Flagger's queries and the operators' panel read the same samples.
 */
export class ScrapedMetrics implements MetricsSource, AsyncDisposable {
  private readonly stored = new Map<string, StoredSeries>();
  private loops = new AbortController();
  private seed: number;
  private gapUntilMs = -Infinity;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: MetricsStore,
    private readonly options: ScrapeOptions,
  ) {
    if (!(options.intervalMs > 0)) throw new RangeError(`scrape interval must be positive, got ${options.intervalMs}`);
    this.seed = options.seed;
    this.unsubscribe = store.onTarget((target) => this.startLoop(target));
    for (const target of store.targets) this.startLoop(target);
  }

  /**
   * Draws every target's phase again from `seed`, from now on (each run's scrapes fall at their
   * own phase, as each run's Flagger ticks do). Samples taken so far stay.
   */
  rephase(seed: number): void {
    this.loops.abort();
    this.loops = new AbortController();
    this.seed = seed;
    for (const target of this.store.targets) this.startLoop(target);
  }

  /** The target's phase: Prometheus spreads targets over the interval by a hash of the target. */
  phaseMs(target: string): number {
    if (this.options.phase) return this.options.phase(target);
    return Math.floor((deriveSeed(this.seed, `scrape/${target}`) / 2 ** 32) * this.options.intervalMs);
  }

  private startLoop(target: string): void {
    this.scrapeLoop(target, this.loops.signal).catch(() => undefined);
  }

  private async scrapeLoop(target: string, signal: AbortSignal): Promise<void> {
    const { clock, intervalMs } = this.options;
    const phase = this.phaseMs(target);
    // Scrapes sit on a fixed grid: phase + k × interval, from the first one due now or later.
    let next = phase + Math.ceil((clock.now() - phase) / intervalMs) * intervalMs;
    while (!signal.aborted && !this.store.isRetired(target)) {
      const wait = next - clock.now();
      if (wait > 0) await clock.sleep(wait, signal);
      if (signal.aborted || this.store.isRetired(target)) return;
      // Stamped with the planned time, as Prometheus aligns a scrape that starts a few ms late
      // (a loaded machine): the spacing of samples stays exact, the values are read now.
      this.scrape(target, Math.round(next));
      next += intervalMs;
      // A scrape that fell due while this one was late is skipped, as Prometheus' ticker skips it.
      while (next <= clock.now()) next += intervalMs;
    }
  }

  /** One scrape of `target` at `atMs`: a sample of each series it exposes now. */
  scrape(target: string, atMs: number): void {
    for (const snapshot of this.store.collect(target)) {
      let series = this.stored.get(snapshot.key);
      if (!series) {
        series = { labels: snapshot.labels, counts: [], buckets: BOUNDS.map(() => []) };
        this.stored.set(snapshot.key, series);
      }
      series.counts.push({ tMs: atMs, value: snapshot.count });
      for (let i = 0; i < BOUNDS.length; i++) series.buckets[i]!.push({ tMs: atMs, value: snapshot.buckets[i]! });
    }
  }

  /** Every series scraped so far with its samples (to feed the same series to a real Prometheus). */
  get series(): readonly StoredSeries[] {
    return [...this.stored.values()];
  }

  /** Drops samples older than `beforeMs` to bound memory over long experiments. */
  prune(beforeMs: number): void {
    for (const [key, series] of this.stored) {
      const keep = series.counts.findIndex((s) => s.tMs >= beforeMs);
      if (keep < 0) {
        this.stored.delete(key);
        continue;
      }
      series.counts.splice(0, keep);
      for (const bucket of series.buckets) bucket.splice(0, keep);
    }
  }

  /** Makes queries answer "unavailable" until `untilMs`, to rehearse a metrics outage. */
  simulateOutage(untilMs: number): void {
    this.gapUntilMs = untilMs;
  }

  /**
   * `sum(rate(<samples>[W]))` over the series that `match`: undefined when no series has two
   * samples in the window (an empty vector), as the sum of nothing is no value, not 0.
   */
  private sumRate(
    match: (labels: SeriesLabels) => boolean,
    windowMs: number,
    pick: (series: StoredSeries) => readonly Sample[],
  ): number | undefined {
    const endMs = this.queryTimeMs();
    let sum: number | undefined;
    for (const series of this.stored.values()) {
      if (!match(series.labels)) continue;
      const rate = extrapolatedRate(selectRange(pick(series), endMs, windowMs), endMs - windowMs, endMs, true);
      if (rate !== undefined) sum = (sum ?? 0) + rate;
    }
    return sum;
  }

  private queryTimeMs(): number {
    const now = this.options.clock.now();
    if (now < this.gapUntilMs) throw new Error('metrics store unavailable (simulated outage)');
    // Prometheus evaluates at a whole millisecond.
    return Math.round(now);
  }

  /** `a / b` of two single-value vectors: no value when either is empty or the quotient is NaN (0/0). */
  private static ratio(a: number | undefined, b: number | undefined): number | undefined {
    if (a === undefined || b === undefined) return undefined;
    const q = a / b;
    return Number.isNaN(q) ? undefined : q;
  }

  private static workload(query: WorkloadQuery): (l: SeriesLabels) => boolean {
    return (l) => l.reporter === 'destination' && l.namespace === query.namespace && l.workload === query.workload;
  }

  async requestSuccessRate(query: WorkloadQuery): Promise<number | undefined> {
    const selected = ScrapedMetrics.workload(query);
    // sum(rate(non-5xx)) / sum(rate(all)) * 100: with no non-5xx series (every answer a 5xx) the
    // quotient is an empty vector, which Flagger reports as "no values found", not 0%.
    const ok = this.sumRate(
      (l) => selected(l) && !isServerError(l.responseCode),
      query.windowMs,
      (s) => s.counts,
    );
    const all = this.sumRate(selected, query.windowMs, (s) => s.counts);
    const ratio = ScrapedMetrics.ratio(ok, all);
    return ratio === undefined ? undefined : ratio * 100;
  }

  /** histogram_quantile(0.99, sum(rate(..._bucket[W])) by (le)) over the series that `match`. */
  private p99(match: (labels: SeriesLabels) => boolean, windowMs: number): number | undefined {
    const buckets: Bucket[] = [];
    for (let i = 0; i < BOUNDS.length; i++) {
      const count = this.sumRate(match, windowMs, (s) => s.buckets[i]!);
      if (count !== undefined) buckets.push({ le: BOUNDS[i]!, count });
    }
    if (buckets.length === 0) return undefined;
    const p99 = histogramQuantile(0.99, buckets);
    return Number.isNaN(p99) ? undefined : p99;
  }

  async requestDurationP99(query: WorkloadQuery): Promise<number | undefined> {
    return this.p99(ScrapedMetrics.workload(query), query.windowMs);
  }

  /** What a service dashboard selects: the client side's series of every workload behind the service. */
  private static service(query: ServiceQuery): (l: SeriesLabels) => boolean {
    return (l) => l.reporter === 'source' && l.namespace === query.namespace && l.service === query.service;
  }

  async serviceLatencyP99(query: ServiceQuery): Promise<number | undefined> {
    return this.p99(ScrapedMetrics.service(query), query.windowMs);
  }

  async serviceErrorRate(query: ServiceQuery): Promise<number | undefined> {
    const selected = ScrapedMetrics.service(query);
    const errors = this.sumRate(
      (l) => selected(l) && isServerError(l.responseCode),
      query.windowMs,
      (s) => s.counts,
    );
    const all = this.sumRate(selected, query.windowMs, (s) => s.counts);
    // (sum(rate(5xx)) or on() vector(0)) / sum(rate(all)): no 5xx series is 0%, not no data.
    return ScrapedMetrics.ratio(errors ?? 0, all);
  }

  /** Stops scraping; the samples stay queryable. */
  stop(): void {
    this.unsubscribe();
    this.loops.abort();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.stop();
  }
}

/** response_code=~"5.*". */
function isServerError(code: number): boolean {
  return code >= 500 && code <= 599;
}
