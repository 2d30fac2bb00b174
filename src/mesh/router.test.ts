import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../faulty-app/build.ts';
import { parsePrometheusText } from '../../faulty-app/src/test-support.ts';
import { ScaledClock, VirtualClock } from '../common/clock.ts';
import { ScrapedMetrics } from '../metrics/scrape.ts';
import { MetricsStore } from '../metrics/store.ts';
import { AppLauncher, type AppInstance } from '../platform/local/app-process.ts';
import { ProcessRegistry } from '../process/registry.ts';
import { WeightedRouter } from './router.ts';

// Real faulty-app processes behind the real router, over loopback HTTP.
let workDir: string;
let registry: ProcessRegistry;
let stable: AppInstance;
let faulty: AppInstance;
let launcher: AppLauncher;

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'router-test-'));
  registry = new ProcessRegistry({ experiment: 'router-test' });
  launcher = new AppLauncher(registry, await buildApp(path.join(workDir, 'app.mjs')), 1);
  stable = await launcher.start({ version: 'v1', fault: 'none', errorRate: 0, latencyMs: 0, onsetS: 0 }, 'stable', 1);
  faulty = await launcher.start(
    { version: 'v2', fault: 'http500', errorRate: 1, latencyMs: 0, onsetS: 0 },
    'faulty',
    2,
  );
  expect(await launcher.waitReady(stable, 10_000)).toBe(true);
  expect(await launcher.waitReady(faulty, 10_000)).toBe(true);
});

afterAll(async () => {
  await registry[Symbol.asyncDispose]();
  rmSync(workDir, { recursive: true, force: true });
});

async function startRouter(seed: number): Promise<{ router: WeightedRouter; store: MetricsStore }> {
  const clock = new ScaledClock(1);
  const store = new MetricsStore();
  const router = await new WeightedRouter({ clock, metrics: store, namespace: 'ns', service: 'svc', seed }).start();
  router.setEndpoints('svc-primary', [{ host: '127.0.0.1', port: stable.port }]);
  router.setEndpoints('svc', [{ host: '127.0.0.1', port: faulty.port }]);
  return { router, store };
}

function post(url: string, agent: http.Agent): Promise<{ status: number; version: string }> {
  return new Promise((resolve, reject) => {
    const body = '{"sms":"win a free prize now"}';
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-app-version'] ?? '') }),
        );
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

async function sendMany(url: string, count: number): Promise<Array<{ status: number; version: string }>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const out: Array<{ status: number; version: string }> = [];
  try {
    for (let i = 0; i < count; i += 16) {
      const batch = await Promise.all(Array.from({ length: Math.min(16, count - i) }, () => post(url, agent)));
      out.push(...batch);
    }
  } finally {
    agent.destroy();
  }
  return out;
}

describe('weighted router with real faulty-app processes', () => {
  for (const weight of [10, 50]) {
    it(`sends ${weight}% of 2,000 requests to the canary, within ±2 percentage points`, async () => {
      const { router } = await startRouter(weight);
      try {
        router.setRoutes([
          { workload: 'svc-primary', weight: 100 - weight },
          { workload: 'svc', weight },
        ]);
        const answers = await sendMany(`${router.url}/sms`, 2_000);
        const toCanary = answers.filter((a) => a.version === 'v2').length;
        expect(Math.abs((toCanary / 2_000) * 100 - weight)).toBeLessThanOrEqual(2);
        // Ground truth by x-app-version: every error came from the faulty build, every v2 answer failed.
        const errors = answers.filter((a) => a.status >= 500);
        expect(errors.length).toBe(toCanary);
        expect(errors.every((a) => a.version === 'v2')).toBe(true);
        expect(answers.filter((a) => a.version === 'v1').every((a) => a.status === 200)).toBe(true);
      } finally {
        await router.stop();
      }
    });
  }

  it('exports Istio-labelled metrics that parse as Prometheus exposition and agree with the queries', async () => {
    const { router, store } = await startRouter(7);
    try {
      router.setRoutes([
        { workload: 'svc-primary', weight: 80 },
        { workload: 'svc', weight: 20 },
      ]);
      // Every series exists before the measured traffic: the queries scrape all targets at 0 s
      // (their phase), then again at 15 s after 500 more requests.
      await sendMany(`${router.url}/sms`, 100);
      const scrapeClock = new VirtualClock(0);
      const scraped = new ScrapedMetrics(store, { clock: scrapeClock, intervalMs: 15_000, seed: 1, phase: () => 0 });
      const before = parsePrometheusText(await (await fetch(router.metricsUrl)).text());
      const answers = await sendMany(`${router.url}/sms`, 500);
      await scrapeClock.advance(15_000);
      scraped.stop();
      const canaryCount = answers.filter((a) => a.version === 'v2').length;
      const text = await (await fetch(router.metricsUrl)).text();
      const families = parsePrometheusText(text);
      const requests = families.get('istio_requests_total');
      expect(requests?.type).toBe('counter');
      const canary500 = requests!.samples.find(
        (s) =>
          s.labels.destination_workload === 'svc' &&
          s.labels.response_code === '500' &&
          s.labels.reporter === 'destination',
      );
      expect(canary500?.labels.destination_workload_namespace).toBe('ns');
      // Each endpoint is a pod of its own, named in the series.
      expect(canary500?.labels.pod).toBe('svc-2');
      const earlier = before
        .get('istio_requests_total')!
        .samples.find((s) => s.labels.destination_workload === 'svc' && s.labels.reporter === 'destination');
      expect(canary500!.value - earlier!.value).toBe(canaryCount);
      const histogram = families.get('istio_request_duration_milliseconds');
      expect(histogram?.type).toBe('histogram');
      // The queries see the same traffic. Every canary answer was a 500, so there is no non-5xx
      // series: "no values", as Prometheus would answer Flagger's query. A 15 s window ending at
      // the second scrape holds both scrapes on its edges: no extrapolation, the rates are exact.
      const q = (workload: string) => ({ namespace: 'ns', workload, windowMs: 15_000 });
      expect(await scraped.requestSuccessRate(q('svc'))).toBeUndefined();
      expect(await scraped.requestSuccessRate(q('svc-primary'))).toBe(100);
      expect(await scraped.serviceErrorRate({ namespace: 'ns', service: 'svc', windowMs: 15_000 })).toBeCloseTo(
        canaryCount / 500,
        12,
      );
    } finally {
      await router.stop();
    }
  });

  it('answers 503 "no healthy upstream" when the chosen workload has no ready endpoint', async () => {
    const { router } = await startRouter(3);
    try {
      router.setEndpoints('svc', []);
      router.setRoutes([{ workload: 'svc', weight: 100 }]);
      const [answer] = await sendMany(`${router.url}/sms`, 1);
      expect(answer).toEqual({ status: 503, version: '' });
    } finally {
      await router.stop();
    }
  });

  it('fails with one clear line when its port is taken', async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    const clock = new ScaledClock(1);
    try {
      await expect(
        new WeightedRouter({
          clock,
          metrics: new MetricsStore(),
          namespace: 'ns',
          service: 'svc',
          port,
        }).start(),
      ).rejects.toThrow(`router: port 127.0.0.1:${port} is already in use; free it or choose another port`);
    } finally {
      blocker.close();
    }
  });
});
