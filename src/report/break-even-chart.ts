/**
 * Charts of the break-even (report/break-even.ts) as Vega-Lite specs, with every value inlined, and
 * the same numbers as a CSV beside each chart. Pure: data in, spec or text out.
 */
import { stringify } from 'csv-stringify/sync';
import type { TopLevelSpec } from 'vega-lite';
import { breakEvenChartId, Verdicts, type BreakEvenCell, type BreakEvenGroup } from './break-even.ts';
import { ARM_COLOURS, CONFIG, SCHEMA } from './charts.ts';
import type { ChartSpec } from './render-chart.ts';

/** Okabe–Ito: bluish green (manual faster), grey (not distinguishable), vermillion (manual slower). */
const NO_VERDICT = 'no verdict (too few runs)';
const VERDICT_SCALE = { domain: [...Verdicts, NO_VERDICT], range: ['#009E73', '#999999', '#D55E00', '#FFFFFF'] };
const MANUAL = ARM_COLOURS.manual;
const FLAGGER = ARM_COLOURS.flagger;

const r2 = (x: number | undefined) => (x === undefined ? null : Math.round(x * 100) / 100);
const value = (c: BreakEvenCell, i: number) => c.values[i]?.[1];
const panelOf = (group: BreakEvenGroup, c: BreakEvenCell) =>
  group.fields[1] === undefined ? '' : `${group.fields[1]} = ${value(c, 1)}`;

/** One row per swept cell: the numbers of the break-even table, unformatted. */
export function breakEvenRows(group: BreakEvenGroup): Array<Record<string, string | number | null>> {
  return group.cells.map((c) => ({
    scenario: group.scenario,
    ...Object.fromEntries(c.values),
    n: c.n,
    censored: c.censored,
    manual_median_s: r2(c.manual.estimate),
    manual_lower_s: r2(c.manual.lower),
    manual_upper_s: r2(c.manual.upper),
    flagger_n: group.flaggerN,
    flagger_median_s: r2(group.flagger.estimate),
    flagger_lower_s: r2(group.flagger.lower),
    flagger_upper_s: r2(group.flagger.upper),
    difference_s: r2(c.difference.estimate),
    difference_lower_s: r2(c.difference.lower),
    difference_upper_s: r2(c.difference.upper),
    a12: r2(c.a12),
    bands: c.bands ?? null,
    verdict: c.verdict ?? null,
    ttm_difference_s: r2(c.ttmDifference.estimate),
    ttm_difference_lower_s: r2(c.ttmDifference.lower),
    ttm_difference_upper_s: r2(c.ttmDifference.upper),
    ttm_verdict: c.ttmVerdict ?? null,
    looks_per_hour: r2(c.looksPerHour),
    pages_per_release: r2(c.pagesPerRelease),
  }));
}

/** The chart's data as CSV, written beside it. */
export function breakEvenCsv(group: BreakEvenGroup): string {
  const rows = breakEvenRows(group);
  return stringify(rows, { header: true, columns: Object.keys(rows[0] ?? { scenario: '' }) });
}

/**
 * Median MTTR of the manual cells (line, 95% CI band) against the first swept field, one panel per
 * value of the second; Flagger's median (rule) and CI (band) across every panel; each manual
 * point coloured by its verdict.
 */
