import { describe, expect, it } from 'vitest';
import type { RunEntry } from '../experiment/journal.ts';
import { experimentPace, mttrAnswer } from './experiment-figures.ts';

/** A journaled run with only what the pace reads; 10× time scale, so the lag bound is 5 wall ms. */
function run(
  startedAt: string,
  wallMs: number,
  harness?: { concurrency: number; loopLagP99WallMs: number },
  sendLagP99WallMs = 1,
  generator = 'built-in',
) {
  return {
    startedAt,
    wallMs,
    timeScale: 10,
    load: { sendLagP99WallMs, generator },
    harness: harness && { slot: 1, loopLagMaxWallMs: harness.loopLagP99WallMs, ...harness },
  } as unknown as RunEntry;
}

describe('experimentPace', () => {
  it('counts runs per minute from the header to the end of the last run, with median lags and flagged runs', () => {
    const pace = experimentPace({ startedAt: '2026-01-01T00:00:00.000Z', concurrency: 4 }, [
      run('2026-01-01T00:00:01.000Z', 10_000, { concurrency: 4, loopLagP99WallMs: 1 }),
      run('2026-01-01T00:00:02.000Z', 28_000, { concurrency: 4, loopLagP99WallMs: 9 }),
      run('2026-01-01T00:00:12.000Z', 8_000, { concurrency: 3, loopLagP99WallMs: 2 }, 7, 'k6 v1.8.1'),
      // The built-in generator's send lag shifts arrivals, not stamps: not flagged.
      run('2026-01-01T00:00:20.000Z', 10_000, { concurrency: 3, loopLagP99WallMs: 2 }, 7),
    ]);
    expect(pace).toEqual({
      runs: 4,
      spanMs: 30_000,
      runsPerMinute: 8,
      loopLagP99MedianWallMs: 2,
      sendLagP99MedianWallMs: 4,
      // 9 ms of loop lag and a k6 run's 7 ms send lag at 10× exceed the 50 scenario-ms bound.
      lagFlagged: 2,
      concurrencyStarted: 4,
      concurrencyLowest: 3,
    });
  });

  it('reports no lag and no concurrency for journals written before concurrency', () => {
    const pace = experimentPace({ startedAt: '2026-01-01T00:00:00.000Z' }, [run('2026-01-01T00:00:00.000Z', 60_000)]);
    expect(pace.runsPerMinute).toBe(1);
    expect(pace.loopLagP99MedianWallMs).toBeUndefined();
    expect(pace.concurrencyLowest).toBeUndefined();
    expect(pace.lagFlagged).toBe(0);
  });
});

const HEAD = 'run_id,arm,scenario,sweep,outcome,release_ms,mttr_s,censored_at_s,failed_requests';
const row = (id: string, arm: string, outcome: string, mttrS: number | '') =>
  `${id},${arm},faulty-500,,${outcome},60000,${mttrS},,10`;

describe('mttrAnswer', () => {
  it("quotes the report's verdict: runs per arm, Mann–Whitney p and the CI of median(manual) − median(Flagger)", () => {
    const lines = [HEAD];
    for (let i = 0; i < 10; i++) lines.push(row(`m${i}`, 'manual', 'rolled_back', 100 + i));
    for (let i = 0; i < 10; i++) lines.push(row(`f${i}`, 'flagger', 'rolled_back', 30 + i));
    // An aborted run is a run of its arm, but has no MTTR to compare.
    lines.push(row('f-aborted', 'flagger', 'aborted', ''));
    const answer = mttrAnswer(`${lines.join('\n')}\n`, 'faulty-500')!;
    expect(answer.runsPerArm).toEqual({ manual: 10, flagger: 11 });
    expect(answer.comparedPerArm).toEqual({ manual: 10, flagger: 10 });
    expect(answer.differenceS).toBe(70);
    expect(answer.p).toBeLessThan(0.001);
    expect(answer.lowerS).toBeGreaterThan(0);
    expect(answer.excludesZero).toBe(true);
  });

  it('says the CI includes 0 when the arms overlap, and nothing for a scenario without both arms', () => {
    const lines = [HEAD];
    for (let i = 0; i < 5; i++) lines.push(row(`m${i}`, 'manual', 'rolled_back', 30 + 2 * i));
    for (let i = 0; i < 5; i++) lines.push(row(`f${i}`, 'flagger', 'rolled_back', 31 + 2 * i));
    const answer = mttrAnswer(`${lines.join('\n')}\n`, 'faulty-500')!;
    expect(answer.excludesZero).toBe(false);
    expect(answer.p).toBeGreaterThan(0.5);
    expect(mttrAnswer(`${lines.join('\n')}\n`, 'healthy')).toBeUndefined();
  });
});
