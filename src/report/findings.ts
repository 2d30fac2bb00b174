import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { lagScenarioMs } from '../experiment/concurrency.ts';
import { JOURNAL_FILE, readJournal } from '../experiment/journal.ts';
import { mannWhitney, summarize, varghaDelaneyA12 } from '../stats/index.ts';
import { breakEvenGroups, breakEvenParagraph, breakEvenTable } from './break-even.ts';
import { fmt, fmtP, runRowsFromCsv, type RunRow } from './run-rows.ts';
import { flaggerTimingLaw, renderTableMarkdown } from './markdown.ts';
import type { ReportTable } from './model.ts';
import { catchesParagraphs, matrixCells, matrixTable, outcomeText } from './matrix.ts';
import { scrapeCells, scrapeParagraphs, scrapeTable } from './scrape-sweep.ts';

/** The faulty scenarios of the catalogue: every one but `healthy`. */
export const FAULTY = new Set([
  'faulty-500',
  'faulty-500-smoke',
  'partial-5pct',
  'partial-0.5pct',
  'delayed-onset',
  'latency-800ms',
  'crash-loop',
]);

function readRows(runsCsvFile: string): RunRow[] {
  return runRowsFromCsv(parse(readFileSync(runsCsvFile, 'utf8'), { columns: true }));
}

/** The README's findings block (matrix table and generated paragraphs), from a runs.csv. */
export function findingsMarkdown(runsCsvFile: string): string {
  const cells = matrixCells(readRows(runsCsvFile));
  const table = matrixTable(cells);
  return [
    ...catchesParagraphs(cells, FAULTY).flatMap((p) => [p, '']),
    ...renderTableMarkdown({ ...table, note: undefined }),
  ]
    .join('\n')
    .trimEnd();
}

/** The proposal's limit on release → automated rollback, and what it expects. */
const PROPOSAL_LIMIT_S = 120;

/**
 * The README's block on the proposal's own settings, from a runs.csv: the faulty-500 comparison
 * in one paragraph (the 120 s criterion, user impact, time to recovery per arm) and the matrix
 * table. Nothing in it is typed by hand.
 */
export function proposalMarkdown(runsCsvFile: string): string {
  const rows = readRows(runsCsvFile);
  const faulty = rows.filter((r) => r.scenario === 'faulty-500');
  const flagger = faulty.filter((r) => r.arm === 'flagger');
  const manual = faulty.filter((r) => r.arm === 'manual');
  const rollbacks = flagger.map((r) => r.releaseToRollbackS).filter((s): s is number => s !== undefined);
  const under = rollbacks.filter((s) => s < PROPOSAL_LIMIT_S).length;
  const values = (rs: RunRow[], pick: (r: RunRow) => number | undefined) =>
    rs.map(pick).filter((x): x is number => x !== undefined);
  const median = (rs: RunRow[], pick: (r: RunRow) => number | undefined) => summarize(values(rs, pick)).median;
  const test = (pick: (r: RunRow) => number | undefined) => {
    const [f, m] = [values(flagger, pick), values(manual, pick)];
    return { p: fmtP(mannWhitney(f, m).p), a12: fmt(varghaDelaneyA12(f, m).a12, 2) };
  };
  const mttr = test((r) => r.mttrS);
  const ttr = test((r) => r.ttrReleaseS);
  const range = (xs: number[]) => (xs.length === 0 ? '—' : `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))} s`);
  const sentences = [
    `Flagger rolled back ${under} of ${flagger.length} faulty-500 releases within ${PROPOSAL_LIMIT_S} s of the release ` +
      `(release→rollback ${range(rollbacks)}; the proposal requires under ${PROPOSAL_LIMIT_S} s in every run: ${under === flagger.length && flagger.length > 0 ? 'met' : 'not met'}).`,
    `Median MTTR (first failed request to recovery): Flagger ${fmt(median(flagger, (r) => r.mttrS))} s, the manual canary ${fmt(median(manual, (r) => r.mttrS))} s; ` +
      `median failed requests per run: Flagger ${fmt(
        median(flagger, (r) => r.failedRequests),
        0,
      )}, manual ${fmt(
        median(manual, (r) => r.failedRequests),
        0,
      )}; ` +
      `median release→recover: Flagger ${fmt(median(flagger, (r) => r.ttrReleaseS))} s, manual ${fmt(median(manual, (r) => r.ttrReleaseS))} s.`,
    `Two-sided Mann–Whitney, Flagger against manual: MTTR p = ${mttr.p} (A12 ${mttr.a12}), release→recover p = ${ttr.p} (A12 ${ttr.a12}).`,
  ];
  const table = matrixTable(matrixCells(rows));
  return [sentences.join(' '), '', ...renderTableMarkdown({ ...table, note: undefined })].join('\n').trimEnd();
}

/**
 * The README's break-even block for one operator sweep, from its runs.csv: where the manual arm
 * is faster than Flagger, not distinguishable or slower, in words, and the table per cell.
 */
export function breakEvenMarkdown(runsCsvFile: string): string {
  const rows = readRows(runsCsvFile);
  return breakEvenGroups(rows)
    .flatMap((g, i) => [
      breakEvenParagraph(g, rows),
      '',
      ...renderTableMarkdown({ ...breakEvenTable(g, i + 1), note: undefined }),
    ])
    .join('\n')
    .trimEnd();
}

/**
 * The README's block on the scrape-interval sweep, from its runs.csv: the two-scrapes rule with
 * its measured cost, how each arm's MTTR and false negatives move, and the table per cell.
 */
