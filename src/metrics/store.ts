import {
  ISTIO_DURATION_BUCKETS_MS,
  histogramQuantile,
  type MetricsSource,
  type ServiceQuery,
  type WorkloadQuery,
} from './types.ts';

/**
 * The labels Istio's telemetry puts on a request. `reporter` is who saw it: 'destination' is the
 * pod's sidecar (what Flagger's queries read; only requests a pod received), 'source' is the
 * client side (every answer the user got, including the mesh's own 503 "no healthy upstream";
 * what a service dashboard and its alerts read). Defaults to 'destination'.
 */
export interface RequestLabels {
  namespace: string;
  workload: string;
  service: string;
  responseCode: number;
  reporter?: 'source' | 'destination';
}

interface Bucket {
  total: number;
  errors: number;
  /** Non-cumulative counts per histogram bucket; the last slot is +Inf. */
  histogram: Uint32Array;
  latencySumMs: number;
}

interface Series {
  labels: Omit<RequestLabels, 'responseCode' | 'reporter'> & { reporter: 'source' | 'destination' };
  /** Scenario second → counts in that second. */
  seconds: Map<number, Bucket>;
  /** Cumulative totals per response code, for the Prometheus exposition. */
  byCode: Map<number, { count: number; histogram: Uint32Array; sumMs: number }>;
}

/**
 * An in-process stand-in for Prometheus: the router records every request it forwards, and the
 * store answers rate()-style queries over per-second buckets. It also renders the same counters
 * in Prometheus text format, so a real Prometheus can scrape the router instead.
 */
export class MetricsStore implements MetricsSource {
  private readonly series = new Map<string, Series>();
  private readonly slots = ISTIO_DURATION_BUCKETS_MS.length + 1;
  private gapUntilMs = -Infinity;

  /** `now` gives the scenario time a query is evaluated at. */
  constructor(private readonly now: () => number) {}

  private readonly recordListeners: Array<(labels: RequestLabels, atMs: number) => void> = [];

  /** Calls `listener` with every record as it is stored (for observers such as the benchmarks). Returns the unsubscribe. */
  onRecord(listener: (labels: RequestLabels, atMs: number) => void): () => void {
    this.recordListeners.push(listener);
    return () => {
      const at = this.recordListeners.indexOf(listener);
      if (at >= 0) this.recordListeners.splice(at, 1);
    };
  }

  record(labels: RequestLabels, atMs: number, latencyMs: number): void {
    for (const listener of this.recordListeners) listener(labels, atMs);
    const reporter = labels.reporter ?? 'destination';
    const key = `${reporter}\u0000${labels.namespace}\u0000${labels.workload}\u0000${labels.service}`;
    let series = this.series.get(key);
    if (!series) {
      series = {
        labels: { namespace: labels.namespace, workload: labels.workload, service: labels.service, reporter },
        seconds: new Map(),
        byCode: new Map(),
      };
      this.series.set(key, series);
    }
    const second = Math.floor(atMs / 1000);
    let bucket = series.seconds.get(second);
    if (!bucket) {
      bucket = { total: 0, errors: 0, histogram: new Uint32Array(this.slots), latencySumMs: 0 };
      series.seconds.set(second, bucket);
    }
    const slot = bucketSlot(latencyMs);
    bucket.total++;
    if (labels.responseCode >= 500) bucket.errors++;
    bucket.histogram[slot]!++;
    bucket.latencySumMs += latencyMs;
    let code = series.byCode.get(labels.responseCode);
    if (!code) {
      code = { count: 0, histogram: new Uint32Array(this.slots), sumMs: 0 };
      series.byCode.set(labels.responseCode, code);
    }
    code.count++;
    code.histogram[slot]!++;
    code.sumMs += latencyMs;
  }

  /** Drops per-second buckets older than `beforeMs` to bound memory over long experiments. */
  prune(beforeMs: number): void {
    const cutoff = Math.floor(beforeMs / 1000);
    for (const series of this.series.values()) {
      for (const second of series.seconds.keys()) if (second < cutoff) series.seconds.delete(second);
    }
  }

  /** Makes queries answer "unavailable" until `untilMs`, to rehearse a metrics outage. */
  simulateOutage(untilMs: number): void {
    this.gapUntilMs = untilMs;
  }

  /** What Flagger's queries select: the destination reporter's series of one workload. */
  private sumWorkload(query: WorkloadQuery): Bucket {
    return this.sumWindow(
      (s) =>
        s.labels.reporter === 'destination' &&
        s.labels.namespace === query.namespace &&
        s.labels.workload === query.workload,
      query.windowMs,
    );
  }

