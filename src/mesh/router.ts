import http from 'node:http';
import type { AddressInfo } from 'node:net';
import createDebug from 'debug';
import { sleepWall, type Clock } from '../common/clock.ts';
import { PlatformError } from '../common/errors.ts';
import { createRandom, type Random } from '../common/random.ts';
import type { MetricsStore } from '../metrics/store.ts';

const debug = createDebug('canary-mttr:mesh');

/** One weighted destination of the apex route, like an Istio VirtualService route entry. */
export interface RouteDestination {
  /** Workload name, the `destination_workload` label of its metrics. */
  workload: string;
  /** Percent of requests, 0..100; the weights of a route add up to 100. */
  weight: number;
}

export interface Endpoint {
  host: string;
  port: number;
}

/** An endpoint and the pod name its metrics carry. */
interface PodEndpoint extends Endpoint {
  pod: string;
}

export interface RouterOptions {
  clock: Clock;
  metrics: MetricsStore;
  namespace: string;
  /** The apex service name, the `destination_service` label. */
  service: string;
  /** Seed of the weighted choice; Envoy also picks a weighted cluster at random per request. */
  seed?: number;
  host?: string;
  port?: number;
  /** Port of the metrics endpoint; 0 picks a free one. */
  adminPort?: number;
  /** Upstream timeout in wall milliseconds; an unanswered upstream gets 504, like Envoy. */
  upstreamTimeoutWallMs?: number;
}

/**
 * The stand-in for the Istio data plane: one HTTP listener for the apex host that splits requests
 * over workloads by weight, forwards them to the workload's endpoints (round robin), and records
 * destination-side telemetry into the metrics store. A workload with no ready endpoint answers
 * 503 "no healthy upstream", as Envoy does.
 */
export class WeightedRouter implements AsyncDisposable {
  private server: http.Server | undefined;
  private routes: RouteDestination[] = [];
  private readonly endpoints = new Map<string, PodEndpoint[]>();
  private podSeq = 0;
  private readonly roundRobin = new Map<string, number>();
  private readonly random: Random;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  private port = 0;
  private admin: http.Server | undefined;
  private adminPort = 0;
  private readonly routeListeners = new Set<(routes: readonly RouteDestination[]) => void>();

  constructor(private readonly options: RouterOptions) {
    this.random = createRandom(options.seed ?? 1);
  }

  /** Envoy's stats endpoint stand-in: GET /stats/prometheus on its own port, for Prometheus. */
  get metricsUrl(): string {
    return `http://${this.options.host ?? '127.0.0.1'}:${this.adminPort}/stats/prometheus`;
  }

  get url(): string {
    return `http://${this.options.host ?? '127.0.0.1'}:${this.port}`;
  }

