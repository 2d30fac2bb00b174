import type { FlaggerSettings } from '../scenario/schema.ts';
import { formatGoDuration } from '../scenario/duration.ts';
import type { MetricsSource } from '../metrics/types.ts';

export const CanaryPhases = ['Initialized', 'Progressing', 'Promoting', 'Finalising', 'Succeeded', 'Failed'] as const;
export type CanaryPhase = (typeof CanaryPhases)[number];

export interface CanaryStatus {
  phase: CanaryPhase;
  canaryWeight: number;
  failedChecks: number;
  iterations: number;
}

/** An event as Flagger records it on the Canary (type, reason Synced, message). */
export interface CanaryEvent {
  atMs: number;
  type: 'Normal' | 'Warning';
  message: string;
  /** Status right after the event, so the timeline can read phase and failedChecks. */
  status: CanaryStatus;
}

/**
 * What Flagger acts on: the target Deployment, its primary copy, the canary pods and the mesh
 * routes. The local platform implements it with app processes and the weighted router.
 */
export interface CanaryWorkloads {
  /** A fingerprint of the target's pod template; a change is a new revision. */
  targetRevision(): string;
  /** Scales the canary (the target) up from zero. */
  scaleUpCanary(): Promise<void>;
  /** 'ready', 'starting', or 'failed' (crashed; still retriable until the progress deadline). */
  canaryReadiness(): 'ready' | 'starting' | 'failed';
  primaryReady(): boolean;
  setRoutes(primaryWeight: number, canaryWeight: number): Promise<void>;
  /** Copies the target's template to the primary, which then rolls out. */
  promote(): Promise<void>;
  scaleDownCanary(): Promise<void>;
  /** The pre-rollout smoke test against the canary; resolves to an error text or undefined. */
  smokeTest(): Promise<string | undefined>;
}

export interface CanaryIdentity {
  /** Canary (and target Deployment) name. */
  name: string;
  namespace: string;
}

/**
 * Flagger's per-Canary scheduler step (`advanceCanary` in fluxcd/flagger v1.44,
 * pkg/controller/scheduler.go), reduced to what the experiment observes: the order of checks
 * within one tick, the event texts, and the status fields. `tick` is called once per
 * analysis interval by a driver; it never sleeps, so tests step it on a virtual clock.
 */
export class FlaggerCanaryModel {
  private status: CanaryStatus = { phase: 'Initialized', canaryWeight: 0, failedChecks: 0, iterations: 0 };
  private lastAppliedRevision: string;
  /**
   * LastUpdateTime of the canary Deployment's Available=False (MinimumReplicasUnavailable) condition,
   * which its controller sets when the scaled-up canary has no available pod yet. The API server
   * keeps condition times to whole seconds, so this is the scale-up moment truncated to the second.
   */
  private canaryUnavailableSinceMs = 0;
  private readonly listeners = new Set<(event: CanaryEvent) => void>();

  constructor(
    private readonly id: CanaryIdentity,
    private readonly settings: FlaggerSettings,
    private readonly workloads: CanaryWorkloads,
    private readonly metrics: MetricsSource,
  ) {
    this.lastAppliedRevision = workloads.targetRevision();
  }

  get currentStatus(): Readonly<CanaryStatus> {
    return { ...this.status };
  }

