import http from 'node:http';
import type { AddressInfo } from 'node:net';
import createDebug from 'debug';
import { PlatformError } from '../../common/errors.ts';
import type { Endpoint } from '../../mesh/router.ts';

const debug = createDebug('canary-mttr:service-proxy');

/** Where a Service's requests go: a port on the host, or a socket file into a network namespace. */
export type ProxyTarget = Endpoint | { socket: string };

/** What a Service name resolves to: a target, nothing (no such Service), or a Service without a ready endpoint. */
export type Resolution = ProxyTarget | { unavailable: string } | undefined;

export interface ServiceProxy {
  readonly port: number;
  /** The value of http_proxy / HTTP_PROXY for the processes that call Services by name. */
  readonly url: string;
  close(): Promise<void>;
}

/** Headers meant for the proxy itself, not for the Service (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive']);

/**
 * The cluster DNS of a local control plane, as an HTTP forward proxy on 127.0.0.1. Flagger calls
 * its webhooks at `http://flagger-loadtester.<ns>/` and the smoke test's curl posts to
 * `http://<app>-canary.<ns>:8080/sms`: names only a cluster resolves. Both processes get this
 * proxy as http_proxy (curl and Go's net/http honour it; loopback addresses bypass it), and the
 * proxy forwards each request to the process behind the Service that `resolve` names. An unknown
 * name answers 502, a Service without a ready endpoint 503 "no healthy upstream", as Envoy does.
 */
export async function startServiceProxy(options: {
  resolve: (host: string) => Resolution;
  port?: number;
  /** How long an upstream may take to answer, wall ms (default 60 s). */
  upstreamTimeoutMs?: number;
}): Promise<ServiceProxy> {
  const server = http.createServer((req, res) => {
    const answer = (code: number, text: string) => {
      req.resume();
      res.writeHead(code, { 'content-type': 'text/plain' });
      res.end(text);
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      answer(400, `service proxy: ${req.url} is not an absolute http URL; send requests through http_proxy`);
      return;
    }
    if (url.protocol !== 'http:') {
      answer(400, `service proxy: only http:// is proxied, not ${url.protocol}`);
      return;
    }
    const target = options.resolve(url.hostname);
    if (target === undefined) {
      answer(502, `service proxy: no Service ${url.hostname}`);
      return;
    }
    if ('unavailable' in target) {
      answer(503, 'no healthy upstream');
      debug('%s: %s', url.hostname, target.unavailable);
      return;
    }
    const headers = {
      ...Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k))),
      host: url.host,
    };
    const upstream = http.request(
      {
        ...('socket' in target ? { socketPath: target.socket } : { host: target.host, port: target.port }),
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers,
        timeout: options.upstreamTimeoutMs ?? 60_000,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.once('timeout', () => upstream.destroy(new Error('upstream timeout')));
    upstream.once('error', (err) => {
      debug('%s %s: %s', req.method, url.href, err.message);
      if (res.headersSent) res.destroy();
      else answer(503, `upstream connect error or disconnect/reset before headers: ${err.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new PlatformError(`service proxy: cannot listen on 127.0.0.1:${options.port ?? 0}: ${err.message}`)),
    );
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether `host` is a DNS name of Service `name` in `namespace` (`name.ns`, `.svc`, `.svc.cluster.local`). */
export function namesService(host: string, name: string, namespace: string): boolean {
  return [`${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`].includes(host);
}
