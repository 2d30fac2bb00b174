import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import createDebug from 'debug';
import { buildApp } from '../../../faulty-app/build.ts';
import type { Clock } from '../../common/clock.ts';
import { PlatformError } from '../../common/errors.ts';
import { deriveSeed, type Random } from '../../common/random.ts';
import { FlaggerCanaryModel, type CanaryEvent, type CanaryWorkloads } from '../../flagger-model/model.ts';
import { CanaryTicker } from '../../flagger-model/scheduler.ts';
import { WeightedRouter, type RouteDestination } from '../../mesh/router.ts';
import { ScrapedMetrics } from '../../metrics/scrape.ts';
import { MetricsStore, type RequestLabels } from '../../metrics/store.ts';
import type { Arm, EnvironmentFault, Scenario } from '../../scenario/schema.ts';
import { Marks } from '../../timeline/compute.ts';
import { ownedTempDirPrefix, PidFile } from '../../process/pid-file.ts';
import { ProcessRegistry } from '../../process/registry.ts';
import {
  type ArmSession,
  type OpenOptions,
  type Platform,
  type RunLabels,
  type TimelineSink,
  trainSeedName,
  trainServiceName,
} from '../types.ts';
import {
  AppLauncher,
  buildRevision,
  releasedBuild,
  smokeRequest,
  smokeTestCommand,
  webhookFailure,
  stableBuild,
} from './app-process.ts';
import { LocalDeployment } from './deployment.ts';

const debug = createDebug('canary-mttr:local');

export const LOCAL_NAMESPACE = 'canary-mttr';
export const LOCAL_SERVICE = 'sms-checker';

/**
 * Listeners on the local platform's parts, for observers outside the harness (the benchmarks).
 * Each call names the slot of the session it comes from: with runs in flight at once, a slot runs
 * one at a time, so the slot tells which run an observation belongs to.
 */
export interface LocalObserver {
  /** Every route change of every session's router. */
  routes?(routes: readonly RouteDestination[], slot: number): void;
  /** Every request a router records in its metrics store, as it records it. */
  record?(labels: RequestLabels, atMs: number, slot: number): void;
  /** Every event of every Flagger model. */
  flaggerEvent?(event: CanaryEvent, slot: number): void;
}

/**
 * The embedded platform (docs/design.md §8): faulty-app builds as child processes on loopback, the
 * weighted router in place of the Istio data plane, the in-process metrics store scraped with
 * Prometheus' semantics in place of Prometheus, and the Flagger model in place of Flagger.
 */
export class LocalPlatform implements Platform {
  readonly name = 'local' as const;
  private readonly registry: ProcessRegistry;
  private readonly workDir: string;
  private bundle: Promise<string> | undefined;
  private readonly sessions = new Set<ArmSession>();

  constructor(
    private readonly options: {
      timeScale: number;
      env?: NodeJS.ProcessEnv;
      experiment: string;
      observer?: LocalObserver;
    },
  ) {
    // App processes are recorded in a pid file and die with this process (ProcessRegistry).
    this.registry = new ProcessRegistry({ experiment: options.experiment }, new PidFile(options.experiment));
    // Named after this process, so the next start removes it if a SIGKILL leaves it behind.
    this.workDir = mkdtempSync(ownedTempDirPrefix('app'));
  }

  /** Pids of every app process alive now (for tests and leftover checks). */
  get livePids(): number[] {
    return this.registry.pids;
  }

  private appBundle(): Promise<string> {
    // "docker build" of the local platform: one bundle of faulty-app per experiment.
    this.bundle ??= buildApp(path.join(this.workDir, 'faulty-app.mjs'));
    return this.bundle;
  }

