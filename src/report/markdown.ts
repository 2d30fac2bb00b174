import type { Scenario } from '../scenario/schema.ts';
import type { ReportModel, ReportTable } from './model.ts';

/** The analysis-loop timing law of docs/design.md §5 for a scenario's Flagger settings, in seconds. */
export function flaggerTimingLaw(scenario: Scenario): {
  rollback: [number, number];
  promotion: [number, number];
  steps: number;
} {
  const f = scenario.flagger;
  const intervalS = f.intervalMs / 1000;
  const steps = f.stepWeights ? f.stepWeights.length : Math.ceil(f.maxWeight / f.stepWeight);
  return {
    rollback: [(f.threshold + 2) * intervalS, (f.threshold + 3) * intervalS],
    promotion: [(steps + 3) * intervalS, (steps + 4) * intervalS],
    steps,
  };
}

export const REPORT_FOOTER =
  "Every figure above is computed from `runs.csv` next to this file; each run's requests are in `requests/<run_id>.csv` and its timeline in `journal.jsonl`.";

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderTableMarkdown(table: ReportTable): string[] {
  const out: string[] = [];
  if (table.note) out.push(table.note, '');
  out.push(`| ${table.columns.map(escapeCell).join(' | ')} |`);
  out.push(`|${table.columns.map((_, i) => (table.align?.[i] === 'r' ? '---:' : '---')).join('|')}|`);
  for (const row of table.rows) out.push(`| ${row.map(escapeCell).join(' | ')} |`);
  out.push('');
  return out;
}

/** report.md: the same sections and tables as report.html, for terminals and pull requests. */
export function renderMarkdown(
  model: ReportModel,
  charts: ReadonlyArray<{ title: string; svgPath: string; pngPath?: string }> = [],
): string {
  const out: string[] = [`# ${model.title}`, ''];
  for (const section of model.sections) {
    out.push(`## ${section.title}`, '');
    for (const p of section.paragraphs) out.push(p, '');
    for (const table of section.tables) {
      if (table.title !== section.title) out.push(`### ${table.title}`, '');
      out.push(...renderTableMarkdown(table));
    }
  }
  if (charts.length > 0) {
    out.push('## Charts', '');
    for (const c of charts)
      out.push(`- ${c.title}: [${c.svgPath}](${c.svgPath})${c.pngPath ? `, [PNG](${c.pngPath})` : ''}`);
    out.push('');
  }
  if (model.problems.length > 0) {
    out.push('## Journal problems', '');
    for (const p of model.problems) out.push(`- ${p}`);
    out.push('');
  }
  out.push(model.footer ?? REPORT_FOOTER, '');
  return out.join('\n');
}
