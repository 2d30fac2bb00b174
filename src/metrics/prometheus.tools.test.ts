/**
 * Tools tier (npm run test:tools). The local platform's PromQL against the real Prometheus of the
 * tools cache (2.42, docs/design.md §11): the sample series the local scraper took are written as
 * OpenMetrics, turned into a TSDB block by promtool, loaded by Prometheus, and Flagger's and the
 * operators' queries are asked of both at the same instants.
 */
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleepWall, VirtualClock } from '../common/clock.ts';
import { createRandom } from '../common/random.ts';
import { PrometheusMetrics } from '../platform/kube/prometheus.ts';
import { runCommand } from '../process/commands.ts';
import { ProcessRegistry } from '../process/registry.ts';
import { findTool } from '../process/tools.ts';
import { closedPort } from '../test-support/ports.ts';
import { extrapolatedRate, type Sample, selectRange } from './promql.ts';
import { ScrapedMetrics, type StoredSeries } from './scrape.ts';
import { MetricsStore } from './store.ts';
import { ISTIO_DURATION_BUCKETS_MS, type ServiceQuery, type WorkloadQuery } from './types.ts';

const INSTALL_HINT = 'run npm run tools:install first (or source ~/.cache/canary-mttr/tools/tools.env)';
const NS = 'shop';
/** Scenario time 0 as Unix seconds: six hours ago, inside any retention. */
const ORIGIN_S = Math.floor(Date.now() / 1000 / 60) * 60 - 6 * 3600;

/** One question asked of both: the local answer at `tMs`, the real one asked later. */
interface Asked {
  label: string;
  tMs: number;
  promql: string;
  local: number | undefined;
}

/** A sample series written by hand, for the rate() edge cases the store does not produce. */
interface HandSeries {
  name: string;
  samples: Sample[];
}

const BOUNDS = [...ISTIO_DURATION_BUCKETS_MS.map(String), '+Inf'];

function labelText(series: StoredSeries): string {
  const l = series.labels;
  return (
    `reporter="${l.reporter}",destination_workload="${l.workload}",destination_workload_namespace="${l.namespace}",` +
    `destination_service="${l.service}",pod="${l.pod}",response_code="${l.responseCode}"`
  );
}

/** OpenMetrics without metadata: every family "unknown", every series' samples in time order. */
function openMetrics(scraped: StoredSeries[], hand: HandSeries[]): string {
  const lines: string[] = [];
  const line = (name: string, labels: string, s: Sample) =>
    lines.push(`${name}{${labels}} ${s.value} ${(ORIGIN_S + s.tMs / 1000).toFixed(3)}`);
  for (const series of scraped) for (const s of series.counts) line('istio_requests_total', labelText(series), s);
  for (const series of scraped) {
    for (let i = 0; i < BOUNDS.length; i++) {
      for (const s of series.buckets[i]!)
        line('istio_request_duration_milliseconds_bucket', `${labelText(series)},le="${BOUNDS[i]}"`, s);
    }
  }
  for (const h of hand) for (const s of h.samples) line('handmade_total', `case="${h.name}"`, s);
  return `${lines.join('\n')}\n# EOF\n`;
}

/**
 * A canary's life on the local platform: the primary pod serves throughout, a canary pod takes
 * 10% from 95 s with 5% of 500s until it is retired at 250 s, a new canary pod serves from 270 s.
 * Latencies spread over Istio's buckets. The scraper runs on the virtual clock; the queries are
 * asked locally every 9.7 s and at `extraQueryMs`.
 */
