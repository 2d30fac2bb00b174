import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fisherExact, type Table2x2 } from './fisher.ts';

describe('fisherExact against R fisher.test', () => {
  // Examples from R's ?fisher.test (stats package):
  // https://stat.ethz.ch/R-manual/R-devel/library/stats/html/fisher.test.html
  it("Fisher's lady tasting tea [[3,1],[1,3]]: two-sided 0.4857, greater 0.2429", () => {
    // TeaTasting <- matrix(c(3, 1, 1, 3), nrow = 2); fisher.test(TeaTasting, alternative = "greater")
    // (R's comment: Agresti (1990, p. 61f; 2002, p. 91), Fisher's tea drinker)
    const result = fisherExact([
      [3, 1],
      [1, 3],
    ]);
    expect(result.pTwoSided).toBeCloseTo(0.4857, 4); // 34/70
    expect(result.pGreater).toBeCloseTo(0.2429, 4); // 17/70
    expect(result.pLess).toBeCloseTo(0.9857, 4); // 69/70
    expect(result.sampleOddsRatio).toBe(9);
  });

  it('Fisher’s criminal twins [[2,15],[10,3]]: less 0.0004652, two-sided 0.0005367', () => {
    // (R's comment: Fisher (1962, 1970), criminal convictions of like-sex twins)
    // Convictions <- matrix(c(2, 10, 15, 3), nrow = 2) (column-major, so rows are
    // Dizygotic 2/15 and Monozygotic 10/3); fisher.test(Convictions, alternative = "less") and
    // fisher.test(Convictions, conf.int = FALSE).
    const result = fisherExact([
      [2, 15],
      [10, 3],
    ]);
    expect(result.pLess / 0.0004652).toBeCloseTo(1, 3);
    expect(result.pTwoSided / 0.0005367).toBeCloseTo(1, 3);
  });

  it('tables with a zero cell', () => {
    // [[0,5],[5,0]]: only it and its mirror [[5,0],[0,5]] are as unlikely, each 1/C(10,5):
    // p = 2/252 = 0.007937 by R's definition, fisher.test(matrix(c(0, 5, 5, 0), 2)).
    const mirror = fisherExact([
      [0, 5],
      [5, 0],
    ]);
    expect(mirror.pTwoSided).toBeCloseTo(2 / 252, 14);
    expect(mirror.pLess).toBeCloseTo(1 / 252, 14);
    expect(mirror.pGreater).toBe(1);
    expect(mirror.sampleOddsRatio).toBe(0);
    // "bad release promoted" 0 of 10 vs 5 of 10: P(0) = P(5) = C(10,5)/C(20,5) = 252/15504,
    // p = 504/15504 = 0.03251 by R's definition, fisher.test(matrix(c(0, 5, 10, 5), 2)).
    const promoted = fisherExact([
      [0, 10],
      [5, 5],
    ]);
    expect(promoted.pTwoSided).toBeCloseTo(504 / 15504, 14);
    expect(promoted.pLess).toBeCloseTo(252 / 15504, 14);
  });

  it('gives p = 1 when a margin is zero (no information) and an undefined odds ratio for 0/0', () => {
    expect(
      fisherExact([
        [0, 0],
        [0, 0],
      ]),
    ).toEqual({ pTwoSided: 1, pLess: 1, pGreater: 1, sampleOddsRatio: undefined });
    expect(
      fisherExact([
        [0, 4],
        [0, 6],
      ]),
    ).toMatchObject({ pTwoSided: 1, pLess: 1, pGreater: 1 });
    expect(
      fisherExact([
        [3, 0],
        [1, 2],
      ]).sampleOddsRatio,
    ).toBe(Infinity);
  });

  it('rejects counts that are not non-negative integers', () => {
    expect(() =>
      fisherExact([
        [1, -1],
        [0, 2],
      ]),
    ).toThrow('fisherExact: table[0][1] is -1');
    expect(() =>
      fisherExact([
        [1.5, 1],
        [0, 2],
      ]),
    ).toThrow(RangeError);
  });
});

/** Exact p-values with BigInt binomials, straight from the definitions R documents. */
function referenceFisher([[a, b], [c, d]]: Table2x2): { pTwoSided: number; pLess: number; pGreater: number } {
  const choose = (n: number, k: number): bigint => {
    let r = 1n;
    for (let i = 1; i <= k; i++) r = (r * BigInt(n - k + i)) / BigInt(i);
    return r;
  };
  const row1 = a + b;
  const col1 = a + c;
  const total = a + b + c + d;
  const lo = Math.max(0, row1 + col1 - total);
  const hi = Math.min(row1, col1);
  const weight = (k: number) => choose(col1, k) * choose(total - col1, row1 - k);
  const denominator = choose(total, row1);
  const observed = weight(a);
  let two = 0n;
  let less = 0n;
  let greater = 0n;
  for (let k = lo; k <= hi; k++) {
    const w = weight(k);
    if (w <= observed) two += w; // exact integers: ties are exact, no tolerance needed
    if (k <= a) less += w;
    if (k >= a) greater += w;
  }
  const ratio = (n: bigint) => Number((n * 10n ** 15n) / denominator) / 1e15;
  return { pTwoSided: ratio(two), pLess: ratio(less), pGreater: ratio(greater) };
}

describe('fisherExact properties', () => {
  const count = fc.integer({ min: 0, max: 40 });
  const table = fc.tuple(fc.tuple(count, count), fc.tuple(count, count)) as fc.Arbitrary<Table2x2>;

  it('matches exact rational arithmetic, p in (0, 1]', () => {
    fc.assert(
      fc.property(table, (t) => {
        const result = fisherExact(t);
        const reference = referenceFisher(t);
        for (const key of ['pTwoSided', 'pLess', 'pGreater'] as const) {
          expect(result[key]).toBeGreaterThan(0);
          expect(result[key]).toBeLessThanOrEqual(1);
          expect(Math.abs(result[key] - reference[key])).toBeLessThan(1e-12);
        }
      }),
    );
  });

  it('is unchanged by transposing, and swapping the rows swaps the one-sided p-values', () => {
    fc.assert(
      fc.property(table, ([[a, b], [c, d]]) => {
        const result = fisherExact([
          [a, b],
          [c, d],
        ]);
        const transposed = fisherExact([
          [a, c],
          [b, d],
        ]);
        const swapped = fisherExact([
          [c, d],
          [a, b],
        ]);
        expect(transposed.pTwoSided).toBeCloseTo(result.pTwoSided, 12);
        expect(swapped.pTwoSided).toBeCloseTo(result.pTwoSided, 12);
        expect(swapped.pLess).toBeCloseTo(result.pGreater, 12);
        expect(swapped.pGreater).toBeCloseTo(result.pLess, 12);
      }),
    );
  });
});
