import { availableParallelism } from 'node:os';
import { isBuiltinLoad } from '../load/choose.ts';
import type { RunEntry } from './journal.ts';

/**
 * A timestamp is taken when the harness's event loop gets to it, so a loop that runs late shifts
 * it by the lag, and a time scale multiplies that shift back into scenario time. A run is flagged
 * when its lag p99 (event loop or load generator's send lag, wall ms) × time scale exceeds this
 * (docs/design.md §10).
 */
export const LAG_BOUND_SCENARIO_MS = 50;

/** Most slots the default picks: beyond 8, runs per minute stop growing on a small machine (npm run bench). */
export const MAX_DEFAULT_CONCURRENCY = 8;

/**
 * Runs per core at time scale 10. One local run at 10× costs about a quarter of a core (its load
 * generator, router and app processes, measured by npm run bench), so two per core leave half the
 * machine for bursts; the load, and so the cost, grows with the time scale.
 */
const RUNS_PER_CORE_AT_10X = 2;

export interface ConcurrencyChoice {
  concurrency: number;
  /** One sentence: where the number came from, for the console and the report. */
  reason: string;
}

/**
 * The default concurrency for a plan on a platform: on the local platform, from the cores and the
 * time scale (the wall load of a run is its scenario load × time scale); on a cluster 1, since
 * its capacity, shared with Flagger and Prometheus, is not known from here.
 */
export function defaultConcurrency(options: {
  platform: string;
  timeScale: number;
  plannedRuns: number;
  cores?: number;
}): ConcurrencyChoice {
  const runs = Math.max(1, options.plannedRuns);
  if (options.platform !== 'local') {
    return {
      concurrency: 1,
      reason: `default on the ${options.platform} platform (the cluster's spare capacity is not known; pass --concurrency to run more at once)`,
    };
  }
  const cores = options.cores ?? availableParallelism();
  const byCpu = Math.max(1, Math.floor((cores * RUNS_PER_CORE_AT_10X * 10) / options.timeScale));
  const concurrency = Math.min(byCpu, MAX_DEFAULT_CONCURRENCY, runs);
  const limits = [
    `${cores} core(s) × ${RUNS_PER_CORE_AT_10X} runs per core at 10× scaled to ${options.timeScale}× = ${byCpu}`,
  ];
  if (concurrency === MAX_DEFAULT_CONCURRENCY && byCpu > MAX_DEFAULT_CONCURRENCY)
    limits.push(`capped at ${MAX_DEFAULT_CONCURRENCY}`);
  if (concurrency === runs && runs < Math.min(byCpu, MAX_DEFAULT_CONCURRENCY))
    limits.push(`capped at the plan's ${runs} run(s)`);
  return { concurrency, reason: `default for the local platform: ${limits.join(', ')}` };
}

/**
 * The lag figures a run is judged by: the lag of the event loops that stamp its timestamps. The
 * harness's loop stamps the timeline (Flagger's events, the operator, route changes) and, with the
 * built-in generator, which runs on that same loop, every answer (impact, recovery). A record's
 * sentMs is its slot, not the moment it left, so the built-in generator's send lag (how late
 * requests left against their schedule, timer granularity included) shifts arrivals, not stamps;
 * runs.csv keeps it. k6 stamps answers in its own process, where no loop lag is measured: its
 * send lag is the figure it is judged by.
 */
export interface RunLag {
  loopLagP99WallMs: number;
  /** k6's send lag p99; 0 for the built-in generator, whose stamps are the harness loop's. */
  loadLagP99WallMs: number;
  timeScale: number;
}

/** A journaled run's lag figures (no event-loop figure in journals written before concurrency). */
export function runLagOf(run: {
  harness?: Pick<NonNullable<RunEntry['harness']>, 'loopLagP99WallMs'>;
  load: Pick<RunEntry['load'], 'sendLagP99WallMs' | 'generator'>;
  timeScale: number;
}): RunLag {
  return {
    loopLagP99WallMs: run.harness?.loopLagP99WallMs ?? 0,
    loadLagP99WallMs: isBuiltinLoad(run.load.generator) ? 0 : run.load.sendLagP99WallMs,
    timeScale: run.timeScale,
  };
}

/** The worst timestamp shift the lag could cause, scenario ms. */
export function lagScenarioMs(lag: RunLag): number {
  return Math.max(lag.loopLagP99WallMs, lag.loadLagP99WallMs) * lag.timeScale;
}

export function exceedsLagBound(lag: RunLag): boolean {
  return lagScenarioMs(lag) > LAG_BOUND_SCENARIO_MS;
}
