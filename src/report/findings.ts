import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { mannWhitney, summarize, varghaDelaneyA12 } from '../stats/index.ts';
import { breakEvenGroups, breakEvenParagraph, breakEvenTable } from './break-even.ts';
import { fmt, fmtP, runRowsFromCsv, type RunRow } from './run-rows.ts';
import { renderTableMarkdown } from './markdown.ts';
import { catchesParagraphs, matrixCells, matrixTable } from './matrix.ts';
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
  return [
    ...scrapeParagraphs(cells).flatMap((p) => [p, '']),
    ...renderTableMarkdown({ ...scrapeTable(cells), note: undefined }),
  ]
    .join('\n')
    .trimEnd();
}
