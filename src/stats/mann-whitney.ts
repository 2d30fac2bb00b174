/**
 * Mann–Whitney U test (Wilcoxon rank-sum test), two-sided, computed the way R's
 * `wilcox.test(x, y)` does with its defaults (exact = NULL, correct = TRUE):
 *
 * - exact p-value from the permutation distribution of U when both samples have fewer than
 *   50 values and there are no ties (R's rule, so results match R; the bound keeps the
 *   ~n1²·n2²/4-step count to ~30 ms at 49 + 49);
 * - otherwise the normal approximation with the tie correction of the variance and a continuity
 *   correction of 1/2 towards the mean.
 *
 * U1 is R's W statistic: the number of pairs (x_i, y_j) with x_i > y_j, plus half the number of
 * tied pairs. U1 + U2 = n1·n2.
 */
import { assertFiniteValues } from './input.ts';
import { normalUpperTail } from './normal.ts';

export const MannWhitneyMethods = ['exact', 'normal'] as const;
export type MannWhitneyMethod = (typeof MannWhitneyMethods)[number];

/** Below this size (per sample) and without ties the exact distribution is used, as in R. */
export const EXACT_MAX_EXCLUSIVE = 50;

/**
 * Largest n1·n2 for which `exact: true` is honoured. The counting costs ~n1²·n2²/4 steps:
 * 100 × 100 takes ~0.6 s, and by then the normal approximation is accurate to ~1e-4.
 */
export const EXACT_FORCED_MAX_PAIRS = 10_000;

export interface MannWhitneyOptions {
  /**
   * `undefined` (default): exact when both n < 50 and there are no ties, as R.
   * `true`: exact whenever there are no ties (ties fall back to normal, as R does) and
   *   n1·n2 ≤ EXACT_FORCED_MAX_PAIRS (beyond that, normal: the exact count would take seconds).
   * `false`: always the normal approximation.
   */
  exact?: boolean;
  /** Continuity correction in the normal approximation; default true, as R. */
  correct?: boolean;
}

export interface MannWhitneyResult {
  n1: number;
  n2: number;
  /** U of the first sample (R's W): #(x > y) + ½·#(x = y). */
  u1: number;
  /** U of the second sample: n1·n2 − u1. */
  u2: number;
  /** min(u1, u2), the statistic most tables print. */
  u: number;
  /**
   * Two-sided p-value; `undefined` when a sample is empty. When every value is the same the
   * normal approximation has zero variance; p is then 1 (U equals its null mean exactly), where
   * R prints NaN.
   */
  p: number | undefined;
  /** How p was computed; `undefined` when a sample is empty. */
  method: MannWhitneyMethod | undefined;
  /** The (continuity-corrected) z of the normal approximation; only with method 'normal'. */
  z?: number;
  /** Whether the pooled sample has ties (which rules out the exact method). */
  ties: boolean;
}

/** Two-sided Mann–Whitney U test of x against y. See the file comment for the method choice. */
export function mannWhitney(
  x: readonly number[],
  y: readonly number[],
  options: MannWhitneyOptions = {},
): MannWhitneyResult {
  assertFiniteValues('mannWhitney', 'x', x);
  assertFiniteValues('mannWhitney', 'y', y);
  const n1 = x.length;
  const n2 = y.length;
  const { u1, tieTerm } = uStatistic(x, y);
  const u2 = n1 * n2 - u1;
  const ties = tieTerm > 0;
  const base = { n1, n2, u1, u2, u: Math.min(u1, u2), ties };
  if (n1 === 0 || n2 === 0) return { ...base, p: undefined, method: undefined };

  const useExact =
    !ties &&
    (options.exact === true
      ? n1 * n2 <= EXACT_FORCED_MAX_PAIRS
      : options.exact === undefined && n1 < EXACT_MAX_EXCLUSIVE && n2 < EXACT_MAX_EXCLUSIVE);
  if (useExact) return { ...base, p: exactTwoSidedP(u1, n1, n2), method: 'exact' };

  // R: SIGMA <- sqrt((nx*ny/12) * ((nx+ny+1) - sum(NTIES^3 - NTIES) / ((nx+ny)*(nx+ny-1))))
  const n = n1 + n2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  const centred = u1 - (n1 * n2) / 2;
  if (!(sigma > 0)) return { ...base, p: 1, method: 'normal', z: 0 };
  const correction = options.correct === false ? 0 : Math.sign(centred) * 0.5;
  const z = (centred - correction) / sigma;
  const p = Math.min(1, 2 * normalUpperTail(Math.abs(z)));
  return { ...base, p, method: 'normal', z };
}

