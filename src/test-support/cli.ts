import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubeExperimentArgs, type SuiteCluster } from '../cluster/local/cluster-test-support.ts';
import { environOf, processesWithLabel } from '../process/procfs.ts';
import { pollUntil } from '../common/poll.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(PROJECT_ROOT, 'src/cli/main.ts');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * A file-size limit (`ulimit -f`, KiB) for the CLI: a write past it fails with EFBIG, as on a
   * full disk. SIGXFSZ is ignored so the write returns the error instead of killing the process,
   * and tsx's cache is off so only the harness's own writes meet the limit.
   */
  fileSizeLimitKiB?: number;
}

/** The CLI as a user runs it: a real process, `node --import tsx src/cli/main.ts ...`. */
export function startCli(
  args: string[],
  options: CliOptions = {},
): { child: ChildProcess; done: Promise<CliResult>; stdout: () => string } {
  const node = [process.execPath, '--import', 'tsx', MAIN, ...args];
  const limit = options.fileSizeLimitKiB;
  const limited = ['bash', '-c', `trap '' XFSZ; ulimit -f ${Math.floor(limit ?? 0)}; exec "$0" "$@"`, ...node];
  const [command, ...argv] = limit === undefined ? node : limited;
  const child = spawn(command!, argv, {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: { ...process.env, ...(limit === undefined ? {} : { TSX_DISABLE_CACHE: '1' }), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<CliResult>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done, stdout: () => stdout };
}

export async function runCli(args: string[], options: CliOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const { child, done } = startCli(args, options);
  child.stdin!.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `npm run experiment -- --platform kube` on a cluster suite's local control plane, with the
 * built-in load generator (kubeExperimentArgs), as a user runs it.
 */
export function runOnCluster(
  suite: SuiteCluster,
  plan: string,
  out: string,
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<CliResult> {
  return runCli(kubeExperimentArgs(suite.cluster, plan, out), {
    timeoutMs: options.timeoutMs,
    env: { CANARY_MTTR_CLUSTER_DIR: suite.stateDir, ...options.env },
  });
}

/** Pids of live processes whose environment carries CANARY_MTTR_EXPERIMENT=<name>. */
export function processesLabelled(experiment: string): number[] {
  return processesWithLabel(experiment);
}

/** The runner slots (CANARY_MTTR_SLOT) the live app processes of an experiment serve. */
export function slotsInUse(experiment: string): Set<string> {
  const slots = processesLabelled(experiment).map(
    (pid) => environOf(pid)?.find((v) => v.startsWith('CANARY_MTTR_SLOT=')) ?? '',
  );
  return new Set(slots.filter((s) => s !== '').map((s) => s.slice('CANARY_MTTR_SLOT='.length)));
}

export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (await pollUntil(check, { everyMs: 50, timeoutMs })) return;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
