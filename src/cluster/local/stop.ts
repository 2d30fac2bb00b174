import { rmSync } from 'node:fs';
import path from 'node:path';
import { pollUntil } from '../../common/poll.ts';
import { silentLogger, type Logger } from '../../common/logger.ts';
import { isHarnessAlive, readPidFiles } from '../../process/pid-file.ts';
import {
  cmdlineOf,
  isAlive,
  isSameProcess,
  listeningPorts,
  signal,
  startTicksOf,
  type ProcessIdentity,
} from '../../process/procfs.ts';
import { clusterNameFor, readState, writeState, type ClusterState } from '../../kube/cluster-state.ts';
import { clusterPaths } from './components.ts';

export interface StopReport {
  name: string;
  /** Processes that were running and were stopped. */
  stopped: number;
  /** Processes still alive after SIGKILL (should be none). */
  survivors: number[];
  /** Ports of the state file still listening (should be none). */
  busyPorts: number[];
  hadState: boolean;
}

/** Every port the state file names: components and the routers of the mesh emulator. */
export function statePorts(state: ClusterState | undefined): number[] {
  if (!state) return [];
  const ports = Object.values(state.ports);
  for (const router of state.routers) {
    const port = Number(new URL(router.url).port);
    if (port > 0) ports.push(port);
  }
  return ports;
}

/** Where the owner of a local cluster records its child processes (ProcessRegistry's pid file). */
export function clusterProcessesDir(stateDir: string): string {
  return path.join(path.resolve(stateDir), 'processes');
}

/**
 * The cluster's processes alive now: the children its owners recorded that are still the same
 * processes, by start time and executable. Nothing else, however its command line reads: a
 * user's `tail -f <state>/logs/…` or `kubectl … -w` is not ours, nor is a process that got a
 * recorded pid later.
 */
export function clusterProcesses(stateDir: string): ProcessIdentity[] {
  const out = new Map<number, ProcessIdentity>();
  for (const { record } of readPidFiles(clusterProcessesDir(stateDir))) {
    for (const c of record.children) {
      if (c.startTicks === undefined || c.exe === undefined || c.pid === process.pid) continue;
      const identity = { pid: c.pid, startTicks: c.startTicks, exe: c.exe };
      if (isSameProcess(identity)) out.set(c.pid, identity);
    }
  }
  return [...out.values()];
}

/** Signals each process that is still the one recorded. */
function signalAll(processes: ProcessIdentity[], sig: NodeJS.Signals): void {
  for (const p of processes) if (isSameProcess(p)) signal(p.pid, sig);
}

async function waitGone(processes: ProcessIdentity[], timeoutMs: number): Promise<ProcessIdentity[]> {
  let alive = processes.filter(isSameProcess);
  const gone = () => {
    alive = alive.filter(isSameProcess);
    return alive.length === 0;
  };
  await pollUntil(gone, { everyMs: 100, timeoutMs });
  return alive;
}

/**
 * The supervisor of `state`, if it still runs: the recorded owner pid, with the start time its
 * pid file recorded, running `supervise` on this state dir.
 */
function liveSupervisor(
  state: ClusterState | undefined,
  stateDir: string,
): { pid: number; startTicks: number } | undefined {
  if (state?.ownerKind !== 'supervisor' || state.ownerPid === process.pid || !isAlive(state.ownerPid)) return undefined;
  const cmdline = cmdlineOf(state.ownerPid) ?? [];
  if (
    !cmdline.includes('supervise') ||
    !cmdline.some((a) => a === stateDir || a.startsWith(`${stateDir}/`) || a === `--state-dir=${stateDir}`)
  )
    return undefined;
  const records = readPidFiles(clusterProcessesDir(stateDir)).filter(
    ({ record }) => record.harnessPid === state.ownerPid,
  );
  const startTicks = startTicksOf(state.ownerPid);
  // A pid file of this owner says when it started; a supervisor that has not written one yet is
  // identified by its command line alone.
  if (
    startTicks === undefined ||
    records.some(({ record }) => record.harnessStartTicks !== undefined && record.harnessStartTicks !== startTicks)
  )
    return undefined;
  return { pid: state.ownerPid, startTicks };
}

/**
 * `cluster:down` for the local provider, from any process: asks the supervisor to stop (SIGTERM,
 * it stops the components in order), then terminates whatever is left of the processes its owners
 * recorded, each only while its start time and executable match the record (a pid may have been
 * reused), and finally reports any port of the state file still listening.
 */
export async function stopLocalClusterFromState(
  stateDirInput: string,
  options: { logger?: Logger; graceMs?: number } = {},
): Promise<StopReport> {
  const logger = options.logger ?? silentLogger;
  const stateDir = path.resolve(stateDirInput);
  const state = readState(stateDir);
  const name = state?.name ?? clusterNameFor(stateDir);
  const before = clusterProcesses(stateDir);

  const supervisor = liveSupervisor(state, stateDir);
  if (supervisor) {
    logger.info(`Stopping the supervisor of ${name} (pid ${supervisor.pid})…`);
    signal(supervisor.pid, 'SIGTERM');
    const graceMs = options.graceMs ?? 30_000;
    const gone = () => !isAlive(supervisor.pid) || startTicksOf(supervisor.pid) !== supervisor.startTicks;
    await pollUntil(gone, { everyMs: 100, timeoutMs: graceMs });
    if (isAlive(supervisor.pid))
      logger.warn(
        `the supervisor (pid ${supervisor.pid}) did not stop within ${graceMs / 1000} s; killing what is left`,
      );
  }

  let remaining = clusterProcesses(stateDir);
  if (remaining.length > 0) {
    signalAll(remaining, 'SIGTERM');
    remaining = await waitGone(remaining, 5_000);
    signalAll(remaining, 'SIGKILL');
    remaining = await waitGone(remaining, 3_000);
  }
  // Something may have been started while we looked (an app restarting): one more sweep.
  const late = clusterProcesses(stateDir);
  signalAll(late, 'SIGKILL');
  const survivors = [...new Set([...remaining, ...(await waitGone(late, 3_000))].map((p) => p.pid))];
  // The pid files of owners that are gone have nothing left to say.
  for (const { file, record } of readPidFiles(clusterProcessesDir(stateDir)))
    if (!isHarnessAlive(record)) rmSync(file, { force: true });

  const listening = listeningPorts();
  const busyPorts = statePorts(state).filter((port) => listening.has(port));
  if (state) {
    const p = clusterPaths(stateDir);
    for (const dir of [p.etcdData, p.prometheusData]) rmSync(dir, { recursive: true, force: true });
    if (state.status !== 'stopped' || state.routers.length > 0)
      writeState({ ...state, status: 'stopped', routers: [], loadtesterNamespace: undefined });
  }
  return { name, stopped: before.length, survivors, busyPorts, hadState: state !== undefined };
}
