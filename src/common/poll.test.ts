import { describe, expect, it } from 'vitest';
import { VirtualClock } from './clock.ts';
import { pollUntil } from './poll.ts';

describe('pollUntil', () => {
  it('resolves with the first value the check returns, at the first check after it holds', async () => {
    const clock = new VirtualClock();
    const checkedAt: number[] = [];
    const waiting = pollUntil(
      () => {
        checkedAt.push(clock.now());
        return clock.now() >= 250 && ('ready' as const);
      },
      { everyMs: 100, timeoutMs: 10_000, clock },
    );
    await clock.advance(1_000);
    await expect(waiting).resolves.toBe('ready');
    expect(checkedAt).toEqual([0, 100, 200, 300]);
  });

  it('resolves with undefined at the deadline, after one last check there', async () => {
    const clock = new VirtualClock();
    const checkedAt: number[] = [];
    let settledAt: number | undefined;
    const waiting = pollUntil(() => void checkedAt.push(clock.now()), { everyMs: 100, timeoutMs: 250, clock }).then(
      (v) => {
        settledAt = clock.now();
        return v;
      },
    );
    await clock.advance(1_000);
    await expect(waiting).resolves.toBeUndefined();
    expect(checkedAt).toEqual([0, 100, 200, 250]);
    expect(settledAt).toBe(250);
  });

  it('a condition that holds at the deadline is found, not timed out', async () => {
    const clock = new VirtualClock();
    const waiting = pollUntil(() => clock.now() >= 250, { everyMs: 100, timeoutMs: 250, clock });
    await clock.advance(1_000);
    await expect(waiting).resolves.toBe(true);
  });

  it('rejects with the reason as soon as the signal aborts, and stops checking', async () => {
    const clock = new VirtualClock();
    const abort = new AbortController();
    let checks = 0;
    const waiting = pollUntil(() => void checks++, { everyMs: 100, timeoutMs: Infinity, clock, signal: abort.signal });
    const outcome = waiting.catch((err: unknown) => err);
    await clock.advance(150);
    abort.abort(new Error('interrupted'));
    await clock.advance(1_000);
    expect(((await outcome) as Error).message).toBe('interrupted');
    expect(checks).toBe(2);
  });

  it('never overlaps checks: the next sleep starts once an async check has settled', async () => {
    const clock = new VirtualClock();
    let running = 0;
    let most = 0;
    let checks = 0;
    const waiting = pollUntil(
      async () => {
        running++;
        most = Math.max(most, running);
        await clock.sleep(250);
        running--;
        return ++checks === 3;
      },
      { everyMs: 100, timeoutMs: 10_000, clock },
    );
    await clock.advance(2_000);
    await expect(waiting).resolves.toBe(true);
    expect(most).toBe(1);
  });

  it('waits in wall time when no clock is given', async () => {
    const startWallMs = performance.now();
    await expect(
      pollUntil(() => performance.now() - startWallMs >= 30, { everyMs: 10, timeoutMs: 5_000 }),
    ).resolves.toBe(true);
  });
});
