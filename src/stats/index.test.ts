import { describe, expect, it } from 'vitest';
import * as stats from './index.ts';
import { bootstrapMedianComparison, compareArms, mannWhitney, varghaDelaneyA12 } from './index.ts';

// MTTR in ms: a manual arm (operator watches a dashboard) and an automated arm (Flagger).
const MANUAL = [182_000, 240_500, 131_000, 305_000, 198_000, 221_000, 167_500, 410_000, 150_000, 260_000];
const FLAGGER = [95_000, 101_000, 88_500, 120_000, 92_000, 99_500, 130_000, 90_000];

describe('compareArms', () => {
  it('reads every directional number as "b relative to a"', () => {
    const result = compareArms(MANUAL, FLAGGER, { seed: 2024 });
    expect(result.a.n).toBe(10);
    expect(result.b.n).toBe(8);
    expect(result.medianDifference.estimate).toBe((result.b.median as number) - (result.a.median as number));
    expect(result.medianDifference.upper as number).toBeLessThan(0); // Flagger faster
    expect(result.medianRatio.estimate).toBeCloseTo((result.b.median as number) / (result.a.median as number), 12);
    expect(result.medianRatio.upper as number).toBeLessThan(1);
    expect(result.a12).toEqual({ a12: 0, magnitude: 'large' }); // every Flagger run beat every manual run
    expect(result.mannWhitney).toMatchObject({ n1: 8, n2: 10, u1: 0, method: 'exact' });
    expect(result.mannWhitney.u1 / (8 * 10)).toBe(result.a12.a12);
    expect(result.mannWhitney.p as number).toBeLessThan(0.001); // 2 / C(18, 8)
  });

  it('is the composition of the individual functions, reproducible from its seed', () => {
    const result = compareArms(MANUAL, FLAGGER, { seed: 7, resamples: 500, level: 0.9 });
    const { difference, ratio } = bootstrapMedianComparison(MANUAL, FLAGGER, { seed: 7, resamples: 500, level: 0.9 });
    expect(result.medianDifference).toEqual(difference);
    expect(result.medianRatio).toEqual(ratio);
    expect(result.mannWhitney).toEqual(mannWhitney(FLAGGER, MANUAL));
    expect(result.a12).toEqual(varghaDelaneyA12(FLAGGER, MANUAL));
    expect(compareArms(MANUAL, FLAGGER, { seed: 7, resamples: 500, level: 0.9 })).toEqual(result);
  });

  it('does not throw on empty or single-run arms', () => {
    const empty = compareArms([], FLAGGER, { seed: 1 });
    expect(empty.a.n).toBe(0);
    expect(empty.medianDifference.estimate).toBeUndefined();
    expect(empty.medianRatio.lower).toBeUndefined();
    expect(empty.mannWhitney.p).toBeUndefined();
    expect(empty.a12.a12).toBeUndefined();
    const single = compareArms([120_000], [90_000], { seed: 1 });
    expect(single.medianDifference).toMatchObject({ estimate: -30_000, lower: -30_000, upper: -30_000 });
    expect(single.b.sd).toBeUndefined();
    expect(single.mannWhitney.p).toBe(1);
  });
});

describe('index re-exports', () => {
  it('exposes the whole API from one module', () => {
    for (const name of [
      'summarize',
      'quantile',
      'median',
      'bootstrapMedianCI',
      'bootstrapMedianDifferenceCI',
      'bootstrapMedianRatioCI',
      'bootstrapMedianComparison',
      'mannWhitney',
      'uStatistic',
      'exactUCounts',
      'varghaDelaneyA12',
      'a12Magnitude',
      'fisherExact',
      'kaplanMeier',
      'kmMedian',
      'kmQuantile',
      'normalCdf',
      'normalQuantile',
      'compareArms',
    ]) {
      expect(typeof (stats as Record<string, unknown>)[name]).toBe('function');
    }
  });
});
