import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeRequest, resourcePath } from '../../kube/kube-rest.ts';
import { networkNamespaceOptions, startLocalCluster, type StartedLocalCluster } from '../../cluster/local/cluster.ts';
import { IN_CLUSTER_TIER, requireTools } from '../../cluster/local/cluster-test-support.ts';
import { cmdlineOf, environOf } from '../../process/procfs.ts';
import { startCli } from '../../test-support/cli.ts';
import { journalRuns, writePlan } from '../../test-support/plan.ts';

// A fault of the environment on the kube platform: Flagger is killed in the middle of an analysis
// and started again. The run survives (Flagger resumes from the Canary's status) or ends as
// aborted with a reason; either way the experiment finishes and says what happened.
describe.skipIf(!IN_CLUSTER_TIER)(
  'Flagger restarting mid-run on the local control plane (run by npm run test:cluster)',
  () => {
    let cluster: StartedLocalCluster;
    let stateDir: string;
    let dir: string;
    let replacement: ChildProcess | undefined;

    beforeAll(async () => {
      requireTools();
      stateDir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-restart-'));
      dir = mkdtempSync(path.join(tmpdir(), 'kube-restart-'));
      cluster = await startLocalCluster({ stateDir, timeoutMs: 150_000 });
    }, 180_000);

    afterAll(async () => {
      replacement?.kill('SIGKILL');
      await cluster?.stop();
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }, 120_000);

    it('kills Flagger while the canary is analysed, restarts it, and the run still ends in a rollback', async () => {
      const plan = path.join(dir, 'plan.yaml');
      writePlan(plan, { name: 'kube-flagger-restart', timeScale: 1, repetitions: 1 }, [
        '  - { scenario: faulty-500, arms: [flagger], overrides: { flagger: { interval: 10s, threshold: 2, smokeTest: false }, recovery: { cleanWindowS: 10, deadlineS: 300 }, warmup: { durationS: 5 } } }',
      ]);
      const out = path.join(dir, 'out');
      const cli = startCli(
        [
          'experiment',
          '--platform',
          'kube',
          '--kubeconfig',
          cluster.kubeconfigPath,
          '--experiment',
          plan,
          '--out',
          out,
          '--load',
          'builtin',
        ],
        {
          env: { CANARY_MTTR_CLUSTER_DIR: stateDir },
        },
      );
      const kc = cluster.kubeConfig;
      // The only Canary on this cluster, in the experiment's own namespace.
      const canaries = resourcePath('flagger.app/v1beta1', 'canaries');
      // Wait for the analysis to be under way: Progressing with the canary at its first weight.
      const deadline = Date.now() + 240_000;
      for (;;) {
        const list = await kubeRequest<{ items: Array<{ status?: { phase?: string; canaryWeight?: number } }> }>(kc, {
          method: 'GET',
          path: canaries,
        }).catch(() => undefined);
        const canary = list?.items[0];
        if (canary?.status?.phase === 'Progressing' && (canary.status.canaryWeight ?? 0) > 0) break;
        if (Date.now() > deadline) throw new Error('the analysis never started');
        await new Promise((r) => setTimeout(r, 250));
      }
      // 'flagger' is the bridge that runs Flagger in its network namespace (Flagger dies with it), or
      // Flagger itself where the machine allows no namespace; the replacement starts the same way.
      const flaggerPid = cluster.state().processes.find((p) => p.component === 'flagger')!.pid;
      const argv = cmdlineOf(flaggerPid)!;
      // /proc's environ ends in NUL, so the split ends in an empty entry: node (the bridge) aborts on an empty name.
      const environ = Object.fromEntries(
        environOf(flaggerPid)!
          .filter((kv) => kv.includes('='))
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      const netns = networkNamespaceOptions();
      process.kill(flaggerPid, 'SIGKILL');
      const killedAt = Date.now();
      await new Promise((r) => setTimeout(r, 5_000));
      replacement = netns
        ? spawn('unshare', [...netns, '--', ...argv], { env: environ, stdio: 'ignore' })
        : spawn(argv[0]!, argv.slice(1), { env: environ, stdio: 'ignore' });
      const result = await cli.done;
      expect(result.code).toBe(0);
      const run = journalRuns(out)[0]!;
      const events = run.timeline.filter((e) => e.kind === 'flagger-event').map((e) => e.detail ?? '');
      console.log(
        `[restart] Flagger killed ${((Date.now() - killedAt) / 1000).toFixed(0)} s before the run ended; outcome ${run.metrics.outcome}; events: ${events.filter((e) => !e.startsWith('status')).join(' | ')}`,
      );
      if (run.metrics.outcome === 'aborted') {
        expect(run.metrics.abortReason).toBeTruthy();
      } else {
        // Flagger picked the analysis up from the Canary's status after its restart.
        expect(run.metrics.outcome).toBe('rolled_back');
        expect(events.filter((e) => e.startsWith('Rolling back'))).toHaveLength(1);
      }
      expect(readFileSync(path.join(out, 'runs.csv'), 'utf8').trim().split('\n')).toHaveLength(2);
    }, 420_000);
  },
);
