import type { TopLevelSpec } from 'vega-lite';
import { summarize } from '../stats/index.ts';
import { fmt, type RunRow } from './run-rows.ts';
import type { ReportTable } from './model.ts';

/** One cell of the fault × arm matrix, straight from runs.csv rows. */
export interface MatrixCell {
  scenario: string;
  arm: 'manual' | 'flagger';
  n: number;
  rolledBack: number;
  promoted: number;
  censored: number;
  noImpact: number;
  aborted: number;
  medianFailed?: number;
  /** Medians of slow and bad (failed + slow) requests; undefined for runs.csv files older than the SLO. */
  medianSlow?: number;
  medianBad?: number;
  medianMttrS?: number;
  medianTtrReleaseS?: number;
}

export function matrixCells(rows: readonly RunRow[]): MatrixCell[] {
  const scenarios = [...new Set(rows.map((r) => r.scenario))];
  const out: MatrixCell[] = [];
  for (const scenario of scenarios) {
    for (const arm of ['manual', 'flagger'] as const) {
      const mine = rows.filter((r) => r.scenario === scenario && r.arm === arm);
      if (mine.length === 0) continue;
      const count = (o: string) => mine.filter((r) => r.outcome === o).length;
      const med = (xs: Array<number | undefined>) => summarize(xs.filter((x): x is number => x !== undefined)).median;
      out.push({
        scenario,
        arm,
        n: mine.length,
        rolledBack: count('rolled_back'),
        promoted: count('promoted'),
        censored: count('censored'),
        noImpact: count('no_impact'),
        aborted: count('aborted'),
        medianFailed: med(mine.map((r) => r.failedRequests)),
        medianSlow: med(mine.map((r) => r.slowRequests)),
        medianBad: med(mine.map((r) => r.badRequests)),
        medianMttrS: med(mine.map((r) => r.mttrS)),
        medianTtrReleaseS: med(mine.map((r) => r.ttrReleaseS)),
      });
    }
  }
  return out;
}

export function outcomeText(c: MatrixCell): string {
  const parts: string[] = [];
  if (c.rolledBack) parts.push(`rolled back ${c.rolledBack}`);
  if (c.promoted) parts.push(`promoted ${c.promoted}`);
  if (c.censored) parts.push(`censored ${c.censored}`);
  if (c.noImpact) parts.push(`no impact ${c.noImpact}`);
  if (c.aborted) parts.push(`aborted ${c.aborted}`);
  return `${parts.join(', ')} (n ${c.n})`;
}

export const MATRIX_COLUMNS = [
  'fault',
  'arm',
  'outcomes',
  'failed requests (median)',
  'MTTR s (median)',
  'release→recover s (median)',
];

/** The columns once runs.csv counts slow and bad requests (docs/design.md §12). */
export const MATRIX_COLUMNS_SLO = [
  'fault',
  'arm',
  'outcomes',
  'failed requests (median)',
  'slow requests (median)',
  'bad requests (median)',
  'MTTR s (median)',
  'release→recover s (median)',
];

/** Whether the runs counted slow requests: runs.csv files older than the SLO counted failures only. */
const countsSlow = (cells: readonly MatrixCell[]) => cells.some((c) => c.medianBad !== undefined);

/** The requests a cell's users had trouble with: bad ones where counted, else failed ones. */
function troubleText(c: MatrixCell): string {
  return c.medianBad === undefined
    ? `${fmt(c.medianFailed, 0)} failed requests`
    : `${fmt(c.medianBad, 0)} bad requests`;
}

export function matrixTable(cells: readonly MatrixCell[]): ReportTable {
  const slo = countsSlow(cells);
  return {
    id: 'fault-matrix',
    title: 'Fault × arm matrix',
    note:
      'Per fault and arm: outcome counts, and medians over the runs where the figure is defined (MTTR and release→recover only for runs that recovered).' +
      (slo
        ? " A request is bad when it failed or was slower than the scenario's SLO latency limit (slow); impact and MTTR count bad requests."
        : ''),
    columns: slo ? MATRIX_COLUMNS_SLO : MATRIX_COLUMNS,
    align: slo ? ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r'] : ['l', 'l', 'l', 'r', 'r', 'r'],
    rows: cells.map((c) => [
      c.scenario,
      c.arm,
      outcomeText(c),
      fmt(c.medianFailed, 0),
      ...(slo ? [fmt(c.medianSlow, 0), fmt(c.medianBad, 0)] : []),
      fmt(c.medianMttrS),
      fmt(c.medianTtrReleaseS),
    ]),
  };
}

