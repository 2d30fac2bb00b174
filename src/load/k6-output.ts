/**
 * k6's JSON output (`k6 run --out json=FILE`) turned into RequestRecords, as it is written.
 *
 * k6 v1.8.1 writes one JSON object per line: a `{"type":"Metric",…}` line the first time a metric
 * is seen, then one `Point` line per sample. scenarios/load.k6.ts adds two metrics of its own per
 * request, tied by the `req` metadata value:
 *
 *   {"metric":"sms_sent","type":"Point","data":{"time":"2026-11-26T07:53:58.439977937Z","value":1,"tags":{},"metadata":{"req":"0"}}}
 *   {"metric":"sms_latency","type":"Point","data":{"time":"2026-11-26T07:53:58.447780477Z","value":9.260731,"tags":{"status":"200","version":"v7"},"metadata":{"req":"0"}}}
 *
 * and k6 itself writes `dropped_iterations` (value 1, no metadata) for a slot that found every VU
 * busy. `data.time` is RFC 3339 with up to nine fractional digits (trailing zeros trimmed) and the
 * local zone offset of the k6 process. The ~13 other Point lines per request (http_req_*,
 * iterations, data_*) are skipped without being parsed.
 *
 * k6 appends to the file every 200 ms, and a reader can catch a write half done, so input comes in
 * chunks that need not end at a line end: the parser keeps the tail until its newline arrives.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Clock } from '../common/clock.ts';
import { LagHistogram } from './lag-histogram.ts';
import { isFailure, type RequestRecord } from './types.ts';

/** Metric names shared with scenarios/load.k6.ts (which k6 runs, so it cannot import them). */
export const K6Metrics = {
  sent: 'sms_sent',
  latency: 'sms_latency',
  dropped: 'dropped_iterations',
} as const;

/** Arrivals used to place k6's arrival grid (see K6OutputParser.gridStartEpochMs). */
const GRID_SAMPLE = 64;

/** k6's `error_code` for "request timeout" (https://grafana.com/docs/k6/latest/javascript-api/error-codes/). */
export const K6_TIMEOUT_ERROR_CODE = 1050;

/**
 * Wall (epoch) time to harness scenario time. k6 stamps samples with the wall clock; the harness
 * runs on a Clock that may be compressed. One pair of readings taken together at the start fixes
 * the line: scenario = scenarioAtStartMs + (epoch − epochAtStartMs) × timeScale.
 */
export interface ClockMapping {
  epochAtStartMs: number;
  scenarioAtStartMs: number;
  timeScale: number;
}

export function scenarioMsOf(mapping: ClockMapping, epochMs: number): number {
  return mapping.scenarioAtStartMs + (epochMs - mapping.epochAtStartMs) * mapping.timeScale;
}

export function epochMsOf(mapping: ClockMapping, scenarioMs: number): number {
  return mapping.epochAtStartMs + (scenarioMs - mapping.scenarioAtStartMs) / mapping.timeScale;
}

/**
 * Reads the clock and the wall clock together. Date.now() counts whole milliseconds, so a reading
 * at a random moment is up to 1 ms behind the truth (10 ms of scenario time at 10×); reading both
 * just after Date.now() ticks over aligns them to a few microseconds. The wait is at most 1 ms.
 */
