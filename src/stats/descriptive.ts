/**
 * Descriptive statistics of one arm's measurements (MTTR, TTD, … in milliseconds).
 *
 * Quantile definition: R's default, `quantile(x, type = 7)` (Hyndman & Fan 1996, definition 7;
 * also NumPy's default "linear"): with the values sorted as x[0] ≤ … ≤ x[n−1], the p-quantile is
 * x[h] interpolated linearly at h = (n − 1)·p. It is what a reader who checks the numbers in R or
 * NumPy gets. simple-statistics implements exactly this since 7.x (`quantileSorted`, "type=7 in
 * R/numpy"); descriptive.test.ts pins it against R output so an upgrade that changes the definition
 * fails loudly instead of shifting every quartile in the report.
 */
import { mean as ssMean, quantileSorted, sampleStandardDeviation } from 'simple-statistics';
import { assertFiniteValues, sortedCopy } from './input.ts';

/** Summary of a sample. Every field other than `n` is `undefined` when the sample is empty. */
export interface Description {
  /** Number of values. */
  n: number;
  /** Median (type-7 quantile at 0.5, i.e. the average of the two middle values for even n). */
  median: number | undefined;
  /** First quartile, type-7 quantile at 0.25. */
  q1: number | undefined;
  /** Third quartile, type-7 quantile at 0.75. */
  q3: number | undefined;
  /** Interquartile range q3 − q1 (0 for a single value). */
  iqr: number | undefined;
  /** Arithmetic mean. */
  mean: number | undefined;
  /** Sample standard deviation (denominator n − 1, as R's `sd`); `undefined` when n < 2. */
  sd: number | undefined;
  /** Smallest value. */
  min: number | undefined;
  /** Largest value. */
  max: number | undefined;
}

/**
 * n, median, quartiles (R type 7), IQR, mean, SD (n − 1), min and max of `values`.
 * Empty input gives n = 0 and every other field `undefined`; one value gives sd `undefined`.
 * Throws a RangeError on a non-finite value (NaN would silently corrupt the sort).
 */
export function summarize(values: readonly number[]): Description {
  assertFiniteValues('summarize', 'values', values);
  const n = values.length;
  if (n === 0) {
    return {
      n: 0,
      median: undefined,
      q1: undefined,
      q3: undefined,
      iqr: undefined,
      mean: undefined,
      sd: undefined,
      min: undefined,
      max: undefined,
    };
  }
  const sorted = sortedCopy(values);
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  return {
    n,
    median: quantileSorted(sorted, 0.5),
    q1,
    q3,
    iqr: q3 - q1,
    mean: ssMean(sorted),
    sd: n >= 2 ? sampleStandardDeviation(sorted) : undefined,
    min: sorted[0],
    max: sorted[n - 1],
  };
}

/**
 * The p-quantile of `values` by R's type 7 (see the file comment), e.g. p = 0.9 for a p90.
 * `undefined` for an empty sample; throws a RangeError when p is outside [0, 1].
 */
export function quantile(values: readonly number[], p: number): number | undefined {
  assertFiniteValues('quantile', 'values', values);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`quantile: p ${p} must be between 0 and 1`);
  if (values.length === 0) return undefined;
  return quantileSorted(sortedCopy(values), p);
}

/** The median of `values` (type 7, so the mean of the middle two for even n); `undefined` if empty. */
export function median(values: readonly number[]): number | undefined {
  return quantile(values, 0.5);
}
