import { ISTIO_DURATION_BUCKETS_MS } from './types.ts';

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
  /**
   * The pod that answered (destination reporter). Each pod's sidecar is its own scrape target and
   * its series are its own, so a new pod starts new series. Without it the workload stands in.
   */
  pod?: string;
}

/** The labels of one series: a request's labels without the request. */
export type SeriesLabels = Required<RequestLabels>;

/** One series' counters as a scrape reads them. */
export interface SeriesSnapshot {
  /** Identifies the series across scrapes. */
  key: string;
  labels: SeriesLabels;
  /** istio_requests_total. */
  count: number;
  /** istio_request_duration_milliseconds_bucket, cumulative, one per ISTIO_DURATION_BUCKETS_MS bound, then +Inf. */
  buckets: Float64Array;
}

interface Series {
  key: string;
  labels: SeriesLabels;
  target: string;
  count: number;
  /** Non-cumulative counts per histogram bucket; the last slot is +Inf. */
  histogram: Float64Array;
  sumMs: number;
}

/** Where the client side's (reporter="source") series are scraped: one proxy in front of the service. */
const SOURCE_POD = 'source-proxy';

/** The scrape target a series belongs to: the sidecar of its pod, or the client-side proxy. */
export function targetOf(labels: Pick<SeriesLabels, 'namespace' | 'pod'>): string {
  return `${labels.namespace}/${labels.pod}`;
}

/**
 * Istio's counters as the sidecars keep them: the router records every request it forwards, and
 * the store keeps each series' cumulative count and duration histogram. Nothing here answers a
 * query: a scraper (scrape.ts) samples the counters the way Prometheus does, and a real Prometheus
 * can scrape the same counters in text format (renderPrometheus).
 */
export class MetricsStore {
  private readonly series = new Map<string, Series>();
  private readonly byTarget = new Map<string, Series[]>();
  private readonly retired = new Set<string>();
  private readonly slots = ISTIO_DURATION_BUCKETS_MS.length + 1;
  private readonly recordListeners: Array<(labels: RequestLabels, atMs: number) => void> = [];
  private readonly targetListeners: Array<(target: string) => void> = [];

  /** Calls `listener` with every record as it is stored (for observers such as the benchmarks). Returns the unsubscribe. */
  onRecord(listener: (labels: RequestLabels, atMs: number) => void): () => void {
    return subscribe(this.recordListeners, listener);
  }

  /** Calls `listener` when a scrape target gets its first series (a pod's first request). */
  onTarget(listener: (target: string) => void): () => void {
    return subscribe(this.targetListeners, listener);
  }

  /** Every target with series that is not retired. */
  get targets(): string[] {
    return [...this.byTarget.keys()].filter((t) => !this.retired.has(t));
  }

  record(labels: RequestLabels, atMs: number, latencyMs: number): void {
    for (const listener of this.recordListeners) listener(labels, atMs);
    const reporter = labels.reporter ?? 'destination';
    const full: SeriesLabels = {
      namespace: labels.namespace,
      workload: labels.workload,
      service: labels.service,
      responseCode: labels.responseCode,
      reporter,
      pod: reporter === 'source' ? SOURCE_POD : (labels.pod ?? labels.workload),
    };
    const key = [full.reporter, full.namespace, full.workload, full.service, full.pod, full.responseCode].join(
      '\u0000',
    );
    let series = this.series.get(key);
    let newTarget: string | undefined;
    if (!series) {
      const target = targetOf(full);
      series = { key, labels: full, target, count: 0, histogram: new Float64Array(this.slots), sumMs: 0 };
      this.series.set(key, series);
      const list = this.byTarget.get(target);
      if (list) list.push(series);
      else {
        this.byTarget.set(target, [series]);
        if (!this.retired.has(target)) newTarget = target;
      }
    }
    series.count++;
    series.histogram[bucketSlot(latencyMs)]!++;
    series.sumMs += latencyMs;
    // Told after the count: a scrape that runs at once sees the series with this request in it.
    if (newTarget !== undefined) for (const listener of this.targetListeners) listener(newTarget);
  }

  /**
   * The pod is gone: Prometheus stops scraping it, so its series get no more samples (the ones
   * taken stay queryable). Requests it answers after this are never seen by a scrape.
   */
  retirePod(namespace: string, pod: string): void {
    this.retired.add(targetOf({ namespace, pod }));
  }

  isRetired(target: string): boolean {
    return this.retired.has(target);
  }

  /** What a scrape of `target` reads now: every series it has, with its counters. */
  collect(target: string): SeriesSnapshot[] {
    return (this.byTarget.get(target) ?? []).map((s) => {
      const buckets = new Float64Array(this.slots);
      let running = 0;
      for (let i = 0; i < this.slots; i++) buckets[i] = running += s.histogram[i]!;
      return { key: s.key, labels: s.labels, count: s.count, buckets };
    });
  }

  /**
   * Prometheus text exposition of istio_requests_total and istio_request_duration_milliseconds,
   * labelled as Istio labels them, with the pod that a Prometheus target would add.
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
      const l = series.labels;
      const labels =
        `reporter="${l.reporter}",destination_workload="${escapeLabel(l.workload)}",` +
        `destination_workload_namespace="${escapeLabel(l.namespace)}",` +
        `destination_service="${escapeLabel(l.service)}",pod="${escapeLabel(l.pod)}",response_code="${l.responseCode}"`;
      lines.push(`istio_requests_total{${labels}} ${series.count}`);
      let running = 0;
      for (let i = 0; i < ISTIO_DURATION_BUCKETS_MS.length; i++) {
        running += series.histogram[i]!;
        histogramLines.push(
          `istio_request_duration_milliseconds_bucket{${labels},le="${ISTIO_DURATION_BUCKETS_MS[i]}"} ${running}`,
        );
      }
      histogramLines.push(`istio_request_duration_milliseconds_bucket{${labels},le="+Inf"} ${series.count}`);
      histogramLines.push(`istio_request_duration_milliseconds_sum{${labels}} ${Number(series.sumMs.toFixed(3))}`);
      histogramLines.push(`istio_request_duration_milliseconds_count{${labels}} ${series.count}`);
    }
    return `${lines.join('\n')}\n${histogramLines.join('\n')}\n`;
  }
}

function subscribe<T>(list: T[], listener: T): () => void {
  list.push(listener);
  return () => {
    const at = list.indexOf(listener);
    if (at >= 0) list.splice(at, 1);
  };
}

function bucketSlot(latencyMs: number): number {
  for (let i = 0; i < ISTIO_DURATION_BUCKETS_MS.length; i++) if (latencyMs <= ISTIO_DURATION_BUCKETS_MS[i]!) return i;
  return ISTIO_DURATION_BUCKETS_MS.length;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
