import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BuiltinLoadGenerator, type LoadGenerator, type LoadOptions } from '../load/builtin-generator.ts';
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
});
