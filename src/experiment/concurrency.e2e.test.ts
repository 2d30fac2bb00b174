import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesLabelled, runCli, slotsInUse, startCli, waitFor } from '../test-support/cli.ts';
import { writeBothArmsPlan } from '../test-support/plan.ts';

// Ctrl-C with four runs in flight, then --resume: the runs in flight were not journaled, so they
// run again, once each; the runs that had finished are not run again (docs/design.md §10).
const RUNS = 8;

let dir: string;
let plan: string;
let name: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'concurrency-e2e-'));
  name = `concurrency-${process.pid}`;
  plan = path.join(dir, 'plan.yaml');
  // 50 req/s of wall time per run: four runs at once stay light on a small machine.
  writeBothArmsPlan(plan, { name, timeScale: 10, concurrency: 4, repetitions: RUNS / 2 });
});

afterAll(() => {
  for (const pid of processesLabelled(name)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const runLines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type":"run"'));

describe('concurrency', () => {
  it('SIGINT with 4 runs in flight leaves no app process; --resume runs each of them once, and no finished run again', async () => {
    const out = path.join(dir, 'out');
    const journal = path.join(out, 'journal.jsonl');
    const cli = startCli(['experiment', '--experiment', plan, '--out', out]);
    let journaledAtSignal = -1;
    try {
      // Each slot starts its app processes just before its first run, so four slots with processes
      // and at most four of eight runs journaled means four runs are in flight.
      await waitFor(
        () => {
          if (slotsInUse(name).size < 4) return false;
          journaledAtSignal = runLines(journal).length;
          return journaledAtSignal <= RUNS - 4;
        },
        60_000,
        'four runs in flight',
      );
      cli.child.kill('SIGINT');
      const result = await cli.done;
      expect(result.code).toBe(130);
      expect(result.stdout).toContain('Concurrency 4: set by the plan');
      expect(processesLabelled(name)).toEqual([]);
    } finally {
      cli.child.kill('SIGKILL');
    }
    const before = runLines(journal);
    // Runs that finished while the interrupt was being handled are journaled too, but none twice.
    expect(before.length).toBeGreaterThanOrEqual(journaledAtSignal);
    expect(before.length).toBeLessThan(RUNS);
    const resumed = await runCli(['experiment', '--resume', out], { timeoutMs: 150_000 });
    expect(resumed.code).toBe(0);
    expect(processesLabelled(name)).toEqual([]);
    const after = runLines(journal);
    // The finished runs' lines are untouched, first; the rest ran once each.
    expect(after.slice(0, before.length)).toEqual(before);
    const header = JSON.parse(readFileSync(journal, 'utf8').split('\n')[0]!);
    const ids = after.map((l) => JSON.parse(l).runId as string);
    expect(ids.sort()).toEqual([...header.plannedRuns].sort());
    expect(header.id).toMatch(/^[a-z0-9]{8}$/);
    const rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    expect(rows).toHaveLength(RUNS);
    for (const row of rows) {
      expect(['1', '2', '3', '4']).toContain(row.slot);
      expect(Number(row.concurrency)).toBeGreaterThanOrEqual(1);
      expect(Number(row.loop_lag_p99_ms)).toBeGreaterThanOrEqual(0);
      expect(row.send_lag_max_ms).not.toBe('');
    }
  }, 240_000);
});