  async open(arm: Arm, scenario: Scenario, options: OpenOptions): Promise<ArmSession> {
    const launcher = new AppLauncher(
      this.registry,
      await this.appBundle(),
      this.options.timeScale,
      this.options.env,
      options.slot,
    );
    // Each service of a release train has its own router, workloads and series (docs/design.md §13).
    const service = trainServiceName(LOCAL_SERVICE, options.service);
    const seedName = (what: string) => trainSeedName(`${what}/${arm}/${scenario.name}`, options.service);
    const store = new MetricsStore();
    const metrics = new ScrapedMetrics(store, {
      clock: options.clock,
      intervalMs: scenario.metrics.scrapeIntervalS * 1000,
      seed: deriveSeed(options.seed, seedName('scrape')),
    });
    const router = await new WeightedRouter({
      clock: options.clock,
      metrics: store,
      namespace: LOCAL_NAMESPACE,
      service,
      seed: deriveSeed(options.seed, seedName('router')),
      upstreamTimeoutWallMs: scenario.load.timeoutMs + 1_000,
    }).start();
    const { observer } = this.options;
    const { slot } = options;
    if (observer?.routes) router.onRoutes((routes) => observer.routes?.(routes, slot));
    if (observer?.record) store.onRecord((labels, atMs) => observer.record?.(labels, atMs, slot));
    const flaggerEvent = observer?.flaggerEvent && ((event: CanaryEvent) => observer.flaggerEvent?.(event, slot));
    let podSeed = deriveSeed(options.seed, seedName('pods'));
    const nextSeed = () => (podSeed = deriveSeed(podSeed, 'next'));
    const session =
      arm === 'flagger'
        ? new LocalFlaggerSession(service, scenario, options.clock, router, metrics, launcher, nextSeed, flaggerEvent)
        : new LocalManualSession(service, scenario, options.clock, router, metrics, launcher, nextSeed);
    this.sessions.add(session);
    const close = session[Symbol.asyncDispose].bind(session);
    session[Symbol.asyncDispose] = async () => {
      this.sessions.delete(session);
      await close();
    };
    return session;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const errors: unknown[] = [];
    for (const session of [...this.sessions]) {
      try {
        await session[Symbol.asyncDispose]();
      } catch (err) {
        errors.push(err);
      }
    }
    await this.registry[Symbol.asyncDispose]();
    rmSync(this.workDir, { recursive: true, force: true });
    if (errors.length > 0) debug('errors while closing sessions: %O', errors);
  }
}

abstract class LocalSession implements ArmSession {
  abstract readonly arm: Arm;
  readonly namespace = LOCAL_NAMESPACE;
  protected timeline: TimelineSink = () => undefined;
  private unsubscribeRoutes: () => void;
  /** Route changes on their way to the router, in the order they were made. */
  private routesInFlight: Promise<void> = Promise.resolve();
  /** Aborted to drop the changes in flight: at restore (a new run) and on close. */
  private propagation = new AbortController();

  constructor(
    readonly service: string,
    protected readonly scenario: Scenario,
    protected readonly clock: Clock,
    protected readonly router: WeightedRouter,
    readonly metrics: ScrapedMetrics,
    protected readonly launcher: AppLauncher,
    protected readonly nextSeed: () => number,
  ) {
    this.unsubscribeRoutes = router.onRoutes((routes) => {
      const canary = routes.find((r) => r.workload === this.canaryWorkload)?.weight ?? 0;
      this.timeline({
        atMs: clock.now(),
        kind: Marks.routes,
        detail: routes.map((r) => `${r.workload}=${r.weight}`).join(' '),
        canaryWeight: canary,
      });
    });
  }

  protected abstract readonly canaryWorkload: string;

  /**
   * A route change during a run (a VirtualService write), applied by the router
   * mesh.propagationDelayMs later, as istiod pushes it to the sidecars; changes keep their order.
   * Resolves once applied; rejects when the run's changes are dropped before that.
   */
  protected propagateRoutes(routes: RouteDestination[]): Promise<void> {
    const delayMs = this.scenario.mesh.propagationDelayMs;
    if (delayMs === 0) {
      this.router.setRoutes(routes);
      return Promise.resolve();
    }
    const dueMs = this.clock.now() + delayMs;
    const { signal } = this.propagation;
    const applied = this.routesInFlight.then(async () => {
      await this.clock.sleep(Math.max(0, dueMs - this.clock.now()), signal);
      this.router.setRoutes(routes);
    });
    this.routesInFlight = applied.catch(() => undefined);
    return applied;
  }

