/**
 * report.html: one self-contained file. Inline CSS, the charts as inline SVG, no script, no font
 * and no URL outside the report folder, so it reads the same offline, from an archive, or printed.
 * A Content-Security-Policy forbids every fetch, which makes "nothing external" checkable.
 */
import type { RunEntry } from '../experiment/journal.ts';
import type { Scenario } from '../scenario/schema.ts';
import { cellLabel } from './charts.ts';
import { REPORT_FOOTER } from './markdown.ts';
import type { ChartFile, ReportModel, ReportSection, ReportTable } from './model.ts';

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * A link target inside the report folder, or undefined: no scheme (http:, javascript:, data:),
 * no protocol-relative //host and no absolute path, so a crafted run id cannot link out.
 */
export function safeRelativeHref(href: string): string | undefined {
  const h = href.trim();
  if (h === '' || h.startsWith('/') || h.startsWith('\\') || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(h)) return undefined;
  return h
    .split('/')
    .map((part) => encodeURIComponent(part))
    .join('/');
}

/**
 * The report's paragraphs are written for report.md: `code`, **bold** and [text](relative link).
 * Escapes first, then turns those three into HTML; anything else stays literal text.
 */
export function inlineMarkdown(text: string): string {
  const codes: string[] = [];
  // Code spans first, so their content is not read as bold or links.
  let out = text.replace(/`([^`]+)`/g, (_, code: string) => {
    codes.push(`<code>${escapeHtml(code)}</code>`);
    return `\u0000${codes.length - 1}\u0000`;
  });
  out = escapeHtml(out);
  out = out.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
  out = out.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_whole, label: string, href: string) => {
    const safe = safeRelativeHref(href.replace(/&amp;/g, '&'));
    return safe === undefined ? label : `<a href="${escapeHtml(safe)}">${label}</a>`;
  });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL marks the placeholders; it cannot occur in escaped text.
  return out.replace(/\u0000(\d+)\u0000/g, (_, i: string) => codes[Number(i)]!);
}

/**
 * Vega numbers its clip paths and gradients per process; two charts inlined in one page could
 * reuse an id and clip each other. Prefixes every id and every reference to one.
 */
export function namespaceSvg(svg: string, prefix: string): string {
  return svg
    .replace(/<\?xml[^>]*>\s*/g, '')
    .replace(/\s+xmlns(:xlink)?="[^"]*"/g, '')
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`)
    .replace(
      /\b(xlink:)?href="#([^"]+)"/g,
      (_, xl: string | undefined, id: string) => `${xl ?? ''}href="#${prefix}-${id}"`,
    );
}

/**
 * Vega draws at 11 px text; the page's text is 15 px. Lets a chart grow to 1.4× its drawn size
 * where the page is wide enough (and shrink on a narrow one): the SVG scales through its viewBox.
 */
function enlarge(svg: string): string {
  const width = Number(/<svg[^>]*?\swidth="([\d.]+)"/.exec(svg)?.[1]);
  if (!Number.isFinite(width) || width <= 0) return svg;
  return svg.replace(/<svg\b/, `<svg style="width: min(100%, ${Math.round(width * 1.4)}px)"`);
}

class Ids {
  private readonly used = new Set<string>();
  take(wanted: string): string {
    const base = wanted.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
    let id = base;
    for (let k = 2; this.used.has(id); k++) id = `${base}-${k}`;
    this.used.add(id);
    return id;
  }
}

/**
 * A narrow numeric column may wrap "179.8 [161.6–198.0]" between estimate and interval, never
 * inside the interval (browsers break after an en dash).
 */
function numericCell(text: string, numeric: boolean): string {
  const escaped = escapeHtml(text);
  return numeric ? escaped.replace(/\[[^\]]*\]/g, (group) => `<span class="nw">${group}</span>`) : escaped;
}

