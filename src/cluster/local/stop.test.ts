import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PidFile } from '../../process/pid-file.ts';
import { ProcessRegistry } from '../../process/registry.ts';
import { executableOf, isAlive, startTicksOf } from '../../process/procfs.ts';
import { clusterNameFor, writeState } from '../../kube/cluster-state.ts';
import { clusterPaths } from './components.ts';
import { clusterProcessesDir, stopLocalClusterFromState } from './stop.ts';

// cluster:down against a state folder with one recorded real child (no control plane needed:
// what is under test is which processes it signals).
const stateDir = mkdtempSync(path.join(tmpdir(), 'stop-test-'));
const foreign: ChildProcess[] = [];
afterAll(() => {
  for (const child of foreign) child.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

function startForeign(command: string, args: string[]): number {
  const child = spawn(command, args, { stdio: 'ignore' });
  foreign.push(child);
  return child.pid!;
}

describe('cluster:down (local)', () => {
  it("stops the recorded processes and leaves a user's tail -f of the cluster's log running", async () => {
    const name = clusterNameFor(stateDir);
    const logs = clusterPaths(stateDir).logs;
    mkdirSync(logs, { recursive: true });
    const log = path.join(logs, 'etcd.log');
    writeFileSync(log, '');
    writeState({
      version: 1,
      provider: 'local',
      name,
      stateDir,
      status: 'ready',
      ownerPid: process.pid,
      ownerKind: 'embedded',
      startedAt: new Date().toISOString(),
      kubeconfig: path.join(stateDir, 'kubeconfig'),
      ports: {},
      processes: [],
      routers: [],
    });
    // The cluster's process, recorded as the owner records it. It runs the very command line of
    // the user's process below: only the record tells them apart.
    await using registry = new ProcessRegistry({ experiment: name }, new PidFile(name, clusterProcessesDir(stateDir)));
    const component = registry.spawn('tail', ['-f', log], { env: { PATH: process.env.PATH }, label: 'etcd' }).pid!;
    // Not ours: a user watching the log, and two processes a forged record claims with a pid
    // that is theirs but another start time or another executable (as a reused pid would be).
    const tail = startForeign('tail', ['-f', log]);
    const reusedA = startForeign('sleep', ['300']);
    const reusedB = startForeign('sleep', ['301']);
    writeFileSync(
      path.join(clusterProcessesDir(stateDir), 'harness-1-1.json'),
      JSON.stringify({
        harnessPid: 1,
        startedAt: new Date().toISOString(),
        experiment: name,
        children: [
          {
            pid: reusedA,
            label: 'kwok',
            command: 'sleep 300',
            startTicks: startTicksOf(reusedA)! - 1,
            exe: executableOf(reusedA),
          },
          {
            pid: reusedB,
            label: 'kwok',
            command: 'sleep 301',
            startTicks: startTicksOf(reusedB),
            exe: '/usr/local/bin/kwok',
          },
        ],
      }),
    );

    const report = await stopLocalClusterFromState(stateDir, { graceMs: 5_000 });
    expect(report).toMatchObject({ name, stopped: 1, survivors: [], hadState: true });
    expect(isAlive(component)).toBe(false);
    expect([tail, reusedA, reusedB].map(isAlive)).toEqual([true, true, true]);
  });
});
