import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { ChosenLoad } from '../load/choose.ts';
import type { OperatorFactory } from '../operator/create.ts';
import type { ArmSession, Platform } from '../platform/types.ts';
import type { LoadedExperiment } from '../scenario/load-files.ts';
import { serviceScenario } from '../scenario/schema.ts';
import { appendJournal, JOURNAL_FILE, type ExperimentHeader, type RunEntry } from './journal.ts';
import { type LoopLag, LoopLagMonitor } from '../common/loop-lag.ts';
import { exceedsLagBound, LAG_BOUND_SCENARIO_MS, lagScenarioMs, runLagOf } from './concurrency.ts';
import { newExperimentId, type PlannedRun } from './plan.ts';
import { executeRun } from './run.ts';

/**
 * What an experiment runs on. Every implementation comes in from outside (the composition root is
 * the CLI), so the same runner drives real processes, a cluster, or test doubles on a virtual clock.
 */
export interface RunnerOptions {
  loaded: LoadedExperiment;
  plan: PlannedRun[];
  platform: Platform;
  /** Harness time: a ScaledClock at the plan's time scale in experiments, a VirtualClock in tests. */
  clock: Clock;
  /** The load generator every run uses (see load/choose.ts). */
  load: ChosenLoad;
  /** Makes the manual arm's operator of each run. */
  operators: OperatorFactory;
  outDir: string;
  /** The experiment's unique id (journal header `id`); a new one when not given (plan.ts newExperimentId). */
  experimentId?: string;
  seed: number;
  logger: Logger;
  signal: AbortSignal;
  /** Runs already in the journal (resume): skipped. */
  done?: ReadonlySet<string>;
  /** Continue an existing journal instead of starting one. */
  resume?: boolean;
  /** The --reps override, recorded in the header for resume. */
  repetitions?: number;
  /** Runs in flight at once (docs/design.md §10); 1 when not given. */
  concurrency?: number;
  /** Why that many, for the journal header and the report. */
  concurrencyReason?: string;
  /**
   * Measures the event loop's lag over one run (default: LoopLagMonitor). On a virtual clock no
   * timestamp depends on the event loop, so tests give a monitor that reports none.
   */
  loopLag?: () => { stop(): LoopLag };
}

/**
 * Runs the plan on `concurrency` slots (docs/design.md §10). Runs start in plan order, each on the
 * next free slot; a slot opens its own arm session per arm and plan cell on first use, so slots
 * share nothing. Each run is journaled as it ends, by this one writer, in completion order. A run
 * that fails for a reason of its own is journaled as `aborted` and the experiment goes on. An
 * interrupt (or a failure of the harness in one slot) stops every slot after cleanup, keeping what
 * was journaled: the runs in flight are not journaled, so --resume runs each of them again, once.
 *
 * When a run's lag exceeds the bound (concurrency.ts), the runs that follow get one slot fewer.
 */
