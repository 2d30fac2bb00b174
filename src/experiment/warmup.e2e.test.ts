import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BuiltinLoadGenerator,
  type LiveStats,
  type LoadGenerator,
  type LoadOptions,
  type StartedLoad,
} from '../load/builtin-generator.ts';
import { LocalPlatform } from '../platform/local/local-platform.ts';
import { runPlanInProcess } from '../test-support/in-process.ts';
import { writePlan } from '../test-support/plan.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'warmup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The real built-in generator, with every record handed on `lagWallMs` late: what k6 does, which
 * reports an answer only once it has written and the harness has read its output.
 */
function lagging(lagWallMs: number): LoadGenerator {
  const inner = new BuiltinLoadGenerator();
  return {
    start(options: LoadOptions) {
      const timers = new Set<NodeJS.Timeout>();
      const started = inner.start({
        ...options,
        onRecord: (record) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            options.onRecord(record);
          }, lagWallMs);
          timers.add(timer);
        },
      });
      const stop = started.stop.bind(started);
      (started as { stop: typeof stop }).stop = async () => {
        const summary = await stop();
        for (const timer of timers) clearTimeout(timer);
        return summary;
      };
      return started;
    },
  };
}

/**
 * The real built-in generator, started `delayWallMs` after start() with a `ready` promise, as k6
 * is: it needs from 50 ms to several seconds of wall time before its first request.
 */
function slowToStart(delayWallMs: number): LoadGenerator {
  return {
    start(options: LoadOptions) {
      let inner: StartedLoad | undefined;
      let resolveReady!: () => void;
      const ready = new Promise<void>((resolve) => (resolveReady = resolve));
      const begin = () => {
        inner ??= new BuiltinLoadGenerator().start(options);
        resolveReady();
        return inner;
      };
      const timer = setTimeout(begin, delayWallMs);
      const stop = () => {
        clearTimeout(timer);
        return begin().stop();
      };
      return {
        ready,
        // Nothing sent before it has started.
        get stats(): LiveStats {
          return inner?.stats ?? ({ sent: 0 } as LiveStats);
        },
        stop,
        [Symbol.asyncDispose]: async () => void (await stop()),
      };
    },
  };
}

describe('the warm-up', () => {
  it('waits for the first answer of a generator whose records lag, rather than calling the baseline silent', async () => {
    // 5 s of warm-up at 20× is 250 ms of wall time; every record arrives 600 ms late.
    const planFile = writePlan(path.join(dir, 'plan.yaml'), { name: 'warmup-lag', timeScale: 20, repetitions: 1 }, [
      '  - { scenario: faulty-500, arms: [flagger], overrides: { flagger: { interval: 10s, threshold: 1 }, recovery: { cleanWindowS: 5 }, warmup: { durationS: 5 } } }',
    ]);
    await using platform = new LocalPlatform({ timeScale: 20, experiment: `warmup-test-${process.pid}` });
    const [entry] = await runPlanInProcess(planFile, platform, path.join(dir, 'out'), { wrapLoad: () => lagging(600) });
    expect(entry!.metrics.abortReason).toBeUndefined();
    expect(entry!.metrics.outcome).toBe('rolled_back');
    const steady = entry!.timeline.find((e) => e.kind === 'steady');
    expect(steady?.detail).toMatch(/^\d+ requests, 0\.00% failed$/);
  }, 60_000);

  it('starts once a slow-starting generator has sent its first request, waiting in wall time, not compressed time', async () => {
    // 2.5 s of wall time is 50 s of scenario time at 20×: longer than any wait counted in scenario time.
    const planFile = writePlan(
      path.join(dir, 'slow.yaml'),
      { name: 'warmup-slow-start', timeScale: 20, repetitions: 1 },
      [
        '  - { scenario: faulty-500, arms: [flagger], overrides: { flagger: { interval: 10s, threshold: 1 }, recovery: { cleanWindowS: 5 }, warmup: { durationS: 5 } } }',
      ],
    );
    await using platform = new LocalPlatform({ timeScale: 20, experiment: `warmup-slow-test-${process.pid}` });
    const [entry] = await runPlanInProcess(planFile, platform, path.join(dir, 'slow-out'), {
      wrapLoad: () => slowToStart(2_500),
    });
    expect(entry!.metrics.abortReason).toBeUndefined();
    expect(entry!.metrics.outcome).toBe('rolled_back');
    expect(entry!.timeline.find((e) => e.kind === 'steady')?.detail).toMatch(/^\d+ requests, 0\.00% failed$/);
  }, 60_000);
});
