import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { cmdlineOf, findProcesses, listeningPorts, processesWithLabel } from '../../process/procfs.ts';
import { readState } from '../../kube/cluster-state.ts';
import { resolveTools, type ToolPaths } from '../tools.ts';
import { startLocalCluster, type StartedLocalCluster } from './cluster.ts';
import { statePorts } from './stop.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLUSTER_CLI = path.join(PROJECT_ROOT, 'src/cluster/cli.ts');

/**
 * True under vitest.cluster.config.ts (`npm run test:cluster`). The default config also matches
 * `*.cluster.test.ts` until it excludes them; there the cluster suites are reported as skipped
 * by name ("run by npm run test:cluster") instead of starting control planes inside `npm test`.
 */
export const IN_CLUSTER_TIER = process.env.CANARY_MTTR_CLUSTER_TESTS === '1';

/** The tools, or a thrown PlatformError whose message says "run npm run tools:install first". */
export function requireTools(): ToolPaths {
  return resolveTools();
}

/** What useLocalCluster sets up: the cluster, its state folder and a scratch folder for the tests. */
export interface SuiteCluster {
  cluster: StartedLocalCluster;
  stateDir: string;
  dir: string;
}

/**
 * A local control plane for the tests of one describe block: started in beforeAll with a state
 * folder and a scratch folder of its own, stopped and both folders removed in afterAll. The
 * fields are set once beforeAll has run.
 */
export function useLocalCluster(name: string, options: { flagger?: boolean } = {}): SuiteCluster {
  const suite = {} as SuiteCluster;
  beforeAll(async () => {
    requireTools();
    suite.stateDir = mkdtempSync(path.join(tmpdir(), `canary-mttr-${name}-state-`));
    suite.dir = mkdtempSync(path.join(tmpdir(), `canary-mttr-${name}-`));
    suite.cluster = await startLocalCluster({ stateDir: suite.stateDir, timeoutMs: 150_000, flagger: options.flagger });
  }, 180_000);
  afterAll(async () => {
    await suite.cluster?.stop();
    for (const dir of [suite.stateDir, suite.dir]) if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);
  return suite;
}

/** `experiment --platform kube` on `cluster` with the built-in load generator, as the CLI's arguments. */
export function kubeExperimentArgs(
  cluster: StartedLocalCluster,
  plan: string,
  out: string,
  extra: readonly string[] = [],
): string[] {
  return [
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
    ...extra,
  ];
}

export function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export interface Leftovers {
  /** "pid: command line" of every process that still belongs to the cluster. */
  processes: string[];
  /** Ports named by the state file (components and routers) still listening. */
  ports: number[];
}

/**
 * What is left of the cluster of `stateDir`: processes carrying its label, processes whose
 * command line names its state dir, processes running one of the tool binaries with that dir, and
 * listening ports of its cluster.json.
 */
export function leftovers(stateDir: string, name: string, tools: ToolPaths): Leftovers {
  const dir = path.resolve(stateDir);
  const binaries = new Set([
    tools.etcd,
    tools.kubeApiserver,
    tools.kubeControllerManager,
    tools.kubeScheduler,
    tools.kwok,
    tools.flagger,
    tools.flaggerLoadtester,
    tools.prometheus,
  ]);
  const byBinary = findProcesses(
    ({ cmdline }) => binaries.has(cmdline[0] ?? '') && cmdline.some((a) => a.includes(dir)),
  );
  const byDir = findProcesses(({ cmdline }) => cmdline.some((a) => a.includes(`${dir}/`) || a === dir));
  const pids = [...new Set([...processesWithLabel(name), ...byBinary, ...byDir])].filter((pid) => pid !== process.pid);
  const processes = pids.map((pid) => `${pid}: ${(cmdlineOf(pid) ?? []).join(' ').slice(0, 200)}`);
  const listening = listeningPorts();
  const ports = statePorts(readState(dir)).filter((p) => listening.has(p));
  return { processes, ports };
}

/** Waits until `check` holds, polling every 100 ms, for at most `timeoutMs`. */
export async function eventually<T>(what: string, check: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface RunningCli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node --import tsx src/cluster/cli.ts …` (or another entry of the cluster tier) as a user runs it. */
export function startClusterCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  script: string = CLUSTER_CLI,
): RunningCli {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, done };
}

export async function runClusterCliToEnd(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startClusterCli(args);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  try {
    const { code } = await run.done;
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    clearTimeout(timer);
  }
}
