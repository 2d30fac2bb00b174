import createDebug from 'debug';
import type { Clock } from '../common/clock.ts';
import type { FlaggerCanaryModel } from './model.ts';

const debug = createDebug('canary-mttr:flagger-model');

/**
 * Flagger's CanaryJob: a ticker per Canary that calls advanceCanary every analysis interval.
 * Ticks sit on a fixed grid (first tick at `firstTickMs`, then every interval); like Go's
 * time.Ticker, a tick that comes due while the previous one is still running is dropped.
 */
export class CanaryTicker implements AsyncDisposable {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  ticks = 0;

  constructor(
    private readonly model: FlaggerCanaryModel,
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  /** Starts ticking; the first tick comes at scenario time `firstTickMs`. */
  start(firstTickMs: number): void {
    if (this.loop) throw new Error('ticker already started');
    this.loop = this.run(firstTickMs).catch((err) => {
      if (!this.abort.signal.aborted) debug('ticker stopped by error: %O', err);
      throw err;
    });
    // Errors surface through stop(); keep Node from reporting them as unhandled meanwhile.
    this.loop.catch(() => undefined);
  }

  private async run(firstTickMs: number): Promise<void> {
    const signal = this.abort.signal;
    let next = firstTickMs;
    while (!signal.aborted) {
      const wait = next - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait, signal);
      if (signal.aborted) return;
      this.ticks++;
      await this.model.tick(this.clock.now());
      next += this.intervalMs;
      // Drop ticks that fell due while this one ran (time.Ticker drops them too).
      while (next <= this.clock.now() - this.intervalMs) next += this.intervalMs;
    }
  }

  async stop(): Promise<void> {
    this.abort.abort(new Error('ticker stopped'));
    try {
      await this.loop;
    } catch (err) {
      if (!(err instanceof Error && err.message === 'ticker stopped')) throw err;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
