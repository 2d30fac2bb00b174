import { describe, expect, it } from 'vitest';
import { formatSpread, nearestRank, spreadOf, withinShare } from './stats.ts';

describe('nearestRank', () => {
  it('returns an observed value: the largest of a short sample for p99', () => {
    expect(nearestRank([3, 1, 2, 10, 4, 5], 0.99)).toBe(10);
    expect(nearestRank([3, 1, 2, 10, 4, 5], 0.5)).toBe(3);
    expect(nearestRank([7], 0.01)).toBe(7);
  });

  it('is undefined for no values and refuses a q outside (0, 1]', () => {
    expect(nearestRank([], 0.5)).toBeUndefined();
    expect(() => nearestRank([1], 0)).toThrow(/q must be in/);
    expect(() => nearestRank([1], 1.5)).toThrow(/q must be in/);
  });
});

describe('spreadOf and formatSpread', () => {
  it('gives the median with min and max, averaging the middle pair of an even count', () => {
    expect(spreadOf([4, 1, 3, 2])).toEqual({ n: 4, min: 1, median: 2.5, max: 4 });
    expect(spreadOf([])).toBeUndefined();
  });

  it('prints one value alone and several as median [min–max, n]', () => {
    expect(formatSpread(spreadOf([5000]))).toBe('5000');
    expect(formatSpread(spreadOf([1.234, 2, 3.5]), 1)).toBe('2.0 [1.2–3.5, n=3]');
    expect(formatSpread(undefined)).toBe('—');
  });
});

describe('withinShare', () => {
  it('accepts the tolerance on either side and no more', () => {
    expect(withinShare(495, 500, 0.01)).toBe(true);
    expect(withinShare(505, 500, 0.01)).toBe(true);
    expect(withinShare(494.9, 500, 0.01)).toBe(false);
  });
});
