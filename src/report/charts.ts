/**
 * The report's charts as Vega-Lite v6 specs. Pure functions: data in, spec out, with every value
 * inlined, so a chart's .vl.json opens as is in the Vega editor and re-renders the same picture.
 *
 * Times are scenario seconds throughout (the harness multiplies compressed time back), and every
 * axis says so. Request records are binned here, never inlined raw: a run at 1,000 rps for 15
 * minutes has about a million of them.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RunEntry } from '../experiment/journal.ts';
import { isFailure, isSlow, type RequestRecord } from '../load/types.ts';
import { bootstrapMedianCI, kaplanMeier, summarize, type KaplanMeierFit } from '../stats/index.ts';
import { bootstrapSeed } from './run-rows.ts';

export type Arm = RunEntry['arm'];

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
export const ARMS: readonly Arm[] = ['manual', 'flagger'];
/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies and in greyscale. */
export const ARM_COLOURS: Record<Arm, string> = { manual: '#D55E00', flagger: '#0072B2' };
export const CENSORED_LABEL = 'censored (no recovery before deadline)';
export const RECOVERED_LABEL = 'recovered';

/**
 * Shared look. DejaVu Sans first because it is what resvg finds on a Debian machine; Vega measures
 * text without a canvas here, and an unavailable font would make PNG and layout disagree.
 */
export const CONFIG = {
  font: 'DejaVu Sans, Verdana, Arial, sans-serif',
  background: 'white',
  padding: 8,
  title: { fontSize: 14, anchor: 'start', subtitleFontSize: 11, subtitleColor: '#444', offset: 10 },
  axis: {
    labelFontSize: 11,
    titleFontSize: 11,
    titleFontWeight: 'normal',
    titleColor: '#222',
    labelColor: '#333',
    gridColor: '#eee',
  },
  legend: {
    labelFontSize: 11,
    titleFontSize: 11,
    titleFontWeight: 'normal',
    labelLimit: 600,
    orient: 'bottom',
    direction: 'horizontal',
    columns: 0,
    symbolOpacity: 1,
  },
  header: { labelFontSize: 12, titleFontSize: 12, labelLimit: 400 },
  view: { stroke: '#ccc' },
} as const;

/** Scenario name plus its sweep label: the "cell" a run belongs to, as the tables print it. */
export function cellLabel(run: Pick<RunEntry, 'scenario' | 'sweepLabel'>): string {
  return run.sweepLabel ? `${run.scenario} (${run.sweepLabel})` : run.scenario;
}

function unique<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

/** Arms in the fixed order manual, Flagger, then anything else in order of appearance. */
export function armOrder(present: Iterable<string>): string[] {
  const seen = unique(present);
  return [...ARMS.filter((a) => seen.includes(a)), ...seen.filter((a) => !(ARMS as readonly string[]).includes(a))];
}

export function armScale(domain: readonly string[]): { domain: string[]; range: string[] } {
  const extra = ['#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#999999'];
  let k = 0;
  return {
    domain: [...domain],
    // "flagger (not swept)" keeps Flagger's colour; the sweep chart tells them apart by dashes.
    range: domain.map((a) => ARM_COLOURS[a.split(' ')[0] as Arm] ?? extra[k++ % extra.length]!),
  };
}

/** Deterministic jitter in [−1, 1] from a run id, so re-rendering draws the same picture. */
export function jitterOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // MurmurHash3's finaliser: FNV alone maps ids that differ in their last character (r1, r2)
  // to nearby values, which would stack those runs' points on one line.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return ((h >>> 0) / 0xffffffff) * 2 - 1;
}

