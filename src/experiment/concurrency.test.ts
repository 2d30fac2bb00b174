import { describe, expect, it } from 'vitest';
import {
  defaultConcurrency,
  exceedsLagBound,
  lagScenarioMs,
  MAX_DEFAULT_CONCURRENCY,
  runLagOf,
} from './concurrency.ts';

describe('defaultConcurrency', () => {
  it('gives 2 runs per core at 10×, scaled by the time scale, capped at 8 and at the plan', () => {
    expect(defaultConcurrency({ platform: 'local', timeScale: 10, plannedRuns: 30, cores: 2 }).concurrency).toBe(4);
    expect(defaultConcurrency({ platform: 'local', timeScale: 20, plannedRuns: 30, cores: 2 }).concurrency).toBe(2);
    expect(defaultConcurrency({ platform: 'local', timeScale: 100, plannedRuns: 30, cores: 2 }).concurrency).toBe(1);
    expect(defaultConcurrency({ platform: 'local', timeScale: 1, plannedRuns: 30, cores: 2 }).concurrency).toBe(
      MAX_DEFAULT_CONCURRENCY,
    );
    const small = defaultConcurrency({ platform: 'local', timeScale: 10, plannedRuns: 3, cores: 8 });
    expect(small.concurrency).toBe(3);
    expect(small.reason).toMatch(/capped at the plan's 3 run/);
  });

  it('gives 1 on a cluster, whose spare capacity is not known', () => {
    const choice = defaultConcurrency({ platform: 'kube', timeScale: 1, plannedRuns: 30, cores: 16 });
    expect(choice).toMatchObject({ concurrency: 1 });
    expect(choice.reason).toMatch(/--concurrency/);
  });
});

describe('the lag bound', () => {
  const run = (loopLagP99WallMs: number, load: { loopLagP99WallMs?: number; sendLagP99WallMs: number }) => ({
    harness: { loopLagP99WallMs },
    load,
    timeScale: 10,
  });

  it("judges a run by the loops that stamp it: the harness's and the load thread's, not the send lag", () => {
    // A thread's send lag of 9 ms (timer granularity, arrival shape) with a quiet loop: not flagged.
    const quiet = runLagOf(run(1, { loopLagP99WallMs: 2, sendLagP99WallMs: 9 }));
    expect(lagScenarioMs(quiet)).toBe(20);
    expect(exceedsLagBound(quiet)).toBe(false);
    expect(exceedsLagBound(runLagOf(run(1, { loopLagP99WallMs: 5.01, sendLagP99WallMs: 1 })))).toBe(true);
    expect(exceedsLagBound(runLagOf(run(5.01, { loopLagP99WallMs: 0, sendLagP99WallMs: 0 })))).toBe(true);
    // At the bound is not over it: 5 wall ms × 10 = 50 scenario ms.
    expect(exceedsLagBound(runLagOf(run(5, { loopLagP99WallMs: 5, sendLagP99WallMs: 0 })))).toBe(false);
  });

  it('falls back to the send lag for a generator without a loop of its own (k6, older journals)', () => {
    expect(lagScenarioMs(runLagOf(run(1, { sendLagP99WallMs: 6 })))).toBe(60);
    expect(lagScenarioMs(runLagOf({ load: { sendLagP99WallMs: 2 }, timeScale: 10 }))).toBe(20);
  });
});