  private sumWindow(match: (s: Series) => boolean, windowMs: number): Bucket {
    this.assertAvailable();
    const now = this.now();
    // Whole seconds inside (now - window, now]: the same window a rate() over [W] covers.
    const from = Math.floor((now - windowMs) / 1000) + 1;
    const to = Math.floor(now / 1000);
    const sum: Bucket = { total: 0, errors: 0, histogram: new Uint32Array(this.slots), latencySumMs: 0 };
    for (const series of this.series.values()) {
      if (!match(series)) continue;
      for (const [second, bucket] of series.seconds) {
        if (second < from || second > to) continue;
        sum.total += bucket.total;
        sum.errors += bucket.errors;
        sum.latencySumMs += bucket.latencySumMs;
        for (let i = 0; i < this.slots; i++) sum.histogram[i]! += bucket.histogram[i]!;
      }
    }
    return sum;
  }

  private assertAvailable(): void {
    if (this.now() < this.gapUntilMs) throw new Error('metrics store unavailable (simulated outage)');
  }

  async requestSuccessRate(query: WorkloadQuery): Promise<number | undefined> {
    const sum = this.sumWorkload(query);
    // Flagger's query divides the rate of non-5xx answers by the rate of all answers. When every
    // answer was a 5xx, Prometheus has no non-5xx series at all: the quotient is an empty vector,
    // which Flagger reports as "no values found", not as 0%.
    if (sum.total === 0 || sum.total === sum.errors) return undefined;
    return ((sum.total - sum.errors) / sum.total) * 100;
  }

  async requestDurationP99(query: WorkloadQuery): Promise<number | undefined> {
    return p99(this.sumWorkload(query));
  }

  /** What a service dashboard selects: the source reporter's series of every workload behind the service. */
  private sumService(query: ServiceQuery): Bucket {
    return this.sumWindow(
      (s) =>
        s.labels.reporter === 'source' && s.labels.namespace === query.namespace && s.labels.service === query.service,
      query.windowMs,
    );
  }

  async serviceErrorRate(query: ServiceQuery): Promise<number | undefined> {
    const sum = this.sumService(query);
    if (sum.total === 0) return undefined;
    return sum.errors / sum.total;
  }

  async serviceLatencyP99(query: ServiceQuery): Promise<number | undefined> {
    return p99(this.sumService(query));
  }

  /**
   * Prometheus text exposition of istio_requests_total and istio_request_duration_milliseconds,
   * labelled as Istio's destination reporter labels them.
   */
  renderPrometheus(): string {
    const lines: string[] = [
      '# HELP istio_requests_total Requests seen by the destination proxy.',
      '# TYPE istio_requests_total counter',
    ];
    const histogramLines: string[] = [
      '# HELP istio_request_duration_milliseconds Request duration seen by the destination proxy.',
      '# TYPE istio_request_duration_milliseconds histogram',
    ];
    for (const series of this.series.values()) {
      for (const [code, totals] of series.byCode) {
        const labels =
          `reporter="${series.labels.reporter}",destination_workload="${escapeLabel(series.labels.workload)}",` +
          `destination_workload_namespace="${escapeLabel(series.labels.namespace)}",` +
          `destination_service="${escapeLabel(series.labels.service)}",response_code="${code}"`;
        lines.push(`istio_requests_total{${labels}} ${totals.count}`);
        let running = 0;
        for (let i = 0; i < ISTIO_DURATION_BUCKETS_MS.length; i++) {
          running += totals.histogram[i]!;
          histogramLines.push(
            `istio_request_duration_milliseconds_bucket{${labels},le="${ISTIO_DURATION_BUCKETS_MS[i]}"} ${running}`,
          );
        }
        histogramLines.push(`istio_request_duration_milliseconds_bucket{${labels},le="+Inf"} ${totals.count}`);
        histogramLines.push(`istio_request_duration_milliseconds_sum{${labels}} ${Number(totals.sumMs.toFixed(3))}`);
        histogramLines.push(`istio_request_duration_milliseconds_count{${labels}} ${totals.count}`);
      }
    }
    return `${lines.join('\n')}\n${histogramLines.join('\n')}\n`;
  }
}

/** histogram_quantile(0.99, …) over a window's buckets, as Flagger's request-duration query computes it. */
function p99(sum: Bucket): number | undefined {
  const cumulative: number[] = [];
  let running = 0;
  for (let i = 0; i < ISTIO_DURATION_BUCKETS_MS.length; i++) {
    running += sum.histogram[i]!;
    cumulative.push(running);
  }
  return histogramQuantile(0.99, ISTIO_DURATION_BUCKETS_MS, cumulative, sum.total);
}

function bucketSlot(latencyMs: number): number {
  for (let i = 0; i < ISTIO_DURATION_BUCKETS_MS.length; i++) if (latencyMs <= ISTIO_DURATION_BUCKETS_MS[i]!) return i;
  return ISTIO_DURATION_BUCKETS_MS.length;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
