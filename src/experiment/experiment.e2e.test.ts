import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapSeed } from '../report/run-rows.ts';
import { bootstrapMedianCI, kaplanMeier, kmMedian } from '../stats/index.ts';
import { processesLabelled, runCli } from '../test-support/cli.ts';
import { flaggerTicks } from '../test-support/ticks.ts';
import type { RunEntry } from './journal.ts';

// The whole spine as a user runs it: the CLI, real app processes, the router, the Flagger model,
// the dashboard operator, the load generator, the journal and the report files.
const INTERVAL_S = 10;
const THRESHOLD = 2;
const STEPS = 50 / 10;
/**
 * 5 req/s of scenario time is 100 req/s of wall time at 20×: a quarter of the scenarios' 20 req/s,
 * so that a busy 2-core machine still keeps up with the compressed clock (at 400 req/s wall a
 * starved event loop let requests time out, failed healthy warm-ups and rolled healthy builds
 * back). Nothing asserted here needs the higher rate; it costs no wall time.
 */
const LOAD = 'load: { rateRps: 5 }';

let dir: string;
let out: string;
let rows: Array<Record<string, string>>;
let name: string;
let stdout: string;
let journal: Array<{ type: string } & Partial<RunEntry>>;

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
      'concurrency: 1',
      'seed: 7',
      'repetitions: 2',
      'runs:',
      '  - scenario: faulty-500',
      '    arms: [manual, flagger]',
      `    overrides: { ${LOAD}, flagger: { interval: ${INTERVAL_S}s, threshold: ${THRESHOLD} }, recovery: { cleanWindowS: 10 } }`,
      '  - scenario: healthy',
      '    arms: [flagger]',
      `    overrides: { ${LOAD}, flagger: { interval: ${INTERVAL_S}s, threshold: ${THRESHOLD} }, recovery: { cleanWindowS: 10 } }`,
    ].join('\n'),
  );
  const result = await runCli(['experiment', '--experiment', plan, '--out', out], { timeoutMs: 170_000 });
  stdout = result.stdout;
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true });
  journal = readFileSync(path.join(out, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const s = (row: Record<string, string>, column: string) => Number(row[column]) / 1000;

/**
 * The Flagger model's ticks after the analysis started, from the journal's own scenario-time stamps:
 * for each tick (flagger events sharing one stamp), its events. Ticks are counted, not timed: how
 * late a timer fires on a busy machine moves a stamp, never the order or number of ticks. Ticks
 * before the analysis started are not counted: until then the model waits for app processes to
 * start, which takes real time that the compressed clock multiplies.
 */
function analysisTicks(runId: string): string[][] {
  const run = journal.find((l) => l.type === 'run' && l.runId === runId)!;
  const all = flaggerTicks(run.timeline!).map((tick) => tick.events);
  const start = all.findIndex((events) => events.some((d) => d.startsWith('Starting canary analysis')));
  expect(start).toBeGreaterThanOrEqual(0);
  return all.slice(start);
}

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

  it('rolls back every faulty Flagger run by the tick law: T failed checks after the analysis starts', () => {
    const flagger = rows.filter((r) => r.scenario === 'faulty-500' && r.arm === 'flagger');
    for (const row of flagger) {
      expect(row.outcome).toBe('rolled_back');
      // No earlier than the law allows ((T+2)·I: detection, analysis start, T checks); timers only
      // ever fire late, so this bound holds on any machine.
      const releaseToRollback = s(row, 'mitigate_ms') - s(row, 'release_ms');
      expect(releaseToRollback).toBeGreaterThan((THRESHOLD + 2) * INTERVAL_S);
      // The exact law, in ticks: the analysis starts at 10%, T ticks each fail a check, and the
      // next one rolls back. (In time, exactly, on the virtual clock: flagger-model/model.test.ts
      // and experiment/run.test.ts.)
      const ticks = analysisTicks(row.run_id!);
      expect(ticks).toHaveLength(THRESHOLD + 2);
      expect(ticks[0]).toContain('Advance sms-checker.canary-mttr canary weight 10');
      for (const failing of ticks.slice(1, -1)) expect(failing[0]).toMatch(/^Halt advancement /);
      expect(ticks.at(-1)![0]).toBe(
        `Rolling back sms-checker.canary-mttr failed checks threshold reached ${THRESHOLD}`,
      );
      // Users saw failures (10% of traffic at the first step) and the run recovered.
      expect(Number(row.failed_requests)).toBeGreaterThan(0);
      expect(Number(row.mttr_s)).toBeGreaterThan(0);
      expect(Number(row.ttr_release_s)).toBeGreaterThanOrEqual(Number(row.mttr_s));
    }
  });

  it('promotes every healthy Flagger run by the tick law: one step a tick, then copy, route, done', () => {
    const healthy = rows.filter((r) => r.scenario === 'healthy');
    for (const row of healthy) {
      expect(row.outcome).toBe('promoted');
      expect(row.failed_requests).toBe('0');
      // No earlier than (steps+3)·I; timers only ever fire late.
      const releaseToSucceeded = s(row, 'promoted_ms') - s(row, 'release_ms');
      expect(releaseToSucceeded).toBeGreaterThan((STEPS + 3) * INTERVAL_S);
      // The exact law, in ticks: weights 10…50 on STEPS consecutive ticks, the copy on the next.
      // Then the primary's rollout (real process start-up, so any number of "not ready" events),
      // the traffic back to the primary, and the promotion completed.
      const ticks = analysisTicks(row.run_id!);
      for (let k = 0; k < STEPS; k++) {
        expect(ticks[k]!.at(-1)).toBe(`Advance sms-checker.canary-mttr canary weight ${(k + 1) * 10}`);
      }
      expect(ticks[STEPS]).toEqual([
        'Copying sms-checker.canary-mttr template spec to sms-checker-primary.canary-mttr',
      ]);
      const after = ticks.slice(STEPS + 1).flat();
      expect(after.slice(-2)).toEqual([
        'Routing all traffic to primary',
        'Promotion completed! Scaling down sms-checker.canary-mttr',
      ]);
      for (const waiting of after.slice(0, -2))
        expect(waiting).toBe(
          'sms-checker-primary.canary-mttr not ready: waiting for rollout to finish: 1 old replicas are pending termination',
        );
    }
  });

  it('has the dashboard operator roll back the manual canary', () => {
    for (const row of rows.filter((r) => r.arm === 'manual')) {
      expect(row.outcome).toBe('rolled_back');
      expect(Number(row.detect_ms)).toBeGreaterThan(Number(row.impact_ms));
      expect(Number(row.mitigate_ms)).toBeGreaterThanOrEqual(Number(row.detect_ms));
    }
  });

  it('every failed request of a faulty run is a 500 of the released build', () => {
    // The stable build kept answering, and nothing timed out: the failures users saw were the
    // canary's, whatever share of a second's few requests they were.
    for (const row of rows.filter((r) => r.scenario === 'faulty-500')) {
      const failed = readFileSync(path.join(out, 'requests', `${row.run_id}.csv`), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','))
        .filter(([, , , status]) => Number(status) === 0 || Number(status) >= 500);
      expect(failed.length).toBeGreaterThan(0);
      for (const [, , , status, version] of failed)
        expect({ status, version }).toEqual({ status: '500', version: 'v2' });
    }
  });

  it('keeps request records per run and journals every run', () => {
    expect(journal[0]!.type).toBe('experiment');
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
