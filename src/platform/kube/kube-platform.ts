import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import createDebug from 'debug';
import type { Clock } from '../../common/clock.ts';
import { PlatformError } from '../../common/errors.ts';
import { pollUntil } from '../../common/poll.ts';
import type { Random } from '../../common/random.ts';
import { CanaryObserver, type CanaryStatusRecord } from '../../kube/canary-observer.ts';
import { requireHelm } from '../../kube/helm.ts';
import { kubeRequest, resourcePath } from '../../kube/kube-rest.ts';
import { ListWatch, type ListResult, type ObjectMeta } from '../../kube/list-watch.ts';
import { runCommand } from '../../process/commands.ts';
import { ownedTempDirPrefix } from '../../process/pid-file.ts';
import type { MetricsSource } from '../../metrics/types.ts';
import type { Arm, EnvironmentFault, ReleaseSettings, Scenario } from '../../scenario/schema.ts';
import { Marks } from '../../timeline/compute.ts';
import {
  type ArmSession,
  type OpenOptions,
  type Platform,
  type RunLabels,
  type TimelineSink,
  trainServiceName,
} from '../types.ts';
import { ClaimedNamespace, sessionNamespace, thisHarness } from './experiment-namespaces.ts';
import { redact, secretsOf } from './kubeconfig.ts';
import { PrometheusMetrics } from './prometheus.ts';

const debug = createDebug('canary-mttr:kube');

export const KUBE_SERVICE = 'sms-checker';
/** faulty-app's Helm charts: `flagger/` and `manual/`, one per arm. */
export const CHARTS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../faulty-app/charts');

export interface KubePlatformOptions {
  kubeConfig: KubeConfig;
  /** The kubeconfig file, passed to helm. */
  kubeconfigPath?: string;
  /** Prometheus HTTP API base URL the harness can reach. */
  prometheusUrl: string;
  /**
   * Namespace of the cluster's flagger-loadtester (the smoke test's `smokeTest.loadtesterNamespace`);
   * absent: the chart's default, the release namespace.
   */
  loadtesterNamespace?: string;
  /** Where the load goes for a namespace's apex service; re-asked after each install. */
  serviceUrl: (namespace: string, service: string) => string | undefined;
  experiment: string;
  env?: NodeJS.ProcessEnv;
}

interface Canary extends ObjectMeta {
  status?: { phase?: string };
}
interface VirtualService extends ObjectMeta {
  spec?: { http?: Array<{ route?: Array<{ destination?: { host?: string; subset?: string }; weight?: number }> }> };
}

function buildValues(release: ReleaseSettings, which: 'stable' | 'release') {
  const stable = which === 'stable';
  return {
    image: { repository: 'faulty-app', tag: stable ? release.stableVersion : release.version },
    version: stable ? release.stableVersion : release.version,
    fault: stable
      ? { mode: 'none', errorRate: 1, latencyMs: 0, onsetS: 0 }
      : { mode: release.fault, errorRate: release.errorRate, latencyMs: release.latencyMs, onsetS: release.onsetS },
  };
}

/**
 * The values of the Flagger arm's chart (faulty-app/charts/flagger) for a scenario: the stable or
 * the released build, the scenario's analysis, and where the smoke test's loadtester runs (absent:
 * in the release namespace). Fidelity installs the same chart with them.
 */
export function flaggerChartValues(scenario: Scenario, which: 'stable' | 'release', loadtesterNamespace?: string) {
  const f = scenario.flagger;
  return {
    ...buildValues(scenario.release, which),
    progressDeadlineSeconds: Math.round(f.progressDeadlineS),
    analysis: {
      interval: `${f.intervalMs / 1000}s`,
      threshold: f.threshold,
      maxWeight: f.maxWeight,
      stepWeight: f.stepWeights ? 0 : f.stepWeight,
      stepWeights: f.stepWeights ?? [],
      metrics: {
        requestSuccessRate: f.requestSuccessRate
          ? { enabled: true, min: f.requestSuccessRate.min, interval: `${f.requestSuccessRate.intervalMs / 1000}s` }
          : { enabled: false },
        requestDuration: f.requestDuration
          ? { enabled: true, max: f.requestDuration.max, interval: `${f.requestDuration.intervalMs / 1000}s` }
          : { enabled: false },
      },
    },
    smokeTest: { enabled: f.smokeTest, ...(loadtesterNamespace ? { loadtesterNamespace } : {}) },
  };
}

