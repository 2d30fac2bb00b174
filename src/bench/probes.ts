/**
 * Independent observers for the timestamp-accuracy and overhead benchmarks. They watch the local
 * platform's parts through its observer hooks, each observation stamped with this process's own
 * monotonic clock (performance.now()) at the moment it happens:
 *
 * - every router's route changes (LocalObserver.routes);
 * - every record a router hands its metrics store when it has finished forwarding (or answering)
 *   a request: the router's view of each response (LocalObserver.record);
 * - every Flagger model event (LocalObserver.flaggerEvent);
 * - when the load starts, and when its stop() is called and resolves (the drain), through a
 *   wrapper around the runner's load generator (RunnerOptions.load);
 * - the sessions a platform opens get their restore() and release() stamped (probePlatform).
 *
 * Nothing of the harness's behaviour changes: each hook only appends to an array. Every observation
 * of a session carries its slot, and every restore() the run it starts, so runs in flight at once
 * can be told apart (run-windows.ts).
 */
import type { CanaryEvent } from '../flagger-model/model.ts';
import type { LoadGenerator, LoadOptions, StartedLoad } from '../load/builtin-generator.ts';
import type { RouteDestination } from '../mesh/router.ts';
import type { RequestLabels } from '../metrics/store.ts';
import type { LocalObserver } from '../platform/local/local-platform.ts';
import type { ArmSession, Platform } from '../platform/types.ts';

export interface ProbeLog {
  routes: Array<{ slot: number; wallMs: number; routes: RouteDestination[] }>;
  /** Client-side (reporter 'source') records: one per answer the router gave. */
  responses: Array<{ slot: number; wallMs: number; clockMs: number; status: number; workload: string }>;
  events: Array<{ slot: number; wallMs: number; atMs: number; message: string }>;
  loads: Array<{ startWallMs: number; stopCalledWallMs?: number; stopDoneWallMs?: number }>;
  opens: Array<{ arm: string; slot: number; startWallMs: number; doneWallMs: number }>;
  /** In call order; `runId` is the run the restore starts. */
  restores: Array<{ slot: number; runId: string; startWallMs: number; doneWallMs?: number }>;
  releases: Array<{ slot: number; startWallMs: number; doneWallMs?: number }>;
}

export interface Probes {
  log: ProbeLog;
  /** For LocalPlatform's `observer` option. */
  observer: LocalObserver;
  /** Wraps the runner's load generator (RunnerOptions.load). */
  wrapLoad(generator: LoadGenerator): LoadGenerator;
}

export function createProbes(): Probes {
  const log: ProbeLog = { routes: [], responses: [], events: [], loads: [], opens: [], restores: [], releases: [] };
  const observer: LocalObserver = {
    routes: (routes, slot) =>
      log.routes.push({ slot, wallMs: performance.now(), routes: routes.map((r) => ({ ...r })) }),
    record: (labels: RequestLabels, atMs: number, slot: number) => {
      if (labels.reporter === 'source')
        log.responses.push({
          slot,
          wallMs: performance.now(),
          clockMs: atMs,
          status: labels.responseCode,
          workload: labels.workload,
        });
    },
    flaggerEvent: (event: CanaryEvent, slot: number) =>
      log.events.push({ slot, wallMs: performance.now(), atMs: event.atMs, message: event.message }),
  };
  const wrapLoad = (inner: LoadGenerator): LoadGenerator => ({
    start(options: LoadOptions): StartedLoad {
      const entry: ProbeLog['loads'][number] = { startWallMs: performance.now() };
      log.loads.push(entry);
      const started = inner.start(options);
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
    },
  });
  return { log, observer, wrapLoad };
}

/** Wraps a platform so that each session it opens stamps restore() and release() into `log`. */
export function probePlatform(inner: Platform, log: ProbeLog): Platform {
  return {
    name: inner.name,
    async open(arm, scenario, options): Promise<ArmSession> {
      const startWallMs = performance.now();
      const session = await inner.open(arm, scenario, options);
      const { slot } = options;
      log.opens.push({ arm, slot, startWallMs, doneWallMs: performance.now() });
      const restore = session.restore.bind(session);
      session.restore = async (...args) => {
        const entry: ProbeLog['restores'][number] = { slot, runId: args[0].run, startWallMs: performance.now() };
        log.restores.push(entry);
        try {
          return await restore(...args);
        } finally {
          entry.doneWallMs = performance.now();
        }
      };
      const release = session.release.bind(session);
      session.release = async (...args) => {
        const entry: ProbeLog['releases'][number] = { slot, startWallMs: performance.now() };
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
