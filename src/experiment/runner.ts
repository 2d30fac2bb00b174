import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import createDebug from 'debug';
import { ScaledClock, sleepWall } from '../common/clock.ts';
import { HarnessError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { createRandom, deriveSeed } from '../common/random.ts';
import { BuiltinLoadGenerator, type LoadGenerator, type LoadSummary, type StartedLoad } from '../load/builtin-generator.ts';
import { K6LoadGenerator } from '../load/k6-generator.ts';
import { isFailure, type RequestRecord } from '../load/types.ts';
import { createOperator } from '../operator/create.ts';
import type { OperatorResult } from '../operator/types.ts';
import type { ArmSession, Platform } from '../platform/types.ts';
import type { LoadedExperiment } from '../scenario/load-files.ts';
import type { EnvironmentFault } from '../scenario/schema.ts';
import { computeRunMetrics, fateSealedAt, isPromoted, Marks } from '../timeline/compute.ts';
import type { RunMetrics, TimelineEntry } from '../timeline/types.ts';
import { appendJournal, JOURNAL_FILE, type ExperimentHeader, type RunEntry } from './journal.ts';
import type { PlannedRun } from './plan.ts';
import { toMicroseconds, writeRequestsFile } from './requests-file.ts';

const debug = createDebug('canary-mttr:runner');

export interface RunnerOptions {
  loaded: LoadedExperiment;
  plan: PlannedRun[];
  platform: Platform;
  outDir: string;
  timeScale: number;
  seed: number;
  logger: Logger;
  signal: AbortSignal;
  /** For the human operator. */
  stdin?: Readable;
  stdout?: Writable;
  /** Runs already in the journal (resume): skipped. */
  done?: ReadonlySet<string>;
  /** Continue an existing journal instead of starting one. */
  resume?: boolean;
  /** The --reps override, recorded in the header for resume. */
  repetitions?: number;
  /** Which load generator: built-in (default), k6, or auto (k6 when installed, else built-in). */
  load?: LoadChoice;
  /** Wraps the chosen load generator, for observers outside the harness (the benchmarks). */
  wrapLoad?: (generator: LoadGenerator) => LoadGenerator;
}

export const LoadChoices = ['builtin', 'k6', 'auto'] as const;
export type LoadChoice = (typeof LoadChoices)[number];

interface ChosenLoad {
  generator: LoadGenerator;
  name: string;
}

/**
 * Picks the load generator once per experiment. `auto` falls back to the built-in generator when
 * k6 is not installed, and the name written into every run says so.
 */
async function chooseLoad(choice: LoadChoice, logger: Logger): Promise<ChosenLoad> {
  if (choice === 'builtin') return { generator: new BuiltinLoadGenerator(), name: 'built-in' };
  try {
    const k6 = await K6LoadGenerator.create();
    return { generator: k6, name: k6.describe() };
  } catch (err) {
    if (choice === 'k6') throw err;
    logger.warn(`Load: k6 is not installed (${(err as Error).message.split(';')[0]}); using the built-in generator.`);
    return { generator: new BuiltinLoadGenerator(), name: 'built-in (k6 not installed)' };
  }
}

/** How often the run loop looks at the clock and the records, wall ms. */
const WATCH_POLL_WALL_MS = 25;
/** Wall time a slow-starting load generator (k6) gets to send its first request before the warm-up starts anyway. */
const LOAD_READY_WALL_MS = 30_000;

/** Waits for `ready`, at most LOAD_READY_WALL_MS of wall time, leaving no timer behind. */
async function untilReady(ready: Promise<void>, signal: AbortSignal): Promise<void> {
  const done = new AbortController();
  try {
    await Promise.race([ready, sleepWall(LOAD_READY_WALL_MS, AbortSignal.any([signal, done.signal]))]);
  } finally {
    done.abort();
  }
}

/**
 * Runs the plan: for each run, restore → warm up and verify steady state → release → watch →
 * recover or hit the deadline → journal. A run that fails for a reason of its own is journaled as
 * `aborted` and the experiment goes on; an interrupt stops it after cleanup, keeping what was
 * journaled.
 */
export async function runExperiment(options: RunnerOptions): Promise<RunEntry[]> {
  const { loaded, plan, outDir, logger, signal } = options;
  // The journal's header is the first thing in a new folder: a folder that holds anything else
  // holds a journal, so `--resume` always finds one and `--out` never reuses a half-made folder.
  mkdirSync(outDir, { recursive: true });
  const journal = path.join(outDir, JOURNAL_FILE);
  if (!options.resume) {
    const header: ExperimentHeader = {
      type: 'experiment',
      name: loaded.experiment.name,
      file: loaded.file,
      description: loaded.experiment.description,
      platform: options.platform.name,
      timeScale: options.timeScale,
      seed: options.seed,
      startedAt: new Date().toISOString(),
      plannedRuns: plan.map((p) => p.runId),
      repetitions: options.repetitions,
      scenarios: loaded.cells.map((c) => c.scenario),
      sweeps: loaded.cells.map((c) => c.sweepLabel),
      node: process.version,
    };
    appendJournal(journal, header);
  }
  mkdirSync(path.join(outDir, 'requests'), { recursive: true });
  const clock = new ScaledClock(options.timeScale);
  const chosen = await chooseLoad(options.load ?? 'builtin', logger);
  if (options.wrapLoad) chosen.generator = options.wrapLoad(chosen.generator);
  const sessions = new Map<string, ArmSession>();
  const finished: RunEntry[] = [];
  const todo = plan.filter((p) => !options.done?.has(p.runId));
  try {
    for (const [i, run] of todo.entries()) {
      signal.throwIfAborted();
      const key = `${run.arm}/${run.entry}`;
      let session = sessions.get(key);
      if (!session) {
        session = await options.platform.open(run.arm, run.scenario, { clock, seed: options.seed, experiment: loaded.experiment.name });
        sessions.set(key, session);
      }
      const wallStart = performance.now();
      const entry = await executeRun(run, session, clock, options, chosen);
      entry.wallMs = Math.round(performance.now() - wallStart);
      appendJournal(journal, entry);
      finished.push(entry);
      logger.info(progressLine(run, entry, (options.done?.size ?? 0) + i + 1, plan.length));
    }
  } finally {
    for (const session of sessions.values()) {
      try {
        await session[Symbol.asyncDispose]();
      } catch (err) {
        // A cleanup error is logged, never allowed to hide the error that got us here.
        logger.warn(`cleanup: ${(err as Error).message}`);
      }
    }
  }
  return finished;
}

async function executeRun(run: PlannedRun, session: ArmSession, clock: ScaledClock, options: RunnerOptions, chosen: ChosenLoad): Promise<RunEntry> {
  const { scenario } = run;
  const { signal } = options;
  const startedAt = new Date().toISOString();
  const runStartMs = clock.now();
  const timeline: TimelineEntry[] = [];
  const records: RequestRecord[] = [];
  const rel = (ms: number) => toMicroseconds(ms - runStartMs);
  const mark = (entry: TimelineEntry) => timeline.push({ ...entry, atMs: rel(entry.atMs) });
  const base = {
    type: 'run' as const,
    runId: run.runId,
    arm: run.arm,
    scenario: scenario.name,
    entry: run.entry,
    sweep: run.sweep,
    sweepLabel: run.sweepLabel,
    repetition: run.repetition,
    seed: run.seed,
    timeScale: options.timeScale,
    startedAt,
    wallMs: 0,
    requestsFile: `requests/${run.runId}.csv`,
    platform: session.describe(),
  };
  const releaseVersion = scenario.release.version;
  let lastBadMs = -Infinity;
  let operatorDescription: Record<string, string | number> | undefined;

  const runAbort = new AbortController();
  let faultTasks: Promise<void>[] = [];
  /** Runs one environment fault at scenario time `atMs`, marking its start and end in the timeline. */
  const injectLater = async (fault: EnvironmentFault, atMs: number): Promise<void> => {
    const what = `${fault.fault} for ${fault.durationS} s`;
    try {
      await clock.sleep(atMs - clock.now(), runAbort.signal);
      mark({ atMs: clock.now(), kind: Marks.envFaultStart, detail: what });
      await session.injectEnvironmentFault(fault, runAbort.signal);
      mark({ atMs: clock.now(), kind: Marks.envFaultEnd, detail: what });
    } catch (err) {
      if (runAbort.signal.aborted) return;
      mark({ atMs: clock.now(), kind: Marks.envFaultEnd, detail: `${what}: ${(err as Error).message}` });
    }
  };
  const runSignal = AbortSignal.any([signal, runAbort.signal]);
  const load = chosen.generator;
  let started: StartedLoad | undefined;
  let operatorDone: Promise<OperatorResult> | undefined;
  const loadSummary = async () => {
    const s = await started!.stop();
    const { sendLag, ...rest } = s;
    return { ...pickLoadSummary(rest), sendLagP99WallMs: Math.round(sendLag.p99WallMs * 100) / 100, generator: chosen.name };
  };
  try {
    await session.restore({ experiment: options.loaded.experiment.name, run: run.runId }, mark, createRandom(deriveSeed(run.seed, 'restore')), runSignal);
    started = load.start({
      url: session.serviceUrl,
      rateRps: scenario.load.rateRps,
      clock,
      timeoutMs: scenario.load.timeoutMs,
      maxInFlight: scenario.load.maxInFlight,
      signal: runSignal,
      // The load ends at the deadline at the latest; k6 adds its margin for the waits in between.
      maxDurationMs: (scenario.warmup.durationS + scenario.recovery.deadlineS) * 1000,
      onRecord: (r) => {
        const record = { ...r, sentMs: rel(r.sentMs), doneMs: rel(r.doneMs) };
        records.push(record);
        if (isFailure(record) || record.version === releaseVersion) lastBadMs = Math.max(lastBadMs, record.doneMs);
      },
    });

    // k6 takes from 50 ms to several seconds (a busy machine) to start its VUs: the warm-up
    // counts from its first request. The wait is wall time: compressed, it would be too short.
    if ('ready' in started) await untilReady((started as { ready: Promise<void> }).ready, runSignal);
    // Warm-up: the baseline must be healthy before anything is released.
    const warmupMs = scenario.warmup.durationS * 1000;
    const plannedReleaseMs = clock.now() + warmupMs;
    faultTasks = scenario.environmentFaults.map((fault) => injectLater(fault, plannedReleaseMs + fault.atS * 1000));
    await clock.sleep(warmupMs, runSignal);
    // A record comes with its answer, and answers lag their requests (k6 reads its output every
    // 50 ms; a busy machine answers late): with requests sent but none answered yet, wait for the
    // first answer, at most the request timeout (wall), before judging the warm-up.
    const answerBy = performance.now() + scenario.load.timeoutMs + 2_000;
    while (records.length === 0 && started.stats.sent > 0 && performance.now() < answerBy) await sleepWall(WATCH_POLL_WALL_MS, runSignal);
    const warm = records.filter((r) => r.sentMs >= 0);
    const warmFailed = warm.filter(isFailure).length;
    const warmRate = warm.length === 0 ? 1 : warmFailed / warm.length;
    if (warm.length === 0 || warmRate > scenario.warmup.maxErrorRate) {
      const reason =
        warm.length === 0
          ? `no request completed during the ${scenario.warmup.durationS} s warm-up`
          : `baseline unhealthy during warm-up: ${(warmRate * 100).toFixed(2)}% of ${warm.length} requests failed (limit ${(scenario.warmup.maxErrorRate * 100).toFixed(2)}%)`;
      const loadInfo = await loadSummary();
      return abortedEntry(base, reason, rel(clock.now()), timeline, records, loadInfo, options.outDir);
    }
    mark({ atMs: clock.now(), kind: Marks.steady, detail: `${warm.length} requests, ${(warmRate * 100).toFixed(2)}% failed` });

    const releaseMs = clock.now();
    mark({ atMs: releaseMs, kind: Marks.release, detail: `${scenario.release.version} (fault ${scenario.release.fault})` });
    await session.release(runSignal);

    if (run.arm === 'manual') {
      const operator = createOperator(scenario.manual.operator, {
        input: options.stdin ?? process.stdin,
        output: options.stdout ?? process.stdout,
        instructions: () => session.instructions(),
      });
      operatorDescription = operator.describe();
      operatorDone = operator.watch({
        clock,
        metrics: session.metrics,
        namespace: session.namespace,
        service: session.service,
        random: createRandom(deriveSeed(run.seed, 'operator')),
        releaseMs,
        signal: runAbort.signal,
        note: (atMs, kind, detail) => mark({ atMs, kind, detail }),
        externalRollback: session.externalRollback?.(runAbort.signal),
        rollback: async () => {
          mark({ atMs: clock.now(), kind: Marks.rollbackIssued, detail: 'helm rollback' });
          await session.rollback(runSignal);
        },
      });
      // Operator-detect is the moment they noticed; recorded as its own mark for the timeline.
      void operatorDone.then((r) => {
        if (r.detectMs !== undefined) mark({ atMs: r.detectMs, kind: Marks.detect, detail: `${operator.kind} operator noticed` });
      });
    }

    // Watch until recovered (+ clean window), promoted (+ window), or the deadline.
    const windowMs = scenario.recovery.cleanWindowS * 1000;
    const deadlineMs = releaseMs + scenario.recovery.deadlineS * 1000;
    for (;;) {
      await sleepWall(WATCH_POLL_WALL_MS, runSignal);
      const now = clock.now();
      if (now >= deadlineMs) break;
      const endedAt = fateSealedAt(timeline);
      if (endedAt === undefined) continue;
      // A promoted release keeps serving (it is the new primary): watch one window of it, then stop.
      // A rolled-back one must first show a clean window after the last bad request.
      const promoted = timeline.some(isPromoted);
      if (rel(now) >= (promoted ? endedAt : Math.max(endedAt, lastBadMs)) + windowMs) break;
    }
    const endMs = clock.now();
    runAbort.abort(new Error('run ended'));
    if (operatorDone) await operatorDone;
    const loadInfo = await loadSummary();
    timeline.sort((a, b) => a.atMs - b.atMs);
    records.sort((a, b) => a.sentMs - b.sentMs);
    const metrics = computeRunMetrics({
      arm: run.arm,
      releaseMs: rel(releaseMs),
      deadlineMs: rel(deadlineMs),
      endMs: rel(endMs),
      releaseVersion,
      cleanWindowMs: windowMs,
      records,
      timeline,
    });
    writeRequestsFile(path.join(options.outDir, base.requestsFile), records);
    return { ...base, metrics, timeline, load: loadInfo, operator: operatorDescription };
  } catch (err) {
    if (signal.aborted) throw err;
    if (!(err instanceof HarnessError)) throw err;
    debug('run %s aborted: %O', run.runId, err);
    const loadInfo = started ? await loadSummary() : emptyLoad();
    return abortedEntry(base, err.message, rel(clock.now()), timeline, records, loadInfo, options.outDir);
  } finally {
    runAbort.abort(new Error('run ended'));
    await Promise.all(faultTasks);
    if (started) await started.stop().catch(() => undefined);
    if (operatorDone) await operatorDone.catch(() => undefined);
  }
}

/** The LoadSummary fields a journal keeps (a generator may report more). */
function pickLoadSummary(s: Omit<LoadSummary, 'sendLag'>): Omit<LoadSummary, 'sendLag'> {
  const { scheduled, sent, completed, failed, timedOut, errored, dropped, recorded, maxInFlightSeen, achievedRps, scenarioDurationMs, wallDurationMs } = s;
  return { scheduled, sent, completed, failed, timedOut, errored, dropped, recorded, maxInFlightSeen, achievedRps, scenarioDurationMs, wallDurationMs };
}

function emptyLoad(): RunEntry['load'] {
  return {
    scheduled: 0, sent: 0, completed: 0, failed: 0, timedOut: 0, errored: 0, dropped: 0, recorded: 0,
    maxInFlightSeen: 0, achievedRps: 0, scenarioDurationMs: 0, wallDurationMs: 0, sendLagP99WallMs: 0, generator: 'built-in',
  };
}

function abortedEntry(
  base: Omit<RunEntry, 'metrics' | 'timeline' | 'load' | 'operator'>,
  reason: string,
  endMs: number,
  timeline: TimelineEntry[],
  records: RequestRecord[],
  load: RunEntry['load'],
  outDir: string,
): RunEntry {
  const metrics: RunMetrics = {
    outcome: 'aborted',
    releaseMs: timeline.find((e) => e.kind === Marks.release)?.atMs ?? endMs,
    endMs,
    failedRequests: 0,
    totalRequests: 0,
    peakErrorRate: 0,
    abortReason: reason,
  };
  writeRequestsFile(path.join(outDir, base.requestsFile), records);
  return { ...base, metrics, timeline, load };
}

function fmtS(value: number | undefined): string {
  return value === undefined ? '—' : `${value.toFixed(1)} s`;
}

export function progressLine(run: PlannedRun, entry: RunEntry, position: number, total: number): string {
  const m = entry.metrics;
  const cell = run.sweepLabel ? `${run.scenario.name} (${run.sweepLabel})` : run.scenario.name;
  const head = `[${String(position).padStart(String(total).length)}/${total}] ${cell} ${run.arm.padEnd(7)} r${run.repetition}: ${m.outcome.padEnd(11)}`;
  if (m.outcome === 'aborted') return `${head} ${m.abortReason}`;
  return `${head} MTTR ${fmtS(m.mttrS)}  release→recover ${fmtS(m.ttrReleaseS)}  failed ${m.failedRequests}/${m.totalRequests}  (${(entry.wallMs / 1000).toFixed(1)} s wall)`;
}
