/**
 * Percentile bootstrap confidence intervals for medians (Efron & Tibshirani 1993, ch. 13).
 *
 * Every resample draws from the seeded generator in common/random.ts, so an interval is a pure
 * function of (data, options): the report re-rendered from the journal prints the same numbers.
 * Two-group intervals resample each group independently, from streams derived from the one seed
 * (`deriveSeed(seed, 'bootstrap:a' | 'bootstrap:b')`), so the difference and the ratio computed
 * with the same seed come from the very same resamples.
 *
 * The interval bounds are the type-7 quantiles (see descriptive.ts) of the replicates at
 * (1 − level)/2 and (1 + level)/2.
 */
import { createRandom, deriveSeed, type Random } from '../common/random.ts';
import { assertFiniteValues, assertLevel, sortedCopy } from './input.ts';

export interface BootstrapOptions {
  /** Confidence level, default 0.95. */
  level?: number;
  /** Number of bootstrap resamples, default 2000. */
  resamples?: number;
  /** Seed of the resampling stream (an integer; see common/random.ts `deriveSeed`). */
  seed: number;
}

/** A point estimate with its percentile bootstrap interval. */
export interface BootstrapInterval {
  /** The statistic on the observed data; `undefined` when it is not defined (empty group, 0/0). */
  estimate: number | undefined;
  /** Lower bound; `undefined` when the data are empty or some replicates are undefined (see `invalidResamples`). */
  lower: number | undefined;
  /** Upper bound; same rule as `lower`. A ratio's bound may be ±Infinity: the interval is unbounded. */
  upper: number | undefined;
  level: number;
  resamples: number;
  /** Replicates whose statistic was undefined (only a ratio's 0/0); when > 0 the bounds are `undefined`. */
  invalidResamples: number;
  method: 'percentile';
}

export const DEFAULT_BOOTSTRAP_LEVEL = 0.95;
export const DEFAULT_BOOTSTRAP_RESAMPLES = 2000;

/**
 * Percentile bootstrap CI of the median of `values`.
 * Empty input: every number `undefined`. One value: the interval is [value, value].
 */
export function bootstrapMedianCI(values: readonly number[], options: BootstrapOptions): BootstrapInterval {
  const { level, resamples, seed } = resolveOptions('bootstrapMedianCI', options);
  assertFiniteValues('bootstrapMedianCI', 'values', values);
  if (values.length === 0) return undefinedInterval(level, resamples);
  const sorted = Float64Array.from(sortedCopy(values));
  const replicates = resampleMedians(sorted, resamples, createRandom(seed));
  return intervalFrom(medianOfSorted(sorted), replicates, level, resamples);
}

/**
 * Percentile bootstrap CI of median(b) − median(a), each group resampled independently.
 * Positive means b is larger (slower, for durations). `undefined` numbers when either group is empty.
 */
export function bootstrapMedianDifferenceCI(
  a: readonly number[],
  b: readonly number[],
  options: BootstrapOptions,
): BootstrapInterval {
  return bootstrapMedianComparison(a, b, options).difference;
}

/**
 * Percentile bootstrap CI of median(b) / median(a), each group resampled independently.
 * Below 1 means b is smaller (faster). A replicate x/0 counts as ±Infinity (the interval is then
 * unbounded on that side); 0/0 is undefined and, if it occurs in any replicate, the bounds are
 * `undefined` (see `invalidResamples`). The estimate is `undefined` when median(a) = 0.
 */
export function bootstrapMedianRatioCI(
  a: readonly number[],
  b: readonly number[],
  options: BootstrapOptions,
): BootstrapInterval {
  return bootstrapMedianComparison(a, b, options).ratio;
}

