import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TopLevelSpec } from 'vega-lite';
import type { RunEntry } from '../experiment/journal.ts';
import type { RequestRecord } from '../load/types.ts';
import { kaplanMeier } from '../stats/index.ts';
import {
  binRequests,
  CENSORED_LABEL,
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
} from './charts.ts';
import { measureText } from './charts/text-metrics.ts';
import { makeRecords, makeRun, mixedHeader, mixedRuns, sweepRuns } from './charts/test-fixtures.ts';
import { renderSpec, reportChartSpecs, writeCharts } from './render-chart.ts';

/** The items Vega drew for the layer named `name`, across every facet cell. */
function marks(svg: string, name: string): string[] {
  const out: string[] = [];
  const group = new RegExp(`<g class="mark-\\w+ role-mark ${name}_marks"[^>]*>(.*?)</g>`, 'g');
  for (const m of svg.matchAll(group)) out.push(...(m[1]!.match(/<(path|line|rect|text)\b[^>]*>/g) ?? []));
  return out;
}

async function render(spec: TopLevelSpec): Promise<string> {
  const { svg, png, warnings } = await renderSpec(spec);
  expect(warnings).toEqual([]);
  expect(svg.startsWith('<svg')).toBe(true);
  expect(png.subarray(1, 4).toString()).toBe('PNG');
  return svg;
}

function titleOf(spec: TopLevelSpec): string {
  const t = (spec as { title?: string | { text: string } }).title;
  return typeof t === 'string' ? t : (t?.text ?? '');
}

/** Every axis title of quantitative x/y encodings in a spec, wherever they are nested. */
function axisTitles(spec: unknown): string[] {
  const out: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    const enc = o.encoding as Record<string, { type?: string; title?: unknown }> | undefined;
    for (const ch of ['x', 'y']) {
      const def = enc?.[ch];
      if (def?.type === 'quantitative' && typeof def.title === 'string') out.push(def.title);
    }
    for (const [k, v] of Object.entries(o)) if (k !== 'data') walk(v);
  };
  walk(spec);
  return out;
}

describe('mttrBoxPlotSpec', () => {
  it('draws one point per run with impact, censored runs hollow at their censoring time', async () => {
    const runs = mixedRuns();
    const spec = mttrBoxPlotSpec(runs);
    expect(titleOf(spec)).toBe('MTTR per arm');
    expect(axisTitles(spec)).toContain('MTTR = recover − impact (scenario s)');
    const svg = await render(spec);
    const points = marks(svg, 'runs');
    const withImpact = runs.filter((r) => r.metrics.mttrS !== undefined || r.metrics.censoredAtS !== undefined);
    expect(points).toHaveLength(withImpact.length);
    const censored = points.filter((p) => p.includes(`status: ${CENSORED_LABEL}`));
    expect(censored).toHaveLength(2);
    for (const p of censored) {
      expect(p).toContain('fill-opacity="0"');
      expect(p).not.toContain('A4'); // a triangle, not the circle's arcs
    }
    expect(censored.some((p) => p.includes('run: faulty-manual-r3') && p.includes(': 897.5;'))).toBe(true);
    expect(svg).toContain(CENSORED_LABEL); // the legend entry
    // Two scenarios with impact: two facet cells, a box in each.
    expect(svg).toContain('facet-title');
    expect(svg.match(/class="mark-symbol role-mark runs_marks"/g)).toHaveLength(2);
    expect(marks(svg, 'box_layer_3')).toHaveLength(4); // the boxes' rects: 2 scenarios × 2 arms
  });

  it('spreads the runs of one arm so no two points share a position', () => {
    const points = mttrPoints(mixedRuns()).filter((p) => p.cell === 'faulty' && p.arm === 'manual');
    const offsets = points.map((p) => p.jitter);
    expect(new Set(offsets).size).toBe(points.length);
    expect(Math.min(...offsets)).toBeCloseTo(-0.9);
    expect(Math.max(...offsets)).toBeCloseTo(0.9);
  });

  it('draws a single scenario without facets, even when nothing recovered', async () => {
    const runs = [
      makeRun({ runId: 'x-manual-r1', arm: 'manual', scenario: 'x', outcome: 'censored', censoredAtS: 880 }),
      makeRun({ runId: 'x-flagger-r1', arm: 'flagger', scenario: 'x', outcome: 'censored', censoredAtS: 870 }),
    ];
    const svg = await render(mttrBoxPlotSpec(runs));
    expect(marks(svg, 'runs')).toHaveLength(2);
    expect(svg).not.toContain('facet-title');
  });
});