async function simulate(
  tag: string,
  intervalMs: number,
  seed: number,
  phase?: (target: string) => number,
  extraQueryMs: number[] = [],
): Promise<{ series: StoredSeries[]; asked: Asked[] }> {
  const clock = new VirtualClock(0);
  const store = new MetricsStore();
  const metrics = new ScrapedMetrics(store, { clock, intervalMs, seed, phase });
  const random = createRandom(seed);
  const queries: Array<{ tMs: number }> = [];
  for (let t = 5_000; t <= 400_000; t += 9_700) queries.push({ tMs: t });
  for (const t of extraQueryMs) queries.push({ tMs: t });
  queries.sort((a, b) => a.tMs - b.tMs);
  const asked: Asked[] = [];
  const ask = async (tMs: number) => {
    for (const windowMs of [60_000, 30_000]) {
      const wq = (workload: string): WorkloadQuery => ({ namespace: NS, workload, windowMs });
      const sq: ServiceQuery = { namespace: NS, service: 'checkout', windowMs };
      for (const workload of ['checkout', 'checkout-primary']) {
        asked.push({
          label: `${tag} success ${workload} [${windowMs}] @${tMs}`,
          tMs,
          promql: PrometheusMetrics.successRateQuery(wq(workload)),
          local: await metrics.requestSuccessRate(wq(workload)),
        });
        asked.push({
          label: `${tag} p99 ${workload} [${windowMs}] @${tMs}`,
          tMs,
          promql: PrometheusMetrics.durationQuery(wq(workload)),
          local: await metrics.requestDurationP99(wq(workload)),
        });
      }
      asked.push({
        label: `${tag} error rate [${windowMs}] @${tMs}`,
        tMs,
        promql: PrometheusMetrics.errorRateQuery(sq),
        local: await metrics.serviceErrorRate(sq),
      });
      asked.push({
        label: `${tag} service p99 [${windowMs}] @${tMs}`,
        tMs,
        promql: PrometheusMetrics.serviceLatencyQuery(sq),
        local: await metrics.serviceLatencyP99(sq),
      });
    }
  };
  const latency = () => {
    const u = random.next();
    return u < 0.9 ? 1 + random.next() * 60 : u < 0.99 ? 60 + random.next() * 600 : 600 + random.next() * 3000;
  };
  let next = 0;
  for (let tMs = 250; tMs <= 400_000; tMs += 250) {
    while (next < queries.length && queries[next]!.tMs <= tMs) {
      await clock.advance(queries[next]!.tMs - clock.now());
      await ask(queries[next]!.tMs);
      next++;
    }
    await clock.advance(tMs - clock.now());
    if (tMs === 250_000) store.retirePod(NS, 'checkout-2');
    const canaryPod = tMs >= 95_000 && tMs < 250_000 ? 'checkout-2' : tMs >= 270_000 ? 'checkout-3' : undefined;
    const toCanary = canaryPod !== undefined && random.next() < 0.1;
    const workload = toCanary ? 'checkout' : 'checkout-primary';
    const pod = toCanary ? canaryPod : 'checkout-primary-1';
    const code = toCanary && random.next() < 0.05 ? 500 : 200;
    const ms = latency();
    const labels = { namespace: NS, workload, service: 'checkout', responseCode: code, pod };
    store.record(labels, tMs, ms);
    store.record({ ...labels, reporter: 'source' }, tMs, ms);
  }
  metrics.stop();
  return { series: [...metrics.series], asked };
}

/** The edge cases of rate() by hand: a counter reset, and the zero point limit of 2.42. */
const HAND: HandSeries[] = [
  {
    name: 'reset',
    samples: [0, 15, 30, 45, 60].map((s, i) => ({ tMs: s * 1000, value: [100, 110, 5, 20, 35][i]! })),
  },
  {
    name: 'zero-point',
    samples: [
      { tMs: 30_000, value: 8 },
      { tMs: 40_000, value: 18 },
    ],
  },
  {
    name: 'fresh',
    samples: [
      { tMs: 40_000, value: 3 },
      { tMs: 55_000, value: 18 },
    ],
  },
  { name: 'lonely', samples: [{ tMs: 30_000, value: 3 }] },
];

let registry: ProcessRegistry;
let workDir: string;
let prometheus: PrometheusMetrics;
const cases: Asked[] = [];

