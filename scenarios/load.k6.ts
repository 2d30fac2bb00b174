/**
 * The user traffic of a run, as a k6 script: an open model (constant arrival rate) of
 * `POST /sms` requests, the same load the built-in generator makes. K6LoadGenerator
 * (src/load/k6-generator.ts) runs it and parses its JSON output into request records; it can also
 * be run by hand (k6 v1 runs TypeScript as is):
 *
 *   k6 run --out json=out.json -e TARGET_URL=http://127.0.0.1:8080/sms -e RATE=50 \
 *     -e DURATION_S=30 scenarios/load.k6.ts
 *
 * Settings (`-e NAME=value`):
 * - TARGET_URL  where every request goes (required), e.g. http://127.0.0.1:8080/sms
 * - RATE        requests per wall second (default 20; fractions are allowed)
 * - DURATION_S  wall seconds of load (default 60)
 * - TIMEOUT_MS  real milliseconds after which a request is abandoned (default 5000)
 * - MAX_VUS     most requests outstanding at once (default 100); a request due while that many
 *               are out is dropped (k6's `dropped_iterations`)
 * - PRE_VUS     VUs made before the start (default: enough for RATE at 1 s latency, at most MAX_VUS)
 * - BODIES      a JSON array of request bodies, sent in rotation (default: four SMS texts)
 * - HEADERS     a JSON object of extra request headers
 *
 * Per request the JSON output holds two Points of our own, tied by the `req` metadata value:
 * - `sms_sent` (value 1) stamped when the request is sent;
 * - `sms_latency` (real ms from send to answer, timeout or error) stamped when it ended, tagged
 *   `status` (0 for a timeout or a connection error), `version` (the `x-app-version` response
 *   header, '' when none) and `error_code` (k6's code, only when there was one).
 * Every point carries `data.time` (RFC 3339, nanoseconds), so the two give send and end time.
 */
// k6's modules exist only inside k6, and this project does not depend on @types/k6. ts-ignore, not
// ts-expect-error: bench/k6-env.d.ts declares 'k6/http' for tsc, the other two are unknown to it.
// @ts-ignore
import exec from 'k6/execution';
// @ts-ignore
import http from 'k6/http';
// @ts-ignore
import { Counter, Trend } from 'k6/metrics';

/** The `-e` values; k6 provides it as a global. */
declare const __ENV: Record<string, string | undefined>;

/** The parts of k6's API this script uses (its modules are untyped here). */
interface K6Response {
  status: number;
  error_code: number;
  headers: Record<string, string | undefined>;
  timings: { blocked: number; connecting: number; tls_handshaking: number; duration: number };
}
interface K6Http {
  post(url: string, body: string, params: { headers: Record<string, string>; timeout: string }): K6Response;
}
interface K6Execution {
  scenario: { iterationInTest: number };
  vu: { metrics: { metadata: Record<string, string | undefined> } };
}
interface K6Metric {
  add(value: number, tags?: Record<string, string>): void;
}

const k6http = http as unknown as K6Http;
const k6exec = exec as K6Execution;

const DEFAULT_BODIES = [
  'Your verification code is 482913',
  'Meeting moved to 3pm, room 4.12',
  'Your parcel is waiting in locker 17',
  'Balance below 5 EUR: top up to keep calling',
].map((sms) => JSON.stringify({ sms }));

function numberSetting(name: string, fallback: number, check: (n: number) => boolean, what: string): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!check(n)) throw new Error(`load.k6.ts: ${name}=${JSON.stringify(raw)} is not ${what}`);
  return n;
}

function jsonSetting<T>(name: string, fallback: T, check: (v: unknown) => v is T, what: string): T {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error(`load.k6.ts: ${name} is not JSON; expected ${what}`);
  }
  if (!check(value)) throw new Error(`load.k6.ts: ${name} is not ${what}`);
  return value;
}

const positive = (n: number) => Number.isFinite(n) && n > 0;
const wholeAtLeastOne = (n: number) => Number.isInteger(n) && n >= 1;
const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string');
const isStringMap = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((s) => typeof s === 'string');

const targetUrl = __ENV.TARGET_URL ?? '';
if (!/^https?:\/\//.test(targetUrl)) {
  throw new Error(
    `load.k6.ts: TARGET_URL=${JSON.stringify(targetUrl)} is not an http URL; set e.g. -e TARGET_URL=http://127.0.0.1:8080/sms`,
  );
}
const rate = numberSetting('RATE', 20, positive, 'a positive number of requests per second');
const durationS = numberSetting('DURATION_S', 60, positive, 'a positive number of seconds');
const timeoutMs = numberSetting('TIMEOUT_MS', 5_000, positive, 'a positive number of milliseconds');
const maxVUs = numberSetting('MAX_VUS', 100, wholeAtLeastOne, 'a whole number of at least 1');
const preVUs = Math.min(
  maxVUs,
  numberSetting('PRE_VUS', Math.ceil(rate), wholeAtLeastOne, 'a whole number of at least 1'),
);
const bodies = jsonSetting('BODIES', DEFAULT_BODIES, isStringList, 'a non-empty array of strings');
const headers: Record<string, string> = {
  'content-type': 'application/json',
  ...jsonSetting('HEADERS', {}, isStringMap, 'an object of string values'),
};

/**
 * k6 takes a whole number of iterations per time unit, so a fractional rate is given per 10^k
 * seconds: 33.3 req/s is 333 per 10 s, which k6 spreads evenly (one every 30.03 ms), not as bursts.
 */
function arrivalRate(perSecond: number): { rate: number; timeUnit: string } {
  let unitS = 1;
  while (unitS < 1_000_000 && Math.abs(perSecond * unitS - Math.round(perSecond * unitS)) > 1e-9 * perSecond * unitS) {
    unitS *= 10;
  }
  return { rate: Math.round(perSecond * unitS), timeUnit: `${unitS}s` };
}

export const options = {
  scenarios: {
    sms: {
      executor: 'constant-arrival-rate',
      ...arrivalRate(rate),
      duration: `${durationS}s`,
      preAllocatedVUs: preVUs,
      maxVUs,
      // Requests still out when the duration ends get their timeout to finish, so each is recorded.
      gracefulStop: `${Math.ceil(timeoutMs / 1000) + 1}s`,
    },
  },
  // The version header is all we need from a response.
  discardResponseBodies: true,
  // Fewer tags make every line of the JSON output shorter; our own metrics carry what matters.
  systemTags: ['status', 'error_code'],
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
};

const sent = new Counter('sms_sent') as K6Metric;
const latency = new Trend('sms_latency', true) as K6Metric;

export default function (): void {
  const startedAt = Date.now();
  const id = k6exec.scenario.iterationInTest;
  // Metadata, not a tag: a tag with a value per request would make a time series per request.
  k6exec.vu.metrics.metadata.req = String(id);
  sent.add(1);
  const res = k6http.post(targetUrl, bodies[id % bodies.length]!, { headers, timeout: `${timeoutMs}ms` });
  const t = res.timings;
  // k6's timings are sub-millisecond; a connection error has none, so the coarse clock stands in.
  const tookMs = t.duration > 0 ? t.blocked + t.connecting + t.tls_handshaking + t.duration : Date.now() - startedAt;
  const tags: Record<string, string> = { status: String(res.status), version: res.headers['X-App-Version'] ?? '' };
  if (res.error_code !== 0) tags.error_code = String(res.error_code);
  latency.add(tookMs, tags);
}
