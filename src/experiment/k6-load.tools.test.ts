import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { readRequestsFile } from './requests-file.ts';
import { findProcesses, isAlive } from '../process/procfs.ts';
import { k6DurationS, K6LoadGenerator } from '../load/k6-generator.ts';
import { processesLabelled, runCli, startCli, waitFor } from '../test-support/cli.ts';
import { writePlan, writeShortFlaggerPlan } from '../test-support/plan.ts';

// Tools tier (npm run test:tools): the experiment with k6 as the load generator (needs k6, from
// npm run tools:install); the report says k6 ran. The fallback without k6 is k6-load.e2e.test.ts.
const dir = mkdtempSync(path.join(tmpdir(), 'k6-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const plan = writeShortFlaggerPlan(path.join(dir, 'plan.yaml'), 'k6-load');

describe('load generators in an experiment', () => {
  it('k6: records in the same shape, and the report names k6', async () => {
    // Without k6 this fails here, with the message that says to run npm run tools:install.
    await K6LoadGenerator.create();
    const out = path.join(dir, 'k6');
    const r = await runCli(['experiment', '--experiment', plan, '--out', out, '--load', 'k6'], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [row] = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    expect(row!.load_generator).toMatch(/^k6 v1\.\d+\.\d+$/);
    expect(row!.outcome, row!.abort_reason).toBe('rolled_back');
    const records = readRequestsFile(path.join(out, 'requests', `${row!.run_id}.csv`));
    expect(records.length).toBeGreaterThan(100);
    expect(new Set(records.map((x) => x.version))).toEqual(new Set(['v1', 'v2']));
    for (const rec of records.slice(0, 50))
      expect(Object.keys(rec).sort()).toEqual(['doneMs', 'latencyMs', 'sentMs', 'status', 'version'].sort());
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toContain(
      `Load generator: ${row!.load_generator} (open model`,
    );
  }, 150_000);

  it('SIGKILL of the harness mid-run leaves no k6 or app process, and the next start removes the temporary folders', async () => {
    await K6LoadGenerator.create();
    const name = `k6-kill-${process.pid}-${Date.now().toString(36)}`;
    const killPlan = writePlan(path.join(dir, 'kill.yaml'), { name, timeScale: 20, repetitions: 3 }, [
      '  - { scenario: faulty-500, arms: [flagger], overrides: { flagger: { interval: 10s, threshold: 1 }, recovery: { cleanWindowS: 5, deadlineS: 120 }, warmup: { durationS: 5 } } }',
    ]);
    // Its own temporary and state folders, so what is left is this test's alone.
    const tmp = path.join(dir, 'kill-tmp');
    mkdirSync(tmp);
    const env = { TMPDIR: tmp, CANARY_MTTR_STATE_DIR: path.join(dir, 'kill-state') };
    const cli = startCli(
      ['experiment', '--experiment', killPlan, '--out', path.join(dir, 'kill-out'), '--load', 'k6'],
      { env },
    );
    const k6Pids = () => findProcesses(({ cmdline }) => cmdline.some((a) => a.startsWith(`json=${tmp}/`)));
    try {
      await waitFor(
        () => k6Pids().length > 0 && processesLabelled(name).length > 0,
        60_000,
        'k6 and the app processes to run',
      );
      const [k6] = k6Pids();
      const apps = processesLabelled(name);
      // Its own end: the run's warm-up and deadline (125 scenario s, 7 wall s at 20×) plus the margin.
      expect(readFileSync(`/proc/${k6}/cmdline`, 'utf8').split('\0')).toContain(
        `DURATION_S=${k6DurationS(125_000, 20)}`,
      );
      expect(readdirSync(tmp).filter((f) => f.startsWith('canary-mttr-')).length).toBeGreaterThanOrEqual(2);

      cli.child.kill('SIGKILL');
      // The acceptance bound (children go at all, within 5 s), not a speed target.
      await waitFor(
        () => !isAlive(k6!) && apps.every((pid) => !isAlive(pid)),
        5_000,
        'k6 and the app processes to die with the harness',
      );
      expect(k6Pids()).toEqual([]);

      const next = await runCli(['cleanup'], { env });
      expect(next.code, next.stderr).toBe(0);
      expect(readdirSync(tmp).filter((f) => f.startsWith('canary-mttr-'))).toEqual([]);
    } finally {
      cli.child.kill('SIGKILL');
      for (const pid of [...k6Pids(), ...processesLabelled(name)]) process.kill(pid, 'SIGKILL');
    }
  }, 150_000);
});
