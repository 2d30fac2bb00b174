import { describe, expect, test } from 'vitest';
import { LagHistogram } from './lag-histogram.ts';

describe('LagHistogram', () => {
  test('reports zeros when empty', () => {
    const h = new LagHistogram();
    expect([h.count, h.meanMs, h.maxMs, h.quantile(0.99)]).toEqual([0, 0, 0, 0]);
  });

  test('quantiles are within 5% above the exact value and never above the max', () => {
    const h = new LagHistogram();
    const samples = Array.from({ length: 10_000 }, (_, i) => (i + 1) / 100); // 0.01 … 100 ms
    for (const s of samples) h.record(s);
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = samples[Math.ceil(q * samples.length) - 1]!;
      const estimate = h.quantile(q);
      expect(estimate).toBeGreaterThanOrEqual(exact);
      expect(estimate).toBeLessThanOrEqual(exact * 1.05 + 1e-9);
    }
    expect(h.quantile(1)).toBe(100);
    expect(h.count).toBe(10_000);
    expect(h.maxMs).toBe(100);
    expect(h.meanMs).toBeCloseTo(50.005, 6);
  });

  test('a single outlier moves the max but not the p99', () => {
    const h = new LagHistogram();
    for (let i = 0; i < 999; i++) h.record(1);
    h.record(5_000);
    expect(h.quantile(0.99)).toBeLessThanOrEqual(1.05);
    expect(h.maxMs).toBe(5_000);
  });

  test('negative samples count as zero, huge ones land in the last bucket', () => {
    const h = new LagHistogram();
    h.record(-3);
    h.record(1e12);
    expect(h.quantile(0.5)).toBeLessThanOrEqual(0.01); // the first bucket is [0, 10 µs]
    expect(h.quantile(1)).toBe(1e12);
  });
});
