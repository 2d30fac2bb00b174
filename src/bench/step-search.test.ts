import { describe, expect, it } from 'vitest';
import { searchSteps } from './step-search.ts';

describe('searchSteps', () => {
  it('runs the rates in ascending order and stops at the first miss', async () => {
    const ran: number[] = [];
    const result = await searchSteps({
      rates: [3000, 1000, 2000, 5000],
      runStep: async (rate) => {
        ran.push(rate);
        return rate <= 2000;
      },
      passes: (ok) => ok,
      budgetMs: 60_000,
    });
    expect(ran).toEqual([1000, 2000, 3000]);
    expect(result.lastPass).toBe(2000);
    expect(result.firstMiss).toBe(3000);
    expect(result.steps.map((s) => s.pass)).toEqual([true, true, false]);
  });

  it('reports no miss when every rate passes, and no pass when the first misses', async () => {
    const all = await searchSteps({ rates: [1, 2], runStep: async () => true, passes: (ok) => ok, budgetMs: 1_000 });
    expect(all).toMatchObject({ lastPass: 2, firstMiss: undefined });
    const none = await searchSteps({ rates: [1, 2], runStep: async () => false, passes: (ok) => ok, budgetMs: 1_000 });
    expect(none).toMatchObject({ lastPass: undefined, firstMiss: 1 });
  });

  it('starts no step once the time budget is spent', async () => {
    let now = 0;
    const result = await searchSteps({
      rates: [1, 2, 3],
      runStep: async () => {
        now += 600;
        return true;
      },
      passes: (ok) => ok,
      budgetMs: 1_000,
      now: () => now,
    });
    expect(result.steps.map((s) => s.rate)).toEqual([1, 2]);
    expect(result.stoppedEarly).toBe('time budget');
    expect(result.lastPass).toBe(2);
  });

  it('stops when the signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('interrupted'));
    await expect(
      searchSteps({
        rates: [1],
        runStep: async () => true,
        passes: () => true,
        budgetMs: 1_000,
        signal: controller.signal,
      }),
    ).rejects.toThrow('interrupted');
  });
});
