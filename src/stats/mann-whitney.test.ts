import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRandom } from '../common/random.ts';
import { exactUCounts, mannWhitney, uStatistic } from './mann-whitney.ts';

describe('mannWhitney against published results', () => {
  it('R ?wilcox.test two-sample example: W = 35, exact p = 0.2544', () => {
    // R documentation of wilcox.test (stats package), "Two-sample test", data from
    // Hollander & Wolfe (1973), Nonparametric Statistical Methods, p. 69f: permeability constants.
    // https://stat.ethz.ch/R-manual/R-devel/library/stats/html/wilcox.test.html
    const x = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const y = [1.15, 0.88, 0.9, 0.74, 1.21];
    const result = mannWhitney(x, y);
    expect(result).toMatchObject({ n1: 10, n2: 5, u1: 35, u2: 15, u: 15, method: 'exact', ties: false });
    expect(result.p).toBeCloseTo(0.2544, 4);
  });

  it('SciPy mannwhitneyu docs example (males/females): U1 = 17, exact p = 0.1111, asymptotic 0.11134688653314041', () => {
    // https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.mannwhitneyu.html
    // (example adapted there from Mann & Whitney 1947); method="exact" and method="asymptotic".
    const males = [19, 22, 16, 29, 24];
    const females = [20, 11, 17, 12];
    const exact = mannWhitney(males, females);
    expect(exact).toMatchObject({ u1: 17, u2: 3, method: 'exact' });
    expect(exact.p).toBeCloseTo(1 / 9, 12); // 2 · 7/126: U ≤ 3 in 1 + 1 + 2 + 3 of C(9,4) arrangements
    const asymptotic = mannWhitney(males, females, { exact: false });
    expect(asymptotic.method).toBe('normal');
    expect(asymptotic.p).toBeCloseTo(0.11134688653314041, 12);
  });

  it('R ?wilcox.test airquality example with ties: W = 127.5, p = 0.0001208 (normal, continuity-corrected)', () => {
    // R: wilcox.test(Ozone ~ Month, data = airquality, subset = Month %in% c(5, 8))
    // → "Wilcoxon rank sum test with continuity correction, W = 127.5, p-value = 0.0001208".
    // Ozone (ppb) of R's `airquality` dataset, NA removed; May mean 23.615, August mean 59.962.
    const may = [41, 36, 12, 18, 28, 23, 19, 8, 7, 16, 11, 14, 18, 14, 34, 6, 30, 11, 1, 11, 4, 32, 23, 45, 115, 37];
    const august = [
      39, 9, 16, 78, 35, 66, 122, 89, 110, 44, 28, 65, 22, 59, 23, 31, 44, 21, 9, 45, 168, 73, 76, 118, 84, 85,
    ];
    const result = mannWhitney(may, august);
    expect(result).toMatchObject({ u1: 127.5, method: 'normal', ties: true });
    expect((result.p as number) / 0.0001208).toBeCloseTo(1, 3);
  });

  it('R outputs with ties from endmemo.com/r/wilcoxon.php: W = 51.5, p = 0.5966 and W = 0, p = 0.001364', () => {
    const x = [1, 5, 9, 24, 56, 21, 3, 7, 21, 4];
    const tied = mannWhitney(x, [12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5]);
    expect(tied).toMatchObject({ u1: 51.5, method: 'normal' });
    expect(tied.p).toBeCloseTo(0.5966, 4);
    const separated = mannWhitney(x, [1233, 4356, 987, 39999, 1111, 200000]);
    expect(separated).toMatchObject({ u1: 0, method: 'normal' }); // x has ties (21, 21): no exact p
    expect((separated.p as number) / 0.001364).toBeCloseTo(1, 3);
  });
});

