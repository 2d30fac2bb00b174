import type { ExperimentHeader, RunEntry } from '../experiment/journal.ts';

/**
 * A table of the report, rendered alike into report.md and report.html, so both always show the
 * same numbers. Cells are preformatted strings.
 */
export interface ReportTable {
  id: string;
  title: string;
  /** A sentence or two under the title: what the table shows and how it was computed. */
  note?: string;
  columns: string[];
  /** 'r' for numeric columns. */
  align?: Array<'l' | 'r'>;
  rows: string[][];
}

export interface ReportSection {
  id: string;
  title: string;
  paragraphs: string[];
  tables: ReportTable[];
}

/** One chart of the report: a Vega-Lite spec, rendered to SVG (inline in HTML) and PNG. */
export interface ChartFile {
  id: string;
  title: string;
  /** Paths relative to the report folder. */
  specPath: string;
  svgPath: string;
  pngPath?: string;
  /** The SVG markup, for inlining. */
  svg: string;
}

/** Everything a report renderer needs. Built from the journal by report/build-model.ts. */
export interface ReportModel {
  title: string;
  header: ExperimentHeader;
  runs: RunEntry[];
  sections: ReportSection[];
  /** Lines about damaged journal lines and other problems, shown at the end. */
  problems: string[];
  /** Where the figures come from; defaults to runs.csv next to the report. */
  footer?: string;
}