describe('binRequests', () => {
  it('counts requests, failures, slow answers and the release share per scenario second of the answer', () => {
    const rec = (doneMs: number, status: number, version: string, latencyMs = 5): RequestRecord => ({
      sentMs: doneMs - latencyMs,
      doneMs,
      latencyMs,
      status,
      version,
    });
    const bins = binRequests(
      [
        rec(500, 200, 'v1'),
        rec(9_999, 200, 'v1'),
        rec(10_000, 500, 'v2'),
        rec(10_400, 0, 'v1'),
        rec(10_900, 200, 'v2'),
        rec(12_500, 200, 'v1'),
        rec(12_600, 200, 'v2', 800),
        rec(12_700, 500, 'v2', 800),
        rec(12_800, 200, 'v1', 500),
        rec(99_000, 500, 'v2'),
      ],
      { releaseMs: 10_000, endMs: 13_000, releaseVersion: 'v2', latencyLimitMs: 500 },
    );
    // Window [release − 10 s, end]: 10 bins before the release, 3 after.
    expect(bins).toHaveLength(13);
    expect(bins[0]).toEqual({ tS: -10, requests: 1, failures: 0, slow: 0, canary: 0 });
    expect(bins.find((b) => b.tS === -1)).toEqual({ tS: -1, requests: 1, failures: 0, slow: 0, canary: 0 });
    expect(bins.find((b) => b.tS === 0)).toEqual({ tS: 0, requests: 3, failures: 2, slow: 0, canary: 2 });
    expect(bins.find((b) => b.tS === 1)).toEqual({ tS: 1, requests: 0, failures: 0, slow: 0, canary: 0 });
    // 800 ms without an error is slow; 800 ms with a 500 is a failure only; 500 ms is at the limit.
    expect(bins.find((b) => b.tS === 2)).toEqual({ tS: 2, requests: 4, failures: 1, slow: 1, canary: 2 });
  });
});

describe('timelinesSpec', () => {
  const runs = mixedRuns();
  const records = new Map(runs.map((r) => [r.runId, makeRecords(r, { faulty: r.scenario !== 'healthy' })]));
  const versions = new Map(runs.map((r) => [r.runId, 'v2']));

  it('draws one panel per run with both series and a rule per timeline moment', async () => {
    const spec = timelinesSpec(runs, records, versions);
    expect(axisTitles(spec)).toEqual(
      expect.arrayContaining(['seconds since release (scenario s)', 'share of requests']),
    );
    const svg = await render(spec);
    expect(marks(svg, 'canary')).toHaveLength(runs.length);
    expect(marks(svg, 'errors')).toHaveLength(runs.length);
    expect(marks(svg, 'slow')).toHaveLength(runs.length);
    const moments = runs.reduce((k, r) => {
      const m = r.metrics;
      return (
        k +
        [m.releaseMs, m.impactMs, m.detectMs, m.mitigateMs, m.recoverMs, m.promotedMs].filter((t) => t !== undefined)
          .length
      );
    }, 0);
    expect(marks(svg, 'events')).toHaveLength(moments);
    for (const label of ['release', 'impact', 'detect', 'mitigate', 'recover'])
      expect(svg).toContain(`>${label}</text>`);
  });

  it("plots the share of answers slower than each run's SLO latency limit", () => {
    const run = runs[0]!;
    const slowRecords = new Map([[run.runId, records.get(run.runId)!.map((r) => ({ ...r, latencyMs: 800 }))]]);
    const bins = (limitMs: number | null) =>
      (
        timelinesSpec([run], slowRecords, versions, {
          latencyLimitMsByRun: new Map([[run.runId, limitMs]]),
        }) as { data: { values: Array<{ err?: number | null; slow?: number | null; event?: string }> } }
      ).data.values.filter((v) => v.event === undefined && typeof v.err === 'number');
    // Every answer took 800 ms: with a 500 ms limit each one that did not fail is slow.
    expect(bins(500).length).toBeGreaterThan(0);
    expect(bins(500).every((v) => Math.abs(v.slow! + v.err! - 1) < 0.002)).toBe(true);
    expect(bins(500).some((v) => v.slow! > 0)).toBe(true);
    expect(bins(null).every((v) => v.slow === 0)).toBe(true);
  });

  it('inlines 1 s bins, not request records, and only from 10 s before the release', () => {
    const spec = timelinesSpec(runs, records, versions) as { data: { values: Array<{ t: number; event?: string }> } };
    const totalRecords = [...records.values()].reduce((k, r) => k + r.length, 0);
    const binRows = spec.data.values.filter((v) => v.event === undefined);
    // One row per run and second from release − 10 s to the end of observation.
    const seconds = runs.reduce((k, r) => k + 10 + Math.ceil((r.metrics.endMs - r.metrics.releaseMs) / 1000), 0);
    expect(binRows).toHaveLength(seconds);
    expect(binRows.length).toBeLessThan(totalRecords / 10);
    expect(Math.min(...binRows.map((v) => v.t))).toBe(-10);
  });

  it('caps the panels, lets every scenario × arm take turns, and says so', async () => {
    const picked = pickTimelineRuns(runs, 5);
    expect(picked.map((r) => r.runId)).toEqual(
      [
        'faulty-manual-r1',
        'faulty-manual-r2',
        'faulty-flagger-r1',
        'slow-manual-r1',
        'slow-flagger-r1',
        'healthy-flagger-r1',
      ].filter((id) => id !== 'faulty-manual-r2'),
    );
    const spec = timelinesSpec(runs, records, versions, { maxRuns: 5 });
    expect(JSON.stringify((spec as { title: unknown }).title)).toContain(`Showing 5 of ${runs.length} runs`);
    const svg = await render(spec);
    expect(marks(svg, 'canary')).toHaveLength(5);
  });

  it('keeps a panel for a run whose request file is missing, and names it', async () => {
    const some = runs.slice(0, 2);
    const spec = timelinesSpec(some, new Map([[some[0]!.runId, records.get(some[0]!.runId)!]]), versions);
    expect(JSON.stringify((spec as { title: unknown }).title)).toContain(
      `No request file for 1 run(s): ${some[1]!.runId}`,
    );
    const svg = await render(spec);
    expect(marks(svg, 'events').length).toBeGreaterThan(0);
  });
});

