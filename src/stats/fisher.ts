/**
 * Fisher's exact test on a 2×2 table, as R's `fisher.test` computes it for 2×2 tables.
 *
 * With the margins fixed, the top-left count X follows a hypergeometric distribution.
 * - two-sided: the sum of P(X = k) over every k with P(X = k) ≤ P(X = observed)·(1 + 1e-7);
 *   the relative tolerance is R's `relErr`, which keeps tables whose probability equals the
 *   observed one up to rounding (e.g. the mirror image of a symmetric table) in the sum;
 * - less: P(X ≤ observed) (odds ratio < 1); greater: P(X ≥ observed) (odds ratio > 1).
 *
 * For the report's "bad release promoted" comparison, lay the table out as
 * [[a promoted, a not promoted], [b promoted, b not promoted]].
 */

/** [[a, b], [c, d]]: rows are groups, columns are outcomes. Non-negative integer counts. */
export type Table2x2 = readonly [readonly [number, number], readonly [number, number]];

export interface FisherResult {
  /** Two-sided p-value (R's default). 1 for a table without any information (a zero margin). */
  pTwoSided: number;
  /** One-sided p-value for odds ratio < 1: P(X ≤ a). */
  pLess: number;
  /** One-sided p-value for odds ratio > 1: P(X ≥ a). */
  pGreater: number;
  /**
   * The sample odds ratio a·d / (b·c): Infinity when b·c = 0 < a·d, `undefined` when both are 0.
   * Not R's conditional maximum-likelihood estimate, which `fisher.test` prints.
   */
  sampleOddsRatio: number | undefined;
}

const REL_ERR = 1 + 1e-7;

/** Fisher's exact test of independence on a 2×2 table; see the file comment. */
export function fisherExact(table: Table2x2): FisherResult {
  const [[a, b], [c, d]] = table;
  for (const [name, v] of [
    ['[0][0]', a],
    ['[0][1]', b],
    ['[1][0]', c],
    ['[1][1]', d],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`fisherExact: table${name} is ${v}; counts must be non-negative integers`);
    }
  }
  const row1 = a + b;
  const col1 = a + c;
  const total = a + b + c + d;
  const lo = Math.max(0, row1 + col1 - total);
  const hi = Math.min(row1, col1);
  const probabilities = hypergeometric(lo, hi, row1, col1, total);
  const observed = probabilities[a - lo] as number;
  let pTwoSided = 0;
  let pLess = 0;
  let pGreater = 0;
  for (let k = lo; k <= hi; k++) {
    const pk = probabilities[k - lo] as number;
    if (pk <= observed * REL_ERR) pTwoSided += pk;
    if (k <= a) pLess += pk;
    if (k >= a) pGreater += pk;
  }
  const ad = a * d;
  const bc = b * c;
  return {
    pTwoSided: Math.min(1, pTwoSided),
    pLess: Math.min(1, pLess),
    pGreater: Math.min(1, pGreater),
    sampleOddsRatio: bc === 0 ? (ad === 0 ? undefined : Infinity) : ad / bc,
  };
}

/**
 * P(X = k) for k = lo … hi, X the top-left cell given the margins: C(col1, k)·C(total − col1,
 * row1 − k) / C(total, row1). Built from the mode with ratios of consecutive terms and normalised
 * by their sum, so nothing under- or overflows however large the counts.
 */
function hypergeometric(lo: number, hi: number, row1: number, col1: number, total: number): Float64Array {
  const size = hi - lo + 1;
  const weights = new Float64Array(size);
  const col2 = total - col1;
  // ratio P(k + 1) / P(k) = (col1 − k)(row1 − k) / ((k + 1)(col2 − row1 + k + 1))
  const ratio = (k: number) => ((col1 - k) * (row1 - k)) / ((k + 1) * (col2 - row1 + k + 1));
  const mode = Math.min(hi, Math.max(lo, Math.floor(((row1 + 1) * (col1 + 1)) / (total + 2))));
  weights[mode - lo] = 1;
  for (let k = mode; k < hi; k++) weights[k + 1 - lo] = (weights[k - lo] as number) * ratio(k);
  for (let k = mode; k > lo; k--) weights[k - 1 - lo] = (weights[k - lo] as number) / ratio(k - 1);
  let sum = 0;
  for (const w of weights) sum += w;
  for (let i = 0; i < size; i++) weights[i] = (weights[i] as number) / sum;
  return weights;
}
