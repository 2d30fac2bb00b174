import { stringify } from 'csv-stringify/sync';
import type { RunEntry } from '../experiment/journal.ts';
import { toMicroseconds } from '../experiment/requests-file.ts';
import { exceedsLagBound, runLagOf } from '../experiment/concurrency.ts';
import { operatorAttention, runToil } from './operator-cost.ts';

/** Columns of runs.csv, in order. Times (`*_ms`) are scenario ms to the microsecond, as in requests/*.csv; durations (`*_s`) are scenario seconds; empty when undefined. */
export const RUNS_CSV_COLUMNS = [
  'experiment',
  'run_id',
  'arm',
  'scenario',
  'sweep',
  'repetition',
  'seed',
  'outcome',
  'release_ms',
  'impact_ms',
  'detect_ms',
  'mitigate_ms',
  'recover_ms',
  'promoted_ms',
  'end_ms',
  'mttr_s',
  'ttr_release_s',
  'ttd_s',
  'ttm_s',
  'censored_at_s',
  'failed_requests',
  'slow_requests',
  'bad_requests',
  'total_requests',
  'peak_error_rate',
  'time_scale',
  'platform',
  'load_generator',
  'abort_reason',
  'looks_per_hour',
  'pages',
  'slot',
  'concurrency',
  'loop_lag_p99_ms',
  'loop_lag_max_ms',
  'send_lag_p99_ms',
  'send_lag_max_ms',
  'lag_flagged',
  'manual_actions',
  'operator_busy_s',
  'values_edits',
  'helm_commands',
  'dashboard_looks',
  'pages_acknowledged',
  'edit_errors',
] as const;

const ms = (v: number | undefined) => (v === undefined ? '' : toMicroseconds(v));
const sec = (v: number | undefined) => (v === undefined ? '' : Number(v.toFixed(3)));

export function runsCsvRows(
  experiment: string,
  runs: readonly RunEntry[],
): Array<Record<(typeof RUNS_CSV_COLUMNS)[number], string | number>> {
  return runs.map((run) => {
    const m = run.metrics;
    const attention = operatorAttention(run);
    const toil = runToil(run);
    return {
      experiment,
      run_id: run.runId,
      arm: run.arm,
      scenario: run.scenario,
      sweep: run.sweepLabel ?? '',
      repetition: run.repetition,
      seed: run.seed,
      outcome: m.outcome,
      release_ms: ms(m.releaseMs),
      impact_ms: ms(m.impactMs),
      detect_ms: ms(m.detectMs),
      mitigate_ms: ms(m.mitigateMs),
      recover_ms: ms(m.recoverMs),
      promoted_ms: ms(m.promotedMs),
      end_ms: ms(m.endMs),
      mttr_s: sec(m.mttrS),
      ttr_release_s: sec(m.ttrReleaseS),
      ttd_s: sec(m.ttdS),
      ttm_s: sec(m.ttmS),
      censored_at_s: sec(m.censoredAtS),
      failed_requests: m.failedRequests,
      // Empty for a run journaled before the SLO (docs/design.md §12): it counted failures only.
      slow_requests: m.slowRequests ?? '',
      bad_requests: m.badRequests ?? '',
      total_requests: m.totalRequests,
      peak_error_rate: Number(m.peakErrorRate.toFixed(4)),
      time_scale: run.timeScale,
      platform: run.platform.platform ?? '',
      load_generator: run.load.generator,
      abort_reason: m.abortReason ?? '',
      // The manual operator's attention (report/operator-cost.ts); empty for Flagger runs.
      looks_per_hour: attention.looksPerHour === undefined ? '' : Number(attention.looksPerHour.toFixed(3)),
      pages: attention.pages ?? '',
      // Where the run ran and how late the harness was, wall ms (docs/design.md §10); empty in
      // journals written before concurrency.
      slot: run.harness?.slot ?? '',
      concurrency: run.harness?.concurrency ?? '',
      loop_lag_p99_ms: run.harness?.loopLagP99WallMs ?? '',
      loop_lag_max_ms: run.harness?.loopLagMaxWallMs ?? '',
      send_lag_p99_ms: run.load.sendLagP99WallMs,
      send_lag_max_ms: run.load.sendLagMaxWallMs ?? '',
      lag_flagged: run.harness ? (runLagFlagged(run) ? 1 : 0) : '',
      // Toil (docs/design.md §13): 0 in a Flagger run, by measurement.
      manual_actions: toil.manualActions,
      operator_busy_s: sec(toil.operatorBusyS),
      values_edits: toil.byAction['values-edit'],
      helm_commands: toil.byAction['helm-command'],
      dashboard_looks: toil.byAction['dashboard-look'],
      pages_acknowledged: toil.byAction['page-acknowledged'],
      edit_errors: toil.editErrors,
    };
  });
}

export function renderRunsCsv(experiment: string, runs: readonly RunEntry[]): string {
  return stringify(runsCsvRows(experiment, runs), { header: true, columns: [...RUNS_CSV_COLUMNS] });
}

/** Whether a run's lag could have shifted its timestamps beyond the bound (experiment/concurrency.ts). */
export function runLagFlagged(run: RunEntry): boolean {
  return exceedsLagBound(runLagOf(run));
}
