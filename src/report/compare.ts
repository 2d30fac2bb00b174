import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ReportError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/files.ts';
import { JOURNAL_FILE, readJournal, type ExperimentHeader } from '../experiment/journal.ts';
import { displayPath } from '../scenario/load-files.ts';
import { compareArms, summarize } from '../stats/index.ts';
import { bootstrapSeed, fmt, groupCells, runRowsFromCsv, type RunRow } from './run-rows.ts';
import type { TopLevelSpec } from 'vega-lite';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import { writeCharts } from './render-chart.ts';
import type { ReportModel, ReportTable } from './model.ts';
import { runsCsvRows } from './runs-csv.ts';

export interface LoadedReport {
  dir: string;
  label: string;
  header: ExperimentHeader;
  rows: RunRow[];
  problems: string[];
}

/** Reads a report folder's journal into runs.csv rows; damaged lines are named, not fatal. */
export function loadReport(dir: string): LoadedReport {
  const shown = displayPath(dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new ReportError(`${shown}: no such report folder; pass a folder written by npm run experiment`);
  const file = path.join(dir, JOURNAL_FILE);
  if (!existsSync(file))
    throw new ReportError(`${shown}: has no ${JOURNAL_FILE}; pass a folder written by npm run experiment`);
  const journal = readJournal(file);
  if (!journal.header)
    throw new ReportError(`${displayPath(file)}: no experiment header line; the journal is empty or damaged`);
  if (journal.runs.length === 0)
    throw new ReportError(`${shown}: the journal holds no finished run; nothing to compare`);
  return {
    dir,
    label: `${journal.header.name} (${journal.header.platform}, seed ${journal.header.seed}, ${path.basename(dir)})`,
    header: journal.header,
    rows: runRowsFromCsv(runsCsvRows(journal.header.name, journal.runs)),
    problems: journal.problems.map((p) => `${displayPath(file)}:${p.line}: ${p.message}; line skipped`),
  };
}

const VIEWS: Array<[string, keyof RunRow]> = [
  ['MTTR', 'mttrS'],
  ['release → recover', 'ttrReleaseS'],
  ['TTD', 'ttdS'],
  ['TTM', 'ttmS'],
];

/**
 * Report B against report A, cell by cell (scenario × sweep × arm present in both): the medians,
 * the difference B − A with its bootstrap CI, A12 and the Mann–Whitney p, for every duration view.
 * Typical uses: local against kube, or two seeds of the same plan.
 */
export function buildComparisonModel(a: LoadedReport, b: LoadedReport): ReportModel {
  const cellsA = groupCells(a.rows);
  const cellsB = groupCells(b.rows);
  const rows: string[][] = [];
  const outcomes: string[][] = [];
  const outcomeText = (rs: RunRow[]) =>
    ['rolled_back', 'promoted', 'censored', 'no_impact', 'aborted']
      .map((o) => [o, rs.filter((r) => r.outcome === o).length] as const)
      .filter(([, n]) => n > 0)
      .map(([o, n]) => `${o} ${n}`)
      .join(', ');
  for (const ca of cellsA) {
    const cb = cellsB.find((c) => c.scenario === ca.scenario && c.sweep === ca.sweep && c.arm === ca.arm);
    if (!cb) continue;
    const name = ca.sweep ? `${ca.scenario} (${ca.sweep})` : ca.scenario;
    outcomes.push([
      name,
      ca.arm,
      `${ca.rows.length}: ${outcomeText(ca.rows)}`,
      `${cb.rows.length}: ${outcomeText(cb.rows)}`,
    ]);
    for (const [label, key] of VIEWS) {
      const xa = ca.rows.map((r) => r[key] as number | undefined).filter((v): v is number => v !== undefined);
      const xb = cb.rows.map((r) => r[key] as number | undefined).filter((v): v is number => v !== undefined);
      if (xa.length === 0 || xb.length === 0) {
        rows.push([
          name,
          ca.arm,
          label,
          String(xa.length),
          String(xb.length),
          fmt(summarize(xa).median),
          fmt(summarize(xb).median),
          '—',
          '—',
          '—',
        ]);
        continue;
      }
      const c = compareArms(xa, xb, { seed: bootstrapSeed(`report-compare/${String(key)}`, ca) });
      const d = c.medianDifference;
      rows.push([
        name,
        ca.arm,
        label,
        String(xa.length),
        String(xb.length),
        fmt(c.a.median),
        fmt(c.b.median),
        d.estimate === undefined ? '—' : `${fmt(d.estimate)} [${fmt(d.lower)}, ${fmt(d.upper)}]`,
        `${fmt(c.a12.a12, 2)} ${c.a12.magnitude ?? ''}`.trim(),
        c.mannWhitney.p === undefined
          ? '—'
          : c.mannWhitney.p < 0.001
            ? c.mannWhitney.p.toExponential(1)
            : c.mannWhitney.p.toFixed(3),
      ]);
    }
  }
  const onlyA = cellsA.filter(
    (ca) => !cellsB.some((c) => c.scenario === ca.scenario && c.sweep === ca.sweep && c.arm === ca.arm),
  );
  const onlyB = cellsB.filter(
    (cb) => !cellsA.some((c) => c.scenario === cb.scenario && c.sweep === cb.sweep && c.arm === cb.arm),
  );
  const tables: ReportTable[] = [
    {
      id: 'compare-outcomes',
      title: 'Outcomes',
      columns: ['scenario', 'arm', 'A: n and outcomes', 'B: n and outcomes'],
      rows: outcomes,
    },
    {
      id: 'compare-durations',
      title: 'Durations, B against A',
      note: 'Difference of medians B − A (scenario seconds) with a percentile bootstrap 95% CI; A12 = P(B > A) + ½P(B = A); two-sided Mann–Whitney p.',
      columns: [
        'scenario',
        'arm',
        'view',
        'n A',
        'n B',
        'median A s',
        'median B s',
        'B − A [95% CI] s',
        'A12 (B > A)',
        'p',
      ],
      align: ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows,
    },
  ];
  const paragraphs = [`A: ${a.label}, ${a.rows.length} runs.`, `B: ${b.label}, ${b.rows.length} runs.`];
  if (a.header.timeScale !== b.header.timeScale)
    paragraphs.push(
      `The time scales differ (${a.header.timeScale}× against ${b.header.timeScale}×); all durations are scenario seconds.`,
    );
  if (onlyA.length + onlyB.length > 0) {
    paragraphs.push(
      `Cells in only one report (not compared): ${[...onlyA.map((c) => `A ${c.scenario} ${c.arm}`), ...onlyB.map((c) => `B ${c.scenario} ${c.arm}`)].join('; ')}.`,
    );
  }
  return {
    title: `Comparison: ${a.header.name} against ${b.header.name}`,
    header: b.header,
    runs: [],
    sections: [{ id: 'comparison', title: 'B against A', paragraphs, tables }],
    problems: [...a.problems, ...b.problems],
    footer: `Computed from the journals of ${displayPath(a.dir)} and ${displayPath(b.dir)}: the same rows as their runs.csv.`,
  };
}

/** MTTR of both reports overlaid: per scenario, a box and the runs of each arm in A and in B. */
export function overlaySpec(a: LoadedReport, b: LoadedReport): TopLevelSpec {
  const values = [...a.rows.map((r) => ({ ...r, report: 'A' })), ...b.rows.map((r) => ({ ...r, report: 'B' }))].flatMap(
    (r) => {
      const seconds = r.mttrS ?? r.censoredAtS;
      if (seconds === undefined) return [];
      return [
        {
          report: r.report,
          arm: r.arm,
          group: `${r.arm} · ${r.report}`,
          scenario: r.sweep ? `${r.scenario} (${r.sweep})` : r.scenario,
          seconds,
          status: r.mttrS === undefined ? 'censored' : 'recovered',
        },
      ];
    },
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'MTTR, report A against report B',
      subtitle: 'boxes over recovered runs; every run a point; hollow = censored at its censoring time',
    },
    data: { values },
    facet: { row: { field: 'scenario', type: 'nominal', title: null } },
    spec: {
      width: 520,
      height: { step: 26 },
      encoding: {
        y: {
          field: 'group',
          type: 'nominal',
          title: null,
          sort: ['manual · A', 'manual · B', 'flagger · A', 'flagger · B'],
        },
        x: { field: 'seconds', type: 'quantitative', title: 'MTTR = recover − impact (scenario s)' },
      },
      layer: [
        {
          transform: [{ filter: "datum.status === 'recovered'" }],
          mark: { type: 'boxplot', extent: 'min-max', opacity: 0.35 },
          encoding: { color: { field: 'report', type: 'nominal', title: 'report' } },
        },
        {
          transform: [{ filter: "datum.status === 'recovered'" }],
          mark: { type: 'point', size: 40, filled: true, shape: 'circle' },
          encoding: { color: { field: 'report', type: 'nominal', title: 'report' } },
        },
        {
          transform: [{ filter: "datum.status === 'censored'" }],
          mark: { type: 'point', size: 60, filled: false, shape: 'triangle-right', strokeWidth: 1.5 },
          encoding: { color: { field: 'report', type: 'nominal', title: 'report' } },
        },
      ],
    },
    resolve: { scale: { x: 'shared', y: 'independent' } },
  } as TopLevelSpec;
}

export async function writeComparison(
  dirA: string,
  dirB: string,
  outDir: string,
): Promise<{ files: string[]; model: ReportModel }> {
  const a = loadReport(dirA);
  const b = loadReport(dirB);
  const model = buildComparisonModel(a, b);
  if (model.sections[0]!.tables[0]!.rows.length === 0) {
    throw new ReportError(
      `${displayPath(dirA)} and ${displayPath(dirB)} share no scenario and arm; nothing to compare`,
    );
  }
  mkdirSync(outDir, { recursive: true });
  const charts = await writeCharts(outDir, [
    { id: 'mttr-overlay', title: 'MTTR, A against B', spec: overlaySpec(a, b) },
  ]);
  const md = path.join(outDir, 'compare.md');
  writeFileAtomic(md, renderMarkdown(model, charts));
  const html = path.join(outDir, 'compare.html');
  writeFileAtomic(html, renderHtml(model, charts));
  return { files: [md, html], model };
}
