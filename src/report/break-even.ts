/**
 * Break-even of a manual operator sweep: for each swept cell of the manual arm, is its MTTR below,
 * indistinguishable from, or above Flagger's on the same scenario, and what attention does that
 * operator cost. Computed from runs.csv rows alone, so the report and README's findings agree.
 */
import { bootstrapMedianCI, compareArms, summarize, type BootstrapInterval } from '../stats/index.ts';
import { bootstrapSeed, fmt, groupCells, type Cell, type RunRow } from './run-rows.ts';
import type { ReportTable } from './model.ts';

/** From the bootstrap CI of median(manual) − median(Flagger): entirely below 0, entirely above, or neither. */
export const Verdicts = ['faster', 'not distinguishable', 'slower'] as const;
export type Verdict = (typeof Verdicts)[number];
/** Where the manual median's 95% CI lies against Flagger's: the bands the chart draws. */
export type BandPosition = 'below' | 'overlaps' | 'above';

/** File stem of a break-even group's chart and its CSV, and its table's id: `break-even-<index>`. */
export const breakEvenChartId = (index: number) => `break-even-${index}`;

export interface BreakEvenCell {
  sweep: string;
  /** Swept field (short name, as in the sweep label) → value, in the sweep's order. */
  values: Array<[string, number | string]>;
  n: number;
  censored: number;
  manual: BootstrapInterval;
  /** median(manual) − median(Flagger), percentile bootstrap CI. */
  difference: BootstrapInterval;
  /** A12 = P(manual > Flagger) + ½·P(tie): below 0.5, the manual arm tends to recover sooner. */
  a12?: number;
  bands?: BandPosition;
  verdict?: Verdict;
  /**
   * The same comparison on TTM (impact → rollback issued): the part the operator's attention sets,
   * without the failures that may follow the rollback.
   */
  ttmDifference: BootstrapInterval;
  ttmVerdict?: Verdict;
  /** 3600 / lookIntervalS of the cell's operator (dashboard). */
  looksPerHour?: number;
  /** Mean pages per release, counted (alert operator). */
  pagesPerRelease?: number;
}

export interface BreakEvenGroup {
  scenario: string;
  /** Short names of the swept fields (one or two). */
  fields: string[];
  flaggerN: number;
  flagger: BootstrapInterval;
  cells: BreakEvenCell[];
}

/** "lookIntervalS=10, medianS=15" → [['lookIntervalS', 10], ['medianS', 15]] (load-files.ts sweepLabel's format). */
export function parseSweepLabel(label: string): Array<[string, number | string]> {
  if (!label) return [];
  // Split before each "name=": a value never contains one (numbers, or short strings).
  return label.split(/,?\s+(?=[A-Za-z0-9]+=)/).map((part) => {
    const at = part.indexOf('=');
    const raw = part.slice(at + 1);
    const n = Number(raw);
    return [part.slice(0, at), raw !== '' && Number.isFinite(n) ? n : raw];
  });
}

/**
 * MTTR of each run with user impact; a censored run counts at its censoring time, a lower bound of
 * its MTTR that lies above every recovered run, so it moves a median as its true value would.
 */
export function mttrOrCensored(rows: readonly RunRow[]): number[] {
  return rows.flatMap((r) => (r.mttrS !== undefined ? [r.mttrS] : r.censoredAtS !== undefined ? [r.censoredAtS] : []));
}

/** TTM (impact → rollback issued) of each run with user impact, a censored run's at its censoring time when it never got one. */
export function ttmOrCensored(rows: readonly RunRow[]): number[] {
  return rows.flatMap((r) => (r.ttmS !== undefined ? [r.ttmS] : r.censoredAtS !== undefined ? [r.censoredAtS] : []));
}

/** Fewer runs than this in either arm give no verdict: a bootstrap CI of so few medians is no interval. */
export const MIN_RUNS_FOR_VERDICT = 5;

export function verdictOf(d: BootstrapInterval, n: number, nFlagger: number): Verdict | undefined {
  if (d.lower === undefined || d.upper === undefined || Math.min(n, nFlagger) < MIN_RUNS_FOR_VERDICT) return undefined;
  return d.upper < 0 ? 'faster' : d.lower > 0 ? 'slower' : 'not distinguishable';
}

function bandsOf(m: BootstrapInterval, f: BootstrapInterval): BandPosition | undefined {
  if (m.lower === undefined || m.upper === undefined || f.lower === undefined || f.upper === undefined)
    return undefined;
  return m.upper < f.lower ? 'below' : m.lower > f.upper ? 'above' : 'overlaps';
}

