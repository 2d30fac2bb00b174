import http from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import createDebug from 'debug';
import type { Clock } from '../common/clock.ts';
import { LoadError } from './errors.ts';
import { LagHistogram } from './lag-histogram.ts';
import { validateLoadOptions } from './options.ts';
import { isFailure, type RequestRecord } from './types.ts';

const log = createDebug('canary-mttr:load');

/** What to load, how hard, and where the records go. */
export interface LoadOptions {
  /** Target of every request, e.g. `http://127.0.0.1:8080/sms`. Only `http:` is supported. */
  url: string;
  /** Scenario requests per scenario second; the wall rate is `rateRps × clock.timeScale`. */
  rateRps: number;
  /**
   * Stamps every record and paces the schedule. It must advance with wall time (a ScaledClock):
   * the requests are real, so a virtual clock that only moves when told would never send.
   */
  clock: Clock;
  /**
   * Real milliseconds after its slot at which a request is abandoned and recorded with status 0.
   * Request latency is never time-compressed: compression speeds up the experiment's timeline,
   * and multiplying loopback jitter by the time scale would invent slow requests.
   */
  timeoutMs: number;
  /** Most requests outstanding at once; a request due while this many are out is dropped. */
  maxInFlight: number;
  /**
   * Called exactly once per scheduled request, sent or dropped, in completion order (not slot
   * order). If it throws, the load stops and `stop()` rejects with a LoadError.
   */
  onRecord: (record: RequestRecord) => void;
  /** Aborting it stops the load as `stop()` does. */
  signal?: AbortSignal;
  /**
   * Scenario ms after start() by which the caller will have called stop() (the run's deadline). A
   * generator in another process (k6) ends by itself a margin after it, so a harness killed
   * without a chance to stop it cannot leave it sending load for long.
   */
  maxDurationMs?: number;
  /** JSON bodies, sent in rotation. Defaults to a few `{"sms": …}` texts. */
  bodies?: readonly string[];
  /** Extra request headers. `content-type` defaults to application/json; `content-length` is set. */
  headers?: Readonly<Record<string, string>>;
}

/** Scheduler jitter: how long after its slot each request was actually handed to node:http. */
export interface SendLagStats {
  /** Requests measured: every sent request (a dropped request is never sent). */
  count: number;
  /** Wall milliseconds: jitter is a property of the machine, not of the scenario. */
  meanWallMs: number;
  /** Wall milliseconds, from a histogram: at most 5% above the true value. */
  p99WallMs: number;
  maxWallMs: number;
}

/**
 * Live counters, updated as the load runs. Every scheduled request ends in exactly one of
 * `completed`, `timedOut`, `errored` or `dropped`, and then produces exactly one record.
 */
export interface LiveStats {
  /** Slots whose time has come: `sent + dropped`. */
  readonly scheduled: number;
  /** Requests handed to node:http. */
  readonly sent: number;
  /** Full HTTP responses received, whatever their status. */
  readonly completed: number;
  /** Records that are failures (see isFailure): 5xx answers, timeouts, errors and drops. */
  readonly failed: number;
  /** Requests abandoned after `timeoutMs`. */
  readonly timedOut: number;
  /** Connection refused or reset, or a response cut short. */
  readonly errored: number;
  /**
   * Due while `maxInFlight` requests were outstanding, so never sent. Recorded as a failure
   * (status 0, version '', doneMs = sentMs, latency 0): the user behind that slot got no answer.
   */
  readonly dropped: number;
  /** Records passed to `onRecord`. */
  readonly recorded: number;
  /** Requests outstanding right now. */
  readonly inFlight: number;
  /** Largest `inFlight` seen; never above `maxInFlight`. */
  readonly maxInFlightSeen: number;
  /** Computed on each read. */
  readonly sendLag: SendLagStats;
}

/** The run's totals once `stop()` has drained every outstanding request. */
export interface LoadSummary {
  scheduled: number;
  sent: number;
  completed: number;
  failed: number;
  timedOut: number;
  errored: number;
  dropped: number;
  recorded: number;
  maxInFlightSeen: number;
  /** Requests sent per scenario second over the scheduling window. */
  achievedRps: number;
  /** From start to stop of scheduling (the drain after it is not included), scenario ms. */
  scenarioDurationMs: number;
  /** The same window in wall ms. */
  wallDurationMs: number;
  sendLag: SendLagStats;
}

type LoadCounts = Omit<LoadSummary, 'achievedRps' | 'scenarioDurationMs' | 'wallDurationMs' | 'sendLag'>;

