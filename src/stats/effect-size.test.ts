import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { a12Magnitude, varghaDelaneyA12 } from './effect-size.ts';
import { mannWhitney } from './mann-whitney.ts';

describe('varghaDelaneyA12', () => {
  it('equals U1 / (n1·n2) on the R wilcox.test example: 35 / 50 = 0.7, "medium"', () => {
    // Data: R ?wilcox.test two-sample example (Hollander & Wolfe 1973, p. 69f), W = 35.
    // Vargha & Delaney (2000) write A12 = (R1/n1 − (n1 + 1)/2) / n2 with R1 the rank sum of x,
    // which is U1 / (n1·n2) = W / (n1·n2).
    const x = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const y = [1.15, 0.88, 0.9, 0.74, 1.21];
    expect(varghaDelaneyA12(x, y)).toEqual({ a12: 0.7, magnitude: 'medium' });
    expect(varghaDelaneyA12(y, x).a12).toBeCloseTo(0.3, 12);
    expect(varghaDelaneyA12(y, x).magnitude).toBe('medium');
  });

  it('counts ties as one half', () => {
    // pairs (1,2) (1,3) (2,2) (2,3): x wins none, ties once → 0.5 / 4
    expect(varghaDelaneyA12([1, 2], [2, 3]).a12).toBe(0.125);
  });

  it('handles the edge cases', () => {
    expect(varghaDelaneyA12([5, 6], [1, 2, 3])).toEqual({ a12: 1, magnitude: 'large' });
    expect(varghaDelaneyA12([1, 2], [5, 6])).toEqual({ a12: 0, magnitude: 'large' });
    expect(varghaDelaneyA12([3, 3], [3])).toEqual({ a12: 0.5, magnitude: 'negligible' });
    expect(varghaDelaneyA12([7], [7])).toEqual({ a12: 0.5, magnitude: 'negligible' });
    expect(varghaDelaneyA12([], [1])).toEqual({ a12: undefined, magnitude: undefined });
    expect(varghaDelaneyA12([1], [])).toEqual({ a12: undefined, magnitude: undefined });
  });

  it('A12(x, y) = 1 − A12(y, x), lies in [0, 1] and equals U1/(n1·n2) (property)', () => {
    const sample = fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(sample, sample, (x, y) => {
        const xy = varghaDelaneyA12(x, y).a12 as number;
        const yx = varghaDelaneyA12(y, x).a12 as number;
        expect(xy + yx).toBeCloseTo(1, 12);
        expect(xy).toBeGreaterThanOrEqual(0);
        expect(xy).toBeLessThanOrEqual(1);
        expect(xy).toBeCloseTo(mannWhitney(x, y).u1 / (x.length * y.length), 12);
        expect(varghaDelaneyA12(x, y).magnitude).toBe(varghaDelaneyA12(y, x).magnitude);
      }),
    );
  });
});

describe('a12Magnitude (Vargha & Delaney 2000 thresholds 0.56 / 0.64 / 0.71)', () => {
  it.each([
    [0.5, 'negligible'],
    [0.559, 'negligible'],
    [0.56, 'small'],
    [14 / 25, 'small'], // 0.56 computed from counts
    [0.639, 'small'],
    [0.64, 'medium'],
    [0.709, 'medium'],
    [0.71, 'large'],
    [1, 'large'],
    [0.441, 'negligible'],
    [0.44, 'small'],
    [0.36, 'medium'],
    [0.29, 'large'],
    [0, 'large'],
  ] as const)('A12 = %s is %s', (a12, label) => {
    expect(a12Magnitude(a12)).toBe(label);
  });

  it('rejects values outside [0, 1]', () => {
    expect(() => a12Magnitude(1.2)).toThrow(RangeError);
    expect(() => a12Magnitude(Number.NaN)).toThrow(RangeError);
  });
});
