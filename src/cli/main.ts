import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ScaledClock } from '../common/clock.ts';
import { isHarnessError, OutputError, UsageError } from '../common/errors.ts';
import { isDiskError } from '../common/files.ts';
import { type FolderLock, LOCK_FILE, lockReportFolder, tookOverMessage } from '../process/folder-lock.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { JOURNAL_FILE, readJournal, truncateTornTail } from '../experiment/journal.ts';
import { defaultConcurrency } from '../experiment/concurrency.ts';
import { newExperimentId, planRuns } from '../experiment/plan.ts';
import { reapLeftovers } from '../process/pid-file.ts';
import { runExperiment } from '../experiment/runner.ts';
import { defaultStateDir, LOADTESTER_NAMESPACE, readState } from '../kube/cluster-state.ts';
import { KubePlatform } from '../platform/kube/kube-platform.ts';
import {
  deleteNamespace,
  EXPERIMENT_LABEL,
  EXPERIMENT_NAME_ANNOTATION,
  listExperimentNamespaces,
  localProbe,
  type NamespaceRecord,
  selectForCleanup,
} from '../platform/kube/experiment-namespaces.ts';
import { loadKubeConfig, probeCluster } from '../platform/kube/kubeconfig.ts';
import { LocalPlatform } from '../platform/local/local-platform.ts';
import { PlatformNames, type Platform } from '../platform/types.ts';
import { chooseLoad, type LoadChoice } from '../load/choose.ts';
import { operatorFactory } from '../operator/create.ts';
import { writeComparison } from '../report/compare.ts';
import { writeReport } from '../report/write-report.ts';
import { displayPath, loadExperimentFile, type LoadedExperiment } from '../scenario/load-files.ts';
import { exitCodeOf, folderTimestamp, runAsEntry } from './entry.ts';
import {
  CLEANUP_HELP,
  COMPARE_HELP,
  type ExperimentArgs,
  EXPERIMENT_HELP,
  parseCleanupArgs,
  parseCompareArgs,
  parseExperimentArgs,
  parseReportArgs,
  REPORT_HELP,
} from './args.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  cwd: string;
}

/** Picks the platform implementation: the one place that knows the concrete classes. */
async function createPlatform(
  args: ExperimentArgs,
  options: { timeScale: number; experiment: string; planFile: string },
  io: Io,
): Promise<Platform> {
  if (args.platform === 'local') return new LocalPlatform(options);
  if (args.platform !== 'kube')
    throw new UsageError(`--platform: "${args.platform}" is not a platform; use one of ${PlatformNames.join(', ')}`);
  if (options.timeScale !== 1) {
    throw new UsageError(
      `${displayPath(options.planFile, io.cwd)}: timeScale: ${options.timeScale} cannot apply on --platform kube (a cluster runs in real time); use a plan with timeScale 1 such as experiments/quick-kube.yaml, or pass --time-scale 1`,
    );
  }
  const kubeConfig = loadKubeConfig({ kubeconfig: args.kubeconfig, context: args.context });
  await probeCluster(kubeConfig);
  const kubeconfigPath = args.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0];
  // The local control plane (npm run cluster:up -- --provider local) says where its mesh and
  // Prometheus listen; any other cluster needs the two URLs given.
  const state = readState(defaultStateDir());
  const local =
    state && kubeconfigPath && path.resolve(kubeconfigPath) === path.resolve(state.kubeconfig) ? state : undefined;
  const prometheusUrl = args.prometheusUrl ?? local?.prometheusUrl;
  if (!prometheusUrl) {
    throw new UsageError(
      '--prometheus-url: required for this cluster (the operators and checks read its HTTP API), e.g. after kubectl -n istio-system port-forward svc/prometheus-server 9090:80 pass --prometheus-url http://127.0.0.1:9090',
    );
  }
  if (!args.serviceUrl && !local) {
    throw new UsageError(
      '--service-url: required for this cluster (where the load goes), e.g. after kubectl -n istio-ingress port-forward svc/istio-ingressgateway 8080:80 pass --service-url http://127.0.0.1:8080',
    );
  }
  return new KubePlatform({
    kubeConfig,
    kubeconfigPath,
    prometheusUrl,
    experiment: options.experiment,
    // The local control plane says whether it runs the loadtester; on another cluster it is where
    // npm run cluster:up puts it unless the user says otherwise.
    loadtesterNamespace: args.loadtesterNamespace ?? (local ? local.loadtesterNamespace : LOADTESTER_NAMESPACE),
    serviceUrl: (namespace, service) =>
      args.serviceUrl ??
      readState(defaultStateDir())?.routers.find((r) => r.namespace === namespace && r.apex === service)?.url,
  });
}