export function breakEvenSpec(group: BreakEvenGroup): TopLevelSpec {
  const [first, second] = group.fields as [string, string | undefined];
  const numeric = group.cells.every((c) => typeof value(c, 0) === 'number');
  const panels = [...new Set(group.cells.map((c) => panelOf(group, c)))];
  const values: Array<Record<string, unknown>> = [
    ...panels.map((panel) => ({
      kind: 'flagger',
      panel,
      median: r2(group.flagger.estimate),
      lower: r2(group.flagger.lower),
      upper: r2(group.flagger.upper),
    })),
    ...group.cells.map((c) => ({
      kind: 'manual',
      panel: panelOf(group, c),
      x: value(c, 0),
      median: r2(c.manual.estimate),
      lower: r2(c.manual.lower),
      upper: r2(c.manual.upper),
      verdict: c.verdict ?? NO_VERDICT,
      bands: c.bands ?? '—',
      n: c.n,
    })),
  ];
  const x = numeric
    ? { field: 'x', type: 'quantitative', title: first, scale: { zero: false } }
    : { field: 'x', type: 'ordinal', title: first, sort: [...new Set(group.cells.map((c) => String(value(c, 0))))] };
  const y = { type: 'quantitative', title: 'median MTTR (scenario s)' };
  const inner = {
    width: 300,
    height: 200,
    layer: [
      {
        name: 'flagger-band',
        transform: [{ filter: "datum.kind === 'flagger' && isValid(datum.lower)" }],
        mark: { type: 'rect', color: FLAGGER, opacity: 0.18 },
        encoding: { y: { field: 'lower', ...y }, y2: { field: 'upper' } },
      },
      {
        name: 'flagger-median',
        transform: [{ filter: "datum.kind === 'flagger' && isValid(datum.median)" }],
        mark: { type: 'rule', color: FLAGGER, strokeWidth: 2, strokeDash: [5, 3] },
        encoding: { y: { field: 'median', ...y } },
      },
      {
        name: 'manual-band',
        transform: [{ filter: "datum.kind === 'manual' && isValid(datum.lower)" }],
        mark: { type: 'area', color: MANUAL, opacity: 0.2 },
        encoding: { x, y: { field: 'lower', ...y }, y2: { field: 'upper' } },
      },
      {
        name: 'manual-median',
        transform: [{ filter: "datum.kind === 'manual' && isValid(datum.median)" }],
        mark: { type: 'line', color: MANUAL, strokeWidth: 2 },
        encoding: { x, y: { field: 'median', ...y } },
      },
      {
        name: 'verdicts',
        transform: [{ filter: "datum.kind === 'manual' && isValid(datum.median)" }],
        mark: { type: 'point', filled: true, size: 90, stroke: '#222', strokeWidth: 0.8, opacity: 1 },
        encoding: {
          x,
          y: { field: 'median', ...y },
          color: { field: 'verdict', type: 'nominal', title: 'manual against Flagger', scale: VERDICT_SCALE },
          tooltip: [
            { field: 'x', title: first },
            { field: 'median', title: 'manual median s' },
            { field: 'lower' },
            { field: 'upper' },
            { field: 'verdict' },
            { field: 'bands', title: 'CIs' },
            { field: 'n' },
          ],
        },
      },
    ],
  };
  const title = {
    text: `Break-even: manual MTTR against ${first}${second ? ` per ${second}` : ''}, Flagger as reference`,
    subtitle: [
      `Orange: manual median MTTR with its 95% bootstrap CI band. Blue: Flagger's median (dashed) and 95% CI (band), n ${group.flaggerN}.`,
      'Point colour: the verdict from the 95% CI of median(manual) − median(Flagger); censored runs count at their censoring time.',
    ],
  };
  const base = { $schema: SCHEMA, title, config: CONFIG, data: { values } };
  if (second === undefined) return { ...base, ...inner } as unknown as TopLevelSpec;
  return {
    ...base,
    facet: { field: 'panel', type: 'ordinal', title: null, sort: panels },
    columns: 2,
    spec: inner,
  } as unknown as TopLevelSpec;
}

/** Two swept fields: one cell per combination, coloured by the verdict, labelled with the difference. */
export function breakEvenHeatmapSpec(group: BreakEvenGroup): TopLevelSpec {
  const [first, second] = group.fields as [string, string];
  const order = (i: number) => [...new Set(group.cells.map((c) => String(value(c, i))))];
  const values = group.cells.map((c) => ({
    x: String(value(c, 0)),
    y: String(value(c, 1)),
    verdict: c.verdict ?? NO_VERDICT,
    label:
      c.difference.estimate === undefined
        ? '—'
        : `${c.difference.estimate > 0 ? '+' : ''}${c.difference.estimate.toFixed(0)} s`,
    difference: r2(c.difference.estimate),
    lower: r2(c.difference.lower),
    upper: r2(c.difference.upper),
  }));
  return {
    $schema: SCHEMA,
    title: {
      text: `Break-even regions over ${first} × ${second}`,
      subtitle: [
        'Colour: the manual arm is faster than Flagger, not distinguishable, or slower (95% bootstrap CI of the difference of medians).',
        'Label: median(manual) − median(Flagger) MTTR, scenario s.',
      ],
    },
    config: CONFIG,
    data: { values },
    width: { step: 64 },
    height: { step: 36 },
    layer: [
      {
        name: 'regions',
        mark: { type: 'rect', stroke: 'white' },
        encoding: {
          x: { field: 'x', type: 'ordinal', title: first, sort: order(0), axis: { labelAngle: 0 } },
          y: { field: 'y', type: 'ordinal', title: second, sort: order(1) },
          color: { field: 'verdict', type: 'nominal', title: 'manual is', scale: VERDICT_SCALE },
          tooltip: [
            { field: 'x', title: first },
            { field: 'y', title: second },
            { field: 'verdict' },
            { field: 'difference' },
            { field: 'lower' },
            { field: 'upper' },
          ],
        },
      },
      {
        name: 'labels',
        mark: { type: 'text', fontSize: 11, color: '#000' },
        encoding: {
          x: { field: 'x', type: 'ordinal', sort: order(0) },
          y: { field: 'y', type: 'ordinal', sort: order(1) },
          text: { field: 'label' },
        },
      },
    ],
  } as unknown as TopLevelSpec;
}

/** Per group: the MTTR-against-sweep chart, and with two swept fields the region heatmap. */
export function breakEvenChartSpecs(groups: readonly BreakEvenGroup[]): ChartSpec[] {
  return groups.flatMap((g, i) => [
    {
      id: breakEvenChartId(i + 1),
      title: `${g.scenario}: break-even against Flagger over ${g.fields.join(' × ')}`,
      spec: breakEvenSpec(g),
    },
    ...(g.fields.length === 2
      ? [
          {
            id: `${breakEvenChartId(i + 1)}-regions`,
            title: `${g.scenario}: where the manual arm is faster, not distinguishable or slower`,
            spec: breakEvenHeatmapSpec(g),
          },
        ]
      : []),
  ]);
}
