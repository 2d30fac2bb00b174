import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRandom } from '../common/random.ts';
import { processesLabelled, runCli, startCli, waitFor } from '../test-support/cli.ts';
import { writeBothArmsPlan } from '../test-support/plan.ts';

// Kill the harness at random moments, with SIGINT and SIGKILL, and resume after each kill: the
// journal must end up holding exactly the planned runs, and no app process may survive.
const KILLS = 20;
const RUNS = 16;

let dir: string;
let out: string;
let plan: string;
let name: string;
let stateDir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'resume-e2e-'));
  stateDir = path.join(dir, 'state');
  out = path.join(dir, 'report');
  name = `resume-${process.pid}`;
  plan = path.join(dir, 'plan.yaml');
  writeBothArmsPlan(plan, { name, timeScale: 30, repetitions: RUNS / 2 });
});

afterAll(() => {
  for (const pid of processesLabelled(name)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function journalRuns(): string[] {
  if (!existsSync(path.join(out, 'journal.jsonl'))) return [];
  return readFileSync(path.join(out, 'journal.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        const parsed = JSON.parse(l);
        return parsed.type === 'run' ? [parsed.runId as string] : [];
      } catch {
        return [];
      }
    });
}

describe('interrupt and resume', () => {
  it(`survives ${KILLS} kills at random moments and ends with exactly the planned runs`, async () => {
    const random = createRandom(20261126);
    const env = { CANARY_MTTR_STATE_DIR: stateDir };
    let leftoversAfterKill: number[] = [];
    let started = false;
    for (let k = 0; k < KILLS; k++) {
      const args = started ? ['experiment', '--resume', out] : ['experiment', '--experiment', plan, '--out', out];
      const cli = startCli(args, { env });
      // The next start removes what a SIGKILLed harness left behind.
      if (leftoversAfterKill.length > 0) {
        await waitFor(
          () => leftoversAfterKill.every((pid) => !processesLabelled(name).includes(pid)),
          15_000,
          'leftovers to be removed',
        );
      }
      await new Promise((r) => setTimeout(r, 1_200 + random.next() * 2_500));
      const signal = k % 2 === 0 ? 'SIGINT' : 'SIGKILL';
      cli.child.kill(signal);
      const result = await cli.done;
      // A kill that lands before the harness wrote its journal (still loading) leaves nothing to resume.
      started = existsSync(path.join(out, 'journal.jsonl'));
      if (signal === 'SIGINT') {
        // 130 after cleanup, 0 when it had just finished, or killed by the signal itself when it
        // arrived before the handler was installed (node still loading the CLI's modules).
        expect(result.code === 0 || result.code === 130 || result.signal === 'SIGINT').toBe(true);
        expect(processesLabelled(name)).toEqual([]);
        leftoversAfterKill = [];
      } else {
        leftoversAfterKill = processesLabelled(name);
      }
      // No run is ever journaled twice, whatever the moment of the kill.
      const runs = journalRuns();
      expect(new Set(runs).size).toBe(runs.length);
    }
    const final = await runCli(
      started ? ['experiment', '--resume', out] : ['experiment', '--experiment', plan, '--out', out],
      { timeoutMs: 120_000, env },
    );
    expect(final.code).toBe(0);
    expect(processesLabelled(name)).toEqual([]);
    const header = JSON.parse(readFileSync(path.join(out, 'journal.jsonl'), 'utf8').split('\n')[0]!);
    expect(header.plannedRuns).toHaveLength(RUNS);
    expect(journalRuns().sort()).toEqual([...header.plannedRuns].sort());
    const csv = readFileSync(path.join(out, 'runs.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(RUNS + 1);
  }, 300_000);

  it('detects a torn last line, runs that run again, and still ends with exactly the planned runs', async () => {
    const file = path.join(out, 'journal.jsonl');
    const text = readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    const last = lines[lines.length - 1]!;
    const tornRun = JSON.parse(last).runId as string;
    writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n${last.slice(0, Math.floor(last.length / 2))}`);
    const result = await runCli(['experiment', '--resume', out], { timeoutMs: 60_000 });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      `${file}: the last line was cut short by the interruption; that run will run again`,
    );
    expect(result.stdout).toContain('Resuming');
    expect(result.stdout).toContain(
      `${tornRun.startsWith('faulty-500-flagger') ? 'faulty-500 flagger' : 'faulty-500 manual'}`,
    );
    const header = JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!);
    expect(journalRuns().sort()).toEqual([...header.plannedRuns].sort());
  }, 120_000);
});
