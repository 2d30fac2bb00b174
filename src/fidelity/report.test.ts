import { describe, expect, it } from 'vitest';
import { compareArms, fidelityNotes, renderFidelityMarkdown, summarize } from './report.ts';
import type { FidelityRun } from './types.ts';

const run = (
  rep: number,
  newRevisionS: number,
  detectMessage: string,
  outcome: FidelityRun['outcome'] = 'rolled_back',
): FidelityRun => ({
  rep,
  id: `r${rep}`,
  newRevisionS,
  detectS: newRevisionS + 20,
  rollbackS: newRevisionS + 40,
  detectMessage,
  outcome,
  failedRequests: 60,
  totalRequests: 1000,
});

const NO_VALUES =
  'Halt advancement no values found for istio metric request-success-rate probably podinfo.test is not receiving traffic: running query failed: no values found';
const RATE = 'Halt podinfo.test advancement success rate 0.00% < 99%';

describe('fidelity report', () => {
  const real = [run(1, 9.7, NO_VALUES), run(2, 2.1, NO_VALUES), run(3, 5.5, NO_VALUES)];
  const model = [run(1, 4.6, RATE), run(2, 7.0, RATE), run(3, 1.2, RATE)];

  it('medians per side, model − real, and the phase-free New revision → rollback', () => {
    expect(summarize(real)).toEqual({
      n: 3,
      rolledBack: 3,
      medianNewRevisionS: 5.5,
      medianDetectS: 25.5,
      medianRollbackS: 45.5,
      medianRollbackAfterRevisionS: 40,
    });
    const verdict = compareArms(summarize(real), summarize(model), 10);
    expect(verdict.rollbackDiffS).toBeCloseTo(-0.9, 6);
    expect(verdict.rollbackAfterRevisionDiffS).toBe(0);
    expect(verdict.withinOneInterval).toBe(true);
  });

  it('is not within one interval when a side was not always rolled back, or the medians are too far apart', () => {
    expect(
      compareArms(summarize(real), summarize([...model.slice(0, 2), run(3, 1.2, RATE, 'promoted')]), 10)
        .withinOneInterval,
    ).toBe(false);
    const late = model.map((r) => ({ ...r, rollbackS: r.rollbackS! + 20 }));
    expect(compareArms(summarize(real), summarize(late), 10).withinOneInterval).toBe(false);
  });

  it('renders the verdict, the law and every run; notes the "no values" wording of the real Flagger', () => {
    const notes = fidelityNotes(real, model);
    expect(notes).toHaveLength(1);
    const render = (scenarioName: string, smokeTest: boolean) =>
      renderFidelityMarkdown({
        scenarioName,
        settings: { intervalS: 10, threshold: 2, maxWeight: 50, stepWeight: 10, smokeTest, rateRps: 20, warmupS: 10 },
        real,
        model,
        modelTimeScale: 1,
        versions: { flagger: 'v1.44.0', kubernetes: 'v1.36.3' },
        startedAt: '2026-11-26T08:00:00.000Z',
        wallS: 400,
        notes,
      });
    const md = render('faulty-500', false);
    expect(md).toContain('| real Flagger | 3 | 3 | 5.5 | 25.5 | 45.5 | 40.0 |');
    expect(md).toContain('| model − real | | | | -0.9 | -0.9 | +0.0 |');
    expect(md).toContain('**Within one analysis interval: yes.**');
    expect(md).toContain('puts the rollback in (40, 50] s after the release');
    expect(md).toContain(`| r2 | rolled_back | 2.1 | 22.1 | 42.1 | 60 / 1000 | ${NO_VALUES} |`);
    expect(md).toContain('returns an empty vector');
    // A failing smoke test halts on the first tick: the rollback comes threshold + 1 intervals after it.
    const smoke = render('faulty-500-smoke', true);
    expect(smoke).toContain('puts the rollback in (30, 40] s after the release');
    expect(smoke).toContain('the rollback 3 intervals (30 s) after that tick');
  });
});
