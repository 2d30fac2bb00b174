/**
 * Statistics for the report (docs/design.md §7). Pure functions, no I/O; every resample draws from a
 * seeded generator, so a report re-rendered from its journal prints the same numbers.
 */
import {
  bootstrapMedianComparison,
  DEFAULT_BOOTSTRAP_LEVEL,
  DEFAULT_BOOTSTRAP_RESAMPLES,
  type BootstrapInterval,
} from './bootstrap.ts';
import { summarize, type Description } from './descriptive.ts';
import { varghaDelaneyA12, type A12Result } from './effect-size.ts';
import { mannWhitney, type MannWhitneyResult } from './mann-whitney.ts';

export { median, quantile, summarize, type Description } from './descriptive.ts';
export {
  bootstrapMedianCI,
  bootstrapMedianComparison,
  bootstrapMedianDifferenceCI,
  bootstrapMedianRatioCI,
  DEFAULT_BOOTSTRAP_LEVEL,
  DEFAULT_BOOTSTRAP_RESAMPLES,
  type BootstrapInterval,
  type BootstrapOptions,
} from './bootstrap.ts';
export {
  EXACT_FORCED_MAX_PAIRS,
  EXACT_MAX_EXCLUSIVE,
  exactUCounts,
  mannWhitney,
  MannWhitneyMethods,
  uStatistic,
  type MannWhitneyMethod,
  type MannWhitneyOptions,
  type MannWhitneyResult,
} from './mann-whitney.ts';
export { a12Magnitude, A12Magnitudes, varghaDelaneyA12, type A12Magnitude, type A12Result } from './effect-size.ts';
export { fisherExact, type FisherResult, type Table2x2 } from './fisher.ts';
export {
  kaplanMeier,
  KmConfTypes,
  KmFlatRules,
  kmMedian,
  kmQuantile,
  type KaplanMeierFit,
  type KaplanMeierOptions,
  type KmConfType,
  type KmFlatRule,
  type KmQuantile,
  type KmStep,
  type SurvivalObservation,
} from './kaplan-meier.ts';
export { normalCdf, normalDensity, normalQuantile, normalUpperTail } from './normal.ts';

export interface CompareArmsOptions {
  /** Seed of the bootstrap resampling (required: the report must be reproducible). */
  seed: number;
  /** Confidence level of the bootstrap intervals, default 0.95. */
  level?: number;
  /** Bootstrap resamples, default 2000. */
  resamples?: number;
}

/**
 * Arm b compared with arm a. Every directional number reads "b relative to a": with a = manual
 * and b = Flagger, a negative difference, a ratio below 1 and an A12 below 0.5 all mean Flagger
 * recovers faster.
 */
export interface ArmComparison {
  a: Description;
  b: Description;
  /** median(b) − median(a) with its percentile bootstrap CI. */
  medianDifference: BootstrapInterval;
  /** median(b) / median(a) with its percentile bootstrap CI (see bootstrapMedianRatioCI for zeros). */
  medianRatio: BootstrapInterval;
  /** Two-sided Mann–Whitney test of b against a; `u1` is U of b, so u1 / (nb·na) = A12. */
  mannWhitney: MannWhitneyResult;
  /** A12(b, a) = P(B > A) + ½·P(B = A), with its Vargha–Delaney label. */
  a12: A12Result;
}

/**
 * The between-arm comparison the report prints for one measure (MTTR, TTR_release, …):
 * descriptions of both arms, difference and ratio of medians with bootstrap CIs, Mann–Whitney U
 * and A12. Values must be finite: censored runs have no MTTR and belong in kaplanMeier, not here.
 * Empty arms give `undefined` numbers rather than throwing.
 */
export function compareArms(a: readonly number[], b: readonly number[], options: CompareArmsOptions): ArmComparison {
  const { difference, ratio } = bootstrapMedianComparison(a, b, {
    seed: options.seed,
    level: options.level ?? DEFAULT_BOOTSTRAP_LEVEL,
    resamples: options.resamples ?? DEFAULT_BOOTSTRAP_RESAMPLES,
  });
  return {
    a: summarize(a),
    b: summarize(b),
    medianDifference: difference,
    medianRatio: ratio,
    mannWhitney: mannWhitney(b, a),
    a12: varghaDelaneyA12(b, a),
  };
}
