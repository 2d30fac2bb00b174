import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { median, quantile, summarize } from './descriptive.ts';

// Motor Trend cars, `mtcars$mpg` from R's datasets package (Henderson & Velleman 1981).
// R 4.x: quantile(mtcars$mpg) → 10.400 15.425 19.200 22.800 33.900;
//        mean(mtcars$mpg) = 20.09062; sd(mtcars$mpg) = 6.026948.
const MTCARS_MPG = [
  21.0, 21.0, 22.8, 21.4, 18.7, 18.1, 14.3, 24.4, 22.8, 19.2, 17.8, 16.4, 17.3, 15.2, 10.4, 10.4, 14.7, 32.4, 30.4,
  33.9, 21.5, 15.5, 15.2, 13.3, 19.2, 27.3, 26.0, 30.4, 15.8, 19.7, 15.0, 21.4,
];

describe('summarize', () => {
  it('matches R summary statistics of mtcars$mpg (type-7 quartiles)', () => {
    const d = summarize(MTCARS_MPG);
    expect(d.n).toBe(32);
    expect(d.min).toBe(10.4);
    expect(d.q1).toBeCloseTo(15.425, 10);
    expect(d.median).toBeCloseTo(19.2, 10);
    expect(d.q3).toBeCloseTo(22.8, 10);
    expect(d.max).toBe(33.9);
    expect(d.iqr).toBeCloseTo(7.375, 10); // R: IQR(mtcars$mpg)
    expect(d.mean).toBeCloseTo(20.09062, 5);
    expect(d.sd).toBeCloseTo(6.026948, 6);
  });

  it('uses R type 7, not another quantile definition', () => {
    // R: quantile(1:4) → 1.00 1.75 2.50 3.25 4.00 (type 6 would give 1.25 / 3.75, type 2 1.5 / 3.5)
    expect(summarize([4, 1, 3, 2])).toMatchObject({ q1: 1.75, median: 2.5, q3: 3.25 });
    // R: quantile(1:10, c(0.1, 0.9)) → 1.9 9.1
    const oneToTen = Array.from({ length: 10 }, (_, i) => i + 1);
    expect(quantile(oneToTen, 0.1)).toBeCloseTo(1.9, 12);
    expect(quantile(oneToTen, 0.9)).toBeCloseTo(9.1, 12);
    // R: quantile(c(1, 2, 3, 4, 100), 0.75) → 4 (type 7 lands on an order statistic)
    expect(quantile([100, 1, 2, 3, 4], 0.75)).toBe(4);
  });

  it('does not mutate its input', () => {
    const values = [3, 1, 2];
    summarize(values);
    expect(values).toEqual([3, 1, 2]);
  });

  it('documents the empty and single-value cases instead of throwing', () => {
    expect(summarize([])).toEqual({
      n: 0,
      median: undefined,
      q1: undefined,
      q3: undefined,
      iqr: undefined,
      mean: undefined,
      sd: undefined,
      min: undefined,
      max: undefined,
    });
    expect(summarize([42])).toEqual({
      n: 1,
      median: 42,
      q1: 42,
      q3: 42,
      iqr: 0,
      mean: 42,
      sd: undefined,
      min: 42,
      max: 42,
    });
    expect(median([])).toBeUndefined();
    expect(quantile([], 0.9)).toBeUndefined();
  });

  it('rejects NaN and bad probabilities with the offending index and value', () => {
    expect(() => summarize([1, Number.NaN])).toThrow('summarize: values[1] is NaN');
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
  });

  it('orders its fields min ≤ q1 ≤ median ≤ q3 ≤ max, mean within [min, max] (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 60 }),
        (values) => {
          const d = summarize(values);
          const fields = [d.min, d.q1, d.median, d.q3, d.max] as number[];
          for (let i = 1; i < fields.length; i++) expect(fields[i]).toBeGreaterThanOrEqual(fields[i - 1] as number);
          expect(d.mean).toBeGreaterThanOrEqual((d.min as number) - 1e-6);
          expect(d.mean).toBeLessThanOrEqual((d.max as number) + 1e-6);
          expect(d.iqr).toBeGreaterThanOrEqual(0);
        },
      ),
    );
  });
});
