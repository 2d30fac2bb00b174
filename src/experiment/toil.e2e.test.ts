import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../test-support/cli.ts';
import { journalRuns, writePlan } from '../test-support/plan.ts';
import type { RunEntry } from './journal.ts';

// Toil and human error on the local platform (docs/design.md §13), through the CLI with real app
// processes, the router and the dashboard operator model: a values edit that sets the canary's
// weight to 100 (editErrorRate 1), a healthy release taken by hand to its promotion, and a Flagger
// run that takes no manual action. 5 req/s of scenario time keeps a busy machine up with the
// compressed clock; the short look interval, reaction and edit times keep the wall time short.
const dir = mkdtempSync(path.join(tmpdir(), 'toil-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const COMMON = 'load: { rateRps: 5 }, warmup: { durationS: 5 }, recovery: { cleanWindowS: 5, deadlineS: 300 }';
const OPERATOR = 'operator: { kind: dashboard, lookIntervalS: 10, pNotice: 1, reaction: { medianS: 5, p90S: 10 } }';
const EFFORT = 'effort: { valuesEditS: 5, helmCommandS: 2, panelLookS: 3 }';

let rows: Array<Record<string, string>>;
let journal: RunEntry[];
let out: string;

beforeAll(async () => {
  const plan = path.join(dir, 'plan.yaml');
  writePlan(plan, { name: 'toil-check', timeScale: 20, repetitions: 1 }, [
    `  - { scenario: faulty-500, arms: [manual], overrides: { ${COMMON}, manual: { editErrorRate: 1, ${OPERATOR}, ${EFFORT} } } }`,
    `  - { scenario: healthy, arms: [manual], overrides: { ${COMMON}, manual: { progression: { stepWeights: [50], holdS: 20 }, ${OPERATOR}, ${EFFORT} } } }`,
    `  - { scenario: faulty-500, arms: [flagger], overrides: { ${COMMON}, flagger: { interval: 10s } } }`,
  ]);
  out = path.join(dir, 'out');
  const r = await runCli(['experiment', '--experiment', plan, '--out', out], { timeoutMs: 170_000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true });
  journal = journalRuns(out);
}, 180_000);

const row = (scenario: string, arm: string) => rows.find((r) => r.scenario === scenario && r.arm === arm)!;

describe('toil and human error on the local platform', () => {
  it('a values edit that goes wrong sends the whole load to the faulty build; the operator model rolls it back', () => {
    const r = row('faulty-500', 'manual');
    expect(r.edit_errors).toBe('1');
    expect(r.outcome).toBe('rolled_back');
    // The operator model noticed (detect) and rolled back (mitigate); the impact is measured.
    expect(Number(r.detect_ms)).toBeGreaterThan(Number(r.impact_ms));
    expect(Number(r.mitigate_ms)).toBeGreaterThan(Number(r.detect_ms));
    expect(Number(r.mttr_s)).toBeGreaterThan(0);
    // The canary got the weight as typed once its pod was ready, and from then until the rollback
    // every request met the faulty build and failed.
    const run = journal.find((j) => j.runId === r.run_id)!;
    const routed = run.timeline.find((e) => e.kind === 'routes' && (e.canaryWeight ?? 0) > 0)!;
    expect(routed.canaryWeight).toBe(100);
    const requests = readFileSync(path.join(out, 'requests', `${r.run_id}.csv`), 'utf8')
      .trim()
      .split('\n');
    const columns = requests[0]!.split(',');
    const [sent, status, version] = ['sent_ms', 'status', 'version'].map((c) => columns.indexOf(c));
    const during = requests
      .slice(1)
      .map((l) => l.split(','))
      // A request's sent_ms is its scheduled time; on a busy machine it leaves late, so those due in the
      // last 2 s (100 ms wall at 20×) before the rollback may already meet the stable build.
      .filter((f) => Number(f[sent!]) >= routed.atMs && Number(f[sent!]) < Number(r.mitigate_ms) - 2_000);
    expect(during.length).toBeGreaterThan(10);
    expect(during.filter((f) => f[version!] !== 'v2' || Number(f[status!]) < 500)).toEqual([]);
    expect(Number(r.failed_requests)).toBeGreaterThanOrEqual(during.length);
  });

  it('a healthy release is taken by hand to its promotion, and its toil is counted', () => {
    const r = row('healthy', 'manual');
    expect(r.outcome).toBe('promoted');
    expect(Number(r.promoted_ms)).toBeGreaterThan(Number(r.release_ms));
    // The release's edit, the step to 50 and the promotion: a values edit and a helm command each.
    expect(r.values_edits).toBe('3');
    expect(r.helm_commands).toBe('3');
    expect(Number(r.dashboard_looks)).toBeGreaterThanOrEqual(4);
    expect(Number(r.manual_actions)).toBe(6 + Number(r.dashboard_looks));
    // Each look reads two panels (error rate, and latency against the SLO) at panelLookS (3 s) each.
    expect(Number(r.operator_busy_s)).toBeCloseTo(3 * (5 + 2) + 2 * 3 * Number(r.dashboard_looks), 3);
    const run = journal.find((j) => j.runId === r.run_id)!;
    const weights = run.timeline.filter((e) => e.kind === 'routes').map((e) => e.canaryWeight);
    expect(weights.slice(-3)).toEqual([10, 50, 0]);
  });

  it('a Flagger run takes no manual action', () => {
    const r = row('faulty-500', 'flagger');
    expect(r.manual_actions).toBe('0');
    expect(r.operator_busy_s).toBe('0');
  });

  it("the report's toil table has both arms", () => {
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('Toil per release');
    expect(md).toMatch(/\| faulty-500 \| flagger \| 1 \| 0\.0 \[0–0\] \|/);
  });
});
