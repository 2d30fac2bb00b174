/**
 * The catalogue comparison of the real Flagger with the model (issue 13): per scenario, outcome
 * shares with Fisher's exact p, release → rollback medians with the Mann–Whitney p and their
 * difference in analysis intervals, and detection ticks. Pure functions of the rows of runs.csv, so
 * README's block is regenerated from the checked-in file and tested against it.
 */
import { fisherExact, mannWhitney, median } from '../stats/index.ts';
import type { FidelityRow, Side } from './runs-csv.ts';
import type { FidelityRun } from './types.ts';

/** Outcome shares differing at p below this miss the target. */
export const OUTCOME_ALPHA = 0.05;

/**
 * A healthy stable build answers in milliseconds. A real release whose stable answers took longer
 * than this at p99, or which saw a timeout, measured the machine's overload, not Flagger: the
 * canary's p99 is then near Flagger's 500 ms limit from CPU starvation alone, and a healthy build
 * can be rolled back for it. Such a release is kept in runs.csv and left out of the comparison.
 */
export const OVERLOAD_STABLE_P99_MS = 250;

export function overloaded(row: Pick<FidelityRow, 'side' | 'stableP99Ms' | 'timeouts'>): boolean {
  return row.side === 'real' && ((row.timeouts ?? 0) > 0 || (row.stableP99Ms ?? 0) > OVERLOAD_STABLE_P99_MS);
}

const OUTCOMES: ReadonlyArray<FidelityRun['outcome']> = ['rolled_back', 'promoted', 'neither'];

export interface OutcomeComparison {
  outcome: FidelityRun['outcome'];
  real: number;
  model: number;
  /** Fisher's exact two-sided p of [[real o, real not o], [model o, model not o]]. */
  p: number;
}

export interface ScenarioComparison {
  scenario: string;
  intervalS: number;
  threshold: number;
  smokeTest: boolean;
  scrapeIntervalS: number;
  n: Record<Side, number>;
  /** Real releases left out as overloaded (kept in runs.csv). */
  overloaded: number;
  /** Every outcome seen on either side. */
  outcomes: OutcomeComparison[];
  /** Median release → rollback of the rolled-back releases. */
  medianRollbackS: Record<Side, number | undefined>;
  /** Two-sided Mann–Whitney p of the two sides' release → rollback; undefined when a side has none. */
  rollbackP?: number;
  /** (model − real) median release → rollback, in analysis intervals. */
  rollbackDiffIntervals?: number;
  /**
   * Median tick of the first failed check, counted from the tick that noticed the new revision
   * (tick 0): 1 for a failed smoke test, 2 for the first success-rate check (docs/design.md §5).
   */
  medianDetectTick: Record<Side, number | undefined>;
  /**
   * |rollbackDiffIntervals| ≤ 1; undefined unless both sides rolled back (a side that never did has
   * no time to compare: the outcome shares say whether that is a difference).
   */
  rollbackWithinInterval?: boolean;
  /** No outcome share differs at p < OUTCOME_ALPHA. */
  outcomesAgree: boolean;
}

/** The tick of the first failed check after the New revision tick, or undefined without either. */
export function detectTick(run: Pick<FidelityRun, 'newRevisionS' | 'detectS'>, intervalS: number): number | undefined {
  if (run.detectS === undefined || run.newRevisionS === undefined) return undefined;
  return Math.round((run.detectS - run.newRevisionS) / intervalS);
}

function present(values: Array<number | undefined>): number[] {
  return values.filter((v): v is number => v !== undefined && Number.isFinite(v));
}

