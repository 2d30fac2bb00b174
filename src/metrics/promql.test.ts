import { describe, expect, it } from 'vitest';
import { extrapolatedRate, histogramQuantile, inRange, type Sample, selectRange } from './promql.ts';

/** Samples from [seconds, value] pairs. */
const at = (...pairs: Array<[number, number]>): Sample[] => pairs.map(([s, value]) => ({ tMs: s * 1000, value }));

describe('range selection (Prometheus 2.42: closed [t − W, t])', () => {
  it('keeps a sample exactly W before the evaluation time and one exactly at it', () => {
    expect(inRange(0, 60_000, 60_000)).toBe(true);
    expect(inRange(60_000, 60_000, 60_000)).toBe(true);
    expect(inRange(-1, 60_000, 60_000)).toBe(false);
    expect(inRange(60_001, 60_000, 60_000)).toBe(false);
  });

  it('selects the samples of the window in time order', () => {
    const samples = at([-15, 1], [0, 2], [15, 3], [30, 4], [45, 5], [60, 6], [75, 7]);
    expect(selectRange(samples, 60_000, 60_000).map((s) => s.value)).toEqual([2, 3, 4, 5, 6]);
    expect(selectRange(samples, 59_999, 60_000).map((s) => s.value)).toEqual([2, 3, 4, 5]);
    expect(selectRange(samples, 60_001, 60_000).map((s) => s.value)).toEqual([3, 4, 5, 6]);
  });
});

describe('rate() and increase() (extrapolatedRate of Prometheus 2.42)', () => {
  it('needs two samples: one sample is no value', () => {
    expect(extrapolatedRate(at([30, 10]), 0, 60_000, true)).toBeUndefined();
    expect(extrapolatedRate([], 0, 60_000, true)).toBeUndefined();
  });

  it('extrapolates all the way to both edges when the samples are close to them', () => {
    // Window [0, 60] s, samples every 15 s at 5, 20, 35, 50: increase 45 over 45 s. The first
    // sample is 5 s from the start and the last 10 s from the end, both under 1.1 × 15 = 16.5 s;
    // the zero point (45 × 10/45 = 10 s back) is further than 5 s. So 45 × 60/45 = 60, 1/s.
    const samples = at([5, 10], [20, 25], [35, 40], [50, 55]);
    expect(extrapolatedRate(samples, 0, 60_000, false)).toBeCloseTo(60, 12);
    expect(extrapolatedRate(samples, 0, 60_000, true)).toBeCloseTo(1, 12);
  });

  it('extrapolates by half a spacing towards an edge that is far away', () => {
    // Samples at 30 and 45 s of a counter far from zero (1000 → 1015): increase 15 over 15 s.
    // Start 30 s away (≥ 16.5 s): half a spacing, 7.5 s. End 15 s away (< 16.5 s): all of it.
    // 15 × (15 + 7.5 + 15)/15 = 37.5.
    expect(extrapolatedRate(at([30, 1000], [45, 1015]), 0, 60_000, false)).toBeCloseTo(37.5, 12);
  });

  it("stops at the counter's zero point: a fresh series' extrapolation cannot invent requests", () => {
    // A series first seen at 40 s with 3, then 18 at 55 s: increase 15 over 15 s. The start is 40 s
    // away, but the counter was zero 15 × 3/15 = 3 s before the first sample, so the start
    // extrapolation is 3 s; the end is 5 s away. 15 × (15 + 3 + 5)/15 = 23 over the minute.
    expect(extrapolatedRate(at([40, 3], [55, 18]), 0, 60_000, false)).toBeCloseTo(23, 12);
    expect(extrapolatedRate(at([40, 3], [55, 18]), 0, 60_000, true)).toBeCloseTo(23 / 60, 12);
  });

  it('limits to the zero point before testing the 1.1-spacing threshold, as 2.42 does (2.51 tests first)', () => {
    // Samples at 30 s (8) and 40 s (18): spacing 10 s, threshold 11 s. Start 30 s away; zero point
    // 10 × 8/10 = 8 s back, under the threshold, so 2.42 extrapolates 8 s (2.51 would take half a
    // spacing, 5 s). End 20 s away: 5 s. 10 × (10 + 8 + 5)/10 = 23 (2.51: 20).
    expect(extrapolatedRate(at([30, 8], [40, 18]), 0, 60_000, false)).toBeCloseTo(23, 12);
  });

  it('adds back the value before each drop: a counter reset', () => {
    // 100, 110, then a restart: 5, 20, 35. Increase 35 − 100 + 110 = 45 over [0, 60] with samples
    // on both edges: 45, 0.75/s.
    const samples = at([0, 100], [15, 110], [30, 5], [45, 20], [60, 35]);
    expect(extrapolatedRate(samples, 0, 60_000, false)).toBeCloseTo(45, 12);
    expect(extrapolatedRate(samples, 0, 60_000, true)).toBeCloseTo(0.75, 12);
  });

  it('is 0 for a series that did not move', () => {
    expect(extrapolatedRate(at([10, 7], [25, 7], [40, 7]), 0, 60_000, true)).toBe(0);
  });
});

describe('histogram_quantile (Prometheus 2.42 bucketQuantile)', () => {
  const inf = Number.POSITIVE_INFINITY;
  it('interpolates linearly inside the bucket that holds the rank', () => {
    // 100 observations, rank 99 falls in (25, 50] which holds 90..100: 25 + 25 × 9/10 = 47.5.
    const buckets = [
      { le: 5, count: 0 },
      { le: 10, count: 50 },
      { le: 25, count: 90 },
      { le: 50, count: 100 },
      { le: inf, count: 100 },
    ];
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(47.5, 12);
    // The order the buckets come in does not matter.
    expect(histogramQuantile(0.99, [...buckets].reverse())).toBeCloseTo(47.5, 12);
  });

  it('interpolates the first bucket from 0', () => {
    expect(
      histogramQuantile(0.99, [
        { le: 10, count: 100 },
        { le: inf, count: 100 },
      ]),
    ).toBeCloseTo(9.9, 12);
  });

  it('answers the highest finite bound when the rank falls in +Inf', () => {
    expect(
      histogramQuantile(0.99, [
        { le: 5, count: 10 },
        { le: inf, count: 20 },
      ]),
    ).toBe(5);
  });

  it('makes the counts monotonic first (per-bucket rates need not be)', () => {
    // 5, 4, 5 becomes 5, 5, 5: rank 2.5 falls in the first bucket, 10 × 2.5/5 = 5.
    const buckets = [
      { le: 10, count: 5 },
      { le: 20, count: 4 },
      { le: inf, count: 5 },
    ];
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(5, 12);
  });

  it('is NaN without a +Inf bucket, with one bucket, or with no observations', () => {
    expect(histogramQuantile(0.99, [{ le: 10, count: 5 }])).toBeNaN();
    expect(histogramQuantile(0.99, [{ le: inf, count: 5 }])).toBeNaN();
    expect(
      histogramQuantile(0.99, [
        { le: 10, count: 0 },
        { le: inf, count: 0 },
      ]),
    ).toBeNaN();
    expect(histogramQuantile(0.99, [])).toBeNaN();
  });
});
