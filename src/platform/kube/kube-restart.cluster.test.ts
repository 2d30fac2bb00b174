import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kubeRequest, resourcePath } from '../../kube/kube-rest.ts';
import { networkNamespaceOptions } from '../../cluster/local/cluster.ts';
import { IN_CLUSTER_TIER, kubeExperimentArgs, useLocalCluster } from '../../cluster/local/cluster-test-support.ts';
import { cmdlineOf, environOf } from '../../process/procfs.ts';
import { startCli } from '../../test-support/cli.ts';
import { journalRuns, writePlan } from '../../test-support/plan.ts';

// A fault of the environment on the kube platform: Flagger is killed in the middle of an analysis
// and started again. The run survives (Flagger resumes from the Canary's status) or ends as
// aborted with a reason; either way the experiment finishes and says what happened.
describe.skipIf(!IN_CLUSTER_TIER)(
  'Flagger restarting mid-run on the local control plane (run by npm run test:cluster)',
  () => {
    const suite = useLocalCluster('restart');
    let replacement: ChildProcess | undefined;

    afterAll(() => {
      replacement?.kill('SIGKILL');
    });

    it('kills Flagger while the canary is analysed, restarts it, and the run still ends in a rollback', async () => {
      const plan = path.join(suite.dir, 'plan.yaml');
      writePlan(plan, { name: 'kube-flagger-restart', timeScale: 1, repetitions: 1 }, [
        '  - { scenario: faulty-500, arms: [flagger], overrides: { flagger: { interval: 10s, threshold: 2, smokeTest: false }, recovery: { cleanWindowS: 10, deadlineS: 300 }, warmup: { durationS: 5 } } }',
      ]);
      const out = path.join(suite.dir, 'out');
      const cli = startCli(kubeExperimentArgs(suite.cluster, plan, out), {
        env: { CANARY_MTTR_CLUSTER_DIR: suite.stateDir },
      });
      const kc = suite.cluster.kubeConfig;
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
      const flaggerPid = suite.cluster.state().processes.find((p) => p.component === 'flagger')!.pid;
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
