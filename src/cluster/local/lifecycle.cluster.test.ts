/**
 * Nothing outlives the local cluster: `cluster:down`, Ctrl-C (SIGINT to `up` or to the
 * supervisor) and a failing or killed owner leave no etcd, kube-apiserver, controller-manager,
 * scheduler, kwok, Prometheus, Flagger or app process and no listening port of cluster.json.
 * Checked in /proc by label (CANARY_MTTR_EXPERIMENT), by state dir and by binary path.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../../kube/kube-rest.ts';
import { findProcesses, listeningPorts } from '../../process/procfs.ts';
import { readState, type ClusterState } from '../../kube/cluster-state.ts';
import { createNamespace, faultyAppDeployment, paths } from '../workload-manifests.ts';
import { stopLocalClusterFromState, statePorts } from './stop.ts';
import {
  eventually,
  IN_CLUSTER_TIER,
  leftovers,
  PROJECT_ROOT,
  requireTools,
  runClusterCliToEnd,
  startClusterCli,
} from './cluster-test-support.ts';

// 'flagger' is the bridge that runs Flagger in its network namespace; 'flagger-process' is Flagger
// (and the same for 'flagger-loadtester').
const netnsOf = (pid: number): string | undefined => {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
};

const COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
  'prometheus',
  'flagger',
  'flagger-process',
  'flagger-loadtester',
  'flagger-loadtester-process',
];

describe.skipIf(!IN_CLUSTER_TIER)('local cluster lifecycle: nothing left behind (run by npm run test:cluster)', () => {
  const dirs: string[] = [];
  const newStateDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-life-'));
    dirs.push(dir);
    return dir;
  };

  afterEach(async () => {
    // Whatever a failed assertion left running goes now; then the dirs.
    for (const dir of dirs.splice(0)) {
      await stopLocalClusterFromState(dir).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** The cluster is really up: every component and one app process run, their ports listen. */
  async function expectRunning(state: ClusterState): Promise<void> {
    expect(state.status).toBe('ready');
    expect(state.processes.map((p) => p.component).sort()).toEqual([...COMPONENTS].sort());
    const listening = listeningPorts();
    // The ports of Flagger and the loadtester listen inside their network namespaces, where this list cannot see.
    for (const [component, port] of Object.entries(state.ports))
      expect(listening.has(port), `${component} port ${port}`).toBe(
        component !== 'flagger' && component !== 'flaggerLoadtester',
      );
    // One app process, so the sweep is shown to cover the mesh emulator's children too.
    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    await createNamespace(kc, 'life');
    await kubeRequest(kc, {
      method: 'POST',
      path: paths.deployment('life'),
      body: faultyAppDeployment('life', 'app', { version: 'v1', fault: 'none', errorRate: 0, latencyMs: 0, onsetS: 0 }),
    });
    await eventually(
      'an app process',
      () =>
        findProcesses(({ cmdline }) => cmdline.some((a) => a === path.join(state.stateDir, 'faulty-app.mjs'))).length >
        0,
      30_000,
    );
  }

  async function expectNothingLeft(stateDir: string, name: string, timeoutMs = 20_000): Promise<void> {
    const tools = requireTools();
    // Bounded: SIGKILLed children are reaped by init a moment later.
    const deadline = Date.now() + timeoutMs;
    let left = leftovers(stateDir, name, tools);
    while ((left.processes.length > 0 || left.ports.length > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = leftovers(stateDir, name, tools);
    }
    expect(left).toEqual({ processes: [], ports: [] });
  }

  async function upDetached(stateDir: string): Promise<ClusterState> {
    const up = await runClusterCliToEnd(['up', '--provider', 'local', '--state-dir', stateDir], 180_000);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`export KUBECONFIG=${path.join(stateDir, 'kubeconfig')}`);
    expect(up.stdout).toContain(`npm run cluster:down -- --provider local --state-dir ${stateDir}`);
    return readState(stateDir)!;
  }

  it('cluster:down stops the detached cluster: no process, no port', async () => {
    requireTools();
    const stateDir = newStateDir();
    const state = await upDetached(stateDir);
    await expectRunning(state);
    const down = await runClusterCliToEnd(['down', '--provider', 'local', '--state-dir', stateDir], 90_000);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(
      /^Stopping the supervisor of cluster-\w+ \(pid \d+\)…\nStopped local cluster cluster-\w+ \(\d+ processes\); no process and no port of .*cluster\.json left\.\n$/,
    );
    await expectNothingLeft(stateDir, state.name, 5_000);
    expect(readState(stateDir)!.status).toBe('stopped');
  });

  it('SIGINT to the supervisor stops everything', async () => {
    requireTools();
    const stateDir = newStateDir();
    const state = await upDetached(stateDir);
    await expectRunning(state);
    process.kill(state.ownerPid, 'SIGINT');
    await eventually(
      'the supervisor to exit',
      () => findProcesses(({ pid }) => pid === state.ownerPid).length === 0,
      30_000,
    );
    await expectNothingLeft(stateDir, state.name);
    expect(readState(stateDir)!.status).toBe('stopped');
  });

  it('Ctrl-C in `up --foreground` stops everything, exit code 130', async () => {
    requireTools();
    const stateDir = newStateDir();
    const up = startClusterCli(['up', '--provider', 'local', '--state-dir', stateDir, '--foreground']);
    await eventually(
      'the foreground cluster to be ready',
      () => up.stdout().includes('Ctrl-C stops it.') || up.child.exitCode !== null,
      150_000,
    );
    const state = readState(stateDir)!;
    await expectRunning(state);
    up.child.kill('SIGINT');
    const { code } = await up.done;
    expect(code).toBe(130);
    expect(up.stderr()).toBe('SIGINT: stopping the cluster (again to exit at once; children die with this process)\n');
    await expectNothingLeft(stateDir, state.name, 5_000);
  });

  it('Ctrl-C while `up` is still starting the cluster stops the half-started cluster, exit code 130', async () => {
    requireTools();
    const stateDir = newStateDir();
    const up = startClusterCli(['up', '--provider', 'local', '--state-dir', stateDir]);
    await eventually(
      'kube-apiserver to be ready',
      () => up.stdout().includes('kube-apiserver ready') || up.child.exitCode !== null,
      120_000,
    );
    const name = readState(stateDir)!.name;
    up.child.kill('SIGINT');
    const { code } = await up.done;
    expect(code).toBe(130);
    await expectNothingLeft(stateDir, name);
  });

  it('a failing test (an error out of `await using`) and a SIGKILLed owner leave nothing behind', async () => {
    requireTools();
    const fixture = path.join(PROJECT_ROOT, 'src/cluster/local/embedded-owner.fixture.ts');
    const bridgedNetns: string[] = [];
    for (const mode of ['throw', 'wait'] as const) {
      const stateDir = newStateDir();
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, stateDir, mode], {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      await eventually(
        `the ${mode} owner to be ready`,
        () => out.includes('ready ') || child.exitCode !== null,
        150_000,
      );
      const readyLine = /^ready (.*)$/m.exec(out);
      expect(readyLine, `the ${mode} owner printed no ready line; its stderr: ${err}`).not.toBeNull();
      const ready = JSON.parse(readyLine![1]!) as { name: string; components: string[] };
      // The state file as the owner saw it when ready: the throw owner is stopping its cluster by now.
      expect([...ready.components].sort()).toEqual([...COMPONENTS].sort());
      const state = readState(stateDir)!;
      if (mode === 'wait') {
        // No cleanup code runs on SIGKILL: the children go because of PR_SET_PDEATHSIG.
        expect(listeningPorts().has(state.ports.apiServer!)).toBe(true);
        for (const component of ['flagger-process', 'flagger-loadtester-process']) {
          const pid = state.processes.find((p) => p.component === component)!.pid;
          bridgedNetns.push(readlinkSync(`/proc/${pid}/ns/net`));
        }
        expect(new Set(bridgedNetns).size, 'Flagger and the loadtester each in a namespace of its own').toBe(2);
        child.kill('SIGKILL');
        expect(await exited).toEqual({ code: null, signal: 'SIGKILL' });
      } else {
        expect(await exited).toEqual({ code: 1, signal: null });
        expect(err).toBe('a failing test\n');
      }
      await expectNothingLeft(stateDir, state.name);
      expect(statePorts(readState(stateDir)).filter((p) => listeningPorts().has(p))).toEqual([]);
      // The namespaces of Flagger and the loadtester had no name: with their last process gone, the kernel freed them.
      for (const netns of bridgedNetns) expect(findProcesses(({ pid }) => netnsOf(pid) === netns)).toEqual([]);
    }
  });
});
