import createDebug from 'debug';
import type { WeightedRouter } from '../../mesh/router.ts';
import { AppInstance, type AppLauncher, type BuildSpec } from './app-process.ts';

const debug = createDebug('canary-mttr:local');

/** How long a pod may take to report ready before the platform stops waiting, wall ms. */
const READY_TIMEOUT_WALL_MS = 15_000;
/** SIGKILL after this, wall ms: the app's own grace for in-flight requests (5 s) plus a margin. */
const STOP_GRACE_WALL_MS = 6_000;

/**
 * A Deployment with one replica, played by app processes: scaling up starts a process, a new spec
 * rolls out by starting the new process, moving the router's endpoints to it once it is ready,
 * then stopping the old one (maxUnavailable 0). A process that exits is a crashed pod.
 */
export class LocalDeployment {
  private current: AppInstance | undefined;
  private pending: AppInstance | undefined;
  private generation = 0;
  spec: BuildSpec | undefined;

  constructor(
    readonly name: string,
    private readonly router: WeightedRouter,
    private readonly launcher: AppLauncher,
    private readonly seed: () => number,
  ) {}

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

  /**
   * Rolls the deployment out to `spec` and resolves once the new pod is ready (or failed).
   * Kubernetes does this asynchronously; callers that must not block use `rollOutInBackground`.
   */
  async rollOut(spec: BuildSpec, signal?: AbortSignal): Promise<boolean> {
    const generation = ++this.generation;
    this.spec = spec;
    const previousPending = this.pending;
    this.pending = undefined;
    if (previousPending) await previousPending.process.stop(STOP_GRACE_WALL_MS);
    const instance = await this.launcher.start(spec, `${this.name}#${generation}`, this.seed());
    if (generation !== this.generation) {
      await instance.process.stop(STOP_GRACE_WALL_MS);
      return false;
    }
    this.pending = instance;
    const ready = await this.launcher.waitReady(instance, READY_TIMEOUT_WALL_MS, signal);
    if (generation !== this.generation) {
      await instance.process.stop(STOP_GRACE_WALL_MS);
      return false;
    }
    if (!ready) {
      debug('%s: pod of %s never became ready', this.name, spec.version);
      return false;
    }
    const old = this.current;
    this.current = instance;
    this.pending = undefined;
    this.router.setEndpoints(this.name, [{ host: '127.0.0.1', port: instance.port }]);
    // When the ready pod dies, its endpoint goes away, as a failing readiness probe would remove it.
    void instance.process.exited.then(() => {
      if (this.current === instance) this.router.setEndpoints(this.name, []);
    });
    if (old) await old.process.stop(STOP_GRACE_WALL_MS);
    return true;
  }

  rollOutInBackground(spec: BuildSpec): void {
    this.rollOut(spec).catch((err) => debug('%s: roll-out failed: %O', this.name, err));
  }

  /** Kills the running pod at once (SIGKILL), as a node or OOM kill would; its endpoint goes away. */
  crash(): void {
    this.current?.process.child.kill('SIGKILL');
  }

  /** Scales to zero: endpoints removed first, then the processes stopped. */
  async scaleToZero(): Promise<void> {
    this.generation++;
    this.spec = undefined;
    this.router.setEndpoints(this.name, []);
    const stopping = [this.current, this.pending].filter((i): i is AppInstance => i !== undefined);
    this.current = undefined;
    this.pending = undefined;
    await Promise.all(stopping.map((i) => i.process.stop(STOP_GRACE_WALL_MS)));
  }
}
