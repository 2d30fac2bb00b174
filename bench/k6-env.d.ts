// The few k6 APIs bench/k6-constant-rate.ts uses, so `tsc --noEmit` checks that script without
// the k6 type package (k6 itself is a pinned binary from `npm run tools:install`, not an npm
// dependency).
declare module 'k6/http' {
  interface Params {
    headers?: Record<string, string>;
    timeout?: string;
  }
  interface Response {
    status: number;
  }
  const http: {
    post(url: string, body: string, params?: Params): Response;
  };
  export default http;
}

/** `k6 run -e NAME=value` variables. */
declare const __ENV: Record<string, string | undefined>;
