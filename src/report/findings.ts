import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { JOURNAL_FILE, readJournal } from '../experiment/journal.ts';
import { bootstrapMedianCI, mannWhitney, summarize, varghaDelaneyA12 } from '../stats/index.ts';
import { breakEvenGroups, breakEvenParagraph, breakEvenTable } from './break-even.ts';
import { bootstrapSeed, fmt, fmtP, runRowsFromCsv, type RunRow } from './run-rows.ts';
import { flaggerTimingLaw, renderTableMarkdown } from './markdown.ts';
import type { ReportTable } from './model.ts';
import { catchesParagraphs, matrixCells, matrixTable, outcomeText } from './matrix.ts';
import { scrapeCells, scrapeParagraphs, scrapeTable } from './scrape-sweep.ts';
import { servicesCells, servicesParagraphs, servicesTable } from './services.ts';
import { toilTable } from './toil.ts';

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
 * its measured cost, how each arm's MTTR and false negatives move, the runs over the lag bound,
 * and the table per cell.
 */
export function scrapeSweepMarkdown(runsCsvFile: string): string {
  const cells = scrapeCells(readRows(runsCsvFile));
  const paragraphs = scrapeParagraphs(cells);
  if (paragraphs.length > 0) paragraphs[paragraphs.length - 1] += lagSentence(runsCsvFile);
  return [...paragraphs.flatMap((p) => [p, '']), ...renderTableMarkdown({ ...scrapeTable(cells), note: undefined })]
    .join('\n')
    .trimEnd();
}

/** The swept value of one field in a sweep label such as "editErrorRate=0.05". */
function sweptValue(label: string, field: string): number | undefined {
  const match = new RegExp(`(?:^|, )${field}=([^,]+)`).exec(label);
  return match ? Number(match[1]) : undefined;
}

/**
 * The README's block on human error in the values edit (docs/design.md §13), from the runs.csv of
 * experiments/sweep-edit-error.yaml: per swept editErrorRate, how many releases the edit got wrong,
 * the failed requests per release and the MTTR, with Flagger's reference run beside them.
 */
export function editErrorMarkdown(runsCsvFile: string): string {
  const rows = readRows(runsCsvFile);
  const manual = rows.filter((r) => r.arm === 'manual' && sweptValue(r.sweep, 'editErrorRate') !== undefined);
  const rates = [...new Set(manual.map((r) => sweptValue(r.sweep, 'editErrorRate')!))].sort((a, b) => a - b);
  const flagger = rows.filter((r) => r.arm === 'flagger');
  const line = (label: string, rs: RunRow[]) => {
    const failed = summarize(rs.map((r) => r.failedRequests));
    const mttr = rs.flatMap((r) => r.mttrS ?? []);
    const boot = bootstrapMedianCI(mttr, {
      seed: bootstrapSeed('median', { scenario: rs[0]!.scenario, sweep: rs[0]!.sweep, arm: rs[0]!.arm }),
    });
    const errors = rs.reduce((n, r) => n + (r.editErrors ?? 0), 0);
    return {
      mean: failed.mean,
      cells: [
        label,
        String(rs.length),
        rs[0]!.arm === 'flagger' ? '—' : String(errors),
        `${fmt(failed.median, 0)} [${fmt(failed.q1, 0)}–${fmt(failed.q3, 0)}]`,
        fmt(failed.mean, 1),
        boot.estimate === undefined ? '—' : `${fmt(boot.estimate)} [${fmt(boot.lower)}, ${fmt(boot.upper)}]`,
        `${rs.filter((r) => r.outcome === 'rolled_back').length}/${rs.length}`,
      ],
    };
  };
  const lines = rates.map((rate) => ({
    rate,
    ...line(
      String(rate),
      manual.filter((r) => sweptValue(r.sweep, 'editErrorRate') === rate),
    ),
  }));
  const reference = flagger.length > 0 ? line('Flagger (no values edit)', flagger) : undefined;
  const erred = manual.filter((r) => (r.editErrors ?? 0) > 0);
  const right = manual.filter((r) => (r.editErrors ?? 0) === 0);
  const failed = (rs: RunRow[]) => summarize(rs.map((r) => r.failedRequests)).median;
  const mttr = (rs: RunRow[]) => summarize(rs.flatMap((r) => r.mttrS ?? [])).median;
  const means = lines.map((l) => l.mean!);
  const sentences = [
    `Over ${manual.length} manual releases of faulty-500, ${erred.length} had a values edit that set the canary's weight to 100 instead of 10.`,
  ];
  if (erred.length > 0 && right.length > 0) {
    const extra = failed(erred)! - failed(right)!;
    const top = rates.at(-1)!;
    const spread = Math.max(...means) - Math.min(...means);
    const perCell = Math.min(...lines.map((l) => Number(l.cells[1])));
    sentences.push(
      `Those ${erred.length} releases failed a median of ${fmt(failed(erred), 0)} requests (median MTTR ${fmt(mttr(erred))} s), the ones edited right ${fmt(failed(right), 0)} (${fmt(mttr(right))} s): ` +
        `one wrong edit cost ${fmt(failed(erred)! / failed(right)!, 1)} times the failed requests of a release.`,
      `At editErrorRate ${top} that adds ${fmt(top * extra, 0)} failed requests per release on average, while the cells' mean failed requests per release lie ${fmt(spread, 0)} apart (${fmt(Math.min(...means), 1)} to ${fmt(Math.max(...means), 1)}, at least ${perCell} runs per cell)` +
        (spread > top * extra
          ? ": the operator's own spread hides the rates swept; the sweep measures the cost of a wrong edit, not yet that of the rate."
          : ': the cells follow the rate.'),
    );
  }
  if (reference)
    sentences.push(
      `Flagger, which takes no values edit, failed ${fmt(reference.mean, 1)} requests per release on average (median MTTR ${fmt(mttr(flagger))} s).`,
    );
  const paragraph = manual.length === 0 ? 'No manual run of the sweep was found.' : sentences.join(' ');
  const table = {
    id: 'edit-error',
    title: 'Human error in the values edit',
    columns: [
      'editErrorRate',
      'n',
      'edit errors',
      'failed requests median [IQR]',
      'failed requests mean',
      'MTTR median [95% CI] s',
      'rolled back',
    ],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'] as Array<'l' | 'r'>,
    rows: [...lines.map((l) => l.cells), ...(reference ? [reference.cells] : [])],
  };
  return [paragraph, '', ...renderTableMarkdown(table)].join('\n').trimEnd();
}

