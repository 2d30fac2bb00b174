import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, PlatformError } from '../common/errors.ts';
import { pollUntil } from '../common/poll.ts';
import type { BuildSpec } from '../platform/local/app-process.ts';
import type { FlaggerSettings } from '../scenario/schema.ts';
import { KubeApiError, kubeRequest, resourcePath } from '../kube/kube-rest.ts';

/**
 * The objects of one Flagger-managed faulty-app service: a target Deployment whose pod template
 * carries the build in its environment (the mesh emulator's convention, see src/cluster/local/mesh-emulator.ts)
 * and a Canary with the scenario's analysis. On a real cluster the same env runs the real image.
 */

export const APP_CONTAINER = 'app';
export const APP_PORT = 8080;

/** The container env that selects a faulty-app build (faulty-app/src/config.ts). */
export function buildEnv(build: BuildSpec, seed?: number): Array<{ name: string; value: string }> {
  const env = [
    { name: 'APP_VERSION', value: build.version },
    { name: 'FAULT_MODE', value: build.fault },
    { name: 'FAULT_ERROR_RATE', value: String(build.errorRate) },
    { name: 'FAULT_LATENCY_MS', value: String(build.latencyMs) },
    { name: 'FAULT_ONSET_S', value: String(build.onsetS) },
  ];
  if (seed !== undefined) env.push({ name: 'FAULT_SEED', value: String(seed >>> 0) });
  return env;
}

export function namespaceManifest(name: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function faultyAppDeployment(
  namespace: string,
  name: string,
  build: BuildSpec,
  labels: Record<string, string> = {},
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name, ...labels } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...labels } },
        spec: {
          containers: [
            {
              name: APP_CONTAINER,
              image: `faulty-app:${build.version}`,
              ports: [{ name: 'http', containerPort: APP_PORT }],
              env: buildEnv(build),
              readinessProbe: { httpGet: { path: '/readyz', port: APP_PORT }, periodSeconds: 2 },
            },
          ],
        },
      },
    },
  };
}

/** A strategic-merge patch that releases `build` (image and env, merged by container name). */
export function releasePatch(build: BuildSpec) {
  return {
    spec: {
      template: {
        spec: { containers: [{ name: APP_CONTAINER, image: `faulty-app:${build.version}`, env: buildEnv(build) }] },
      },
    },
  };
}

/** A duration as PromQL and Go both read it: 1m, 30s, 500ms. */
export function promDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${Math.round(ms)}ms`;
}

/** Flagger's Canary for a target Deployment, from a scenario's `flagger` settings. */
export function canaryManifest(
  namespace: string,
  name: string,
  settings: FlaggerSettings,
  labels: Record<string, string> = {},
) {
  if (settings.smokeTest) {
    throw new ConfigError(
      'flagger.smokeTest: this bare Canary has no webhooks; install faulty-app/charts/flagger (the kube platform does) for the smoke test through flagger-loadtester, or use a scenario without it',
    );
  }
  const metrics: unknown[] = [];
  if (settings.requestSuccessRate) {
    metrics.push({
      name: 'request-success-rate',
      thresholdRange: { min: settings.requestSuccessRate.min },
      interval: promDuration(settings.requestSuccessRate.intervalMs),
    });
  }
  if (settings.requestDuration) {
    metrics.push({
      name: 'request-duration',
      thresholdRange: { max: settings.requestDuration.max },
      interval: promDuration(settings.requestDuration.intervalMs),
    });
  }
  const analysis: Record<string, unknown> = {
    interval: promDuration(settings.intervalMs),
    threshold: settings.threshold,
    metrics,
  };
  if (settings.stepWeights && settings.stepWeights.length > 0) analysis.stepWeights = settings.stepWeights;
  else {
    analysis.maxWeight = settings.maxWeight;
    analysis.stepWeight = settings.stepWeight;
  }
  return {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name, namespace, labels },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      progressDeadlineSeconds: Math.round(settings.progressDeadlineS),
      service: { port: 80, targetPort: APP_PORT },
      analysis,
    },
  };
}

export const paths = {
  namespace: (name?: string) => resourcePath('v1', 'namespaces', undefined, name),
  deployment: (ns: string, name?: string) => resourcePath('apps/v1', 'deployments', ns, name),
  canary: (ns: string, name?: string) => resourcePath('flagger.app/v1beta1', 'canaries', ns, name),
  virtualService: (ns: string, name?: string) =>
    resourcePath('networking.istio.io/v1beta1', 'virtualservices', ns, name),
  serviceAccount: (ns: string, name?: string) => resourcePath('v1', 'serviceaccounts', ns, name),
};

/**
 * Creates a namespace and waits for its `default` ServiceAccount (the controller-manager makes it;
 * until then the ServiceAccount admission plugin rejects every pod of the namespace).
 */
export async function createNamespace(
  kc: KubeConfig,
  name: string,
  options: { labels?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  await kubeRequest(kc, { method: 'POST', path: paths.namespace(), body: namespaceManifest(name, options.labels) });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const found = await pollUntil(
    async () => {
      try {
        await kubeRequest(kc, { method: 'GET', path: paths.serviceAccount(name, 'default') });
        return true;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.statusCode === 404)) throw err;
        return false;
      }
    },
    { everyMs: 200, timeoutMs, signal: options.signal },
  );
  if (found) return;
  const hint = 'is kube-controller-manager running?';
  throw new PlatformError(`namespace ${name}: no default ServiceAccount after ${timeoutMs / 1000} s; ${hint}`);
}

/** The primary and canary weights of a VirtualService's first HTTP route, by destination host. */
export async function virtualServiceWeights(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<Record<string, number>> {
  const vs = await kubeRequest<{
    spec?: { http?: Array<{ route?: Array<{ destination?: { host?: string }; weight?: number }> }> };
  }>(kc, {
    method: 'GET',
    path: paths.virtualService(namespace, name),
  });
  const out: Record<string, number> = {};
  for (const r of vs.spec?.http?.[0]?.route ?? []) out[r.destination?.host ?? '?'] = r.weight ?? 0;
  return out;
}