/** A label value: lowercase alphanumerics and dashes, at most 63 characters. */
const labelValue = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63) || 'x';

/**
 * The experiment on a real cluster (docs/design.md §8): real Helm releases, the real Flagger Canary, the
 * cluster's Prometheus; timestamps from watches on the Canary, its Events and the VirtualService.
 * The cluster runs in real time, so the experiment's time scale must be 1.
 */
export class KubePlatform implements Platform {
  readonly name = 'kube' as const;
  private readonly sessions = new Set<KubeArmSession>();
  private readonly namespaces = new Map<string, { users: number; claimed: Promise<ClaimedNamespace> }>();
  /** Named in every Lease, so cleanup on this machine can ask whether this process still runs. */
  private readonly holder = thisHarness();
  constructor(private readonly options: KubePlatformOptions) {}

  async open(arm: Arm, scenario: Scenario, options: OpenOptions): Promise<ArmSession> {
    if (options.clock.timeScale !== 1) {
      throw new PlatformError(
        `kube: time scale ${options.clock.timeScale}× is not possible on a cluster (Flagger runs in real time); use --time-scale 1`,
      );
    }
    const namespace = sessionNamespace(options.experimentId, arm, options.slot);
    await this.claim(namespace, options);
    const session = new KubeArmSession(arm, scenario, namespace, options, this.options, () => this.unclaim(namespace));
    try {
      await session.prepare();
    } catch (err) {
      await session[Symbol.asyncDispose]().catch((e) => debug('close after a failed open: %O', e));
      throw err;
    }
    this.sessions.add(session);
    return session;
  }

  /**
   * The namespace of a session, created (or taken back) and held by this platform's Lease. Sessions
   * of two plan entries with the same arm and slot share it; it is deleted when the last one closes.
   */
  private async claim(namespace: string, options: OpenOptions): Promise<ClaimedNamespace> {
    let held = this.namespaces.get(namespace);
    if (!held) {
      held = {
        users: 0,
        claimed: ClaimedNamespace.claim(this.options.kubeConfig, {
          namespace,
          experimentId: options.experimentId,
          experimentName: this.options.experiment,
          holder: this.holder,
        }),
      };
      this.namespaces.set(namespace, held);
      held.claimed.catch(() => this.namespaces.delete(namespace));
    }
    held.users++;
    try {
      return await held.claimed;
    } catch (err) {
      held.users--;
      throw err;
    }
  }

  private async unclaim(namespace: string): Promise<void> {
    const held = this.namespaces.get(namespace);
    if (!held || --held.users > 0) return;
    this.namespaces.delete(namespace);
    await (await held.claimed).release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const s of this.sessions) await s[Symbol.asyncDispose]().catch((err) => debug('close: %O', err));
  }
}

class KubeArmSession implements ArmSession {
  /** The Helm release, Canary, VirtualService and apex Service: one per service of the train. */
  readonly service: string;
  readonly metrics: MetricsSource;
  private timeline: TimelineSink = () => undefined;
  private readonly abort = new AbortController();
  private watches: Array<ListWatch<ObjectMeta>> = [];
  /** The Canary's watches, shared with fidelity: one path to a real Flagger's timestamps. */
  private observer: CanaryObserver | undefined;
  private lastStatus = '';
  private lastCanaryWeight: number | undefined;
  private stableRevision: number | undefined;
  private labels: RunLabels = { experiment: 'adhoc', run: '0' };
  /** Set from the release until the run's rollback: a weight back at 0 meanwhile is a rollback. */
  private released = false;
  private harnessRollback = false;
  private externalWaiters: Array<(atMs: number) => void> = [];

  private readonly clock: Clock;
  private closed = false;

  constructor(
    readonly arm: Arm,
    private readonly scenario: Scenario,
    readonly namespace: string,
    private readonly open: OpenOptions,
    private readonly options: KubePlatformOptions,
    /** Gives the namespace back to the platform, which deletes it when no session uses it. */
    private readonly onClose: () => Promise<void>,
  ) {
    this.clock = open.clock;
    this.service = trainServiceName(KUBE_SERVICE, open.service);
    this.metrics = new PrometheusMetrics(options.prometheusUrl);
  }

