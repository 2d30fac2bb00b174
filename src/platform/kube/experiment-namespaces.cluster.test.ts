import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScaledClock } from '../../common/clock.ts';
import { UsageError } from '../../common/errors.ts';
import { pollUntil } from '../../common/poll.ts';
import { IN_CLUSTER_TIER, PROJECT_ROOT, useLocalCluster } from '../../cluster/local/cluster-test-support.ts';
import { kubeRequest, resourcePath } from '../../kube/kube-rest.ts';
import { pidNamespaceKey } from '../../process/procfs.ts';
import { loadScenarioFile } from '../../scenario/load-files.ts';
import { runCli, startCli } from '../../test-support/cli.ts';
import { journalHeader, writePlan } from '../../test-support/plan.ts';
import {
  ClaimedNamespace,
  EXPERIMENT_LABEL,
  EXPERIMENT_NAME_ANNOTATION,
  formatHolder,
  LEASE_NAME,
  type LeaseRecord,
  microTime,
  type NamespaceRecord,
  thisHarness,
} from './experiment-namespaces.ts';
import { KubePlatform } from './kube-platform.ts';

// Namespaces, their harness Leases and `npm run cleanup` against a real API server (the local
// control plane, without Flagger: nothing here needs a Canary analysed).
describe.skipIf(!IN_CLUSTER_TIER)(
  'experiment namespaces on the local control plane (run by npm run test:cluster)',
  () => {
    const suite = useLocalCluster('namespaces', { flagger: false });

    const getNamespace = (name: string) =>
      kubeRequest<NamespaceRecord>(suite.cluster.kubeConfig, {
        method: 'GET',
        path: `/api/v1/namespaces/${name}`,
      }).catch(() => undefined);
    const getLease = (namespace: string) =>
      kubeRequest<LeaseRecord>(suite.cluster.kubeConfig, {
        method: 'GET',
        path: resourcePath('coordination.k8s.io/v1', 'leases', namespace, LEASE_NAME),
      }).catch(() => undefined);
    const createNamespace = (name: string, labels: Record<string, string> = {}) =>
      kubeRequest<NamespaceRecord>(suite.cluster.kubeConfig, {
        method: 'POST',
        path: '/api/v1/namespaces',
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
      });
    const createLease = (namespace: string, holderIdentity: string, renewedMs: number) =>
      kubeRequest(suite.cluster.kubeConfig, {
        method: 'POST',
        path: resourcePath('coordination.k8s.io/v1', 'leases', namespace),
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: LEASE_NAME },
          spec: { holderIdentity, leaseDurationSeconds: 60, renewTime: microTime(renewedMs) },
        },
      });
    /** Present and not being deleted. */
    const standing = async (name: string) => {
      const ns = await getNamespace(name);
      return ns !== undefined && ns.metadata.deletionTimestamp === undefined;
    };
    const platform = () =>
      new KubePlatform({
        kubeConfig: suite.cluster.kubeConfig,
        kubeconfigPath: suite.cluster.kubeconfigPath,
        prometheusUrl: suite.cluster.prometheusUrl,
        serviceUrl: () => undefined,
        experiment: 'ns-test',
      });
    const scenario = () => loadScenarioFile(path.join(PROJECT_ROOT, 'scenarios/faulty-500.yaml'));
    const openOptions = (experimentId: string, slot: number) => ({
      clock: new ScaledClock(1),
      seed: 1,
      experiment: 'ns-test',
      experimentId,
      slot,
    });

    it('a session creates its labelled namespace with a Lease naming this process, and deletes it on close', async () => {
      const p = platform();
      const session = await p.open('manual', scenario(), openOptions('opn00001', 3));
      expect(session.namespace).toBe('canary-mttr-opn00001-manual-3');
      const ns = (await getNamespace(session.namespace))!;
      expect(ns.metadata.labels?.[EXPERIMENT_LABEL]).toBe('opn00001');
      expect(ns.metadata.annotations?.[EXPERIMENT_NAME_ANNOTATION]).toBe('ns-test');
      const lease = (await getLease(session.namespace))!;
      expect(lease.spec?.holderIdentity).toBe(formatHolder(thisHarness()!));
      expect(lease.spec?.leaseDurationSeconds).toBe(60);

      // A second plan entry of the same arm and slot shares the namespace; it goes with the last.
      const second = await p.open('manual', scenario(), openOptions('opn00001', 3));
      expect(second.namespace).toBe(session.namespace);
      await session[Symbol.asyncDispose]();
      expect(await standing(session.namespace)).toBe(true);
      await second[Symbol.asyncDispose]();
      expect(await standing(session.namespace)).toBe(false);
      await p[Symbol.asyncDispose]();
    });

    it('a live Lease of another harness keeps its namespace from a second run of the same experiment', async () => {
      const name = 'canary-mttr-liv00001-flagger-1';
      await createNamespace(name, { [EXPERIMENT_LABEL]: 'liv00001' });
      await createLease(name, 'elsewhere/bbbbbbbbbbbb/77/88', Date.now());
      const p = platform();
      await expect(p.open('flagger', scenario(), openOptions('liv00001', 1))).rejects.toThrow(
        /^kube: namespace canary-mttr-liv00001-flagger-1 is in use by another run of experiment liv00001 \(harness pid 77 on elsewhere renewed its lease \d+ s ago\); stop that run, or wait 60 s after it ended$/,
      );
      await p[Symbol.asyncDispose]();
      // Taken back once that lease has expired: same namespace (same uid), this harness's lease.
      const uid = (await getNamespace(name))!.metadata.uid;
      await kubeRequest(suite.cluster.kubeConfig, {
        method: 'PATCH',
        path: resourcePath('coordination.k8s.io/v1', 'leases', name, LEASE_NAME),
        body: { spec: { renewTime: microTime(Date.now() - 61_000) } },
      });
      const q = platform();
      const session = await q.open('flagger', scenario(), openOptions('liv00001', 1));
      expect((await getNamespace(name))!.metadata.uid).toBe(uid);
      expect((await getLease(name))!.spec?.holderIdentity).toBe(formatHolder(thisHarness()!));
      await session[Symbol.asyncDispose]();
      expect(await standing(name)).toBe(false);
      await q[Symbol.asyncDispose]();
    });

    it('a namespace of that name without the label is refused (UsageError) and left exactly as it was', async () => {
      const name = 'canary-mttr-unl00001-manual-1';
      const before = await createNamespace(name, { team: 'payments' });
      const p = platform();
      const err = await p.open('manual', scenario(), openOptions('unl00001', 1)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toBe(
        "kube: namespace canary-mttr-unl00001-manual-1 already exists without the label canary-mttr/experiment, so it is not this experiment's (id unl00001) and is left alone; delete or rename it, or start a new experiment",
      );
      // Labelled with another experiment's id: refused the same way.
      await createNamespace('canary-mttr-unl00001-manual-2', { [EXPERIMENT_LABEL]: 'someone' });
      await expect(p.open('manual', scenario(), openOptions('unl00001', 2))).rejects.toThrow(
        /already exists labelled canary-mttr\/experiment=someone, so it is not this experiment's/,
      );
      await p[Symbol.asyncDispose]();
      const after = (await getNamespace(name))!;
      expect(after.metadata.deletionTimestamp).toBeUndefined();
      expect(after.metadata.labels).toEqual(before.metadata.labels);
      expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      expect(await getLease(name)).toBeUndefined();
      expect(await standing('canary-mttr-unl00001-manual-2')).toBe(true);
    });

    it('the harness renews its Lease while it holds the namespace', async () => {
      const claimed = await ClaimedNamespace.claim(suite.cluster.kubeConfig, {
        namespace: 'canary-mttr-ren00001-manual-1',
        experimentId: 'ren00001',
        experimentName: 'ns-test',
        holder: thisHarness(),
        renewEveryMs: 300,
      });
      try {
        const first = Date.parse((await getLease(claimed.name))!.spec!.renewTime!);
        const later = await pollUntil(
          async () => {
            const t = Date.parse((await getLease(claimed.name))!.spec!.renewTime!);
            return t > first ? t : undefined;
          },
          { everyMs: 100, timeoutMs: 30_000 },
        );
        expect(later).toBeGreaterThan(first);
      } finally {
        await claimed.release();
      }
      await claimed.release();
      expect(await standing(claimed.name)).toBe(false);
    });

    it('npm run cleanup lists, deletes only with --yes, by --experiment-id, never a live or unlabelled namespace', async () => {
      const key = pidNamespaceKey()!;
      // A harness on this machine that has exited: its pid is free.
      const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
      const deadPid = Number(gone.stdout.trim());
      const ns = {
        deadHere: 'canary-mttr-cln00001-flagger-1',
        liveHere: 'canary-mttr-cln00002-manual-1',
        liveFar: 'canary-mttr-cln00003-manual-2',
        deadFar: 'canary-mttr-cln00004-flagger-2',
        unlabelled: 'canary-mttr-cln00005-manual-1',
      };
      await createNamespace(ns.deadHere, { [EXPERIMENT_LABEL]: 'cln00001' });
      await createLease(ns.deadHere, `box/${key}/${deadPid}/1`, Date.now());
      const live = await ClaimedNamespace.claim(suite.cluster.kubeConfig, {
        namespace: ns.liveHere,
        experimentId: 'cln00002',
        experimentName: 'colleague',
        holder: thisHarness(),
      });
      await createNamespace(ns.liveFar, { [EXPERIMENT_LABEL]: 'cln00003' });
      await createLease(ns.liveFar, 'far/bbbbbbbbbbbb/10/20', Date.now());
      await createNamespace(ns.deadFar, { [EXPERIMENT_LABEL]: 'cln00004' });
      await createLease(ns.deadFar, 'far/bbbbbbbbbbbb/11/21', Date.now() - 600_000);
      await createNamespace(ns.unlabelled, { team: 'payments' });
      await createLease(ns.unlabelled, `box/${key}/${deadPid}/1`, Date.now() - 600_000);

      const env = { CANARY_MTTR_STATE_DIR: path.join(suite.dir, 'cleanup-state') };
      const cleanup = (...args: string[]) =>
        runCli(['cleanup', '--kubeconfig', suite.cluster.kubeconfigPath, ...args], { env, timeoutMs: 60_000 });
      const ours = Object.values(ns).filter((n) => n !== ns.unlabelled);
      const before = await Promise.all(Object.values(ns).map(standing));
      try {
        const dry = await cleanup();
        expect(dry.stderr).toBe('');
        expect(dry.code).toBe(0);
        const lines = dry.stdout.split('\n');
        expect(lines[1]).toBe(
          `Cluster "${suite.cluster.kubeConfig.getCurrentContext()}": 2 namespace(s) that no live run holds`,
        );
        expect(lines).toContain(
          `  ${ns.deadHere}: experiment cln00001; harness pid ${deadPid} on this machine is gone`,
        );
        expect(lines).toContain(
          `  ${ns.deadFar}: experiment cln00004; the lease of harness pid 11 on far expired 9 min ago`,
        );
        expect(lines).toContain(
          `  ${ns.liveHere}: experiment cln00002 (colleague); harness pid ${process.pid} on this machine is running`,
        );
        expect(lines).toContain(`Nothing deleted: run again with --yes to delete the 2 namespace(s) listed.`);
        expect(dry.stdout).not.toContain(ns.unlabelled);
        // Without --yes nothing changed.
        expect(await Promise.all(Object.values(ns).map(standing))).toEqual(before);
        expect(before.every(Boolean)).toBe(true);

        const one = await cleanup('--experiment-id', 'cln00001', '--yes');
        expect(one.code, one.stderr).toBe(0);
        expect(one.stdout).toContain('Deleted 1 namespace(s).');
        expect(await standing(ns.deadHere)).toBe(false);
        expect(await standing(ns.deadFar)).toBe(true);

        // A live run named by id is listed as held and kept.
        const held = await cleanup('--experiment-id', 'cln00003', '--yes');
        expect(held.stdout).toContain('0 namespace(s) of experiment cln00003 that no live run holds');
        expect(held.stdout).toContain('Kept 1 namespace(s) of experiment cln00003 that a live run holds:');
        expect(await standing(ns.liveFar)).toBe(true);

        const all = await cleanup('--yes');
        expect(all.code, all.stderr).toBe(0);
        expect(all.stdout).toContain('Deleted 1 namespace(s).');
        expect(await standing(ns.deadFar)).toBe(false);
        expect(await standing(ns.liveHere)).toBe(true);
        expect(await standing(ns.liveFar)).toBe(true);
        expect(await standing(ns.unlabelled)).toBe(true);
        expect(ours).toHaveLength(4);
      } finally {
        await live.release();
      }
    });

    const plan = (name: string) =>
      writePlan(path.join(suite.dir, `${name}.yaml`), { name, timeScale: 1, repetitions: 1 }, [
        '  - { scenario: faulty-500, arms: [manual], overrides: { warmup: { durationS: 5 } } }',
      ]);
    const kubeArgs = () => ['--platform', 'kube', '--kubeconfig', suite.cluster.kubeconfigPath, '--load', 'builtin'];
    const cliEnv = () => ({
      CANARY_MTTR_CLUSTER_DIR: suite.stateDir,
      CANARY_MTTR_STATE_DIR: path.join(suite.dir, 'cli-state'),
    });
    /** Starts an experiment of one manual run and resolves once its namespace stands. */
    const startUntilNamespace = async (name: string) => {
      const out = path.join(suite.dir, `${name}-out`);
      const cli = startCli(['experiment', ...kubeArgs(), '--experiment', plan(name), '--out', out], { env: cliEnv() });
      cli.child.stdin!.end();
      const journal = path.join(out, 'journal.jsonl');
      expect(await pollUntil(() => existsSync(journal), { everyMs: 50, timeoutMs: 60_000 })).toBe(true);
      const id = journalHeader(out).id!;
      const namespace = `canary-mttr-${id}-manual-1`;
      expect(await pollUntil(() => standing(namespace), { everyMs: 100, timeoutMs: 60_000 })).toBe(true);
      return { cli, out, id, namespace };
    };

    it('Ctrl-C deletes the namespace; --resume then refuses an unlabelled namespace that took its name (one line, exit 2)', async () => {
      const { cli, out, id, namespace } = await startUntilNamespace('ns-resume');
      cli.child.kill('SIGINT');
      expect((await cli.done).code).toBe(130);
      // Deleted before the harness exited (terminating, or gone already).
      expect(await standing(namespace)).toBe(false);
      expect(
        await pollUntil(async () => (await getNamespace(namespace)) === undefined, {
          everyMs: 250,
          timeoutMs: 120_000,
        }),
      ).toBe(true);
      await createNamespace(namespace, { team: 'payments' });
      const resumed = await runCli(['experiment', ...kubeArgs(), '--resume', out], {
        env: cliEnv(),
        timeoutMs: 120_000,
      });
      expect(resumed.code).toBe(2);
      expect(resumed.stderr).toBe(
        `kube: namespace ${namespace} already exists without the label canary-mttr/experiment, so it is not this experiment's (id ${id}) and is left alone; delete or rename it, or start a new experiment\n`,
      );
      const after = (await getNamespace(namespace))!;
      expect(after.metadata.labels).toEqual({ team: 'payments', 'kubernetes.io/metadata.name': namespace });
      expect(after.metadata.deletionTimestamp).toBeUndefined();
    }, 300_000);

    it('after a kill -9 the namespace stays; cleanup sees its harness gone at once and deletes it with --yes', async () => {
      const { cli, id, namespace } = await startUntilNamespace('ns-crash');
      const harnessPid = cli.child.pid!;
      cli.child.kill('SIGKILL');
      await cli.done;
      expect(await standing(namespace)).toBe(true);
      const cleanup = (...args: string[]) =>
        runCli(['cleanup', '--kubeconfig', suite.cluster.kubeconfigPath, '--experiment-id', id, ...args], {
          env: cliEnv(),
          timeoutMs: 60_000,
        });
      const dry = await cleanup();
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain(
        `  ${namespace}: experiment ${id} (ns-crash); harness pid ${harnessPid} on this machine is gone\n`,
      );
      expect(await standing(namespace)).toBe(true);
      const yes = await cleanup('--yes');
      expect(yes.stdout).toContain('Deleted 1 namespace(s).');
      expect(await standing(namespace)).toBe(false);
    }, 300_000);
  },
);
