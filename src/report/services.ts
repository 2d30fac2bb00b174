/**
 * The service-count sweep (docs/design.md §13): per scenario, arm and number of services in the
 * release train, the MTTR and the person's toil, each with its 95% bootstrap CI of the median, as a
 * table, a chart and the chart's CSV. Computed from runs.csv rows alone, so the report and README's
 * findings agree. Pure: rows in, table, spec or text out.
 */
import { stringify } from 'csv-stringify/sync';
import type { TopLevelSpec } from 'vega-lite';
import { bootstrapMedianCI, type BootstrapInterval, summarize } from '../stats/index.ts';
import { MIN_RUNS_FOR_VERDICT, mttrOrCensored } from './break-even.ts';
import { armOrder, armScale, CONFIG, SCHEMA } from './charts.ts';
import type { ReportTable } from './model.ts';
import type { ChartSpec } from './render-chart.ts';
import { bootstrapSeed, fmt, type RunRow } from './run-rows.ts';

/** The chart's id, its CSV's file stem and the table's id. */
export const SERVICES_CHART_ID = 'services';

/** One cell of the sweep: one scenario, arm and train size. */
export interface ServicesCell {
  scenario: string;
  arm: 'manual' | 'flagger';
  services: number;
  faultyServices: number;
  n: number;
  rolledBack: number;
  promoted: number;
  censored: number;
  /** MTTR, a censored run at its censoring time (a lower bound above every recovered run). */
  mttr: BootstrapInterval;
  busyS: BootstrapInterval;
  manualActions: BootstrapInterval;
  /** Median healthy services promoted before the run ended. */
  healthyPromoted?: number;
}

const interval = (xs: number[], seed: number) => bootstrapMedianCI(xs, { seed });

/**
 * The cells of every scenario whose runs were released to more than one train size; none when
 * runs.csv has no services column or a single size.
 */
