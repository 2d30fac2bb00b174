import createDebug from 'debug';
import type { Endpoint, WeightedRouter } from '../../mesh/router.ts';
import type { AppInstance, AppLauncher, BuildSpec } from './app-process.ts';

const debug = createDebug('canary-mttr:local');

/** How long a pod may take to report ready before the platform stops waiting, wall ms. */
const READY_TIMEOUT_WALL_MS = 15_000;
/** SIGKILL after this, wall ms: the app's own grace for in-flight requests (5 s) plus a margin. */
const STOP_GRACE_WALL_MS = 6_000;

/** One roll-out: the build, the seed of its fault, and the template revision it stands for. */
export interface RolloutBuild {
  spec: BuildSpec;
  /**
   * The fault's seed, or where to draw it from when the process starts (the local platform draws
   * each pod's seed in start order, so a roll-out that waits for another does not reorder them).
   */
  seed: number | (() => number);
  /** The pod template's revision (the mesh emulator's pod-template-hash); none on the local platform. */
  revision?: string;
}

/** kubelet's CrashLoopBackOff: the first restart after `startMs`, then doubling up to `maxMs`. */
export interface CrashLoopBackOff {
  startMs: number;
  maxMs: number;
  /** Called when a restart is counted (the pod's restartCount changes). */
  onRestart?: () => void;
}

export interface ProcessDeploymentOptions {
  /** Names the processes: `<label>#<generation>`. */
  label: string;
  launcher: AppLauncher;
  /** Where the ready pod's endpoint goes (the router's endpoints of this workload). */
  publish: (endpoints: Endpoint[]) => void;
  /** Wall ms a new pod may take to report ready. */
  readyTimeoutMs: number;
  /** Wall ms between SIGTERM and SIGKILL when a pod is stopped; the registry's default when absent. */
  stopGraceMs?: number;
  /**
   * With it (the mesh emulator, where kwok has already replaced the old pod by the new one): a pod
   * that never gets ready, cannot start or exits is restarted after the back-off, and nothing
   * serves meanwhile. Without it (the local platform, maxUnavailable 0): the old pod keeps serving
   * when the new one never gets ready, and a crashed pod stays down until the next roll-out.
   */
  crashLoop?: CrashLoopBackOff;
}

/**
 * A Deployment with one replica, played by app processes: the local platform's workloads and the
 * mesh emulator's. A roll-out starts the new process, moves the endpoint to it once it is ready,
 * then stops the old one. A process that exits is a crashed pod: its endpoint goes away, as a
 * failing readiness probe would remove it.
 */
export class ProcessDeployment {
  private current: AppInstance | undefined;
  /** The revision `current` runs. */
  private currentRevision: string | undefined;
  private pending: AppInstance | undefined;
  private generation = 0;
  /** The revision being rolled out, and how often its pod was restarted. */
  private revision: string | undefined;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  spec: BuildSpec | undefined;

  constructor(private readonly options: ProcessDeploymentOptions) {}

  /** 'absent' (scaled to zero), 'starting', 'ready', or 'failed' (the pod crashed). */
  readiness(): 'absent' | 'starting' | 'ready' | 'failed' {
    if (this.pending) return this.pending.hasFailed ? 'failed' : 'starting';
    if (!this.current) return 'absent';
    if (this.current.isReady) return 'ready';
    return this.current.hasFailed ? 'failed' : 'starting';
  }

  get port(): number | undefined {
    return this.current?.isReady ? this.current.port : undefined;
  }

  /** The template revision a ready process serves now: its pods are Ready, others are not. */
  get servingRevision(): string | undefined {
    return this.current?.isReady ? this.currentRevision : undefined;
  }

  /** Restarts of the revision being rolled out (the container's restartCount). */
  restartsOf(revision: string | undefined): number {
    return revision !== undefined && revision === this.revision ? this.restarts : 0;
  }

  get isActive(): boolean {
    return this.current !== undefined || this.pending !== undefined || this.restartTimer !== undefined;
  }

