import { PlatformError } from '../../common/errors.ts';
import type { MetricsSource, ServiceQuery, WorkloadQuery } from '../../metrics/types.ts';

const range = (ms: number) => `${Math.max(1, Math.round(ms / 1000))}s`;

/**
 * The same queries through Prometheus's HTTP API: Flagger's built-in Istio checks (docs/design.md §5)
 * and the service dashboard's error rate (reporter="source": what clients saw).
 */
export class PrometheusMetrics implements MetricsSource {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5_000,
  ) {}

  /** The query's single value at `atS` (Unix seconds; now when absent), undefined for no value. */
  async query(promql: string, atS?: number): Promise<number | undefined> {
    const at = atS === undefined ? '' : `&time=${atS}`;
    const url = `${this.baseUrl.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(promql)}${at}`;
    let body: { status?: string; error?: string; data?: { result?: Array<{ value?: [number, string] }> } };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
      body = (await res.json()) as typeof body;
    } catch (err) {
      throw new PlatformError(`prometheus: query failed at ${this.baseUrl}: ${(err as Error).message}`);
    }
    if (body.status !== 'success') throw new PlatformError(`prometheus: ${body.error ?? 'query failed'}`);
    const value = body.data?.result?.[0]?.value?.[1];
    if (value === undefined) return undefined;
    const n = Number(value);
    return Number.isNaN(n) ? undefined : n;
  }

  static successRateQuery(q: WorkloadQuery): string {
    const sel = `reporter="destination",destination_workload_namespace="${q.namespace}",destination_workload=~"${q.workload}"`;
    return (
      `sum(rate(istio_requests_total{${sel},response_code!~"5.*"}[${range(q.windowMs)}])) / ` +
      `sum(rate(istio_requests_total{${sel}}[${range(q.windowMs)}])) * 100`
    );
  }

  static durationQuery(q: WorkloadQuery): string {
    const sel = `reporter="destination",destination_workload_namespace="${q.namespace}",destination_workload=~"${q.workload}"`;
    return `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${sel}}[${range(q.windowMs)}])) by (le))`;
  }

  /** The service dashboard's selector: what clients saw of every workload behind the service. */
  private static serviceSelector(q: ServiceQuery): string {
    return `reporter="source",destination_workload_namespace="${q.namespace}",destination_service=~"${q.service}.*"`;
  }

  /**
   * The dashboard's error rate. A service without a 5xx series has no 5xx side at all: `or on()
   * vector(0)` makes that 0%, so the panel shows no data only when the service had no traffic.
   */
  static errorRateQuery(q: ServiceQuery): string {
    const sel = PrometheusMetrics.serviceSelector(q);
    return `(sum(rate(istio_requests_total{${sel},response_code=~"5.*"}[${range(q.windowMs)}])) or on() vector(0)) / sum(rate(istio_requests_total{${sel}}[${range(q.windowMs)}]))`;
  }

  /** Flagger's request-duration query (docs/design.md §5) on the service's source-reported series. */
  static serviceLatencyQuery(q: ServiceQuery): string {
    const sel = PrometheusMetrics.serviceSelector(q);
    return `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${sel}}[${range(q.windowMs)}])) by (le))`;
  }

  requestSuccessRate(q: WorkloadQuery): Promise<number | undefined> {
    return this.query(PrometheusMetrics.successRateQuery(q));
  }

  requestDurationP99(q: WorkloadQuery): Promise<number | undefined> {
    return this.query(PrometheusMetrics.durationQuery(q));
  }

  serviceErrorRate(q: ServiceQuery): Promise<number | undefined> {
    return this.query(PrometheusMetrics.errorRateQuery(q));
  }

  serviceLatencyP99(q: ServiceQuery): Promise<number | undefined> {
    return this.query(PrometheusMetrics.serviceLatencyQuery(q));
  }
}