export async function runExperiment(options: RunnerOptions): Promise<RunEntry[]> {
  const { loaded, plan, outDir, logger, signal } = options;
  const experimentId = options.experimentId ?? newExperimentId();
  const concurrency = options.concurrency ?? 1;
  // The journal's header is the first thing in a new folder: a folder that holds anything else
  // holds a journal, so `--resume` always finds one and `--out` never reuses a half-made folder.
  mkdirSync(outDir, { recursive: true });
  const journal = path.join(outDir, JOURNAL_FILE);
  if (!options.resume) {
    const header: ExperimentHeader = {
      type: 'experiment',
      id: experimentId,
      name: loaded.experiment.name,
      file: loaded.file,
      description: loaded.experiment.description,
      platform: options.platform.name,
      timeScale: options.clock.timeScale,
      seed: options.seed,
      startedAt: new Date().toISOString(),
      plannedRuns: plan.map((p) => p.runId),
      repetitions: options.repetitions,
      scenarios: loaded.cells.map((c) => c.scenario),
      sweeps: loaded.cells.map((c) => c.sweepLabel),
      node: process.version,
      concurrency,
      concurrencyReason: options.concurrencyReason,
    };
    appendJournal(journal, header);
  }
  mkdirSync(path.join(outDir, 'requests'), { recursive: true });
  const { clock, load, operators } = options;
  const experiment = loaded.experiment.name;
  const todo = plan.filter((p) => !options.done?.has(p.runId));
  const finished: RunEntry[] = [];
  const progress = new Progress(plan.length, options.done?.size ?? 0, todo.length);
  // A harness failure in one slot stops the others: their runs are left for --resume.
  const stop = new AbortController();
  const runSignal = AbortSignal.any([signal, stop.signal]);
  let failure: { error: unknown } | undefined;
  let next = 0;
  let limit = Math.min(concurrency, Math.max(1, todo.length));
  const slotSessions: Array<Map<string, ArmSession[]>> = [];
  // Slots start one after another (a ramp): each waits until the previous slot's first run has
  // set up and warmed up to its release, so N sessions are not set up (processes spawned, routers
  // bound) in the same instant.
  let previousStarted: Promise<void> = Promise.resolve();
  let inFlight = 0;
  /** Runs over the lag bound at the current limit. */
  let strikes = 0;
  // Settles when a run ends (and is replaced by a new promise): slots waiting for room wake on it.
  let endOfRun!: () => void;
  let runEnded!: Promise<void>;
  const armRunEnded = () => {
    runEnded = new Promise<void>((resolve) => {
      endOfRun = () => {
        armRunEnded();
        resolve();
      };
    });
  };
  armRunEnded();

  const slotLoop = async (slot: number): Promise<void> => {
    // Per arm and plan cell, the session of each service of the release train (docs/design.md §13).
    const sessions = new Map<string, ArmSession[]>();
    slotSessions.push(sessions);
    const waitForPrevious = previousStarted;
    let started!: () => void;
    previousStarted = new Promise<void>((resolve) => (started = resolve));
    try {
      await Promise.race([waitForPrevious, abortedPromise(runSignal)]);
      // A slot above the limit takes no new run: lowering the concurrency retires the highest slots.
      while (next < todo.length && slot <= limit) {
        // After the concurrency was lowered, the runs still in flight count against the new limit.
        while (inFlight >= limit && slot <= limit) await Promise.race([runEnded, abortedPromise(runSignal)]);
        runSignal.throwIfAborted();
        if (slot > limit || next >= todo.length) break;
        const run = todo[next++]!;
        inFlight += 1;
        const concurrencyNow = limit;
        const key = `${run.arm}/${run.entry}`;
        let train = sessions.get(key);
        if (!train) {
          train = [];
          // Kept before it is full: a session opened before a failure is closed with the others.
          sessions.set(key, train);
          const count = run.scenario.services;
          for (let index = 0; index < count; index++) {
            train.push(
              await options.platform.open(run.arm, serviceScenario(run.scenario, index), {
                clock,
                seed: options.seed,
                experiment,
                experimentId,
                slot,
                service: count > 1 ? { index, count } : undefined,
              }),
            );
          }
        }
        const wallStart = performance.now();
        const monitor = options.loopLag?.() ?? new LoopLagMonitor();
        const entry = await executeRun({
          run,
          sessions: train,
          clock,
          load,
          operators,
          experiment,
          outDir,
          signal: runSignal,
          onReleased: started,
        }).finally(() => {
          monitor.stop();
          inFlight -= 1;
          endOfRun();
        });
        const lag = monitor.stop();
        entry.wallMs = Math.round(performance.now() - wallStart);
        entry.harness = {
          slot,
          concurrency: concurrencyNow,
          loopLagP99WallMs: lag.p99WallMs,
          loopLagMaxWallMs: lag.maxWallMs,
        };
        appendJournal(journal, entry);
        finished.push(entry);
        logger.info(`${progressLine(run, entry, progress.done(), plan.length)}${progress.eta()}`);
        const runLag = runLagOf(entry);
        // Only runs that ran at the current limit count against it: the others saw a level already
        // left. One run over the bound happens at any level (a blip of the machine); a second one
        // at the same level is the level's doing, and lowers it.
        if (exceedsLagBound(runLag) && concurrencyNow === limit && limit > 1 && next < todo.length) {
          strikes += 1;
          const over = `${run.runId}: lag ${lagScenarioMs(runLag).toFixed(1)} scenario ms exceeds the ${LAG_BOUND_SCENARIO_MS} ms bound`;
          if (strikes >= STRIKES_TO_LOWER) {
            limit -= 1;
            strikes = 0;
            logger.warn(`${over}, the second over it at ${limit + 1} at once; running ${limit} at once from now on`);
          } else {
            logger.warn(`${over} (the first over it at ${limit} at once; a second lowers the concurrency)`);
          }
        }
      }
    } finally {
      // A slot that ends without a run (no run left, or retired) must not hold the next one back.
      started();
    }
  };

  const slots = Array.from({ length: limit }, (_, i) => i + 1);
  try {
    await Promise.all(
      slots.map((slot) =>
        slotLoop(slot).catch((error: unknown) => {
          failure ??= { error };
          stop.abort(error);
        }),
      ),
    );
  } finally {
    for (const session of slotSessions.flatMap((sessions) => [...sessions.values()].flat())) {
      try {
        await session[Symbol.asyncDispose]();
      } catch (err) {
        // A cleanup error is logged, never allowed to hide the error that got us here.
        logger.warn(`cleanup: ${(err as Error).message}`);
      }
    }
  }
  if (failure) throw failure.error;
  return finished;
}

/** Runs over the lag bound at one concurrency level that lower it by one. */
const STRIKES_TO_LOWER = 2;

/** Settles when `signal` aborts (never rejects), to race a wait against the interrupt. */
function abortedPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Counts finished runs and estimates the time left from the pace of this invocation. */
class Progress {
  private readonly startWallMs = performance.now();
  private finishedHere = 0;

  constructor(
    private readonly total: number,
    private readonly before: number,
    private readonly todo: number,
  ) {}

  /** Marks one run finished; returns its position among all planned runs. */
  done(): number {
    this.finishedHere += 1;
    return this.before + this.finishedHere;
  }

  eta(): string {
    const left = this.todo - this.finishedHere;
    if (left <= 0 || this.before + this.finishedHere >= this.total) return '';
    const perRunMs = (performance.now() - this.startWallMs) / this.finishedHere;
    return `  · about ${formatWall(perRunMs * left)} left`;
  }
}

function formatWall(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

function fmtS(value: number | undefined): string {
  return value === undefined ? '—' : `${value.toFixed(1)} s`;
}

export function progressLine(run: PlannedRun, entry: RunEntry, position: number, total: number): string {
  const m = entry.metrics;
  const cell = run.sweepLabel ? `${run.scenario.name} (${run.sweepLabel})` : run.scenario.name;
  const head = `[${String(position).padStart(String(total).length)}/${total}] ${cell} ${run.arm.padEnd(7)} r${run.repetition}: ${m.outcome.padEnd(11)}`;
  if (m.outcome === 'aborted') return `${head} ${m.abortReason}`;
  return `${head} MTTR ${fmtS(m.mttrS)}  release→recover ${fmtS(m.ttrReleaseS)}  failed ${m.failedRequests}/${m.totalRequests}${m.slowRequests ? `  slow ${m.slowRequests}` : ''}  (${(entry.wallMs / 1000).toFixed(1)} s wall)`;
}
