import { describe, expect, it } from 'vitest';
import { scenarioSchema, type Scenario } from '../scenario/schema.ts';
import {
  byScrapeInterval,
  estimateReleaseS,
  expectedFateS,
  Progress,
  releaseTasks,
  repsFor,
  scheduleWallS,
} from './plan.ts';

/** A scenario as the catalogue writes them: interval 30 s, threshold 2, steps 10% → 50%. */
function scenario(name: string, release: Record<string, unknown>, extra: Record<string, unknown> = {}): Scenario {
  const parsed = scenarioSchema.parse({
    release: { stableVersion: 'v1', version: 'v2', ...release },
    flagger: { interval: '30s', threshold: 2, maxWeight: 50, stepWeight: 10, smokeTest: true },
    ...extra,
  });
  return { ...parsed, name };
}

const faulty = scenario('faulty-500', { fault: 'http500', errorRate: 1 });
const healthy = scenario('healthy', { fault: 'none' });
const partial = scenario('partial-0.5pct', { fault: 'http500', errorRate: 0.005 });

describe('the fidelity --all plan', () => {
  it('runs partial-0.5pct twice as often, repetition k of every scenario before k + 1, skipping what is done', () => {
    expect(repsFor('partial-0.5pct', 10)).toBe(20);
    expect(repsFor('healthy', 10)).toBe(10);
    const tasks = releaseTasks([faulty, partial], 2);
    expect(tasks.map((t) => `${t.scenario.name}/${t.rep}`)).toEqual([
      'faulty-500/1',
      'partial-0.5pct/1',
      'faulty-500/2',
      'partial-0.5pct/2',
      'partial-0.5pct/3',
      'partial-0.5pct/4',
    ]);
    expect(
      releaseTasks([faulty, partial], 2, new Set(['faulty-500/1', 'partial-0.5pct/3'])).map(
        (t) => `${t.scenario.name}/${t.rep}`,
      ),
    ).toEqual(['partial-0.5pct/1', 'faulty-500/2', 'partial-0.5pct/2', 'partial-0.5pct/4']);
  });

  it('groups scenarios by scrape interval, one cluster each, smallest first', () => {
    const slow = scenario('slow-scrape', { fault: 'none' }, { metrics: { scrapeIntervalS: 30 } });
    const fast = scenario('fast-scrape', { fault: 'none' }, { metrics: { scrapeIntervalS: 5 } });
    expect(
      byScrapeInterval([faulty, slow, healthy, fast]).map((g) => [g.scrapeIntervalS, g.scenarios.map((s) => s.name)]),
    ).toEqual([
      [5, ['fast-scrape']],
      [15, ['faulty-500', 'healthy']],
      [30, ['slow-scrape']],
    ]);
  });

  it('expects each fate where the timing law puts it (half an interval of phase on average)', () => {
    // A failed smoke test: threshold + 1 intervals after the first tick.
    expect(expectedFateS(faulty)).toBe(3.5 * 30);
    const noSmoke = scenario('faulty-500', { fault: 'http500', errorRate: 1 });
    noSmoke.flagger = { ...noSmoke.flagger, smokeTest: false };
    expect(expectedFateS(noSmoke)).toBe(4.5 * 30);
    // Below the 99% check, and a healthy build: promoted after steps + 3 intervals.
    expect(expectedFateS(partial)).toBe(8.5 * 30);
    expect(expectedFateS(healthy)).toBe(8.5 * 30);
    // 5% passes the smoke test most of the time, then fails the checks.
    expect(expectedFateS(scenario('partial-5pct', { fault: 'http500', errorRate: 0.05 }))).toBe(4.5 * 30);
    expect(expectedFateS(scenario('latency', { fault: 'latency', latencyMs: 800 }))).toBe(4.5 * 30);
    expect(expectedFateS(scenario('delayed', { fault: 'http500', errorRate: 1, onsetS: 90 }))).toBe(90 + 4.5 * 30);
    const crash = scenario('crash', { fault: 'crash' });
    crash.flagger = { ...crash.flagger, progressDeadlineS: 120 };
    expect(expectedFateS(crash)).toBe(120 + 45);
    // Initialisation 1.5 intervals + 5 s, phase 0.5 interval, warm-up, fate, 5 s of cleanup.
    expect(estimateReleaseS(faulty)).toBe(45 + 5 + 15 + faulty.warmup.durationS + 105 + 5);
  });

  it('schedules tasks on the first free slot', () => {
    expect(scheduleWallS([10, 10, 10], 1)).toBe(30);
    expect(scheduleWallS([10, 10, 10], 2)).toBe(20);
    expect(scheduleWallS([30, 10, 10, 10], 2)).toBe(30);
    expect(scheduleWallS([], 4)).toBe(0);
  });

  it('scales what is left by how the finished releases compared with the estimate, and prints an ETA', () => {
    const t0 = Date.parse('2026-12-02T01:00:00Z');
    const progress = new Progress(4, [100, 100, 100, 100], 2, 60);
    expect(progress.leftS(t0)).toBe(260);
    const a = progress.started(100, t0);
    const b = progress.started(100, t0);
    // 50 s into the first two: 50 s left of them, then the other two on the freed slots.
    expect(progress.leftS(t0 + 50_000)).toBe(50 + 100 + 60);
    progress.finished(a, t0 + 150_000);
    // It took 1.5× its estimate: the one in flight has 150 − 150 = 0 s left, the two waiting 150 s
    // each on two slots, then 60 s for the model.
    expect(progress.leftS(t0 + 150_000)).toBe(150 + 60);
    expect(progress.line(t0 + 150_000)).toBe('1/4 real releases done; about 4 min left (ETA 01:06 UTC)');
    progress.finished(b, t0 + 150_000);
    // Three waiting (one measured again) at 150 s each on two slots: 300 s, then 60 s.
    progress.requeued(100);
    expect(progress.line(t0 + 150_000)).toBe('2/5 real releases done; about 6 min left (ETA 01:08 UTC)');
  });
});
