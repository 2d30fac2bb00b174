/**
 * Harness time. Everything that measures or waits goes through a Clock, so the timeline code and
 * the Flagger model run on a virtual clock in tests and on a (possibly time-compressed) real clock
 * in experiments. All values are scenario milliseconds.
 */
export interface Clock {
  /** Scenario milliseconds since the clock's origin. */
  now(): number;
  /** Resolves after `ms` scenario milliseconds; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Scenario milliseconds per wall millisecond (1 = real time). */
  readonly timeScale: number;
}

/** Real time, sped up by `timeScale`: one wall second is `timeScale` scenario seconds. */
export class ScaledClock implements Clock {
  private readonly originWallMs = performance.now();
  constructor(readonly timeScale = 1) {
    if (!(timeScale > 0)) throw new RangeError(`timeScale must be positive, got ${timeScale}`);
  }
  now(): number {
    return (performance.now() - this.originWallMs) * this.timeScale;
  }
  /** Converts a scenario duration to wall milliseconds. */
  toWallMs(scenarioMs: number): number {
    return scenarioMs / this.timeScale;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWall(ms / this.timeScale, signal);
  }
}

export function sleepWall(wallMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, wallMs),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface PendingSleep {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * A clock that only moves when told. `advance` runs every sleeper due in order and lets the
 * awakened code run (microtasks and I/O-free promise chains) before moving on, so code written
 * against Clock behaves as if time had really passed.
 */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private pending: PendingSleep[] = [];
  constructor(
    startMs = 0,
    /**
     * What it reports as scenario ms per wall ms. Time still moves only when told; code that
     * converts wall durations (a poll interval, a request timeout) through it sees them as a
     * compressed run would.
     */
    readonly timeScale = 1,
  ) {
    this.current = startMs;
  }
  now(): number {
    return this.current;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        this.pending = this.pending.filter((p) => p !== entry);
        reject(signal!.reason);
      };
      const entry: PendingSleep = {
        at: this.current + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.pending.push(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  /** Moves time forward by `ms`, waking sleepers in time order. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await flushMicrotasks();
      this.pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.pending[0];
      if (!next || next.at > target) break;
      this.pending.shift();
      this.current = next.at;
      next.resolve();
    }
    this.current = target;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  // setImmediate lets every queued promise continuation run first.
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Real, uncompressed time: for waits on things outside the scenario (processes, files, sockets). */
export const wallClock: Clock = {
  timeScale: 1,
  now: () => performance.now(),
  sleep: sleepWall,
};
