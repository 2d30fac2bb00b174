import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { ReportError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/files.ts';
import { JOURNAL_FILE, readJournal } from '../experiment/journal.ts';
import { displayPath } from '../scenario/load-files.ts';
import { breakEvenChartId, breakEvenGroups } from './break-even.ts';
import { breakEvenChartSpecs, breakEvenCsv } from './break-even-chart.ts';
import { SERVICES_CHART_ID, servicesCells, servicesChartSpecs, servicesCsv } from './services.ts';
import { buildReportModel } from './build-model.ts';
import { runRowsFromCsv } from './run-rows.ts';
import { renderMarkdown } from './markdown.ts';
import { renderHtml } from './html.ts';
import { matrixCells, matrixHeatmapSpec } from './matrix.ts';
import { reportChartSpecs, writeCharts } from './render-chart.ts';
import { renderRunsCsv, runsCsvRows } from './runs-csv.ts';
import { summarizeCells } from './summary.ts';

export interface WrittenReport {
  runs: number;
  problems: string[];
  files: string[];
}

/**
 * (Re)writes runs.csv, summary.json, report.md, report.html and charts/ of a report folder from
 * its journal. A damaged journal line is named and skipped; the rest still renders. Every file is
 * replaced atomically: a failure (a full disk) leaves the previous version of each file whole.
 */
export async function writeReport(dir: string): Promise<WrittenReport> {
  const shown = displayPath(dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ReportError(`${shown}: no such report folder; pass a folder written by npm run experiment`);
  }
  const journalFile = path.join(dir, JOURNAL_FILE);
  if (!existsSync(journalFile)) {
    throw new ReportError(`${shown}: has no ${JOURNAL_FILE}; pass a folder written by npm run experiment`);
  }
  const journal = readJournal(journalFile);
  const problems = journal.problems.map((p) => `${displayPath(journalFile)}:${p.line}: ${p.message}; line skipped`);
  if (!journal.header) {
    throw new ReportError(`${displayPath(journalFile)}: no experiment header line; the journal is empty or damaged`);
  }
  if (journal.runs.length === 0) {
    throw new ReportError(`${shown}: the journal holds no finished run yet; nothing to report`);
  }
  const cells = summarizeCells(journal.runs);
  const model = buildReportModel(journal.header, journal.runs, problems);
  const files = ['runs.csv', 'summary.json', 'report.md'].map((f) => path.join(dir, f));
  writeFileAtomic(files[0]!, renderRunsCsv(journal.header.name, journal.runs));
  const tables = Object.fromEntries(
    model.sections.flatMap((s) => s.tables).map((t) => [t.id, { columns: t.columns, rows: t.rows }]),
  );
  writeFileAtomic(
    files[1]!,
    `${JSON.stringify({ experiment: journal.header.name, platform: journal.header.platform, timeScale: journal.header.timeScale, seed: journal.header.seed, runs: journal.runs.length, planned: journal.header.plannedRuns.length, cells, tables, problems }, null, 2)}\n`,
  );
  const specs = reportChartSpecs(dir, journal.header, journal.runs);
  const matrix = model.sections.find((sec) => sec.id === 'fault-matrix');
  if (matrix)
    specs.push({
      id: 'fault-matrix',
      title: 'Fault × arm: failed requests and outcomes',
      spec: matrixHeatmapSpec(matrixCells(runRowsFromCsv(runsCsvRows(journal.header.name, journal.runs)))),
    });
  const rows = runRowsFromCsv(runsCsvRows(journal.header.name, journal.runs));
  const breakEven = breakEvenGroups(rows);
  specs.push(...breakEvenChartSpecs(breakEven));
  const services = servicesCells(rows);
  specs.push(...servicesChartSpecs(services));
  const charts = await writeCharts(dir, specs);
  // Each break-even chart's numbers, and the service-count chart's, as CSV beside it.
  breakEven.forEach((g, i) => {
    writeFileAtomic(path.join(dir, 'charts', `${breakEvenChartId(i + 1)}.csv`), breakEvenCsv(g));
  });
  if (services.length > 0) writeFileAtomic(path.join(dir, 'charts', `${SERVICES_CHART_ID}.csv`), servicesCsv(services));
  writeFileAtomic(files[2]!, renderMarkdown(model, charts));
  const html = path.join(dir, 'report.html');
  writeFileAtomic(html, renderHtml(model, charts));
  files.push(html, ...charts.map((c) => path.join(dir, c.svgPath)));
  return { runs: journal.runs.length, problems, files };
}