export function servicesCells(rows: readonly RunRow[]): ServicesCell[] {
  const sized = rows.filter((r) => r.services !== undefined);
  const sizes = new Map<string, Set<number>>();
  for (const r of sized) sizes.set(r.scenario, (sizes.get(r.scenario) ?? new Set()).add(r.services!));
  const groups = new Map<string, RunRow[]>();
  for (const r of sized) {
    if ((sizes.get(r.scenario)?.size ?? 0) < 2) continue;
    const key = `${r.scenario}\u0000${r.arm}\u0000${r.services}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const cells = [...groups.values()].map((rs): ServicesCell => {
    const { scenario, arm, services } = rs[0]!;
    const faultyServices = rs[0]!.faultyServices ?? 0;
    const seed = (what: string) => bootstrapSeed(`services/${what}`, { scenario, sweep: String(services), arm });
    const count = (o: string) => rs.filter((r) => r.outcome === o).length;
    const healthy = rs.flatMap((r) => (r.servicesPromoted === undefined ? [] : [r.servicesPromoted]));
    return {
      scenario,
      arm,
      services: services!,
      faultyServices,
      n: rs.length,
      rolledBack: count('rolled_back'),
      promoted: count('promoted'),
      censored: count('censored'),
      mttr: interval(mttrOrCensored(rs), seed('mttr')),
      busyS: interval(
        rs.map((r) => r.operatorBusyS ?? 0),
        seed('busy'),
      ),
      manualActions: interval(
        rs.map((r) => r.manualActions ?? 0),
        seed('actions'),
      ),
      healthyPromoted: summarize(healthy).median,
    };
  });
  return cells.sort(
    (a, b) => a.scenario.localeCompare(b.scenario) || a.arm.localeCompare(b.arm) || a.services - b.services,
  );
}

const ci = (i: BootstrapInterval, digits = 1) =>
  i.estimate === undefined ? '—' : `${fmt(i.estimate, digits)} [${fmt(i.lower, digits)}, ${fmt(i.upper, digits)}]`;

export function servicesTable(cells: readonly ServicesCell[]): ReportTable {
  return {
    id: SERVICES_CHART_ID,
    title: 'MTTR and toil against the number of services',
    note:
      'A release train of N services, K of them faulty, released together (docs/design.md §13): Flagger analyses each service on its own; ' +
      'in the manual arm one person releases, looks at and steps the N services one at a time. ' +
      'Medians with 95% percentile-bootstrap CIs (2,000 resamples, seeded); a censored run counts at its censoring time. ' +
      'Healthy promoted: the median number of healthy services promoted before the run ended (a run ends at its deadline when the person has not promoted them all). Chart data: `charts/services.csv`.',
    columns: [
      'scenario',
      'arm',
      'services',
      'faulty',
      'n',
      'rolled back',
      'promoted',
      'censored',
      'MTTR median [95% CI] s',
      'manual actions median [95% CI]',
      'busy time median [95% CI] s',
      'healthy promoted',
    ],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: cells.map((c) => [
      c.scenario,
      c.arm,
      String(c.services),
      String(c.faultyServices),
      String(c.n),
      String(c.rolledBack),
      String(c.promoted),
      String(c.censored),
      ci(c.mttr),
      ci(c.manualActions, 0),
      ci(c.busyS, 0),
      c.healthyPromoted === undefined ? '—' : `${fmt(c.healthyPromoted, 0)} of ${c.services - c.faultyServices}`,
    ]),
  };
}

/**
 * Where, under the stated assumptions, the manual process stops keeping up with the number of
 * services, in words, per scenario: how each arm's median MTTR moves with N, the first N at which the
 * manual arm's MTTR CI lies wholly above its own at the smallest N, the first N at which the person
 * left healthy services unpromoted at the end of most runs, and their busy time.
 */
export function servicesParagraphs(cells: readonly ServicesCell[]): string[] {
  const scenarios = [...new Set(cells.map((c) => c.scenario))];
  return scenarios.map((scenario) => {
    const arm = (a: string) => cells.filter((c) => c.scenario === scenario && c.arm === a);
    const [manual, flagger] = [arm('manual'), arm('flagger')];
    const sentences: string[] = [];
    const span = (cs: ServicesCell[], pick: (c: ServicesCell) => number | undefined, unit: string) =>
      cs.map((c) => `${fmt(pick(c), 0)}${unit} at ${c.services}`).join(', ');
    if (flagger.length > 0)
      sentences.push(`${scenario}: Flagger's median MTTR was ${span(flagger, (c) => c.mttr.estimate, ' s')} services.`);
    if (manual.length > 0) {
      sentences.push(`The manual arm's was ${span(manual, (c) => c.mttr.estimate, ' s')} services.`);
      const base = manual[0]!;
      // A bootstrap CI of fewer medians is no interval (the break-even's rule).
      const enough = (c: ServicesCell) => c.n >= MIN_RUNS_FOR_VERDICT;
      const worse = manual.find(
        (c) =>
          c !== base && c.mttr.lower !== undefined && base.mttr.upper !== undefined && c.mttr.lower > base.mttr.upper,
      );
      if (!manual.every(enough))
        sentences.push(`With fewer than ${MIN_RUNS_FOR_VERDICT} runs in a cell, the CIs are not compared.`);
      else
        sentences.push(
          worse
            ? `From ${worse.services} services on, its MTTR's 95% CI [${fmt(worse.mttr.lower)}, ${fmt(worse.mttr.upper)}] s lies wholly above the one at ${base.services} [${fmt(base.mttr.lower)}, ${fmt(base.mttr.upper)}] s.`
            : `At no number of services does its MTTR's 95% CI lie wholly above the one at ${base.services}.`,
        );
      const behind = manual.find(
        (c) => c.healthyPromoted !== undefined && c.healthyPromoted < c.services - c.faultyServices,
      );
      sentences.push(
        behind
          ? `From ${behind.services} services on, the person had not promoted every healthy service when the run ended (median ${fmt(behind.healthyPromoted, 0)} of ${behind.services - behind.faultyServices}).`
          : 'At every number of services the person promoted every healthy service before the run ended.',
      );
      sentences.push(`The person's median busy time was ${span(manual, (c) => c.busyS.estimate, ' s')} services.`);
    }
    return sentences.join(' ');
  });
}

const r2 = (x: number | undefined) => (x === undefined ? null : Math.round(x * 100) / 100);

