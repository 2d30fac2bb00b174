import { describe, expect, test } from 'vitest';
import { VirtualClock } from '../common/clock.ts';
import {
  captureClockMapping,
  epochMsOf,
  K6OutputParser,
  parseK6Line,
  parseRfc3339Ms,
  recordStatus,
  scenarioMsOf,
  type ClockMapping,
} from './k6-output.ts';
import type { RequestRecord } from './types.ts';

/** Lines as k6 v1.8.1 wrote them for scenarios/load.k6.ts against faulty-app (two requests). */
const K6_SAMPLE = `${[
  '{"type":"Metric","data":{"name":"sms_sent","type":"counter","contains":"default","thresholds":[],"submetrics":null},"metric":"sms_sent"}',
  '{"metric":"sms_sent","type":"Point","data":{"time":"2026-11-26T07:53:58.439977937Z","value":1,"tags":{},"metadata":{"req":"0"}}}',
  '{"type":"Metric","data":{"name":"http_reqs","type":"counter","contains":"default","thresholds":[],"submetrics":null},"metric":"http_reqs"}',
  '{"metric":"http_reqs","type":"Point","data":{"time":"2026-11-26T07:53:58.447700000Z","value":1,"tags":{"status":"200"},"metadata":{"req":"0"}}}',
  '{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-26T07:53:58.4477Z","value":1.261408,"tags":{"status":"200"},"metadata":{"req":"0"}}}',
  '{"type":"Metric","data":{"name":"sms_latency","type":"trend","contains":"time","thresholds":[],"submetrics":null},"metric":"sms_latency"}',
  '{"metric":"sms_latency","type":"Point","data":{"time":"2026-11-26T07:53:58.447780477Z","value":7.7,"tags":{"status":"200","version":"v7"},"metadata":{"req":"0"}}}',
  '{"metric":"sms_sent","type":"Point","data":{"time":"2026-11-26T07:53:58.45997793Z","value":1,"tags":{},"metadata":{"req":"1"}}}',
  '{"metric":"sms_latency","type":"Point","data":{"time":"2026-11-26T07:53:58.46097793Z","value":1,"tags":{"error_code":"1500","status":"500","version":"v7"},"metadata":{"req":"1"}}}',
  '{"metric":"iterations","type":"Point","data":{"time":"2026-11-26T07:53:58.4611Z","value":1,"tags":{},"metadata":{"req":"1"}}}',
  '{"metric":"vus","type":"Point","data":{"time":"2026-11-26T07:53:59.4Z","value":0,"tags":{}}}',
].join('\n')}\n`;

const T0 = Date.UTC(2026, 10, 26, 7, 53, 58);
const epoch = (msAfterT0: number) => T0 + msAfterT0;

/** Scenario time 1000 at T0 + 400 ms wall, compressed `timeScale` times. */
function mapping(timeScale = 1): ClockMapping {
  return { epochAtStartMs: epoch(400), scenarioAtStartMs: 1_000, timeScale };
}

function parse(chunks: Array<string | Buffer>, map = mapping(), endEpochMs = epoch(10_000)) {
  const records: RequestRecord[] = [];
  const parser = new K6OutputParser({ mapping: map, onRecord: (r) => records.push(r) });
  for (const chunk of chunks) parser.write(chunk);
  parser.end(endEpochMs);
  return { records, parser, counts: parser.counts };
}

function point(metric: string, time: string, value: number, tags: Record<string, string>, req?: string): string {
  const metadata = req === undefined ? {} : { metadata: { req } };
  return JSON.stringify({ metric, type: 'Point', data: { time, value, tags, ...metadata } });
}

/** The RFC 3339 stamp, nanoseconds and all, of `ms` (fractions allowed) after T0. */
function at(ms: number): string {
  const whole = Math.floor(ms);
  const ns = Math.round((ms - whole) * 1e6);
  return new Date(T0 + whole).toISOString().replace('Z', `${String(ns).padStart(6, '0')}Z`);
}

