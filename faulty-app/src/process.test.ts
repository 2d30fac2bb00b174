/**
 * faulty-app as the harness runs it: a real process (the esbuild bundle, and once the TypeScript
 * source through tsx) on 127.0.0.1, observed through stdout, stderr, exit codes and HTTP.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../build.ts';
import {
  appArgs,
  httpRequest,
  killAllApps,
  parsePrometheusText,
  postSms,
  projectRoot,
  runAppToExit,
  sampleValue,
  startApp,
  type HttpAnswer,
} from './test-support.ts';

let tempDir = '';
let bundleArgs: string[] = [];
const agents: http.Agent[] = [];

beforeAll(async () => {
  tempDir = mkdtempSync(path.join(os.tmpdir(), 'faulty-app-test-'));
  bundleArgs = appArgs({ bundle: await buildApp(path.join(tempDir, 'server.mjs')) });
});

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.destroy();
  await killAllApps();
});

afterAll(() => {
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
});

function keepAliveAgent(maxSockets = 16): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  agents.push(agent);
  return agent;
}

/** Sends `count` POST /sms requests, `concurrency` at a time, and returns the answers. */
async function sendSms(port: number, count: number, concurrency = 16): Promise<HttpAnswer[]> {
  const agent = keepAliveAgent(concurrency);
  const answers: HttpAnswer[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      answers.push(await postSms(port, 'Free entry! Text WIN to 80086 now', agent));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('faulty-app process (bundle)', () => {
  it('prints exactly one JSON listening line and serves /sms', async () => {
    await using app = await startApp(bundleArgs, { APP_VERSION: 'v3' });
    expect(app.listeningLine).toMatch(/^\{"event":"listening","port":[1-9]\d*,"version":"v3","pid":[1-9]\d*\}$/);
    expect(app.listening).toEqual({ event: 'listening', port: app.port, version: 'v3', pid: app.child.pid });

    const spam = await postSms(app.port, 'WINNER!! Claim your £900 prize now, call 09061701461');
    expect(spam).toMatchObject({ status: 200, body: '{"result":"spam"}' });
    const ham = await postSms(app.port, 'Are we still on for lunch tomorrow?');
    expect(ham).toMatchObject({ status: 200, body: '{"result":"ham"}' });
    await sendSms(app.port, 50);
    // No per-request logging: the listening line stays the only output.
    expect(app.stdout()).toBe(`${app.listeningLine}\n`);
    expect(app.stderr()).toBe('');
  });

  it('puts x-app-version on every response', async () => {
    await using app = await startApp(bundleArgs, { APP_VERSION: 'v2.0-rc_1' });
    const answers = [
      await postSms(app.port, 'hi'),
      await httpRequest(app.port, 'POST', '/sms', { body: '{bad' }),
      await httpRequest(app.port, 'GET', '/sms'),
      await httpRequest(app.port, 'GET', '/no-such-path'),
      await httpRequest(app.port, 'GET', '/healthz'),
      await httpRequest(app.port, 'GET', '/readyz'),
      await httpRequest(app.port, 'GET', '/metrics'),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 400, 405, 404, 200, 200, 200]);
    for (const answer of answers) expect(answer.headers['x-app-version']).toBe('v2.0-rc_1');
  });

  it('with FAULT_MODE=http500 and rate 1 answers 500 every time', async () => {
    await using app = await startApp(bundleArgs, { FAULT_MODE: 'http500', FAULT_ERROR_RATE: '1' });
    const answers = await sendSms(app.port, 200);
    expect(answers).toHaveLength(200);
    for (const answer of answers) {
      expect(answer.status).toBe(500);
      expect(answer.body).toBe('{"error":"injected fault"}');
      expect(answer.headers['x-app-version']).toBe('v1');
    }
    expect((await httpRequest(app.port, 'GET', '/healthz')).status).toBe(200);
    expect((await httpRequest(app.port, 'GET', '/readyz')).status).toBe(200);
  });

  it('with rate 0.3 fails a binomially plausible share of 1000 requests, the same for the same seed', async () => {
    const failures = async (seed: string) => {
      await using app = await startApp(bundleArgs, {
        FAULT_MODE: 'http500',
        FAULT_ERROR_RATE: '0.3',
        FAULT_SEED: seed,
      });
      const answers = await sendSms(app.port, 1000);
      expect(answers.every((a) => a.status === 200 || a.status === 500)).toBe(true);
      return answers.filter((a) => a.status === 500).length;
    };
    const n = 1000;
    const p = 0.3;
    const sd = Math.sqrt(n * p * (1 - p)); // ≈ 14.5
    const failed = await failures('11');
    // ±5 standard deviations: a correct implementation falls outside with probability < 1e-6.
    expect(failed).toBeGreaterThanOrEqual(Math.floor(n * p - 5 * sd));
    expect(failed).toBeLessThanOrEqual(Math.ceil(n * p + 5 * sd));
    // Every request draws once, so the count over 1000 draws depends on the seed only.
    expect(await failures('11')).toBe(failed);
  });

  it('starts the fault FAULT_ONSET_S after start', async () => {
    await using app = await startApp(bundleArgs, { FAULT_MODE: 'http500', FAULT_ONSET_S: '1' });
    const listenedAt = performance.now();
    const early = await sendSms(app.port, 20, 4);
    // The listening line comes after the start the onset counts from, so these are all early.
    expect(performance.now() - listenedAt).toBeLessThan(1000);
    expect(early.map((a) => a.status)).toEqual(Array(20).fill(200));
    await sleep(1100 - (performance.now() - listenedAt));
    const late = await sendSms(app.port, 20, 4);
    expect(late.map((a) => a.status)).toEqual(Array(20).fill(500));
  });

  it('with FAULT_MODE=latency adds at least FAULT_LATENCY_MS to /sms', async () => {
    await using app = await startApp(bundleArgs, { FAULT_MODE: 'latency', FAULT_LATENCY_MS: '300' });
    const answers = await Promise.all([
      postSms(app.port, 'hi'),
      postSms(app.port, 'win cash now'),
      postSms(app.port, 'ok'),
    ]);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.durationMs).toBeGreaterThanOrEqual(300);
    }
    expect((await httpRequest(app.port, 'GET', '/healthz')).durationMs).toBeLessThan(300);
    const m = parsePrometheusText((await httpRequest(app.port, 'GET', '/metrics')).body);
    expect(sampleValue(m, 'app_request_duration_seconds', 'app_request_duration_seconds_bucket', { le: '0.25' })).toBe(
      0,
    );
    expect(sampleValue(m, 'app_request_duration_seconds', 'app_request_duration_seconds_count')).toBe(3);
  });

  it('with FAULT_MODE=crash is never ready and exits with code 1', async () => {
    const app = await startApp(bundleArgs, { FAULT_MODE: 'crash', CRASH_AFTER_MS: '500' });
    const listenedAt = performance.now();
    const readiness: number[] = [];
    let exited = false;
    void app.exited.then(() => (exited = true));
    while (!exited && performance.now() - listenedAt < 5000) {
      const status = await httpRequest(app.port, 'GET', '/readyz', { timeoutMs: 1000 }).then(
        (a) => a.status,
        () => 0,
      );
      if (status !== 0) readiness.push(status);
      await sleep(20);
    }
    const exit = await app.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    expect(readiness.length).toBeGreaterThan(3);
    expect(readiness.every((s) => s === 503)).toBe(true);
    expect(app.stderr()).toBe('faulty-app: FAULT_MODE=crash: crashing 500 ms after start\n');
  });

  it.each([
    [
      { FAULT_ERROR_RATE: '1.5' },
      'faulty-app: FAULT_ERROR_RATE="1.5" is not a number between 0 and 1; set it to a share such as 0.05\n',
    ],
    [{ FAULT_MODE: 'boom' }, 'faulty-app: FAULT_MODE="boom" is not one of none, http500, latency, crash\n'],
    [
      { FAULT_RATE: '0.05' },
      'faulty-app: FAULT_RATE is not a known setting; known: FAULT_MODE, FAULT_ERROR_RATE, FAULT_LATENCY_MS, FAULT_ONSET_S, FAULT_SEED\n',
    ],
  ])('exits 2 on %j with one line on stderr and no stack', async (env, expected) => {
    const result = await runAppToExit(bundleArgs, env);
    expect(result).toEqual({ code: 2, signal: null, stdout: '', stderr: expected });
  });

  it('exits 1 with one line when the port is taken', async () => {
    await using first = await startApp(bundleArgs);
    const result = await runAppToExit(bundleArgs, { PORT: String(first.port) });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      new RegExp(
        `^faulty-app: cannot listen on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE.*; set PORT to a free port, or 0 for any\\n$`,
      ),
    );
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'exits 0 within 2 s of %s when the grace period is short, with an idle keep-alive connection and a request in flight',
    async (signal) => {
      const app = await startApp(bundleArgs, {
        FAULT_MODE: 'latency',
        FAULT_LATENCY_MS: '30000',
        SHUTDOWN_GRACE_MS: '500',
      });
      await httpRequest(app.port, 'GET', '/healthz', { agent: keepAliveAgent() });
      const inFlight = postSms(app.port, 'hi').catch((err: Error) => err);
      await sleep(50);
      const t0 = performance.now();
      app.child.kill(signal);
      const exit = await Promise.race([app.exited, sleep(2000).then(() => 'too slow' as const)]);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(await inFlight).toBeInstanceOf(Error);
    },
  );

  it('lets a request in flight finish within the shutdown grace period on SIGTERM', async () => {
    const app = await startApp(bundleArgs, { FAULT_MODE: 'latency', FAULT_LATENCY_MS: '800' });
    const inFlight = postSms(app.port, 'hi');
    await sleep(50);
    app.child.kill('SIGTERM');
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.durationMs).toBeGreaterThanOrEqual(790);
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('serves /metrics in Prometheus text format with counters matching the requests sent', async () => {
    await using app = await startApp(bundleArgs, {
      APP_VERSION: 'v6',
      FAULT_MODE: 'http500',
      FAULT_ERROR_RATE: '0.25',
    });
    const answers = await sendSms(app.port, 120);
    for (let i = 0; i < 3; i++) await httpRequest(app.port, 'POST', '/sms', { body: 'nope' });
    for (let i = 0; i < 4; i++) await httpRequest(app.port, 'GET', '/readyz');
    await httpRequest(app.port, 'GET', '/favicon.ico');

    const scrape = await httpRequest(app.port, 'GET', '/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m = parsePrometheusText(scrape.body);
    for (const name of ['app_requests_total', 'app_request_duration_seconds', 'app_build_info']) {
      expect(m.get(name)?.help, name).toBeTruthy();
    }
    const count = (p: string, code: string) =>
      sampleValue(m, 'app_requests_total', 'app_requests_total', { path: p, code });
    const ok = answers.filter((a) => a.status === 200).length;
    const failedSent = answers.filter((a) => a.status === 500).length;
    // 'nope' is not JSON, but with the fault active some of those three drew a 500 instead.
    const total500 = count('/sms', '500')!;
    const total400 = count('/sms', '400')!;
    expect(count('/sms', '200')).toBe(ok);
    expect(total500 + total400).toBe(failedSent + 3);
    expect(total500).toBeGreaterThanOrEqual(failedSent);
    expect(count('/readyz', '200')).toBe(4);
    expect(count('other', '404')).toBe(1);
    expect(sampleValue(m, 'app_request_duration_seconds', 'app_request_duration_seconds_count')).toBe(123);
    expect(sampleValue(m, 'app_build_info', 'app_build_info', { version: 'v6', fault_mode: 'http500' })).toBe(1);

    const again = parsePrometheusText((await httpRequest(app.port, 'GET', '/metrics')).body);
    expect(sampleValue(again, 'app_requests_total', 'app_requests_total', { path: '/metrics', code: '200' })).toBe(1);
  });
});

describe('faulty-app process (tsx)', () => {
  it('starts from the TypeScript source, serves, and stops on SIGTERM', async () => {
    const app = await startApp(appArgs('tsx'), { APP_VERSION: 'v-tsx' });
    expect(app.listeningLine).toMatch(/^\{"event":"listening","port":[1-9]\d*,"version":"v-tsx","pid":[1-9]\d*\}$/);
    const answer = await postSms(app.port, 'URGENT! You won a free prize, txt CLAIM to 81010');
    expect(answer).toMatchObject({ status: 200, body: '{"result":"spam"}' });
    expect(answer.headers['x-app-version']).toBe('v-tsx');
    app.child.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 2 on an invalid setting with the same one line', async () => {
    const result = await runAppToExit(appArgs('tsx'), { FAULT_MODE: 'boom' });
    expect(result).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: 'faulty-app: FAULT_MODE="boom" is not one of none, http500, latency, crash\n',
    });
  });
});

describe('build.ts as a script', () => {
  const buildScript = fileURLToPath(new URL('../build.ts', import.meta.url));

  it('writes the bundle to the path given', () => {
    const out = path.join(tempDir, 'nested', 'app.mjs');
    const result = spawnSync(process.execPath, ['--import', 'tsx', buildScript, out], {
      cwd: projectRoot,
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${out}\n`);
    expect(existsSync(out)).toBe(true);
  });

  it('exits 2 without an output path', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', buildScript], {
      cwd: projectRoot,
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      'faulty-app/build.ts: no output file given; usage: node --import tsx faulty-app/build.ts <out.mjs>\n',
    );
  });
});