describe('mannWhitney method choice and edge cases', () => {
  const distinct = (seed: number, n: number) => {
    const random = createRandom(seed);
    return Array.from({ length: n }, () => random.next());
  };

  it('uses the exact distribution below 50 per sample without ties, the normal one otherwise (as R)', () => {
    expect(mannWhitney(distinct(1, 49), distinct(2, 49)).method).toBe('exact');
    expect(mannWhitney(distinct(1, 50), distinct(2, 10)).method).toBe('normal');
    expect(mannWhitney(distinct(1, 60), distinct(2, 60), { exact: true }).method).toBe('exact');
    expect(mannWhitney(distinct(1, 200), distinct(2, 60), { exact: true }).method).toBe('normal'); // too costly
    expect(mannWhitney([1, 2, 2], [3, 4], { exact: true }).method).toBe('normal'); // ties: R falls back too
    expect(mannWhitney([1, 2], [3, 4], { exact: false }).method).toBe('normal');
  });

  it('gives exact and normal p-values that agree for 49 + 49 values', () => {
    const x = distinct(3, 49).map((v) => v + 0.1);
    const y = distinct(4, 49);
    const exact = mannWhitney(x, y).p as number;
    const normal = mannWhitney(x, y, { exact: false }).p as number;
    expect(Math.abs(exact - normal)).toBeLessThan(0.005);
  });

  it('returns undefined p and method for an empty sample, and p = 1 for n = 1 each', () => {
    expect(mannWhitney([], [1, 2])).toMatchObject({ n1: 0, u1: 0, u2: 0, p: undefined, method: undefined });
    expect(mannWhitney([1], [])).toMatchObject({ p: undefined, method: undefined });
    expect(mannWhitney([1], [2])).toMatchObject({ u1: 0, u2: 1, p: 1, method: 'exact' });
  });

  it('returns p = 1 when every value is tied (zero variance; R prints NaN)', () => {
    expect(mannWhitney([0, 0, 0], [0, 0])).toMatchObject({ u1: 3, u2: 3, p: 1, method: 'normal' });
  });

  it('rejects non-finite values', () => {
    expect(() => mannWhitney([1, Number.NaN], [2])).toThrow('mannWhitney: x[1] is NaN');
  });
});

describe('exactUCounts', () => {
  it('is the known distribution for small sizes and sums to C(m + n, m)', () => {
    // m = 2, n = 2: rank sets {1,2} {1,3} {1,4} {2,3} {2,4} {3,4} → U = 0 1 2 2 3 4
    expect(Array.from(exactUCounts(2, 2))).toEqual([1, 1, 2, 1, 1]);
    const counts = exactUCounts(10, 12);
    expect(counts.reduce((s, c) => s + c, 0)).toBe(646_646); // C(22, 10)
  });
});

/** p-value by enumerating every way to split the pooled ranks, straight from the definition. */
function bruteForceP(m: number, n: number, u1: number): number {
  const us: number[] = [];
  const recurse = (next: number, chosen: number[]) => {
    if (chosen.length === m) {
      // U of x: for each x, the number of y ranks below it = rank − (number of x ranks ≤ it)
      us.push(chosen.reduce((s, r, i) => s + (r - (i + 1)), 0));
      return;
    }
    for (let r = next; r <= m + n; r++) recurse(r + 1, [...chosen, r]);
  };
  recurse(1, []);
  const le = us.filter((u) => u <= u1).length / us.length;
  const ge = us.filter((u) => u >= u1).length / us.length;
  return Math.min(1, 2 * (u1 > (m * n) / 2 ? ge : le));
}

describe('mannWhitney properties', () => {
  const sample = fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 30 });

  it('U1 + U2 = n1·n2, and swapping the samples swaps U1 and U2 and keeps p', () => {
    fc.assert(
      fc.property(sample, sample, (x, y) => {
        const forward = mannWhitney(x, y);
        const backward = mannWhitney(y, x);
        expect(forward.u1 + forward.u2).toBe(x.length * y.length);
        expect(backward.u1).toBe(forward.u2);
        expect(backward.p).toBeCloseTo(forward.p as number, 12);
      }),
    );
  });

  it('U1 counts pairs: #(x > y) + ½·#(x = y)', () => {
    fc.assert(
      fc.property(sample, sample, (x, y) => {
        let pairs = 0;
        for (const xi of x) for (const yj of y) pairs += xi > yj ? 1 : xi === yj ? 0.5 : 0;
        expect(uStatistic(x, y).u1).toBe(pairs);
      }),
    );
  });

  it('p is in (0, 1], and the exact p equals enumeration of all rank splits', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 12 }),
        fc.integer({ min: 1, max: 11 }),
        (pooled, cut) => {
          fc.pre(cut < pooled.length);
          const x = pooled.slice(0, cut);
          const y = pooled.slice(cut);
          const result = mannWhitney(x, y);
          expect(result.method).toBe('exact');
          expect(result.p as number).toBeGreaterThan(0);
          expect(result.p as number).toBeLessThanOrEqual(1);
          expect(result.p as number).toBeCloseTo(bruteForceP(x.length, y.length, result.u1), 12);
        },
      ),
      { numRuns: 150 },
    );
  });
});
