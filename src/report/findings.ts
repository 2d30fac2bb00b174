import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { runRowsFromCsv } from './build-model.ts';
import { renderTableMarkdown } from './markdown.ts';
import { catchesParagraphs, matrixCells, matrixTable } from './matrix.ts';

/** The faulty scenarios of the catalogue: every one but `healthy`. */
export const FAULTY = new Set(['faulty-500', 'faulty-500-smoke', 'partial-5pct', 'partial-0.5pct', 'delayed-onset', 'latency-800ms', 'crash-loop']);

/** The README's findings block (matrix table and generated paragraphs), from a runs.csv. */
export function findingsMarkdown(runsCsvFile: string): string {
  const rows = runRowsFromCsv(parse(readFileSync(runsCsvFile, 'utf8'), { columns: true }));
  const cells = matrixCells(rows);
  const table = matrixTable(cells);
  return [...catchesParagraphs(cells, FAULTY).flatMap((p) => [p, '']), ...renderTableMarkdown({ ...table, note: undefined })].join('\n').trimEnd();
}