describe('parseRfc3339Ms', () => {
  test('keeps the sub-millisecond part Go writes, with trailing zeros trimmed', () => {
    expect(parseRfc3339Ms('2026-11-26T07:53:58.439977937Z')).toBeCloseTo(T0 + 439.977937, 3);
    expect(parseRfc3339Ms('2026-11-26T07:53:58.43997793Z')).toBeCloseTo(T0 + 439.97793, 3);
    expect(parseRfc3339Ms('2026-11-26T07:53:58.4Z')).toBe(T0 + 400);
    expect(parseRfc3339Ms('2026-11-26T07:53:58Z')).toBe(T0);
  });

  test('honours a zone offset (k6 stamps in the local zone)', () => {
    expect(parseRfc3339Ms('2026-11-26T08:53:58.5+01:00')).toBe(T0 + 500);
    expect(parseRfc3339Ms('2026-11-26T02:23:58.5-05:30')).toBe(T0 + 500);
  });

  test('rejects anything else', () => {
    for (const bad of [
      '',
      '2026-11-26 07:53:58Z',
      '2026-11-26T07:53:58.1234567890Z',
      '2026-11-26T07:53:58',
      '2026-13-26T07:53:58Z',
      'yesterday',
    ]) {
      expect(parseRfc3339Ms(bad), bad).toBeUndefined();
    }
  });
});

describe('recordStatus', () => {
  test('a k6 transport error is status 0; an error code that only restates a 4xx/5xx is not', () => {
    expect(recordStatus(200, 0)).toBe(200);
    expect(recordStatus(500, 1500)).toBe(500);
    expect(recordStatus(404, 1404)).toBe(404);
    expect(recordStatus(0, 1050)).toBe(0); // request timeout
    expect(recordStatus(0, 1212)).toBe(0); // connection refused
    expect(recordStatus(200, 1000)).toBe(0); // a body cut short after the status line
  });
});

describe('parseK6Line', () => {
  test('parses only our Points and skips the rest unparsed', () => {
    const lines = K6_SAMPLE.trim().split('\n');
    expect(parseK6Line(lines[0]!)).toBe('other');
    expect(parseK6Line(lines[3]!)).toBe('other');
    expect(parseK6Line(lines[1]!)).toEqual({
      metric: 'sms_sent',
      epochMs: parseRfc3339Ms('2026-11-26T07:53:58.439977937Z'),
      value: 1,
      tags: {},
      metadata: { req: '0' },
    });
  });

  test('a line that is not one JSON object, or a Point of ours with bad fields, is malformed', () => {
    for (const bad of [
      'k6 says hello',
      '{"metric":"sms_latency","type":"Point","data":{"time":"2026-11-26T07:53:58Z","value":1,',
      '"data":{"time":"2026-11-26T07:53:58Z"}}',
      point('sms_latency', 'not a time', 1, { status: '200' }, '1'),
      '{"metric":"sms_latency","type":"Point","data":{"time":"2026-11-26T07:53:58Z","value":"1","tags":{}}}',
      '{"metric":"sms_latency","type":"Point","data":{"time":"2026-11-26T07:53:58Z","value":1,"tags":{"status":200}}}',
      '{"metric":"sms_latency","type":"Point","data":{"time":"2026-11-26T07:53:58Z","value":1,"tags":{}} }x}',
    ]) {
      expect(parseK6Line(bad), bad).toBe('malformed');
    }
  });
});

