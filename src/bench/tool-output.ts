/**
 * Parsers for what the benchmark's outside tools print: wrk's text report, k6's end-of-test
 * summary (handleSummary JSON) and `npm run bench:report`. Each throws an Error naming the tool
 * and the missing field, so a tool upgrade that changes its output fails loudly instead of
 * producing a zero.
 */

export interface WrkResult {
  requests: number;
  durationS: number;
  requestsPerSec: number;
  /** Answers outside 2xx/3xx ("Non-2xx or 3xx responses"). */
  non2xx: number;
  /** connect + read + write + timeout errors ("Socket errors"). */
  socketErrors: number;
  latencyAvgMs: number;
}

function durationToMs(value: number, unit: string): number {
  switch (unit) {
    case 'us':
      return value / 1000;
    case 'ms':
      return value;
    case 's':
      return value * 1000;
    case 'm':
      return value * 60_000;
    default:
      throw new Error(`wrk: unknown duration unit "${unit}"`);
  }
}

export function parseWrkOutput(text: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(text);
  const perSec = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const latency = /Latency\s+([\d.]+)(us|ms|s|m)\b/.exec(text);
  if (!total || !perSec || !latency) {
    throw new Error(
      `wrk: output has no "requests in", "Requests/sec" or "Latency" line: ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    durationS: durationToMs(Number(total[2]), total[3]!) / 1000,
    requestsPerSec: Number(perSec[1]),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: socket ? socket.slice(1, 5).reduce((sum, v) => sum + Number(v), 0) : 0,
    latencyAvgMs: durationToMs(Number(latency[1]), latency[2]!),
  };
}

export interface K6Result {
  /** Iterations (one POST each) that completed. */
  iterations: number;
  /** Iterations the executor could not start for lack of a free VU. */
  dropped: number;
  /** Share of requests k6 counted as failed (non-2xx/3xx or transport error). */
  failedShare: number;
  /** The scenario's duration as k6 ran it, including the graceful stop. */
  testRunDurationMs: number;
  vusMax: number;
  latencyP99Ms: number;
}

interface K6Summary {
  metrics?: Record<string, { values?: Record<string, number> } | undefined>;
  state?: { testRunDurationMs?: number };
}

export function parseK6Summary(json: string): K6Result {
  const data = JSON.parse(json) as K6Summary;
  const metric = (name: string, field: string, required: boolean): number => {
    const value = data.metrics?.[name]?.values?.[field];
    if (value === undefined) {
      if (required) throw new Error(`k6: summary has no metrics.${name}.values.${field}`);
      return 0;
    }
    return value;
  };
  const duration = data.state?.testRunDurationMs;
  if (duration === undefined) throw new Error('k6: summary has no state.testRunDurationMs');
  return {
    // Absent when no iteration completed (or none was dropped): k6 only lists metrics it saw.
    iterations: metric('iterations', 'count', false),
    dropped: metric('dropped_iterations', 'count', false),
    failedShare: metric('http_req_failed', 'rate', false),
    testRunDurationMs: duration,
    vusMax: metric('vus_max', 'max', false),
    latencyP99Ms: metric('http_req_duration', 'p(99)', false),
  };
}

export interface ReportBenchRow {
  records: number;
  wallS: number;
  peakRssMiB: number;
}

export interface ReportBenchResult {
  rows: ReportBenchRow[];
  /** Growth exponent of wall time between the smallest and largest size (1 = linear). */
  exponent: number | undefined;
}

/** Reads the lines bench/report.ts prints (`  1000000 records: 9.87 s, peak RSS 640 MiB`). */
export function parseReportBenchOutput(text: string): ReportBenchResult {
  const rows: ReportBenchRow[] = [];
  for (const m of text.matchAll(/^\s*(\d+) records: ([\d.]+) s, peak RSS ([\d.]+) MiB$/gm)) {
    rows.push({ records: Number(m[1]), wallS: Number(m[2]), peakRssMiB: Number(m[3]) });
  }
  if (rows.length === 0)
    throw new Error(`bench:report: no "N records: T s, peak RSS M MiB" line in ${JSON.stringify(text.slice(0, 200))}`);
  const exponent = /growth exponent of wall time .*: (-?[\d.]+)/.exec(text);
  return { rows, exponent: exponent ? Number(exponent[1]) : undefined };
}
