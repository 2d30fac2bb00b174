/**
 * Small statistics for benchmark figures. The benchmarks repeat each measurement a few times on a
 * shared two-core machine, so every figure is reported with its spread, and percentiles of short
 * samples use the nearest rank (p99 of six values is the largest): never an interpolated value
 * that was not observed.
 */

/** The q-quantile (0 < q ≤ 1) by nearest rank; undefined for an empty sample. */
export function nearestRank(values: readonly number[], q: number): number | undefined {
  if (!(q > 0 && q <= 1)) throw new RangeError(`quantile: q must be in (0, 1], got ${q}`);
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** How a repeated figure varied: the value reported is the median, with min and max beside it. */
export interface Spread {
  n: number;
  min: number;
  median: number;
  max: number;
}

export function spreadOf(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n: sorted.length, min: sorted[0]!, median, max: sorted[sorted.length - 1]! };
}

/** `1234 [1200–1300, n=3]`, with `digits` decimals. */
export function formatSpread(spread: Spread | undefined, digits = 0): string {
  if (!spread) return '—';
  const f = (v: number) => v.toFixed(digits);
  return spread.n === 1 ? f(spread.median) : `${f(spread.median)} [${f(spread.min)}–${f(spread.max)}, n=${spread.n}]`;
}

/** Whether `achieved` is within `tolerance` (a share, e.g. 0.01) of `target`. */
export function withinShare(achieved: number, target: number, tolerance: number): boolean {
  return Math.abs(achieved - target) <= tolerance * target;
}
