import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fisherExact, mannWhitney } from '../stats/index.ts';
import { readFidelityRunsCsv, type FidelityRow, type Side } from './runs-csv.ts';
import {
  compareScenarios,
  comparisonTable,
  detectTick,
  fidelityFindingsMarkdown,
  missFindings,
  overloaded,
} from './table.ts';

const NO_VALUES = 'Halt advancement no values found for istio metric request-success-rate';
const RATE = 'Halt sms-checker.ns advancement success rate 0.00% < 99%';
const SMOKE = 'Halt sms-checker.ns advancement pre-rollout check smoke-test failed';

/** A release of `scenario` on `side`: the New revision tick at `a`, detect and rollback after it. */
function row(
  side: Side,
  scenario: string,
  rep: number,
  a: number,
  fate: { outcome?: FidelityRow['outcome']; detectAfterS?: number; rollbackAfterS?: number; message?: string } = {},
): FidelityRow {
  const outcome = fate.outcome ?? 'rolled_back';
  return {
    side,
    scenario,
    rep,
    id: `${side}-${scenario}-${rep}`,
    intervalS: 30,
    threshold: 2,
    smokeTest: scenario.endsWith('smoke'),
    scrapeIntervalS: 15,
    outcome,
    newRevisionS: a,
    detectS: fate.detectAfterS === undefined ? undefined : a + fate.detectAfterS,
    rollbackS: outcome === 'rolled_back' ? a + (fate.rollbackAfterS ?? 120) : undefined,
    detectMessage: fate.message,
    failedRequests: 10,
    totalRequests: 100,
  };
}

const rolled = (side: Side, scenario: string, phases: number[], message: string, detect = 60, rollback = 120) =>
  phases.map((a, i) => row(side, scenario, i + 1, a, { detectAfterS: detect, rollbackAfterS: rollback, message }));

