/**
 * Vega-Lite specs to files: compiled with vega-lite, rendered headless by Vega's own SVG renderer
 * (no browser, no canvas), rasterised to PNG by resvg. The I/O side of charts.ts.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ReportError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/files.ts';
import type { ExperimentHeader, RunEntry } from '../experiment/journal.ts';
import { readRequestsFile } from '../experiment/requests-file.ts';
import type { RequestRecord } from '../load/types.ts';
import {
  kaplanMeierCurves,
  kaplanMeierSpec,
  mttrBoxPlotSpec,
  mttrPoints,
  phaseBreakdownSpec,
  phaseCells,
  pickTimelineRuns,
  sweepGroups,
  sweepSpec,
  timelinesSpec,
  DEFAULT_MAX_TIMELINE_RUNS,
} from './charts.ts';
import { useDejaVuTextMetrics } from './charts/text-metrics.ts';
import type { ChartFile } from './model.ts';

export const CHARTS_DIR = 'charts';

export interface RenderedChart {
  svg: string;
  png: Buffer;
  /** What vega-lite and Vega warned about while compiling and rendering (usually a spec mistake). */
  warnings: string[];
}

export interface ChartSpec {
  /** File name stem: letters, digits and dashes. */
  id: string;
  title: string;
  spec: TopLevelSpec;
}

type Logger = NonNullable<NonNullable<Parameters<typeof compile>[1]>['logger']>;

/**
 * A Vega logger that collects instead of printing: a report render must not spray the console.
 * Closures, not methods: Vega calls them detached from the logger.
 */
function collectingLogger(into: string[]): Logger {
  let current = vega.Warn;
  const text = (args: unknown[]) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
  const logger: Logger = {
    level: (l?: number) => {
      if (l === undefined) return current;
      current = l;
      return logger;
    },
    error: (...args: unknown[]) => {
      into.push(`error: ${text(args)}`);
      return logger;
    },
    warn: (...args: unknown[]) => {
      if (current >= vega.Warn) into.push(text(args));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}

/**
 * Compiles a Vega-Lite spec and renders it to SVG with Vega's headless renderer, then to PNG at
 * `pngScale`× (2 by default, sharp on high-density screens and in print).
 */
export async function renderSpec(spec: TopLevelSpec, options: { pngScale?: number } = {}): Promise<RenderedChart> {
  useDejaVuTextMetrics();
  const warnings: string[] = [];
  const logger = collectingLogger(warnings);
  // Vega tags inline data rows with ids in place; compile a copy so the caller's spec stays as written.
  const { spec: vgSpec } = compile(structuredClone(spec), { logger });
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', logger, logLevel: vega.Warn });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      fitTo: { mode: 'zoom', value: options.pngScale ?? 2 },
      // Vega writes the font stack of the spec's config; generic families need a concrete font.
      font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
      background: 'white',
    })
      .render()
      .asPng();
    return { svg, png, warnings };
  } finally {
    view.finalize();
  }
}

const ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,80}$/;

/**
 * The spec as indented JSON for people, except the inline data: one row per line. Indenting every
 * field of every row would make a timelines spec several times larger than its data.
 */
export function specJson(spec: TopLevelSpec): string {
  const data = (spec as { data?: { values?: unknown } }).data;
  const rows = Array.isArray(data?.values) ? (data.values as unknown[]) : undefined;
  if (!rows) return `${JSON.stringify(spec, null, 2)}\n`;
  const marker = `@@rows-${Math.random().toString(36).slice(2)}@@`;
  const text = JSON.stringify({ ...spec, data: { ...data, values: marker } }, null, 2);
  const body = rows.length === 0 ? '[]' : `[\n${rows.map((r) => `      ${JSON.stringify(r)}`).join(',\n')}\n    ]`;
  return `${text.replace(JSON.stringify(marker), () => body)}\n`;
}

/**
 * Renders each spec and writes charts/<id>.vl.json (the spec, to open in the Vega editor),
 * charts/<id>.svg and charts/<id>.png under the report folder `dir`. Paths in the result are
 * relative to `dir`.
 */
