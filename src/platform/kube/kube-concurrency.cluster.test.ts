import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  IN_CLUSTER_TIER,
  kubeExperimentArgs,
  PROJECT_ROOT,
  useLocalCluster,
} from '../../cluster/local/cluster-test-support.ts';
import type { RunEntry } from '../../experiment/journal.ts';
import { kubeRequest } from '../../kube/kube-rest.ts';
import { runCli, startCli } from '../../test-support/cli.ts';
import { journalHeader, journalRuns, writePlan } from '../../test-support/plan.ts';
import { ClaimedNamespace, EXPERIMENT_LABEL, type NamespaceRecord, thisHarness } from './experiment-namespaces.ts';

// Several runs, and several experiments, at once on one cluster (docs/design.md §10): the local
// control plane with the real Flagger, one Canary per slot, each slot in namespaces of its own.

/** quick-kube's analysis: interval 10 s, threshold 1. */
const INTERVAL_S = 10;
const THRESHOLD = 1;

/**
 * README's timing law for a Flagger run that failed every check: counted from the first tick that
 * saw the new revision ("New revision detected"), the rollback comes (threshold + 2) intervals
 * later, one more for each tick Flagger spent waiting for the canary to start; the first tick is
 * within one interval of the change. Returns the figures, for the log line.
 */
function checkTimingLaw(run: RunEntry): { releaseToRollbackS: number; detectToRollbackS: number; waits: number } {
  const events = run.timeline.filter((e) => e.kind === 'flagger-event' && !e.detail?.startsWith('status:'));
  const releaseMs = run.metrics.releaseMs;
  const detect = events.find((e) => e.detail?.startsWith('New revision detected') && e.atMs >= releaseMs);
  const rollback = events.find((e) => e.detail?.startsWith('Rolling back') && e.atMs >= releaseMs);
  expect(detect, `${run.runId}: Flagger saw the release`).toBeDefined();
  expect(rollback, `${run.runId}: Flagger rolled it back`).toBeDefined();
  const waits = events.filter(
    (e) => e.atMs > detect!.atMs && e.atMs < rollback!.atMs && e.detail?.includes('waiting for rollout to finish'),
  ).length;
  const releaseToRollbackS = (rollback!.atMs - releaseMs) / 1000;
  const detectToRollbackS = (rollback!.atMs - detect!.atMs) / 1000;
  // No start-up shortens the law's lower bound.
  expect(releaseToRollbackS).toBeGreaterThan((THRESHOLD + 2) * INTERVAL_S);
  // Whole ticks of Flagger's own ticker; the 2 s are the delivery of two events through a watch.
  expect(Math.abs(detectToRollbackS - (THRESHOLD + 2 + waits) * INTERVAL_S)).toBeLessThan(2);
  return { releaseToRollbackS, detectToRollbackS, waits };
}