  /** Resolves once every route change made so far has reached the router (or was dropped). */
  protected routesApplied(): Promise<void> {
    return this.routesInFlight;
  }

  /** Sets the routes at once, dropping any change still in flight (restoring the stable state). */
  protected resetRoutes(routes: RouteDestination[]): void {
    this.propagation.abort(new Error('routes reset'));
    this.propagation = new AbortController();
    this.routesInFlight = Promise.resolve();
    this.router.setRoutes(routes);
  }

  get serviceUrl(): string {
    return `${this.router.url}/sms`;
  }

  describe(): Record<string, string> {
    return {
      platform: 'local',
      mesh: `weighted router (Istio data plane stand-in), route changes applied ${this.scenario.mesh.propagationDelayMs} ms after they are made`,
      metrics: `in-process store, scraped every ${this.scenario.metrics.scrapeIntervalS} s (Prometheus semantics)`,
    };
  }

  /** The Deployment that serves the stable build (manual: stable; Flagger: primary). */
  protected abstract readonly stableDeployment: LocalDeployment;

  async injectEnvironmentFault(fault: EnvironmentFault, signal: AbortSignal): Promise<void> {
    const durationMs = fault.durationS * 1000;
    switch (fault.fault) {
      case 'metrics-outage':
        this.metrics.simulateOutage(this.clock.now() + durationMs);
        await this.clock.sleep(durationMs, signal);
        return;
      case 'router-restart':
        await this.router.restart(durationMs / this.clock.timeScale, signal);
        return;
      case 'stable-crash': {
        const deployment = this.stableDeployment;
        const spec = deployment.spec;
        deployment.crash();
        // Kubernetes restarts the pod; it is back (and ready) after the fault's duration.
        await this.clock.sleep(durationMs, signal);
        if (spec) await deployment.rollOut(spec, signal);
        return;
      }
    }
  }

  abstract restore(run: RunLabels, timeline: TimelineSink, random: Random, signal: AbortSignal): Promise<void>;
  abstract release(signal: AbortSignal): Promise<void>;
  abstract rollback(signal: AbortSignal): Promise<void>;
  abstract setCanaryWeight(weight: number, signal: AbortSignal): Promise<void>;
  abstract promote(signal: AbortSignal): Promise<void>;
  abstract instructions(): string;
  protected abstract closeWorkloads(): Promise<void>;

  /**
   * Each run's scrapes fall at their own phase, drawn from the run's seed after every other draw
   * of the restore (so the Flagger ticker's phase is the one it always was).
   */
  protected rephaseScrapes(random: Random): void {
    this.metrics.rephase(Math.floor(random.next() * 2 ** 32));
    this.metrics.prune(this.clock.now() - 3_600_000);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.propagation.abort(new Error('session closed'));
    this.unsubscribeRoutes();
    this.metrics.stop();
    try {
      await this.closeWorkloads();
    } finally {
      await this.router.stop();
    }
  }
}

/** Manual canary: stable and canary Deployments behind a VirtualService edited by hand. */
class LocalManualSession extends LocalSession {
  readonly arm = 'manual' as const;
  protected get canaryWorkload(): string {
    return `${this.service}-canary`;
  }
  private readonly stable = new LocalDeployment(`${this.service}-stable`, this.router, this.launcher, this.nextSeed);
  private readonly canary = new LocalDeployment(`${this.service}-canary`, this.router, this.launcher, this.nextSeed);
  protected get stableDeployment(): LocalDeployment {
    return this.stable;
  }

  async restore(_run: RunLabels, timeline: TimelineSink, random: Random, signal: AbortSignal): Promise<void> {
    this.timeline = timeline;
    this.resetRoutes([{ workload: this.stable.name, weight: 100 }]);
    await this.canary.scaleToZero();
    const stable = stableBuild(this.scenario.release);
    if (this.stable.readiness() !== 'ready' || buildRevision(this.stable.spec!) !== buildRevision(stable)) {
      await this.stable.rollOut(stable, signal);
    }
    this.rephaseScrapes(random);
  }