/** Every scenario in the rows, by name, compared side by side. */
export function compareScenarios(rows: readonly FidelityRow[]): ScenarioComparison[] {
  const names = [...new Set(rows.map((r) => r.scenario))].sort();
  return names.map((scenario) => {
    const all = rows.filter((r) => r.scenario === scenario);
    const of = all.filter((r) => !overloaded(r));
    const first = all[0]!;
    const side = (s: Side) => of.filter((r) => r.side === s);
    const real = side('real');
    const model = side('model');
    const outcomes = OUTCOMES.flatMap((outcome): OutcomeComparison[] => {
      const a = real.filter((r) => r.outcome === outcome).length;
      const b = model.filter((r) => r.outcome === outcome).length;
      if (a === 0 && b === 0) return [];
      const p = fisherExact([
        [a, real.length - a],
        [b, model.length - b],
      ]).pTwoSided;
      return [{ outcome, real: a, model: b, p }];
    });
    const rollbacks = (runs: FidelityRow[]) =>
      present(runs.filter((r) => r.outcome === 'rolled_back').map((r) => r.rollbackS));
    const rbReal = rollbacks(real);
    const rbModel = rollbacks(model);
    const medianRollbackS = { real: median(rbReal), model: median(rbModel) };
    const rollbackDiffIntervals =
      medianRollbackS.real === undefined || medianRollbackS.model === undefined
        ? undefined
        : (medianRollbackS.model - medianRollbackS.real) / first.intervalS;
    const ticks = (runs: FidelityRow[]) => median(present(runs.map((r) => detectTick(r, first.intervalS))));
    return {
      scenario,
      intervalS: first.intervalS,
      threshold: first.threshold,
      smokeTest: first.smokeTest,
      scrapeIntervalS: first.scrapeIntervalS,
      n: { real: real.length, model: model.length },
      overloaded: all.length - of.length,
      outcomes,
      medianRollbackS,
      rollbackP: rbReal.length > 0 && rbModel.length > 0 ? mannWhitney(rbReal, rbModel).p : undefined,
      rollbackDiffIntervals,
      medianDetectTick: { real: ticks(real), model: ticks(model) },
      rollbackWithinInterval: rollbackDiffIntervals === undefined ? undefined : Math.abs(rollbackDiffIntervals) <= 1,
      outcomesAgree: outcomes.every((o) => o.p >= OUTCOME_ALPHA),
    };
  });
}