  async start(): Promise<this> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = `${this.options.host ?? '127.0.0.1'}:${this.options.port ?? 0}`;
        reject(
          err.code === 'EADDRINUSE'
            ? new PlatformError(`router: port ${where} is already in use; free it or choose another port`)
            : new PlatformError(`router: cannot listen on ${where}: ${err.message}`),
        );
      });
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    const admin = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/stats/prometheus') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(this.options.metrics.renderPrometheus());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
      }
    });
    await new Promise<void>((resolve, reject) => {
      admin.once('error', reject);
      admin.listen(this.options.adminPort ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.admin = admin;
    this.adminPort = (admin.address() as AddressInfo).port;
    debug('router for %s listening on %s', this.options.service, this.url);
    return this;
  }

  /**
   * Drops every connection, refuses new ones for `downWallMs`, then listens again on the same
   * port: a data-plane restart. Routes and endpoints survive, as Envoy gets them back from istiod.
   */
  async restart(downWallMs: number, signal?: AbortSignal): Promise<void> {
    const server = this.server;
    if (!server) throw new PlatformError('router: restart of a router that is not running');
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    try {
      await sleepWall(downWallMs, signal);
    } finally {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.port, this.options.host ?? '127.0.0.1', () => resolve());
      });
    }
  }

  /** Replaces the weighted route, as writing the VirtualService would. */
  setRoutes(routes: readonly RouteDestination[]): void {
    const total = routes.reduce((sum, r) => sum + r.weight, 0);
    if (routes.length > 0 && total !== 100)
      throw new PlatformError(`router: route weights add up to ${total}, not 100`);
    this.routes = routes.map((r) => ({ ...r }));
    debug('routes %o', this.routes);
    for (const listener of this.routeListeners) listener(this.routes);
  }

  getRoutes(): readonly RouteDestination[] {
    return this.routes;
  }

  onRoutes(listener: (routes: readonly RouteDestination[]) => void): () => void {
    this.routeListeners.add(listener);
    return () => this.routeListeners.delete(listener);
  }

  /** Sets the ready endpoints of a workload (its ready pods). An empty list means none ready. */
  setEndpoints(workload: string, endpoints: readonly Endpoint[]): void {
    const before = this.endpoints.get(workload) ?? [];
    const next = endpoints.map((e) => {
      const same = before.find((b) => b.host === e.host && b.port === e.port);
      // A new endpoint is a new pod: its sidecar's series start from nothing (docs/design.md §11).
      return { host: e.host, port: e.port, pod: same?.pod ?? `${workload}-${++this.podSeq}` };
    });
    for (const gone of before) {
      if (!next.some((e) => e.pod === gone.pod)) this.options.metrics.retirePod(this.options.namespace, gone.pod);
    }
    this.endpoints.set(workload, next);
  }

  private pickWorkload(): string | undefined {
    if (this.routes.length === 0) return undefined;
    let draw = this.random.next() * 100;
    for (const route of this.routes) {
      if (draw < route.weight) return route.workload;
      draw -= route.weight;
    }
    return this.routes.findLast((r) => r.weight > 0)?.workload;
  }

  private pickEndpoint(workload: string): PodEndpoint | undefined {
    const list = this.endpoints.get(workload);
    if (!list || list.length === 0) return undefined;
    const next = (this.roundRobin.get(workload) ?? 0) % list.length;
    this.roundRobin.set(workload, next + 1);
    return list[next];
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Latency is real time (never time-compressed); the timestamp is scenario time.
    const startWall = performance.now();
    const workload = this.pickWorkload();
    const endpoint = workload === undefined ? undefined : this.pickEndpoint(workload);
    const record = (code: number, reachedPod: boolean) => {
      const now = this.options.clock.now();
      const latency = performance.now() - startWall;
      const labels = {
        namespace: this.options.namespace,
        workload: workload ?? 'unknown',
        service: this.options.service,
        responseCode: code,
        pod: endpoint?.pod,
      };
      // The client side sees every answer; the pod's sidecar only those that reached the pod.
      this.options.metrics.record({ ...labels, reporter: 'source' }, now, latency);
      if (reachedPod) this.options.metrics.record({ ...labels, reporter: 'destination' }, now, latency);
    };
    if (workload === undefined || endpoint === undefined) {
      req.resume();
      record(503, false);
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('no healthy upstream');
      return;
    }
    const upstream = http.request(
      {
        host: endpoint.host,
        port: endpoint.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: this.agent,
        timeout: this.options.upstreamTimeoutWallMs ?? 30_000,
      },
      (upstreamRes) => {
        const code = upstreamRes.statusCode ?? 502;
        res.writeHead(code, upstreamRes.headers);
        upstreamRes.pipe(res);
        upstreamRes.once('end', () => record(code, true));
        upstreamRes.once('error', () => record(code, true));
      },
    );
    upstream.once('timeout', () => upstream.destroy(new Error('upstream timeout')));
    upstream.once('error', (err) => {
      const timedOut = err.message === 'upstream timeout';
      const code = timedOut ? 504 : 503;
      // A timeout reached the pod (it is slow); a connect error did not.
      record(code, timedOut);
      if (!res.headersSent) {
        res.writeHead(code, { 'content-type': 'text/plain' });
        res.end(timedOut ? 'upstream request timeout' : 'upstream connect error or disconnect/reset before headers');
      } else {
        res.destroy();
      }
    });
    req.pipe(upstream);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.agent.destroy();
    const admin = this.admin;
    this.admin = undefined;
    if (admin) {
      await new Promise<void>((resolve) => {
        admin.close(() => resolve());
        admin.closeAllConnections();
      });
    }
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