function renderTable(table: ReportTable, ids: Ids, showTitle: boolean): string {
  const id = ids.take(`t-${table.id}`);
  const cls = (i: number) => (table.align?.[i] === 'r' ? ' class="num"' : '');
  const head = table.columns.map((c, i) => `<th scope="col"${cls(i)}>${escapeHtml(c)}</th>`).join('');
  const body = table.rows
    .map(
      (row) =>
        `<tr>${row.map((cell, i) => `<td${cls(i)}>${numericCell(cell, table.align?.[i] === 'r')}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return [
    `<div class="table-block" id="${id}">`,
    showTitle ? `<h3>${escapeHtml(table.title)}</h3>` : '',
    table.note ? `<p class="note">${inlineMarkdown(table.note)}</p>` : '',
    `<div class="table-wrap"><table>`,
    `<thead><tr>${head}</tr></thead>`,
    `<tbody>\n${body}\n</tbody>`,
    `</table></div>`,
    `</div>`,
  ]
    .filter(Boolean)
    .join('\n');
}

interface TocEntry {
  id: string;
  title: string;
}

function renderSection(section: ReportSection, id: string, ids: Ids): string {
  return [
    `<section id="${id}">`,
    `<h2>${escapeHtml(section.title)}</h2>`,
    ...section.paragraphs.map((p) => `<p>${inlineMarkdown(p)}</p>`),
    ...section.tables.map((t) => renderTable(t, ids, t.title !== section.title)),
    `</section>`,
  ].join('\n');
}

function renderCharts(charts: readonly ChartFile[], id: string, ids: Ids): string {
  const figures = charts.map((c) => {
    const fid = ids.take(`chart-${c.id}`);
    const links = [
      safeRelativeHref(c.specPath) &&
        `<a href="${escapeHtml(safeRelativeHref(c.specPath)!)}">Vega-Lite spec</a> (opens in the Vega editor)`,
      safeRelativeHref(c.svgPath) && `<a href="${escapeHtml(safeRelativeHref(c.svgPath)!)}">SVG</a>`,
      c.pngPath && safeRelativeHref(c.pngPath) && `<a href="${escapeHtml(safeRelativeHref(c.pngPath)!)}">PNG</a>`,
    ].filter(Boolean);
    return [
      `<figure class="chart" id="${fid}">`,
      `<figcaption><h3>${escapeHtml(c.title)}</h3></figcaption>`,
      `<div class="chart-svg" role="img" aria-label="${escapeHtml(c.title)}">${enlarge(namespaceSvg(c.svg, fid))}</div>`,
      `<p class="chart-links">${links.join(' · ')}</p>`,
      `</figure>`,
    ].join('\n');
  });
  return [`<section id="${id}">`, `<h2>Charts</h2>`, ...figures, `</section>`].join('\n');
}

/** Flagger's intervals are parsed to milliseconds but written in seconds in the files, so shown in seconds. */
const MS_FIELDS = new Set([
  'flagger.intervalMs',
  'flagger.requestSuccessRate.intervalMs',
  'flagger.requestDuration.intervalMs',
]);

function formatParameter(path: string, value: unknown): string {
  if (value === null) return 'disabled';
  if (value === undefined) return '—';
  if (typeof value === 'number') {
    if (MS_FIELDS.has(path)) return `${value / 1000} s`;
    if (/S$/.test(path)) return `${value} s`;
    if (/Ms$/.test(path)) return `${value} ms`;
    return String(value);
  }
  if (Array.isArray(value))
    return value.length === 0
      ? 'none'
      : value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Scenario fields as dotted paths, in the schema's order. */
function flattenScenario(value: unknown, prefix = ''): Array<[string, unknown]> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix, value]];
  const out: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${k}` : k;
    // A null check (disabled) stays one row; an object check unfolds into its fields.
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...flattenScenario(v, path));
    else out.push([path, v]);
  }
  return out;
}

const GROUP_TITLES: Record<string, string> = {
  release: 'release and fault',
  load: 'load',
  warmup: 'warm-up',
  recovery: 'recovery and deadline',
  flagger: 'Flagger analysis',
  manual: 'manual canary and operator',
  environmentFaults: 'environment faults',
};

function renderScenarios(model: ReportModel, id: string, ids: Ids): string {
  const scenarios = model.header.scenarios;
  const entries = scenarios.map((s, i) => ({
    s,
    i,
    label: model.header.sweeps?.[i] ? `${s.name} (${model.header.sweeps[i]})` : s.name,
  }));
  const armsOf = (i: number) => {
    const arms = new Set(model.runs.filter((r) => r.entry === i).map((r) => r.arm));
    return arms.size === 0 ? 'no run journaled' : [...arms].join(', ');
  };
  const parts: string[] = [`<section id="${id}">`, `<h2>Scenario parameters</h2>`];
  parts.push(
    `<p>Each plan entry's scenario as the runs used it: overrides and sweeps applied, defaults filled in. ` +
      `Durations in scenario seconds unless marked ms (real milliseconds, not compressed). Rows whose value differs between entries are highlighted.</p>`,
  );
  const described = entries.filter(({ s }) => s.description);
  if (described.length > 0) {
    parts.push(
      `<ul class="descriptions">${described.map(({ s, label }) => `<li><strong>${escapeHtml(label)}</strong>: ${escapeHtml(s.description)}</li>`).join('')}</ul>`,
    );
  }
  // Six entries per table keeps a printed page readable; more entries make more tables.
  for (let start = 0; start < entries.length; start += 6) {
    const chunk = entries.slice(start, start + 6);
    const flat = chunk.map(({ s }) => new Map(flattenScenario(withoutNameAndDescription(s))));
    // Union of the entries' fields, grouped by section: an alert operator's fields belong beside
    // a dashboard operator's, not after every other section.
    const seen: string[] = [];
    for (const m of flat) for (const p of m.keys()) if (!seen.includes(p)) seen.push(p);
    const groups = [...new Set(seen.map((p) => p.split('.')[0]!))];
    const paths = groups.flatMap((g) => seen.filter((p) => p.split('.')[0] === g));
    const head = `<tr><th scope="col">parameter</th>${chunk.map(({ label }) => `<th scope="col" class="num">${escapeHtml(label)}</th>`).join('')}</tr>`;
    const rows: string[] = [
      `<tr><th scope="row">arms run</th>${chunk.map(({ i }) => `<td class="num">${escapeHtml(armsOf(i))}</td>`).join('')}</tr>`,
    ];
    let group = '';
    for (const p of paths) {
      const g = p.split('.')[0]!;
      if (g !== group) {
        group = g;
        rows.push(
          `<tr class="group"><th colspan="${chunk.length + 1}" scope="rowgroup">${escapeHtml(GROUP_TITLES[g] ?? g)}</th></tr>`,
        );
      }
      const cells = flat.map((m) => formatParameter(p, m.get(p)));
      const differs = new Set(cells).size > 1;
      rows.push(
        `<tr${differs ? ' class="differs"' : ''}><th scope="row"><code>${escapeHtml(p.slice(g.length + 1) || p)}</code></th>${cells.map((c) => `<td class="num">${escapeHtml(c)}</td>`).join('')}</tr>`,
      );
    }
    parts.push(
      `<div class="table-block" id="${ids.take('scenario-table')}"><div class="table-wrap"><table class="params"><thead>${head}</thead><tbody>\n${rows.join('\n')}\n</tbody></table></div></div>`,
    );
  }
  parts.push(`</section>`);
  return parts.join('\n');
}

