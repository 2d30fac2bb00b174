/**
 * Figures of one finished experiment, for the experiment and concurrency benchmarks: how fast it
 * ran (runs per wall minute, the lag its runs saw, how many were flagged) from its journal, and
 * the report's MTTR answer from its runs.csv, through the report's own verdict (report/verdict.ts),
 * so the bench quotes exactly what the report says.
 */
import { parse } from 'csv-parse/sync';
import type { ExperimentHeader, RunEntry } from '../experiment/journal.ts';
import { runLagFlagged } from '../report/runs-csv.ts';
import { runRowsFromCsv } from '../report/run-rows.ts';
import { scenarioVerdicts } from '../report/verdict.ts';
import { spreadOf } from './stats.ts';

export interface ExperimentPace {
  runs: number;
  /** From the journal header's start to the end of the last run (wall ms of the Date clock). */
  spanMs: number;
  runsPerMinute: number;
  /** Median over runs of each run's harness event-loop lag p99, wall ms; undefined without any. */
  loopLagP99MedianWallMs?: number;
  /** Median over runs of each run's send-lag p99, wall ms. */
  sendLagP99MedianWallMs?: number;
  /** Runs whose lag exceeds the bound (runs.csv `lag_flagged`). */
  lagFlagged: number;
  /** Concurrency the experiment started with, and the lowest any run started at (the runner lowers it on lag). */
  concurrencyStarted?: number;
  concurrencyLowest?: number;
}

export function experimentPace(
  header: Pick<ExperimentHeader, 'startedAt' | 'concurrency'>,
  runs: readonly RunEntry[],
): ExperimentPace {
  const start = Date.parse(header.startedAt);
  const end = Math.max(start, ...runs.map((r) => Date.parse(r.startedAt) + r.wallMs));
  const spanMs = end - start;
  const withHarness = runs.flatMap((r) => (r.harness ? [r.harness] : []));
  const levels = withHarness.map((h) => h.concurrency);
  return {
    runs: runs.length,
    spanMs,
    runsPerMinute: spanMs > 0 ? (runs.length * 60_000) / spanMs : 0,
    loopLagP99MedianWallMs: spreadOf(withHarness.map((h) => h.loopLagP99WallMs))?.median,
    sendLagP99MedianWallMs: spreadOf(runs.map((r) => r.load.sendLagP99WallMs))?.median,
    lagFlagged: runs.filter(runLagFlagged).length,
    concurrencyStarted: header.concurrency,
    concurrencyLowest: levels.length > 0 ? Math.min(...levels) : undefined,
  };
}

/** The report's MTTR comparison of one scenario: manual against Flagger. */
export interface MttrAnswer {
  scenario: string;
  /** Rows of the scenario's unswept cells in runs.csv, whatever their outcome. */
  runsPerArm: { manual: number; flagger: number };
  /** Runs the comparison uses (with impact: an MTTR, or censored). */
  comparedPerArm: { manual: number; flagger: number };
  /** Two-sided Mann–Whitney p. */
  p?: number;
  /** median(manual) − median(Flagger) MTTR, s, and its 95% bootstrap CI. */
  differenceS?: number;
  lowerS?: number;
  upperS?: number;
  /** Whether the CI lies wholly on one side of 0. */
  excludesZero: boolean;
}

/** From runs.csv text; undefined when the scenario lacks a manual or a Flagger cell. */
export function mttrAnswer(runsCsv: string, scenario: string): MttrAnswer | undefined {
  const rows = runRowsFromCsv(parse(runsCsv, { columns: true }) as Array<Record<string, string>>);
  const verdict = scenarioVerdicts(rows).find((v) => v.scenario === scenario);
  if (!verdict) return undefined;
  const count = (arm: string) => rows.filter((r) => r.scenario === scenario && r.sweep === '' && r.arm === arm).length;
  const { estimate, lower, upper } = verdict.difference;
  return {
    scenario,
    runsPerArm: { manual: count('manual'), flagger: count('flagger') },
    comparedPerArm: { manual: verdict.nManual, flagger: verdict.nFlagger },
    p: verdict.p,
    differenceS: estimate,
    lowerS: lower,
    upperS: upper,
    excludesZero: lower !== undefined && upper !== undefined && (lower > 0 || upper < 0),
  };
}