  /**
   * `helm upgrade --wait` with the canary image and weight. The weights follow once the canary pod
   * is ready; a pod that crashes instead gets them at once (Helm applied the VirtualService with
   * the Deployment, --wait only holds the command), so users meet 503 "no healthy upstream".
   */
  async release(signal: AbortSignal, canaryWeight = this.scenario.manual.canaryWeight): Promise<void> {
    await this.canary.rollOut(releasedBuild(this.scenario.release), signal);
    await this.setCanaryWeight(canaryWeight);
  }

  /** A values edit of the canary's weight and `helm upgrade`: the VirtualService's weights change. */
  async setCanaryWeight(weight: number): Promise<void> {
    await this.propagateRoutes([
      { workload: this.stable.name, weight: 100 - weight },
      { workload: this.canary.name, weight },
    ]);
  }

  /**
   * The promotion's `helm upgrade`: the stable Deployment rolls to the released build (its old pod
   * serves until the new one is ready), then all traffic goes to it and the canary goes away.
   */
  async promote(signal: AbortSignal): Promise<void> {
    await this.stable.rollOut(releasedBuild(this.scenario.release), signal);
    await this.propagateRoutes([{ workload: this.stable.name, weight: 100 }]);
    this.timeline({ atMs: this.clock.now(), kind: Marks.promoted, detail: 'release promoted to stable by hand' });
    await this.canary.scaleToZero();
  }

  /** `helm rollback`: the weights go back to 100/0 and the canary Deployment goes away. */
  async rollback(): Promise<void> {
    await this.propagateRoutes([{ workload: this.stable.name, weight: 100 }]);
    this.timeline({ atMs: this.clock.now(), kind: Marks.rollbackDone, detail: 'weights 100/0 applied' });
    await this.canary.scaleToZero();
  }

  instructions(): string {
    const r = this.scenario.release;
    return (
      `Released ${r.version} as a canary at ${this.scenario.manual.canaryWeight}% of ${this.service} (fault: ${r.fault}).\n` +
      `Watch the router's metrics: ${this.router.url.replace(/\/$/, '')} serves /sms; the load summary prints each run.`
    );
  }

  protected async closeWorkloads(): Promise<void> {
    await Promise.all([this.canary.scaleToZero(), this.stable.scaleToZero()]);
  }
}

/** Flagger: a target Deployment, its -primary copy and a Canary driven by the Flagger model. */
class LocalFlaggerSession extends LocalSession {
  readonly arm = 'flagger' as const;
  protected get canaryWorkload(): string {
    return this.service;
  }
  private readonly primary = new LocalDeployment(`${this.service}-primary`, this.router, this.launcher, this.nextSeed);
  private readonly target = new LocalDeployment(this.service, this.router, this.launcher, this.nextSeed);
  protected get stableDeployment(): LocalDeployment {
    return this.primary;
  }
  /** The target's pod template (what `kubectl set image` changes). */
  private targetSpec = stableBuild(this.scenario.release);
  private readonly model: FlaggerCanaryModel;
  private ticker: CanaryTicker | undefined;