  get serviceUrl(): string {
    const base = this.options.serviceUrl(this.namespace, this.service);
    if (!base)
      throw new PlatformError(
        `kube: no address for service ${this.service}.${this.namespace}; is the mesh (or its port-forward) up?`,
      );
    return `${base.replace(/\/$/, '')}/sms`;
  }

  describe(): Record<string, string> {
    return {
      platform: 'kube',
      context: this.options.kubeConfig.getCurrentContext(),
      mesh: 'Istio VirtualService',
      metrics: `Prometheus ${this.options.prometheusUrl}`,
    };
  }

  private get kc(): KubeConfig {
    return this.options.kubeConfig;
  }

  /** Starts the watches that write the timeline (the platform has created the namespace). */
  async prepare(): Promise<void> {
    const signal = this.abort.signal;
    const list =
      <T>(p: string, fieldSelector?: string) =>
      () =>
        kubeRequest<ListResult<T>>(this.kc, {
          method: 'GET',
          path: fieldSelector ? `${p}?fieldSelector=${encodeURIComponent(fieldSelector)}` : p,
        });
    const vsPath = resourcePath('networking.istio.io/v1', 'virtualservices', this.namespace);
    const vs = new ListWatch<VirtualService>({
      kubeConfig: this.kc,
      path: vsPath,
      list: list<VirtualService>(vsPath),
      signal,
      label: `${this.namespace}/virtualservices`,
      onChange: (type, o) => this.onVirtualService(type, o),
    });
    this.watches.push(vs as ListWatch<ObjectMeta>);
    if (this.arm === 'flagger') {
      this.observer = new CanaryObserver({
        kubeConfig: this.kc,
        namespace: this.namespace,
        name: this.service,
        clock: this.clock,
        onStatus: (s) => this.onCanaryStatus(s),
        // An aggregated repeat (count + 1) is a new occurrence; the observer tells them apart.
        onEvent: (e) =>
          this.timeline({ atMs: e.atMs, kind: Marks.flaggerEvent, detail: e.message, objectTime: e.objectTime }),
      });
    }
    await Promise.all([...this.watches.map((w) => w.start()), this.observer?.start()]);
  }

  /** Each phase change once, however often a re-list after a dropped watch reports it. */
  private onCanaryStatus(s: CanaryStatusRecord): void {
    // A Canary Flagger has not picked up yet has no status: nothing has happened to record.
    if (s.phase === '') return;
    const key = `${s.phase}/${s.failedChecks}/${s.canaryWeight}`;
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    this.timeline({
      atMs: s.atMs,
      kind: Marks.flaggerEvent,
      detail: `status: phase ${s.phase} failedChecks ${s.failedChecks} canaryWeight ${s.canaryWeight}`,
      phase: s.phase,
      failedChecks: s.failedChecks,
      canaryWeight: s.canaryWeight,
      objectTime: s.objectTime,
    });
  }

  private onVirtualService(type: string, vs: VirtualService): void {
    if (type === 'DELETED' || vs.metadata?.name !== this.service) return;
    const routes = vs.spec?.http?.[0]?.route ?? [];
    const isCanary = (r: (typeof routes)[number]) =>
      r.destination?.subset === 'canary' || (r.destination?.host ?? '').endsWith('-canary');
    const canary = routes.filter(isCanary).reduce((sum, r) => sum + (r.weight ?? 0), 0);
    if (canary === this.lastCanaryWeight) return;
    const wasExposed = (this.lastCanaryWeight ?? 0) > 0;
    this.lastCanaryWeight = canary;
    if (this.arm === 'manual' && this.released && !this.harnessRollback && wasExposed && canary === 0) {
      // Nobody in the harness rolled back: a person did (helm rollback, or a values edit).
      const atMs = this.clock.now();
      this.timeline({
        atMs,
        kind: Marks.rollbackIssued,
        detail: 'rollback outside the harness (VirtualService weight back to 0)',
      });
      this.timeline({ atMs, kind: Marks.rollbackDone, detail: 'seen on the VirtualService' });
      for (const resolve of this.externalWaiters.splice(0)) resolve(atMs);
    }
    this.timeline({
      atMs: this.clock.now(),
      kind: Marks.routes,
      detail: routes.map((r) => `${r.destination?.subset ?? r.destination?.host}=${r.weight ?? 0}`).join(' '),
      canaryWeight: canary,
    });
  }