function withoutNameAndDescription(s: Scenario): Record<string, unknown> {
  const { name: _name, description: _description, ...rest } = s;
  return rest;
}

function renderOperators(runs: readonly RunEntry[], id: string, ids: Ids): string | undefined {
  const seen = new Map<string, { cells: string[]; operator: Record<string, string | number> }>();
  for (const r of runs) {
    if (!r.operator) continue;
    const key = JSON.stringify(r.operator);
    const entry = seen.get(key);
    const cell = cellLabel(r);
    if (!entry) seen.set(key, { cells: [cell], operator: r.operator });
    else if (!entry.cells.includes(cell)) entry.cells.push(cell);
  }
  if (seen.size === 0) return undefined;
  const parts = [
    `<section id="${id}">`,
    `<h2>Operator models: parameters and sources</h2>`,
    `<p>The manual arm's operator is a model with stated assumptions, not a measurement. Each model as the runs journaled it, with where its numbers come from.</p>`,
  ];
  for (const { cells, operator } of seen.values()) {
    const params = Object.entries(operator).filter(([k]) => k !== 'kind' && k !== 'source');
    parts.push(
      `<div class="table-block" id="${ids.take(`operator-${operator.kind}`)}">`,
      `<h3>${escapeHtml(String(operator.kind ?? 'operator'))} <span class="muted">(${escapeHtml(cells.join(', '))})</span></h3>`,
      `<div class="table-wrap"><table><thead><tr><th scope="col">parameter</th><th scope="col" class="num">value</th></tr></thead><tbody>`,
      ...params.map(
        ([k, v]) =>
          `<tr><th scope="row"><code>${escapeHtml(k)}</code></th><td class="num">${escapeHtml(formatParameter(k, v))}</td></tr>`,
      ),
      `</tbody></table></div>`,
      `<p class="note"><strong>Source:</strong> ${escapeHtml(String(operator.source ?? 'not stated'))}</p>`,
      `</div>`,
    );
  }
  parts.push(`</section>`);
  return parts.join('\n');
}

const fmtS = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));