describe.skipIf(!IN_CLUSTER_TIER)('concurrent runs on the local control plane (run by npm run test:cluster)', () => {
  const suite = useLocalCluster('concurrency');
  const experimentArgs = (plan: string, out: string, extra: string[] = []) =>
    kubeExperimentArgs(suite.cluster, plan, out, extra);
  const env = () => ({ CANARY_MTTR_CLUSTER_DIR: suite.stateDir, CANARY_MTTR_STATE_DIR: path.join(suite.dir, 'state') });
  const namespaces = async () =>
    (
      await kubeRequest<{ items: NamespaceRecord[] }>(suite.cluster.kubeConfig, {
        method: 'GET',
        path: `/api/v1/namespaces?labelSelector=${encodeURIComponent(EXPERIMENT_LABEL)}`,
      })
    ).items.filter((ns) => ns.metadata.deletionTimestamp === undefined);

  /** Every run ran in its own slot's namespace: the one Flagger names in its events. */
  const expectOwnNamespaces = (out: string) => {
    const id = journalHeader(out).id!;
    for (const run of journalRuns(out)) {
      const namespace = `canary-mttr-${id}-${run.arm}-${run.harness!.slot}`;
      const named = run.timeline
        .filter((e) => e.kind === 'flagger-event')
        .flatMap((e) => [...(e.detail ?? '').matchAll(/sms-checker\.(canary-mttr-[a-z0-9-]+)/g)].map((m) => m[1]));
      expect(new Set(named)).toEqual(new Set(run.arm === 'flagger' ? [namespace] : []));
    }
  };

  it('quick-kube with --concurrency 4: four slots at once, every Flagger rollback inside the timing law', async () => {
    const out = path.join(suite.dir, 'quick-kube-4');
    const plan = path.join(PROJECT_ROOT, 'experiments/quick-kube.yaml');
    const cli = startCli(experimentArgs(plan, out, ['--concurrency', '4']), { env: env() });
    cli.child.stdin!.end();
    // While it runs: one namespace per slot, each labelled with this experiment's id.
    let seen: string[] = [];
    const watching = (async () => {
      for (let i = 0; i < 1200; i++) {
        const names = (await namespaces().catch(() => [])).map((ns) => ns.metadata.name);
        if (names.length > seen.length) seen = names;
        if (cli.child.exitCode !== null) return;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const result = await cli.done;
    await watching;
    // stderr may hold the runner's lag notices (four runs on two shared cores); nothing else.
    if (result.stderr) console.log(`[kube x4] stderr:\n${result.stderr}`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.split('\n').filter((l) => l !== '' && !/exceeds the \d+ ms bound/.test(l))).toEqual([]);
    const id = journalHeader(out).id!;
    const runs = journalRuns(out);
    expect(runs).toHaveLength(4);
    expect(new Set(runs.map((r) => r.harness!.slot))).toEqual(new Set([1, 2, 3, 4]));
    expect(seen.sort()).toEqual(runs.map((r) => `canary-mttr-${id}-${r.arm}-${r.harness!.slot}`).sort());
    expectOwnNamespaces(out);
    expect(runs.map((r) => r.metrics.outcome)).toEqual(['rolled_back', 'rolled_back', 'rolled_back', 'rolled_back']);
    for (const run of runs.filter((r) => r.arm === 'flagger')) {
      const law = checkTimingLaw(run);
      console.log(
        `[kube x4] ${run.runId} slot ${run.harness!.slot}: release→Rolling back ${law.releaseToRollbackS.toFixed(1)} s, detected→Rolling back ${law.detectToRollbackS.toFixed(1)} s (law ${(THRESHOLD + 2 + law.waits) * INTERVAL_S} s, ${law.waits} wait tick(s))`,
      );
    }
    // The experiment took its namespaces away with it.
    expect((await namespaces()).filter((ns) => ns.metadata.name.includes(id))).toEqual([]);
  }, 900_000);

  it('two experiments started at once both complete, each in its own namespaces; a third one is left alone', async () => {
    // A live bystander: a namespace of another experiment held by this process's lease.
    const bystander = await ClaimedNamespace.claim(suite.cluster.kubeConfig, {
      namespace: 'canary-mttr-bystand1-flagger-1',
      experimentId: 'bystand1',
      experimentName: 'bystander',
      holder: thisHarness(),
    });
    try {
      const overrides =
        'overrides: { flagger: { interval: 10s, threshold: 1, smokeTest: false }, recovery: { cleanWindowS: 10, deadlineS: 300 }, warmup: { durationS: 5 }, manual: { operator: { kind: dashboard, lookIntervalS: 15, pNotice: 1, reaction: { medianS: 10, p90S: 20 } } } }';
      // The short one ends, and deletes its namespaces, while the long one (two rounds of two
      // slots) still runs.
      const short = writePlan(
        path.join(suite.dir, 'short.yaml'),
        { name: 'kube-short', timeScale: 1, repetitions: 1 },
        [`  - { scenario: faulty-500, arms: [flagger], ${overrides} }`],
      );
      const long = writePlan(
        path.join(suite.dir, 'long.yaml'),
        { name: 'kube-long', timeScale: 1, repetitions: 2, concurrency: 2 },
        [`  - { scenario: faulty-500, arms: [manual, flagger], ${overrides} }`],
      );
      const outShort = path.join(suite.dir, 'short');
      const outLong = path.join(suite.dir, 'long');
      const ended = async (run: ReturnType<typeof runCli>) => ({ ...(await run), atMs: Date.now() });
      const [a, b] = await Promise.all([
        ended(runCli(experimentArgs(short, outShort), { env: env(), timeoutMs: 600_000 })),
        ended(runCli(experimentArgs(long, outLong), { env: env(), timeoutMs: 600_000 })),
      ]);
      const notLag = (stderr: string) =>
        stderr.split('\n').filter((l) => l !== '' && !/exceeds the \d+ ms bound/.test(l));
      expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
      expect([...notLag(a.stderr), ...notLag(b.stderr)]).toEqual([]);
      const idShort = journalHeader(outShort).id;
      const idLong = journalHeader(outLong).id;
      expect(idShort).not.toBe(idLong);
      expect(journalRuns(outShort).map((r) => r.metrics.outcome)).toEqual(['rolled_back']);
      expect(journalRuns(outLong).map((r) => r.metrics.outcome)).toEqual(Array(4).fill('rolled_back'));
      // A run of the long one was under way when the short one had ended and deleted its namespaces.
      const spans = journalRuns(outLong).map((r) => [Date.parse(r.startedAt), Date.parse(r.startedAt) + r.wallMs]);
      expect(spans.some(([start, end]) => start! < a.atMs && a.atMs < end!)).toBe(true);
      expectOwnNamespaces(outShort);
      expectOwnNamespaces(outLong);
      for (const run of [...journalRuns(outShort), ...journalRuns(outLong)].filter((r) => r.arm === 'flagger'))
        checkTimingLaw(run);
      // Both took their own namespaces away; the bystander's stands, untouched.
      const left = await namespaces();
      expect(left.map((ns) => ns.metadata.name)).toEqual([bystander.name]);
      expect(left[0]!.metadata.uid).toBe(bystander.uid);
    } finally {
      await bystander.release();
    }
  }, 900_000);
});
