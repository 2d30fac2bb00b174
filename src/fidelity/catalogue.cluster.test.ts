import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  eventually,
  IN_CLUSTER_TIER,
  leftovers,
  PROJECT_ROOT,
  requireTools,
  startClusterCli,
} from '../cluster/local/cluster-test-support.ts';
import { readFidelityRunsCsv } from './runs-csv.ts';
import { overloaded } from './table.ts';

const CLI = path.join(PROJECT_ROOT, 'src/fidelity/cli.ts');

/** `npm run fidelity -- …` as a user runs it, killed if it outlives the test. */
function startFidelity(args: string[]) {
  const run = startClusterCli(args, process.env, CLI);
  const killer = setTimeout(() => run.child.kill('SIGKILL'), 900_000);
  void run.done.then(() => clearTimeout(killer));
  return run;
}

// faulty-500-smoke as its file says (interval 30 s, Prometheus every 15 s), through the real
// flagger-loadtester: an interrupt keeps the release already measured, --resume measures the rest
// and the model's, and the comparison is written (issue 13).
describe.skipIf(!IN_CLUSTER_TIER)('npm run fidelity -- --all (run by npm run test:cluster)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-fidelity-all-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps what an interrupt leaves, resumes the rest, and compares both sides', async () => {
    const tools = requireTools();
    const out = path.join(dir, 'out');
    const csv = path.join(out, 'runs.csv');
    const first = startFidelity(['--scenarios', 'faulty-500-smoke', '--reps', '2', '--concurrency', '1', '--out', out]);
    await eventually('the first release in runs.csv', () => existsSync(csv), 420_000);
    first.child.kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code).not.toBe(0);
    const kept = readFidelityRunsCsv(csv).filter((r) => !overloaded(r));
    expect(kept.map((r) => [r.side, r.scenario, r.rep])).toEqual([['real', 'faulty-500-smoke', 1]]);
    const states = () =>
      readdirSync(out)
        .filter((d) => d.startsWith('cluster-scrape-15s-'))
        .map((d) => path.join(out, d));
    expect(states()).toHaveLength(1);
    expect(leftovers(states()[0]!, 'fidelity', tools)).toEqual({ processes: [], ports: [] });

    const resumed = startFidelity(['--resume', out, '--concurrency', '1']);
    const { code } = await resumed.done;
    expect(code, resumed.stderr()).toBe(0);
    expect(resumed.stdout()).toContain('Resuming: 1 releases already in runs.csv are kept');
    // A release that measured an overloaded machine (a busy test machine) is kept but measured again.
    const rows = readFidelityRunsCsv(csv).filter((r) => !overloaded(r));
    expect(rows.map((r) => [r.side, r.rep])).toEqual([
      ['real', 1],
      ['real', 2],
      ['model', 1],
      ['model', 2],
    ]);
    expect(rows[0]).toEqual(kept[0]);
    for (const r of rows) {
      // The failed smoke test halts on the first tick of the analysis and rolls back with no user
      // request reaching the canary, on both sides.
      expect(r.outcome).toBe('rolled_back');
      expect(r.detectMessage).toContain('pre-rollout check smoke-test failed');
      expect(r.smokeTest).toBe(true);
      expect(r.scrapeIntervalS).toBe(15);
    }
    const md = readFileSync(path.join(out, 'fidelity.md'), 'utf8');
    expect(md).toMatch(
      /\| faulty-500-smoke \(smoke test\) \| 30 s \| 2 \/ 2 \| rolled_back 2\/2 \/ 2\/2 \(1\.000\) \|/,
    );
    expect(states()).toHaveLength(2);
    for (const state of states()) expect(leftovers(state, 'fidelity', tools)).toEqual({ processes: [], ports: [] });
  }, 1_500_000);
});