function renderRuns(runs: readonly RunEntry[], id: string): string {
  const rows = runs.map((r) => {
    const m = r.metrics;
    const href = safeRelativeHref(r.requestsFile);
    const requests = href
      ? `<a href="${escapeHtml(href)}">${escapeHtml(r.requestsFile)}</a>`
      : escapeHtml(r.requestsFile);
    const ttr = m.ttrReleaseS;
    const cells = [
      `<td><code>${escapeHtml(r.runId)}</code></td>`,
      `<td>${escapeHtml(r.arm)}</td>`,
      `<td>${escapeHtml(cellLabel(r))}</td>`,
      `<td>${escapeHtml(m.outcome)}</td>`,
      // Escaped although the journal's schema makes them numbers: every cell is, so none is missed.
      `<td class="num">${escapeHtml(fmtS(m.mttrS))}</td>`,
      `<td class="num">${escapeHtml(fmtS(ttr))}</td>`,
      `<td class="num">${escapeHtml(m.censoredAtS === undefined ? '—' : fmtS(m.censoredAtS))}</td>`,
      `<td class="num">${escapeHtml(`${m.failedRequests} / ${m.totalRequests}`)}</td>`,
      // Empty for a run journaled before the SLO (docs/design.md §12), which counted failures only.
      `<td class="num">${escapeHtml(m.slowRequests === undefined ? '—' : String(m.slowRequests))}</td>`,
      `<td>${requests}</td>`,
    ];
    return `<tr>${cells.join('')}</tr>`;
  });
  const cols = [
    'run',
    'arm',
    'scenario',
    'outcome',
    'MTTR s',
    'release→recover s',
    'censored at s',
    'failed / total requests',
    'slow requests',
    'request records',
  ];
  const numeric = new Set([4, 5, 6, 7, 8]);
  return [
    `<section id="${id}">`,
    `<h2>Runs</h2>`,
    `<p>Every journaled run, censored and aborted ones included. Times in scenario seconds after impact (MTTR, censored at) or after the release (release→recover).</p>`,
    `<div class="table-wrap"><table><thead><tr>${cols.map((c, i) => `<th scope="col"${numeric.has(i) ? ' class="num"' : ''}>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>`,
    ...rows,
    `</tbody></table></div>`,
    `</section>`,
  ].join('\n');
}

function renderFiles(id: string): string {
  const files: Array<[string, string]> = [
    ['runs.csv', 'one row per run: outcome, release/impact/detect/mitigate/recover times, MTTR, …'],
    ['summary.json', 'per scenario and arm: outcome counts, medians and IQRs, and every table of this report'],
    ['journal.jsonl', 'the experiment header and every finished run with its timeline and metrics'],
    ['requests/', 'one CSV per run: every user request (sent_ms, done_ms, latency_ms, status, version)'],
    ['charts/', 'each chart as Vega-Lite spec (.vl.json), SVG and PNG'],
    ['report.md', 'the same tables as Markdown'],
  ];
  return [
    `<section id="${id}">`,
    `<h2>Files of this report</h2>`,
    `<p>Relative links: they work when this file sits in its report folder.</p>`,
    `<ul class="files">`,
    ...files.map(
      ([f, what]) =>
        `<li><a href="${escapeHtml(safeRelativeHref(f)!)}"><code>${escapeHtml(f)}</code></a>: ${escapeHtml(what)}</li>`,
    ),
    `</ul>`,
    `</section>`,
  ].join('\n');
}

const CSS = `
:root { --fg: #1d1d1f; --muted: #5b5b60; --line: #d8d8dc; --soft: #f5f5f7; --accent: #0b5cad; --hl: #fff6d6; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Verdana, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.7em; margin: 0 0 .2em; line-height: 1.2; }
h2 { font-size: 1.3em; margin: 2em 0 .6em; padding-bottom: .2em; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
p { margin: .5em 0; max-width: 72em; }
a { color: var(--accent); }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; background: var(--soft); padding: 0 .25em; border-radius: 3px; }
.meta { color: var(--muted); margin: 0 0 1em; }
.meta span { white-space: nowrap; margin-right: 1.2em; }
.muted { color: var(--muted); font-weight: normal; }
.note { color: var(--muted); font-size: .92em; }
nav.toc { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: .6em 1.2em; margin: 1em 0 1.5em; }
nav.toc h2 { font-size: 1em; margin: 0 0 .3em; border: 0; padding: 0; }
nav.toc ol { margin: 0; padding-left: 1.4em; columns: 2; column-gap: 2.5em; }
nav.toc li { break-inside: avoid; }
.table-wrap { overflow-x: auto; margin: .4em 0 1em; }
table { border-collapse: collapse; font-size: .86em; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .5em; border-bottom: 1px solid var(--line); vertical-align: top; text-align: left; }
thead th { background: var(--soft); border-bottom: 2px solid var(--line); font-weight: 600; }
tbody tr:nth-child(even) > * { background: #fafafa; }
th.num, td.num { text-align: right; }
.nw, td code { white-space: nowrap; }
tbody th { font-weight: normal; }
table.params tr.group th { background: var(--soft); font-weight: 600; padding-top: .5em; }
table.params tr.differs td, table.params tr.differs th { background: var(--hl); }
figure.chart { margin: 1.2em 0 2em; }
figure.chart figcaption h3 { margin: 0 0 .4em; }
.chart-svg { overflow-x: auto; }
.chart-svg svg { max-width: 100%; height: auto; display: block; }
@media print { .chart-svg svg { width: 100% !important; } }
.chart-links { font-size: .88em; color: var(--muted); }
ul.files li, ul.descriptions li { margin: .2em 0; }
footer { margin-top: 3em; padding-top: .8em; border-top: 1px solid var(--line); color: var(--muted); font-size: .9em; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  h2 { break-after: avoid; }
  h3 { break-after: avoid; }
  figure.chart, .table-block, tr { break-inside: avoid; }
  .table-wrap, .chart-svg { overflow: visible; }
  /* A printed page cannot scroll: wide tables shrink, breaking inside words if they must. */
  table { font-size: 7.5pt; width: 100%; }
  th, td { padding: .15em .3em; }
  thead th { overflow-wrap: anywhere; }
  .nw, td code { white-space: normal; }
  a { color: inherit; text-decoration: none; }
  tbody tr:nth-child(even) > * { background: none; }
}
`;

/**
 * The whole report as one HTML document: every section and table of the model (the same ones as
 * report.md), the charts inline, each scenario's parameters, the operator models with their
 * sources, every run with a link to its request records, and links to the data files.
 */
export function renderHtml(model: ReportModel, charts: readonly ChartFile[]): string {
  const ids = new Ids();
  const toc: TocEntry[] = [];
  const body: string[] = [];
  const add = (wanted: string, title: string, render: (id: string) => string | undefined) => {
    const id = ids.take(wanted);
    const html = render(id);
    if (html === undefined) return;
    toc.push({ id, title });
    body.push(html);
  };
  // The charts follow the summary (and the verdict that opens the report, when there is one).
  const lead = model.sections[0]?.id === 'verdict' ? 2 : 1;
  for (const section of model.sections.slice(0, lead))
    add(`s-${section.id}`, section.title, (id) => renderSection(section, id, ids));
  if (charts.length > 0) add('charts', 'Charts', (id) => renderCharts(charts, id, ids));
  for (const section of model.sections.slice(lead))
    add(`s-${section.id}`, section.title, (id) => renderSection(section, id, ids));
  add('scenario-parameters', 'Scenario parameters', (id) => renderScenarios(model, id, ids));
  add('operator-models', 'Operator models: parameters and sources', (id) => renderOperators(model.runs, id, ids));
  if (model.runs.length > 0) add('runs', 'Runs', (id) => renderRuns(model.runs, id));
  add('files', 'Files of this report', (id) => renderFiles(id));
  if (model.problems.length > 0) {
    add('problems', 'Journal problems', (id) =>
      [
        `<section id="${id}">`,
        `<h2>Journal problems</h2>`,
        `<ul>`,
        ...model.problems.map((p) => `<li>${escapeHtml(p)}</li>`),
        `</ul>`,
        `</section>`,
      ].join('\n'),
    );
  }
  const h = model.header;
  const meta = [
    ['experiment', h.name],
    ['platform', h.platform],
    ['time scale', `${h.timeScale}× (durations in scenario seconds)`],
    ['seed', String(h.seed)],
    ['started', h.startedAt],
    ['runs', `${model.runs.length} of ${h.plannedRuns.length} planned`],
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="canary-mttr">
<title>${escapeHtml(model.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(model.title)}</h1>
<p class="meta">${meta.map(([k, v]) => `<span><strong>${escapeHtml(k!)}</strong> ${escapeHtml(v!)}</span>`).join(' ')}</p>
</header>
<nav class="toc" aria-label="Contents">
<h2>Contents</h2>
<ol>
${toc.map((t) => `<li><a href="#${t.id}">${escapeHtml(t.title)}</a></li>`).join('\n')}
</ol>
</nav>
${body.join('\n\n')}
<footer><p>${inlineMarkdown(model.footer ?? REPORT_FOOTER)}</p></footer>
</main>
</body>
</html>
`;
}
