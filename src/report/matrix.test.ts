import { describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { runRowsFromCsv } from './run-rows.ts';
import { catchesParagraphs, matrixCells, matrixTable } from './matrix.ts';

// A runs.csv as the harness writes it (only the columns the matrix reads are filled).
const CSV = `run_id,arm,scenario,sweep,outcome,release_ms,mitigate_ms,promoted_ms,mttr_s,ttr_release_s,ttd_s,ttm_s,censored_at_s,failed_requests
a1,flagger,faulty-500,,rolled_back,10000,55000,,30,45,10,30,,60
a2,flagger,faulty-500,,rolled_back,10000,52000,,28,42,9,28,,50
a3,flagger,faulty-500,,rolled_back,10000,58000,,32,48,11,32,,70
b1,manual,faulty-500,,rolled_back,10000,120000,,100,110,20,100,,200
b2,manual,faulty-500,,censored,10000,,,,,,,290,900
b3,manual,faulty-500,,rolled_back,10000,90000,,80,90,15,80,,150
c1,flagger,partial-0.5pct,,promoted,10000,,95000,,,,,,12
c2,flagger,partial-0.5pct,,promoted,10000,,96000,,,,,,14
c3,flagger,partial-0.5pct,,rolled_back,10000,70000,,50,70,20,50,,3
d1,manual,latency-800ms,,no_impact,10000,,,,,,,,0
d2,manual,latency-800ms,,no_impact,10000,,,,,,,,0
e1,flagger,healthy,,promoted,10000,,90000,,,,,,0
e2,flagger,healthy,,rolled_back,10000,60000,,0,50,,,,0
`;

describe('fault × arm matrix', () => {
  const rows = runRowsFromCsv(parse(CSV, { columns: true }));
  const cells = matrixCells(rows);

  it('recomputes every cell from runs.csv', () => {
    // Recomputed by hand from the CSV above.
    expect(matrixTable(cells).rows).toEqual([
      ['faulty-500', 'manual', 'rolled back 2, censored 1 (n 3)', '200', '90.0', '100.0'],
      ['faulty-500', 'flagger', 'rolled back 3 (n 3)', '60', '30.0', '45.0'],
      ['partial-0.5pct', 'flagger', 'rolled back 1, promoted 2 (n 3)', '12', '50.0', '70.0'],
      ['latency-800ms', 'manual', 'no impact 2 (n 2)', '0', '—', '—'],
      ['healthy', 'flagger', 'rolled back 1, promoted 1 (n 2)', '0', '0.0', '50.0'],
    ]);
  });

  it('writes "what each mechanism catches" from the same numbers', () => {
    const paragraphs = catchesParagraphs(cells, new Set(['faulty-500', 'partial-0.5pct', 'latency-800ms']));
    expect(paragraphs).toEqual([
      'Flagger rolled back faulty-500 (3/3; release→recover 45.0 s, 60 failed requests). ' +
        'It promoted the faulty partial-0.5pct (2/3; 12 failed requests). ' +
        'It rolled back a healthy release in healthy (1/2).',
      'The manual process rolled back faulty-500 (2/3; release→recover 100.0 s, 200 failed requests). ' +
        'It left unrecovered by the deadline latency-800ms (2/2 runs; 0 failed requests).',
    ]);
  });

  it('with slow and bad requests counted (docs/design.md §12), adds their columns and speaks of bad requests', () => {
    const slo = runRowsFromCsv(
      parse(
        `run_id,arm,scenario,sweep,outcome,release_ms,mitigate_ms,promoted_ms,mttr_s,ttr_release_s,ttd_s,ttm_s,censored_at_s,failed_requests,slow_requests,bad_requests
f1,flagger,latency-800ms,,rolled_back,10000,100000,,40,95,,,,0,80,80
f2,flagger,latency-800ms,,rolled_back,10000,110000,,50,105,,,,2,120,122
m1,manual,latency-800ms,,censored,10000,,,,,,,280,0,600,600
`,
        { columns: true },
      ),
    );
    const sloCells = matrixCells(slo);
    const table = matrixTable(sloCells);
    expect(table.columns).toContain('bad requests (median)');
    expect(table.rows).toEqual([
      ['latency-800ms', 'manual', 'censored 1 (n 1)', '0', '600', '600', '—', '—'],
      ['latency-800ms', 'flagger', 'rolled back 2 (n 2)', '1', '100', '101', '45.0', '100.0'],
    ]);
    expect(catchesParagraphs(sloCells, new Set(['latency-800ms']))).toEqual([
      'Flagger rolled back latency-800ms (2/2; release→recover 100.0 s, 101 bad requests).',
      'The manual process rolled back none of the faulty releases in most of its runs. ' +
        'It left unrecovered by the deadline latency-800ms (1/1 runs; 600 bad requests).',
    ]);
    // A runs.csv from before the SLO keeps its columns.
    expect(matrixTable(cells).columns).not.toContain('bad requests (median)');
  });
});