  /**
   * Rolls out `build` and resolves once the new pod is ready (true) or will not be (false).
   * Kubernetes does this asynchronously; callers that must not block use `rollOutInBackground`.
   */
  async rollOut(build: RolloutBuild, signal?: AbortSignal): Promise<boolean> {
    const { launcher, crashLoop, stopGraceMs } = this.options;
    const generation = ++this.generation;
    this.spec = build.spec;
    const label = `${this.options.label}#${generation}`;
    const previousPending = this.pending;
    this.pending = undefined;
    if (previousPending) await previousPending.process.stop(stopGraceMs);
    let instance: AppInstance | undefined;
    let ready = false;
    try {
      instance = await launcher.start(build.spec, label, typeof build.seed === 'function' ? build.seed() : build.seed);
      if (generation !== this.generation) {
        await instance.process.stop(stopGraceMs);
        return false;
      }
      this.pending = instance;
      ready = await launcher.waitReady(instance, this.options.readyTimeoutMs, signal);
    } catch (err) {
      if (!crashLoop) throw err;
      debug('%s: %s', label, (err as Error).message);
    }
    if (generation !== this.generation) {
      await instance?.process.stop(stopGraceMs);
      return false;
    }
    if (!instance || !ready) {
      debug('%s: pod of %s never became ready', label, build.spec.version);
      if (!crashLoop) return false;
      // The cluster already replaced the old pod with this one: nothing ready serves now.
      this.pending = undefined;
      const old = this.current;
      await instance?.process.stop(stopGraceMs);
      this.current = undefined;
      this.currentRevision = undefined;
      this.options.publish([]);
      if (old) await old.process.stop(stopGraceMs);
      this.scheduleRestart(build, generation, crashLoop);
      return false;
    }
    const old = this.current;
    this.current = instance;
    this.currentRevision = build.revision;
    this.pending = undefined;
    this.options.publish([{ host: '127.0.0.1', port: instance.port }]);
    const started = instance;
    void started.process.exited.then(() => {
      if (this.current !== started) return;
      this.options.publish([]);
      if (!crashLoop) return;
      // The pod crashed: it comes back after a back-off.
      this.current = undefined;
      this.currentRevision = undefined;
      if (generation === this.generation) this.scheduleRestart(build, generation, crashLoop);
    });
    if (old) await old.process.stop(stopGraceMs);
    return true;
  }

  /**
   * Starts rolling out `build` without waiting. A revision already running or rolling out is left
   * alone; a new one starts with a restart count of zero. Returns whether a roll-out started.
   */
  rollOutInBackground(build: RolloutBuild): boolean {
    if (build.revision !== undefined && build.revision === this.revision && this.isActive) return false;
    this.revision = build.revision;
    this.restarts = 0;
    this.clearRestart();
    this.spec = build.spec;
    this.rollOut(build).catch((err) => debug('%s: roll-out failed: %O', this.options.label, err));
    return true;
  }

  /** Kills the running pod at once (SIGKILL), as a node or OOM kill would; its endpoint goes away. */
  crash(): void {
    this.current?.process.child.kill('SIGKILL');
  }

  /** Scales to zero: endpoints removed first, then the processes stopped. */
  async stop(): Promise<void> {
    this.generation++;
    this.revision = undefined;
    this.spec = undefined;
    this.clearRestart();
    this.options.publish([]);
    const stopping = [this.current, this.pending].filter((i): i is AppInstance => i !== undefined);
    this.current = undefined;
    this.currentRevision = undefined;
    this.pending = undefined;
    await Promise.all(stopping.map((i) => i.process.stop(this.options.stopGraceMs)));
  }

  private clearRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  private scheduleRestart(build: RolloutBuild, generation: number, backOff: CrashLoopBackOff): void {
    const delay = Math.min(backOff.maxMs, backOff.startMs * 2 ** this.restarts);
    this.restarts++;
    backOff.onRestart?.();
    debug('%s: pod not ready; restarting in %d ms', this.options.label, delay);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (generation === this.generation) void this.rollOut(build);
    }, delay);
    this.restartTimer.unref();
  }
}

/** A local-platform workload: the router's endpoints of `name`, a fresh fault seed per roll-out. */
export class LocalDeployment {
  private readonly pods: ProcessDeployment;

  constructor(
    readonly name: string,
    router: WeightedRouter,
    launcher: AppLauncher,
    private readonly seed: () => number,
  ) {
    this.pods = new ProcessDeployment({
      label: name,
      launcher,
      publish: (endpoints) => router.setEndpoints(name, endpoints),
      readyTimeoutMs: READY_TIMEOUT_WALL_MS,
      stopGraceMs: STOP_GRACE_WALL_MS,
    });
  }

  get spec(): BuildSpec | undefined {
    return this.pods.spec;
  }

  get port(): number | undefined {
    return this.pods.port;
  }

  readiness(): ReturnType<ProcessDeployment['readiness']> {
    return this.pods.readiness();
  }

  rollOut(spec: BuildSpec, signal?: AbortSignal): Promise<boolean> {
    return this.pods.rollOut({ spec, seed: this.seed }, signal);
  }

  rollOutInBackground(spec: BuildSpec): void {
    this.pods.rollOutInBackground({ spec, seed: this.seed });
  }

  crash(): void {
    this.pods.crash();
  }

  scaleToZero(): Promise<void> {
    return this.pods.stop();
  }
}