/** The chart's numbers, one row per cell, unformatted. */
export function servicesCsv(cells: readonly ServicesCell[]): string {
  const rows = cells.map((c) => ({
    scenario: c.scenario,
    arm: c.arm,
    services: c.services,
    faulty_services: c.faultyServices,
    n: c.n,
    rolled_back: c.rolledBack,
    promoted: c.promoted,
    censored: c.censored,
    mttr_median_s: r2(c.mttr.estimate),
    mttr_lower_s: r2(c.mttr.lower),
    mttr_upper_s: r2(c.mttr.upper),
    busy_median_s: r2(c.busyS.estimate),
    busy_lower_s: r2(c.busyS.lower),
    busy_upper_s: r2(c.busyS.upper),
    manual_actions_median: r2(c.manualActions.estimate),
    manual_actions_lower: r2(c.manualActions.lower),
    manual_actions_upper: r2(c.manualActions.upper),
  }));
  return stringify(rows, { header: true, columns: Object.keys(rows[0] ?? { scenario: '' }) });
}

const MEASURES = ['median MTTR (scenario s)', 'median operator busy time (scenario s)'] as const;

/**
 * Median MTTR and median busy time against the number of services, one line per arm (and scenario)
 * with its 95% CI as error bars, side by side with their own y scales.
 */
export function servicesSpec(cells: readonly ServicesCell[]): TopLevelSpec {
  const scenarios = new Set(cells.map((c) => c.scenario));
  const series = (c: ServicesCell) => (scenarios.size > 1 ? `${c.arm} (${c.scenario})` : c.arm);
  const arms = armOrder(cells.map(series));
  const values = cells.flatMap((c) =>
    (
      [
        [MEASURES[0], c.mttr],
        [MEASURES[1], c.busyS],
      ] as const
    ).map(([measure, i]) => ({
      arm: series(c),
      services: String(c.services),
      measure,
      median: r2(i.estimate),
      lower: r2(i.lower),
      upper: r2(i.upper),
      n: c.n,
    })),
  );
  const sizes = [...new Set(cells.map((c) => c.services))].sort((a, b) => a - b).map(String);
  const x = {
    field: 'services',
    type: 'ordinal',
    title: 'services in the release train',
    sort: sizes,
    axis: { labelAngle: 0 },
  };
  const colour = { field: 'arm', type: 'nominal', title: 'arm', scale: armScale(arms) };
  return {
    $schema: SCHEMA,
    title: {
      text: 'MTTR and toil against the number of services',
      subtitle: [
        'Median per arm with its 95% bootstrap CI (error bars); one faulty service per train unless the scenario says otherwise.',
        'Busy time: scenario seconds the manual actions kept the person busy (Flagger: 0).',
      ],
    },
    config: CONFIG,
    data: { values },
    facet: { column: { field: 'measure', type: 'nominal', title: null, sort: [...MEASURES] } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 260,
      height: 200,
      layer: [
        {
          name: 'ci',
          transform: [{ filter: 'isValid(datum.lower)' }],
          mark: { type: 'rule', strokeWidth: 2, opacity: 0.6 },
          encoding: {
            x,
            y: { field: 'lower', type: 'quantitative', title: null },
            y2: { field: 'upper' },
            color: colour,
          },
        },
        {
          name: 'median',
          transform: [{ filter: 'isValid(datum.median)' }],
          mark: { type: 'line', point: { filled: true, size: 60 }, strokeWidth: 2 },
          encoding: {
            x,
            y: { field: 'median', type: 'quantitative', title: null },
            color: colour,
            tooltip: [
              { field: 'arm' },
              { field: 'services' },
              { field: 'measure' },
              { field: 'median' },
              { field: 'lower', title: 'CI lower' },
              { field: 'upper', title: 'CI upper' },
              { field: 'n' },
            ],
          },
        },
      ],
    },
  } as unknown as TopLevelSpec;
}

/** The chart, when the runs hold a service-count sweep. */
export function servicesChartSpecs(cells: readonly ServicesCell[]): ChartSpec[] {
  if (cells.length === 0) return [];
  return [{ id: SERVICES_CHART_ID, title: 'MTTR and toil against the number of services', spec: servicesSpec(cells) }];
}