export function captureClockMapping(clock: Clock, nowEpochMs: () => number = Date.now): ClockMapping {
  const first = nowEpochMs();
  const giveUpWall = performance.now() + 2;
  let epoch = nowEpochMs();
  while (epoch === first && performance.now() < giveUpWall) epoch = nowEpochMs();
  return { epochAtStartMs: epoch, scenarioAtStartMs: clock.now(), timeScale: clock.timeScale };
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Epoch milliseconds, with the fraction, of an RFC 3339 time such as Go writes
 * (`2026-11-26T07:53:58.43997793Z`, `2026-11-26T08:53:58+01:00`). Date.parse alone would drop
 * everything below the millisecond. Doubles hold about 0.2 µs at today's epoch values.
 */
export function parseRfc3339Ms(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const whole = Date.parse(m[1]! + m[3]!);
  if (Number.isNaN(whole)) return undefined;
  const fractionMs = m[2] === undefined ? 0 : Number(m[2].padEnd(9, '0')) / 1e6;
  return whole + fractionMs;
}

/**
 * The record's status from k6's `status` and `error_code` tags. k6 reports a timeout or a
 * connection error as status 0 with a code (1050 timeout, 1211 dial timeout, 1212 refused, …);
 * a body cut short can come with the status line's code and an error code, and is a failure of
 * the exchange like the built-in generator's cut body. Codes 1400–1599 only restate a 4xx/5xx.
 */
export function recordStatus(status: number, errorCode: number): number {
  const transportError = errorCode !== 0 && !(errorCode >= 1400 && errorCode < 1600);
  return transportError ? 0 : status;
}

/** One sample line of ours, checked. */
export interface K6Point {
  metric: string;
  epochMs: number;
  value: number;
  tags: Record<string, string>;
  metadata: Record<string, string>;
}

type LineResult = K6Point | 'other' | 'malformed';

const OUR_PREFIXES = Object.values(K6Metrics).map((name) => `{"metric":"${name}","type":"Point"`);
const OUR_NAMES = Object.values(K6Metrics).map((name) => `"${name}"`);

/**
 * A Point of one of K6Metrics, 'other' for any other well-formed-looking line, 'malformed' for a
 * line that is not one JSON object or a Point of ours with missing or mistyped fields. Other
 * metrics' lines are only checked to look like an object: parsing 13 lines per request that are
 * then thrown away would cost more than everything else here.
 */
export function parseK6Line(line: string): LineResult {
  if (line.charCodeAt(0) !== 0x7b /* { */ || line.charCodeAt(line.length - 1) !== 0x7d /* } */) return 'malformed';
  // k6 writes "metric" first; the fallback covers a writer that orders the fields differently.
  if (!OUR_PREFIXES.some((p) => line.startsWith(p)) && !OUR_NAMES.some((n) => line.includes(n))) return 'other';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return 'malformed';
  }
  if (!isObject(parsed)) return 'malformed';
  const { metric, type, data } = parsed;
  if (type !== 'Point') return 'other';
  if (typeof metric !== 'string' || !(Object.values(K6Metrics) as string[]).includes(metric)) return 'other';
  if (!isObject(data)) return 'malformed';
  const epochMs = typeof data.time === 'string' ? parseRfc3339Ms(data.time) : undefined;
  if (epochMs === undefined || typeof data.value !== 'number' || !Number.isFinite(data.value)) return 'malformed';
  const tags = data.tags ?? {};
  const metadata = data.metadata ?? {};
  if (!isStringMap(tags) || !isStringMap(metadata)) return 'malformed';
  return { metric, epochMs, value: data.value, tags, metadata };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringMap(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((s) => typeof s === 'string');
}

/** How each outcome is counted; the names and meanings are LiveStats' (builtin-generator.ts). */
export interface K6OutputCounts {
  /** Requests sent at or before the cut-off (an `sms_sent` line, or a record without one). */
  sent: number;
  /** Responses with an HTTP status (any status). */
  completed: number;
  /** status 0 with k6's timeout code. */
  timedOut: number;
  /** Other transport errors, and requests k6 never reported back (see `lost`). */
  errored: number;
  /** `dropped_iterations`: due while every VU was busy. */
  dropped: number;
  recorded: number;
  failed: number;
  /** Sent and not yet answered. */
  inFlight: number;
  maxInFlightSeen: number;
  /** Non-empty lines read. */
  lines: number;
  /** Lines skipped because they were not JSON, torn, or a Point of ours with bad fields. */
  malformed: number;
  /** Points of ours after the cut-off, ignored. */
  afterCutoff: number;
  /** Records whose `sms_sent` line was never seen: the send time is end time minus latency. */
  unpaired: number;
  /** Sent requests with no `sms_latency` by `end()` (k6 was stopped before answering them). */
  lost: number;
}

export interface K6OutputParserOptions {
  mapping: ClockMapping;
  /** Called once per record, in the order the lines arrive. */
  onRecord: (record: RequestRecord) => void;
  /**
   * Wall milliseconds between arrivals, to measure send lag: the k-th arrival (sent or dropped,
   * in file order) is due k intervals after k6's slot 0 (gridStartEpochMs). Without it no lag is
   * recorded.
   */
  intervalWallMs?: number;
}

/** A streaming parser of k6's JSON output; feed it with `write`, finish with `end`. */
export class K6OutputParser {
  readonly counts: K6OutputCounts = {
    sent: 0,
    completed: 0,
    timedOut: 0,
    errored: 0,
    dropped: 0,
    recorded: 0,
    failed: 0,
    inFlight: 0,
    maxInFlightSeen: 0,
    lines: 0,
    malformed: 0,
    afterCutoff: 0,
    unpaired: 0,
    lost: 0,
  };
  /** Wall ms from each request's slot to its `sms_sent` stamp. */
  readonly lag = new LagHistogram();
  /** Epoch ms of the first arrival seen (sent or dropped), if any. */
  firstArrivalEpochMs: number | undefined;
  /**
   * Epoch ms of k6's slot 0, estimated from the first arrivals (undefined before there are enough,
   * or without `intervalWallMs`). k6's first requests are often late by tens of ms while it warms
   * up, and catch up in a burst: timing the load from the first request would overstate its rate.
   */
  gridStartEpochMs: number | undefined;
  /** Latest stamp among our points read so far (also those after the cut-off); -Infinity before any. */
  latestEpochMs = Number.NEGATIVE_INFINITY;

  private readonly mapping: ClockMapping;
  private readonly onRecord: (record: RequestRecord) => void;
  private readonly intervalWallMs: number | undefined;
  private readonly decoder = new StringDecoder('utf8');
  private carry = '';
  private cutoffEpochMs = Number.POSITIVE_INFINITY;
  private arrivals = 0;
  /** req id → epoch ms of its `sms_sent`, for requests not answered yet. */
  private readonly pending = new Map<string, number>();
  /** req ids of requests sent after the cut-off, whose answers are ignored too. */
  private readonly ignored = new Set<string>();
  /** req ids recorded before their `sms_sent` line arrived, so that line is not taken as a new request. */
  private readonly recordedEarly = new Set<string>();
  /** Arrival offsets held until the grid start is known; undefined once it is. */
  private early: Array<{ offsetMs: number; sent: boolean }> | undefined = [];
  private ended = false;

  constructor(options: K6OutputParserOptions) {
    this.mapping = options.mapping;
    this.onRecord = options.onRecord;
    this.intervalWallMs = options.intervalWallMs;
  }

  /** Requests sent at or before the cut-off and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Feeds a chunk of the file; it may end anywhere, even inside a UTF-8 character. */
  write(chunk: Buffer | string): void {
    if (this.ended) return;
    const text = this.carry + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
    this.carry = text.slice(start);
  }

  /**
   * Requests sent after `epochMs` are ignored from now on (and any already waiting for an
   * answer are forgotten): the load was stopped at that moment, and k6 keeps sending until it is
   * told to exit.
   */
  setCutoff(epochMs: number): void {
    this.cutoffEpochMs = epochMs;
    for (const [id, sentEpochMs] of this.pending) {
      if (sentEpochMs <= epochMs) continue;
      this.pending.delete(id);
      this.ignored.add(id);
      this.counts.sent--;
      this.counts.afterCutoff++;
    }
    this.counts.inFlight = this.pending.size;
  }

  /**
   * No more input. A torn last line counts as malformed. A request still waiting for its answer
   * is recorded as failed (status 0) at `endEpochMs`, and counted as lost and errored: k6 was
   * stopped (or died) before it reported the request, and the user behind it got no answer.
   */
  end(endEpochMs: number): void {
    if (this.ended) return;
    this.write(this.decoder.end());
    if (this.carry.trim() !== '') {
      this.counts.lines++;
      this.counts.malformed++;
    }
    this.carry = '';
    this.ended = true;
    this.fixGrid();
    for (const sentEpochMs of this.pending.values()) {
      this.counts.lost++;
      this.counts.errored++;
      this.emit(sentEpochMs, Math.max(sentEpochMs, endEpochMs), 0, '');
    }
    this.pending.clear();
    this.counts.inFlight = 0;
  }

  private line(line: string): void {
    if (line === '') return;
    this.counts.lines++;
    const point = parseK6Line(line);
    if (point === 'other') return;
    if (point === 'malformed') {
      this.counts.malformed++;
      return;
    }
    if (point.epochMs > this.latestEpochMs) this.latestEpochMs = point.epochMs;
    if (point.metric === K6Metrics.sent) this.onSent(point);
    else if (point.metric === K6Metrics.latency) this.onAnswered(point);
    else this.onDropped(point);
  }

  private onSent(point: K6Point): void {
    const id = point.metadata.req;
    if (id === undefined) {
      this.counts.malformed++;
      return;
    }
    if (this.recordedEarly.delete(id)) return;
    if (point.epochMs > this.cutoffEpochMs) {
      this.ignored.add(id);
      this.counts.afterCutoff++;
      return;
    }
    this.arrival(point.epochMs, true);
    this.pending.set(id, point.epochMs);
    const c = this.counts;
    c.sent++;
    c.inFlight = this.pending.size;
    if (c.inFlight > c.maxInFlightSeen) c.maxInFlightSeen = c.inFlight;
  }

  private onAnswered(point: K6Point): void {
    const id = point.metadata.req;
    const statusTag = Number(point.tags.status);
    const errorCode = point.tags.error_code === undefined ? 0 : Number(point.tags.error_code);
    if (!Number.isInteger(statusTag) || statusTag < 0 || !Number.isInteger(errorCode)) {
      this.counts.malformed++;
      return;
    }
    if (id !== undefined && this.ignored.delete(id)) return;
    const doneEpochMs = point.epochMs;
    let sentEpochMs = id === undefined ? undefined : this.pending.get(id);
    const c = this.counts;
    if (sentEpochMs !== undefined) {
      this.pending.delete(id!);
      c.inFlight = this.pending.size;
    } else {
      // Its sms_sent line was torn, or is still to come: the latency k6 measured gives the send time.
      sentEpochMs = doneEpochMs - Math.max(0, point.value);
      if (sentEpochMs > this.cutoffEpochMs) {
        c.afterCutoff++;
        return;
      }
      if (id !== undefined) this.recordedEarly.add(id);
      c.unpaired++;
      c.sent++;
      this.arrival(sentEpochMs, true);
    }
    const status = recordStatus(statusTag, errorCode);
    if (status !== 0) c.completed++;
    else if (errorCode === K6_TIMEOUT_ERROR_CODE) c.timedOut++;
    else c.errored++;
    this.emit(sentEpochMs, doneEpochMs, status, point.tags.version ?? '');
  }

  private onDropped(point: K6Point): void {
    if (point.epochMs > this.cutoffEpochMs) {
      this.counts.afterCutoff++;
      return;
    }
    this.arrival(point.epochMs, false);
    this.counts.dropped++;
    // As the built-in generator records a drop: a failure at its slot, with no latency.
    this.emit(point.epochMs, point.epochMs, 0, '');
  }

  private arrival(epochMs: number, sent: boolean): void {
    this.firstArrivalEpochMs ??= epochMs;
    const k = this.arrivals++;
    if (this.intervalWallMs === undefined) return;
    // k6 never starts a request before its slot, so t_k − k·interval ≥ grid start for every k,
    // with equality for a request sent on time: the smallest over the first few is the grid start.
    const offsetMs = epochMs - k * this.intervalWallMs;
    if (this.early !== undefined) {
      this.early.push({ offsetMs, sent });
      if (this.early.length >= GRID_SAMPLE) this.fixGrid();
      return;
    }
    if (sent) this.lag.record(offsetMs - this.gridStartEpochMs!);
  }

  private fixGrid(): void {
    const early = this.early;
    if (early === undefined || early.length === 0) return;
    this.early = undefined;
    this.gridStartEpochMs = Math.min(...early.map((e) => e.offsetMs));
    for (const e of early) if (e.sent) this.lag.record(e.offsetMs - this.gridStartEpochMs);
  }

  private emit(sentEpochMs: number, doneEpochMs: number, status: number, version: string): void {
    const record: RequestRecord = {
      sentMs: scenarioMsOf(this.mapping, sentEpochMs),
      doneMs: scenarioMsOf(this.mapping, doneEpochMs),
      // Real time, as the built-in generator's: compression speeds up the timeline, not requests.
      latencyMs: doneEpochMs - sentEpochMs,
      status,
      version,
    };
    this.counts.recorded++;
    if (isFailure(record)) this.counts.failed++;
    this.onRecord(record);
  }
}
