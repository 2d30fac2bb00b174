import { describe, expect, it } from 'vitest';
import { runRowsFromCsv } from './run-rows.ts';
import { toilTable } from './toil.ts';

/** runs.csv rows of one cell: each run's manual actions, busy seconds and release→promoted time. */
function rows(arm: string, scenario: string, runs: Array<[number, number, number | '']>) {
  return runs.map(([actions, busy, promotedAfterS], i) => ({
    run_id: `${scenario}-${arm}-${i}`,
    arm,
    scenario,
    sweep: '',
    outcome: promotedAfterS === '' ? 'rolled_back' : 'promoted',
    release_ms: 1000,
    promoted_ms: promotedAfterS === '' ? '' : 1000 + promotedAfterS * 1000,
    failed_requests: 0,
    manual_actions: actions,
    operator_busy_s: busy,
    values_edits: arm === 'manual' ? 4 : 0,
    helm_commands: arm === 'manual' ? 4 : 0,
    dashboard_looks: arm === 'manual' ? actions - 8 : 0,
    pages_acknowledged: 0,
  }));
}

describe('the toil table', () => {
  it('sets the manual arm’s actions, busy time and release duration beside Flagger’s, per cell', () => {
    const table = toilTable(
      runRowsFromCsv([
        ...rows('manual', 'healthy', [
          [19, 420, 690],
          [20, 430, 700],
          [21, 440, 710],
        ]),
        ...rows('flagger', 'healthy', [
          [0, 0, 100],
          [0, 0, 110],
        ]),
      ]),
    )!;
    expect(table.rows).toEqual([
      ['healthy', 'manual', '3', '20.0 [19–21]', '4.0', '4.0', '12.0', '0.0', '430.0 [425.0–435.0]', '3/3', '700.0'],
      ['healthy', 'flagger', '2', '0.0 [0–0]', '0.0', '0.0', '0.0', '0.0', '0.0 [0.0–0.0]', '2/2', '105.0'],
    ]);
  });

  it('is left out for a runs.csv older than the toil columns', () => {
    const old = rows('manual', 'healthy', [[1, 1, '']]).map(({ manual_actions: _, ...rest }) => rest);
    expect(toilTable(runRowsFromCsv(old))).toBeUndefined();
  });
});
