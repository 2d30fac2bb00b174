// k6 script for the load-generator capacity benchmark (bench/capacity.ts): a constant arrival
// rate of POST /sms against one faulty-app process, the same bodies the built-in generator sends.
// k6 runs TypeScript itself (esbuild inside k6); tsc checks it against bench/k6-env.d.ts.
//
//   k6 run -e URL=http://127.0.0.1:PORT/sms -e RATE=5000 -e DURATION_S=5 -e SUMMARY=out.json \
//     bench/k6-constant-rate.ts
import http from 'k6/http';

const rate = Number(__ENV.RATE);
const durationS = Number(__ENV.DURATION_S ?? '5');
const url = __ENV.URL ?? '';
const summaryPath = __ENV.SUMMARY ?? '';

// One VU per request in flight. Loopback answers in about a millisecond, so a few dozen VUs cover
// thousands of requests per second; a VU allocated mid-test costs its JS runtime's start-up, so
// enough are allocated up front that a healthy step never allocates (k6 warns and drops otherwise).
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
      // As the built-in generator's step: requests still out when the window ends get a short drain.
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
