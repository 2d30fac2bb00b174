import { wallClock, type Clock } from './clock.ts';

export interface PollOptions {
  /** Time between two checks, in the clock's milliseconds. */
  everyMs: number;
  /** How long to keep checking, in the clock's milliseconds; Infinity to wait for the signal only. */
  timeoutMs: number;
  /** Aborting it ends the wait at once: pollUntil rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Whose milliseconds `everyMs` and `timeoutMs` are. Default: wall time. */
  clock?: Clock;
}

/**
 * Calls `check` until it returns something other than `undefined` or `false`, and resolves with
 * that. Resolves with `undefined` when `timeoutMs` has passed: the last check runs at the
 * deadline, so a condition that holds by then is never reported as timed out. Checks never
 * overlap: the next sleep starts when a check has settled. A check that throws ends the wait with
 * its error.
 *
 * Waiting on a Clock rather than on timers lets code that waits for scenario time run on a
 * virtual clock in tests.
 */
export async function pollUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: PollOptions,
): Promise<T | undefined> {
  const clock = options.clock ?? wallClock;
  if (!(options.everyMs > 0)) throw new RangeError(`pollUntil: everyMs must be positive, got ${options.everyMs}`);
  const deadlineMs = clock.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await check();
    if (value !== undefined && value !== false) return value;
    const leftMs = deadlineMs - clock.now();
    if (leftMs <= 0) return undefined;
    await clock.sleep(Math.min(options.everyMs, leftMs), options.signal);
  }
}
