import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEntry } from '../experiment/journal.ts';
import { sweepLabel } from '../scenario/load-files.ts';
import { Marks } from '../timeline/types.ts';
import { breakEvenGroups, breakEvenParagraph, breakEvenTable, parseSweepLabel } from './break-even.ts';
import { breakEvenHeatmapSpec, breakEvenSpec } from './break-even-chart.ts';
import { runRowsFromCsv, type RunRow } from './run-rows.ts';
import { makeHeader, makeRun, makeScenario, sweepRuns } from './charts/test-fixtures.ts';
import { renderSpec } from './render-chart.ts';
import { runsCsvRows } from './runs-csv.ts';
import { writeReport } from './write-report.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'break-even-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Rows of one scenario: a Flagger reference and manual cells swept over lookIntervalS. */
function rows(cells: Record<number, Array<number | 'censored'>>, flagger: number[]): RunRow[] {
  const out: RunRow[] = flagger.map((mttrS, i) => ({
    runId: `f${i}`,
    arm: 'flagger',
    scenario: 's',
    sweep: '',
    outcome: 'rolled_back',
    mttrS,
    ttmS: mttrS - 2,
    failedRequests: 1,
  }));
  for (const [look, values] of Object.entries(cells)) {
    values.forEach((v, i) => {
      out.push({
        runId: `m${look}-${i}`,
        arm: 'manual',
        scenario: 's',
        sweep: sweepLabel({ 'manual.operator.lookIntervalS': Number(look) }),
        outcome: v === 'censored' ? 'censored' : 'rolled_back',
        ...(v === 'censored' ? { censoredAtS: 900 } : { mttrS: v, ttmS: v - 2 }),
        failedRequests: 1,
        looksPerHour: 3600 / Number(look),
      });
    });
  }
  return out;
}

const FLAGGER = [30, 31, 32, 29, 30, 31, 30, 29, 32, 31];

/** The fixture's sweep (3 runs per cell) run twice, so that every cell has enough runs for a verdict. */
const twice = (runs: RunEntry[]) => [
  ...runs,
  ...runs.map((r) => ({ ...r, runId: `${r.runId}-b`, requestsFile: `requests/${r.runId}-b.csv` })),
];

