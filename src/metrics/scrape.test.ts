import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../common/clock.ts';
import { ScrapedMetrics } from './scrape.ts';
import { MetricsStore, type RequestLabels } from './store.ts';

const NS = 'ns';
const canary = (responseCode: number, pod = 'app-1'): RequestLabels => ({
  namespace: NS,
  workload: 'app',
  service: 'app',
  responseCode,
  pod,
});
const query = (windowMs = 60_000) => ({ namespace: NS, workload: 'app', windowMs });

/** A store scraped every `intervalMs` at phase `phaseMs`, on a virtual clock from 0. */
function setUp(intervalMs: number, phaseMs = 0) {
  const clock = new VirtualClock(0);
  const store = new MetricsStore();
  const metrics = new ScrapedMetrics(store, { clock, intervalMs, seed: 1, phase: () => phaseMs });
  /** Moves the clock to each request's time and records it there. */
  const feed = async (requests: Array<[tMs: number, labels: RequestLabels, latencyMs?: number]>) => {
    for (const [tMs, labels, latencyMs] of requests) {
      await clock.advance(tMs - clock.now());
      store.record(labels, tMs, latencyMs ?? 3);
    }
  };
  const until = (tMs: number) => clock.advance(tMs - clock.now());
  return { clock, store, metrics, feed, until };
}

/** One request per second at s + 0.5 for s in [from, to), answered `code(s)`. */
function perSecond(from: number, to: number, code: (s: number) => number, pod = 'app-1') {
  const out: Array<[number, RequestLabels]> = [];
  for (let s = from; s < to; s++) out.push([s * 1000 + 500, canary(code(s), pod)]);
  return out;
}

