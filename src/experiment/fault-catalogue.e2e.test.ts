import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEntry } from './journal.ts';
import { runCli } from '../test-support/cli.ts';

// The Flagger model against each fault of the catalogue (docs/design.md §9) on the local platform, with
// the scenario files' own settings: interval 30 s, threshold 2, steps 10% → 50%, smoke test on.
const I = 30;
const T = 2;
/**
 * Above each law's upper bound: one full tick of the Flagger model's scheduler (one interval; 1 s of
 * wall time at 30×), for the timer and event-loop lag of a busy machine. The exact laws are
 * asserted on the virtual clock in flagger-model/model.test.ts.
 */
const SLACK_S = I;

let rows: Map<string, Record<string, string>>;
let runs: Map<string, RunEntry>;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fault-catalogue-'));
  const plan = path.join(dir, 'plan.yaml');
  const scenarios = [
    'faulty-500-smoke',
    'partial-5pct',
    'partial-0.5pct',
    'latency-800ms',
    'crash-loop',
    'delayed-onset',
  ];
  writeFileSync(
    plan,
    [
      'name: fault-catalogue-test',
      'timeScale: 30',
      'seed: 3',
      'repetitions: 1',
      'runs:',
      ...scenarios.map((s) => `  - { scenario: ${s}, arms: [flagger] }`),
    ].join('\n'),
  );
  const out = path.join(dir, 'out');
  const result = await runCli(['experiment', '--experiment', plan, '--out', out], { timeoutMs: 170_000 });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const csv: Array<Record<string, string>> = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true });
  rows = new Map(csv.map((r) => [r.scenario!, r]));
  const journal = readFileSync(path.join(out, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  runs = new Map(journal.filter((l) => l.type === 'run').map((r: RunEntry) => [r.scenario, r]));
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const releaseToRollbackS = (r: Record<string, string>) => (Number(r.mitigate_ms) - Number(r.release_ms)) / 1000;
const events = (scenario: string) =>
  runs
    .get(scenario)!
    .timeline.filter((e) => e.kind === 'flagger-event')
    .map((e) => e.detail ?? '');

describe('the Flagger model against the fault catalogue', () => {
  it('faulty-500-smoke: the smoke test fails before any user traffic; rollback at a + (threshold + 1) × interval', () => {
    const r = rows.get('faulty-500-smoke')!;
    expect(r.outcome).toBe('rolled_back');
    expect(r.failed_requests).toBe('0');
    expect(r.mttr_s).toBe('0');
    expect(releaseToRollbackS(r)).toBeGreaterThan((T + 1) * I);
    expect(releaseToRollbackS(r)).toBeLessThanOrEqual((T + 2) * I + SLACK_S);
    expect(events('faulty-500-smoke').filter((e) => e.includes('pre-rollout check smoke-test failed'))).toHaveLength(T);
    expect(events('faulty-500-smoke').some((e) => e.startsWith('Advance'))).toBe(false);
  });

  it('partial-5pct: passes the smoke test, the success-rate check catches it', () => {
    const r = rows.get('partial-5pct')!;
    expect(r.outcome).toBe('rolled_back');
    expect(events('partial-5pct')).toContain('Pre-rollout check smoke-test passed');
    expect(events('partial-5pct').some((e) => /advancement success rate \d+\.\d\d% < 99%/.test(e))).toBe(true);
  });

  it('partial-0.5pct: below the 99% threshold, Flagger promotes it', () => {
    const r = rows.get('partial-0.5pct')!;
    expect(r.outcome).toBe('promoted');
    expect(Number(r.failed_requests)).toBeGreaterThan(0);
    expect(events('partial-0.5pct')).toContain('Promotion completed! Scaling down sms-checker.canary-mttr');
  });

  it('latency-800ms: no request fails; the request-duration check rolls it back', () => {
    const r = rows.get('latency-800ms')!;
    expect(r.outcome).toBe('rolled_back');
    expect(r.failed_requests).toBe('0');
    expect(events('latency-800ms').some((e) => /advancement request duration \d/.test(e))).toBe(true);
    expect(events('latency-800ms').some((e) => e.includes('success rate'))).toBe(false);
  });

  it('crash-loop: never ready, rolled back on the progress deadline with 0 failed requests', () => {
    const r = rows.get('crash-loop')!;
    expect(r.outcome).toBe('rolled_back');
    expect(r.failed_requests).toBe('0');
    expect(
      events('crash-loop').some((e) =>
        e.startsWith('canary deployment sms-checker.canary-mttr not ready: waiting for rollout to finish'),
      ),
    ).toBe(true);
    expect(events('crash-loop').some((e) => e.startsWith('Canary failed! Scaling down sms-checker.canary-mttr'))).toBe(
      true,
    );
    expect(events('crash-loop').some((e) => e.startsWith('Starting canary analysis'))).toBe(false);
    // progressDeadlineS 120: the rollback comes on the first tick at least 120 s after scale-up.
    expect(releaseToRollbackS(r)).toBeGreaterThan(120);
    expect(releaseToRollbackS(r)).toBeLessThanOrEqual(120 + 2 * I + SLACK_S);
  });

  it('delayed-onset: rolled back, because the fault starts (90 s after the canary starts) before promotion (6 intervals = 180 s after it)', () => {
    const r = rows.get('delayed-onset')!;
    expect(r.outcome).toBe('rolled_back');
    // The smoke test ran before the onset and passed; users then met the fault at 30-40% weight.
    expect(events('delayed-onset')).toContain('Pre-rollout check smoke-test passed');
    expect(Number(r.failed_requests)).toBeGreaterThan(0);
    expect(events('delayed-onset').some((e) => e.startsWith('Copying'))).toBe(false);
  });
});