const armName = { manual: 'The manual process', flagger: 'Flagger' } as const;

/**
 * "What each mechanism catches", written from the matrix: per arm, the faults it rolled back in
 * most runs (with the median release→recover), the faults it promoted, and the faults it left
 * unrecovered. Nothing in it is typed by hand.
 */
export function catchesParagraphs(cells: readonly MatrixCell[], faulty: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const arm of ['flagger', 'manual'] as const) {
    const mine = cells.filter((c) => c.arm === arm);
    if (mine.length === 0) continue;
    const caught = mine.filter((c) => faulty.has(c.scenario) && c.rolledBack * 2 > c.n);
    const promotedFaulty = mine.filter((c) => faulty.has(c.scenario) && c.promoted * 2 > c.n);
    const missed = mine.filter((c) => faulty.has(c.scenario) && c.rolledBack * 2 <= c.n && c.promoted * 2 <= c.n);
    const falseAlarms = mine.filter((c) => !faulty.has(c.scenario) && c.rolledBack > 0);
    const list = (cs: MatrixCell[], detail: (c: MatrixCell) => string) =>
      cs.map((c) => `${c.scenario} (${detail(c)})`).join(', ');
    const sentences: string[] = [];
    sentences.push(
      caught.length === 0
        ? `${armName[arm]} rolled back none of the faulty releases in most of its runs.`
        : `${armName[arm]} rolled back ${list(caught, (c) => `${c.rolledBack}/${c.n}; release→recover ${fmt(c.medianTtrReleaseS)} s, ${troubleText(c)}`)}.`,
    );
    if (promotedFaulty.length > 0) {
      sentences.push(
        `It promoted the faulty ${list(promotedFaulty, (c) => `${c.promoted}/${c.n}; ${troubleText(c)}`)}.`,
      );
    }
    if (missed.length > 0) {
      sentences.push(
        `It left unrecovered by the deadline ${list(missed, (c) => `${c.censored + c.noImpact}/${c.n} runs; ${troubleText(c)}`)}.`,
      );
    }
    if (falseAlarms.length > 0)
      sentences.push(`It rolled back a healthy release in ${list(falseAlarms, (c) => `${c.rolledBack}/${c.n}`)}.`);
    out.push(sentences.join(' '));
  }
  return out;
}

/**
 * The matrix as a heatmap: fault × arm, colour = median bad requests (failed ones in runs.csv
 * files older than the SLO; log scale), with the outcome counts written in each cell.
 */
export function matrixHeatmapSpec(cells: readonly MatrixCell[]): TopLevelSpec {
  const noun = countsSlow(cells) ? 'bad requests' : 'failed requests';
  const values = cells.map((c) => {
    const trouble = (countsSlow(cells) ? c.medianBad : c.medianFailed) ?? 0;
    return {
      fault: c.scenario,
      arm: c.arm,
      failed: trouble,
      colour: trouble + 1,
      outcome: outcomeText(c).replace(/ \(n \d+\)$/, ''),
      mttr: c.medianMttrS === undefined ? '' : `MTTR ${fmt(c.medianMttrS)} s`,
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Fault × arm', subtitle: `colour: median ${noun} per run; text: outcomes and median MTTR` },
    data: { values },
    width: 260,
    height: { step: 36 },
    encoding: {
      x: { field: 'arm', type: 'nominal', title: 'arm', sort: ['manual', 'flagger'], axis: { labelAngle: 0 } },
      y: { field: 'fault', type: 'nominal', title: 'fault', sort: null },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white' },
        encoding: {
          color: {
            field: 'colour',
            type: 'quantitative',
            scale: { type: 'log', scheme: 'orangered' },
            title: `${noun} + 1`,
          },
          tooltip: [
            { field: 'fault' },
            { field: 'arm' },
            { field: 'outcome' },
            { field: 'failed', title: `median ${noun}` },
          ],
        },
      },
      { mark: { type: 'text', baseline: 'bottom', dy: -1, fontSize: 9 }, encoding: { text: { field: 'outcome' } } },
      { mark: { type: 'text', baseline: 'top', dy: 1, fontSize: 9 }, encoding: { text: { field: 'mttr' } } },
    ],
  } as TopLevelSpec;
}