describe('kaplanMeierSpec', () => {
  it('steps down per arm from 1 and marks each censored run', async () => {
    const runs = mixedRuns();
    const curves = kaplanMeierCurves(runs);
    // faulty × 2 arms, slow × 2 arms; the healthy run had no impact.
    expect(curves.map((c) => `${c.scenario}/${c.arm}`)).toEqual([
      'faulty/manual',
      'faulty/flagger',
      'slow/manual',
      'slow/flagger',
    ]);
    const faultyManual = curves[0]!;
    expect(faultyManual.fit).toEqual(
      kaplanMeier([97, 152, 201].map((t) => ({ time: t, event: true })).concat([{ time: 897.5, event: false }])),
    );
    const spec = kaplanMeierSpec(curves);
    expect(axisTitles(spec)).toEqual(
      expect.arrayContaining(['seconds since impact (scenario s)', 'share of runs still broken']),
    );
    const svg = await render(spec);
    expect(marks(svg, 'km')).toHaveLength(4);
    const ticks = marks(svg, 'censor');
    expect(ticks).toHaveLength(2);
    expect(svg).toContain(CENSORED_LABEL);
    const values = (
      spec as { data: { values: Array<{ kind: string; t: number; s?: number; arm: string; scenario: string }> } }
    ).data.values;
    const start = values.find((v) => v.kind === 'curve' && v.scenario === 'faulty' && v.arm === 'manual');
    expect(start).toMatchObject({ t: 0, s: 1 });
  });

  it('says when no run was censored and draws no tick', async () => {
    const runs = mixedRuns().filter((r) => r.metrics.outcome !== 'censored');
    const spec = kaplanMeierSpec(kaplanMeierCurves(runs));
    expect(JSON.stringify((spec as { title: unknown }).title)).toContain('No run was censored');
    const svg = await render(spec);
    expect(marks(svg, 'censor')).toHaveLength(0);
  });
});

describe('phaseBreakdownSpec', () => {
  it('stacks median TTD, TTM − TTD and MTTR − TTM per scenario × arm', async () => {
    const cells = phaseCells(mixedRuns());
    const faultyManual = cells.find((c) => c.scenario === 'faulty' && c.arm === 'manual')!;
    // The censored run has no MTTR and is left out of all three medians.
    expect(faultyManual).toEqual({ scenario: 'faulty', arm: 'manual', n: 3, ttdS: 40, ttmS: 150, mttrS: 152 });
    const spec = phaseBreakdownSpec(cells);
    expect(axisTitles(spec)).toContain('seconds since impact (scenario s), medians');
    const svg = await render(spec);
    expect(marks(svg, 'phases')).toHaveLength(cells.length * 3);
    expect(marks(svg, 'totals')).toHaveLength(cells.length);
    expect(svg).toContain('MTTR 152 s (n = 3)');
    const values = (spec as { data: { values: Array<{ row: string; phase: string; start: number; end: number }> } })
      .data.values;
    const rows = values.filter((v) => v.row === 'faulty · manual' && v.phase !== 'total').map((v) => [v.start, v.end]);
    expect(rows).toEqual([
      [0, 40],
      [40, 150],
      [150, 152],
    ]);
  });
});

