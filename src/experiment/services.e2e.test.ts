import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../test-support/cli.ts';
import { journalRuns, writePlan } from '../test-support/plan.ts';
import type { TimelineEntry } from '../timeline/types.ts';
import type { RunEntry } from './journal.ts';

// A release train of four services, one of them faulty (docs/design.md §13), on the local platform
// through the CLI: real app processes and a router per service, one Flagger model per service, one
// dashboard operator for all four. The same release with one service in the manual arm shows what
// the three more cost the person. 5 req/s of scenario time per service at 10× (200 requests per wall
// second for the four) keeps a busy machine up with the compressed clock; short Flagger steps, looks, reactions and edits keep the wall time short.
// At that rate a canary at 10% answers about 5 requests between two checks: a 1 s scrape (the local
// control plane's) and threshold 2 keep a healthy canary's few series from a "no values" rollback
// (docs/design.md §11).
const dir = mkdtempSync(path.join(tmpdir(), 'services-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Latency is no part of what this test checks, and on a busy machine the harness's own queueing
// makes answers slow (docs/design.md §12): without the SLO's latency limit and Flagger's
// request-duration check, a healthy service is judged on its failures only.
const COMMON =
  'load: { rateRps: 5 }, warmup: { durationS: 5 }, recovery: { cleanWindowS: 5, deadlineS: 400 }, ' +
  'flagger: { interval: 10s, threshold: 2, maxWeight: 20, stepWeight: 10, requestDuration: null }, ' +
  'metrics: { scrapeIntervalS: 1 }, slo: { latencyMs: null }';
const MANUAL =
  'manual: { operator: { kind: dashboard, lookIntervalS: 10, pNotice: 1, reaction: { medianS: 5, p90S: 10 } }, ' +
  'progression: { stepWeights: [50], holdS: 20 }, effort: { valuesEditS: 5, helmCommandS: 2, panelLookS: 3 } }';
/** Seconds one look at one service takes: its error-rate panel (no latency panel without an SLO limit). */
const SERVICE_LOOK_S = 3;

let rows: Array<Record<string, string>>;
let journal: RunEntry[];
let out: string;

beforeAll(async () => {
  const plan = path.join(dir, 'plan.yaml');
  writePlan(plan, { name: 'services-check', timeScale: 10, repetitions: 1 }, [
    `  - { scenario: faulty-500, arms: [flagger, manual], overrides: { services: 4, faultyServices: 1, ${COMMON}, ${MANUAL} } }`,
    `  - { scenario: faulty-500, arms: [manual], overrides: { ${COMMON}, ${MANUAL} } }`,
  ]);
  out = path.join(dir, 'out');
  const r = await runCli(['experiment', '--experiment', plan, '--out', out], { timeoutMs: 290_000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true });
  journal = journalRuns(out);
}, 300_000);

const row = (arm: string, services: string) => rows.find((r) => r.arm === arm && r.services === services)!;
const runOf = (r: Record<string, string>) => journal.find((j) => j.runId === r.run_id)!;
const lines = (run: RunEntry, service: number, match: (e: TimelineEntry) => boolean) =>
  run.timeline.filter((e) => e.service === service && match(e));

describe('a release train of four services, one faulty, on the local platform', () => {
  it('Flagger analyses each service on its own: only the faulty one is rolled back, the other three promoted', () => {
    const r = row('flagger', '4');
    expect([r.faulty_services, r.outcome, r.services_rolled_back, r.services_promoted]).toEqual([
      '1',
      'rolled_back',
      '1',
      '3',
    ]);
    const run = runOf(r);
    expect(run.metrics.services!.map((f) => [f.service, f.faulty, f.outcome])).toEqual([
      [0, true, 'rolled_back'],
      [1, false, 'promoted'],
      [2, false, 'promoted'],
      [3, false, 'promoted'],
    ]);
    // Four Canaries, each with its own events, named after its own service.
    const rollingBack = (e: TimelineEntry) => e.kind === 'flagger-event' && /^Rolling back/.test(e.detail ?? '');
    expect(lines(run, 0, rollingBack)[0]!.detail).toMatch(/^Rolling back sms-checker-1\./);
    for (const service of [1, 2, 3]) {
      expect(lines(run, service, rollingBack)).toEqual([]);
      const done = lines(run, service, (e) => /^Promotion completed!/.test(e.detail ?? ''));
      expect(done[0]!.detail).toContain(`sms-checker-${service + 1}.`);
    }
    // The run recovers when the faulty service has: its recovery is the run's.
    expect(Number(r.recover_ms)).toBe(run.metrics.services![0]!.recoverMs);
    expect(Number(r.manual_actions)).toBe(0);
  });

  it('each service has its own users at the full rate, and only the faulty one failed them', () => {
    const r = row('flagger', '4');
    const requests = readFileSync(path.join(out, 'requests', `${r.run_id}.csv`), 'utf8')
      .trim()
      .split('\n');
    const columns = requests[0]!.split(',');
    const [service, status] = ['service', 'status'].map((c) => columns.indexOf(c));
    const sent = columns.indexOf('sent_ms');
    // runs.csv counts the requests sent from the release on.
    const records = requests
      .slice(1)
      .map((l) => l.split(','))
      .filter((f) => Number(f[sent]) >= Number(r.release_ms));
    const per = [0, 1, 2, 3].map((s) => records.filter((f) => f[service!] === String(s)));
    expect(per.map((p) => p.length).reduce((a, b) => a + b)).toBe(records.length);
    // Each service's load is the scenario's rate over the same run: alike within a tenth.
    const counts = per.map((p) => p.length);
    expect(Math.min(...counts)).toBeGreaterThan(0.9 * Math.max(...counts));
    const failed = per.map((p) => p.filter((f) => Number(f[status!]) >= 500 || f[status!] === '0').length);
    expect(failed[0]).toBeGreaterThan(0);
    expect(failed[0]).toBe(Number(r.failed_requests) - failed[1]! - failed[2]! - failed[3]!);
  });

  it('one person handles all four: edits one service at a time, looks at their panels one after another, rolls back the faulty one and promotes the rest', () => {
    const r = row('manual', '4');
    expect([r.outcome, r.services_rolled_back, r.services_promoted]).toEqual(['rolled_back', '1', '3']);
    const run = runOf(r);
    // The releases' edits, one service after another, each after the last edit and helm command.
    const releases = run.timeline.filter((e) => e.action === 'helm-command' && e.detail === 'helm upgrade --install');
    expect(new Set(releases.map((e) => e.service))).toEqual(new Set([0, 1, 2, 3]));
    for (let i = 1; i < releases.length; i++)
      expect(releases[i]!.atMs - releases[i - 1]!.atMs).toBeGreaterThanOrEqual((5 + 2) * 1000);
    // A look scans the four services' panels: the looks at one service come at least four services'
    // reading apart, though the operator looks every 10 s.
    for (const service of [1, 2, 3]) {
      const looks = lines(run, service, (e) => e.action === 'dashboard-look').map((e) => e.atMs);
      expect(looks.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < looks.length; i++)
        expect(looks[i]! - looks[i - 1]!).toBeGreaterThanOrEqual(4 * SERVICE_LOOK_S * 1000 - 1);
    }
    // The faulty service was rolled back by hand, the others promoted by hand.
    expect(lines(run, 0, (e) => e.kind === 'rollback-issued')).toHaveLength(1);
    for (const service of [1, 2, 3]) {
      expect(lines(run, service, (e) => e.kind === 'promoted')).toHaveLength(1);
      expect(lines(run, service, (e) => e.kind === 'rollback-issued')).toEqual([]);
    }
    expect(run.metrics.detectMs).toBe(lines(run, 0, (e) => e.kind === 'detect')[0]!.atMs);
  });

  it("the manual operator's actions and busy time grow with the services", () => {
    const one = row('manual', '1');
    const four = row('manual', '4');
    expect(one.outcome).toBe('rolled_back');
    expect(Number(four.values_edits)).toBeGreaterThan(Number(one.values_edits));
    expect(Number(four.helm_commands)).toBeGreaterThan(Number(one.helm_commands));
    expect(Number(four.dashboard_looks)).toBeGreaterThan(Number(one.dashboard_looks));
    expect(Number(four.operator_busy_s)).toBeGreaterThan(Number(one.operator_busy_s));
    // Four releases and three promotions at a values edit and a helm command each, the rollback, the steps.
    expect(Number(four.values_edits)).toBeGreaterThanOrEqual(4 + 3 * 2);
  });

  it("the report's operator table states how the person handles the train", () => {
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('services=4 (1 faulty), released, looked at and stepped by one person one service at a time');
  });
});
