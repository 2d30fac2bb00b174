import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRequestsFile } from './requests-file.ts';
import type { RunEntry } from './journal.ts';
import { processesLabelled, runCli } from '../test-support/cli.ts';

// Faults of the environment on the local platform: each run either survives with the gap marked
// in its timeline, or ends as `aborted` with a reason; the experiment goes on either way.
let dir: string;
let out: string;
let runs: RunEntry[];
const name = `envfaults-${process.pid}`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'env-faults-'));
  out = path.join(dir, 'out');
  const plan = path.join(dir, 'plan.yaml');
  // 5 req/s of scenario time (150 req/s wall at 30×, not the scenarios' 600): a busy machine keeps
  // up with the compressed clock, so the only failed requests are the ones the faults cause.
  const base = 'load: { rateRps: 5 }, flagger: { interval: 10s, threshold: 2 }, recovery: { cleanWindowS: 10 }';
  writeFileSync(
    plan,
    [
      `name: ${name}`,
      'timeScale: 30',
      'concurrency: 1',
      'repetitions: 1',
      'order: blocked',
      'runs:',
      `  - { scenario: faulty-500, arms: [flagger], overrides: { ${base}, environmentFaults: [{ fault: metrics-outage, atS: 5, durationS: 30 }] } }`,
      `  - { scenario: faulty-500, arms: [flagger], overrides: { ${base}, environmentFaults: [{ fault: router-restart, atS: 30, durationS: 3 }] } }`,
      `  - { scenario: faulty-500, arms: [flagger], overrides: { ${base}, environmentFaults: [{ fault: stable-crash, atS: -6, durationS: 3 }] } }`,
      `  - { scenario: faulty-500, arms: [flagger], overrides: { ${base} } }`,
    ].join('\n'),
  );
  const result = await runCli(['experiment', '--experiment', plan, '--out', out], { timeoutMs: 170_000 });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  runs = readFileSync(path.join(out, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => l.type === 'run');
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const marks = (run: RunEntry, kind: string) => run.timeline.filter((e) => e.kind === kind);

describe('faults of the environment', () => {
  it('a 30 s metrics outage is marked in the timeline; Flagger counts the failed queries and still rolls back', () => {
    const run = runs[0]!;
    expect(marks(run, 'env-fault-start').map((e) => e.detail)).toEqual(['metrics-outage for 30 s']);
    expect(marks(run, 'env-fault-end')).toHaveLength(1);
    const start = marks(run, 'env-fault-start')[0]!.atMs;
    const end = marks(run, 'env-fault-end')[0]!.atMs;
    expect((end - start) / 1000).toBeGreaterThanOrEqual(29);
    const failedQueries = run.timeline.filter(
      (e) => e.kind === 'flagger-event' && e.detail?.startsWith('Prometheus query failed'),
    );
    expect(failedQueries.length).toBeGreaterThanOrEqual(1);
    expect(failedQueries.every((e) => e.atMs >= start && e.atMs <= end + 1)).toBe(true);
    expect(run.metrics.outcome).toBe('rolled_back');
  });

  it('a router restart drops requests during the gap, which the timeline marks; the run still recovers', () => {
    const run = runs[1]!;
    const start = marks(run, 'env-fault-start')[0]!.atMs;
    const end = marks(run, 'env-fault-end')[0]!.atMs;
    expect(marks(run, 'env-fault-start')[0]!.detail).toBe('router-restart for 3 s');
    const records = readRequestsFile(path.join(out, run.requestsFile));
    // In flight during the gap (±1 s for the marks' own stamps): sent before its end, and not
    // finished before its start. A request that waited on a busy machine was sent earlier.
    const inGap = (r: { sentMs: number; doneMs: number }) => r.sentMs <= end + 1000 && r.doneMs >= start - 1000;
    const refused = records.filter((r) => r.status === 0 && inGap(r));
    expect(refused.length).toBeGreaterThan(0);
    // Outside the gap (and the canary's 500s) every request succeeded.
    expect(records.filter((r) => r.status === 0 && !inGap(r))).toEqual([]);
    expect(run.metrics.outcome).toBe('rolled_back');
  });

  it('a stable pod crashing during the warm-up aborts that run with the reason', () => {
    const run = runs[2]!;
    expect(marks(run, 'env-fault-start')[0]!.detail).toBe('stable-crash for 3 s');
    expect(run.metrics.outcome).toBe('aborted');
    expect(run.metrics.abortReason).toMatch(
      /^baseline unhealthy during warm-up: \d+\.\d\d% of \d+ requests failed \(limit 1\.00%\)$/,
    );
  });

  it('the experiment goes on: the next run is unaffected', () => {
    expect(runs).toHaveLength(4);
    expect(runs[3]!.metrics.outcome).toBe('rolled_back');
    expect(runs[3]!.timeline.some((e) => e.kind.startsWith('env-fault'))).toBe(false);
    expect(processesLabelled(name)).toEqual([]);
  });

  it('keeps the aborted run in runs.csv and the report', () => {
    const csv = readFileSync(path.join(out, 'runs.csv'), 'utf8');
    expect(csv.split('\n').filter((l) => l.includes(',aborted,'))).toHaveLength(1);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('baseline unhealthy during warm-up');
  });
});
