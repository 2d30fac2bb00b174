import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Deployment,
  type V1Pod,
  type V1PodSpec,
  type V1Service,
} from '@kubernetes/client-node';
import createDebug from 'debug';
import { AppConfigError, knownFaultVariables, parseAppConfig } from '../../../faulty-app/src/config.ts';
import { ScaledClock, sleepWall, type Clock } from '../../common/clock.ts';
import { PlatformError } from '../../common/errors.ts';
import { pollUntil } from '../../common/poll.ts';
import { kubeRequest } from '../../kube/kube-rest.ts';
import { ListWatch, type ListResult, type ObjectMeta } from '../../kube/list-watch.ts';
import { MetricsStore } from '../../metrics/store.ts';
import { AppLauncher, type BuildSpec } from '../../platform/local/app-process.ts';
import { ProcessDeployment } from '../../platform/local/deployment.ts';
import type { ProcessRegistry } from '../../process/registry.ts';
import { WeightedRouter, type Endpoint, type RouteDestination } from '../../mesh/router.ts';

const debug = createDebug('canary-mttr:mesh-emulator');

/** The fields of an Istio VirtualService the emulator reads (networking.istio.io). */
export interface VirtualService extends ObjectMeta {
  spec?: {
    hosts?: string[];
    http?: Array<{
      route?: Array<{ destination?: { host?: string; subset?: string }; weight?: number }>;
    }>;
  };
}

/** What a pod template asks the emulator to run, or why it cannot. */
export type TemplateBuild =
  | { ok: true; spec: BuildSpec; seed: number; revision: string }
  | { ok: false; problem: string };

/** 'run' the template now, 'stop' (no ready pod), or 'keep' whatever runs (a rollout in flight). */
export type Desired = 'run' | 'stop' | 'keep';

const APP_ENV = ['APP_VERSION', ...knownFaultVariables] as const;

function firstContainer(deployment: V1Deployment) {
  return deployment.spec?.template?.spec?.containers?.[0];
}

/**
 * Which pods are faulty-app pods: a first container whose image is `…faulty-app…`, or that sets
 * APP_VERSION or a FAULT_* variable. Anything else (a Flagger load tester, say) is left alone
 * rather than impersonated by the wrong program. The kwok stage in
 * src/cluster/local/kwok-app-pods.yaml selects the same pods.
 */
export function isFaultyAppPod(spec: V1PodSpec | undefined): boolean {
  const container = spec?.containers?.[0];
  if (!container) return false;
  if ((container.image ?? '').includes('faulty-app')) return true;
  return (container.env ?? []).some((e) => e.name === 'APP_VERSION' || e.name.startsWith('FAULT_'));
}

/** Whether a Deployment's pods are faulty-app pods (isFaultyAppPod of its template). */
export function isFaultyApp(deployment: V1Deployment): boolean {
  return isFaultyAppPod(deployment.spec?.template?.spec);
}

/**
 * The build a pod template describes. The convention is the container's environment, the same
 * variables faulty-app reads (APP_VERSION, FAULT_MODE, FAULT_ERROR_RATE, FAULT_LATENCY_MS,
 * FAULT_ONSET_S, FAULT_SEED): Flagger copies the whole template to `-primary`, so the variant
 * travels with the spec. Without APP_VERSION the image tag is the version. Values are checked by
 * faulty-app's own parser, so a template the real app would refuse is refused here too.
 */
export function buildFromTemplate(deployment: V1Deployment): TemplateBuild {
  const container = firstContainer(deployment);
  const where = `${deployment.metadata?.namespace ?? ''}/${deployment.metadata?.name ?? ''}`;
  if (!container) return { ok: false, problem: `${where}: the pod template has no container` };
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined && (APP_ENV as readonly string[]).includes(variable.name))
      env[variable.name] = variable.value;
    else if (variable.name.startsWith('FAULT_') && !(APP_ENV as readonly string[]).includes(variable.name))
      env[variable.name] = variable.value ?? '';
  }
  if (env.APP_VERSION === undefined) {
    const tag = /:([A-Za-z0-9._-]+)$/.exec((container.image ?? '').split('@')[0] ?? '')?.[1];
    if (tag) env.APP_VERSION = tag;
  }
  try {
    const config = parseAppConfig(env);
    const seed = env.FAULT_SEED !== undefined ? config.faultSeed : seedOf(where);
    const spec: BuildSpec = {
      version: config.version,
      fault: config.faultMode,
      errorRate: config.faultErrorRate,
      latencyMs: config.faultLatencyMs,
      onsetS: config.faultOnsetS,
    };
    return { ok: true, spec, seed, revision: JSON.stringify([spec, seed]) };
  } catch (err) {
    if (err instanceof AppConfigError) return { ok: false, problem: `${where}: ${err.message}` };
    throw err;
  }
}