describe('sweepSpec', () => {
  it('draws median MTTR with its CI band against one swept field, the unswept arm as a reference', async () => {
    const [group] = sweepGroups(sweepRuns(false));
    expect(group!.parameter).toBe('manual.operator.lookIntervalS');
    expect(group!.second).toBeUndefined();
    const manual = group!.points.filter((p) => p.arm === 'manual');
    expect(manual.map((p) => p.value)).toEqual([15, 30, 60]);
    expect(manual[0]).toMatchObject({ median: 15 * 1.5 + 40 + 14, n: 3 });
    expect(group!.points.filter((p) => p.arm === 'flagger (not swept)')).toHaveLength(3);
    const spec = sweepSpec(group!.points, group!.parameter);
    expect(axisTitles(spec)).toEqual(
      expect.arrayContaining(['manual.operator.lookIntervalS', 'median MTTR (scenario s)']),
    );
    const svg = await render(spec);
    expect(marks(svg, 'line')).toHaveLength(2);
    expect(svg).toContain('flagger (not swept)');
  });

  it('draws a heatmap cell per combination when two fields are swept', async () => {
    const [group] = sweepGroups(sweepRuns(true));
    expect(group!.second).toBe('manual.operator.pNotice');
    const spec = sweepSpec(group!.points, group!.parameter, group!.second);
    const svg = await render(spec);
    expect(marks(svg, 'cells')).toHaveLength(12); // 3 × 2 combinations × 2 arms
    expect(marks(svg, 'labels')).toHaveLength(12);
    expect(svg).toContain('>107 s</text>');
  });

  it('takes string values as an ordinal axis in the order given', async () => {
    const points = [
      { arm: 'flagger', value: '30s', median: 60, lower: 50, upper: 70, n: 3 },
      { arm: 'flagger', value: '10s', median: 25, lower: 20, upper: 30, n: 3 },
      { arm: 'flagger', value: '1m', n: 3 },
    ];
    const spec = sweepSpec(points, 'flagger.interval');
    expect(JSON.stringify(spec)).toContain('"sort":["30s","10s","1m"]');
    expect(JSON.stringify((spec as { title: unknown }).title)).toContain('1 cell(s) had no recovered run');
    await render(spec);
  });
});

describe('writeCharts', () => {
  it('writes the spec, the SVG and the PNG of each chart under charts/', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'charts-'));
    try {
      const spec = mttrBoxPlotSpec(mixedRuns());
      const [file] = await writeCharts(dir, [{ id: 'mttr', title: 'MTTR per arm', spec }]);
      expect(file).toMatchObject({
        id: 'mttr',
        specPath: 'charts/mttr.vl.json',
        svgPath: 'charts/mttr.svg',
        pngPath: 'charts/mttr.png',
      });
      expect(JSON.parse(readFileSync(path.join(dir, 'charts/mttr.vl.json'), 'utf8'))).toEqual(spec);
      expect(readFileSync(path.join(dir, 'charts/mttr.svg'), 'utf8')).toBe(file!.svg);
      expect(readFileSync(path.join(dir, 'charts/mttr.png')).subarray(0, 8)).toEqual(
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      );
      await expect(writeCharts(dir, [{ id: '../escape', title: 'x', spec }])).rejects.toThrow(
        'chart id "../escape": must be letters, digits and dashes',
      );
      expect(existsSync(path.join(dir, 'escape.svg'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds every chart of a report folder, reading request files only for the panels shown', () => {
    const runs: RunEntry[] = mixedRuns();
    const specs = reportChartSpecs('/nonexistent-report-folder', mixedHeader(runs), runs);
    expect(specs.map((s) => s.id)).toEqual(['mttr', 'kaplan-meier', 'phases', 'timelines']);
    const sweep = reportChartSpecs('/nonexistent-report-folder', mixedHeader(runs), sweepRuns(true));
    expect(sweep.map((s) => s.id)).toContain('sweep-1');
  });
});

describe('measureText', () => {
  it('uses DejaVu Sans advance widths', () => {
    // "a" is 1255/2048 em, "W" 2025/2048 em in DejaVuSans.ttf.
    expect(measureText('a', 1000)).toBe(613);
    expect(measureText('W', 10)).toBeCloseTo(9.89, 2);
    expect(measureText('a', 10, true)).toBeGreaterThan(measureText('a', 10));
  });
});