export function scrapeSweepMarkdown(runsCsvFile: string): string {
  const cells = scrapeCells(readRows(runsCsvFile));
  const csv = parse(readFileSync(runsCsvFile, 'utf8'), { columns: true }) as Array<Record<string, string>>;
  const shifts = csv.map((r) =>
    lagScenarioMs({
      loopLagP99WallMs: Number(r.loop_lag_p99_ms),
      sendLagP99WallMs: Number(r.send_lag_p99_ms),
      timeScale: Number(r.time_scale),
    }),
  );
  const lag =
    `Runs over the harness's lag bound (docs/design.md §10): ${csv.filter((r) => r.lag_flagged === '1').length} of ${csv.length}; ` +
    `the median run's p99 lag (event loop or load generator) could shift a timestamp by ${fmt(summarize(shifts).median, 0)} ms of scenario time.`;
  return [
    ...scrapeParagraphs(cells).flatMap((p) => [p, '']),
    lag,
    '',
    ...renderTableMarkdown({ ...scrapeTable(cells), note: undefined }),
  ]
    .join('\n')
    .trimEnd();
}

/** One report folder of the concurrency comparison: its runs, and the law of each faulty scenario. */
interface ConcurrencyRun {
  rows: RunRow[];
  concurrency: number;
  flagged: number;
  /** Flagger's release→rollback law per faulty scenario of the plan, seconds. */
  laws: Map<string, [number, number]>;
}

function readConcurrencyRun(folder: string): ConcurrencyRun {
  const csv = parse(readFileSync(path.join(folder, 'runs.csv'), 'utf8'), { columns: true }) as Array<
    Record<string, string>
  >;
  const journal = readJournal(path.join(folder, JOURNAL_FILE));
  const faulty = (journal.header?.scenarios ?? []).filter((s) => s.release.fault !== 'none');
  return {
    rows: runRowsFromCsv(csv),
    concurrency: journal.header?.concurrency ?? 1,
    flagged: csv.filter((r) => r.lag_flagged === '1').length,
    laws: new Map(faulty.map((s) => [s.name, flaggerTimingLaw(s).rollback])),
  };
}

/** "at concurrency N, k of n inside (lo, hi] s (range)", per faulty scenario of one run. */
function lawSentence(run: ConcurrencyRun): string {
  return [...run.laws]
    .map(([scenario, [lo, hi]]) => {
      const flagger = run.rows.filter((r) => r.scenario === scenario && r.arm === 'flagger');
      const times = flagger.map((r) => r.releaseToRollbackS).filter((s): s is number => s !== undefined);
      const inside = times.filter((s) => s > lo && s <= hi).length;
      const range = times.length ? ` (${fmt(Math.min(...times))}–${fmt(Math.max(...times))} s)` : '';
      return `${scenario} at concurrency ${run.concurrency}: ${inside} of ${flagger.length} releases rolled back inside (${lo}, ${hi}] s${range}`;
    })
    .join('; ');
}

/**
 * The README's check that concurrency does not change the science (docs/design.md §10): the same
 * plan and seed at concurrency 1 (folder `a`) and at the default (folder `b`). Flagger's
 * release→rollback against the timing law in every faulty run, the lag-flagged runs, and per
 * scenario and arm the outcomes and MTTR medians with A12 and the two-sided Mann–Whitney p of b
 * against a. From the two runs.csv (and the journals' scenarios, for the law).
 */
export function concurrencyMarkdown(a: string, b: string): string {
  const runs = [readConcurrencyRun(a), readConcurrencyRun(b)] as const;
  const [ca, cb] = [runs[0].concurrency, runs[1].concurrency];
  const cells = runs.map((run) => matrixCells(run.rows));
  const tableRows = cells[0]!.map((cellA) => {
    const cellB = cells[1]!.find((c) => c.scenario === cellA.scenario && c.arm === cellA.arm);
    const [xa, xb] = runs.map((run) =>
      run.rows
        .filter((r) => r.scenario === cellA.scenario && r.arm === cellA.arm && r.mttrS !== undefined)
        .map((r) => r.mttrS!),
    ) as [number[], number[]];
    const tested = xa.length > 0 && xb.length > 0;
    return [
      cellA.scenario,
      cellA.arm,
      outcomeText(cellA),
      cellB ? outcomeText(cellB) : '—',
      fmt(cellA.medianMttrS),
      fmt(cellB?.medianMttrS),
      tested ? fmt(varghaDelaneyA12(xb, xa).a12, 2) : '—',
      tested ? fmtP(mannWhitney(xb, xa).p) : '—',
    ];
  });
  const paragraph =
    `Flagger's release→rollback, ${lawSentence(runs[0])}; ${lawSentence(runs[1])}. ` +
    `Runs over the lag bound: ${runs[0].flagged} of ${runs[0].rows.length} at concurrency ${ca}, ${runs[1].flagged} of ${runs[1].rows.length} at ${cb}. ` +
    `Per scenario and arm, the outcomes and the MTTR at both (A12 is the probability that a run at ${cb} has the longer MTTR; 0.5 is no difference):`;
  const table: ReportTable = {
    id: 'concurrency-check',
    title: 'The same plan at two concurrencies',
    columns: [
      'scenario',
      'arm',
      `outcomes at ${ca}`,
      `outcomes at ${cb}`,
      `MTTR s, median at ${ca}`,
      `MTTR s, median at ${cb}`,
      `A12 (${cb} vs ${ca})`,
      'p (two-sided)',
    ],
    align: ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r'],
    rows: tableRows,
  };
  return [paragraph, '', ...renderTableMarkdown(table)].join('\n').trimEnd();
}