function seedOf(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}

/**
 * What the Deployment's pods ask for, following the controllers: scaled to zero or no pod → stop;
 * the current generation observed with a pod of its template → run that template; in between (the
 * new ReplicaSet not yet up) → keep the old pod serving, as a rolling update does. Whether a pod
 * is Ready is the emulator's to say (podStatusPatch), as a kubelet's readiness probe would.
 */
export function desiredState(deployment: V1Deployment): Desired {
  const replicas = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  if (replicas === 0 || (status.replicas ?? 0) === 0) return 'stop';
  const observed = (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  if (observed && (status.updatedReplicas ?? 0) > 0) return 'run';
  return 'keep';
}

/** The Deployment of `namespace` whose selector's matchLabels the pod's labels carry. */
export function deploymentOfPod(pod: V1Pod, deployments: readonly V1Deployment[]): V1Deployment | undefined {
  const labels = pod.metadata?.labels ?? {};
  return deployments.find((d) => {
    if (d.metadata?.namespace !== pod.metadata?.namespace) return false;
    const selector = Object.entries(d.spec?.selector?.matchLabels ?? {});
    return selector.length > 0 && selector.every(([k, v]) => labels[k] === v);
  });
}

/**
 * The status patch (strategic merge, pods/status) that makes a faulty-app pod's Ready condition
 * and container status say what its app process does, or undefined when they already do. Not
 * ready after restarts is CrashLoopBackOff, as a kubelet reports a container that keeps failing.
 */
export function podStatusPatch(
  pod: V1Pod,
  ready: boolean,
  restarts: number,
  now: Date,
): Record<string, unknown> | undefined {
  const status = pod.status ?? {};
  const readyNow = status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const container = status.containerStatuses?.[0];
  const name = container?.name ?? pod.spec?.containers?.[0]?.name;
  if (name === undefined) return undefined;
  if (readyNow === ready && (container?.ready ?? false) === ready && (container?.restartCount ?? 0) === restarts)
    return undefined;
  const at = now.toISOString().replace(/\.\d+Z$/, 'Z');
  const condition = (type: string) =>
    ready
      ? { type, status: 'True', reason: null, lastTransitionTime: at }
      : { type, status: 'False', reason: 'ContainersNotReady', lastTransitionTime: at };
  const state =
    ready || restarts === 0
      ? { running: { startedAt: at }, waiting: null }
      : { waiting: { reason: 'CrashLoopBackOff', message: 'the app did not get ready' }, running: null };
  return {
    status: {
      conditions: [condition('Ready'), condition('ContainersReady')],
      containerStatuses: [
        {
          name,
          image: container?.image ?? pod.spec?.containers?.[0]?.image ?? '',
          ready,
          restartCount: restarts,
          started: ready || restarts === 0,
          state,
        },
      ],
    },
  };
}

/** `podinfo-primary.test.svc.cluster.local` → `podinfo-primary` when it is in `namespace`. */
export function serviceNameOf(host: string, namespace: string): string {
  for (const suffix of [`.${namespace}.svc.cluster.local`, `.${namespace}.svc`, `.${namespace}`]) {
    if (host.endsWith(suffix)) return host.slice(0, -suffix.length);
  }
  return host;
}

/**
 * The workload (Deployment name, Istio's destination_workload) behind a route destination: the
 * Deployment whose pod labels match the Service's selector, as kube-proxy and Envoy would find
 * its pods. Without the Service yet, Flagger's naming is assumed: `<apex>-primary` is its own
 * workload and `<apex>-canary` is the target Deployment `<apex>`.
 */
export function resolveWorkload(
  host: string,
  namespace: string,
  services: readonly V1Service[],
  deployments: readonly V1Deployment[],
  subset?: string,
): string {
  const name = serviceNameOf(host, namespace);
  const inNamespace = deployments.filter((d) => d.metadata?.namespace === namespace);
  // A DestinationRule subset (the manual chart's stable/canary) is the Deployment of the service
  // with that track: the charts name it <service>-<subset>.
  if (subset) {
    const tracked = `${name}-${subset}`;
    if (inNamespace.some((d) => d.metadata?.name === tracked)) return tracked;
  }
  const service = services.find((s) => s.metadata?.namespace === namespace && s.metadata?.name === name);
  const selector = service?.spec?.selector;
  if (selector && Object.keys(selector).length > 0) {
    const matching = inNamespace
      .filter((d) => {
        const labels = d.spec?.template?.metadata?.labels ?? {};
        return Object.entries(selector).every(([k, v]) => labels[k] === v);
      })
      .map((d) => d.metadata?.name ?? '')
      .sort();
    if (matching[0] !== undefined) return matching[0];
  }
  if (inNamespace.some((d) => d.metadata?.name === name)) return name;
  const base = name.replace(/-canary$/, '');
  if (base !== name && inNamespace.some((d) => d.metadata?.name === base)) return base;
  return name;
}

/**
 * The weighted split of a VirtualService's first HTTP route, by workload. A single destination
 * without a weight takes everything (Istio's rule); otherwise a missing weight is 0 and the
 * weights must add up to 100, as Istio's validation demands.
 */
export function routesFromVirtualService(
  vs: VirtualService,
  resolve: (host: string, subset?: string) => string,
): { ok: true; routes: RouteDestination[] } | { ok: false; problem: string } {
  const where = `VirtualService ${vs.metadata?.namespace ?? ''}/${vs.metadata?.name ?? ''}`;
  const route = vs.spec?.http?.[0]?.route ?? [];
  if (route.length === 0) return { ok: false, problem: `${where}: http[0].route is empty` };
  const byWorkload = new Map<string, number>();
  for (const [i, entry] of route.entries()) {
    const host = entry.destination?.host;
    if (!host) return { ok: false, problem: `${where}: http[0].route[${i}].destination.host is missing` };
    const weight = entry.weight ?? (route.length === 1 ? 100 : 0);
    const workload = resolve(host, entry.destination?.subset);
    byWorkload.set(workload, (byWorkload.get(workload) ?? 0) + weight);
  }
  const total = [...byWorkload.values()].reduce((a, b) => a + b, 0);
  if (total !== 100) return { ok: false, problem: `${where}: http[0].route weights add up to ${total}, not 100` };
  return { ok: true, routes: [...byWorkload].map(([workload, weight]) => ({ workload, weight })) };
}

type RunnableBuild = Extract<TemplateBuild, { ok: true }>;

/**
 * Runs `work` one call at a time. A request made while one is already waiting folds into it;
 * one made while `work` runs queues one more call, so a change is never missed. Failures are
 * logged, not thrown: the next change runs it again.
 */
class CoalescingQueue {
  private chain: Promise<void> = Promise.resolve();
  private queued = false;

  constructor(
    private readonly what: string,
    private readonly work: () => Promise<void>,
    private readonly stopped: () => boolean,
  ) {}

  /** Settles when every call asked for so far has run; never rejects. */
  get idle(): Promise<void> {
    return this.chain;
  }

  schedule(): void {
    if (this.queued || this.stopped()) return;
    this.queued = true;
    this.chain = this.chain
      .then(async () => {
        this.queued = false;
        if (!this.stopped()) await this.work();
      })
      .catch((err) => debug('%s failed: %O', this.what, err));
  }
}

/** CrashLoopBackOff: kubelet waits 10 s, then doubles up to 5 minutes. */
const BACKOFF_START_MS = 10_000;
const BACKOFF_MAX_MS = 300_000;

/** The pods of one Deployment, played by (at most) one faulty-app process at a time. */
class EmulatedWorkload extends ProcessDeployment {
  problem: string | undefined;

  constructor(
    readonly namespace: string,
    readonly name: string,
    launcher: AppLauncher,
    publish: (endpoints: Endpoint[]) => void,
    readyTimeoutMs: number,
    /** Called when a restart is counted (the pods' restartCount changes). */
    restarted: () => void = () => undefined,
  ) {
    super({
      label: `${namespace}/${name}`,
      launcher,
      publish,
      readyTimeoutMs,
      crashLoop: { startMs: BACKOFF_START_MS, maxMs: BACKOFF_MAX_MS, onRestart: restarted },
    });
  }

  /** Runs `build`; a new revision rolls out (new process ready → endpoint moved → old stopped). */
  run(build: RunnableBuild): void {
    if (this.rollOutInBackground(build)) this.problem = undefined;
  }

  /** A template the app would refuse: no pod gets ready, like a crash-looping one. */
  fail(problem: string): void {
    if (this.problem === problem) return;
    debug('%s/%s: %s', this.namespace, this.name, problem);
    void this.stop().then(() => {
      this.problem = problem;
    });
  }
}

export interface MeshEmulatorOptions {
  kubeConfig: KubeConfig;
  /** Starts and reaps the app processes (they carry its labels). */
  registry: ProcessRegistry;
  /** faulty-app bundle (faulty-app/build.ts buildApp). */
  bundlePath: string;
  /** Namespace to emulate; all namespaces when absent. */
  namespace?: string;
  host?: string;
  /** Port of the Prometheus endpoint (GET /stats/prometheus); 0 picks a free one. */
  metricsPort?: number;
  /** Real time by default: this platform does not compress time. */
  clock?: Clock;
  /** How long a started app may take to answer /readyz, wall ms. */
  readyTimeoutMs?: number;
  /** How long start() waits for the first list of each watched collection, wall ms. */
  syncTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Called whenever a router appears or goes (not on weight changes). */
  onRoutersChanged?: (routers: RouterInfo[]) => void;
}

export interface RouterInfo {
  namespace: string;
  /** The VirtualService name: the apex service. */
  apex: string;
  url: string;
  routes: readonly RouteDestination[];
}

interface RouterEntry {
  namespace: string;
  apex: string;
  router: WeightedRouter;
  started: Promise<WeightedRouter>;
  url?: string;
  routesKey?: string;
}

/**
 * The stand-in for the Envoy sidecars and the pods of a cluster without a container runtime
 * (docs/design.md §8, local control plane). It watches Deployments, Pods, Services and Istio
 * VirtualServices: each faulty-app Deployment with a pod runs as one faulty-app process in the
 * variant its pod template names, and its pods are Ready exactly when that process is (kwok
 * starts them unready; syncPods plays the readiness probe); each VirtualService gets one WeightedRouter (the
 * local platform's router) serving its apex host with the weights of http[0].route. All routers
 * record into one MetricsStore, exported with Istio's destination-side labels at `metricsUrl`
 * for Prometheus, so Flagger's built-in queries work unchanged.
 */
export class MeshEmulator implements AsyncDisposable {
  private readonly clock: Clock;
  readonly metrics: MetricsStore;
  private readonly launcher: AppLauncher;
  private readonly abort = new AbortController();
  private readonly deployments: ListWatch<V1Deployment & ObjectMeta>;
  private readonly services: ListWatch<V1Service & ObjectMeta>;
  private readonly pods: ListWatch<V1Pod & ObjectMeta>;
  private readonly virtualServices: ListWatch<VirtualService>;
  private readonly workloads = new Map<string, EmulatedWorkload>();
  private readonly endpoints = new Map<string, Endpoint[]>();
  private readonly routers = new Map<string, RouterEntry>();
  private readonly problems = new Map<string, string>();
  private metricsServer: http.Server | undefined;
  private metricsPortBound = 0;
  private readonly reconciles = new CoalescingQueue(
    'reconcile',
    () => this.reconcile(),
    () => this.stopped,
  );
  private readonly podSyncs = new CoalescingQueue(
    'pod status sync',
    () => this.syncPods(),
    () => this.stopped,
  );
  private stopped = false;

  constructor(private readonly options: MeshEmulatorOptions) {
    this.clock = options.clock ?? new ScaledClock(1);
    this.metrics = new MetricsStore();
    this.launcher = new AppLauncher(options.registry, options.bundlePath, this.clock.timeScale, options.env);
    const kc = options.kubeConfig;
    const ns = options.namespace;
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const signal = this.abort.signal;
    const onChange = () => this.scheduleReconcile();
    this.deployments = new ListWatch({
      kubeConfig: kc,
      label: 'deployments',
      path: ns ? `/apis/apps/v1/namespaces/${ns}/deployments` : '/apis/apps/v1/deployments',
      list: async () =>
        (ns ? apps.listNamespacedDeployment({ namespace: ns }) : apps.listDeploymentForAllNamespaces()) as Promise<
          ListResult<V1Deployment & ObjectMeta>
        >,
      onChange,
      signal,
    });
    this.services = new ListWatch({
      kubeConfig: kc,
      label: 'services',
      path: ns ? `/api/v1/namespaces/${ns}/services` : '/api/v1/services',
      list: async () =>
        (ns ? core.listNamespacedService({ namespace: ns }) : core.listServiceForAllNamespaces()) as Promise<
          ListResult<V1Service & ObjectMeta>
        >,
      onChange,
      signal,
    });
    this.pods = new ListWatch({
      kubeConfig: kc,
      label: 'pods',
      path: ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods',
      list: async () =>
        (ns ? core.listNamespacedPod({ namespace: ns }) : core.listPodForAllNamespaces()) as Promise<
          ListResult<V1Pod & ObjectMeta>
        >,
      onChange: () => this.scheduleSyncPods(),
      signal,
    });
    const vsApi = { group: 'networking.istio.io', version: 'v1beta1', plural: 'virtualservices' };
    this.virtualServices = new ListWatch<VirtualService>({
      kubeConfig: kc,
      label: 'virtualservices',
      path: ns
        ? `/apis/networking.istio.io/v1beta1/namespaces/${ns}/virtualservices`
        : '/apis/networking.istio.io/v1beta1/virtualservices',
      list: async () =>
        (ns
          ? custom.listNamespacedCustomObject({ ...vsApi, namespace: ns })
          : custom.listClusterCustomObject(vsApi)) as Promise<ListResult<VirtualService>>,
      onChange,
      signal,
    });
  }

  /** Prometheus scrapes this: istio_requests_total and istio_request_duration_milliseconds. */
  get metricsUrl(): string {
    return `http://${this.options.host ?? '127.0.0.1'}:${this.metricsPortBound}/stats/prometheus`;
  }

  get metricsPort(): number {
    return this.metricsPortBound;
  }

  /** Serves metrics, then resolves once Deployments, Pods, Services and VirtualServices are listed. */
  async start(): Promise<this> {
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/stats/prometheus' || req.url === '/metrics')) {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(this.metrics.renderPrometheus());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new PlatformError(
            `mesh emulator: cannot serve metrics on ${this.options.host ?? '127.0.0.1'}:${this.options.metricsPort ?? 0}: ${err.message}`,
          ),
        ),
      );
      server.listen(this.options.metricsPort ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.metricsServer = server;
    this.metricsPortBound = (server.address() as AddressInfo).port;
    const timeoutMs = this.options.syncTimeoutMs ?? 30_000;
    const timeout = sleepWall(timeoutMs, this.abort.signal).then(
      () => {
        throw new PlatformError(
          `mesh emulator: Deployments, Pods, Services and VirtualServices not listed within ${timeoutMs / 1000} s; are the Istio CRDs installed?`,
        );
      },
      () => undefined,
    );
    try {
      await Promise.race([
        Promise.all([this.deployments.start(), this.pods.start(), this.services.start(), this.virtualServices.start()]),
        timeout,
      ]);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.scheduleReconcile();
    await this.reconciles.idle;
    return this;
  }

  /** Routers now serving, one per VirtualService. */
  routerInfos(): RouterInfo[] {
    return [...this.routers.values()]
      .filter((r) => r.url !== undefined)
      .map((r) => ({ namespace: r.namespace, apex: r.apex, url: r.url!, routes: r.router.getRoutes() }));
  }

  /** URL of the apex host of VirtualService `namespace/apex`, once its router serves. */
  async waitForRouter(
    namespace: string,
    apex: string,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<string> {
    const url = await pollUntil(() => this.routers.get(`${namespace}/${apex}`)?.url, { everyMs: 100, ...options });
    if (url === undefined) {
      const waitedS = options.timeoutMs / 1000;
      throw new PlatformError(`mesh emulator: no VirtualService ${namespace}/${apex} served after ${waitedS} s`);
    }
    return url;
  }

  /**
   * Where a request to a Service's DNS name lands, as a sidecar sends it: the apex host of a
   * VirtualService through its router, any other Service to a ready endpoint of the workload
   * behind it (the smoke test's `<app>-canary`). Undefined when there is no such Service.
   */
  serviceTarget(host: string): Endpoint | { unavailable: string } | undefined {
    const [name, namespace] = host.split('.');
    if (!name || !namespace) return undefined;
    const router = this.routers.get(`${namespace}/${name}`);
    if (router?.url) {
      const url = new URL(router.url);
      return { host: url.hostname, port: Number(url.port) };
    }
    const services = this.services.items;
    if (!services.some((s) => s.metadata?.namespace === namespace && s.metadata?.name === name)) return undefined;
    const workload = resolveWorkload(host, namespace, services, this.deployments.items);
    return (
      this.endpoints.get(`${namespace}/${workload}`)?.[0] ?? {
        unavailable: `Service ${namespace}/${name}: no ready endpoint of ${workload}`,
      }
    );
  }

  /** What runs now, for diagnostics and tests. */
  snapshot(): {
    workloads: Array<{
      namespace: string;
      name: string;
      version?: string;
      fault?: string;
      port?: number;
      problem?: string;
    }>;
    routers: RouterInfo[];
  } {
    return {
      workloads: [...this.workloads.values()].map((w) => ({
        namespace: w.namespace,
        name: w.name,
        version: w.spec?.version,
        fault: w.spec?.fault,
        port: w.port,
        problem: w.problem,
      })),
      routers: this.routerInfos(),
    };
  }

  private scheduleReconcile(): void {
    this.reconciles.schedule();
  }

  private publish(namespace: string, name: string, endpoints: Endpoint[]): void {
    this.endpoints.set(`${namespace}/${name}`, endpoints);
    for (const entry of this.routers.values()) {
      if (entry.namespace === namespace) entry.router.setEndpoints(name, endpoints);
    }
    this.scheduleSyncPods();
  }

  private scheduleSyncPods(): void {
    this.podSyncs.schedule();
  }

  /**
   * The kubelet's readiness probe, for the faulty-app pods kwok starts (not Ready, see
   * src/cluster/local/kwok-app-pods.yaml): a pod is Ready when a ready process serves its
   * template's revision, and not Ready otherwise, with the restarts of a crash-looping build.
   */
  private async syncPods(): Promise<void> {
    const deployments = this.deployments.items;
    for (const pod of this.pods.items) {
      if (pod.metadata?.deletionTimestamp || pod.status?.phase !== 'Running' || !isFaultyAppPod(pod.spec)) continue;
      const deployment = deploymentOfPod(pod, deployments);
      if (!deployment) continue;
      const build = buildFromTemplate({
        metadata: deployment.metadata,
        spec: { selector: {}, template: { spec: pod.spec! } },
      });
      const revision = build.ok ? build.revision : undefined;
      const workload = this.workloads.get(`${deployment.metadata?.namespace ?? ''}/${deployment.metadata?.name ?? ''}`);
      const ready = revision !== undefined && workload?.servingRevision === revision;
      const patch = podStatusPatch(pod, ready, workload?.restartsOf(revision) ?? 0, new Date());
      if (!patch) continue;
      const { namespace, name } = pod.metadata!;
      try {
        await kubeRequest(this.options.kubeConfig, {
          method: 'PATCH',
          path: `/api/v1/namespaces/${namespace}/pods/${name}/status`,
          body: patch,
          patch: 'strategic',
        });
        debug('pod %s/%s: Ready=%s', namespace, name, ready);
      } catch (err) {
        // Deleted meanwhile, or a conflict: the next pod event brings the sync back.
        debug('pod %s/%s: status patch failed: %s', namespace, name, (err as Error).message);
      }
    }
  }

  private async reconcile(): Promise<void> {
    const deployments = this.deployments.items;
    const services = this.services.items;
    const wanted = new Set<string>();
    for (const deployment of deployments) {
      if (!isFaultyApp(deployment)) continue;
      const namespace = deployment.metadata?.namespace ?? '';
      const name = deployment.metadata?.name ?? '';
      const key = `${namespace}/${name}`;
      wanted.add(key);
      let workload = this.workloads.get(key);
      const desired = desiredState(deployment);
      if (desired === 'stop') {
        if (workload?.isActive) void workload.stop();
        continue;
      }
      if (!workload) {
        workload = new EmulatedWorkload(
          namespace,
          name,
          this.launcher,
          (eps) => this.publish(namespace, name, eps),
          this.options.readyTimeoutMs ?? 15_000,
          () => this.scheduleSyncPods(),
        );
        this.workloads.set(key, workload);
      }
      if (desired === 'keep' && workload.isActive) continue;
      const build = buildFromTemplate(deployment);
      if (build.ok) workload.run(build);
      else workload.fail(build.problem);
    }
    for (const [key, workload] of [...this.workloads]) {
      if (wanted.has(key)) continue;
      this.workloads.delete(key);
      void workload.stop();
    }

    let routersChanged = false;
    const liveRouters = new Set<string>();
    for (const vs of this.virtualServices.items) {
      const namespace = vs.metadata?.namespace ?? '';
      const apex = vs.metadata?.name ?? '';
      const key = `${namespace}/${apex}`;
      liveRouters.add(key);
      let entry = this.routers.get(key);
      if (!entry) {
        entry = this.createRouter(namespace, apex);
        this.routers.set(key, entry);
        try {
          await entry.started;
          entry.url = entry.router.url;
          routersChanged = true;
        } catch (err) {
          debug('router for %s did not start: %O', key, err);
          this.routers.delete(key);
          continue;
        }
      }
      const result = routesFromVirtualService(vs, (host, subset) =>
        resolveWorkload(host, namespace, services, deployments, subset),
      );
      if (!result.ok) {
        if (this.problems.get(key) !== result.problem) debug('%s', result.problem);
        this.problems.set(key, result.problem);
        continue;
      }
      this.problems.delete(key);
      const routesKey = JSON.stringify(result.routes);
      if (routesKey !== entry.routesKey) {
        entry.routesKey = routesKey;
        entry.router.setRoutes(result.routes);
        debug('%s routes %s', key, result.routes.map((r) => `${r.workload}=${r.weight}`).join(' '));
      }
    }
    for (const [key, entry] of [...this.routers]) {
      if (liveRouters.has(key)) continue;
      this.routers.delete(key);
      routersChanged = true;
      await entry.router.stop();
    }
    if (routersChanged) this.options.onRoutersChanged?.(this.routerInfos());
    this.scheduleSyncPods();
  }

  private createRouter(namespace: string, apex: string): RouterEntry {
    const router = new WeightedRouter({
      clock: this.clock,
      metrics: this.metrics,
      namespace,
      service: apex,
      seed: seedOf(`${namespace}/${apex}`),
      host: this.options.host ?? '127.0.0.1',
      upstreamTimeoutWallMs: 30_000,
    });
    for (const [key, endpoints] of this.endpoints) {
      const [ns, name] = key.split('/') as [string, string];
      if (ns === namespace) router.setEndpoints(name, endpoints);
    }
    return { namespace, apex, router, started: router.start() };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort(new Error('mesh emulator stopped'));
    await this.reconciles.idle;
    await this.podSyncs.idle;
    await Promise.allSettled([
      this.deployments.done(),
      this.pods.done(),
      this.services.done(),
      this.virtualServices.done(),
    ]);
    await Promise.allSettled([...this.workloads.values()].map((w) => w.stop()));
    this.workloads.clear();
    await Promise.allSettled(
      [...this.routers.values()].map((r) =>
        r.started.then(
          () => r.router.stop(),
          () => r.router.stop(),
        ),
      ),
    );
    this.routers.clear();
    const server = this.metricsServer;
    this.metricsServer = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