describe('break-even of a manual sweep against Flagger', () => {
  it('reads the sweep label the plan writes', () => {
    const label = sweepLabel({ 'manual.operator.lookIntervalS': 10, 'manual.operator.reaction.medianS': 15 });
    expect(parseSweepLabel(label)).toEqual([
      ['lookIntervalS', 10],
      ['medianS', 15],
    ]);
    expect(parseSweepLabel(sweepLabel({ 'flagger.interval': '10s' }))).toEqual([['interval', '10s']]);
    expect(parseSweepLabel('')).toEqual([]);
  });

  it('gives the verdict from the CI of the difference, not from the point estimate', () => {
    const group = breakEvenGroups(
      rows(
        {
          10: [20, 21, 22, 19, 20, 21, 20, 22, 21, 20],
          // Median 29.25, below Flagger's 30.5, but spread so wide the difference's CI spans 0.
          30: [5, 8, 10, 12, 29, 29.5, 29.8, 60, 70, 80],
          60: [100, 101, 102, 103, 104, 105, 106, 107, 108, 109],
        },
        FLAGGER,
      ),
    )[0]!;
    const [fast, close, slow] = group.cells;
    expect(fast!.verdict).toBe('faster');
    expect(fast!.bands).toBe('below');
    expect(close!.difference.estimate).toBeLessThan(0);
    expect(close!.difference.lower).toBeLessThan(0);
    expect(close!.difference.upper).toBeGreaterThan(0);
    expect(close!.verdict).toBe('not distinguishable');
    expect(close!.bands).toBe('overlaps');
    expect(slow!.verdict).toBe('slower');
    expect(slow!.a12).toBe(1);
    const table = breakEvenTable(group);
    expect(table.rows.map((r) => [r[0], r[6], r[8], r.at(-1)])).toEqual([
      ['10', 'faster', 'faster', '360'],
      ['30', 'not distinguishable', 'not distinguishable', '120'],
      ['60', 'slower', 'slower', '60'],
    ]);
    // Too few runs for an interval: no verdict, however far apart the medians.
    const few = breakEvenGroups(rows({ 10: [1, 2, 3, 4] }, FLAGGER))[0]!.cells[0]!;
    expect(few.difference.upper).toBeLessThan(0);
    expect(few.verdict).toBeUndefined();
    expect(breakEvenParagraph(group, rows({}, FLAGGER))).toContain(
      'faster at lookIntervalS 10 (360 looks per hour); not distinguishable at lookIntervalS 30 (120 looks per hour); slower at lookIntervalS 60 (60 looks per hour)',
    );
  });

  it('keeps censored runs, at their censoring time', () => {
    // Nine of ten runs never recovered: dropping them would leave a median of 10 s ("faster").
    const group = breakEvenGroups(rows({ 10: [10, ...Array<'censored'>(9).fill('censored')] }, FLAGGER))[0]!;
    expect(group.cells[0]!.censored).toBe(9);
    expect(group.cells[0]!.manual.estimate).toBe(900);
    expect(group.cells[0]!.verdict).toBe('slower');
  });

  it('draws the manual median with its band against the Flagger band, and a heatmap of the regions for two fields', async () => {
    const group = breakEvenGroups(rows({ 10: [20, 21, 22, 19, 20], 60: [100, 101, 102, 103, 104] }, FLAGGER))[0]!;
    const line = await renderSpec(breakEvenSpec(group));
    expect(line.warnings).toEqual([]);
    for (const layer of ['flagger-band', 'flagger-median', 'manual-band', 'manual-median', 'verdicts'])
      expect(line.svg).toContain(`${layer.replace('-', '_')}_marks`);
    const data = (breakEvenSpec(group) as { data: { values: Array<Record<string, unknown>> } }).data.values;
    expect(data.filter((d) => d.kind === 'manual').map((d) => d.verdict)).toEqual(['faster', 'slower']);
    const r2 = (x: number | undefined) => Math.round(x! * 100) / 100;
    expect(data.find((d) => d.kind === 'flagger')).toMatchObject({
      median: r2(group.flagger.estimate),
      lower: r2(group.flagger.lower),
      upper: r2(group.flagger.upper),
    });

    const two = breakEvenGroups(runRowsFromCsv(runsCsvRows('e', twice(sweepRuns(true)))))[0]!;
    expect(two.fields).toEqual(['lookIntervalS', 'pNotice']);
    const heatmap = await renderSpec(breakEvenHeatmapSpec(two));
    expect(heatmap.warnings).toEqual([]);
    const cells = (breakEvenHeatmapSpec(two) as { data: { values: Array<Record<string, unknown>> } }).data.values;
    expect(cells.map((c) => [c.x, c.y, c.verdict])).toEqual(
      two.cells.map((c) => [String(c.values[0]![1]), String(c.values[1]![1]), c.verdict]),
    );
    expect(new Set(cells.map((c) => c.verdict))).toEqual(new Set(['slower']));
  });

  it('appears in report.md and report.html with its charts and a CSV of their numbers', async () => {
    const runs = twice(sweepRuns(true));
    const scenarios = [...new Set(runs.map((r) => r.entry))].map(() =>
      makeScenario('faulty', { release: { fault: 'http500' } }),
    );
    const header = makeHeader(scenarios, runs);
    const folder = path.join(dir, 'report');
    mkdirSync(folder);
    for (const line of [header, ...runs])
      appendFileSync(path.join(folder, 'journal.jsonl'), `${JSON.stringify(line)}\n`);
    await writeReport(folder);
    const md = readFileSync(path.join(folder, 'report.md'), 'utf8');
    const html = readFileSync(path.join(folder, 'report.html'), 'utf8');
    expect(md).toContain('## Break-even: where the manual process matches Flagger');
    expect(md).toContain('### Break-even against Flagger: faulty over lookIntervalS × pNotice');
    expect(html).toContain('id="t-break-even-1"');
    expect(html).toContain('id="chart-break-even-1"');
    expect(html).toContain('id="chart-break-even-1-regions"');
    for (const f of ['break-even-1.vl.json', 'break-even-1.svg', 'break-even-1-regions.svg'])
      expect(existsSync(path.join(folder, 'charts', f))).toBe(true);
    // The CSV beside the chart holds the table's numbers, cell by cell.
    const csv = parse(readFileSync(path.join(folder, 'charts', 'break-even-1.csv'), 'utf8'), {
      columns: true,
    }) as Array<Record<string, string>>;
    const table = md
      .slice(md.indexOf('| lookIntervalS | pNotice |'))
      .split('\n')
      .slice(2, 2 + csv.length);
    expect(csv).toHaveLength(6);
    expect(csv.every((r) => r.verdict === 'slower')).toBe(true);
    csv.forEach((row, i) => {
      const cells = table[i]!.split('|').map((c) => c.trim());
      expect([cells[1], cells[2]]).toEqual([row.lookIntervalS, row.pNotice]);
      expect(cells[4]).toBe(
        `${Number(row.manual_median_s).toFixed(1)} [${Number(row.manual_lower_s).toFixed(1)}, ${Number(row.manual_upper_s).toFixed(1)}]`,
      );
      expect(cells[8]).toBe(row.verdict);
      expect(cells[9]).toBe(
        `${Number(row.ttm_difference_s).toFixed(1)} [${Number(row.ttm_difference_lower_s).toFixed(1)}, ${Number(row.ttm_difference_upper_s).toFixed(1)}]`,
      );
      expect(cells[10]).toBe(row.ttm_verdict);
      expect(Number(cells[11])).toBe(Number(row.looks_per_hour));
    });
    // runs.csv carries the operator's attention per run (the fixtures' operator looks every 60 s).
    const runsCsv = parse(readFileSync(path.join(folder, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    expect(runsCsv.filter((r) => r.arm === 'manual').every((r) => r.looks_per_hour === '60')).toBe(true);
    expect(runsCsv.filter((r) => r.arm === 'flagger').every((r) => r.looks_per_hour === '' && r.pages === '')).toBe(
      true,
    );
  });

  it('counts the pages of an alert operator in runs.csv', () => {
    const run = makeRun({ runId: 'a-manual-r1', arm: 'manual', scenario: 'slow', outcome: 'rolled_back', mttrS: 100 });
    const paged = {
      ...run,
      timeline: [...run.timeline, { atMs: 20_000, kind: Marks.alertNotified, detail: 'page sent after group_wait' }],
    };
    expect(runsCsvRows('e', [paged])[0]).toMatchObject({ pages: 1, looks_per_hour: '' });
    expect(runsCsvRows('e', [run])[0]).toMatchObject({ pages: 0 });
  });
});
