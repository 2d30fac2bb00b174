import { describe, expect, it } from 'vitest';
import { parseK6Summary, parseReportBenchOutput, parseWrkOutput } from './tool-output.ts';

// Printed by wrk 4.1.0 (Debian) against faulty-app on this machine.
const WRK = `Running 5s test @ http://127.0.0.1:18081/sms
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.92ms    2.34ms  41.40ms   88.47%
    Req/Sec    11.97k     4.29k   21.02k    61.00%
  119475 requests in 5.04s, 21.88MB read
Requests/sec:  23686.31
Transfer/sec:      4.34MB
`;

describe('parseWrkOutput', () => {
  it('reads the totals, the rate and the average latency', () => {
    expect(parseWrkOutput(WRK)).toEqual({
      requests: 119475,
      durationS: 5.04,
      requestsPerSec: 23686.31,
      non2xx: 0,
      socketErrors: 0,
      latencyAvgMs: 2.92,
    });
  });

  it('adds up socket errors and counts non-2xx answers', () => {
    const text = WRK.replace(
      'Requests/sec',
      '  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 17\nRequests/sec',
    ).replace('2.92ms', '756.01us');
    expect(parseWrkOutput(text)).toMatchObject({ socketErrors: 10, non2xx: 17, latencyAvgMs: 0.75601 });
  });

  it('names what is missing when the output is not a wrk report', () => {
    expect(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(/wrk: output has no/);
  });
});

describe('parseK6Summary', () => {
  // The fields of a k6 v1.8 handleSummary() object that the benchmark reads.
  const summary = {
    metrics: {
      iterations: { type: 'counter', values: { count: 14454, rate: 2872.9 } },
      dropped_iterations: { type: 'counter', values: { count: 53, rate: 10.6 } },
      http_req_failed: { type: 'rate', values: { rate: 0, passes: 0, fails: 14454 } },
      vus_max: { type: 'gauge', values: { value: 1000, min: 1000, max: 1000 } },
      http_req_duration: { type: 'trend', values: { avg: 2.6, 'p(99)': 120.9, max: 300 } },
    },
    state: { testRunDurationMs: 5031.27, isStdOutTTY: false, isStdErrTTY: false },
  };

  it('reads iterations, drops, failures, VUs and the p99 latency', () => {
    expect(parseK6Summary(JSON.stringify(summary))).toEqual({
      iterations: 14454,
      dropped: 53,
      failedShare: 0,
      testRunDurationMs: 5031.27,
      vusMax: 1000,
      latencyP99Ms: 120.9,
    });
  });

  it('takes a missing dropped_iterations metric as none dropped (k6 omits metrics it never saw)', () => {
    const { dropped_iterations: _dropped, ...metrics } = summary.metrics;
    expect(parseK6Summary(JSON.stringify({ ...summary, metrics })).dropped).toBe(0);
  });

  it('refuses a summary without the run duration', () => {
    expect(() => parseK6Summary(JSON.stringify({ metrics: summary.metrics }))).toThrow(
      'k6: summary has no state.testRunDurationMs',
    );
  });
});

describe('parseReportBenchOutput', () => {
  it('reads each size and the growth exponent', () => {
    const text = [
      '    10000 records: 0.69 s, peak RSS 180 MiB',
      '   100000 records: 0.91 s, peak RSS 210 MiB',
      '  1000000 records: 1.64 s, peak RSS 430 MiB',
      'growth exponent of wall time (10000 → 1000000 records): 0.19 (1 = linear)',
      '1M records: wall 1.64 s (target < 15 s: pass), peak 430 MiB (target < 1024 MiB: pass)',
    ].join('\n');
    expect(parseReportBenchOutput(text)).toEqual({
      rows: [
        { records: 10000, wallS: 0.69, peakRssMiB: 180 },
        { records: 100000, wallS: 0.91, peakRssMiB: 210 },
        { records: 1000000, wallS: 1.64, peakRssMiB: 430 },
      ],
      exponent: 0.19,
    });
  });

  it('refuses output without any size line', () => {
    expect(() => parseReportBenchOutput('Error: boom')).toThrow(/bench:report: no/);
  });
});
