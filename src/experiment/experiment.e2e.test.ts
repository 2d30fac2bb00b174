import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesLabelled, runCli } from '../test-support/cli.ts';

// The whole spine as a user runs it: the CLI, real app processes, the router, the Flagger model,
// the dashboard operator, the load generator, the journal and the report files.
const INTERVAL_S = 10;
const THRESHOLD = 2;
const STEPS = 50 / 10;
/** Tick processing and timer overshoot at 20× compression, scenario seconds. */
const SLACK_S = 1;

let dir: string;
let out: string;
let rows: Array<Record<string, string>>;
let name: string;
let stdout: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'spine-e2e-'));
  out = path.join(dir, 'report');
  name = `spine-${process.pid}`;
  const plan = path.join(dir, 'plan.yaml');
  writeFileSync(
    plan,
    [
      `name: ${name}`,
      'timeScale: 20',
      'seed: 7',
      'repetitions: 2',
      'runs:',
      '  - scenario: faulty-500',
      '    arms: [manual, flagger]',
      `    overrides: { flagger: { interval: ${INTERVAL_S}s, threshold: ${THRESHOLD} }, recovery: { cleanWindowS: 10 } }`,
      '  - scenario: healthy',
      '    arms: [flagger]',
      `    overrides: { flagger: { interval: ${INTERVAL_S}s, threshold: ${THRESHOLD} }, recovery: { cleanWindowS: 10 } }`,
    ].join('\n'),
  );
  const result = await runCli(['experiment', '--experiment', plan, '--out', out], { timeoutMs: 170_000 });
  stdout = result.stdout;
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true });
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const s = (row: Record<string, string>, column: string) => Number(row[column]) / 1000;

describe('npm run experiment on the local platform', () => {
  it('writes runs.csv with the documented columns and one row per run', () => {
    const header = readFileSync(path.join(out, 'runs.csv'), 'utf8').split('\n')[0]!.split(',');
    for (const column of 'experiment,run_id,arm,scenario,repetition,seed,outcome,release_ms,impact_ms,detect_ms,mitigate_ms,recover_ms,mttr_s,ttr_release_s,ttd_s,ttm_s,failed_requests,total_requests,peak_error_rate,time_scale'.split(',')) {
      expect(header).toContain(column);
    }
    expect(rows.map((r) => r.run_id).sort()).toEqual(
      ['faulty-500-flagger-r1', 'faulty-500-flagger-r2', 'faulty-500-manual-r1', 'faulty-500-manual-r2', 'healthy-flagger-r1', 'healthy-flagger-r2'].sort(),
    );
    expect(new Set(rows.map((r) => r.time_scale))).toEqual(new Set(['20']));
    // One progress line per run.
    expect(stdout.match(/^\[\d\/6\] /gm)).toHaveLength(6);
  });

  it('rolls back every faulty Flagger run within the tick law ((T+2)·I, (T+3)·I]', () => {
    const flagger = rows.filter((r) => r.scenario === 'faulty-500' && r.arm === 'flagger');
    for (const row of flagger) {
      expect(row.outcome).toBe('rolled_back');
      const releaseToRollback = s(row, 'mitigate_ms') - s(row, 'release_ms');
      expect(releaseToRollback).toBeGreaterThan((THRESHOLD + 2) * INTERVAL_S);
      expect(releaseToRollback).toBeLessThanOrEqual((THRESHOLD + 3) * INTERVAL_S + SLACK_S);
      // Users saw failures (10% of traffic at the first step) and the run recovered.
      expect(Number(row.failed_requests)).toBeGreaterThan(0);
      expect(Number(row.mttr_s)).toBeGreaterThan(0);
      expect(Number(row.ttr_release_s)).toBeGreaterThanOrEqual(Number(row.mttr_s));
    }
  });

  it('promotes every healthy Flagger run within ((steps+3)·I, (steps+4)·I]', () => {
    const healthy = rows.filter((r) => r.scenario === 'healthy');
    for (const row of healthy) {
      expect(row.outcome).toBe('promoted');
      expect(row.failed_requests).toBe('0');
      const releaseToSucceeded = s(row, 'promoted_ms') - s(row, 'release_ms');
      expect(releaseToSucceeded).toBeGreaterThan((STEPS + 3) * INTERVAL_S);
      expect(releaseToSucceeded).toBeLessThanOrEqual((STEPS + 4) * INTERVAL_S + SLACK_S);
    }
  });

  it('has the dashboard operator roll back the manual canary', () => {
    for (const row of rows.filter((r) => r.arm === 'manual')) {
      expect(row.outcome).toBe('rolled_back');
      expect(Number(row.detect_ms)).toBeGreaterThan(Number(row.impact_ms));
      expect(Number(row.mitigate_ms)).toBeGreaterThanOrEqual(Number(row.detect_ms));
      // Every error came from the 10% canary: the peak 1-second error share stays near 10%.
      expect(Number(row.peak_error_rate)).toBeLessThan(0.5);
    }
  });

  it('keeps request records per run and journals every run', () => {
    const journal = readFileSync(path.join(out, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(journal[0].type).toBe('experiment');
    expect(journal.filter((l) => l.type === 'run')).toHaveLength(6);
    for (const row of rows) {
      const lines = readFileSync(path.join(out, 'requests', `${row.run_id}.csv`), 'utf8').trim().split('\n');
      expect(lines[0]).toBe('sent_ms,done_ms,latency_ms,status,version');
      const after = lines.slice(1).filter((l) => Number(l.split(',')[0]) >= Number(row.release_ms));
      expect(after.length).toBe(Number(row.total_requests));
      const failed = after.filter((l) => {
        const status = Number(l.split(',')[3]);
        return status === 0 || status >= 500;
      });
      expect(failed.length).toBe(Number(row.failed_requests));
    }
  });

  it('leaves no app process behind', () => {
    expect(processesLabelled(name)).toEqual([]);
  });
});
