import type { RunEntry } from '../experiment/journal.ts';
import { Outcomes, type Outcome } from '../timeline/types.ts';

export interface Spread {
  n: number;
  median?: number;
  q1?: number;
  q3?: number;
}

/** Per scenario and arm: counts of outcomes and the spread of each duration. */
export interface CellSummary {
  scenario: string;
  sweep: string;
  arm: 'manual' | 'flagger';
  n: number;
  outcomes: Record<Outcome, number>;
  mttrS: Spread;
  ttrReleaseS: Spread;
  ttdS: Spread;
  ttmS: Spread;
  failedRequests: Spread;
}

/**
 * Median and quartiles with R's default (type 7) quantiles: linear interpolation between order
 * statistics, what most readers' tools print.
 */
export function spread(values: readonly (number | undefined)[]): Spread {
  const xs = values.filter((v): v is number => v !== undefined && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return { n: 0 };
  return { n: xs.length, median: type7(xs, 0.5), q1: type7(xs, 0.25), q3: type7(xs, 0.75) };
}

function type7(sorted: number[], p: number): number {
  if (sorted.length === 1) return sorted[0]!;
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function summarizeCells(runs: readonly RunEntry[]): CellSummary[] {
  const cells = new Map<string, RunEntry[]>();
  for (const run of runs) {
    const key = `${run.scenario}\u0000${run.sweepLabel ?? ''}\u0000${run.arm}`;
    const list = cells.get(key) ?? [];
    list.push(run);
    cells.set(key, list);
  }
  return [...cells.values()].map((list) => {
    const outcomes = Object.fromEntries(Outcomes.map((o) => [o, 0])) as Record<Outcome, number>;
    for (const r of list) outcomes[r.metrics.outcome]++;
    return {
      scenario: list[0]!.scenario,
      sweep: list[0]!.sweepLabel ?? '',
      arm: list[0]!.arm,
      n: list.length,
      outcomes,
      mttrS: spread(list.map((r) => r.metrics.mttrS)),
      ttrReleaseS: spread(list.map((r) => r.metrics.ttrReleaseS)),
      ttdS: spread(list.map((r) => r.metrics.ttdS)),
      ttmS: spread(list.map((r) => r.metrics.ttmS)),
      failedRequests: spread(list.map((r) => r.metrics.failedRequests)),
    };
  });
}