/** A LoadSummary from a generator's counters and its scheduling window. */
export function loadSummary(
  c: LoadCounts,
  scenarioDurationMs: number,
  wallDurationMs: number,
  sendLag: SendLagStats,
): LoadSummary {
  return {
    scheduled: c.scheduled,
    sent: c.sent,
    completed: c.completed,
    failed: c.failed,
    timedOut: c.timedOut,
    errored: c.errored,
    dropped: c.dropped,
    recorded: c.recorded,
    maxInFlightSeen: c.maxInFlightSeen,
    achievedRps: scenarioDurationMs > 0 ? (c.sent * 1000) / scenarioDurationMs : 0,
    scenarioDurationMs,
    wallDurationMs,
    sendLag,
  };
}

/**
 * Hands records to the caller's onRecord. The first time it throws, the error is kept and `stop`
 * runs once, in a microtask: delivery happens inside a generator's own loops (the scheduler's
 * send loop, the k6 parser's loop over a chunk), which must not be cut short. Records delivered
 * until the load has stopped still go to onRecord; a later throw is ignored.
 */
export class RecordDelivery {
  private failed = false;
  private cause: unknown;

  constructor(
    private readonly onRecord: (record: RequestRecord) => void,
    private readonly stop: () => void,
  ) {}

  readonly deliver = (record: RequestRecord): void => {
    try {
      this.onRecord(record);
    } catch (err) {
      if (this.failed) return;
      this.failed = true;
      this.cause = err;
      queueMicrotask(this.stop);
    }
  };

  /** The error stop() rejects with, once onRecord has thrown; undefined otherwise. */
  error(): LoadError | undefined {
    if (!this.failed) return undefined;
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause);
    return new LoadError(`load: the onRecord callback threw, so the load was stopped: ${reason}`, {
      cause: this.cause,
    });
  }
}

/** Puts a service under load and turns every request into a RequestRecord. */
export interface LoadGenerator {
  start(options: LoadOptions): StartedLoad;
}

export interface StartedLoad extends AsyncDisposable {
  /**
   * Stops scheduling, waits for outstanding requests (each for at most its timeout), then
   * resolves. Safe to call any number of times: every call returns the same promise.
   */
  stop(): Promise<LoadSummary>;
  readonly stats: LiveStats;
  /**
   * Resolves once the first request has gone out, or the load has stopped first; never rejects.
   * A generator that runs another program (k6) needs from 50 ms to seconds of wall time to start:
   * a caller that times a warm-up from start() waits for this first.
   */
  readonly ready: Promise<void>;
}

export const DEFAULT_BODIES: readonly string[] = [
  'Your verification code is 482913',
  'Meeting moved to 3pm, room 4.12',
  'Your parcel is waiting in locker 17',
  'Balance below 5 EUR: top up to keep calling',
].map((sms) => JSON.stringify({ sms }));

/**
 * A burst (after the event loop lagged) yields to I/O after this many sends, so responses and
 * timeouts keep being processed while the schedule catches up.
 */
const MAX_BURST = 256;

/**
 * Open-model load over node:http: request i is due at `t0 + i / rate` whatever happened to the
 * requests before it, so a slow or stuck service never slows the arrivals down (no coordinated
 * omission), and each record's latency counts from the slot, including any send lag.
 *
 * Pacing is timer-based, never a busy wait: the harness shares two cores with the system under
 * test, and spinning for sub-millisecond precision would steal them. Several requests per timer
 * tick go out as a burst, so send lag is typically about a millisecond.
 */
export class BuiltinLoadGenerator implements LoadGenerator {
  start(options: LoadOptions): StartedLoad {
    return new BuiltinLoad(options);
  }
}

interface PreparedRequest {
  /** Reused for every request: ClientRequest copies the options and headers it is given. */
  options: http.RequestOptions;
  body: Buffer;
}

type Outcome = 'completed' | 'timedOut' | 'errored';

class Flight {
  req: ClientRequest | undefined;
  status = 0;
  version = '';
  done = false;
  constructor(
    readonly slotMs: number,
    readonly deadlineMs: number,
  ) {}
}

class Counters implements LiveStats {
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
  readonly lag = new LagHistogram();
  get sendLag(): SendLagStats {
    return {
      count: this.lag.count,
      meanWallMs: this.lag.meanMs,
      p99WallMs: this.lag.quantile(0.99),
      maxWallMs: this.lag.maxMs,
    };
  }
}

class BuiltinLoad implements StartedLoad {
  private readonly counters = new Counters();
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly delivery: RecordDelivery;
  private readonly signal: AbortSignal | undefined;
  private readonly agent: http.Agent;
  private readonly prepared: PreparedRequest[];
  /** Insertion order is slot order, and every request has the same timeout, so the first
   * entry always has the earliest deadline. */
  private readonly inFlight = new Set<Flight>();
  private readonly startMs: number;
  private readonly startWallMs: number;
  private endMs = 0;
  private endWallMs = 0;
  private nextIndex = 0;
  private nextBody = 0;
  private scheduling = true;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private stopPromise: Promise<LoadSummary> | undefined;
  private drained: (() => void) | undefined;
  private loggedError = false;

