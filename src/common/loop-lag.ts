import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** What an event loop saw over one run, wall ms beyond the sampling period. */
export interface LoopLag {
  p99WallMs: number;
  maxWallMs: number;
}

/** Sampling period of the event-loop monitor, wall ms: its own delay, subtracted from what it reports. */
const LOOP_RESOLUTION_MS = 2;

/**
 * Measures the lag of this thread's event loop over one run: Node's own delay histogram, which
 * times a timer firing every LOOP_RESOLUTION_MS. With several runs in flight each has its own,
 * over its own span.
 */
export class LoopLagMonitor {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private result: LoopLag | undefined;

  constructor() {
    this.histogram.enable();
  }

  /** Stops measuring (the first call) and returns the lag, rounded to 0.01 ms. */
  stop(): LoopLag {
    if (this.result) return this.result;
    this.histogram.disable();
    const lag = (ns: number) => Math.round(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) * 100) / 100;
    this.result =
      this.histogram.count === 0
        ? { p99WallMs: 0, maxWallMs: 0 }
        : { p99WallMs: lag(this.histogram.percentile(99)), maxWallMs: lag(this.histogram.max) };
    return this.result;
  }
}
