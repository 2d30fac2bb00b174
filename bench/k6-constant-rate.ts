// k6 script for the load-generator capacity benchmark (bench/capacity.ts): a constant arrival
// rate of POST /sms against one faulty-app process, the same bodies the built-in generator sends.
// k6 runs TypeScript itself (esbuild inside k6); tsc checks it against bench/k6-env.d.ts.
//
//   URL=http://127.0.0.1:PORT/sms RATE=5000 DURATION_S=5 SUMMARY=out.json k6 run \
//     bench/k6-constant-rate.ts
import http from 'k6/http';

const rate = Number(__ENV.RATE);
const durationS = Number(__ENV.DURATION_S ?? '5');
const url = __ENV.URL ?? '';
const summaryPath = __ENV.SUMMARY ?? '';

// One VU per request in flight. The benchmark sets VUS = MAX_VUS = the built-in generator's
// maxInFlight, so both tools may have as many requests outstanding, and every VU is allocated up
// front (a VU allocated mid-test costs its JS runtime's start-up, and k6 drops iterations meanwhile).
const preAllocatedVUs = Number(__ENV.VUS ?? Math.max(100, Math.ceil(rate / 10)));

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'p(99)', 'max'],
  scenarios: {
    capacity: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: `${durationS}s`,
      preAllocatedVUs,
      maxVUs: Number(__ENV.MAX_VUS ?? preAllocatedVUs * 4),
      // The benchmark passes 0s: requests still out when the window closes are not counted, as
      // the built-in step counts only answers completed inside its window.
      gracefulStop: __ENV.GRACEFUL_STOP ?? '2s',
    },
  },
};

// The built-in generator's DEFAULT_BODIES (src/load/builtin-generator.ts), in the same rotation.
const bodies = [
  'Your verification code is 482913',
  'Meeting moved to 3pm, room 4.12',
  'Your parcel is waiting in locker 17',
  'Balance below 5 EUR: top up to keep calling',
].map((sms) => JSON.stringify({ sms }));
const params = { headers: { 'content-type': 'application/json' }, timeout: '2s' };
let next = 0;

export default function (): void {
  http.post(url, bodies[next]!, params);
  next = (next + 1) % bodies.length;
}

// The whole end-of-test summary as JSON, read by bench/capacity.ts; nothing on stdout.
export function handleSummary(data: unknown): Record<string, string> {
  return summaryPath === '' ? {} : { [summaryPath]: JSON.stringify(data) };
}
