/**
 * `npm run cluster:up` / `cluster:down`:
 *   node --import tsx src/cluster/cli.ts up   [--provider local|kind] [--state-dir DIR] [--timeout S] [--foreground]
 *   node --import tsx src/cluster/cli.ts down [--provider local|kind] [--state-dir DIR]
 *
 * Local provider: `up` starts a detached supervisor process (`cli.ts supervise`) that owns the
 * control plane, waits until it is ready, prints how to use it and exits; the cluster keeps
 * running until `down` (which SIGTERMs the supervisor and sweeps whatever is left) or until the
 * supervisor gets SIGINT/SIGTERM. `--foreground` runs the cluster in the `up` process instead,
 * until Ctrl-C. The kind provider is src/cluster/kind.ts; this file only dispatches to it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { sleepWall } from '../common/clock.ts';
import { PlatformError, UsageError } from '../common/errors.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { numberOption, parseOptions } from '../cli/args.ts';
import { exitCodeOf, Interrupted, runAsEntry } from '../cli/entry.ts';
import { runClusterCli } from './kind.ts';
import { startLocalCluster } from './local/cluster.ts';
import { STATE_DIR_NAMES } from './local/components.ts';
import { ensurePrivateDir, prepareStateDir } from './local/credentials.ts';
import { stopLocalClusterFromState } from './local/stop.ts';
import { isAlive } from '../process/procfs.ts';
import { clusterNameFor, defaultStateDir, readState, type ClusterState } from '../kube/cluster-state.ts';
import { resolveTools } from './tools.ts';

const CLI_FILE = fileURLToPath(import.meta.url);
const PROJECT_ROOT = path.resolve(path.dirname(CLI_FILE), '../..');

export const Providers = ['local', 'kind'] as const;
export type Provider = (typeof Providers)[number];

export const CLUSTER_CLI_HELP = `Usage: npm run cluster:up -- --provider local [--state-dir DIR] [--timeout S] [--foreground]
       npm run cluster:down -- --provider local [--state-dir DIR]

  --provider P    local: etcd, kube-apiserver, controller-manager, scheduler, kwok, Prometheus,
                  Flagger, flagger-loadtester and the mesh emulator as processes on 127.0.0.1 (no Docker; needs
                  npm run tools:install). kind: a kind cluster (src/cluster/kind.ts). Default kind.
  --state-dir DIR where the local cluster keeps its kubeconfig, cluster.json, data and logs
                  (default ~/.cache/canary-mttr/clusters/local, or $CANARY_MTTR_CLUSTER_DIR)
  --timeout S     give up starting after S seconds (default 180)
  --foreground    run the cluster in this process until Ctrl-C instead of a detached supervisor`;

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

interface ParsedArgs {
  command: string | undefined;
  provider: string;
  stateDir: string | undefined;
  timeoutS: number;
  foreground: boolean;
  help: boolean;
  /** The arguments after the command, without --provider: what the kind provider gets. */
  rest: string[];
}

/** Splits off --provider first: the local provider's options are checked strictly, kind's by kind.ts. */
function parse(argv: string[]): ParsedArgs {
  const [command, ...args] = argv;
  let provider = 'kind';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--provider') provider = args[++i] ?? '';
    else if (arg.startsWith('--provider=')) provider = arg.slice('--provider='.length);
    else rest.push(arg);
  }
  const base = {
    command,
    provider,
    rest,
    stateDir: undefined,
    timeoutS: 180,
    foreground: false,
    help: rest.includes('--help') || rest.includes('-h'),
  };
  if (provider !== 'local') return base;
  const { values } = parseOptions(
    rest,
    {
      'state-dir': { type: 'string' },
      timeout: { type: 'string' },
      foreground: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    false,
    '--provider local',
  );
  const timeoutS =
    numberOption('--timeout', values.timeout, (s) => s >= 10 && s <= 3_600, 'a number of seconds from 10 to 3600') ??
    180;
  return {
    ...base,
    stateDir: values['state-dir'],
    timeoutS,
    foreground: values.foreground === true,
    help: values.help === true,
  };
}