/**
 * U1 = #(x > y) + ½·#(x = y), from mid-ranks of the pooled sample (O(n log n)), and the tie term
 * Σ(t³ − t) over groups of t equal values used by the variance correction.
 */
export function uStatistic(x: readonly number[], y: readonly number[]): { u1: number; tieTerm: number } {
  const n1 = x.length;
  const pooled: { v: number; fromX: boolean }[] = [];
  for (const v of x) pooled.push({ v, fromX: true });
  for (const v of y) pooled.push({ v, fromX: false });
  pooled.sort((p, q) => p.v - q.v);
  let rankSumX = 0;
  let tieTerm = 0;
  for (let i = 0; i < pooled.length; ) {
    let j = i;
    while (j + 1 < pooled.length && (pooled[j + 1] as { v: number }).v === (pooled[i] as { v: number }).v) j++;
    const t = j - i + 1;
    const midRank = (i + 1 + j + 1) / 2;
    for (let k = i; k <= j; k++) if ((pooled[k] as { fromX: boolean }).fromX) rankSumX += midRank;
    if (t > 1) tieTerm += t * t * t - t;
    i = j + 1;
  }
  return { u1: rankSumX - (n1 * (n1 + 1)) / 2, tieTerm };
}

/**
 * Number of arrangements of m x's and n y's (all distinct) giving each U_x = u, u = 0 … m·n.
 * The largest pooled value is either an x (above all n y's: adds n to U) or a y (adds 0), so
 * c(u; m, n) = c(u − n; m − 1, n) + c(u; m, n − 1) — the recursion of R's cwilcox — filled
 * row by row over m. Counts reach C(98, 49) ≈ 2.5e28; doubles keep them to 1e-16 relative,
 * plenty for a p-value.
 */
export function exactUCounts(m: number, n: number): Float64Array {
  // prev[j] / cur[j]: distribution for (i − 1, j) / (i, j), indexed by u ∈ [0, i·j].
  let prev: Float64Array[] = [];
  for (let j = 0; j <= n; j++) prev.push(Float64Array.of(1)); // i = 0: U = 0 in one way
  for (let i = 1; i <= m; i++) {
    const cur: Float64Array[] = [Float64Array.of(1)]; // j = 0: U = 0 in one way
    for (let j = 1; j <= n; j++) {
      const counts = new Float64Array(i * j + 1);
      const withXLargest = prev[j] as Float64Array; // (i − 1, j), shifted by j
      const withYLargest = cur[j - 1] as Float64Array; // (i, j − 1)
      for (let u = 0; u < withXLargest.length; u++) counts[u + j] = withXLargest[u] as number;
      for (let u = 0; u < withYLargest.length; u++) counts[u] = (counts[u] as number) + (withYLargest[u] as number);
      cur.push(counts);
    }
    prev = cur;
  }
  return prev[n] as Float64Array;
}

/** R: p <- if (W > m·n/2) P(U ≥ W) else P(U ≤ W); min(2p, 1). */
function exactTwoSidedP(u1: number, m: number, n: number): number {
  const counts = exactUCounts(m, n);
  let total = 0;
  for (const c of counts) total += c;
  let tail = 0;
  if (u1 > (m * n) / 2) {
    for (let u = u1; u < counts.length; u++) tail += counts[u] as number;
  } else {
    for (let u = 0; u <= u1; u++) tail += counts[u] as number;
  }
  return Math.min(1, (2 * tail) / total);
}