describe('the fidelity comparison of the catalogue', () => {
  it('counts the detect tick from the New revision tick, rounding the jitter of real ticks', () => {
    expect(detectTick({ newRevisionS: 12, detectS: 42.4 }, 30)).toBe(1);
    expect(detectTick({ newRevisionS: 12, detectS: 71.2 }, 30)).toBe(2);
    expect(detectTick({ newRevisionS: 12, detectS: undefined }, 30)).toBeUndefined();
  });

  it('gives per scenario the outcome shares with Fisher p, rollback medians with Mann–Whitney p, Δ in intervals and detect ticks', () => {
    const rows = [
      ...rolled('real', 'faulty-500', [5, 10, 15, 20], NO_VALUES),
      ...rolled('model', 'faulty-500', [6, 11, 16, 27], RATE),
      row('real', 'healthy', 1, 10, { outcome: 'promoted' }),
      row('real', 'healthy', 2, 12, { outcome: 'promoted' }),
      row('model', 'healthy', 1, 9, { outcome: 'promoted' }),
      row('model', 'healthy', 2, 8, { outcome: 'rolled_back', detectAfterS: 60, rollbackAfterS: 120 }),
    ];
    const [faulty, healthy] = compareScenarios(rows);
    expect(faulty!.scenario).toBe('faulty-500');
    expect(faulty!.n).toEqual({ real: 4, model: 4 });
    expect(faulty!.outcomes).toEqual([{ outcome: 'rolled_back', real: 4, model: 4, p: 1 }]);
    // Rollback at a + 120: medians 132.5 (real) and 133.5 (model).
    expect(faulty!.medianRollbackS).toEqual({ real: 132.5, model: 133.5 });
    expect(faulty!.rollbackDiffIntervals).toBeCloseTo(1 / 30, 10);
    expect(faulty!.rollbackP).toBe(mannWhitney([125, 130, 135, 140], [126, 131, 136, 147]).p);
    expect(faulty!.medianDetectTick).toEqual({ real: 2, model: 2 });
    expect(faulty!.rollbackWithinInterval).toBe(true);
    expect(faulty!.outcomesAgree).toBe(true);

    expect(healthy!.outcomes.map((o) => [o.outcome, o.real, o.model])).toEqual([
      ['rolled_back', 0, 1],
      ['promoted', 2, 1],
    ]);
    expect(healthy!.outcomes[0]!.p).toBe(
      fisherExact([
        [0, 2],
        [1, 1],
      ]).pTwoSided,
    );
    // Only the model rolled back: no time to compare; the outcome shares judge that difference.
    expect(healthy!.rollbackWithinInterval).toBeUndefined();
    expect(healthy!.rollbackDiffIntervals).toBeUndefined();
  });

  it('misses the timing target beyond one interval, and the outcome target at Fisher p < 0.05', () => {
    const late = [
      ...rolled('real', 'partial-5pct', [5, 10, 15, 20, 25, 28], RATE),
      ...rolled('model', 'partial-5pct', [5, 10, 15, 20, 25, 28], RATE, 90, 155),
    ];
    const [c] = compareScenarios(late);
    expect(c!.rollbackDiffIntervals).toBeCloseTo(35 / 30, 10);
    expect(c!.rollbackWithinInterval).toBe(false);
    expect(c!.medianDetectTick).toEqual({ real: 2, model: 3 });
    const justWithin = compareScenarios([
      ...rolled('real', 'partial-5pct', [5], RATE),
      ...rolled('model', 'partial-5pct', [5], RATE, 60, 150),
    ]);
    expect(justWithin[0]!.rollbackWithinInterval).toBe(true);

    const split = [
      ...Array.from({ length: 8 }, (_, i) => row('real', 'partial-0.5pct', i + 1, 10, { outcome: 'promoted' })),
      ...rolled('model', 'partial-0.5pct', [1, 2, 3, 4, 5, 6, 7, 8], NO_VALUES),
    ];
    const [s] = compareScenarios(split);
    expect(s!.outcomes[0]!.p).toBeLessThan(0.05);
    expect(s!.outcomesAgree).toBe(false);
    const findings = missFindings(split, [s!]);
    expect(findings[0]).toContain(
      '**partial-0.5pct: outcome rolled_back differs** (real 0/8, model 8/8, Fisher p <0.001)',
    );
    expect(findings[0]).toContain(
      'real: 0 of 8 halted, 0 on "no values found", 0 on the smoke test, 0 on request duration; model: 8 of 8 halted, 8 on "no values found"',
    );
    expect(findings[1]).toContain('**partial-0.5pct: outcome promoted differs** (real 8/8, model 0/8');
    expect(findings).toHaveLength(2);
    expect(comparisonTable([s!])).toContain('outcomes ✗, timing n/a |');
  });

  it('leaves out a real release that measured an overloaded machine, and says so', () => {
    expect(overloaded({ side: 'real', stableP99Ms: 250, timeouts: 0 })).toBe(false);
    expect(overloaded({ side: 'real', stableP99Ms: 251, timeouts: 0 })).toBe(true);
    expect(overloaded({ side: 'real', stableP99Ms: 3, timeouts: 1 })).toBe(true);
    expect(overloaded({ side: 'model', stableP99Ms: undefined, timeouts: undefined })).toBe(false);
    const slow = {
      ...row('real', 'healthy', 2, 10, { detectAfterS: 90, message: 'Halt request duration 1.96s > 500ms' }),
      stableP99Ms: 900,
    };
    const rows = [
      row('real', 'healthy', 1, 10, { outcome: 'promoted' }),
      slow,
      row('model', 'healthy', 1, 12, { outcome: 'promoted' }),
    ];
    const [c] = compareScenarios(rows);
    expect(c!.n).toEqual({ real: 1, model: 1 });
    expect(c!.overloaded).toBe(1);
    expect(c!.outcomes).toEqual([{ outcome: 'promoted', real: 1, model: 1, p: 1 }]);
    const md = fidelityFindingsMarkdown(rows);
    expect(md).toContain('| healthy | 30 s | 1 (+1 overloaded) / 1 |');
    expect(md).toContain(
      "1 real release measured an overloaded machine (a timeout, or the stable build's p99 above 250 ms) and is left out (kept in runs.csv).",
    );
  });

  it('renders the table and the findings block, saying when every target is met', () => {
    const rows = [
      ...rolled('real', 'faulty-500-smoke', [3, 9], SMOKE, 30, 90),
      ...rolled('model', 'faulty-500-smoke', [4, 8], SMOKE, 30, 90),
    ];
    const table = comparisonTable(compareScenarios(rows));
    expect(table.split('\n')[2]).toBe(
      '| faulty-500-smoke (smoke test) | 30 s | 2 / 2 | rolled_back 2/2 / 2/2 (1.000) | 96.0 / 96.0 | 1.000 | +0.00 | 1.0 / 1.0 | outcomes ✓, timing ✓ |',
    );
    const md = fidelityFindingsMarkdown(rows);
    expect(md).toContain(
      '1 scenario, 2 releases on the real Flagger (Prometheus scraping every 15 s, as the scenarios say) and 2 on the model.',
    );
    expect(md).toContain(table);
    expect(md.endsWith('Every scenario meets both targets.')).toBe(true);
    const missed = fidelityFindingsMarkdown([
      ...rows.filter((r) => r.side === 'real'),
      ...rolled('model', 'faulty-500-smoke', [4, 8], SMOKE, 30, 150),
    ]);
    expect(missed).not.toContain('Every scenario meets both targets.');
    expect(missed).toContain('Missed targets, with the evidence in runs.csv:');
    expect(missed).toContain(
      '- **faulty-500-smoke: median release → rollback differs by +2.00 intervals** (real 96.0 s, model 156.0 s',
    );
  });
});

describe("README's fidelity block", () => {
  const ROOT = path.resolve(import.meta.dirname, '../..');
  const folder = path.join(ROOT, 'reports/findings/fidelity');

  it('is exactly what the checked-in runs.csv gives, and so is the fidelity.md beside it', () => {
    const expected = fidelityFindingsMarkdown(readFidelityRunsCsv(path.join(folder, 'runs.csv')));
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const heading = '### Fidelity: the real Flagger against the model';
    const at = readme.indexOf(heading);
    expect(at).toBeGreaterThan(0);
    const end = readme.indexOf('\n## ', at);
    expect(readme.slice(at, end === -1 ? undefined : end)).toContain(expected);
    expect(readFileSync(path.join(folder, 'fidelity.md'), 'utf8')).toContain(expected);
  });
});