  private async helm(args: string[], signal: AbortSignal, timeoutMs = 300_000): Promise<string> {
    const helm = requireHelm(this.options.env);
    const common = ['--namespace', this.namespace, '--kube-context', this.kc.getCurrentContext()];
    if (this.options.kubeconfigPath) common.push('--kubeconfig', this.options.kubeconfigPath);
    const result = await runCommand(helm, [...args, ...common], { env: this.options.env, signal, timeoutMs });
    if (result.code !== 0) {
      throw new PlatformError(
        `kube: helm ${args[0]} failed: ${redact(result.stderr.trim().split('\n').pop() ?? '', secretsOf(this.kc))}`,
      );
    }
    return result.stdout;
  }

  /**
   * `helm upgrade --install` with these values. `wait` (restores) waits until every workload is
   * ready; a release does not: a faulty build may never get ready, and the release is the change
   * being applied, not its outcome.
   */
  private async upgrade(
    values: Record<string, unknown>,
    signal: AbortSignal,
    { wait }: { wait: boolean },
  ): Promise<void> {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    // Owned by this process by name, so that a start after a kill -9 mid-upgrade removes it.
    const dir = await mkdtemp(ownedTempDirPrefix('values'));
    try {
      const file = path.join(dir, 'values.json');
      await writeFile(
        file,
        // The experiment's id, as on the namespace: every object says which experiment made it.
        JSON.stringify({ experiment: this.open.experimentId, run: labelValue(this.labels.run), ...values }),
      );
      const chart = path.join(CHARTS, this.arm === 'flagger' ? 'flagger' : 'manual');
      await this.helm(
        ['upgrade', '--install', this.service, chart, '-f', file, ...(wait ? ['--wait', '--timeout', '5m0s'] : [])],
        signal,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private flaggerValues(which: 'stable' | 'release') {
    return flaggerChartValues(this.scenario, which, this.options.loadtesterNamespace);
  }

  /** The manual chart's values: no canary, the canary at weight `w`, or the release promoted to stable. */
  private manualValues(canary: 'none' | 'release' | 'promoted', weight = this.scenario.manual.canaryWeight) {
    const w = canary === 'release' ? weight : 0;
    const stable = buildValues(this.scenario.release, canary === 'promoted' ? 'release' : 'stable');
    const released = buildValues(this.scenario.release, 'release');
    return {
      stable: { image: stable.image, version: stable.version, fault: stable.fault },
      canary: { image: released.image, version: released.version, fault: released.fault },
      trafficManagement: { weights: { stable: 100 - w, canary: w } },
    };
  }

  async restore(run: RunLabels, timeline: TimelineSink, _random: Random, signal: AbortSignal): Promise<void> {
    this.timeline = timeline;
    this.labels = run;
    this.released = false;
    this.harnessRollback = false;
    this.externalWaiters = [];
    if (this.arm === 'manual') {
      await this.upgrade(this.manualValues('none'), signal, { wait: true });
      this.stableRevision = await this.currentRevision(signal);
      return;
    }
    // Reverting the target's image would be a new revision that Flagger analyses, and that analysis
    // needs traffic (without it: "no values", a failed check, a rollback of the revert). So the
    // restore reinstalls the release: a fresh Canary that Flagger initialises on the stable build.
    const installed = await this.helm(['list', '--filter', `^${this.service}$`, '-q'], signal, 60_000);
    if (installed.trim() !== '') {
      await this.helm(['uninstall', this.service, '--wait', '--timeout', '2m0s'], signal);
      // Flagger's primary Deployment and Services go with the Canary (owner references).
      await this.waitFor(
        async () =>
          await kubeRequest(this.kc, {
            method: 'GET',
            path: resourcePath('apps/v1', 'deployments', this.namespace, `${this.service}-primary`),
          }).then(
            () => false,
            () => true,
          ),
        120_000,
        signal,
        `deployment ${this.service}-primary to be deleted`,
      );
    }
    await this.upgrade(this.flaggerValues('stable'), signal, { wait: true });
    await this.waitFor(
      async () => {
        const c = await kubeRequest<Canary>(this.kc, {
          method: 'GET',
          path: resourcePath('flagger.app/v1beta1', 'canaries', this.namespace, this.service),
        }).catch(() => undefined);
        const phase = c?.status?.phase;
        return phase === 'Initialized' || phase === 'Succeeded';
      },
      15 * 60_000,
      signal,
      'the Canary to settle (Initialized or Succeeded)',
    );
  }

  private async currentRevision(signal: AbortSignal): Promise<number> {
    const out = await this.helm(['history', this.service, '--max', '1', '-o', 'json'], signal, 60_000);
    const history = JSON.parse(out) as Array<{ revision: number }>;
    return history[history.length - 1]?.revision ?? 1;
  }

  private async waitFor(
    check: () => Promise<boolean>,
    timeoutMs: number,
    signal: AbortSignal,
    what: string,
  ): Promise<void> {
    if (!(await pollUntil(check, { everyMs: 500, timeoutMs, signal }))) {
      throw new PlatformError(`kube: timed out after ${timeoutMs / 1000} s waiting for ${what} in ${this.namespace}`);
    }
  }

  /** Manual: helm upgrade with the canary build at its weight. Flagger: the new build only. */
  async release(signal: AbortSignal, canaryWeight?: number): Promise<void> {
    this.released = true;
    if (this.arm === 'manual') await this.upgrade(this.manualValues('release', canaryWeight), signal, { wait: false });
    else await this.upgrade(this.flaggerValues('release'), signal, { wait: false });
  }

  /** Manual: the values edit of the canary's weight and its `helm upgrade`; the VirtualService changes. */
  async setCanaryWeight(weight: number, signal: AbortSignal): Promise<void> {
    if (this.arm !== 'manual') throw new PlatformError("kube: the Flagger arm's weights are Flagger's");
    await this.upgrade(this.manualValues('release', weight), signal, { wait: false });
  }

  /** Manual: the promotion's `helm upgrade --wait` (stable on the released build, canary weight 0). */
  async promote(signal: AbortSignal): Promise<void> {
    if (this.arm !== 'manual') throw new PlatformError('kube: in the Flagger arm, Flagger promotes');
    // The canary's weight going to 0 now is the promotion, not a rollback by someone outside.
    this.released = false;
    await this.upgrade(this.manualValues('promoted'), signal, { wait: true });
    this.timeline({ atMs: this.clock.now(), kind: Marks.promoted, detail: 'release promoted to stable by hand' });
  }

  /** Manual: a real `helm rollback` to the stable revision. */
  externalRollback(signal: AbortSignal): Promise<number> {
    return new Promise((resolve) => {
      if (signal.aborted) return;
      this.externalWaiters.push(resolve);
    });
  }

  async rollback(signal: AbortSignal): Promise<void> {
    this.harnessRollback = true;
    const args = ['rollback', this.service];
    if (this.stableRevision !== undefined) args.push(String(this.stableRevision));
    await this.helm([...args, '--wait', '--timeout', '5m0s'], signal);
    this.timeline({ atMs: this.clock.now(), kind: Marks.rollbackDone, detail: 'helm rollback done' });
  }

  instructions(): string {
    const ctx = this.kc.getCurrentContext();
    return (
      `Released ${this.scenario.release.version} as a canary at ${this.scenario.manual.canaryWeight}% of ${this.service}.${this.namespace}.\n` +
      `Watch the "canary-mttr" Grafana dashboard (error rate and canary weight). To roll back, run:\n` +
      `  helm rollback ${this.service} ${this.stableRevision ?? ''} --namespace ${this.namespace} --kube-context ${ctx}\n` +
      'or type "rollback" here.'
    );
  }

  async injectEnvironmentFault(fault: EnvironmentFault): Promise<void> {
    throw new PlatformError(`kube: environment fault ${fault.fault} is only available on the local platform`);
  }

  /** Stops the watches, then gives the namespace back. Safe to call twice. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new Error('session closed'));
    await Promise.all([...this.watches.map((w) => w.done().catch(() => undefined)), this.observer?.stop()]);
    await this.onClose();
  }
}
