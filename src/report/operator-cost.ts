/**
 * The attention a manual operator model costs, per run, for runs.csv: what a person has to spend
 * to reach the MTTR the run measured. One place for it: the break-even table and README read these
 * columns, and the toil counts of docs/design.md §13 (actions per run) belong next to them here.
 */
import type { RunEntry } from '../experiment/journal.ts';
import { Marks } from '../timeline/types.ts';

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
