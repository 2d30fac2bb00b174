/**
 * The queries the Flagger model and the operators ask of a metrics backend. The scraped in-process
 * store answers them on the local platform (scrape.ts); Prometheus's HTTP API answers them on a
 * cluster. Windows and results are in scenario time.
 */
export interface WorkloadQuery {
  namespace: string;
  /** The destination workload (Flagger queries the canary workload only, never -primary). */
  workload: string;
  /** Range of the rate() window, scenario milliseconds. */
  windowMs: number;
}

export interface ServiceQuery {
  namespace: string;
  /** The destination service: every workload behind it, as the dashboard's panel shows it. */
  service: string;
  windowMs: number;
}

export interface MetricsSource {
  /** Flagger's request-success-rate in percent; undefined is Prometheus's "no values". */
  requestSuccessRate(query: WorkloadQuery): Promise<number | undefined>;
  /** Flagger's request-duration: p99 in milliseconds; undefined when there is no data. */
  requestDurationP99(query: WorkloadQuery): Promise<number | undefined>;
  /**
   * Share (0..1) of 5xx answers of a service as its clients saw them (reporter="source"); 0 without
   * a 5xx series; undefined when the service's series have no rate (no traffic, or fewer than two
   * samples in the window).
   */
  serviceErrorRate(query: ServiceQuery): Promise<number | undefined>;
  /**
   * p99 duration in milliseconds of a service's answers as its clients saw them (reporter="source"),
   * Flagger's request-duration query on the service's series: the dashboard's latency panel.
   * Undefined when there was no traffic.
   */
  serviceLatencyP99(query: ServiceQuery): Promise<number | undefined>;
}

/**
 * Bucket bounds of Istio's istio_request_duration_milliseconds histogram (Istio's default
 * buckets), so histogram_quantile gives what it would give on a cluster.
 */
export const ISTIO_DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
] as const;
