import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapSeed } from '../report/build-model.ts';
import { bootstrapMedianCI, kaplanMeier, kmMedian } from '../stats/index.ts';
import { processesLabelled, runCli } from '../test-support/cli.ts';

// The whole spine as a user runs it: the CLI, real app processes, the router, the Flagger model,
// the dashboard operator, the load generator, the journal and the report files.
const INTERVAL_S = 10;
const THRESHOLD = 2;
const STEPS = 50 / 10;
/**
 * Above the law's upper bound: one full tick of the Flagger model's scheduler (one interval; 500 ms
 * of wall time at 20×), for the timer and event-loop lag of a busy machine. The law itself, tick by
 * tick and exact, is asserted on the virtual clock (flagger-model/model.test.ts), and so is the
 * runner's measurement of it (experiment/run.test.ts).
 */
const SLACK_S = INTERVAL_S;

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
    for (const column of 'experiment,run_id,arm,scenario,repetition,seed,outcome,release_ms,impact_ms,detect_ms,mitigate_ms,recover_ms,mttr_s,ttr_release_s,ttd_s,ttm_s,failed_requests,total_requests,peak_error_rate,time_scale'.split(
      ',',
    )) {
      expect(header).toContain(column);
    }
    expect(rows.map((r) => r.run_id).sort()).toEqual(
      [
        'faulty-500-flagger-r1',
        'faulty-500-flagger-r2',
        'faulty-500-manual-r1',
        'faulty-500-manual-r2',
        'healthy-flagger-r1',
        'healthy-flagger-r2',
      ].sort(),
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
    const journal = readFileSync(path.join(out, 'journal.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(journal[0].type).toBe('experiment');
    expect(journal.filter((l) => l.type === 'run')).toHaveLength(6);
    for (const row of rows) {
      const lines = readFileSync(path.join(out, 'requests', `${row.run_id}.csv`), 'utf8')
        .trim()
        .split('\n');
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

  it("report.md's summary table is recomputed exactly from runs.csv", () => {
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    const lines = md.split('\n');
    const headerAt = lines.findIndex((l) => l.startsWith('| scenario | arm | n |'));
    expect(headerAt).toBeGreaterThan(0);
    const table: string[][] = [];
    for (let i = headerAt + 2; lines[i]?.startsWith('|'); i++) table.push(lines[i]!.slice(2, -2).split(' | '));
    expect(table).toHaveLength(3);
    const f1 = (v: number) => v.toFixed(1);
    // Type-7 quantile written out here, independent of the report's code.
    const q = (xs: number[], p: number) => {
      const h = (xs.length - 1) * p;
      return xs[Math.floor(h)]! + (h - Math.floor(h)) * (xs[Math.ceil(h)]! - xs[Math.floor(h)]!);
    };
    for (const cells of table) {
      const [scenario, arm] = cells;
      const mine = rows.filter((r) => r.scenario === scenario && r.arm === arm);
      const count = (o: string) => String(mine.filter((r) => r.outcome === o).length);
      expect(cells.slice(2, 8)).toEqual([
        String(mine.length),
        count('rolled_back'),
        count('promoted'),
        count('censored'),
        count('no_impact'),
        count('aborted'),
      ]);
      const mttr = mine
        .filter((r) => r.mttr_s !== '')
        .map((r) => Number(r.mttr_s))
        .sort((a, b) => a - b);
      if (mttr.length === 0) {
        expect(cells[8]).toBe('—');
        continue;
      }
      expect(cells[8]).toBe(`${f1(q(mttr, 0.5))} [${f1(q(mttr, 0.25))}–${f1(q(mttr, 0.75))}]`);
      const mean = mttr.reduce((a, b) => a + b, 0) / mttr.length;
      const sd = Math.sqrt(mttr.reduce((a, b) => a + (b - mean) ** 2, 0) / (mttr.length - 1));
      expect(cells[9]).toBe(`${f1(mean)} ± ${f1(sd)}`);
      const boot = bootstrapMedianCI(mttr, { seed: bootstrapSeed('median', { scenario: scenario!, sweep: '', arm }) });
      expect(cells[10]).toBe(`[${f1(boot.lower!)}, ${f1(boot.upper!)}]`);
      const km = kmMedian(
        kaplanMeier(
          mine.map((r) =>
            r.mttr_s !== '' ? { time: Number(r.mttr_s), event: true } : { time: Number(r.censored_at_s), event: false },
          ),
        ),
        { flat: 'midpoint' },
      );
      expect(cells[11]!.startsWith(`${f1(km.value!)} [`)).toBe(true);
      const ttr = mine
        .filter((r) => r.ttr_release_s !== '')
        .map((r) => Number(r.ttr_release_s))
        .sort((a, b) => a - b);
      expect(cells[12]).toBe(`${f1(q(ttr, 0.5))} [${f1(q(ttr, 0.25))}–${f1(q(ttr, 0.75))}]`);
      const failed = mine.map((r) => Number(r.failed_requests)).sort((a, b) => a - b);
      expect(cells[15]).toBe(q(failed, 0.5).toFixed(0));
    }
  });
});
