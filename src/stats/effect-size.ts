/**
 * Vargha–Delaney A12, the probability of superiority:
 * A12(x, y) = P(X > Y) + ½·P(X = Y), estimated over all n1·n2 pairs, i.e. U1 / (n1·n2).
 * 0.5 means no tendency; for durations, A12(b, a) < 0.5 means arm b tends to be faster.
 *
 * Vargha, A. & Delaney, H. D. (2000). A critique and improvement of the CL common language effect
 * size statistics of McGraw and Wong. Journal of Educational and Behavioral Statistics 25(2),
 * 101–132. Their thresholds 0.56 / 0.64 / 0.71 are the A values that correspond to Cohen's
 * d = 0.2 / 0.5 / 0.8 under normality; they apply symmetrically, to max(A, 1 − A).
 */
import { assertFiniteValues } from './input.ts';
import { uStatistic } from './mann-whitney.ts';

export const A12Magnitudes = ['negligible', 'small', 'medium', 'large'] as const;
export type A12Magnitude = (typeof A12Magnitudes)[number];

export interface A12Result {
  /** A12 in [0, 1]; `undefined` when either sample is empty. */
  a12: number | undefined;
  /** Vargha & Delaney's label for |A12 − 0.5|; `undefined` when `a12` is. */
  magnitude: A12Magnitude | undefined;
}

/** A12 of x over y (see the file comment) and its magnitude label. */
export function varghaDelaneyA12(x: readonly number[], y: readonly number[]): A12Result {
  assertFiniteValues('varghaDelaneyA12', 'x', x);
  assertFiniteValues('varghaDelaneyA12', 'y', y);
  if (x.length === 0 || y.length === 0) return { a12: undefined, magnitude: undefined };
  const a12 = uStatistic(x, y).u1 / (x.length * y.length);
  return { a12, magnitude: a12Magnitude(a12) };
}

// A12 = U/(n1·n2) is a ratio of integers (or half-integers); a value meant to sit exactly on a
// threshold, like 14/25 = 0.56, can land one ulp below it in floating point.
const THRESHOLD_TOLERANCE = 1e-9;

/**
 * Vargha & Delaney (2000) label of an A12 value, symmetric around 0.5:
 * max(A, 1 − A) < 0.56 negligible, < 0.64 small, < 0.71 medium, otherwise large.
 */
export function a12Magnitude(a12: number): A12Magnitude {
  if (!(a12 >= 0 && a12 <= 1)) throw new RangeError(`a12Magnitude: A12 ${a12} must be in [0, 1]`);
  const distance = Math.max(a12, 1 - a12) + THRESHOLD_TOLERANCE;
  if (distance < 0.56) return 'negligible';
  if (distance < 0.64) return 'small';
  if (distance < 0.71) return 'medium';
  return 'large';
}
