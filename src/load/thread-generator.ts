import { Worker } from 'node:worker_threads';
import { anchorOf, type ClockAnchor } from '../common/clock.ts';
import {
  builtinTarget,
  type LiveStats,
  type LoadGenerator,
  type LoadOptions,
  type LoadSummary,
  RecordDelivery,
  type SendLagStats,
  type StartedLoad,
} from './builtin-generator.ts';
import { LoadError } from './errors.ts';
import type { RequestRecord } from './types.ts';

/** The counters of LiveStats as plain data, for a message. */
export type LiveSnapshot = { -readonly [K in keyof LiveStats]: LiveStats[K] };

/** What the generator sends its thread (load-thread.ts). */
export type ToThread =
  | {
      type: 'start';
      id: number;
      options: Omit<LoadOptions, 'clock' | 'onRecord' | 'signal'>;
      anchor: ClockAnchor;
    }
  | { type: 'stop'; id: number };

/** What the thread sends back; messages of one load arrive in the order they were posted. */
export type FromThread =
  | { type: 'booted' }
  | { type: 'ready'; id: number; stats: LiveSnapshot }
  | { type: 'records'; id: number; records: RequestRecord[]; stats: LiveSnapshot }
  | { type: 'done'; id: number; summary: LoadSummary }
  | { type: 'failed'; id: number; message: string };

const ENTRY = new URL('./load-thread.ts', import.meta.url).href;
const TSX = import.meta.resolve('tsx/esm/api');
/** The thread loads TypeScript through tsx's loader, registered in the thread itself. */
const BOOT = `const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((tsx) => { tsx.register(); return import(workerData.entry); });`;

/**
 * The built-in generator on a worker thread of its own, one per load in flight. Loads that share
 * the harness's event loop with each other, with their routers and with the Flagger models delay
 * each other's sends (the send lag of runs.csv); on its own thread a load is paced by its own
 * loop. Records are stamped on the caller's clock (MonotonicClock) and delivered in one message
 * per turn of the thread's loop, so `onRecord` sees them a little after they happen, as with k6;
 * `stop()` resolves after every record was delivered. Threads are kept for the next load and do
 * not keep the process alive; they end with it, also on kill -9.
 */
export class ThreadLoadGenerator implements LoadGenerator, AsyncDisposable {
  private readonly idle = new Set<Worker>();
  private readonly all = new Set<Worker>();

  start(options: LoadOptions): StartedLoad {
    // The same checks and errors as the built-in generator, thrown here rather than on the thread.
    builtinTarget(options);
    const worker = this.take();
    worker.ref();
    return new ThreadLoad(worker, options, () => {
      worker.unref();
      this.idle.add(worker);
    });
  }

  /**
   * Starts threads until `loads` are there and waits until each has loaded its code: a thread's
   * start costs a few hundred ms of CPU (its TypeScript is compiled on the thread), better spent
   * before the first run than during another run's analysis.
   */
  async prepare(loads: number): Promise<void> {
    const booting: Promise<void>[] = [];
    while (this.all.size < loads) {
      const worker = this.spawn();
      this.idle.add(worker);
      booting.push(
        new Promise<void>((resolve, reject) => {
          const onMessage = (message: FromThread) => {
            if (message.type !== 'booted') return;
            worker.off('message', onMessage);
            worker.off('error', reject);
            resolve();
          };
          worker.on('message', onMessage);
          worker.once('error', reject);
        }),
      );
    }
    await Promise.all(booting).catch((err: Error) => {
      throw new LoadError(`load: a load thread failed to start: ${err.message}`, { cause: err });
    });
    for (const worker of this.idle) worker.unref();
  }

  /** Threads started so far and still alive (one per load that was in flight at once). */
  get threads(): number {
    return this.all.size;
  }

  /** Ends every thread; a load still running on one fails. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.all].map((w) => w.terminate()));
  }

  private take(): Worker {
    for (const worker of this.idle) {
      this.idle.delete(worker);
      return worker;
    }
    return this.spawn();
  }

  private spawn(): Worker {
    const worker = new Worker(BOOT, { eval: true, workerData: { tsx: TSX, entry: ENTRY }, execArgv: [] });
    this.all.add(worker);
    worker.once('exit', () => {
      this.all.delete(worker);
      this.idle.delete(worker);
    });
    return worker;
  }
}

class ThreadStats implements LiveStats {
  scheduled = 0;
  sent = 0;
  completed = 0;
  failed = 0;
  timedOut = 0;
  errored = 0;
  dropped = 0;
  recorded = 0;
  inFlight = 0;
  maxInFlightSeen = 0;
  sendLag: SendLagStats = { count: 0, meanWallMs: 0, p99WallMs: 0, maxWallMs: 0 };
}

let nextLoadId = 0;

class ThreadLoad implements StartedLoad {
  readonly stats = new ThreadStats();
  readonly ready: Promise<void>;
  private readonly id = ++nextLoadId;
  private readonly delivery: RecordDelivery;
  private readonly result: Promise<LoadSummary>;
  private readonly signal: AbortSignal | undefined;
  private markReady!: () => void;
  private settle!: { resolve: (summary: LoadSummary) => void; reject: (err: LoadError) => void };
  private stopPromise: Promise<LoadSummary> | undefined;
  private ended = false;

  constructor(
    private readonly worker: Worker,
    options: LoadOptions,
    private readonly release: () => void,
  ) {
    const { clock, onRecord, signal, ...rest } = options;
    this.signal = signal;
    this.delivery = new RecordDelivery(onRecord, this.onAbort);
    this.ready = new Promise<void>((resolve) => {
      this.markReady = resolve;
    });
    this.result = new Promise<LoadSummary>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Settled through stop(); a failure before anyone calls it must not be unhandled.
    this.result.catch(ignore);
    worker.on('message', this.onMessage);
    worker.on('error', this.onError);
    worker.on('exit', this.onExit);
    this.post({ type: 'start', id: this.id, options: rest, anchor: anchorOf(clock) });
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  stop(): Promise<LoadSummary> {
    if (this.stopPromise) return this.stopPromise;
    if (!this.ended) this.post({ type: 'stop', id: this.id });
    this.stopPromise = this.result.then((summary) => {
      const recordError = this.delivery.error();
      if (recordError) throw recordError;
      return summary;
    });
    return this.stopPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private post(message: ToThread): void {
    this.worker.postMessage(message);
  }

  private readonly onAbort = (): void => {
    void this.stop().catch(ignore);
  };

  private readonly onMessage = (message: FromThread): void => {
    if (message.type === 'booted' || message.id !== this.id) return;
    switch (message.type) {
      case 'ready':
        Object.assign(this.stats, message.stats);
        this.markReady();
        return;
      case 'records':
        Object.assign(this.stats, message.stats);
        for (const record of message.records) this.delivery.deliver(record);
        return;
      case 'done':
        this.end();
        this.release();
        this.settle.resolve(message.summary);
        return;
      case 'failed':
        this.end();
        this.release();
        this.settle.reject(new LoadError(`load: ${message.message}`));
    }
  };

  private readonly onError = (err: Error): void => {
    this.end();
    this.settle.reject(new LoadError(`load: the load thread failed: ${err.message}`, { cause: err }));
  };

  private readonly onExit = (code: number): void => {
    this.end();
    this.settle.reject(new LoadError(`load: the load thread ended (exit code ${code}) before the load stopped`));
  };

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.worker.off('message', this.onMessage);
    this.worker.off('error', this.onError);
    this.worker.off('exit', this.onExit);
    this.signal?.removeEventListener('abort', this.onAbort);
    this.markReady();
  }
}

function ignore(): void {}