/** Swept manual cells of a scenario with an unswept Flagger reference, grouped by the swept fields. */
export function breakEvenGroups(rows: readonly RunRow[]): BreakEvenGroup[] {
  const cells = groupCells(rows);
  const groups = new Map<string, { scenario: string; fields: string[]; flagger: Cell; manual: Cell[] }>();
  for (const m of cells) {
    if (m.arm !== 'manual' || m.sweep === '') continue;
    const flagger = cells.find((c) => c.arm === 'flagger' && c.scenario === m.scenario && c.sweep === '');
    if (!flagger) continue;
    const fields = parseSweepLabel(m.sweep).map(([k]) => k);
    const key = `${m.scenario}\u0000${fields.join('\u0000')}`;
    const g = groups.get(key) ?? { scenario: m.scenario, fields, flagger, manual: [] };
    g.manual.push(m);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const f = mttrOrCensored(g.flagger.rows);
    const flagger = bootstrapMedianCI(f, { seed: bootstrapSeed('break-even', g.flagger) });
    return {
      scenario: g.scenario,
      fields: g.fields,
      flaggerN: f.length,
      flagger,
      cells: g.manual.map((cell): BreakEvenCell => {
        const m = mttrOrCensored(cell.rows);
        const manual = bootstrapMedianCI(m, { seed: bootstrapSeed('break-even', cell) });
        // compareArms reads "b relative to a": b = manual gives median(manual) − median(Flagger).
        const c = compareArms(f, m, { seed: bootstrapSeed('break-even/difference', cell) });
        const [ft, mt] = [ttmOrCensored(g.flagger.rows), ttmOrCensored(cell.rows)];
        const ttm = compareArms(ft, mt, { seed: bootstrapSeed('break-even/ttm', cell) }).medianDifference;
        const looks = summarize(cell.rows.flatMap((r) => (r.looksPerHour === undefined ? [] : [r.looksPerHour])));
        const pages = cell.rows.flatMap((r) => (r.pages === undefined ? [] : [r.pages]));
        return {
          sweep: cell.sweep,
          values: parseSweepLabel(cell.sweep),
          n: m.length,
          censored: cell.rows.filter((r) => r.outcome === 'censored').length,
          manual,
          difference: c.medianDifference,
          a12: c.a12.a12,
          bands: bandsOf(manual, flagger),
          verdict: verdictOf(c.medianDifference, m.length, f.length),
          ttmDifference: ttm,
          ttmVerdict: verdictOf(ttm, mt.length, ft.length),
          looksPerHour: looks.median,
          pagesPerRelease: pages.length === 0 ? undefined : pages.reduce((a, b) => a + b, 0) / pages.length,
        };
      }),
    };
  });
}

const withCi = (i: BootstrapInterval) =>
  i.estimate === undefined ? '—' : `${fmt(i.estimate)} [${fmt(i.lower)}, ${fmt(i.upper)}]`;

/** One row per swept manual cell: medians, the difference with its CI, A12, the verdict and the attention. */
export function breakEvenTable(group: BreakEvenGroup, index = 1): ReportTable {
  const looks = group.cells.some((c) => c.looksPerHour !== undefined);
  const pages = group.cells.some((c) => c.pagesPerRelease !== undefined);
  const columns = [
    ...group.fields,
    'n (censored)',
    'manual median MTTR [95% CI] s',
    'Flagger median MTTR [95% CI] s',
    'manual − Flagger [95% CI] s',
    'A12 (manual > Flagger)',
    'verdict: manual is',
    'TTM manual − Flagger [95% CI] s',
    'on TTM, manual is',
    ...(looks ? ['looks per hour'] : []),
    ...(pages ? ['pages per release'] : []),
  ];
  return {
    id: breakEvenChartId(index),
    title: `Break-even against Flagger: ${group.scenario} over ${group.fields.join(' × ')}`,
    note:
      `Flagger's MTTR on the same scenario (n ${group.flaggerN}) against each swept cell of the manual arm. ` +
      'The verdict comes from the 95% percentile bootstrap CI of the difference of medians, not from the point estimate: ' +
      '**faster** when the whole interval is below 0, **slower** when it is above 0, else **not distinguishable**; ' +
      `no verdict with fewer than ${MIN_RUNS_FOR_VERDICT} runs in either arm. ` +
      'A censored run counts at its censoring time (a lower bound above every recovered run). ' +
      "TTM (impact → rollback issued) gets the same test: it is what the operator's attention sets, without failures after the rollback. " +
      'Looks per hour = 3600 / look interval, paid for every hour on watch; pages per release are counted in the runs.',
    columns,
    align: columns.map((_, i) =>
      i < group.fields.length || i === group.fields.length + 5 || i === group.fields.length + 7 ? 'l' : 'r',
    ),
    rows: group.cells.map((c) => [
      ...c.values.map(([, v]) => String(v)),
      `${c.n} (${c.censored})`,
      withCi(c.manual),
      withCi(group.flagger),
      withCi(c.difference),
      fmt(c.a12, 2),
      c.verdict ?? `— (n < ${MIN_RUNS_FOR_VERDICT})`,
      withCi(c.ttmDifference),
      c.ttmVerdict ?? `— (n < ${MIN_RUNS_FOR_VERDICT})`,
      ...(looks ? [fmt(c.looksPerHour, 0)] : []),
      ...(pages ? [fmt(c.pagesPerRelease, 2)] : []),
    ]),
  };
}