const round = (x: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * A faceted layer when there are several panels, a plain layer otherwise: a one-panel facet would
 * print a header that only repeats the title.
 */
function facetOrLayer(
  base: { title: unknown; data: unknown },
  inner: Record<string, unknown>,
  facet: { field: string; title: string; sort: string[] },
): TopLevelSpec {
  if (facet.sort.length <= 1) return { $schema: SCHEMA, ...base, config: CONFIG, ...inner } as unknown as TopLevelSpec;
  return {
    $schema: SCHEMA,
    ...base,
    config: CONFIG,
    // Wrapped two to a row: more scenarios grow the chart downwards, not off the page.
    facet: { field: facet.field, type: 'nominal', title: facet.title, sort: facet.sort },
    columns: 2,
    spec: inner,
  } as unknown as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// a. MTTR per arm

/** One point of the MTTR box plot. */
export interface MttrPoint {
  runId: string;
  arm: Arm;
  cell: string;
  outcome: string;
  status: typeof RECOVERED_LABEL | typeof CENSORED_LABEL;
  /** MTTR, or the censoring time for a censored run, scenario seconds. */
  seconds: number;
  jitter: number;
}

/** Runs that had user impact: recovered (MTTR) or censored at the deadline. Others have no MTTR. */
export function mttrPoints(runs: readonly RunEntry[]): MttrPoint[] {
  const out: MttrPoint[] = [];
  for (const run of runs) {
    const m = run.metrics;
    const base = {
      runId: run.runId,
      arm: run.arm,
      cell: cellLabel(run),
      outcome: m.outcome,
      jitter: round(jitterOf(run.runId)),
    };
    if (m.mttrS !== undefined) out.push({ ...base, status: RECOVERED_LABEL, seconds: round(m.mttrS) });
    else if (m.censoredAtS !== undefined) out.push({ ...base, status: CENSORED_LABEL, seconds: round(m.censoredAtS) });
  }
  // Evenly spaced offsets within each scenario × arm, in an order fixed by the run ids: random
  // jitter can still put two runs with equal MTTR on top of each other.
  const groups = new Map<string, MttrPoint[]>();
  for (const p of out) {
    const key = `${p.cell}\u0000${p.arm}`;
    const g = groups.get(key);
    if (g) g.push(p);
    else groups.set(key, [p]);
  }
  for (const g of groups.values()) {
    g.sort((a, b) => a.jitter - b.jitter);
    g.forEach((p, k) => {
      p.jitter = g.length === 1 ? 0 : round(-0.9 + (1.8 * k) / (g.length - 1));
    });
  }
  return out;
}

/**
 * MTTR (recover − impact) per arm: a box plot of the runs that recovered, every run on top as a
 * jittered point, and each censored run as a hollow triangle at its censoring time. Several
 * scenarios (or sweep cells) become column facets.
 */
export function mttrBoxPlotSpec(runs: readonly RunEntry[]): TopLevelSpec {
  const points = mttrPoints(runs);
  const arms = armOrder(points.map((p) => p.arm));
  const cells = unique(points.map((p) => p.cell));
  const censored = points.filter((p) => p.status === CENSORED_LABEL).length;
  const without = runs.length - points.length;
  const subtitle = [
    'Box: runs that recovered (median, quartiles, whiskers to min and max).',
    `Points: every run with user impact (${points.length}${censored ? `, ${censored} censored, hollow, at the censoring time` : ', none censored'}).`,
    ...(without > 0 ? [`${without} run(s) without user impact have no MTTR and are not shown.`] : []),
  ];
  const x = {
    field: 'seconds',
    type: 'quantitative',
    title: 'MTTR = recover − impact (scenario s)',
    scale: { zero: true, nice: true },
  };
  const y = { field: 'arm', type: 'nominal', title: 'arm', sort: arms, scale: { domain: arms } };
  const colours = armScale(arms);
  const inner = {
    width: 460,
    height: { step: 56 },
    layer: [
      // Only with a recovered run somewhere: an empty box layer leaves infinite scale extents.
      ...(points.length - censored === 0
        ? []
        : [
            {
              name: 'box',
              transform: [{ filter: `datum.status === '${RECOVERED_LABEL}'` }],
              mark: {
                type: 'boxplot',
                extent: 'min-max',
                size: 30,
                opacity: 0.35,
                median: { color: '#222', strokeWidth: 2 },
                rule: { color: '#666' },
              },
              encoding: { x, y, color: { field: 'arm', type: 'nominal', scale: colours, sort: arms } },
            },
          ]),
      {
        name: 'runs',
        mark: { type: 'point', filled: true, size: 70, strokeWidth: 1.6, opacity: 0.95 },
        encoding: {
          x,
          y,
          yOffset: { field: 'jitter', type: 'quantitative', scale: { domain: [-1.5, 1.5] } },
          color: { field: 'arm', type: 'nominal', scale: colours, title: 'arm', sort: arms },
          stroke: { field: 'arm', type: 'nominal', scale: colours, title: 'arm', sort: arms },
          shape: {
            field: 'status',
            type: 'nominal',
            title: null,
            scale: { domain: [RECOVERED_LABEL, CENSORED_LABEL], range: ['circle', 'triangle-right'] },
            // The legend's symbols must look like the marks: filled for recovered, hollow for censored.
            legend: {
              symbolStrokeColor: '#555',
              symbolFillColor: '#555',
              symbolStrokeWidth: 1.6,
              encoding: {
                symbols: {
                  fillOpacity: { condition: { test: `datum.value === '${RECOVERED_LABEL}'`, value: 0.75 }, value: 0 },
                },
              },
            },
          },
          fillOpacity: { condition: { test: `datum.status === '${RECOVERED_LABEL}'`, value: 0.75 }, value: 0 },
          tooltip: [
            { field: 'runId', title: 'run' },
            { field: 'outcome' },
            { field: 'seconds', title: 'MTTR or censored at (s)', format: '.1f' },
          ],
        },
      },
    ],
  };
  return facetOrLayer({ title: { text: 'MTTR per arm', subtitle }, data: { values: points } }, inner, {
    field: 'cell',
    title: 'scenario',
    sort: cells,
  });
}

// ---------------------------------------------------------------------------------------------
// b. Timelines of single runs

/** One 1-second bin of a run's requests, by the time the client saw the answer. */
export interface RequestBin {
  /** Start of the bin, scenario seconds since the release. */
  tS: number;
  requests: number;
  failures: number;
  /** Answers later than the SLO's latency limit that did not fail (docs/design.md §12). */
  slow: number;
  /** Requests answered by the released build (x-app-version). */
  canary: number;
}

/**
 * Bins a run's requests into 1-scenario-second bins over [release − 10 s, end], by `doneMs`: the
 * moment the user saw the answer, which is when an error or a slow answer is observed. One pass,
 * no sorting. Without `latencyLimitMs` (or with null) no answer counts as slow.
 */
export function binRequests(
  records: readonly RequestRecord[],
  window: {
    releaseMs: number;
    endMs: number;
    releaseVersion: string;
    latencyLimitMs?: number | null;
    beforeS?: number;
  },
): RequestBin[] {
  const limitMs = window.latencyLimitMs ?? null;
  const beforeS = window.beforeS ?? 10;
  const first = -beforeS;
  const last = Math.max(first, Math.ceil((window.endMs - window.releaseMs) / 1000) - 1);
  const n = last - first + 1;
  const requests = new Uint32Array(n);
  const failures = new Uint32Array(n);
  const slow = new Uint32Array(n);
  const canary = new Uint32Array(n);
  for (const r of records) {
    const i = Math.floor((r.doneMs - window.releaseMs) / 1000) - first;
    if (i < 0 || i >= n) continue;
    requests[i]!++;
    if (isFailure(r)) failures[i]!++;
    else if (isSlow(r, limitMs)) slow[i]!++;
    if (r.version === window.releaseVersion) canary[i]!++;
  }
  const out: RequestBin[] = [];
  for (let i = 0; i < n; i++)
    out.push({ tS: first + i, requests: requests[i]!, failures: failures[i]!, slow: slow[i]!, canary: canary[i]! });
  return out;
}

export const TIMELINE_EVENTS = ['release', 'impact', 'detect', 'mitigate', 'recover', 'promoted'] as const;
export type TimelineEvent = (typeof TIMELINE_EVENTS)[number];
const EVENT_COLOURS: Record<TimelineEvent, string> = {
  release: '#333333',
  impact: '#CC79A7',
  detect: '#E69F00',
  mitigate: '#009E73',
  recover: '#56B4E9',
  promoted: '#7F3C8D',
};
const EVENT_DASH: Record<TimelineEvent, number[]> = {
  release: [1, 0],
  impact: [4, 2],
  detect: [6, 2, 2, 2],
  mitigate: [1, 0],
  recover: [2, 2],
  promoted: [8, 3],
};
const ERROR_SERIES = 'error rate (failed share of answers)';
const SLOW_SERIES = 'slow share (answered later than the SLO)';
const CANARY_SERIES = 'canary traffic share (answered by the release)';

export const DEFAULT_MAX_TIMELINE_RUNS = 24;

/**
 * Which runs get a timeline panel when there are more than `max`: the scenario × arm cells take
 * turns in journal order, so every cell is shown before any shows its second run.
 */
export function pickTimelineRuns(runs: readonly RunEntry[], max = DEFAULT_MAX_TIMELINE_RUNS): RunEntry[] {
  if (runs.length <= max) return [...runs];
  const queues = new Map<string, RunEntry[]>();
  for (const r of runs) {
    const key = `${cellLabel(r)}\u0000${r.arm}`;
    const q = queues.get(key);
    if (q) q.push(r);
    else queues.set(key, [r]);
  }
  const chosen = new Set<RunEntry>();
  while (chosen.size < max) {
    for (const q of queues.values()) {
      const next = q.shift();
      if (next && chosen.size < max) chosen.add(next);
    }
  }
  return runs.filter((r) => chosen.has(r));
}

function eventTimes(run: RunEntry): Array<{ event: TimelineEvent; ms: number }> {
  const m = run.metrics;
  const at: Record<TimelineEvent, number | undefined> = {
    release: m.releaseMs,
    impact: m.impactMs,
    detect: m.detectMs,
    mitigate: m.mitigateMs,
    recover: m.recoverMs,
    promoted: m.promotedMs,
  };
  return TIMELINE_EVENTS.flatMap((event) => (at[event] === undefined ? [] : [{ event, ms: at[event]! }]));
}

/**
 * One small panel per run (at most `maxRuns`, three per row): client-observed error rate, the share
 * of slow answers (later than the run's SLO latency limit, from `options.latencyLimitMsByRun`; none
 * for a run it does not name) and the canary's traffic share in 1 s bins, with the run's release, impact, detect, mitigate, recover
 * (and promoted) moments as vertical rules. x is seconds since the release, shared by all panels
 * so the arms compare at a glance.
 */
export function timelinesSpec(
  runs: readonly RunEntry[],
  recordsByRun: ReadonlyMap<string, readonly RequestRecord[]>,
  releaseVersionByRun: ReadonlyMap<string, string>,
  options: { maxRuns?: number; columns?: number; latencyLimitMsByRun?: ReadonlyMap<string, number | null> } = {},
): TopLevelSpec {
  const max = options.maxRuns ?? DEFAULT_MAX_TIMELINE_RUNS;
  const shown = pickTimelineRuns(runs, max);
  const values: Array<Record<string, string | number | null>> = [];
  /** Facet labels, by panel number (the rows carry the number, not the label). */
  const panels: string[] = [];
  const missing: string[] = [];
  for (const run of shown) {
    const m = run.metrics;
    const fate =
      m.mttrS !== undefined
        ? `${m.outcome}, MTTR ${m.mttrS.toFixed(0)} s`
        : m.censoredAtS !== undefined
          ? `censored ${m.censoredAtS.toFixed(0)} s after impact`
          : m.outcome;
    const panel = panels.length;
    panels.push(`${run.runId}\n${fate}`);
    const records = recordsByRun.get(run.runId);
    if (!records) missing.push(run.runId);
    const bins = records
      ? binRequests(records, {
          releaseMs: m.releaseMs,
          endMs: m.endMs,
          releaseVersion: releaseVersionByRun.get(run.runId) ?? '',
          latencyLimitMs: options.latencyLimitMsByRun?.get(run.runId),
        })
      : [];
    if (!records) {
      // No records: two empty rows span the window, so the panel keeps its axis and its rules.
      for (const t of [-10, Math.ceil((m.endMs - m.releaseMs) / 1000)])
        values.push({ panel, t, err: null, slow: null, can: null });
    }
    // One short row per bin: a long run at full rate inlines ~1,000 bins per panel.
    // An empty bin is a gap (null), not a zero: nobody was answered, so no rate was observed.
    for (const b of bins) {
      values.push({
        panel,
        t: b.tS,
        err: b.requests ? round(b.failures / b.requests, 3) : null,
        slow: b.requests ? round(b.slow / b.requests, 3) : null,
        can: b.requests ? round(b.canary / b.requests, 3) : null,
      });
    }
    for (const e of eventTimes(run)) values.push({ panel, t: round((e.ms - m.releaseMs) / 1000), event: e.event });
  }
  const events = TIMELINE_EVENTS.filter((e) => values.some((v) => v.event === e));
  const subtitle = [
    'Per run: failed and slow (later than the SLO) shares of the requests answered in each 1 s bin, and the share answered by the released build (x-app-version).',
    `Vertical rules: the run's timeline moments. ${shown.length < runs.length ? `Showing ${shown.length} of ${runs.length} runs (scenario × arm cells take turns).` : `All ${runs.length} runs.`}` +
      (missing.length
        ? ` No request file for ${missing.length} run(s): ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}.`
        : ''),
  ];
  const x = { field: 't', type: 'quantitative', title: 'seconds since release (scenario s)', scale: { nice: false } };
  // One colour scale for the two series (constant datums) and the moments (a field), so all
  // panels share a single legend; strokeDash on the same domain merges into it.
  const keys = [CANARY_SERIES, ERROR_SERIES, SLOW_SERIES, ...events];
  const colourScale = {
    domain: keys,
    range: ['#0072B2', '#D55E00', '#882255', ...events.map((e) => EVENT_COLOURS[e])],
  };
  const dashScale = { domain: keys, range: [[1, 0], [1, 0], [3, 1], ...events.map((e) => EVENT_DASH[e])] };
  const legend = { symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolOpacity: 1, symbolSize: 220 };
  const spec = {
    $schema: SCHEMA,
    title: { text: 'Run timelines', subtitle },
    config: CONFIG,
    data: { values },
    facet: {
      field: 'panel',
      type: 'ordinal',
      title: null,
      // Run id on the first line, outcome and MTTR on the second.
      header: {
        labelFontSize: 11,
        labelLimit: 300,
        labelPadding: 4,
        labelExpr: `split(${JSON.stringify(panels)}[datum.value], '\\n')`,
      },
    },
    columns: options.columns ?? 3,
    // Each panel spans its own run: a shared axis would squeeze a 60 s Flagger run next to a manual
    // run censored at 900 s into a sliver. The MTTR and Kaplan–Meier charts do the comparing.
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 280,
      height: 110,
      layer: [
        {
          name: 'canary',
          transform: [{ filter: 'isValid(datum.t) && !isValid(datum.event)' }],
          mark: { type: 'area', opacity: 0.3, interpolate: 'step-after' },
          encoding: {
            x,
            y: {
              field: 'can',
              type: 'quantitative',
              title: 'share of requests',
              scale: { domain: [0, 1] },
              axis: { format: '%', tickCount: 3 },
            },
            color: { datum: CANARY_SERIES, type: 'nominal', scale: colourScale, title: null, legend },
          },
        },
        {
          name: 'errors',
          transform: [{ filter: 'isValid(datum.t) && !isValid(datum.event)' }],
          mark: { type: 'line', strokeWidth: 1.4, interpolate: 'step-after' },
          encoding: {
            x,
            y: { field: 'err', type: 'quantitative' },
            color: { datum: ERROR_SERIES, type: 'nominal' },
          },
        },
        {
          name: 'slow',
          transform: [{ filter: 'isValid(datum.t) && !isValid(datum.event)' }],
          mark: { type: 'line', strokeWidth: 1.4, strokeDash: [3, 1], interpolate: 'step-after' },
          encoding: {
            x,
            y: { field: 'slow', type: 'quantitative' },
            color: { datum: SLOW_SERIES, type: 'nominal' },
          },
        },
        {
          name: 'events',
          transform: [{ filter: 'isValid(datum.event)' }],
          mark: { type: 'rule', strokeWidth: 1.5 },
          encoding: {
            x: { field: 't', type: 'quantitative' },
            color: { field: 'event', type: 'nominal', title: null },
            strokeDash: { field: 'event', type: 'nominal', title: null, scale: dashScale },
          },
        },
      ],
    },
  };
  return spec as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// c. Kaplan–Meier

/** One Kaplan–Meier curve: time to recovery from the first impact, for one arm of one scenario. */
export interface KmCurve {
  arm: Arm;
  /** Scenario (and sweep) label; curves of several scenarios become column facets. */
  scenario: string;
  fit: KaplanMeierFit;
}

/**
 * One curve per scenario × arm over the runs with user impact: recovery is the event at MTTR; a
 * run that hit its deadline is censored at `censoredAtS` (kept in the risk set, never dropped).
 * Same observations as the summary table's KM median.
 */
export function kaplanMeierCurves(runs: readonly RunEntry[]): KmCurve[] {
  const groups = new Map<string, { arm: Arm; scenario: string; obs: Array<{ time: number; event: boolean }> }>();
  for (const run of runs) {
    const m = run.metrics;
    const obs =
      m.mttrS !== undefined
        ? { time: m.mttrS, event: true }
        : m.censoredAtS !== undefined
          ? { time: m.censoredAtS, event: false }
          : undefined;
    if (!obs) continue;
    const scenario = cellLabel(run);
    const key = `${scenario}\u0000${run.arm}`;
    const g = groups.get(key);
    if (g) g.obs.push(obs);
    else groups.set(key, { arm: run.arm, scenario, obs: [obs] });
  }
  return [...groups.values()].map((g) => ({ arm: g.arm, scenario: g.scenario, fit: kaplanMeier(g.obs) }));
}

/**
 * "Share of runs still broken" against seconds since impact, a step line per arm (step-after:
 * S(t) holds until the next recovery), its 95% pointwise band, and a tick at each censoring.
 */
export function kaplanMeierSpec(curves: readonly KmCurve[]): TopLevelSpec {
  const values: Array<Record<string, string | number | null>> = [];
  for (const c of curves) {
    const base = { arm: c.arm, scenario: c.scenario };
    values.push({ ...base, kind: 'curve', t: 0, s: 1, atRisk: c.fit.n });
    values.push({ ...base, kind: 'band', t: 0, lower: 1, upper: 1 });
    const steps = c.fit.steps;
    let lastBand: { lower: number; upper: number } | undefined = { lower: 1, upper: 1 };
    steps.forEach((step) => {
      const t = round(step.time);
      values.push({ ...base, kind: 'curve', t, s: round(step.survival, 4), atRisk: step.atRisk });
      if (step.lower !== undefined && step.upper !== undefined) {
        lastBand = { lower: round(step.lower, 4), upper: round(step.upper, 4) };
        values.push({ ...base, kind: 'band', t, ...lastBand });
      } else if (lastBand) {
        // The band ends where the bounds stop (S = 0): close the last stretch at this time.
        values.push({ ...base, kind: 'band', t, ...lastBand });
        lastBand = undefined;
      }
      if (step.censored > 0)
        values.push({
          ...base,
          kind: 'censor',
          t,
          s: round(step.survival, 4),
          censored: step.censored,
          mark: CENSORED_LABEL,
        });
    });
  }
  const arms = armOrder(curves.map((c) => c.arm));
  const scenarios = unique(curves.map((c) => c.scenario));
  const colours = armScale(arms);
  const censoredTotal = curves.reduce((k, c) => k + (c.fit.n - c.fit.events), 0);
  const x = { field: 't', type: 'quantitative', title: 'seconds since impact (scenario s)', scale: { zero: true } };
  const y = {
    field: 's',
    type: 'quantitative',
    title: 'share of runs still broken',
    scale: { domain: [0, 1] },
    axis: { format: '%' },
  };
  const color = { field: 'arm', type: 'nominal', scale: colours, title: 'arm', sort: arms };
  const inner = {
    width: 460,
    height: 240,
    layer: [
      {
        name: 'band',
        transform: [{ filter: "datum.kind === 'band'" }],
        mark: { type: 'area', opacity: 0.12, interpolate: 'step-after' },
        encoding: { x, y: { field: 'lower', type: 'quantitative' }, y2: { field: 'upper' }, color },
      },
      {
        name: 'km',
        transform: [{ filter: "datum.kind === 'curve'" }],
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
        encoding: {
          x,
          y,
          color,
          tooltip: [
            { field: 'arm' },
            { field: 't', title: 's since impact', format: '.1f' },
            { field: 's', title: 'still broken', format: '.0%' },
            { field: 'atRisk', title: 'at risk' },
          ],
        },
      },
      // Only with censorings: an empty layer leaves its scale domain infinite and Vega warns.
      ...(censoredTotal === 0
        ? []
        : [
            {
              name: 'censor',
              transform: [{ filter: "datum.kind === 'censor'" }],
              // A vertical bar symbol: Vega's custom SVG path in unit coordinates.
              mark: { type: 'point', filled: false, strokeWidth: 2, size: 120 },
              encoding: {
                x,
                y,
                stroke: color,
                shape: {
                  field: 'mark',
                  type: 'nominal',
                  title: null,
                  scale: { domain: [CENSORED_LABEL], range: ['M0,-1L0,1'] },
                },
              },
            },
          ]),
    ],
  };
  const subtitle = [
    'Kaplan–Meier estimate over the runs with user impact; the event is recovery (MTTR). Band: 95% pointwise CI (log).',
    censoredTotal > 0
      ? `${censoredTotal} run(s) censored (no recovery before the deadline): kept in the risk set until their censoring time, marked |.`
      : 'No run was censored: every run with impact recovered before its deadline.',
  ];
  return facetOrLayer(
    { title: { text: 'Time to recovery: share of runs still broken', subtitle }, data: { values } },
    inner,
    { field: 'scenario', title: 'scenario', sort: scenarios },
  );
}

// ---------------------------------------------------------------------------------------------
// d. Phases of the incident

/** Medians of one scenario × arm, over the runs where detect, mitigate and recover were all seen. */
export interface PhaseCell {
  scenario: string;
  arm: Arm;
  /** Runs the medians are taken over. */
  n: number;
  ttdS: number;
  ttmS: number;
  mttrS: number;
}

/**
 * Median TTD, TTM and MTTR per scenario × arm, each over the same runs (those with all three), so
 * the medians nest: median TTD ≤ median TTM ≤ median MTTR, since each run's do.
 */
export function phaseCells(runs: readonly RunEntry[]): PhaseCell[] {
  const groups = new Map<string, { scenario: string; arm: Arm; rows: Array<[number, number, number]> }>();
  for (const run of runs) {
    const { ttdS, ttmS, mttrS } = run.metrics;
    if (ttdS === undefined || ttmS === undefined || mttrS === undefined) continue;
    const scenario = cellLabel(run);
    const key = `${scenario}\u0000${run.arm}`;
    const g = groups.get(key);
    if (g) g.rows.push([ttdS, ttmS, mttrS]);
    else groups.set(key, { scenario, arm: run.arm, rows: [[ttdS, ttmS, mttrS]] });
  }
  return [...groups.values()].map((g) => ({
    scenario: g.scenario,
    arm: g.arm,
    n: g.rows.length,
    ttdS: summarize(g.rows.map((r) => r[0])).median!,
    ttmS: summarize(g.rows.map((r) => r[1])).median!,
    mttrS: summarize(g.rows.map((r) => r[2])).median!,
  }));
}

const PHASES = ['detection (TTD)', 'mitigation (TTM − TTD)', 'recovery (MTTR − TTM)'] as const;

/**
 * Stacked horizontal bars per scenario × arm: median detection, then mitigation, then recovery, so
 * the bar's end is the median MTTR. A segment that would be negative (medians over few runs can
 * cross) is drawn as zero; the labels carry the exact medians.
 */
export function phaseBreakdownSpec(cells: readonly PhaseCell[]): TopLevelSpec {
  const several = unique(cells.map((c) => c.scenario)).length > 1;
  const label = (c: PhaseCell) => (several ? `${c.scenario} · ${c.arm}` : c.arm);
  const ordered = [...cells].sort((a, b) => {
    if (a.scenario !== b.scenario)
      return cells.findIndex((c) => c.scenario === a.scenario) - cells.findIndex((c) => c.scenario === b.scenario);
    return ARMS.indexOf(a.arm) - ARMS.indexOf(b.arm);
  });
  const values: Array<Record<string, string | number>> = [];
  for (const c of ordered) {
    const detect = Math.max(0, c.ttdS);
    const mitigate = Math.max(detect, c.ttmS);
    const recover = Math.max(mitigate, c.mttrS);
    const bounds: Array<[number, number]> = [
      [0, detect],
      [detect, mitigate],
      [mitigate, recover],
    ];
    PHASES.forEach((phase, i) => {
      const [start, end] = bounds[i]!;
      values.push({
        row: label(c),
        arm: c.arm,
        phase,
        order: i,
        start: round(start),
        end: round(end),
        seconds: round(end - start, 1),
      });
    });
    values.push({
      row: label(c),
      arm: c.arm,
      phase: 'total',
      order: 3,
      start: round(recover),
      end: round(recover),
      seconds: round(c.mttrS, 1),
      text: `MTTR ${c.mttrS.toFixed(0)} s (n = ${c.n})`,
    });
  }
  const rows = ordered.map(label);
  const y = { field: 'row', type: 'nominal', title: several ? 'scenario · arm' : 'arm', sort: rows };
  return {
    $schema: SCHEMA,
    title: {
      text: 'Where the time goes: detection, mitigation, recovery',
      subtitle: [
        'Medians per arm over the runs where detect, mitigate and recover were all observed; the bar ends at the median MTTR.',
        'TTD = detect − impact, TTM = mitigate − impact, MTTR = recover − impact.',
      ],
    },
    config: CONFIG,
    data: { values },
    width: 460,
    height: { step: 40 },
    layer: [
      {
        name: 'phases',
        transform: [{ filter: "datum.phase !== 'total'" }],
        mark: { type: 'bar', height: 24 },
        encoding: {
          y,
          x: {
            field: 'start',
            type: 'quantitative',
            title: 'seconds since impact (scenario s), medians',
            scale: { zero: true },
          },
          x2: { field: 'end' },
          color: {
            field: 'phase',
            type: 'nominal',
            title: null,
            scale: { domain: [...PHASES], range: ['#E69F00', '#009E73', '#56B4E9'] },
          },
          tooltip: [{ field: 'row', title: 'cell' }, { field: 'phase' }, { field: 'seconds', title: 'median s' }],
        },
      },
      {
        name: 'totals',
        transform: [{ filter: "datum.phase === 'total'" }],
        mark: { type: 'text', align: 'left', dx: 5, fontSize: 11, color: '#222' },
        encoding: { y, x: { field: 'end', type: 'quantitative' }, text: { field: 'text' } },
      },
    ],
  } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// e. Parameter sweeps

/** Median MTTR of one swept cell and arm, with its bootstrap CI. */
export interface SweepPoint {
  arm: string;
  value: number | string;
  value2?: number | string;
  median?: number;
  lower?: number;
  upper?: number;
  n: number;
}

/** The sweeps of an experiment, one group per scenario and set of swept fields. */
export interface SweepGroup {
  scenario: string;
  parameter: string;
  second?: string;
  points: SweepPoint[];
}

const sweepValue = (v: unknown): number | string =>
  typeof v === 'number' ? v : typeof v === 'string' ? v : JSON.stringify(v);

/**
 * Median MTTR with the summary table's bootstrap CI per swept cell and arm. An arm that ran the
 * scenario only unswept (Flagger as the reference for a swept operator) is repeated at every swept
 * value as "<arm> (not swept)", a flat reference line.
 */
export function sweepGroups(runs: readonly RunEntry[]): SweepGroup[] {
  const out: SweepGroup[] = [];
  const swept = runs.filter((r) => r.sweep && Object.keys(r.sweep).length > 0);
  const keysOf = (r: RunEntry) => Object.keys(r.sweep ?? {});
  const groupKeys = unique(swept.map((r) => `${r.scenario}\u0000${keysOf(r).join('\u0000')}`));
  for (const gk of groupKeys) {
    const [scenario, parameter, second] = gk.split('\u0000') as [string, string, string | undefined];
    const mine = swept.filter(
      (r) => r.scenario === scenario && keysOf(r).join('\u0000') === gk.slice(scenario.length + 1),
    );
    const cells = new Map<
      string,
      { arm: string; value: number | string; value2?: number | string; label: string; mttr: number[]; n: number }
    >();
    for (const r of mine) {
      const key = `${r.sweepLabel ?? ''}\u0000${r.arm}`;
      let c = cells.get(key);
      if (!c) {
        c = { arm: r.arm, value: sweepValue(r.sweep![parameter]), label: r.sweepLabel ?? '', mttr: [], n: 0 };
        if (second !== undefined) c.value2 = sweepValue(r.sweep![second]);
        cells.set(key, c);
      }
      c.n++;
      if (r.metrics.mttrS !== undefined) c.mttr.push(r.metrics.mttrS);
    }
    const points: SweepPoint[] = [...cells.values()].map((c) => {
      const ci = bootstrapMedianCI(c.mttr, { seed: bootstrapSeed('median', { scenario, sweep: c.label, arm: c.arm }) });
      return {
        arm: c.arm,
        value: c.value,
        ...(c.value2 !== undefined ? { value2: c.value2 } : {}),
        median: ci.estimate,
        lower: ci.lower,
        upper: ci.upper,
        n: c.n,
      };
    });
    const sweptArms = new Set(points.map((p) => p.arm));
    const combos = unique(points.map((p) => JSON.stringify([p.value, p.value2 ?? null])));
    for (const arm of ARMS) {
      if (sweptArms.has(arm)) continue;
      const ref = runs.filter((r) => r.scenario === scenario && r.arm === arm && !r.sweepLabel);
      if (ref.length === 0) continue;
      const mttr = ref.flatMap((r) => (r.metrics.mttrS === undefined ? [] : [r.metrics.mttrS]));
      const ci = bootstrapMedianCI(mttr, { seed: bootstrapSeed('median', { scenario, sweep: '', arm }) });
      for (const combo of combos) {
        const [value, value2] = JSON.parse(combo) as [number | string, number | string | null];
        points.push({
          arm: `${arm} (not swept)`,
          value,
          ...(value2 !== null ? { value2 } : {}),
          median: ci.estimate,
          lower: ci.lower,
          upper: ci.upper,
          n: ref.length,
        });
      }
    }
    out.push({ scenario, parameter, ...(second !== undefined ? { second } : {}), points });
  }
  return out;
}

/**
 * Median MTTR against the swept value per arm, with the CI as a band. With a second swept field, a
 * heatmap per arm instead: one cell per combination, colour = median MTTR, labelled with it.
 * Numeric values get a linear axis; anything else is ordinal, in the order of the points.
 */
export function sweepSpec(points: readonly SweepPoint[], parameter: string, second?: string): TopLevelSpec {
  const arms = armOrder(points.map((p) => p.arm));
  const colours = armScale(arms);
  const numeric = points.every((p) => typeof p.value === 'number');
  const order = (xs: Array<number | string>) => unique(xs).map(String);
  const highest = Math.max(0, ...points.flatMap((p) => (p.median === undefined ? [] : [p.median])));
  const values = points.map((p) => ({
    arm: p.arm,
    value: numeric ? p.value : String(p.value),
    ...(p.value2 !== undefined ? { value2: String(p.value2) } : {}),
    median: p.median === undefined ? null : round(p.median, 2),
    lower: p.lower === undefined ? null : round(p.lower, 2),
    upper: p.upper === undefined ? null : round(p.upper, 2),
    n: p.n,
    label: p.median === undefined ? `— (n = ${p.n})` : `${p.median.toFixed(0)} s`,
    ink: p.median !== undefined && highest > 0 && p.median > 0.6 * highest ? 'light' : 'dark',
  }));
  const noRecovery = points.filter((p) => p.median === undefined).length;
  const note = noRecovery > 0 ? ` ${noRecovery} cell(s) had no recovered run and show no median.` : '';
  if (second !== undefined) {
    return {
      $schema: SCHEMA,
      title: {
        text: `Median MTTR over ${parameter} × ${second}`,
        subtitle: [
          `Colour and label: median MTTR (scenario s) of the runs that recovered, per arm and combination.${note}`,
        ],
      },
      config: CONFIG,
      data: { values },
      facet: { column: { field: 'arm', type: 'nominal', title: 'arm', sort: arms } },
      spec: {
        width: { step: 64 },
        height: { step: 36 },
        layer: [
          {
            name: 'cells',
            mark: { type: 'rect', stroke: 'white' },
            encoding: {
              x: {
                field: 'value',
                type: 'ordinal',
                title: parameter,
                sort: order(points.map((p) => p.value)),
                axis: { labelAngle: 0 },
              },
              y: {
                field: 'value2',
                type: 'ordinal',
                title: second,
                sort: order(points.flatMap((p) => (p.value2 === undefined ? [] : [p.value2]))),
              },
              color: {
                field: 'median',
                type: 'quantitative',
                title: 'median MTTR (scenario s)',
                scale: { scheme: 'orangered', zero: true },
                legend: { direction: 'horizontal', gradientLength: 200 },
              },
              tooltip: [
                { field: 'arm' },
                { field: 'median', title: 'median MTTR s' },
                { field: 'lower', title: 'CI lower' },
                { field: 'upper', title: 'CI upper' },
                { field: 'n' },
              ],
            },
          },
          {
            name: 'labels',
            mark: { type: 'text', fontSize: 11 },
            encoding: {
              x: { field: 'value', type: 'ordinal', sort: order(points.map((p) => p.value)) },
              y: {
                field: 'value2',
                type: 'ordinal',
                sort: order(points.flatMap((p) => (p.value2 === undefined ? [] : [p.value2]))),
              },
              text: { field: 'label' },
              // White on the dark end of the scheme, black elsewhere.
              color: { condition: { test: "datum.ink === 'light'", value: '#fff' }, value: '#000' },
            },
          },
        ],
      },
    } as TopLevelSpec;
  }
  const x = numeric
    ? { field: 'value', type: 'quantitative', title: parameter, scale: { zero: false } }
    : {
        field: 'value',
        type: 'ordinal',
        title: parameter,
        sort: order(points.map((p) => p.value)),
        axis: { labelAngle: 0 },
      };
  const color = { field: 'arm', type: 'nominal', title: 'arm', scale: colours, sort: arms };
  return {
    $schema: SCHEMA,
    title: {
      text: `Median MTTR against ${parameter}`,
      subtitle: [
        `Median MTTR of the runs that recovered, per arm; band: 95% bootstrap CI of the median (2,000 resamples, as the summary table).${note}`,
      ],
    },
    config: CONFIG,
    data: { values },
    width: 460,
    height: 260,
    layer: [
      {
        name: 'band',
        transform: [{ filter: 'isValid(datum.lower) && isValid(datum.upper)' }],
        mark: { type: 'errorband', opacity: 0.2 },
        encoding: {
          x,
          y: { field: 'lower', type: 'quantitative', title: 'median MTTR (scenario s)' },
          y2: { field: 'upper' },
          color,
        },
      },
      {
        name: 'line',
        transform: [{ filter: 'isValid(datum.median)' }],
        mark: { type: 'line', point: { size: 50, filled: true }, strokeWidth: 2 },
        encoding: {
          x,
          y: { field: 'median', type: 'quantitative', title: 'median MTTR (scenario s)', scale: { zero: true } },
          color,
          strokeDash: {
            field: 'arm',
            type: 'nominal',
            title: 'arm',
            sort: arms,
            scale: { domain: arms, range: arms.map((a) => (a.endsWith('(not swept)') ? [5, 3] : [1, 0])) },
          },
          tooltip: [
            { field: 'arm' },
            { field: 'value', title: parameter },
            { field: 'median', title: 'median MTTR s' },
            { field: 'lower', title: 'CI lower' },
            { field: 'upper', title: 'CI upper' },
            { field: 'n' },
          ],
        },
      },
    ],
  } as TopLevelSpec;
}
