/**
 * The attention a manual operator model costs, per run, for runs.csv: what a person has to spend
 * to reach the MTTR the run measured. One place for it: the break-even table, the toil table and
 * README read these columns.
 */
import type { RunEntry } from '../experiment/journal.ts';
import { type ManualAction, Marks } from '../timeline/types.ts';

/** The timeline mark the alert operator writes when Alertmanager sends the page (src/operator/alert.ts). */
export const PAGE_MARK = Marks.alertNotified;

export interface OperatorAttention {
  /**
   * Looks at the dashboard per hour of watching: the dashboard operator's schedule, 3600 /
   * lookIntervalS. It is paid for every hour on watch, with or without a bad release.
   */
  looksPerHour?: number;
  /** Pages sent to the alert operator in this run, counted in its timeline. */
  pages?: number;
}

/** Undefined fields for a Flagger run and for operators without that kind of attention. */
export function operatorAttention(run: Pick<RunEntry, 'arm' | 'operator' | 'timeline'>): OperatorAttention {
  const op = run.operator;
  if (run.arm !== 'manual' || !op) return {};
  if (op.kind === 'dashboard' && typeof op.lookIntervalS === 'number' && op.lookIntervalS > 0)
    return { looksPerHour: 3600 / op.lookIntervalS };
  if (op.kind === 'alert') return { pages: run.timeline.filter((e) => e.kind === PAGE_MARK).length };
  return {};
}

/** The toil of one run (docs/design.md §13): the manual actions it took, by kind, and the busy time. */
export interface RunToil {
  byAction: Record<ManualAction, number>;
  manualActions: number;
  /** Scenario seconds the actions kept the person busy. */
  operatorBusyS: number;
  /** Values edits that went wrong (manual.editErrorRate). */
  editErrors: number;
}

/**
 * Counts the `manual-action` lines of a run's timeline. A Flagger run has none: its release is an
 * image change, and the rest is Flagger's. Zero, not missing, so the criterion is a measurement.
 */
export function runToil(run: Pick<RunEntry, 'timeline'>): RunToil {
  const byAction: Record<ManualAction, number> = {
    'values-edit': 0,
    'helm-command': 0,
    'dashboard-look': 0,
    'page-acknowledged': 0,
  };
  let busyMs = 0;
  let editErrors = 0;
  for (const e of run.timeline) {
    if (e.kind !== Marks.manualAction || e.action === undefined) continue;
    byAction[e.action]++;
    busyMs += e.busyMs ?? 0;
    if (e.editError) editErrors++;
  }
  const manualActions = Object.values(byAction).reduce((a, b) => a + b, 0);
  return { byAction, manualActions, operatorBusyS: busyMs / 1000, editErrors };
}