/** Difference (b − a) and ratio (b / a) of medians, from one shared set of resamples. */
export function bootstrapMedianComparison(
  a: readonly number[],
  b: readonly number[],
  options: BootstrapOptions,
): { difference: BootstrapInterval; ratio: BootstrapInterval } {
  const { level, resamples, seed } = resolveOptions('bootstrapMedianComparison', options);
  assertFiniteValues('bootstrapMedianComparison', 'a', a);
  assertFiniteValues('bootstrapMedianComparison', 'b', b);
  if (a.length === 0 || b.length === 0) {
    return { difference: undefinedInterval(level, resamples), ratio: undefinedInterval(level, resamples) };
  }
  const sortedA = Float64Array.from(sortedCopy(a));
  const sortedB = Float64Array.from(sortedCopy(b));
  const medA = resampleMedians(sortedA, resamples, createRandom(deriveSeed(seed, 'bootstrap:a')));
  const medB = resampleMedians(sortedB, resamples, createRandom(deriveSeed(seed, 'bootstrap:b')));
  const differences = new Float64Array(resamples);
  const ratios = new Float64Array(resamples);
  for (let i = 0; i < resamples; i++) {
    const ma = medA[i] as number;
    const mb = medB[i] as number;
    differences[i] = mb - ma;
    ratios[i] = mb / ma; // x/0 → ±Infinity, 0/0 → NaN (counted as invalid below)
  }
  const observedA = medianOfSorted(sortedA);
  const observedB = medianOfSorted(sortedB);
  const ratio = observedB / observedA;
  return {
    difference: intervalFrom(observedB - observedA, differences, level, resamples),
    ratio: intervalFrom(observedA === 0 ? undefined : ratio, ratios, level, resamples),
  };
}

function resolveOptions(fn: string, options: BootstrapOptions): Required<BootstrapOptions> {
  const level = options.level ?? DEFAULT_BOOTSTRAP_LEVEL;
  const resamples = options.resamples ?? DEFAULT_BOOTSTRAP_RESAMPLES;
  assertLevel(fn, level);
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(`${fn}: resamples ${resamples} must be a positive integer, e.g. 2000`);
  }
  if (!Number.isFinite(options.seed)) {
    throw new RangeError(`${fn}: seed ${options.seed} must be a finite integer`);
  }
  return { level, resamples, seed: options.seed };
}

function undefinedInterval(level: number, resamples: number): BootstrapInterval {
  return {
    estimate: undefined,
    lower: undefined,
    upper: undefined,
    level,
    resamples,
    invalidResamples: 0,
    method: 'percentile',
  };
}

function intervalFrom(
  estimate: number | undefined,
  replicates: Float64Array,
  level: number,
  resamples: number,
): BootstrapInterval {
  let invalid = 0;
  for (const r of replicates) if (Number.isNaN(r)) invalid++;
  if (invalid > 0) {
    return { ...undefinedInterval(level, resamples), estimate, invalidResamples: invalid };
  }
  replicates.sort();
  return {
    estimate,
    lower: quantileOfSorted(replicates, (1 - level) / 2),
    upper: quantileOfSorted(replicates, (1 + level) / 2),
    level,
    resamples,
    invalidResamples: 0,
    method: 'percentile',
  };
}

/**
 * Medians of `resamples` bootstrap resamples of `sorted` (ascending). A resample only needs how
 * often each sorted position was drawn: walking those counts finds the middle order statistics in
 * O(n), with no sort of the resample at all.
 */
function resampleMedians(sorted: Float64Array, resamples: number, random: Random): Float64Array {
  const n = sorted.length;
  const drawn = new Uint32Array(n);
  const medians = new Float64Array(resamples);
  const lo = (n - 1) >> 1; // 0-based ranks of the middle order statistics (equal for odd n)
  const hi = n >> 1;
  for (let r = 0; r < resamples; r++) {
    drawn.fill(0);
    for (let i = 0; i < n; i++) {
      const position = Math.floor(random.next() * n);
      drawn[position] = (drawn[position] as number) + 1;
    }
    let seen = 0;
    let atLo = Number.NaN;
    for (let position = 0; position < n; position++) {
      seen += drawn[position] as number;
      if (Number.isNaN(atLo) && seen > lo) atLo = sorted[position] as number;
      if (seen > hi) {
        medians[r] = (atLo + (sorted[position] as number)) / 2;
        break;
      }
    }
  }
  return medians;
}

function medianOfSorted(sorted: Float64Array): number {
  const n = sorted.length;
  return ((sorted[(n - 1) >> 1] as number) + (sorted[n >> 1] as number)) / 2;
}

/**
 * R's type-7 quantile of an ascending array, written the way R does it,
 * (1 − h)·x[lo] + h·x[hi] and only when x[hi] ≠ x[lo], so infinite replicates (a ratio over a
 * zero median) give ±Infinity instead of the NaN of Infinity − Infinity or 0 · Infinity.
 */
function quantileOfSorted(sorted: Float64Array, p: number): number {
  const index = (sorted.length - 1) * p;
  const lo = Math.floor(index);
  const hi = Math.ceil(index);
  const xLo = sorted[lo] as number;
  const xHi = sorted[hi] as number;
  const h = index - lo;
  if (h === 0 || xLo === xHi) return xLo;
  return (1 - h) * xLo + h * xHi;
}