describe('K6OutputParser', () => {
  test('turns k6 output into records on the scenario clock, send time from sms_sent', () => {
    const { records, counts } = parse([K6_SAMPLE]);
    expect(records).toHaveLength(2);
    // Wall T0+439.98 is 39.98 ms after the mapping's origin (T0+400), i.e. scenario 1039.98.
    // Doubles resolve today's epoch ms to 0.24 µs, hence 3 decimals.
    expect(records[0]!.sentMs).toBeCloseTo(1_039.977937, 3);
    expect(records[0]!.doneMs).toBeCloseTo(1_047.780477, 3);
    expect(records[0]!.latencyMs).toBeCloseTo(7.80254, 3);
    expect(records[0]).toMatchObject({ status: 200, version: 'v7' });
    expect(records[1]).toMatchObject({ status: 500, version: 'v7' });
    expect(records[1]!.latencyMs).toBeCloseTo(1, 3);
    expect(counts).toMatchObject({
      sent: 2,
      completed: 2,
      failed: 1,
      recorded: 2,
      malformed: 0,
      unpaired: 0,
      lost: 0,
      inFlight: 0,
    });
  });

  test('records have exactly the built-in generator record keys and types', () => {
    const { records } = parse([K6_SAMPLE]);
    for (const r of records) {
      expect(Object.keys(r)).toEqual(['sentMs', 'doneMs', 'latencyMs', 'status', 'version']);
      expect([typeof r.sentMs, typeof r.doneMs, typeof r.latencyMs, typeof r.status, typeof r.version]).toEqual([
        'number',
        'number',
        'number',
        'number',
        'string',
      ]);
    }
  });

  test('with time compression, send and end times are scenario ms and latency stays real', () => {
    const { records } = parse([K6_SAMPLE], mapping(10));
    const r = records[0]!;
    expect(r.sentMs).toBeCloseTo(1_000 + 39.977937 * 10, 2);
    expect(r.latencyMs).toBeCloseTo(7.80254, 3);
    expect(r.doneMs - r.sentMs).toBeCloseTo(r.latencyMs * 10, 6);
  });

  test('chunks may split lines and UTF-8 characters anywhere; the result is the same', () => {
    const withAccent = K6_SAMPLE.replaceAll('"version":"v7"', '"version":"v7-é"');
    const whole = parse([withAccent]);
    const bytes = Buffer.from(withAccent, 'utf8');
    const byteByByte = parse([...bytes].map((b) => Buffer.from([b])));
    expect(byteByByte.records).toEqual(whole.records);
    expect(whole.records[0]!.version).toBe('v7-é');
    // Random cuts, string and Buffer chunks mixed at line boundaries only where strings are used.
    for (let seed = 1; seed <= 20; seed++) {
      const cuts: Buffer[] = [];
      let pos = 0;
      let x = seed;
      while (pos < bytes.length) {
        x = (x * 1103515245 + 12345) % 2147483648;
        const len = 1 + (x % 97);
        cuts.push(bytes.subarray(pos, pos + len));
        pos += len;
      }
      expect(parse(cuts).records).toEqual(whole.records);
    }
    expect(byteByByte.counts.malformed).toBe(0);
  });

  test('malformed and torn lines are skipped and counted; the rest still parses', () => {
    const lines = K6_SAMPLE.trim().split('\n');
    const torn = lines[6]!.slice(0, 60);
    const input = [
      lines[0],
      'garbage',
      lines[1],
      torn,
      '',
      point('sms_latency', 'bad', 1, { status: '200' }, '0'),
      ...lines.slice(6),
    ].join('\n');
    // The final line has no newline: k6 died mid-write.
    const { records, counts } = parse([`${input}\n${lines[1]!.slice(0, 30)}`]);
    expect(counts.malformed).toBe(4);
    expect(records.map((r) => r.status)).toEqual([200, 500]);
  });

  test('a record whose sms_sent line was lost takes its send time from the latency', () => {
    const lines = [
      point('sms_latency', at(500), 20, { status: '200', version: 'v1' }, '5'),
      // The lost line turns up late: it is not a new request.
      point('sms_sent', at(480), 1, {}, '5'),
    ];
    const { records, counts } = parse([`${lines.join('\n')}\n`]);
    expect(records).toHaveLength(1);
    expect(records[0]!.sentMs).toBeCloseTo(1_080, 6);
    expect(records[0]!.doneMs).toBeCloseTo(1_100, 6);
    expect(records[0]!.latencyMs).toBeCloseTo(20, 6);
    expect(counts).toMatchObject({ unpaired: 1, sent: 1, inFlight: 0, lost: 0 });
  });

  test('timeouts and connection errors are status 0 with no version; drops are failures at their slot', () => {
    const lines = [
      point('sms_sent', at(100), 1, {}, '0'),
      point('sms_latency', at(600), 500, { status: '0', version: '', error_code: '1050' }, '0'),
      point('sms_sent', at(120), 1, {}, '1'),
      point('sms_latency', at(121), 0, { status: '0', version: '', error_code: '1212' }, '1'),
      point('dropped_iterations', at(140), 1, {}),
      point('sms_sent', at(160), 1, {}, '2'),
      point('sms_latency', at(170), 10, { status: '200', error_code: '1000' }, '2'),
    ];
    const { records, counts } = parse([`${lines.join('\n')}\n`]);
    expect(records.map((r) => [r.status, r.version])).toEqual([
      [0, ''],
      [0, ''],
      [0, ''],
      [0, ''],
    ]);
    expect(records[2]).toEqual({ sentMs: 740, doneMs: 740, latencyMs: 0, status: 0, version: '' });
    expect(counts).toMatchObject({
      sent: 3,
      timedOut: 1,
      errored: 2,
      dropped: 1,
      completed: 0,
      failed: 4,
      recorded: 4,
    });
  });

  test('after the cut-off, new requests and their answers are ignored; earlier ones still count', () => {
    const records: RequestRecord[] = [];
    const parser = new K6OutputParser({ mapping: mapping(), onRecord: (r) => records.push(r) });
    parser.write([point('sms_sent', at(100), 1, {}, '0'), point('sms_sent', at(200), 1, {}, '1'), ''].join('\n'));
    expect(parser.inFlight).toBe(2);
    // Stopped at +150: request 1 was already read, but was sent after the stop.
    parser.setCutoff(epoch(150));
    expect(parser.inFlight).toBe(1);
    parser.write(
      [
        point('sms_latency', at(300), 200, { status: '200', version: 'v1' }, '0'),
        point('sms_latency', at(210), 10, { status: '200', version: 'v1' }, '1'),
        point('sms_sent', at(250), 1, {}, '2'),
        point('dropped_iterations', at(260), 1, {}),
        point('sms_latency', at(255), 5, { status: '200', version: 'v1' }, '2'),
        point('sms_latency', at(400), 5, { status: '200', version: 'v1' }, '99'),
        '',
      ].join('\n'),
    );
    parser.end(epoch(1_000));
    expect(records).toHaveLength(1);
    expect(records[0]!.sentMs).toBeCloseTo(700, 6);
    expect(parser.counts).toMatchObject({ sent: 1, recorded: 1, afterCutoff: 4, inFlight: 0, lost: 0 });
    expect(parser.latestEpochMs).toBe(epoch(400));
  });

  test('requests never answered by end() are recorded as failed at the end time and counted as lost', () => {
    const { records, counts } = parse([`${point('sms_sent', at(100), 1, {}, '0')}\n`], mapping(), epoch(900));
    expect(records).toEqual([{ sentMs: 700, doneMs: 1_500, latencyMs: 800, status: 0, version: '' }]);
    expect(counts).toMatchObject({ sent: 1, lost: 1, errored: 1, failed: 1, inFlight: 0 });
  });

  test('send lag is measured against k6 arrival grid, found from the first arrivals', () => {
    const records: RequestRecord[] = [];
    const parser = new K6OutputParser({ mapping: mapping(), onRecord: (r) => records.push(r), intervalWallMs: 20 });
    // Slot k is at +1000 + 20k. The first request is 30 ms late (k6 warming up), request 3 was
    // dropped, request 50 is 4 ms late; the others are 0.1 ms after their slot.
    const lines: string[] = [];
    for (let k = 0; k < 100; k++) {
      const late = k === 0 ? 30 : k === 50 ? 4 : 0.1;
      if (k === 3) lines.push(point('dropped_iterations', at(1_000 + 20 * k + 0.05), 1, {}));
      else lines.push(point('sms_sent', at(1_000 + 20 * k + late), 1, {}, String(k)));
    }
    parser.write(`${lines.join('\n')}\n`);
    expect(parser.gridStartEpochMs).toBeCloseTo(epoch(1_000.05), 3);
    expect(parser.firstArrivalEpochMs).toBeCloseTo(epoch(1_030), 3);
    expect(parser.lag.count).toBe(99);
    expect(parser.lag.maxMs).toBeCloseTo(29.95, 3);
    expect(parser.lag.quantile(0.5)).toBeLessThan(0.1);
  });
});

describe('clock mapping', () => {
  test('scenarioMsOf and epochMsOf are inverses, and compress wall time by the time scale', () => {
    const m = mapping(10);
    expect(scenarioMsOf(m, epoch(400))).toBe(1_000);
    expect(scenarioMsOf(m, epoch(500))).toBe(2_000);
    expect(epochMsOf(m, scenarioMsOf(m, epoch(1234.5)))).toBeCloseTo(epoch(1234.5), 6);
  });

  test('captureClockMapping reads the clock just after the wall clock ticks over', () => {
    const clock = new VirtualClock(5_000);
    const ticks = [100, 100, 100, 101];
    const m = captureClockMapping(clock, () => ticks.shift() ?? 101);
    expect(m).toEqual({ epochAtStartMs: 101, scenarioAtStartMs: 5_000, timeScale: 1 });
    // A wall clock that never moves does not hang it.
    expect(captureClockMapping(clock, () => 7).epochAtStartMs).toBe(7);
  });
});
