import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { ChosenLoad } from '../load/choose.ts';
import type { OperatorFactory } from '../operator/create.ts';
import type { ArmSession, Platform } from '../platform/types.ts';
import type { LoadedExperiment } from '../scenario/load-files.ts';
import { appendJournal, JOURNAL_FILE, type ExperimentHeader, type RunEntry } from './journal.ts';
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
}

/**
 * Runs the plan: one arm session per arm and plan cell, opened on first use, then each run in plan
 * order (see executeRun), journaled as it ends. A run that fails for a reason of its own is
 * journaled as `aborted` and the experiment goes on; an interrupt stops it after cleanup, keeping
 * what was journaled.
 */
export async function runExperiment(options: RunnerOptions): Promise<RunEntry[]> {
  const { loaded, plan, outDir, logger, signal } = options;
  const experimentId = options.experimentId ?? newExperimentId();
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
    };
    appendJournal(journal, header);
  }
  mkdirSync(path.join(outDir, 'requests'), { recursive: true });
  const { clock, load, operators } = options;
  const experiment = loaded.experiment.name;
  const sessions = new Map<string, ArmSession>();
  const finished: RunEntry[] = [];
  const todo = plan.filter((p) => !options.done?.has(p.runId));
  try {
    for (const [i, run] of todo.entries()) {
      signal.throwIfAborted();
      const key = `${run.arm}/${run.entry}`;
      let session = sessions.get(key);
      if (!session) {
        session = await options.platform.open(run.arm, run.scenario, {
          clock,
          seed: options.seed,
          experiment,
          experimentId,
          slot: 1,
        });
        sessions.set(key, session);
      }
      const wallStart = performance.now();
      const entry = await executeRun({ run, session, clock, load, operators, experiment, outDir, signal });
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
