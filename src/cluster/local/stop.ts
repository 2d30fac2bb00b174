import { rmSync } from 'node:fs';
import path from 'node:path';
import { sleepWall } from '../../common/clock.ts';
import { silentLogger, type Logger } from '../../common/logger.ts';
import { cmdlineOf, isAlive, listeningPorts, processesMentioning, processesWithLabel, signal } from '../../process/procfs.ts';
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

/** Live processes that belong to the cluster of `stateDir`: by label, and by mention of the dir. */
export function clusterProcesses(stateDir: string, name: string): number[] {
  const dir = path.resolve(stateDir);
  return [...new Set([...processesWithLabel(name), ...processesMentioning(`${dir}/`)])].filter((pid) => pid !== process.pid);
}

async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && performance.now() < deadline) {
    await sleepWall(100);
    alive = alive.filter(isAlive);
  }
  return alive;
}

/**
 * `cluster:down` for the local provider, from any process: asks the supervisor to stop (SIGTERM,
 * it stops the components in order), then terminates whatever is left that carries the cluster's
 * label or names its state dir, checking each recorded pid's command line first (a pid may have
 * been reused), and finally reports any port of the state file still listening.
 */
export async function stopLocalClusterFromState(stateDirInput: string, options: { logger?: Logger; graceMs?: number } = {}): Promise<StopReport> {
  const logger = options.logger ?? silentLogger;
  const stateDir = path.resolve(stateDirInput);
  const state = readState(stateDir);
  const name = state?.name ?? clusterNameFor(stateDir);
  const before = clusterProcesses(stateDir, name);

  if (state?.ownerKind === 'supervisor' && state.ownerPid !== process.pid && isAlive(state.ownerPid)) {
    const cmdline = cmdlineOf(state.ownerPid) ?? [];
    if (cmdline.includes('supervise') && cmdline.some((a) => a === stateDir || a.startsWith(`${stateDir}/`) || a === `--state-dir=${stateDir}`)) {
      logger.info(`Stopping the supervisor of ${name} (pid ${state.ownerPid})…`);
      signal(state.ownerPid, 'SIGTERM');
      const left = await waitGone([state.ownerPid], options.graceMs ?? 30_000);
      if (left.length > 0) logger.warn(`the supervisor (pid ${state.ownerPid}) did not stop within ${(options.graceMs ?? 30_000) / 1000} s; killing what is left`);
    }
  }

  // Recorded component pids, only while their command line still runs the recorded binary.
  const recorded = (state?.processes ?? []).filter((p) => isAlive(p.pid) && (cmdlineOf(p.pid) ?? []).some((a) => a === p.binary)).map((p) => p.pid);
  let remaining = [...new Set([...recorded, ...clusterProcesses(stateDir, name)])];
  if (remaining.length > 0) {
    for (const pid of remaining) signal(pid, 'SIGTERM');
    remaining = await waitGone(remaining, 5_000);
    for (const pid of remaining) signal(pid, 'SIGKILL');
    remaining = await waitGone(remaining, 3_000);
  }
  // Something may have been started while we looked (an app restarting): one more sweep.
  const late = clusterProcesses(stateDir, name);
  for (const pid of late) signal(pid, 'SIGKILL');
  const survivors = [...new Set([...remaining, ...(await waitGone(late, 3_000))])];

  const listening = listeningPorts();
  const busyPorts = statePorts(state).filter((port) => listening.has(port));
  if (state) {
    const p = clusterPaths(stateDir);
    for (const dir of [p.etcdData, p.prometheusData]) rmSync(dir, { recursive: true, force: true });
    if (state.status !== 'stopped' || state.routers.length > 0) writeState({ ...state, status: 'stopped', routers: [] });
  }
  return { name, stopped: before.length, survivors, busyPorts, hadState: state !== undefined };
}