function gb(bytes: number | undefined): string {
  return bytes === undefined ? '?' : `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/** What `up` prints once the cluster is ready. */
export function readyText(state: ClusterState, detached: boolean): string {
  const dir = state.stateDir;
  return [
    `Local cluster ${state.name} is up (started in ${((state.startupMs ?? 0) / 1000).toFixed(1)} s; ${gb(state.memoryBytes)} resident).`,
    `  export KUBECONFIG=${state.kubeconfig}`,
    `  API server    ${state.apiServerUrl} (bearer token in the kubeconfig; RBAC, system:masters)`,
    `  Prometheus    ${state.prometheusUrl}`,
    `  Mesh metrics  ${state.meshMetricsUrl} (one router per VirtualService: "routers" in ${path.join(dir, 'cluster.json')})`,
    `  Flagger       -mesh-provider=istio, all namespaces; logs of every component in ${path.join(dir, 'logs')}/`,
    ...(state.loadtesterNamespace
      ? [
          `  Loadtester    flagger-loadtester.${state.loadtesterNamespace} (the smoke-test webhook; the charts' smokeTest.loadtesterNamespace)`,
        ]
      : []),
    detached
      ? `Running in the background (supervisor pid ${state.ownerPid}). Stop it with: npm run cluster:down -- --provider local --state-dir ${dir}`
      : 'Running in this terminal: Ctrl-C stops it.',
  ].join('\n');
}

/** New bytes of a file since `offset`, as complete lines. */
function readNewLines(file: string, offset: number): { lines: string[]; offset: number } {
  if (!existsSync(file)) return { lines: [], offset };
  const size = statSync(file).size;
  if (size <= offset) return { lines: [], offset };
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(size - offset);
    readSync(fd, buffer, 0, buffer.length, offset);
    const text = buffer.toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return { lines: [], offset };
    return { lines: text.slice(0, end).split('\n'), offset: offset + Buffer.byteLength(text.slice(0, end + 1)) };
  } finally {
    closeSync(fd);
  }
}

async function upDetached(stateDir: string, timeoutS: number, logger: Logger, io: CliIo): Promise<number> {
  const existing = readState(stateDir);
  if (existing && existing.status !== 'stopped' && existing.status !== 'failed' && isAlive(existing.ownerPid)) {
    throw new PlatformError(
      `local cluster ${existing.name} is already ${existing.status} in ${stateDir} (owner pid ${existing.ownerPid}); run npm run cluster:down -- --provider local --state-dir ${stateDir} first`,
    );
  }
  // Refuses a folder that is not the cluster's own before writing anything there.
  prepareStateDir(stateDir, STATE_DIR_NAMES);
  const logs = path.join(stateDir, 'logs');
  ensurePrivateDir(logs);
  const supervisorLog = path.join(logs, 'supervisor.log');
  const out = openSync(supervisorLog, 'w');
  // The one process meant to outlive this command: detached into its own session, so Ctrl-C in
  // this terminal after `up` has returned does not reach it; `down` stops it.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      CLI_FILE,
      'supervise',
      '--provider',
      'local',
      '--state-dir',
      stateDir,
      '--timeout',
      String(timeoutS),
    ],
    {
      cwd: PROJECT_ROOT,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...io.env, CANARY_MTTR_EXPERIMENT: clusterNameFor(stateDir) },
    },
  );
  closeSync(out);
  const pid = child.pid;
  child.unref();
  if (pid === undefined) throw new PlatformError('cluster:up: could not start the supervisor process');
  logger.info(
    `Starting local cluster ${clusterNameFor(stateDir)} in ${stateDir} (supervisor pid ${pid}, log ${supervisorLog})`,
  );
  let offset = 0;
  const deadline = performance.now() + (timeoutS + 30) * 1000;
  try {
    for (;;) {
      const next = readNewLines(supervisorLog, offset);
      offset = next.offset;
      for (const line of next.lines) if (line.startsWith('[cluster]')) logger.info(line);
      const state = readState(stateDir);
      if (state && state.ownerPid === pid && state.status === 'ready') {
        logger.info(readyText(state, true));
        return 0;
      }
      if (!isAlive(pid) || (state && state.ownerPid === pid && state.status === 'failed')) {
        throw new PlatformError(
          state && state.ownerPid === pid && state.error ? state.error : `the supervisor exited; see ${supervisorLog}`,
        );
      }
      if (performance.now() > deadline)
        throw new PlatformError(
          `cluster:up: the local cluster was not ready after ${timeoutS + 30} s; see ${supervisorLog}`,
        );
      await sleepWall(200, io.signal);
    }
  } catch (err) {
    // Failed, timed out or interrupted while starting: nothing may stay behind.
    // The sweep finds the supervisor by its label even before it has written cluster.json.
    if (io.signal.aborted) logger.warn('Stopping the half-started cluster…');
    const report = await stopLocalClusterFromState(stateDir);
    if (report.survivors.length > 0) logger.warn(`still running after cleanup: pids ${report.survivors.join(', ')}`);
    if (io.signal.aborted) throw new Interrupted();
    throw err;
  }
}