beforeAll(async () => {
  const prometheusBin = findTool('prometheus');
  if (!prometheusBin) throw new Error(`prometheus not found: ${INSTALL_HINT}`);
  // Debian's package puts promtool beside prometheus.
  const promtool = findTool('promtool') ?? path.join(path.dirname(realpathSync(prometheusBin)), 'promtool');
  workDir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-promql-'));
  registry = new ProcessRegistry({ experiment: 'promql-tools-test' });

  const runs = [
    await simulate('15s', 15_000, 3),
    await simulate('5s', 5_000, 4),
    await simulate('60s', 60_000, 5),
    // Pinned phase 7 s, asked exactly on scrapes too: the closed range [t − 60 s, t] holds two.
    await simulate('60s-on-scrape', 60_000, 6, () => 7_000, [127_000, 187_000, 307_000, 367_000]),
  ];
  // The runs follow one another 1000 s apart (far more than a window), and a series of the same
  // labels in two runs is one series whose samples go on in time order.
  const all = new Map<string, StoredSeries>();
  runs.forEach((run, i) => {
    const shiftMs = i * 1_000_000;
    const shift = (x: Sample) => ({ tMs: x.tMs + shiftMs, value: x.value });
    for (const s of run.series) {
      const key = labelText(s);
      const into = all.get(key) ?? { labels: s.labels, counts: [], buckets: BOUNDS.map(() => []) };
      all.set(key, into);
      into.counts.push(...s.counts.map(shift));
      s.buckets.forEach((b, j) => {
        into.buckets[j]!.push(...b.map(shift));
      });
    }
    for (const a of run.asked) cases.push({ ...a, tMs: a.tMs + shiftMs });
  });
  const input = path.join(workDir, 'series.om');
  writeFileSync(input, openMetrics([...all.values()], HAND));
  const data = path.join(workDir, 'data');
  const made = await runCommand(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', input, data], {
    timeoutMs: 60_000,
  });
  expect(made.code, made.stderr).toBe(0);

  const config = path.join(workDir, 'prometheus.yml');
  writeFileSync(config, 'global: {}\n');
  const port = await closedPort();
  const proc = registry.spawn(
    prometheusBin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${data}`,
      '--storage.tsdb.retention.time=10y',
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { env: process.env, label: 'prometheus' },
  );
  const url = `http://127.0.0.1:${port}`;
  prometheus = new PrometheusMetrics(url);
  for (let i = 0; ; i++) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (proc.hasExited || i >= 300) throw new Error(`prometheus at ${url} did not get ready`);
    await sleepWall(100);
  }
});

afterAll(async () => {
  await registry?.[Symbol.asyncDispose]();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('the local PromQL agrees with Prometheus 2.42 on the same samples', () => {
  it("Flagger's success rate and p99 and the service's error rate and p99, at every instant asked, including no values", async () => {
    expect(cases.length).toBeGreaterThan(1_000);
    const mismatches: string[] = [];
    let values = 0;
    let empty = 0;
    for (const c of cases) {
      const real = await prometheus.query(c.promql, ORIGIN_S + c.tMs / 1000);
      if (real === undefined) empty++;
      else values++;
      const same =
        real === undefined || c.local === undefined
          ? real === c.local
          : Math.abs(real - c.local) <= 1e-9 * Math.max(1, Math.abs(real));
      if (!same) mismatches.push(`${c.label}: local ${c.local}, prometheus ${real}`);
    }
    expect(mismatches).toEqual([]);
    // Both kinds of answer were asked many times.
    expect(values).toBeGreaterThan(200);
    expect(empty).toBeGreaterThan(200);
  });

  it('answers no value at 60 s scrapes except on a scrape (closed range), as the local range does', async () => {
    const on = cases.filter((c) => c.label.startsWith('60s-on-scrape success checkout-primary [60000]'));
    const exact = on.filter((c) => [127_000, 187_000, 307_000, 367_000].includes(c.tMs - 3_000_000));
    expect(exact.length).toBe(4);
    for (const c of exact) {
      expect(c.local).toBe(100);
      expect(await prometheus.query(c.promql, ORIGIN_S + c.tMs / 1000)).toBe(100);
    }
    const between = on.filter((c) => !exact.includes(c));
    for (const c of between) expect(c.local, c.label).toBeUndefined();
  });

  it.each(HAND.map((h) => [h.name, h] as const))(
    'increase() and rate() of the %s series over [60s] at 60 s',
    async (_name, hand) => {
      const range = selectRange(hand.samples, 60_000, 60_000);
      const local = {
        increase: extrapolatedRate(range, 0, 60_000, false),
        rate: extrapolatedRate(range, 0, 60_000, true),
      };
      const at = ORIGIN_S + 60;
      const real = {
        increase: await prometheus.query(`increase(handmade_total{case="${hand.name}"}[60s])`, at),
        rate: await prometheus.query(`rate(handmade_total{case="${hand.name}"}[60s])`, at),
      };
      if (local.increase === undefined) {
        expect(real).toEqual({ increase: undefined, rate: undefined });
        return;
      }
      expect(real.increase).toBeCloseTo(local.increase, 9);
      expect(real.rate).toBeCloseTo(local.rate!, 9);
    },
  );
});
