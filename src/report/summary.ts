import type { RunEntry } from '../experiment/journal.ts';
import { summarize } from '../stats/index.ts';
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

/** Median and quartiles (R type 7, from the statistics library) of the defined values. */
export function spread(values: readonly (number | undefined)[]): Spread {
  const d = summarize(values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  return d.n === 0 ? { n: 0 } : { n: d.n, median: d.median, q1: d.q1, q3: d.q3 };
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