async function runInProcess(
  stateDir: string,
  timeoutS: number,
  ownerKind: 'supervisor' | 'embedded',
  logger: Logger,
  startSignal: AbortSignal,
  stop: AbortSignal,
  detached: boolean,
): Promise<number> {
  const cluster = await startLocalCluster({
    stateDir,
    ownerKind,
    logger,
    signal: startSignal,
    timeoutMs: timeoutS * 1000,
  });
  try {
    logger.info(`[cluster] ready in ${(cluster.startupMs / 1000).toFixed(1)} s`);
    if (!detached) logger.info(readyText(cluster.state(), false));
    await new Promise<void>((resolve) => {
      if (stop.aborted) resolve();
      stop.addEventListener('abort', () => resolve(), { once: true });
    });
    logger.info('[cluster] stopping');
  } finally {
    await cluster.stop();
  }
  logger.info('[cluster] stopped');
  return detached ? 0 : 130;
}

async function localCommand(args: ParsedArgs, io: CliIo, logger: Logger): Promise<number> {
  const stateDir = path.resolve(args.stateDir ?? defaultStateDir(io.env));
  switch (args.command) {
    case 'up':
      resolveTools(io.env);
      if (args.foreground)
        return runInProcess(stateDir, args.timeoutS, 'embedded', logger, io.signal, io.signal, false);
      return upDetached(stateDir, args.timeoutS, logger, io);
    case 'supervise':
      return runInProcess(stateDir, args.timeoutS, 'supervisor', logger, io.signal, io.signal, true);
    case 'down': {
      const report = await stopLocalClusterFromState(stateDir, { logger });
      if (!report.hadState && report.stopped === 0) {
        logger.info(`No local cluster in ${stateDir}; nothing to stop.`);
        return 0;
      }
      if (report.survivors.length > 0 || report.busyPorts.length > 0) {
        throw new PlatformError(
          `cluster:down: ${report.name}: ${report.survivors.length > 0 ? `pids ${report.survivors.join(', ')} still running` : ''}${report.survivors.length > 0 && report.busyPorts.length > 0 ? '; ' : ''}${report.busyPorts.length > 0 ? `ports ${report.busyPorts.join(', ')} still listening` : ''}`,
        );
      }
      logger.info(
        `Stopped local cluster ${report.name} (${report.stopped} process${report.stopped === 1 ? '' : 'es'}); no process and no port of ${path.join(stateDir, 'cluster.json')} left.`,
      );
      return 0;
    }
    default:
      throw new UsageError(
        `${args.command === undefined ? 'no command' : `"${args.command}" is not a command`}; use up or down (see --help)`,
      );
  }
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const logger = createLogger(io.stdout, io.stderr);
  try {
    if (argv[0] === '--help' || argv[0] === '-h') argv = ['help', '--help'];
    const args = parse(argv);
    if (args.help || args.command === undefined) {
      io.stdout.write(`${CLUSTER_CLI_HELP}\n`);
      return args.help ? 0 : 2;
    }
    if (args.provider === 'kind') {
      const localOnly = args.rest.find((a) => /^--(state-dir|timeout|foreground)(=|$)/.test(a));
      if (localOnly !== undefined)
        throw new UsageError(`${localOnly.split('=')[0]}: an option of --provider local, not of kind`);
      return await runClusterCli([args.command, ...args.rest], {
        stdout: io.stdout,
        stderr: io.stderr,
        env: io.env,
        signal: io.signal,
      });
    }
    if (args.provider !== 'local')
      throw new UsageError(`--provider: "${args.provider}" is not a provider; use one of ${Providers.join(', ')}`);
    return await localCommand(args, io, logger);
  } catch (err) {
    return exitCodeOf(err, io.signal, io.stderr);
  }
}

await runAsEntry(
  import.meta.url,
  (name) => `${name}: stopping the cluster (again to exit at once; children die with this process)\n`,
  (argv, signal) => main(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal }),
);