const f1 = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));
const p2 = (v: number | undefined) => (v === undefined ? '—' : v < 0.001 ? '<0.001' : v.toFixed(3));
const signed = (v: number | undefined) => (v === undefined ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(2)}`);
const share = (k: number, n: number) => `${k}/${n}`;

/** The per-scenario table: one line per scenario, both sides in each cell as real / model. */
export function comparisonTable(comparisons: readonly ScenarioComparison[]): string {
  const lines = [
    '| scenario | interval | n real / model | outcomes real / model (Fisher p) | median release → rollback, s, real / model | Mann–Whitney p | Δ median, intervals | detect tick real / model | targets |',
    '|---|---:|---:|---|---:|---:|---:|---:|---|',
  ];
  for (const c of comparisons) {
    const outcomes = c.outcomes
      .map((o) => `${o.outcome} ${share(o.real, c.n.real)} / ${share(o.model, c.n.model)} (${p2(o.p)})`)
      .join('; ');
    const targets = [
      c.outcomesAgree ? 'outcomes ✓' : 'outcomes ✗',
      c.rollbackWithinInterval === undefined ? 'timing n/a' : c.rollbackWithinInterval ? 'timing ✓' : 'timing ✗',
    ].join(', ');
    lines.push(
      `| ${c.scenario}${c.smokeTest ? ' (smoke test)' : ''} | ${c.intervalS} s | ${c.n.real}${c.overloaded > 0 ? ` (+${c.overloaded} overloaded)` : ''} / ${c.n.model} | ${outcomes || '—'} | ${f1(c.medianRollbackS.real)} / ${f1(c.medianRollbackS.model)} | ${p2(c.rollbackP)} | ${signed(c.rollbackDiffIntervals)} | ${f1(c.medianDetectTick.real)} / ${f1(c.medianDetectTick.model)} | ${targets} |`,
    );
  }
  return lines.join('\n');
}

/**
 * One finding per missed target, with what the rows say about its cause: which outcome moved and
 * how the first Halt was worded on each side (a "no values found" halt is Prometheus' sampling,
 * docs/design.md §11). The cause still needs a reader; this names the evidence, not a verdict.
 */
export function missFindings(rows: readonly FidelityRow[], comparisons: readonly ScenarioComparison[]): string[] {
  const findings: string[] = [];
  for (const c of comparisons) {
    const of = (side: Side) => rows.filter((r) => r.scenario === c.scenario && r.side === side && !overloaded(r));
    const evidence = () => {
      const words = (side: Side) => {
        const runs = of(side);
        const noValues = runs.filter((r) => r.detectMessage?.includes('no values found')).length;
        const smoke = runs.filter((r) => r.detectMessage?.includes('pre-rollout')).length;
        const duration = runs.filter((r) => r.detectMessage?.includes('request duration')).length;
        const halted = runs.filter((r) => r.detectMessage !== undefined).length;
        return `${side}: ${halted} of ${runs.length} halted, ${noValues} on "no values found", ${smoke} on the smoke test, ${duration} on request duration`;
      };
      return `${words('real')}; ${words('model')}`;
    };
    for (const o of c.outcomes.filter((x) => x.p < OUTCOME_ALPHA)) {
      findings.push(
        `**${c.scenario}: outcome ${o.outcome} differs** (real ${share(o.real, c.n.real)}, model ${share(o.model, c.n.model)}, Fisher p ${p2(o.p)}). First Halt events: ${evidence()}.`,
      );
    }
    if (c.rollbackWithinInterval === false) {
      const ticks = `detect tick real ${f1(c.medianDetectTick.real)}, model ${f1(c.medianDetectTick.model)}`;
      findings.push(
        `**${c.scenario}: median release → rollback differs by ${signed(c.rollbackDiffIntervals)} intervals** (real ${f1(c.medianRollbackS.real)} s, model ${f1(c.medianRollbackS.model)} s, Mann–Whitney p ${p2(c.rollbackP)}; ${ticks}). First Halt events: ${evidence()}.`,
      );
    }
  }
  return findings;
}

/**
 * README's fidelity block and fidelity.md's body, from the rows of a runs.csv: the table, what it
 * covers, and a finding per missed target (or the sentence that none was missed).
 */
export function fidelityFindingsMarkdown(rows: readonly FidelityRow[]): string {
  const comparisons = compareScenarios(rows);
  const real = rows.filter((r) => r.side === 'real' && !overloaded(r)).length;
  const model = rows.filter((r) => r.side === 'model').length;
  const over = rows.filter(overloaded).length;
  const scrapes = [...new Set(comparisons.map((c) => c.scrapeIntervalS))].sort((a, b) => a - b);
  const misses = missFindings(rows, comparisons);
  const parts = [
    `${comparisons.length} scenario${comparisons.length === 1 ? '' : 's'}, ${real} releases on the real Flagger (Prometheus scraping every ${scrapes.join(' or ')} s, as the scenarios say) and ${model} on the model. ` +
      `Targets: no outcome share differing at Fisher p < ${OUTCOME_ALPHA}; median release → rollback within one analysis interval. ` +
      'Detect tick: the first failed check, counted in intervals from the tick that noticed the new revision (1 is a failed smoke test, 2 the first success-rate check).' +
      (over === 0
        ? ''
        : ` ${over} real release${over === 1 ? '' : 's'} measured an overloaded machine (a timeout, or the stable build's p99 above ${OVERLOAD_STABLE_P99_MS} ms) and ${over === 1 ? 'is' : 'are'} left out (kept in runs.csv).`),
    comparisonTable(comparisons),
    misses.length === 0
      ? 'Every scenario meets both targets.'
      : ['Missed targets, with the evidence in runs.csv:', '', ...misses.map((m) => `- ${m}`)].join('\n'),
  ];
  return parts.join('\n\n');
}
