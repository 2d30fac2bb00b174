/**
 * startServer in-process: HTTP behaviour, metrics and the fault logic with a fake clock.
 * process.test.ts runs the same app as real processes.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAppConfig, type AppConfig } from './config.ts';
import { startServer, type RunningApp, type StartServerOptions } from './server.ts';
import { httpRequest, parsePrometheusText, postSms, sampleValue } from './test-support.ts';

const running: RunningApp[] = [];
const agents: http.Agent[] = [];

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.destroy();
  await Promise.all(running.splice(0).map((app) => app.close()));
});

async function start(env: Record<string, string> = {}, options: StartServerOptions = {}): Promise<RunningApp> {
  const config: AppConfig = parseAppConfig({ PORT: '0', HOST: '127.0.0.1', ...env });
  const app = await startServer(config, options);
  running.push(app);
  return app;
}

function keepAliveAgent(): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  agents.push(agent);
  return agent;
}

describe('startServer', () => {
  it('classifies an SMS', async () => {
    const app = await start({ APP_VERSION: 'v5' });
    const spam = await postSms(app.port, 'WINNER! Claim your £1000 cash prize now, call 09061234567');
    expect(spam).toMatchObject({ status: 200, body: '{"result":"spam"}' });
    expect(spam.headers['content-type']).toBe('application/json');
    expect(spam.headers['x-app-version']).toBe('v5');
    const ham = await postSms(app.port, 'See you at lunch tomorrow?');
    expect(ham).toMatchObject({ status: 200, body: '{"result":"ham"}' });
  });

  it('ignores the query string and the request content type', async () => {
    const app = await start();
    const answer = await httpRequest(app.port, 'POST', '/sms?source=smoke', {
      body: '{"sms":"hello mum"}',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(answer).toMatchObject({ status: 200, body: '{"result":"ham"}' });
  });

  it.each([
    ['not json', '{"error":"request body is not valid JSON; send {\\"sms\\":\\"<text>\\"}"}'],
    ['', '{"error":"request body is not valid JSON; send {\\"sms\\":\\"<text>\\"}"}'],
    ['{}', '{"error":"field \\"sms\\" must be a string; send {\\"sms\\":\\"<text>\\"}"}'],
    ['null', '{"error":"field \\"sms\\" must be a string; send {\\"sms\\":\\"<text>\\"}"}'],
    ['{"sms":42}', '{"error":"field \\"sms\\" must be a string; send {\\"sms\\":\\"<text>\\"}"}'],
    ['["sms"]', '{"error":"field \\"sms\\" must be a string; send {\\"sms\\":\\"<text>\\"}"}'],
  ])('answers 400 with a JSON error for body %j', async (body, expected) => {
    const app = await start({ APP_VERSION: 'v2' });
    const answer = await httpRequest(app.port, 'POST', '/sms', { body });
    expect(answer.status).toBe(400);
    expect(answer.body).toBe(expected);
    expect(JSON.parse(answer.body)).toEqual({ error: expect.any(String) });
    expect(answer.headers['x-app-version']).toBe('v2');
  });

  it('refuses bodies over 64 KiB, declared or chunked', async () => {
    const app = await start();
    const big = JSON.stringify({ sms: 'x'.repeat(70_000) });
    const declared = await httpRequest(app.port, 'POST', '/sms', { body: big });
    expect(declared.status).toBe(413);
    expect(declared.headers['x-app-version']).toBe('v1');
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: app.port, method: 'POST', path: '/sms', agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(10_000));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  it('answers health, readiness, 404 and 405, each with x-app-version', async () => {
    const app = await start({ APP_VERSION: 'v3' });
    const cases: Array<[string, string, number, string | undefined]> = [
      ['GET', '/healthz', 200, 'ok'],
      ['GET', '/readyz', 200, 'ready'],
      ['HEAD', '/healthz', 200, ''],
      ['GET', '/nope', 404, undefined],
      ['GET', '/', 404, undefined],
      ['GET', '/sms', 405, undefined],
      ['POST', '/healthz', 405, undefined],
      ['DELETE', '/metrics', 405, undefined],
    ];
    for (const [method, path, status, body] of cases) {
      const answer = await httpRequest(app.port, method, path);
      expect(answer.status, `${method} ${path}`).toBe(status);
      expect(answer.headers['x-app-version'], `${method} ${path}`).toBe('v3');
      if (body !== undefined) expect(answer.body).toBe(body);
    }
    expect((await httpRequest(app.port, 'GET', '/sms')).headers.allow).toBe('POST');
  });

  it('answers a request the HTTP parser rejects with 400 and x-app-version', async () => {
    const app = await start({ APP_VERSION: 'v4' });
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(app.port, '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      let data = '';
      socket.setEncoding('utf8').on('data', (d: string) => (data += d));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(raw).toContain('\r\nx-app-version: v4\r\n');
  });

  it('keeps connections alive', async () => {
    const app = await start();
    const agent = keepAliveAgent();
    const sockets = new Set<unknown>();
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: app.port, method: 'POST', path: '/sms', agent }, (res) => {
          sockets.add(res.socket);
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end('{"sms":"hi"}');
      });
    }
    expect(sockets.size).toBe(1);
  });
});

describe('faults in-process', () => {
  it('starts the fault only after the onset, on /sms only', async () => {
    let nowMs = 1_000;
    const app = await start({ FAULT_MODE: 'http500', FAULT_ONSET_S: '2.5' }, { now: () => nowMs });
    expect((await postSms(app.port, 'hi')).status).toBe(200);
    nowMs += 2_499;
    expect((await postSms(app.port, 'hi')).status).toBe(200);
    nowMs += 1;
    const failed = await postSms(app.port, 'hi');
    expect(failed).toMatchObject({ status: 500, body: '{"error":"injected fault"}' });
    expect(failed.headers['x-app-version']).toBe('v1');
    // A broken build fails whatever the body says.
    expect((await httpRequest(app.port, 'POST', '/sms', { body: 'garbage' })).status).toBe(500);
    expect((await httpRequest(app.port, 'GET', '/healthz')).status).toBe(200);
    expect((await httpRequest(app.port, 'GET', '/readyz')).status).toBe(200);
  });

  it('draws errors from FAULT_SEED: same seed, same failures', async () => {
    const pattern = async (seed: string) => {
      const app = await start({ FAULT_MODE: 'http500', FAULT_ERROR_RATE: '0.5', FAULT_SEED: seed });
      const agent = keepAliveAgent();
      let out = '';
      for (let i = 0; i < 64; i++) out += (await postSms(app.port, 'hi', agent)).status === 500 ? 'x' : '.';
      return out;
    };
    const a = await pattern('7');
    expect(await pattern('7')).toBe(a);
    expect(await pattern('8')).not.toBe(a);
    expect(a).toContain('x');
    expect(a).toContain('.');
  });

  it('never fails with FAULT_ERROR_RATE=0', async () => {
    const app = await start({ FAULT_MODE: 'http500', FAULT_ERROR_RATE: '0' });
    const agent = keepAliveAgent();
    for (let i = 0; i < 50; i++) expect((await postSms(app.port, 'hi', agent)).status).toBe(200);
  });

  it('adds latency to /sms only', async () => {
    const app = await start({ FAULT_MODE: 'latency', FAULT_LATENCY_MS: '150' });
    const slow = await postSms(app.port, 'hi');
    expect(slow.status).toBe(200);
    expect(slow.durationMs).toBeGreaterThanOrEqual(150);
    const health = await httpRequest(app.port, 'GET', '/healthz');
    expect(health.durationMs).toBeLessThan(150);
  });

  it('in crash mode is never ready, then drops everything without exiting the caller', async () => {
    let crashed = 0;
    const app = await start({ FAULT_MODE: 'crash', CRASH_AFTER_MS: '200' });
    expect((await httpRequest(app.port, 'GET', '/readyz')).status).toBe(503);
    expect((await httpRequest(app.port, 'GET', '/healthz')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    await expect(httpRequest(app.port, 'GET', '/healthz')).rejects.toThrow(/ECONNREFUSED/);
    const withHook = await start({ FAULT_MODE: 'crash', CRASH_AFTER_MS: '50' }, { onCrash: () => crashed++ });
    await new Promise((r) => setTimeout(r, 200));
    expect(crashed).toBe(1);
    await withHook.close();
  });
});

describe('metrics in-process', () => {
  it('counts what was answered, in strict exposition format', async () => {
    const app = await start({ APP_VERSION: 'v8', FAULT_MODE: 'latency', FAULT_LATENCY_MS: '0' });
    const agent = keepAliveAgent();
    for (let i = 0; i < 7; i++) await postSms(app.port, 'hello', agent);
    for (let i = 0; i < 2; i++) await httpRequest(app.port, 'POST', '/sms', { body: '{', agent });
    await httpRequest(app.port, 'GET', '/sms', { agent });
    await httpRequest(app.port, 'GET', '/missing', { agent });
    await httpRequest(app.port, 'GET', '/healthz', { agent });

    const first = await httpRequest(app.port, 'GET', '/metrics', { agent });
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(first.headers['x-app-version']).toBe('v8');
    const m = parsePrometheusText(first.body);
    expect(m.get('app_requests_total')?.type).toBe('counter');
    expect(m.get('app_request_duration_seconds')?.type).toBe('histogram');
    expect(m.get('app_build_info')?.type).toBe('gauge');
    const requests = (path: string, code: string) =>
      sampleValue(m, 'app_requests_total', 'app_requests_total', { path, code });
    expect(requests('/sms', '200')).toBe(7);
    expect(requests('/sms', '400')).toBe(2);
    expect(requests('/sms', '405')).toBe(1);
    expect(requests('/sms', '500')).toBe(0);
    expect(requests('other', '404')).toBe(1);
    expect(requests('/healthz', '200')).toBe(1);
    // A scrape is counted once answered, so it is not in its own output.
    expect(requests('/metrics', '200')).toBeUndefined();
    expect(sampleValue(m, 'app_request_duration_seconds', 'app_request_duration_seconds_count')).toBe(10);
    expect(sampleValue(m, 'app_build_info', 'app_build_info', { version: 'v8', fault_mode: 'latency' })).toBe(1);

    const second = parsePrometheusText((await httpRequest(app.port, 'GET', '/metrics', { agent })).body);
    expect(sampleValue(second, 'app_requests_total', 'app_requests_total', { path: '/metrics', code: '200' })).toBe(1);
  });

  it('puts slow answers in the high buckets', async () => {
    const app = await start({ FAULT_MODE: 'latency', FAULT_LATENCY_MS: '120' });
    await postSms(app.port, 'hi');
    const m = parsePrometheusText((await httpRequest(app.port, 'GET', '/metrics')).body);
    const bucket = (le: string) =>
      sampleValue(m, 'app_request_duration_seconds', 'app_request_duration_seconds_bucket', { le });
    expect(bucket('0.1')).toBe(0);
    expect(bucket('0.25')).toBe(1);
    expect(sampleValue(m, 'app_request_duration_seconds', 'app_request_duration_seconds_sum')).toBeGreaterThanOrEqual(
      0.12,
    );
  });
});

describe('close', () => {
  it('is quick with idle keep-alive sockets and in-flight delays, and safe to call twice', async () => {
    const app = await start({ FAULT_MODE: 'latency', FAULT_LATENCY_MS: '10000' });
    const agent = keepAliveAgent();
    await httpRequest(app.port, 'GET', '/healthz', { agent });
    const inFlight = postSms(app.port, 'hi').catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    const closing = app.close();
    expect(app.close()).toBe(closing);
    await closing;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await inFlight).toBeInstanceOf(Error);
    await expect(httpRequest(app.port, 'GET', '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('is what await using calls', async () => {
    let port = 0;
    {
      await using app = await startServer(parseAppConfig({ PORT: '0', HOST: '127.0.0.1' }));
      port = app.port;
      expect((await httpRequest(port, 'GET', '/healthz')).status).toBe(200);
    }
    await expect(httpRequest(port, 'GET', '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('rejects when the port is taken', async () => {
    const app = await start();
    await expect(startServer(parseAppConfig({ PORT: String(app.port), HOST: '127.0.0.1' }))).rejects.toThrow(
      /EADDRINUSE/,
    );
  });
});
