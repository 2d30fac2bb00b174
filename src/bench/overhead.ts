import type { RunMetrics } from '../timeline/types.ts';

/**
 * The part of a run the scenario itself prescribes, in scenario ms: the warm-up, then release →
 * the end of the clean window that confirmed the outcome (recover + W after a rollback, promoted
 * + W after a promotion, the deadline or the run's end otherwise). Everything else in the run's
 * wall time — restore, the warm-up check, the watch loop noticing the end late, the drain,
 * computing the metrics, writing the requests file and the journal line — is harness overhead.
 */
export function scenarioPhasesMs(
  metrics: Pick<RunMetrics, 'releaseMs' | 'recoverMs' | 'promotedMs' | 'endMs' | 'outcome'>,
  warmupMs: number,
  cleanWindowMs: number,
): number {
  if (metrics.outcome === 'aborted') return 0;
  const sealed = metrics.recoverMs ?? metrics.promotedMs;
  const endMs = sealed === undefined ? metrics.endMs : Math.min(metrics.endMs, sealed + cleanWindowMs);
  return warmupMs + Math.max(0, endMs - metrics.releaseMs);
}

export interface RunOverhead {
  runWallMs: number;
  scenarioWallMs: number;
  overheadWallMs: number;
  /** overheadWallMs / runWallMs. */
  share: number;
}

export function runOverhead(runWallMs: number, scenarioMs: number, timeScale: number): RunOverhead {
  const scenarioWallMs = scenarioMs / timeScale;
  const overheadWallMs = runWallMs - scenarioWallMs;
  return { runWallMs, scenarioWallMs, overheadWallMs, share: runWallMs > 0 ? overheadWallMs / runWallMs : 0 };
}