  constructor(options: LoadOptions) {
    const target = validate(options);
    this.clock = options.clock;
    this.intervalMs = 1000 / options.rateRps;
    this.timeoutMs = options.timeoutMs;
    this.maxInFlight = options.maxInFlight;
    this.delivery = new RecordDelivery(options.onRecord, this.onAbort);
    this.signal = options.signal;
    // Twice the cap: a timed-out socket is destroyed at once but leaves the agent's count only on
    // its 'close' event, and the next request should not queue inside the agent meanwhile.
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: options.maxInFlight * 2,
      maxFreeSockets: options.maxInFlight,
    });
    this.prepared = (options.bodies ?? DEFAULT_BODIES).map((text) => {
      const body = Buffer.from(text, 'utf8');
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const [name, value] of Object.entries(options.headers ?? {})) {
        headers[name.toLowerCase()] = value;
      }
      headers['content-length'] = String(body.length);
      return {
        body,
        options: {
          agent: this.agent,
          hostname: target.hostname,
          port: target.port,
          path: target.path,
          method: 'POST',
          headers,
        },
      };
    });
    this.startMs = this.clock.now();
    this.startWallMs = performance.now();
    log(
      'start %s at %d req/s scenario (%d req/s wall), timeout %d ms, max in flight %d',
      options.url,
      options.rateRps,
      options.rateRps * this.clock.timeScale,
      options.timeoutMs,
      options.maxInFlight,
    );
    if (this.signal?.aborted) {
      this.scheduling = false;
      void this.stop().catch(ignore);
      return;
    }
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.immediate = setImmediate(this.tick);
  }

  get stats(): LiveStats {
    return this.counters;
  }

  /** Scheduling starts in start() itself: the first request goes out on the next turn of the loop. */
  readonly ready: Promise<void> = Promise.resolve();

  stop(): Promise<LoadSummary> {
    if (this.stopPromise) return this.stopPromise;
    let resolve!: (summary: LoadSummary) => void;
    let reject!: (err: unknown) => void;
    // Assigned before any work, so a stop() re-entered from onRecord gets this same promise.
    this.stopPromise = new Promise<LoadSummary>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const now = this.clock.now();
    if (this.scheduling) this.sendDue(Number.POSITIVE_INFINITY, now);
    this.scheduling = false;
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.endMs = now;
    this.endWallMs = performance.now();
    this.drainThenSummarize().then(resolve, reject);
    return this.stopPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private readonly onAbort = (): void => {
    // The caller sees any error through its own stop() call, which returns this same promise.
    void this.stop().catch(ignore);
  };

  private slotMs(index: number): number {
    // Multiplied, not accumulated, so rounding never drifts the schedule.
    return this.startMs + index * this.intervalMs;
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    if (!this.scheduling) return;
    const caughtUp = this.sendDue(MAX_BURST, this.clock.now());
    if (!this.scheduling) return;
    if (!caughtUp) {
      this.immediate = setImmediate(this.tick);
      return;
    }
    const delayWallMs = (this.slotMs(this.nextIndex) - this.clock.now()) / this.clock.timeScale;
    if (delayWallMs <= 0) {
      this.immediate = setImmediate(this.tick);
    } else {
      // Whole milliseconds: Node keeps one timer list per distinct duration, and a fraction buys
      // nothing since libuv's loop time is whole milliseconds too.
      this.timer = setTimeout(this.tick, Math.ceil(delayWallMs));
    }
  };

  /** Sends every request whose slot is at or before `nowMs`; false when `limit` cut it short. */
  private sendDue(limit: number, nowMs: number): boolean {
    for (let n = 0; ; n++) {
      const slotMs = this.slotMs(this.nextIndex);
      if (slotMs > nowMs) return true;
      if (n >= limit) return false;
      this.nextIndex++;
      this.send(slotMs);
    }
  }

  private send(slotMs: number): void {
    const c = this.counters;
    c.scheduled++;
    if (this.inFlight.size >= this.maxInFlight) {
      // The user behind this slot saw a failure, not a missing request: record it as one.
      c.dropped++;
      this.emit(slotMs, slotMs, 0, '');
      return;
    }
    const prepared = this.prepared[this.nextBody]!;
    this.nextBody = this.nextBody + 1 === this.prepared.length ? 0 : this.nextBody + 1;
    const flight = new Flight(slotMs, slotMs + this.timeoutMs * this.clock.timeScale);
    this.inFlight.add(flight);
    c.inFlight = this.inFlight.size;
    if (c.inFlight > c.maxInFlightSeen) c.maxInFlightSeen = c.inFlight;
    c.sent++;
    c.lag.record((this.clock.now() - slotMs) / this.clock.timeScale);
    if (this.deadlineTimer === undefined) this.armDeadline();
    let req: ClientRequest;
    try {
      req = http.request(prepared.options);
    } catch (err) {
      this.logError(err);
      this.finish(flight, 'errored');
      return;
    }
    flight.req = req;
    req.on('response', (res: IncomingMessage) => this.onResponse(flight, res));
    req.on('error', (err: Error) => {
      this.logError(err);
      this.finish(flight, 'errored');
    });
    req.end(prepared.body);
  }

  private onResponse(flight: Flight, res: IncomingMessage): void {
    flight.status = res.statusCode ?? 0;
    flight.version = versionOf(res.rawHeaders);
    res.on('end', () => this.finish(flight, 'completed'));
    // 'close' without 'end': the body was cut short. A no-op after 'end' (flight.done).
    res.on('close', () => this.finish(flight, 'errored'));
    res.on('error', ignore);
    res.resume();
  }

  private finish(flight: Flight, outcome: Outcome): void {
    if (flight.done) return;
    flight.done = true;
    this.inFlight.delete(flight);
    const c = this.counters;
    c.inFlight = this.inFlight.size;
    if (outcome === 'completed') c.completed++;
    else if (outcome === 'timedOut') c.timedOut++;
    else c.errored++;
    // A timeout or a cut body keeps the version when headers had arrived: it says who failed.
    const status = outcome === 'completed' ? flight.status : 0;
    this.emit(flight.slotMs, this.clock.now(), status, flight.version);
    if (this.inFlight.size === 0) this.drained?.();
  }

  private emit(sentMs: number, doneMs: number, status: number, version: string): void {
    // Latency is real time: compression speeds up the timeline, not the requests.
    const record: RequestRecord = {
      sentMs,
      doneMs,
      latencyMs: (doneMs - sentMs) / this.clock.timeScale,
      status,
      version,
    };
    const c = this.counters;
    c.recorded++;
    if (isFailure(record)) c.failed++;
    this.delivery.deliver(record);
  }

  /** One timer for all timeouts, armed for the oldest outstanding request's deadline. */
  private armDeadline(): void {
    const first = this.inFlight.values().next();
    if (first.done) return;
    const delayWallMs = (first.value.deadlineMs - this.clock.now()) / this.clock.timeScale;
    this.deadlineTimer = setTimeout(this.onDeadline, Math.max(1, Math.ceil(delayWallMs)));
  }

  private readonly onDeadline = (): void => {
    this.deadlineTimer = undefined;
    const now = this.clock.now();
    for (const flight of this.inFlight) {
      if (flight.deadlineMs > now) break;
      this.finish(flight, 'timedOut');
      flight.req?.destroy();
    }
    this.armDeadline();
  };

  private async drainThenSummarize(): Promise<LoadSummary> {
    if (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
    }
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.agent.destroy();
    this.signal?.removeEventListener('abort', this.onAbort);
    const summary = this.summarize();
    log(
      'stopped: %d sent in %d ms wall (%d req/s scenario), %d failed, %d timed out, %d dropped; ' +
        'send lag p99 %d ms wall',
      summary.sent,
      Math.round(summary.wallDurationMs),
      Math.round(summary.achievedRps),
      summary.failed,
      summary.timedOut,
      summary.dropped,
      summary.sendLag.p99WallMs,
    );
    const recordError = this.delivery.error();
    if (recordError) throw recordError;
    return summary;
  }

  private summarize(): LoadSummary {
    const c = this.counters;
    return loadSummary(c, this.endMs - this.startMs, this.endWallMs - this.startWallMs, c.sendLag);
  }

  private logError(err: unknown): void {
    // Once per run: a closed port fails every request, and the records already say so.
    if (this.loggedError) return;
    this.loggedError = true;
    log('first request error: %s', err instanceof Error ? err.message : String(err));
  }
}

interface Target {
  hostname: string;
  port: number;
  path: string;
}

function validate(options: LoadOptions): Target {
  const url = validateLoadOptions(options, { protocols: ['http:'], generator: 'the built-in generator' });
  return {
    // URL keeps the brackets of an IPv6 literal; node:http wants the bare address.
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 80 : Number(url.port),
    path: url.pathname + url.search,
  };
}

function versionOf(rawHeaders: string[]): string {
  // rawHeaders avoids building the lower-cased headers object for every response.
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 13 && name.toLowerCase() === 'x-app-version') return rawHeaders[i + 1]!;
  }
  return '';
}

function ignore(): void {}
