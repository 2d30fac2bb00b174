import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusMetrics } from './prometheus.ts';

// A stand-in for Prometheus's HTTP API on loopback (the real one runs in the cluster tier): it
// records each PromQL query and answers an instant vector with one sample.
const queries: string[] = [];
let server: http.Server;
let baseUrl: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    queries.push(new URL(req.url!, 'http://x').searchParams.get('query') ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ value: [0, '812.5'] }] } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

describe("the dashboard's latency panel through Prometheus", () => {
  it("is Flagger's request-duration query on the service's source-reported series, over the panel's window", async () => {
    const metrics = new PrometheusMetrics(baseUrl);
    const p99 = await metrics.serviceLatencyP99({ namespace: 'shop', service: 'sms-checker', windowMs: 60_000 });
    expect(p99).toBe(812.5);
    expect(queries.at(-1)).toBe(
      'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="source",destination_workload_namespace="shop",destination_service=~"sms-checker.*"}[60s])) by (le))',
    );
    // The same series the error-rate panel reads.
    await metrics.serviceErrorRate({ namespace: 'shop', service: 'sms-checker', windowMs: 60_000 });
    expect(queries.at(-1)).toContain(
      'istio_requests_total{reporter="source",destination_workload_namespace="shop",destination_service=~"sms-checker.*"',
    );
  });
});