const list = (xs: string[]) =>
  xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;

/** Failures this long after the rollback are not the release's: the run recovered late for another reason. */
export const LATE_RECOVERY_S = 5;

/** Runs of the group (both arms) whose recovery came more than LATE_RECOVERY_S after the rollback. */
export function lateRecoveries(rows: readonly RunRow[], group: BreakEvenGroup): RunRow[] {
  const labels = new Set(['', ...group.cells.map((c) => c.sweep)]);
  return rows.filter(
    (r) =>
      r.scenario === group.scenario &&
      labels.has(r.sweep) &&
      r.mttrS !== undefined &&
      r.ttmS !== undefined &&
      r.mttrS - r.ttmS > LATE_RECOVERY_S,
  );
}

/**
 * Per value of the second swept field (or once, for one field), the values of the first at which
 * `pick` says faster, not distinguishable and slower, with the looks per hour each costs.
 */
function verdictWords(group: BreakEvenGroup, pick: (c: BreakEvenCell) => Verdict | undefined): string {
  const [first, second] = group.fields;
  const verdicts = new Set(group.cells.map(pick));
  const only = verdicts.size === 1 ? pick(group.cells[0]!) : undefined;
  if (only) return `${only} in every cell`;
  const lines = new Map<string, BreakEvenCell[]>();
  for (const c of group.cells) {
    const key = second === undefined ? '' : `${second} ${c.values[1]![1]}`;
    lines.set(key, [...(lines.get(key) ?? []), c]);
  }
  return [...lines]
    .map(([key, cells]) => {
      const by = Verdicts.map((v) => {
        const at = cells.filter((c) => pick(c) === v);
        if (at.length === 0) return '';
        const looks = at.every((c) => c.looksPerHour !== undefined)
          ? ` (${list(at.map((c) => fmt(c.looksPerHour, 0)))} looks per hour)`
          : '';
        return `${v} at ${first} ${list(at.map((c) => String(c.values[0]![1])))}${looks}`;
      }).filter(Boolean);
      return `${key ? `${key}: ` : ''}${by.join('; ') || 'no verdict'}`;
    })
    .join('. ');
}

/**
 * Where the break-even lies, in words: Flagger's median, the verdicts on MTTR and on TTM per
 * swept cell with the looks per hour each costs, the pages counted, and how many runs of each arm
 * recovered late for reasons other than the release.
 */
export function breakEvenParagraph(group: BreakEvenGroup, rows: readonly RunRow[]): string {
  const ns = [...new Set(group.cells.map((c) => c.n))];
  const censored = group.cells.reduce((a, c) => a + c.censored, 0);
  const pages = [
    ...new Set(group.cells.flatMap((c) => (c.pagesPerRelease === undefined ? [] : [c.pagesPerRelease]))),
  ].sort((a, b) => a - b);
  const late = lateRecoveries(rows, group);
  const lateFlagger = late.filter((r) => r.arm === 'flagger').length;
  const total = (arm: RunRow['arm']) =>
    rows.filter(
      (r) =>
        r.scenario === group.scenario &&
        r.arm === arm &&
        (arm === 'flagger' ? r.sweep === '' : group.cells.some((c) => c.sweep === r.sweep)),
    ).length;
  return [
    `${group.scenario}: Flagger's median MTTR ${withCi(group.flagger)} s (n ${group.flaggerN}).`,
    `The manual arm over ${group.fields.join(' × ')} (n ${list(ns.map(String))} per cell${censored > 0 ? `, ${censored} run(s) censored and kept` : ''}), ` +
      `against Flagger by the 95% CI of the difference of medians: ${verdictWords(group, (c) => c.verdict)}.`,
    `On TTM (impact → rollback issued): ${verdictWords(group, (c) => c.ttmVerdict)}.`,
    pages.length === 0
      ? ''
      : `Pages per release, counted: ${pages.length === 1 ? `${fmt(pages[0], 2)} in every cell` : `${fmt(pages[0], 2)}–${fmt(pages.at(-1), 2)}`}.`,
    late.length === 0
      ? ''
      : `${lateFlagger} of ${total('flagger')} Flagger runs and ${late.length - lateFlagger} of ${total('manual')} manual runs recovered more than ${LATE_RECOVERY_S} s ` +
        'after the rollback (failures after the release was withdrawn, not caused by it); they are kept.',
  ]
    .filter(Boolean)
    .join(' ');
}
