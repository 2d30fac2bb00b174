/**
 * Runs an experiment plan inside the bench process, as `npm run experiment` does (the same
 * LocalPlatform and runExperiment), with the probes of probes.ts attached, and optionally under
 * the V8 profiler, one run at a time or several at once. Used by the timestamp-accuracy and
 * overhead benchmarks.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { ScaledClock } from '../src/common/clock.ts';
import { builtinLoad } from '../src/load/choose.ts';
import { unattendedOperators } from '../src/operator/create.ts';
import { readSchedStat, schedStatDelta, type SchedStat } from '../src/bench/schedstat.ts';
import type { Logger } from '../src/common/logger.ts';
import type { RunEntry } from '../src/experiment/journal.ts';
import { type ConcurrencyChoice, defaultConcurrency } from '../src/experiment/concurrency.ts';
import { planRuns, type PlannedRun } from '../src/experiment/plan.ts';
import { runExperiment } from '../src/experiment/runner.ts';
import { LocalPlatform } from '../src/platform/local/local-platform.ts';
import { loadExperimentFile, type LoadedExperiment } from '../src/scenario/load-files.ts';
import { PROJECT_ROOT, type BenchContext } from './context.ts';
import { createProbes, probePlatform, type ProbeLog } from '../src/bench/probes.ts';

export interface InstrumentedExperiment {
  loaded: LoadedExperiment;
  plan: PlannedRun[];
  timeScale: number;
  /** Runs in flight at once the experiment started with, and why (the journal header's). */
  concurrency: ConcurrencyChoice;
  entries: RunEntry[];
  log: ProbeLog;
  /** When each run's progress line was logged: right after its journal line was written and synced. */
  journaledWallMs: number[];
  startWallMs: number;
  endWallMs: number;
  outDir: string;
  /** This process's main thread over the experiment: on a core, and waiting for one. */
  sched: SchedStat | undefined;
}

export async function runInstrumented(
  ctx: BenchContext,
  planFile: string,
  options: {
    repetitions?: number;
    label: string;
    cpuProfile?: string;
    /** Runs in flight at once: 1 when not given; 'default' picks what the CLI would for this plan. */
    concurrency?: number | 'default';
  },
): Promise<InstrumentedExperiment> {
  const loaded = loadExperimentFile(planFile, path.join(PROJECT_ROOT, 'scenarios'));
  const plan = planRuns(loaded, { repetitions: options.repetitions });
  const timeScale = loaded.experiment.timeScale;
  const concurrency =
    options.concurrency === 'default'
      ? defaultConcurrency({ platform: 'local', timeScale, plannedRuns: plan.length })
      : { concurrency: options.concurrency ?? 1, reason: 'set by the benchmark' };
  const outDir = mkdtempSync(path.join(ctx.workDir, `${options.label}-`));
  const journaledWallMs: number[] = [];
  const logger: Logger = {
    info: (line) => {
      journaledWallMs.push(performance.now());
      ctx.log(`    ${line}`);
    },
    warn: (line) => ctx.log(`    warning: ${line}`),
  };
  const probes = createProbes();
  const load = builtinLoad();
  const session = options.cpuProfile ? new Session() : undefined;
  let entries: RunEntry[] = [];
  const schedBefore = readSchedStat('self', process.pid);
  const startWallMs = performance.now();
  try {
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    await using platform = probePlatform(
      new LocalPlatform({ timeScale, experiment: `bench-${options.label}-${process.pid}`, observer: probes.observer }),
      probes.log,
    );
    entries = await runExperiment({
      loaded,
      plan,
      platform,
      outDir,
      clock: new ScaledClock(timeScale),
      load: { ...load, generator: probes.wrapLoad(load.generator) },
      // No human operator in these plans; nothing may read the bench's own stdin.
      operators: unattendedOperators(),
      seed: loaded.experiment.seed,
      logger,
      signal: ctx.signal,
      repetitions: options.repetitions,
      concurrency: concurrency.concurrency,
      concurrencyReason: concurrency.reason,
    });
  } finally {
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(options.cpuProfile!, JSON.stringify(profile));
      session.disconnect();
    }
  }
  const sched = schedStatDelta(schedBefore, readSchedStat('self', process.pid));
  return {
    loaded,
    plan,
    timeScale,
    concurrency,
    entries,
    log: probes.log,
    journaledWallMs,
    startWallMs,
    endWallMs: performance.now(),
    outDir,
    sched,
  };
}
