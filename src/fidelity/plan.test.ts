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
    const progress = new Progress(4, [100, 100, 100, 100], 2, 60);
    expect(progress.leftS()).toBe(260);
    progress.finished(100, 150);
    // Three left on two slots: 200 s, at 1.5× the estimate, plus 60 s for the model.
    expect(progress.leftS()).toBe(360);
    expect(progress.line(Date.parse('2026-12-02T01:00:00Z'))).toBe(
      '1/4 real releases done; about 6 min left (ETA 01:06 UTC)',
    );
  });
});
