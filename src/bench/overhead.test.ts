import { describe, expect, it } from 'vitest';
import { runOverhead, scenarioPhasesMs } from './overhead.ts';

describe('scenarioPhasesMs', () => {
  it('is the warm-up plus release → recover + clean window after a rollback', () => {
    expect(
      scenarioPhasesMs({ outcome: 'rolled_back', releaseMs: 10_500, recoverMs: 50_000, endMs: 60_300 }, 10_000, 10_000),
    ).toBe(10_000 + 49_500);
  });

  it('uses promoted + window after a promotion, and the end when nothing was sealed', () => {
    expect(
      scenarioPhasesMs({ outcome: 'promoted', releaseMs: 10_000, promotedMs: 90_000, endMs: 100_200 }, 10_000, 10_000),
    ).toBe(100_000);
    expect(scenarioPhasesMs({ outcome: 'censored', releaseMs: 10_000, endMs: 910_000 }, 10_000, 30_000)).toBe(910_000);
  });

  it('never counts past the run end, and gives an aborted run no scenario time', () => {
    expect(
      scenarioPhasesMs({ outcome: 'rolled_back', releaseMs: 0, recoverMs: 50_000, endMs: 55_000 }, 0, 10_000),
    ).toBe(55_000);
    expect(scenarioPhasesMs({ outcome: 'aborted', releaseMs: 0, endMs: 5_000 }, 10_000, 10_000)).toBe(0);
  });
});

describe('runOverhead', () => {
  it('divides scenario time by the time scale and reports the rest as a share of the run', () => {
    expect(runOverhead(6_000, 57_000, 10)).toEqual({
      runWallMs: 6_000,
      scenarioWallMs: 5_700,
      overheadWallMs: 300,
      share: 0.05,
    });
  });
});
