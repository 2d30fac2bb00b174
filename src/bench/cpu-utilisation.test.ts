import { describe, expect, it } from 'vitest';
import { busyShare, busyShareBetween, parseCpuTimes, readCpuTimes } from './cpu-utilisation.ts';

describe('parseCpuTimes', () => {
  it('adds the busy states of the aggregate line and leaves guest time out (already in user)', () => {
    const text = 'cpu  100 10 50 800 20 1 4 5 70 3\ncpu0 50 5 25 400 10 0 2 2 0 0\nintr 1 2 3\n';
    // busy = user 100 + nice 10 + system 50 + irq 1 + softirq 4 + steal 5; idle 800 + iowait 20.
    expect(parseCpuTimes(text)).toEqual({ busyTicks: 170, totalTicks: 990 });
  });

  it('reads old kernels with only four states, and refuses text without a cpu line', () => {
    expect(parseCpuTimes('cpu 1 2 3 4\n')).toEqual({ busyTicks: 6, totalTicks: 10 });
    expect(parseCpuTimes('cpu0 1 2 3 4\n')).toBeUndefined();
    expect(parseCpuTimes('cpu  a b c d\n')).toBeUndefined();
  });

  it.runIf(process.platform === 'linux')('reads counters that never go backwards', () => {
    const a = readCpuTimes()!;
    const b = readCpuTimes()!;
    expect(b.totalTicks).toBeGreaterThanOrEqual(a.totalTicks);
    expect(b.busyTicks).toBeGreaterThanOrEqual(a.busyTicks);
  });
});

describe('busyShare', () => {
  it('is the busy ticks over all ticks between two readings', () => {
    expect(busyShare({ busyTicks: 100, totalTicks: 400 }, { busyTicks: 175, totalTicks: 500 })).toBe(0.75);
    expect(busyShare({ busyTicks: 1, totalTicks: 4 }, { busyTicks: 1, totalTicks: 4 })).toBeUndefined();
  });
});

describe('busyShareBetween', () => {
  // 10 ticks per sample; busy 2 per period until t=20, then 8 per period.
  const samples = [
    { atMs: 0, busyTicks: 0, totalTicks: 0 },
    { atMs: 10, busyTicks: 2, totalTicks: 10 },
    { atMs: 20, busyTicks: 4, totalTicks: 20 },
    { atMs: 30, busyTicks: 12, totalTicks: 30 },
    { atMs: 40, busyTicks: 20, totalTicks: 40 },
  ];

  it('measures from the last sample at or before the start to the first at or after the end', () => {
    expect(busyShareBetween(samples, 20, 40)).toBe(0.8);
    expect(busyShareBetween(samples, 0, 20)).toBe(0.2);
    // 25–35 is covered by 20–40.
    expect(busyShareBetween(samples, 25, 35)).toBe(0.8);
  });

  it('falls back to the first and last samples outside their span, whatever their order', () => {
    expect(busyShareBetween([...samples].reverse(), -5, 100)).toBe(0.5);
    expect(busyShareBetween(samples.slice(0, 1), 0, 10)).toBeUndefined();
  });
});