  onEvent(listener: (event: CanaryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-initialises the Canary on the current target (a fresh Canary object after a reset). */
  reset(): void {
    this.status = { phase: 'Initialized', canaryWeight: 0, failedChecks: 0, iterations: 0 };
    this.lastAppliedRevision = this.workloads.targetRevision();
  }

  private get ref(): string {
    return `${this.id.name}.${this.id.namespace}`;
  }

  private emit(atMs: number, type: CanaryEvent['type'], message: string, status: CanaryStatus = this.status): void {
    const event: CanaryEvent = { atMs, type, message, status: { ...status } };
    for (const listener of this.listeners) listener(event);
  }

  private maxWeight(): number {
    const steps = this.settings.stepWeights;
    if (steps && steps.length > 0) return Math.min(100, steps[steps.length - 1]!);
    return this.settings.maxWeight > 0 ? this.settings.maxWeight : 100;
  }

  private nextStepWeight(current: number): number {
    const steps = this.settings.stepWeights;
    if (!steps || steps.length === 0) return this.settings.stepWeight;
    const maxStep = 100 - current;
    if (maxStep === 0) return 1;
    if (current === 0) return Math.min(maxStep, steps[0]!);
    for (let i = 0; i < steps.length - 1; i++) {
      if (steps[i] === current) return Math.min(maxStep, steps[i + 1]! - current);
    }
    return maxStep;
  }

  /** One scheduler tick at scenario time `nowMs`. */
  async tick(nowMs: number): Promise<void> {
    const s = this.status;
    // shouldAdvance / checkCanaryStatus: an idle Canary only reacts to a new revision.
    if (s.phase === 'Initialized' || s.phase === 'Succeeded' || s.phase === 'Failed') {
      const revision = this.workloads.targetRevision();
      if (revision === this.lastAppliedRevision) return;
      this.lastAppliedRevision = revision;
      this.status = { phase: 'Progressing', canaryWeight: 0, failedChecks: 0, iterations: 0 };
      this.emit(nowMs, 'Normal', `New revision detected! Scaling up ${this.ref}`);
      await this.workloads.scaleUpCanary();
      this.canaryUnavailableSinceMs = conditionTime(nowMs);
      return;
    }

    // IsPrimaryReady: the primary rolls out the promoted template with a surge pod, so the old pod
    // is still there until the new one is available (deployment_ready.go, Flagger 1.44).
    if (!this.workloads.primaryReady()) {
      this.emit(
        nowMs,
        'Warning',
        `${this.id.name}-primary.${this.id.namespace} not ready: waiting for rollout to finish: 1 old replicas are pending termination`,
      );
      return;
    }

    // hasCanaryRevisionChanged: a new revision during the analysis restarts it.
    if (s.phase === 'Progressing' && this.workloads.targetRevision() !== this.lastAppliedRevision) {
      this.lastAppliedRevision = this.workloads.targetRevision();
      this.emit(nowMs, 'Normal', `New revision detected! Restarting analysis for ${this.ref}`);
      await this.workloads.setRoutes(100, 0);
      this.status = { phase: 'Progressing', canaryWeight: 0, failedChecks: 0, iterations: 0 };
      await this.workloads.scaleUpCanary();
      this.canaryUnavailableSinceMs = conditionTime(nowMs);
      return;
    }

    // IsCanaryReady: a canary Deployment without an available pod is "not ready", retriable while
    // `from + deadline` is not before now, `from` being its Available condition's time
    // (deployment_ready.go: `retriable = !from.Add(delta).Before(time.Now())`, a strict compare);
    // then Flagger records the same text once more and rolls back, with no "Rolling back" line
    // (scheduler.go, Flagger 1.44: the not-retriable branch right after IsCanaryReady).
    if (s.phase === 'Progressing' && this.workloads.canaryReadiness() !== 'ready') {
      this.emit(
        nowMs,
        'Warning',
        `canary deployment ${this.ref} not ready: waiting for rollout to finish: 0 of 1 (readyThreshold 100%) updated replicas are available`,
      );
      if (nowMs > this.canaryUnavailableSinceMs + this.settings.progressDeadlineS * 1000) await this.rollback(nowMs);
      return;
    }

    if (s.phase === 'Promoting') {
      this.emit(nowMs, 'Normal', 'Routing all traffic to primary');
      await this.workloads.setRoutes(100, 0);
      this.status = { ...s, phase: 'Finalising', canaryWeight: 0 };
      return;
    }

    if (s.phase === 'Finalising') {
      await this.workloads.scaleDownCanary();
      this.status = { ...s, phase: 'Succeeded' };
      this.emit(nowMs, 'Normal', `Promotion completed! Scaling down ${this.ref}`);
      return;
    }

    if (s.phase === 'Progressing' && s.failedChecks >= this.settings.threshold) {
      await this.rollback(nowMs);
      return;
    }

    if (s.canaryWeight === 0 && s.iterations === 0) {
      this.emit(nowMs, 'Normal', `Starting canary analysis for ${this.ref}`);
      if (this.settings.smokeTest) {
        const failure = await this.workloads.smokeTest();
        if (failure !== undefined) {
          this.status = { ...this.status, failedChecks: this.status.failedChecks + 1 };
          this.emit(nowMs, 'Warning', `Halt ${this.ref} advancement pre-rollout check smoke-test failed ${failure}`);
          return;
        }
        this.emit(nowMs, 'Normal', 'Pre-rollout check smoke-test passed');
      }
    } else if (!(await this.runAnalysis(nowMs))) {
      this.status = { ...this.status, failedChecks: this.status.failedChecks + 1 };
      return;
    }

    const weight = this.status.canaryWeight;
    const maxWeight = this.maxWeight();
    if (weight < maxWeight) {
      const next = Math.min(100, weight + this.nextStepWeight(weight));
      await this.workloads.setRoutes(100 - next, next);
      this.status = { ...this.status, canaryWeight: next };
      this.emit(nowMs, 'Normal', `Advance ${this.ref} canary weight ${next}`);
      return;
    }
    this.emit(nowMs, 'Normal', `Copying ${this.ref} template spec to ${this.id.name}-primary.${this.id.namespace}`);
    await this.workloads.promote();
    this.status = { ...this.status, phase: 'Promoting' };
  }

  /**
   * One check's query result, or undefined once the event of a failed check is emitted: the query
   * failed, or it found no values (which Flagger counts as a failed check).
   */
  private async readCheck(
    nowMs: number,
    read: () => Promise<number | undefined>,
    noValuesEvent: () => string,
  ): Promise<number | undefined> {
    let value: number | undefined;
    try {
      value = await read();
    } catch (err) {
      this.emit(nowMs, 'Warning', `Prometheus query failed: ${(err as Error).message}`);
      return undefined;
    }
    if (value === undefined || Number.isNaN(value)) {
      this.emit(nowMs, 'Warning', noValuesEvent());
      return undefined;
    }
    return value;
  }

  /** The built-in Istio checks; emits the Halt event of the first failing one. */
  private async runAnalysis(nowMs: number): Promise<boolean> {
    const query = (windowMs: number) => ({ namespace: this.id.namespace, workload: this.id.name, windowMs });
    // scheduler_metrics.go (Flagger 1.44) appends the query error to the success rate's text only.
    const noValues = (metric: string) =>
      `Halt advancement no values found for istio metric ${metric} probably ${this.ref} is not receiving traffic`;
    const rate = this.settings.requestSuccessRate;
    if (rate) {
      const value = await this.readCheck(
        nowMs,
        () => this.metrics.requestSuccessRate(query(rate.intervalMs)),
        () => `${noValues('request-success-rate')}: running query failed: no values found`,
      );
      if (value === undefined) return false;
      if (value < rate.min) {
        this.emit(nowMs, 'Warning', `Halt ${this.ref} advancement success rate ${value.toFixed(2)}% < ${rate.min}%`);
        return false;
      }
    }
    const duration = this.settings.requestDuration;
    if (duration) {
      const p99 = await this.readCheck(
        nowMs,
        () => this.metrics.requestDurationP99(query(duration.intervalMs)),
        () => noValues('request-duration'),
      );
      if (p99 === undefined) return false;
      // GetRequestDuration (observers/istio.go) makes the query's float a time.Duration of whole
      // milliseconds, `time.Duration(int64(value)) * time.Millisecond`, before the compare: a p99
      // of 500.9 ms passes a 500 ms limit.
      const value = Math.trunc(p99);
      if (value > duration.max) {
        this.emit(
          nowMs,
          'Warning',
          `Halt ${this.ref} advancement request duration ${formatGoDuration(value)} > ${formatGoDuration(duration.max)}`,
        );
        return false;
      }
    }
    return true;
  }

  private async rollback(nowMs: number): Promise<void> {
    if (this.status.failedChecks >= this.settings.threshold) {
      this.emit(
        nowMs,
        'Warning',
        `Rolling back ${this.ref} failed checks threshold reached ${this.status.failedChecks}`,
      );
    }
    await this.workloads.setRoutes(100, 0);
    this.status = { ...this.status, canaryWeight: 0 };
    // Flagger records this event on a copy of the Canary already in phase Failed.
    this.emit(nowMs, 'Warning', `Canary failed! Scaling down ${this.ref}`, { ...this.status, phase: 'Failed' });
    await this.workloads.scaleDownCanary();
    // Flagger writes a fresh status here, so failedChecks reads 0 after a rollback.
    this.status = { phase: 'Failed', canaryWeight: 0, failedChecks: 0, iterations: 0 };
  }
}

/** A Kubernetes condition time: metav1.Time is stored to whole seconds. */
function conditionTime(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