/** How many runs of a runs.csv were over the harness's lag bound (docs/design.md §10), when it says. */
function lagSentence(runsCsvFile: string): string {
  const csv = parse(readFileSync(runsCsvFile, 'utf8'), { columns: true }) as Array<Record<string, string>>;
  if (csv.length === 0 || !('lag_flagged' in csv[0]!)) return '';
  const flagged = csv.filter((r) => r.lag_flagged === '1').length;
  return ` ${flagged} of ${csv.length} runs were over the harness's lag bound (docs/design.md §10) and are kept; their timings include the machine's stalls.`;
}

/**
 * The README's block on toil (docs/design.md §13), from the runs.csv of experiments/toil.yaml: what a
 * healthy release cost by hand against Flagger, in one paragraph, and the toil table.
 */
export function toilMarkdown(runsCsvFile: string): string {
  const rows = readRows(runsCsvFile);
  const table = toilTable(rows);
  if (!table) return 'This runs.csv has no toil columns.';
  const healthy = (arm: string) => rows.filter((r) => r.scenario === 'healthy' && r.arm === arm);
  const median = (rs: RunRow[], pick: (r: RunRow) => number | undefined) =>
    summarize(rs.flatMap((r) => pick(r) ?? [])).median;
  const [manual, flagger] = [healthy('manual'), healthy('flagger')];
  const promoted = (rs: RunRow[]) => rs.filter((r) => r.outcome === 'promoted').length;
  const paragraph =
    manual.length === 0 || flagger.length === 0
      ? ''
      : `A healthy release took the manual arm a median of ${fmt(
          median(manual, (r) => r.manualActions),
          0,
        )} manual actions ` +
        `(${fmt(
          median(manual, (r) => r.valuesEdits),
          0,
        )} values edits, ${fmt(
          median(manual, (r) => r.helmCommands),
          0,
        )} helm commands, ` +
        `${fmt(
          median(manual, (r) => r.dashboardLooks),
          0,
        )} dashboard looks) and ${fmt(
          median(manual, (r) => r.operatorBusyS),
          0,
        )} s of a person's time; ` +
        `${promoted(manual)} of ${manual.length} were promoted, a median of ${fmt(
          median(manual, (r) => r.releaseToPromotedS),
          0,
        )} s after the release. ` +
        `Flagger promoted ${promoted(flagger)} of ${flagger.length} a median of ${fmt(
          median(flagger, (r) => r.releaseToPromotedS),
          0,
        )} s after the release, ` +
        `with ${fmt(
          median(flagger, (r) => r.manualActions),
          0,
        )} manual actions.` +
        lagSentence(runsCsvFile);
  return [...(paragraph ? [paragraph, ''] : []), ...renderTableMarkdown({ ...table, note: undefined })]
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

/**
 * The README's block on the number of services (docs/design.md §13), from the runs.csv of
 * experiments/sweep-services.yaml: where the manual process stops keeping up, in words, and the
 * table of MTTR and toil per arm and number of services.
 */
export function servicesMarkdown(runsCsvFile: string): string {
  const cells = servicesCells(readRows(runsCsvFile));
  if (cells.length === 0) return 'This runs.csv has no service-count sweep.';
  const paragraphs = servicesParagraphs(cells);
  paragraphs[paragraphs.length - 1] += lagSentence(runsCsvFile);
  return [...paragraphs.flatMap((p) => [p, '']), ...renderTableMarkdown({ ...servicesTable(cells), note: undefined })]
    .join('\n')
    .trimEnd();
}
