import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { namesService, startServiceProxy, type Resolution, type ServiceProxy } from './service-proxy.ts';

/** A server that answers with what it was sent. */
async function echoServer(listen: (server: http.Server) => void): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  await new Promise<void>((resolve) => {
    server.once('listening', resolve);
    listen(server);
  });
  return server;
}

/** One request in absolute form, as curl and Go send it to an http_proxy. */
function viaProxy(
  proxy: ServiceProxy,
  url: string,
  options: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: proxy.port, path: url, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.once('error', reject);
    req.end(options.body);
  });
}

describe('service proxy (the cluster DNS of the local control plane)', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('forwards a request for a Service name to the port or socket file it resolves to, without the proxy headers', async () => {
    const app = await echoServer((s) => s.listen(0, '127.0.0.1'));
    cleanups.push(() => new Promise((r) => app.close(() => r())));
    const dir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-proxy-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const socket = path.join(dir, 'loadtester.sock');
    const loadtester = await echoServer((s) => s.listen(socket));
    cleanups.push(() => new Promise((r) => loadtester.close(() => r())));
    const appPort = (app.address() as AddressInfo).port;
    const resolve = (host: string): Resolution => {
      if (host === 'sms-checker-canary.ns') return { host: '127.0.0.1', port: appPort };
      if (namesService(host, 'flagger-loadtester', 'canary-mttr')) return { socket };
      return undefined;
    };
    const proxy = await startServiceProxy({ resolve });
    cleanups.push(() => proxy.close());

    const smoke = await viaProxy(proxy, 'http://sms-checker-canary.ns:8080/sms?x=1', {
      method: 'POST',
      body: '{"sms":"smoke test"}',
      headers: { 'content-type': 'application/json', 'proxy-connection': 'Keep-Alive' },
    });
    expect(smoke.status).toBe(201);
    const seen = JSON.parse(smoke.body) as {
      method: string;
      url: string;
      headers: Record<string, string>;
      body: string;
    };
    expect(seen).toMatchObject({ method: 'POST', url: '/sms?x=1', body: '{"sms":"smoke test"}' });
    expect(seen.headers.host).toBe('sms-checker-canary.ns:8080');
    expect(seen.headers['proxy-connection']).toBeUndefined();

    const hook = await viaProxy(proxy, 'http://flagger-loadtester.canary-mttr.svc.cluster.local/', { method: 'POST' });
    expect(hook.status).toBe(201);
    expect(JSON.parse(hook.body)).toMatchObject({ method: 'POST', url: '/' });
  });

  it('answers 502 for a name no Service has, 503 for a Service without a ready endpoint, 400 for a request not in absolute form', async () => {
    const proxy = await startServiceProxy({
      resolve: (host) => (host === 'sms-checker-canary.ns' ? { unavailable: 'no ready endpoint' } : undefined),
    });
    cleanups.push(() => proxy.close());
    expect(await viaProxy(proxy, 'http://nowhere.ns/')).toEqual({
      status: 502,
      body: 'service proxy: no Service nowhere.ns',
    });
    expect(await viaProxy(proxy, 'http://sms-checker-canary.ns:8080/sms')).toEqual({
      status: 503,
      body: 'no healthy upstream',
    });
    expect((await viaProxy(proxy, '/sms')).status).toBe(400);
  });

  it('answers 503 when the resolved process does not listen', async () => {
    const gone = await echoServer((s) => s.listen(0, '127.0.0.1'));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const proxy = await startServiceProxy({ resolve: () => ({ host: '127.0.0.1', port }) });
    cleanups.push(() => proxy.close());
    const r = await viaProxy(proxy, 'http://sms-checker-canary.ns:8080/sms');
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/^upstream connect error/);
  });

  it('knows the three DNS names of a Service and no other', () => {
    for (const host of ['lt.ns', 'lt.ns.svc', 'lt.ns.svc.cluster.local'])
      expect(namesService(host, 'lt', 'ns')).toBe(true);
    for (const host of ['lt', 'lt.other', 'x-lt.ns', 'lt.ns.svc.cluster'])
      expect(namesService(host, 'lt', 'ns')).toBe(false);
  });
});