function legacyExperimentId(startedAt: string): string {
  return createHash('sha256').update(startedAt).digest('hex').slice(0, 8);
}

/** Takes the folder's writer lock for this command, saying so when a dead writer's lock was taken over. */
function lockFolder(dir: string, command: string, io: Io, logger: Logger): FolderLock {
  const lock = lockReportFolder(dir, command, displayPath(dir, io.cwd));
  const tookOver = tookOverMessage(lock, displayPath(dir, io.cwd));
  if (tookOver) logger.warn(tookOver);
  return lock;
}

async function experimentCommand(argv: string[], io: Io, logger: Logger, signal: AbortSignal): Promise<number> {
  const args = parseExperimentArgs(argv);
  if (args.help) {
    io.stdout.write(`${EXPERIMENT_HELP}\n`);
    return 0;
  }
  if (!(PlatformNames as readonly string[]).includes(args.platform)) {
    throw new UsageError(`--platform: "${args.platform}" is not a platform; use one of ${PlatformNames.join(', ')}`);
  }
  for (const leftover of reapLeftovers()) {
    logger.warn(
      `Removed ${leftover.killed.length} leftover process(es) of an interrupted run of ${leftover.experiment} (harness pid ${leftover.harnessPid}): ` +
        leftover.killed.map((k) => `${k.label} pid ${k.pid}`).join(', '),
    );
  }
  // Assigned on both paths below: from the plan file, or from the journal's header on --resume.
  let loaded!: LoadedExperiment;
  let timeScale: number;
  let seed: number;
  let outDir: string;
  let repetitions = args.reps;
  let experimentId = newExperimentId();
  const done = new Set<string>();
  if (args.resume !== undefined) {
    outDir = path.resolve(io.cwd, args.resume);
    const journalFile = path.join(outDir, JOURNAL_FILE);
    if (!existsSync(journalFile)) {
      throw new UsageError(
        `--resume: ${displayPath(journalFile, io.cwd)} does not exist; pass a report folder written by npm run experiment`,
      );
    }
  } else {
    const experimentFile = path.resolve(io.cwd, args.experiment ?? path.join(PROJECT_ROOT, 'experiments/quick.yaml'));
    loaded = loadExperimentFile(experimentFile, path.join(PROJECT_ROOT, 'scenarios'));
    const defaultOut = path.join(PROJECT_ROOT, 'reports', `${loaded.experiment.name}-${folderTimestamp()}`);
    outDir = path.resolve(io.cwd, args.out ?? defaultOut);
    if (existsSync(outDir) && !statSync(outDir).isDirectory()) {
      const shown = displayPath(outDir, io.cwd);
      throw new UsageError(`--out: ${shown} is a file, not a folder; pass a new folder for the report`);
    }
  }
  // One writer per report folder, taken before the journal is read (resume cuts its torn tail).
  using _lock = lockFolder(outDir, 'npm run experiment', io, logger);
  if (args.resume !== undefined) {
    const journalFile = path.join(outDir, JOURNAL_FILE);
    const shown = displayPath(journalFile, io.cwd);
    if (truncateTornTail(journalFile))
      logger.warn(`${shown}: the last line was cut short by the interruption; that run will run again`);
    const journal = readJournal(journalFile);
    if (!journal.header)
      throw new UsageError(`--resume: ${shown} has no experiment header line; start a new experiment instead`);
    for (const problem of journal.problems)
      logger.warn(`${shown}:${problem.line}: ${problem.message}; that line is ignored`);
    loaded = loadExperimentFile(journal.header.file, path.join(PROJECT_ROOT, 'scenarios'));
    timeScale = journal.header.timeScale;
    seed = journal.header.seed;
    repetitions = journal.header.repetitions;
    // Journals written before experiment ids keep a stable one derived from their start.
    experimentId = journal.header.id ?? legacyExperimentId(journal.header.startedAt);
    const planned = planRuns(loaded, { seed, repetitions }).map((p) => p.runId);
    if (planned.join('\n') !== journal.header.plannedRuns.join('\n')) {
      throw new UsageError(
        `--resume: ${displayPath(journal.header.file, io.cwd)} has changed since the experiment started (its plan differs); start a new experiment instead`,
      );
    }
    for (const run of journal.runs) done.add(run.runId);
  } else {
    timeScale = args.timeScale ?? loaded.experiment.timeScale;
    seed = args.seed ?? loaded.experiment.seed;
    if (readdirSync(outDir).some((f) => f !== LOCK_FILE)) {
      throw new UsageError(
        `--out: ${displayPath(outDir, io.cwd)} already exists and is not empty; pass a new folder so no result is overwritten`,
      );
    }
  }
  const plan = planRuns(loaded, { seed, repetitions });
  const platform = await createPlatform(
    args,
    { timeScale, experiment: loaded.experiment.name, planFile: loaded.file },
    io,
  );
  if (args.resume !== undefined) {
    logger.info(
      `Resuming ${loaded.experiment.name}: ${done.size} of ${plan.length} runs already journaled, ${plan.length - done.size} to go`,
    );
  } else {
    logger.info(
      `Experiment ${loaded.experiment.name}: ${plan.length} runs on the ${platform.name} platform, time scale ${timeScale}×, seed ${seed}`,
    );
  }
  const chosen =
    args.concurrency !== undefined
      ? { concurrency: args.concurrency, reason: 'set with --concurrency' }
      : loaded.experiment.concurrency !== undefined
        ? {
            concurrency: loaded.experiment.concurrency,
            reason: `set by the plan (${displayPath(loaded.file, io.cwd)})`,
          }
        : defaultConcurrency({ platform: platform.name, timeScale, plannedRuns: plan.length - done.size });
  logger.info(`Concurrency ${chosen.concurrency}: ${chosen.reason}`);
  logger.info(`Writing ${displayPath(outDir, io.cwd)}/`);
  let interrupted = false;
  let diskFailed = false;
  try {
    await using _platform = platform;
    // The composition root: every implementation the runner uses is picked here.
    const loadChoice = (args.load as LoadChoice | undefined) ?? (args.platform === 'kube' ? 'auto' : 'builtin');
    const load = await chooseLoad(loadChoice, logger);
    const operators = operatorFactory({ input: io.stdin, output: io.stdout });
    await runExperiment({
      loaded,
      plan,
      platform,
      clock: new ScaledClock(timeScale),
      load,
      operators,
      outDir,
      experimentId,
      seed,
      logger,
      signal,
      done,
      resume: args.resume !== undefined,
      repetitions,
      concurrency: chosen.concurrency,
      concurrencyReason: chosen.reason,
    });
  } catch (err) {
    if (isDiskError(err)) {
      // Rendering now could only replace the last good report with a worse one, and fail again.
      diskFailed = true;
      const next = `free some space, then finish with npm run experiment -- --resume ${displayPath(outDir, io.cwd)}`;
      throw new OutputError(diskErrorLine(err, io.cwd, next));
    }
    if (!signal.aborted) throw err;
    interrupted = true;
  } finally {
    const journalFile = path.join(outDir, JOURNAL_FILE);
    if (!diskFailed && existsSync(journalFile) && readJournal(journalFile).runs.length > 0) {
      const written = await writeReport(outDir);
      logger.info(
        `Report: ${displayPath(path.join(outDir, 'report.html'), io.cwd)} and report.md (${written.runs} runs; runs.csv, summary.json and charts/ beside them)`,
      );
    }
  }
  if (interrupted) {
    logger.warn(
      `Interrupted: the finished runs are journaled and in the report; no process was left running. Finish with npm run experiment -- --resume ${displayPath(outDir, io.cwd)}`,
    );
    return 130;
  }
  return 0;
}