  constructor(
    service: string,
    scenario: Scenario,
    clock: Clock,
    router: WeightedRouter,
    metrics: ScrapedMetrics,
    launcher: AppLauncher,
    nextSeed: () => number,
    flaggerEvent?: (event: CanaryEvent) => void,
  ) {
    super(service, scenario, clock, router, metrics, launcher, nextSeed);
    const workloads: CanaryWorkloads = {
      targetRevision: () => buildRevision(this.targetSpec),
      scaleUpCanary: async () => this.target.rollOutInBackground(this.targetSpec),
      canaryReadiness: () => {
        const state = this.target.readiness();
        return state === 'ready' ? 'ready' : state === 'failed' ? 'failed' : 'starting';
      },
      primaryReady: () => this.primary.readiness() === 'ready',
      // Flagger writes the VirtualService and goes on; the sidecars get it after the propagation.
      setRoutes: async (primaryWeight, canaryWeight) => {
        this.propagateRoutes([
          { workload: this.primary.name, weight: primaryWeight },
          { workload: this.target.name, weight: canaryWeight },
        ]).catch(() => undefined);
      },
      promote: async () => this.primary.rollOutInBackground(this.targetSpec),
      // A terminating pod keeps serving while the mesh still routes to it (graceful termination):
      // the canary stops only once the weight change before it has reached the router.
      scaleDownCanary: async () => {
        await this.routesApplied();
        await this.target.scaleToZero();
      },
      smokeTest: async () => {
        const port = this.target.port;
        // The loadtester's answer is the cluster's: the chart's command against the canary Service.
        const command = smokeTestCommand(this.service, LOCAL_NAMESPACE);
        // No ready endpoint behind the canary Service: curl cannot connect.
        const answer =
          port === undefined ? `command ${command} failed: : exit status 7` : await smokeRequest(port, 5_000, command);
        if (answer === undefined) return undefined;
        debug('smoke test failed, the loadtester answers: %s', answer);
        // Flagger's event names the webhook only; a hang is the model's own timeout and says so.
        return answer.startsWith('command ') ? webhookFailure(LOCAL_NAMESPACE) : answer;
      },
    };
    this.model = new FlaggerCanaryModel(
      { name: this.service, namespace: LOCAL_NAMESPACE },
      scenario.flagger,
      workloads,
      metrics,
    );
    this.model.onEvent((event) =>
      this.timeline({
        atMs: event.atMs,
        kind: Marks.flaggerEvent,
        detail: event.message,
        phase: event.status.phase,
        failedChecks: event.status.failedChecks,
        canaryWeight: event.status.canaryWeight,
      }),
    );
    if (flaggerEvent) this.model.onEvent(flaggerEvent);
  }

  async restore(_run: RunLabels, timeline: TimelineSink, random: Random, signal: AbortSignal): Promise<void> {
    this.timeline = timeline;
    await this.ticker?.stop();
    this.ticker = undefined;
    this.resetRoutes([
      { workload: this.primary.name, weight: 100 },
      { workload: this.target.name, weight: 0 },
    ]);
    await this.target.scaleToZero();
    this.targetSpec = stableBuild(this.scenario.release);
    if (this.primary.readiness() !== 'ready' || buildRevision(this.primary.spec!) !== buildRevision(this.targetSpec)) {
      await this.primary.rollOut(this.targetSpec, signal);
    }
    // A fresh Canary on the stable target; its ticker starts at a random phase of the interval.
    this.model.reset();
    const interval = this.scenario.flagger.intervalMs;
    this.ticker = new CanaryTicker(this.model, this.clock, interval);
    this.ticker.start(this.clock.now() + random.next() * interval);
    this.rephaseScrapes(random);
  }

  /** The release changes only the target's image; Flagger notices on its next tick. */
  async release(): Promise<void> {
    this.targetSpec = releasedBuild(this.scenario.release);
  }

  async rollback(): Promise<void> {
    // Flagger rolls back by itself; a manual rollback here is `kubectl set image` back to stable.
    this.targetSpec = stableBuild(this.scenario.release);
  }

  async setCanaryWeight(): Promise<void> {
    throw new PlatformError("local: the Flagger arm's weights are Flagger's; there is no values edit to make");
  }

  async promote(): Promise<void> {
    throw new PlatformError('local: in the Flagger arm, Flagger promotes');
  }

  instructions(): string {
    return `Released ${this.scenario.release.version} to the Flagger target ${this.service}; Flagger's analysis decides.`;
  }

  protected async closeWorkloads(): Promise<void> {
    await this.ticker?.stop();
    this.ticker = undefined;
    await Promise.all([this.target.scaleToZero(), this.primary.scaleToZero()]);
  }
}
