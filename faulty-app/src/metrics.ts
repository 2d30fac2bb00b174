/**
 * The app's own Prometheus metrics, kept as plain counters and rendered in text exposition
 * format 0.0.4. Hand-written because recording must cost next to nothing per request and the
 * bundle must stay free of dependencies.
 */

export const metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';

/** Upper bounds in seconds; they bracket both a healthy answer (~1 ms) and an 800 ms latency fault. */
export const durationBucketsS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export interface AppMetrics {
  /** Counts one answered request. `path` must come from a small fixed set (it is a label). */
  countRequest(path: string, code: number): void;
  /** Records how long one /sms request took, in seconds. */
  observeSmsDuration(seconds: number): void;
  render(): string;
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function createAppMetrics(buildInfo: { version: string; faultMode: string }): AppMetrics {
  // path -> code -> count. Pre-seeded so the /sms error series exists (at 0) from the first
  // scrape: a rate() over a series that appears only with the first error misses that error.
  const requests = new Map<string, Map<number, number>>([
    [
      '/sms',
      new Map([
        [200, 0],
        [400, 0],
        [500, 0],
      ]),
    ],
  ]);
  const bucketCounts = new Array<number>(durationBucketsS.length).fill(0);
  let durationSum = 0;
  let durationCount = 0;
  const buildInfoLine =
    `app_build_info{version="${escapeLabelValue(buildInfo.version)}",` +
    `fault_mode="${escapeLabelValue(buildInfo.faultMode)}"} 1\n`;

  return {
    countRequest(path, code) {
      let byCode = requests.get(path);
      if (byCode === undefined) {
        byCode = new Map();
        requests.set(path, byCode);
      }
      byCode.set(code, (byCode.get(code) ?? 0) + 1);
    },
    observeSmsDuration(seconds) {
      durationSum += seconds;
      durationCount++;
      for (let i = 0; i < durationBucketsS.length; i++) {
        if (seconds <= durationBucketsS[i]!) {
          bucketCounts[i]!++;
          break;
        }
      }
    },
    render() {
      let out =
        '# HELP app_requests_total Requests answered by faulty-app, by path and HTTP status code.\n' +
        '# TYPE app_requests_total counter\n';
      for (const path of [...requests.keys()].sort()) {
        const byCode = requests.get(path)!;
        for (const code of [...byCode.keys()].sort((a, b) => a - b)) {
          out += `app_requests_total{path="${escapeLabelValue(path)}",code="${code}"} ${byCode.get(code)}\n`;
        }
      }
      out +=
        '# HELP app_request_duration_seconds Time from receiving a /sms request to sending its answer.\n' +
        '# TYPE app_request_duration_seconds histogram\n';
      let cumulative = 0;
      for (let i = 0; i < durationBucketsS.length; i++) {
        cumulative += bucketCounts[i]!;
        out += `app_request_duration_seconds_bucket{le="${durationBucketsS[i]}"} ${cumulative}\n`;
      }
      out += `app_request_duration_seconds_bucket{le="+Inf"} ${durationCount}\n`;
      out += `app_request_duration_seconds_sum ${durationSum}\n`;
      out += `app_request_duration_seconds_count ${durationCount}\n`;
      out +=
        '# HELP app_build_info The running build: its version and the fault it carries. Always 1.\n' +
        '# TYPE app_build_info gauge\n' +
        buildInfoLine;
      return out;
    },
  };
}