export async function writeCharts(dir: string, specs: readonly ChartSpec[]): Promise<ChartFile[]> {
  const outDir = path.join(dir, CHARTS_DIR);
  mkdirSync(outDir, { recursive: true });
  const seen = new Set<string>();
  const out: ChartFile[] = [];
  for (const { id, title, spec } of specs) {
    if (!ID.test(id))
      throw new ReportError(
        `chart id ${JSON.stringify(id)}: must be letters, digits and dashes (it becomes a file name)`,
      );
    if (seen.has(id)) throw new ReportError(`chart id ${JSON.stringify(id)}: used twice; each chart needs its own id`);
    seen.add(id);
    let rendered: RenderedChart;
    try {
      rendered = await renderSpec(spec);
    } catch (err) {
      throw new ReportError(
        `chart ${id} (${title}): could not be rendered: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const specPath = `${CHARTS_DIR}/${id}.vl.json`;
    const svgPath = `${CHARTS_DIR}/${id}.svg`;
    const pngPath = `${CHARTS_DIR}/${id}.png`;
    writeFileAtomic(path.join(dir, specPath), specJson(spec));
    writeFileAtomic(path.join(dir, svgPath), rendered.svg);
    writeFileAtomic(path.join(dir, pngPath), rendered.png);
    out.push({ id, title, specPath, svgPath, pngPath, svg: rendered.svg });
  }
  return out;
}

/**
 * The report's charts for a report folder: MTTR per arm, run timelines (request files read for the
 * panels shown only), Kaplan–Meier, phases, and one chart per parameter sweep. A chart without
 * data (e.g. no run had impact) is left out rather than drawn empty.
 */
export function reportChartSpecs(
  dir: string,
  header: ExperimentHeader,
  runs: readonly RunEntry[],
  options: { maxTimelineRuns?: number } = {},
): ChartSpec[] {
  const specs: ChartSpec[] = [];
  if (mttrPoints(runs).length > 0) specs.push({ id: 'mttr', title: 'MTTR per arm', spec: mttrBoxPlotSpec(runs) });
  const curves = kaplanMeierCurves(runs).filter((c) => c.fit.n > 0);
  if (curves.length > 0)
    specs.push({ id: 'kaplan-meier', title: 'Time to recovery (Kaplan–Meier)', spec: kaplanMeierSpec(curves) });
  const phases = phaseCells(runs);
  if (phases.length > 0)
    specs.push({ id: 'phases', title: 'Detection, mitigation, recovery', spec: phaseBreakdownSpec(phases) });
  const maxRuns = options.maxTimelineRuns ?? DEFAULT_MAX_TIMELINE_RUNS;
  const shown = pickTimelineRuns(runs, maxRuns);
  if (shown.length > 0) {
    const records = new Map<string, readonly RequestRecord[]>();
    const versions = new Map<string, string>();
    const latencyLimitMsByRun = new Map<string, number | null>();
    for (const run of shown) {
      const file = path.join(dir, run.requestsFile);
      if (existsSync(file)) records.set(run.runId, readRequestsFile(file));
      const scenario = header.scenarios[run.entry];
      if (scenario !== undefined) {
        versions.set(run.runId, scenario.release.version);
        latencyLimitMsByRun.set(run.runId, scenario.slo.latencyMs);
      }
    }
    specs.push({
      id: 'timelines',
      title: 'Run timelines',
      spec: timelinesSpec(runs, records, versions, { maxRuns, latencyLimitMsByRun }),
    });
  }
  sweepGroups(runs).forEach((g, i) => {
    const what = g.second ? `${g.parameter} × ${g.second}` : g.parameter;
    specs.push({
      id: `sweep-${i + 1}`,
      title: `${g.scenario}: median MTTR against ${what}`,
      spec: sweepSpec(g.points, g.parameter, g.second),
    });
  });
  return specs;
}
