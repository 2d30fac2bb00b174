/** One row of the benchmark table and of results.json. */
export interface Figure {
  /** Benchmark name, as `--only` takes it. */
  bench: string;
  figure: string;
  /** The reported value, already formatted (a median with its spread, a ratio, ...). */
  value: string;
  unit: string;
  /** The target in words, e.g. `≥ 5000`; '' for a figure reported for context only. */
  target: string;
  /** pass or miss against the target; info for context figures without one. */
  status: 'pass' | 'miss' | 'info';
}

const COLUMNS = ['figure', 'value', 'unit', 'target', 'pass|miss'] as const;

/** A plain-text table, one figure a line, columns padded to their widest cell. */
export function formatTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    `${f.bench}: ${f.figure}`,
    f.value,
    f.unit,
    f.target,
    f.status === 'info' ? '' : f.status,
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The same table in Markdown, for the README's Performance section. */
export function formatMarkdownTable(figures: readonly Figure[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out = ['| figure | value | unit | target | pass/miss |', '|---|---|---|---|---|'];
  for (const f of figures) {
    out.push(
      `| ${esc(`${f.bench}: ${f.figure}`)} | ${esc(f.value)} | ${esc(f.unit)} | ${esc(f.target)} | ${f.status === 'info' ? '' : f.status} |`,
    );
  }
  return out.join('\n');
}
