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
  const run = (loopLagP99WallMs: number, generator: string, sendLagP99WallMs: number) => ({
    harness: { loopLagP99WallMs },
    load: { generator, sendLagP99WallMs },
    timeScale: 10,
  });

  it("judges a built-in run by the harness's event loop, which stamps its timeline and its answers", () => {
    // A send lag of 9 ms (late arrivals, timer granularity) with a quiet loop: not flagged.
    const quiet = runLagOf(run(1, 'built-in', 9));
    expect(lagScenarioMs(quiet)).toBe(10);
    expect(exceedsLagBound(quiet)).toBe(false);
    expect(exceedsLagBound(runLagOf(run(5.01, 'built-in (k6 not installed)', 0)))).toBe(true);
    // At the bound is not over it: 5 wall ms × 10 = 50 scenario ms.
    expect(exceedsLagBound(runLagOf(run(5, 'built-in', 5)))).toBe(false);
  });

  it('judges a k6 run by its send lag too: k6 stamps in its own process, where no loop lag is measured', () => {
    expect(lagScenarioMs(runLagOf(run(1, 'k6 v1.8.1', 6)))).toBe(60);
    expect(exceedsLagBound(runLagOf(run(1, 'k6 v1.8.1', 6)))).toBe(true);
    expect(lagScenarioMs(runLagOf({ load: { generator: 'k6 v1.8.1', sendLagP99WallMs: 2 }, timeScale: 10 }))).toBe(20);
  });
});
