import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { bootstrapMedianCI } from '../stats/index.ts';
import { servicesMarkdown } from './findings.ts';
import { renderSpec } from './render-chart.ts';
import { bootstrapSeed, type RunRow } from './run-rows.ts';
import { servicesCells, servicesCsv, servicesSpec, servicesTable } from './services.ts';

/** Runs of one arm at one train size: [MTTR s or undefined (censored at 900), busy s, manual actions]. */
function runs(
  arm: 'manual' | 'flagger',
  services: number,
  values: Array<[number | undefined, number, number]>,
): RunRow[] {
  return values.map(([mttrS, operatorBusyS, manualActions], i) => ({
    runId: `${arm}-${services}-${i}`,
    arm,
    scenario: 'faulty-500',
    sweep: `services=${services}`,
    outcome: mttrS === undefined ? 'censored' : 'rolled_back',
    mttrS,
    censoredAtS: mttrS === undefined ? 900 : undefined,
    failedRequests: 10,
    operatorBusyS,
    manualActions,
    services,
    faultyServices: 1,
    servicesRolledBack: 1,
    servicesPromoted: services - 1,
  }));
}

const rows = [
  ...runs('manual', 1, [
    [100, 200, 10],
    [120, 220, 11],
    [140, 240, 12],
  ]),
  ...runs('manual', 4, [
    [300, 900, 40],
    [undefined, 1_000, 44],
    [320, 950, 42],
  ]),
  ...runs('flagger', 1, [
    [40, 0, 0],
    [42, 0, 0],
    [44, 0, 0],
  ]),
  ...runs('flagger', 4, [
    [41, 0, 0],
    [43, 0, 0],
    [45, 0, 0],
  ]),
];

describe('the service-count sweep (docs/design.md §13)', () => {
  it('gives per arm and train size the median MTTR (censored at its censoring time) and toil, with CIs from runs.csv alone', () => {
    const cells = servicesCells(rows);
    expect(cells.map((c) => [c.arm, c.services, c.n, c.rolledBack, c.censored])).toEqual([
      ['flagger', 1, 3, 3, 0],
      ['flagger', 4, 3, 3, 0],
      ['manual', 1, 3, 3, 0],
      ['manual', 4, 3, 2, 1],
    ]);
    const manual4 = cells.find((c) => c.arm === 'manual' && c.services === 4)!;
    // 300, 320 and the censored run at 900: the median is 320, not the 310 of the recovered two.
    expect(manual4.mttr.estimate).toBe(320);
    expect(manual4.mttr).toEqual(
      bootstrapMedianCI([300, 900, 320], {
        seed: bootstrapSeed('services/mttr', { scenario: 'faulty-500', sweep: '4', arm: 'manual' }),
      }),
    );
    expect([manual4.busyS.estimate, manual4.manualActions.estimate, manual4.healthyPromoted]).toEqual([950, 42, 3]);
    const table = servicesTable(cells);
    expect(table.rows.find((r) => r[1] === 'manual' && r[2] === '4')!.slice(8)).toEqual([
      `320.0 [${manual4.mttr.lower!.toFixed(1)}, ${manual4.mttr.upper!.toFixed(1)}]`,
      `42 [${manual4.manualActions.lower!.toFixed(0)}, ${manual4.manualActions.upper!.toFixed(0)}]`,
      `950 [${manual4.busyS.lower!.toFixed(0)}, ${manual4.busyS.upper!.toFixed(0)}]`,
      '3 of 3',
    ]);
    const csv = parse(servicesCsv(cells), { columns: true }) as Array<Record<string, string>>;
    expect(csv.find((r) => r.arm === 'manual' && r.services === '4')!.busy_median_s).toBe('950');
  });

  it('has no cells when the runs hold one train size only, or no services column', () => {
    expect(servicesCells(rows.filter((r) => r.services === 4))).toEqual([]);
    expect(servicesCells(rows.map(({ services: _, ...r }) => r))).toEqual([]);
  });

  it('draws MTTR and busy time against the number of services for both arms, without warnings', async () => {
    const spec = servicesSpec(servicesCells(rows));
    const { svg, warnings } = await renderSpec(spec);
    expect(warnings).toEqual([]);
    expect(svg).toContain('median operator busy time');
    const values = (spec as unknown as { data: { values: Array<Record<string, unknown>> } }).data.values;
    expect(
      values
        .filter((v) => v.measure === 'median operator busy time (scenario s)')
        .map((v) => [v.arm, v.services, v.median]),
    ).toEqual([
      ['flagger', '1', 0],
      ['flagger', '4', 0],
      ['manual', '1', 220],
      ['manual', '4', 950],
    ]);
  });
});

describe("README's service-count findings (report/findings.ts)", () => {
  it('say from which number of services the manual process stops keeping up, from runs.csv alone', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'services-findings-'));
    try {
      const file = path.join(dir, 'runs.csv');
      // Each run twice (6 per cell, enough for a CI); at 4 services the person promoted one healthy
      // service of three in two runs of three.
      const twice = [...rows, ...rows.map((r) => ({ ...r, runId: `${r.runId}-b` }))];
      const csvRows = twice.map((r) => ({
        run_id: r.runId,
        arm: r.arm,
        scenario: r.scenario,
        sweep: r.sweep,
        outcome: r.outcome,
        release_ms: 0,
        mttr_s: r.mttrS ?? '',
        censored_at_s: r.censoredAtS ?? '',
        failed_requests: r.failedRequests,
        operator_busy_s: r.operatorBusyS,
        manual_actions: r.manualActions,
        services: r.services,
        faulty_services: r.faultyServices,
        services_promoted: r.arm === 'manual' && r.services === 4 && !/-2(-b)?$/.test(r.runId) ? 1 : r.servicesPromoted,
        lag_flagged: r.runId === 'manual-4-0' ? 1 : 0,
      }));
      writeFileSync(file, stringify(csvRows, { header: true }));
      const md = servicesMarkdown(file);
      expect(md).toContain("faulty-500: Flagger's median MTTR was 42 s at 1, 43 s at 4 services.");
      expect(md).toContain("The manual arm's was 120 s at 1, 320 s at 4 services.");
      expect(md).toMatch(
        /From 4 services on, its MTTR's 95% CI \[\d+\.\d, \d+\.\d\] s lies wholly above the one at 1 \[100\.0, 140\.0\] s\./,
      );
      expect(md).toContain(
        'From 4 services on, the person had not promoted every healthy service when the run ended (median 1 of 3).',
      );
      expect(md).toContain("The person's median busy time was 220 s at 1, 950 s at 4 services.");
      expect(md).toContain("1 of 24 runs were over the harness's lag bound");
      expect(md).toContain('| faulty-500 | manual | 4 | 1 | 6 | 4 | 0 | 2 | 320.0 [');
      // Three runs a cell are too few to compare CIs.
      writeFileSync(
        file,
        stringify(
          csvRows.filter((r) => !r.run_id.endsWith('-b')),
          { header: true },
        ),
      );
      expect(servicesMarkdown(file)).toContain('With fewer than 5 runs in a cell, the CIs are not compared.');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