async function reportCommand(argv: string[], io: Io, logger: Logger): Promise<number> {
  const args = parseReportArgs(argv);
  if (args.help) {
    io.stdout.write(`${REPORT_HELP}\n`);
    return 0;
  }
  if (!args.dir)
    throw new UsageError('report: name the report folder, e.g. npm run report -- reports/quick-20261126-070000Z');
  const dir = path.resolve(io.cwd, args.dir);
  // A missing folder is left to writeReport to refuse, so the lock never creates one.
  const isFolder = existsSync(dir) && statSync(dir).isDirectory();
  using _lock = isFolder ? lockFolder(dir, 'npm run report', io, logger) : undefined;
  const written = await writeReport(dir);
  for (const problem of written.problems) logger.warn(problem);
  logger.info(`Report: ${displayPath(path.join(dir, 'report.html'), io.cwd)} and report.md (${written.runs} runs)`);
  return 0;
}

async function compareCommand(argv: string[], io: Io, logger: Logger): Promise<number> {
  const args = parseCompareArgs(argv);
  if (args.help) {
    io.stdout.write(`${COMPARE_HELP}\n`);
    return 0;
  }
  const [a, b] = args.dirs.map((d) => path.resolve(io.cwd, d)) as [string, string];
  const out = path.resolve(
    io.cwd,
    args.out ?? path.join(PROJECT_ROOT, 'reports', `compare-${path.basename(a)}-vs-${path.basename(b)}`),
  );
  using _lock = lockFolder(out, 'npm run compare', io, logger);
  const written = await writeComparison(a, b, out);
  for (const problem of written.model.problems) logger.warn(problem);
  logger.info(`Comparison: ${written.files.map((f) => displayPath(f, io.cwd)).join(', ')}`);
  return 0;
}

