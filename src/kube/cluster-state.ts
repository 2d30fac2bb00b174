import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { PlatformError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/files.ts';

export const STATE_FILE = 'cluster.json';

export const ClusterStatuses = ['starting', 'ready', 'stopping', 'stopped', 'failed'] as const;
export type ClusterStatus = (typeof ClusterStatuses)[number];

/** One process of the cluster, as `cluster:down` needs it to find and check it later. */
export interface RecordedProcess {
  component: string;
  pid: number;
  /** The executable it runs; `down` signals a pid only if its command line still names it. */
  binary: string;
}

/** A router of the mesh emulator: the apex host of one VirtualService. */
export interface RecordedRouter {
  namespace: string;
  /** VirtualService (apex service) name. */
  apex: string;
  /** Where clients send requests for the apex host, e.g. http://127.0.0.1:41234 */
  url: string;
}

/**
 * `<stateDir>/cluster.json`: written by the process that owns the cluster at every step, so a
 * `cluster:down` from another shell can stop everything even after a crash half-way through.
 */
export interface ClusterState {
  version: 1;
  provider: 'local';
  /** Also the process label: every process carries CANARY_MTTR_EXPERIMENT=<name>. */
  name: string;
  stateDir: string;
  status: ClusterStatus;
  error?: string;
  /** The process that owns the cluster (the detached supervisor, or a test / fidelity run). */
  ownerPid: number;
  /**
   * 'supervisor': the detached process of `cluster:up`, which `cluster:down` asks to stop (SIGTERM);
   * 'embedded': a test or fidelity run, whose owner `cluster:down` leaves alone (only the cluster's
   * own processes are stopped).
   */
  ownerKind: 'supervisor' | 'embedded';
  startedAt: string;
  /** Wall milliseconds from start to ready. */
  startupMs?: number;
  /** Resident memory of the cluster's processes when it became ready, bytes. */
  memoryBytes?: number;
  kubeconfig: string;
  apiServerUrl?: string;
  prometheusUrl?: string;
  meshMetricsUrl?: string;
  /** Every port the cluster listens on, by component. */
  ports: Record<string, number>;
  processes: RecordedProcess[];
  routers: RecordedRouter[];
  /**
   * Namespace of the Service flagger-loadtester, the smoke-test webhook's runner (the charts'
   * smokeTest.loadtesterNamespace); absent while it is not running.
   */
  loadtesterNamespace?: string;
}

/**
 * Where the project's clusters run flagger-loadtester, the smoke test's runner: `npm run cluster:up`
 * installs it in this namespace on kind, and the local control plane serves its Service there.
 */
export const LOADTESTER_NAMESPACE = 'canary-mttr';

/** `~/.cache/canary-mttr/clusters/local`, or CANARY_MTTR_CLUSTER_DIR. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(
    env.CANARY_MTTR_CLUSTER_DIR ?? path.join(env.HOME ?? homedir(), '.cache/canary-mttr/clusters/local'),
  );
}

/**
 * The label of a cluster's processes, derived from its state dir so that `down` can find them even
 * when the state file is lost, and two clusters in two dirs never claim each other's processes.
 */
export function clusterNameFor(stateDir: string): string {
  return `cluster-${createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 10)}`;
}

export function statePath(stateDir: string): string {
  return path.join(stateDir, STATE_FILE);
}

export function readState(stateDir: string): ClusterState | undefined {
  const file = statePath(stateDir);
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
    if (parsed.version !== 1 || parsed.provider !== 'local') {
      throw new PlatformError(
        `${file}: not a local cluster state file (version ${String(parsed.version)}, provider ${String(parsed.provider)})`,
      );
    }
    return parsed;
  } catch (err) {
    if (err instanceof PlatformError) throw err;
    throw new PlatformError(
      `${file}: cannot read the cluster state (${(err as Error).message}); delete the file once no cluster process is left`,
    );
  }
}

/** Atomic replace, so a reader in another process never sees half a file. */
export function writeState(state: ClusterState): void {
  mkdirSync(state.stateDir, { recursive: true });
  const file = statePath(state.stateDir);
  writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
}
