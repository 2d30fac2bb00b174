/**
 * Independent observers for the timestamp-accuracy and overhead benchmarks. They watch the local
 * platform's parts through their public methods, each observation stamped with this process's
 * own monotonic clock (performance.now()) at the moment it happens:
 *
 * - every WeightedRouter, once started, gets a route listener (WeightedRouter.onRoutes);
 * - MetricsStore.record is wrapped: the router calls it when it has finished forwarding (or
 *   answering) a request, so it is the router's view of each response;
 * - every FlaggerCanaryModel gets an event listener (onEvent) when it is reset for a run;
 * - BuiltinLoadGenerator.start is wrapped to stamp when the load starts and when its stop() is
 *   called and resolves (the drain);
 * - the sessions a platform opens get their restore() and release() stamped.
 *
 * The project has no hook for this, so the first four are installed on the classes' prototypes
 * for the duration of one in-process experiment and removed afterwards (`uninstall`). Nothing of
 * the harness's behaviour changes: each wrapper calls the original first or last and only appends
 * to an array.
 */
import { FlaggerCanaryModel } from '../flagger-model/model.ts';
import { BuiltinLoadGenerator } from '../load/builtin-generator.ts';
import type { LoadOptions, StartedLoad } from '../load/builtin-generator.ts';
import { WeightedRouter, type RouteDestination } from '../mesh/router.ts';
import { MetricsStore, type RequestLabels } from '../metrics/store.ts';
import type { ArmSession, Platform } from '../platform/types.ts';

export interface ProbeLog {
  routes: Array<{ wallMs: number; routes: RouteDestination[] }>;
  /** Client-side (reporter 'source') records: one per answer the router gave. */
  responses: Array<{ wallMs: number; clockMs: number; status: number; workload: string }>;
  events: Array<{ wallMs: number; atMs: number; message: string }>;
  loads: Array<{ startWallMs: number; stopCalledWallMs?: number; stopDoneWallMs?: number }>;
  opens: Array<{ arm: string; startWallMs: number; doneWallMs: number }>;
  restores: Array<{ startWallMs: number; doneWallMs?: number }>;
  releases: Array<{ startWallMs: number; doneWallMs?: number }>;
}

export interface InstalledProbes {
  log: ProbeLog;
  uninstall(): void;
}

let installed = false;

export function installProbes(): InstalledProbes {
  if (installed) throw new Error('probes: already installed');
  installed = true;
  const log: ProbeLog = { routes: [], responses: [], events: [], loads: [], opens: [], restores: [], releases: [] };

  const routerStart = WeightedRouter.prototype.start;
  WeightedRouter.prototype.start = async function start(this: WeightedRouter) {
    const router = await routerStart.call(this);
    router.onRoutes((routes) => log.routes.push({ wallMs: performance.now(), routes: routes.map((r) => ({ ...r })) }));
    return router;
  } as typeof routerStart;

  const record = MetricsStore.prototype.record;
  MetricsStore.prototype.record = function (this: MetricsStore, labels: RequestLabels, atMs: number, latencyMs: number): void {
    if (labels.reporter === 'source') {
      log.responses.push({ wallMs: performance.now(), clockMs: atMs, status: labels.responseCode, workload: labels.workload });
    }
    record.call(this, labels, atMs, latencyMs);
  };

  const subscribed = new WeakSet<FlaggerCanaryModel>();
  const reset = FlaggerCanaryModel.prototype.reset;
  FlaggerCanaryModel.prototype.reset = function (this: FlaggerCanaryModel): void {
    reset.call(this);
    if (subscribed.has(this)) return;
    subscribed.add(this);
    this.onEvent((event) => log.events.push({ wallMs: performance.now(), atMs: event.atMs, message: event.message }));
  };

  const loadStart = BuiltinLoadGenerator.prototype.start;
  BuiltinLoadGenerator.prototype.start = function (this: BuiltinLoadGenerator, options: LoadOptions): StartedLoad {
    const entry: ProbeLog['loads'][number] = { startWallMs: performance.now() };
    log.loads.push(entry);
    const started = loadStart.call(this, options);
    const stop = started.stop.bind(started);
    // An own property shadows the class method, for the runner's calls and for asyncDispose.
    (started as { stop: () => ReturnType<StartedLoad['stop']> }).stop = () => {
      entry.stopCalledWallMs ??= performance.now();
      const done = stop();
      const stamp = () => {
        entry.stopDoneWallMs ??= performance.now();
      };
      done.then(stamp, stamp);
      return done;
    };
    return started;
  };

  return {
    log,
    uninstall() {
      WeightedRouter.prototype.start = routerStart;
      MetricsStore.prototype.record = record;
      FlaggerCanaryModel.prototype.reset = reset;
      BuiltinLoadGenerator.prototype.start = loadStart;
      installed = false;
    },
  };
}

/** Wraps a platform so that each session it opens stamps restore() and release() into `log`. */
export function probePlatform(inner: Platform, log: ProbeLog): Platform {
  return {
    name: inner.name,
    async open(arm, scenario, options): Promise<ArmSession> {
      const startWallMs = performance.now();
      const session = await inner.open(arm, scenario, options);
      log.opens.push({ arm, startWallMs, doneWallMs: performance.now() });
      const restore = session.restore.bind(session);
      session.restore = async (...args) => {
        const entry: ProbeLog['restores'][number] = { startWallMs: performance.now() };
        log.restores.push(entry);
        try {
          return await restore(...args);
        } finally {
          entry.doneWallMs = performance.now();
        }
      };
      const release = session.release.bind(session);
      session.release = async (...args) => {
        const entry: ProbeLog['releases'][number] = { startWallMs: performance.now() };
        log.releases.push(entry);
        try {
          return await release(...args);
        } finally {
          entry.doneWallMs = performance.now();
        }
      };
      return session;
    },
    [Symbol.asyncDispose]: () => inner[Symbol.asyncDispose](),
  };
}