describe('scraped metrics: Prometheus semantics on the local platform', () => {
  it("hides a fresh series' first increments: one 500 among 60 requests passes a 99% check", async () => {
    const { metrics, feed, until } = setUp(15_000);
    // 200s every second, one 500 at 50.5 s. Scrapes at 15, 30, 45, 60, 75 s.
    await feed(perSecond(0, 75, (s) => (s === 50 ? 500 : 200)));
    await until(75_000);
    // Window [15, 75]: the 500 series was first scraped at 60 s already holding its one request, and
    // is still 1 at 75 s: rate() sees no increase. The 200 series: 15 at 15 s, 74 at 75 s, samples on
    // both edges, 59/60 per second. Counted exactly, the window held 59 × 200 and 1 × 500: 98.3%.
    expect(await metrics.requestSuccessRate(query())).toBe(100);
  });

  it('sees the second 500 of that series, extrapolated to its zero point', async () => {
    const { metrics, feed, until } = setUp(15_000);
    await feed(perSecond(0, 75, (s) => (s === 50 || s === 65 ? 500 : 200)));
    await until(75_000);
    // 500 series: 1 at 60 s, 2 at 75 s. Start 45 s away, zero point 15 × 1/1 = 15 s back (< 16.5):
    // increase 1 × (15 + 15)/15 = 2, rate 2/60. 200 series: 15 at 15 s, 73 at 75 s, both on the
    // edges: 58/60. Success rate 58/(58 + 2) = 96.67%.
    expect(await metrics.requestSuccessRate(query())).toBeCloseTo((58 / 60) * 100, 10);
  });

  it('answers "no values" for a series with fewer than two samples in the window', async () => {
    const { metrics, feed, until } = setUp(15_000);
    // A new pod's first request at 20.5 s: first scraped at 30 s, second at 45 s.
    await feed(perSecond(20, 44, () => 200));
    await until(44_000);
    expect(await metrics.requestSuccessRate(query())).toBeUndefined();
    expect(await metrics.requestDurationP99(query())).toBeUndefined();
    await until(45_000);
    expect(await metrics.requestSuccessRate(query())).toBe(100);
  });

  it('answers "no values" when every answer was a 5xx (no non-5xx series), not 0%', async () => {
    const { metrics, feed, until } = setUp(15_000);
    await feed(perSecond(0, 59, () => 500));
    await until(60_000);
    expect(await metrics.requestSuccessRate(query())).toBeUndefined();
  });

  it('with a 60 s scrape and a 1m window holds two samples only when the query falls on a scrape', async () => {
    const { metrics, feed, until } = setUp(60_000, 7_000);
    // Steady traffic for five minutes: scrapes at 7, 67, 127, 187, 247 s.
    await feed(perSecond(0, 300, () => 200));
    for (const t of [30_000, 66_999, 67_001, 100_000, 186_000, 250_000, 299_000]) {
      await until(t);
      expect(await metrics.requestSuccessRate(query()), `query at ${t} ms`).toBeUndefined();
    }
    // Prometheus 2.42's closed range [t − 60 s, t] holds both 187 and 247 at exactly 247 s.
    const exact = setUp(60_000, 7_000);
    await exact.feed(perSecond(0, 247, () => 200));
    await exact.until(247_000);
    expect(await exact.metrics.requestSuccessRate(query())).toBe(100);
  });

  it('computes p99 from the rates of the duration buckets, interpolated in Istio buckets', async () => {
    const { metrics, feed, until } = setUp(15_000, 7_000);
    // One request a second, 812 ms each (bucket (500, 1000]): every bucket from 1000 up moves by
    // the same amount, the lower ones not at all. Rank 0.99 × n falls in (500, 1000]: 995 ms.
    await feed(perSecond(31, 60, () => 200).map(([t, l]) => [t, l, 812] as [number, RequestLabels, number]));
    await until(60_000);
    expect(await metrics.requestDurationP99(query())).toBeCloseTo(995, 10);
  });

  it('scrapes each pod as its own target: a new pod starts new series, a retired pod is no longer scraped', async () => {
    const { metrics, store, feed, until } = setUp(15_000);
    // Pod app-1 serves until 30 s and is retired; two late answers of it (500s at 35.5 and 50.5 s)
    // are never scraped. Pod app-2 starts at 40.5 s.
    await feed(perSecond(0, 30, () => 200, 'app-1'));
    await until(30_000);
    store.retirePod(NS, 'app-1');
    await feed([
      [35_500, canary(500, 'app-1')],
      ...perSecond(40, 50, () => 200, 'app-2'),
      [50_500, canary(500, 'app-1')],
      ...perSecond(51, 60, () => 200, 'app-2'),
    ]);
    await until(60_000);
    // Window [0, 60]: app-1's 200 series (15, 30 s) and app-2's (45, 60 s); no 500 sample at all.
    // Were app-1 still scraped, its 500 series (1 at 45 s, 2 at 60 s) would pull this under 100%.
    expect(await metrics.requestSuccessRate(query())).toBe(100);
    await until(300_000);
    // Long after: app-1 has no samples in the window, app-2 one per scrape and no new request:
    // 0 / 0 is NaN, which is no value.
    expect(await metrics.requestSuccessRate(query())).toBeUndefined();
  });

  it('reads the client-side series for the service error rate: no value until they have two samples, 0 without a 5xx series', async () => {
    const clock = new VirtualClock(0);
    const store = new MetricsStore();
    const metrics = new ScrapedMetrics(store, { clock, intervalMs: 15_000, seed: 1, phase: () => 0 });
    const source = (workload: string, responseCode: number): RequestLabels => ({
      namespace: NS,
      workload,
      service: 'app',
      responseCode,
      reporter: 'source',
    });
    // 9 answers a second from the stable build and 1 failing from the canary, from 0.5 s on.
    for (let s = 0; s < 60; s++) {
      await clock.advance(s * 1000 + 500 - clock.now());
      for (let i = 0; i < 9; i++) store.record(source('app-stable', 200), clock.now(), 2);
      store.record(source('app-canary', 500), clock.now(), 2);
    }
    const errorRate = () => metrics.serviceErrorRate({ namespace: NS, service: 'app', windowMs: 60_000 });
    await clock.advance(29_000 - clock.now());
    // Scraped at 15 s only: no value yet.
    await expect(errorRate()).resolves.toBeUndefined();
    await clock.advance(60_000 - clock.now());
    // Both series grew at the same pace from zero, so the extrapolation scales them alike: 10%.
    expect(await errorRate()).toBeCloseTo(0.1, 12);
    // Another service with traffic and no 5xx series at all: 0%, not no data.
    for (let s = 60; s < 90; s++) {
      await clock.advance(s * 1000 + 500 - clock.now());
      store.record({ ...source('other', 200), service: 'other' }, clock.now(), 2);
    }
    await clock.advance(90_000 - clock.now());
    expect(await metrics.serviceErrorRate({ namespace: NS, service: 'other', windowMs: 60_000 })).toBe(0);
  });

  it('fails queries during a simulated outage and stops scraping when stopped', async () => {
    const { metrics, feed, until } = setUp(15_000);
    await feed(perSecond(0, 40, () => 200));
    metrics.simulateOutage(50_000);
    await expect(metrics.requestSuccessRate(query())).rejects.toThrow('unavailable');
    await until(50_000);
    expect(await metrics.requestSuccessRate(query())).toBe(100);
    metrics.stop();
    await until(200_000);
    // No scrape after 45 s: nothing left in the window.
    expect(await metrics.requestSuccessRate(query())).toBeUndefined();
  });

  it('draws each target its own phase from the seed, and the same phase from the same seed', () => {
    const clock = new VirtualClock(0);
    const a = new ScrapedMetrics(new MetricsStore(), { clock, intervalMs: 15_000, seed: 7 });
    const b = new ScrapedMetrics(new MetricsStore(), { clock, intervalMs: 15_000, seed: 7 });
    expect(a.phaseMs('ns/app-1')).toBe(b.phaseMs('ns/app-1'));
    const phases = ['ns/app-1', 'ns/app-2', 'ns/app-3', 'ns/source-proxy'].map((t) => a.phaseMs(t));
    expect(new Set(phases).size).toBe(4);
    for (const p of phases) expect(p >= 0 && p < 15_000).toBe(true);
    a.rephase(8);
    expect(a.phaseMs('ns/app-1')).not.toBe(b.phaseMs('ns/app-1'));
  });
});