/**
 * Removes what crashed runs left behind: app processes listed in pid files of dead harnesses, and,
 * only when --kubeconfig names a cluster, the project's namespaces that no live run holds
 * (experiment-namespaces.ts selectForCleanup), listed first and deleted only with --yes. An
 * exported KUBECONFIG is not enough: deleting namespaces is asked for by name, never implied.
 */
async function cleanupCommand(argv: string[], io: Io, logger: Logger): Promise<number> {
  const values = parseCleanupArgs(argv);
  if (values.help) {
    io.stdout.write(`${CLEANUP_HELP}\n`);
    return 0;
  }
  const leftovers = reapLeftovers();
  const killed = leftovers.reduce((n, l) => n + l.killed.length, 0);
  logger.info(
    `Local: removed ${killed} leftover process(es)${killed ? `: ${leftovers.flatMap((l) => l.killed.map((k) => `${k.label} pid ${k.pid}`)).join(', ')}` : ''}`,
  );
  if (values.kubeconfig === undefined) return 0;
  const kc = loadKubeConfig({ kubeconfig: values.kubeconfig, context: values.context });
  await probeCluster(kc);
  const { namespaces, leases } = await listExperimentNamespaces(kc, values.experimentId);
  const { remove, held, terminating } = selectForCleanup(namespaces, leases, {
    experimentId: values.experimentId,
    nowMs: Date.now(),
    probe: localProbe(),
  });
  const of = values.experimentId === undefined ? '' : ` of experiment ${values.experimentId}`;
  const line = (ns: NamespaceRecord, why: string) => {
    const name = ns.metadata.annotations?.[EXPERIMENT_NAME_ANNOTATION];
    const experiment = `experiment ${ns.metadata.labels?.[EXPERIMENT_LABEL]}${name ? ` (${name})` : ''}`;
    return `  ${ns.metadata.name}: ${experiment}; ${why}`;
  };
  logger.info(`Cluster "${kc.getCurrentContext()}": ${remove.length} namespace(s)${of} that no live run holds`);
  for (const r of remove) logger.info(line(r.namespace, r.why));
  if (held.length > 0) {
    logger.info(`Kept ${held.length} namespace(s)${of} that a live run holds:`);
    for (const h of held) logger.info(line(h.namespace, h.why));
  }
  if (terminating.length > 0)
    logger.info(`Already being deleted: ${terminating.map((ns) => ns.metadata.name).join(', ')}`);
  if (remove.length === 0) return 0;
  if (!values.yes) {
    logger.info(`Nothing deleted: run again with --yes to delete the ${remove.length} namespace(s) listed.`);
    return 0;
  }
  let deleted = 0;
  for (const { namespace } of remove) {
    const result = await deleteNamespace(kc, namespace.metadata.name, namespace.metadata.uid);
    if (result === 'changed')
      logger.warn(`${namespace.metadata.name}: replaced by another namespace since it was listed; left alone`);
    else deleted++;
  }
  logger.info(`Deleted ${deleted} namespace(s).`);
  return 0;
}

const COMMANDS = 'experiment, report, compare, cleanup';

/** Runs one command; known errors become one line on stderr and an exit code. */
export async function main(argv: string[], io: Io, signal: AbortSignal): Promise<number> {
  const logger = createLogger(io.stdout, io.stderr);
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'experiment':
        return await experimentCommand(rest, io, logger, signal);
      case 'report':
        return await reportCommand(rest, io, logger);
      case 'compare':
        return await compareCommand(rest, io, logger);
      case 'cleanup':
        return await cleanupCommand(rest, io, logger);
      default:
        throw new UsageError(
          `${command === undefined ? 'no command' : `"${command}" is not a command`}; use one of ${COMMANDS}`,
        );
    }
  } catch (err) {
    const known =
      isDiskError(err) && !isHarnessError(err)
        ? new OutputError(diskErrorLine(err, io.cwd, 'free some space and run the command again'))
        : err;
    return exitCodeOf(known, signal, io.stderr);
  }
}

/** One line for a write the disk refused: which file, why, that nothing written before was lost, what to do. */
function diskErrorLine(err: NodeJS.ErrnoException, cwd: string, next: string): string {
  const file = err.path === undefined ? 'a result file' : displayPath(err.path, cwd);
  const why = err.message.split(',')[0]!.split('\n')[0];
  return `${file}: cannot be written (${why}); the files written before it are intact; ${next}`;
}

await runAsEntry(
  import.meta.url,
  (name) => `\n${name}: stopping the current run and cleaning up (press Ctrl-C again to stop at once)\n`,
  async (argv, signal) => {
    const code = await main(
      argv,
      { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, cwd: process.cwd() },
      signal,
    );
    // stdin may hold the event loop open (human operator); nothing else should be pending.
    process.stdin.destroy();
    return code;
  },
);
