/**
 * Tools tier (npm run test:tools). The two faulty-app charts through the real helm (lint and
 * template), with default values and with the values a release sets. The rendered Istio and
 * Flagger objects are also checked against the openAPI schemas of the CRDs the local control plane
 * installs (a structural check; the server-side dry run against a real apiserver is a separate test).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { findHelm, helmLint, helmTemplate, type KubeObject } from '../kube/helm.ts';
import { smokeTestCommand } from '../platform/local/app-process.ts';
import { toolsCacheDir } from '../process/tools.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MANUAL = path.join(ROOT, 'faulty-app/charts/manual');
const FLAGGER = path.join(ROOT, 'faulty-app/charts/flagger');
const NS = 'canary-mttr-test';
const INSTALL_HINT = 'run npm run tools:install first';

// ---- fixtures --------------------------------------------------------------------------------

function crdFile(envName: string, file: string): string {
  return process.env[envName] ?? path.join(toolsCacheDir(), 'crds', file);
}

interface CrdVersion {
  name: string;
  served: boolean;
  schema?: { openAPIV3Schema?: JsonSchema };
}
interface Crd {
  spec: { group: string; names: { kind: string }; versions: CrdVersion[] };
}

function loadCrds(file: string): Crd[] {
  if (!existsSync(file)) throw new Error(`CRD file ${file} is missing: ${INSTALL_HINT}`);
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as { kind?: string } | null)
    .filter((d): d is Crd & { kind: string } => d?.kind === 'CustomResourceDefinition');
}

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  required?: string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
}

/**
 * The structural part of what the apiserver checks for a custom resource: unknown fields (which
 * it would prune or reject), types, enums, bounds and required fields. oneOf/anyOf rules are not
 * evaluated.
 */
function schemaViolations(value: unknown, schema: JsonSchema, at = ''): string[] {
  if (schema['x-kubernetes-int-or-string']) {
    return Number.isInteger(value) || typeof value === 'string'
      ? []
      : [`${at}: ${JSON.stringify(value)} is not an integer or string`];
  }
  const out: string[] = [];
  if (schema.enum && !schema.enum.includes(value))
    out.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${at}: not an object`];
      if (schema['x-kubernetes-preserve-unknown-fields']) return out;
      for (const key of schema.required ?? []) if (!(key in value)) out.push(`${at}.${key}: required`);
      for (const [key, child] of Object.entries(value)) {
        const sub =
          schema.properties?.[key] ??
          (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
        if (sub) out.push(...schemaViolations(child, sub, `${at}.${key}`));
        else if (schema.additionalProperties !== true) out.push(`${at}.${key}: unknown field`);
      }
      return out;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: not an array`];
      value.forEach((item, i) => {
        if (schema.items) out.push(...schemaViolations(item, schema.items, `${at}[${i}]`));
      });
      return out;
    case 'string':
      return typeof value === 'string' ? out : [...out, `${at}: ${JSON.stringify(value)} is not a string`];
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value)))
        return [...out, `${at}: ${JSON.stringify(value)} is not of type ${schema.type}`];
      if (schema.minimum !== undefined && value < schema.minimum) out.push(`${at}: ${value} < ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) out.push(`${at}: ${value} > ${schema.maximum}`);
      return out;
    case 'boolean':
      return typeof value === 'boolean' ? out : [...out, `${at}: ${JSON.stringify(value)} is not a boolean`];
    default:
      return out;
  }
}

/** Problems of a custom resource against its CRD: served version, then the spec's schema. */
function crdProblems(obj: KubeObject, crds: Crd[]): string[] {
  const [group, version] = obj.apiVersion.split('/');
  const crd = crds.find((c) => c.spec.group === group && c.spec.names.kind === obj.kind);
  if (!crd) return [`no CRD for ${obj.apiVersion} ${obj.kind}`];
  const v = crd.spec.versions.find((x) => x.name === version);
  if (!v?.served)
    return [
      `${obj.apiVersion} ${obj.kind}: version ${version} is not served (served: ${crd.spec.versions
        .filter((x) => x.served)
        .map((x) => x.name)
        .join(', ')})`,
    ];
  const spec = v.schema?.openAPIV3Schema?.properties?.spec;
  return spec ? schemaViolations(obj.spec, spec, `${obj.kind}.spec`) : [];
}

const byKind = (objects: KubeObject[], kind: string) => objects.filter((o) => o.kind === kind);
const one = (objects: KubeObject[], kind: string, name?: string): KubeObject => {
  const found = byKind(objects, kind).filter((o) => name === undefined || o.metadata.name === name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

// Just enough typing to read the rendered workloads.
interface Container {
  name: string;
  image: string;
  env: { name: string; value: string }[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown>;
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string> };
    spec: { securityContext: Record<string, unknown>; containers: Container[] };
  };
}
const deploymentSpec = (d: KubeObject) => d.spec as DeploymentSpec;
const appContainer = (d: KubeObject) => {
  const c = deploymentSpec(d).template.spec.containers.find((x) => x.name === 'app');
  expect(c, `container "app" of ${d.metadata.name}`).toBeDefined();
  return c!;
};
const envOf = (d: KubeObject) => Object.fromEntries(appContainer(d).env.map((e) => [e.name, e.value]));

/** Labels every rendered object must carry. */
function expectObjectLabels(objects: KubeObject[], release: string, arm: string, experiment: string, run: string) {
  expect(objects.length).toBeGreaterThan(0);
  for (const o of objects) {
    expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
      'app.kubernetes.io/name': 'faulty-app',
      'app.kubernetes.io/instance': release,
      'app.kubernetes.io/part-of': 'canary-mttr',
      'app.kubernetes.io/managed-by': 'Helm',
      'canary-mttr/arm': arm,
      'canary-mttr/experiment': experiment,
      'canary-mttr/run': run,
    });
    expect(o.metadata.labels!['app.kubernetes.io/version']).toBeTruthy();
    expect(o.metadata.labels!['helm.sh/chart']).toMatch(/^faulty-app-(manual|flagger)-\d+\.\d+\.\d+$/);
    expect(o.metadata.namespace, `${o.kind}/${o.metadata.name} namespace`).toBe(NS);
  }
}

/** Pod security, probes, resources and port that both charts promise. */
function expectHardenedPod(d: KubeObject) {
  const spec = deploymentSpec(d).template.spec;
  expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 });
  const c = appContainer(d);
  expect(c.securityContext).toMatchObject({
    runAsNonRoot: true,
    runAsUser: 1000,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
  });
  expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
  expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(c.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } });
}

let istioCrds: Crd[];
let flaggerCrd: Crd[];

beforeAll(() => {
  if (findHelm() === undefined) return;
  istioCrds = loadCrds(crdFile('CANARY_MTTR_ISTIO_CRDS', 'istio-crds.yaml'));
  flaggerCrd = loadCrds(crdFile('CANARY_MTTR_FLAGGER_CRD', 'flagger-crd.yaml'));
});

beforeEach(() => {
  // Fail each test, never skip: a chart test that silently does not run is a chart that is not tested.
  if (findHelm() === undefined) {
    throw new Error(
      `helm is not on PATH, in CANARY_MTTR_HELM or in ${path.join(toolsCacheDir(), 'bin')}: ${INSTALL_HINT}`,
    );
  }
});

// ---- manual chart ----------------------------------------------------------------------------

describe('manual chart (stable + canary Deployments, Istio weights)', () => {
  it('passes helm lint --strict with its default values', async () => {
    const lint = await helmLint(MANUAL, {}, { namespace: NS });
    expect(lint.errors).toEqual([]);
    expect(lint.ok).toBe(true);
  });

  it('renders all traffic to stable and no canary pod by default', async () => {
    const objects = await helmTemplate(MANUAL, {}, { namespace: NS, releaseName: 'shop' });
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'Deployment/shop-canary',
      'Deployment/shop-stable',
      'DestinationRule/shop',
      'Service/shop',
      'VirtualService/shop',
    ]);
    expectObjectLabels(objects, 'shop', 'manual', 'adhoc', '0');

    const vs = one(objects, 'VirtualService');
    expect(vs.apiVersion).toBe('networking.istio.io/v1');
    expect(vs.spec).toEqual({
      hosts: ['shop'],
      http: [
        {
          name: 'shop',
          route: [
            { destination: { host: 'shop', subset: 'stable', port: { number: 8080 } }, weight: 100 },
            { destination: { host: 'shop', subset: 'canary', port: { number: 8080 } }, weight: 0 },
          ],
        },
      ],
    });
    expect(one(objects, 'DestinationRule').spec).toEqual({
      host: 'shop',
      subsets: [
        { name: 'stable', labels: { track: 'stable' } },
        { name: 'canary', labels: { track: 'canary' } },
      ],
    });
    expect(one(objects, 'Service').spec).toMatchObject({
      selector: { app: 'shop' },
      ports: [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }],
    });

    const stable = one(objects, 'Deployment', 'shop-stable');
    const canary = one(objects, 'Deployment', 'shop-canary');
    expect(deploymentSpec(stable).replicas).toBe(1);
    expect(deploymentSpec(canary).replicas).toBe(0);
    expect(deploymentSpec(stable).selector.matchLabels).toEqual({ app: 'shop', track: 'stable' });
    expect(deploymentSpec(canary).selector.matchLabels).toEqual({ app: 'shop', track: 'canary' });
    expect(envOf(stable)).toEqual({
      APP_VERSION: 'v1',
      FAULT_MODE: 'none',
      FAULT_ERROR_RATE: '1',
      FAULT_LATENCY_MS: '0',
      FAULT_ONSET_S: '0',
    });
    expect(appContainer(stable).image).toBe('faulty-app:v1');
    for (const d of [stable, canary]) expectHardenedPod(d);

    for (const o of [vs, one(objects, 'DestinationRule')]) expect(crdProblems(o, istioCrds)).toEqual([]);
  });

  it('keeps the stable pods when a values edit sends every request to the canary (0/100)', async () => {
    // The edit error of docs/design.md §13: only the weights are wrong, so a rollback finds the stable ready.
    const values = { trafficManagement: { weights: { stable: 0, canary: 100 } } };
    const objects = await helmTemplate(MANUAL, values, { namespace: NS, releaseName: 'shop' });
    expect(deploymentSpec(one(objects, 'Deployment', 'shop-stable')).replicas).toBe(1);
    expect(deploymentSpec(one(objects, 'Deployment', 'shop-canary')).replicas).toBe(1);
  });

  it('renders a 90/10 release of a faulty canary with the experiment and run labels', async () => {
    const values = {
      experiment: 'exp-42',
      run: 'r-7',
      canary: {
        image: { repository: 'faulty-app', tag: 'v2' },
        version: 'v2',
        fault: { mode: 'http500', errorRate: 0.05, latencyMs: 0, onsetS: 30 },
      },
      trafficManagement: { weights: { stable: 90, canary: 10 } },
    };
    const lint = await helmLint(MANUAL, values, { namespace: NS });
    expect(lint.errors).toEqual([]);
    const objects = await helmTemplate(MANUAL, values, { namespace: NS, releaseName: 'shop' });
    expectObjectLabels(objects, 'shop', 'manual', 'exp-42', 'r-7');

    const route = (
      one(objects, 'VirtualService').spec as {
        http: { route: { destination: { subset: string }; weight: number }[] }[];
      }
    ).http[0]!.route;
    expect(route.map((r) => [r.destination.subset, r.weight])).toEqual([
      ['stable', 90],
      ['canary', 10],
    ]);
    const canary = one(objects, 'Deployment', 'shop-canary');
    expect(deploymentSpec(canary).replicas).toBe(1);
    expect(appContainer(canary).image).toBe('faulty-app:v2');
    expect(envOf(canary)).toEqual({
      APP_VERSION: 'v2',
      FAULT_MODE: 'http500',
      FAULT_ERROR_RATE: '0.05',
      FAULT_LATENCY_MS: '0',
      FAULT_ONSET_S: '30',
    });
    expect(envOf(one(objects, 'Deployment', 'shop-stable'))).toEqual({
      APP_VERSION: 'v1',
      FAULT_MODE: 'none',
      FAULT_ERROR_RATE: '1',
      FAULT_LATENCY_MS: '0',
      FAULT_ONSET_S: '0',
    });

    // The run id is on every object but not in the pod template: a per-run label there would be
    // a new revision, restarting the stable pods each run.
    for (const d of byKind(objects, 'Deployment')) {
      const podLabels = deploymentSpec(d).template.metadata.labels;
      expect(podLabels).toMatchObject({ 'canary-mttr/experiment': 'exp-42', 'canary-mttr/arm': 'manual', app: 'shop' });
      expect(podLabels).not.toHaveProperty('canary-mttr/run');
    }
    expect(deploymentSpec(canary).template.metadata.labels['app.kubernetes.io/version']).toBe('v2');
  });

  it('binds to an ingress gateway and uses v1beta1 when asked', async () => {
    const objects = await helmTemplate(
      MANUAL,
      {
        trafficManagement: {
          apiVersion: 'networking.istio.io/v1beta1',
          weights: { stable: 100, canary: 0 },
          hosts: ['*'],
          gateways: ['mesh', 'istio-ingress/canary-mttr-gateway'],
        },
      },
      { namespace: NS, releaseName: 'shop' },
    );
    const vs = one(objects, 'VirtualService');
    expect(vs.apiVersion).toBe('networking.istio.io/v1beta1');
    expect(vs.spec).toMatchObject({ hosts: ['shop', '*'], gateways: ['mesh', 'istio-ingress/canary-mttr-gateway'] });
    expect(crdProblems(vs, istioCrds)).toEqual([]);
    expect(crdProblems(one(objects, 'DestinationRule'), istioCrds)).toEqual([]);
  });

  it('refuses weights that do not sum to 100, in lint and template', async () => {
    const values = { trafficManagement: { weights: { stable: 90, canary: 20 } } };
    const message =
      'trafficManagement.weights: stable 90 + canary 20 = 110; the weights must sum to 100 (e.g. stable 90, canary 10)';
    await expect(helmTemplate(MANUAL, values, { namespace: NS, releaseName: 'shop' })).rejects.toThrow(message);
    const lint = await helmLint(MANUAL, values, { namespace: NS });
    expect(lint.ok).toBe(false);
    expect(lint.output).toContain(message);
  });

  it('names the field and value of a bad value in helm lint', async () => {
    const lint = await helmLint(
      MANUAL,
      { canary: { fault: { mode: 'boom', errorRate: 1.5 } }, trafficManagment: { weights: {} }, run: 'has space' },
      { namespace: NS },
    );
    expect(lint.ok).toBe(false);
    expect(lint.errors).toEqual(
      expect.arrayContaining([
        "- at '/canary/fault/mode': value must be one of 'none', 'http500', 'latency', 'crash'",
        "- at '/canary/fault/errorRate': maximum: got 1.5, want 1",
        "- at '': additional properties 'trafficManagment' not allowed",
        expect.stringMatching(/^- at '\/run': '.*has space.*' does not match pattern/),
      ]),
    );
  });
});

// ---- Flagger chart ---------------------------------------------------------------------------

interface CanarySpec {
  targetRef: Record<string, string>;
  progressDeadlineSeconds: number;
  provider: string;
  service: Record<string, unknown>;
  analysis: Record<string, unknown> & { webhooks?: unknown[] };
}

describe('flagger chart (Deployment + Canary)', () => {
  it('passes helm lint --strict with its default values', async () => {
    const lint = await helmLint(FLAGGER, {}, { namespace: NS });
    expect(lint.errors).toEqual([]);
    expect(lint.ok).toBe(true);
  });

  it('renders the proposal analysis: 5% steps to 50%, both built-in checks, the smoke test', async () => {
    const objects = await helmTemplate(FLAGGER, {}, { namespace: NS, releaseName: 'shop' });
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['Canary/shop', 'Deployment/shop']);
    expectObjectLabels(objects, 'shop', 'flagger', 'adhoc', '0');

    const canary = one(objects, 'Canary');
    expect(canary.apiVersion).toBe('flagger.app/v1beta1');
    expect(canary.spec).toEqual({
      provider: 'istio',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'shop' },
      progressDeadlineSeconds: 120,
      service: { port: 8080, targetPort: 'http', portName: 'http' },
      analysis: {
        interval: '30s',
        threshold: 1,
        maxWeight: 50,
        stepWeight: 5,
        metrics: [
          { name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' },
          { name: 'request-duration', thresholdRange: { max: 500 }, interval: '1m' },
        ],
        webhooks: [
          {
            name: 'smoke-test',
            type: 'pre-rollout',
            url: `http://flagger-loadtester.${NS}/`,
            timeout: '30s',
            metadata: {
              type: 'bash',
              // The local platform's Flagger model reports a failed smoke test with this command.
              cmd: smokeTestCommand('shop', NS),
            },
          },
        ],
      },
    } satisfies CanarySpec);
    expect(crdProblems(canary, flaggerCrd)).toEqual([]);

    const target = one(objects, 'Deployment');
    // Flagger needs exactly one of its selector labels (app, name, app.kubernetes.io/name).
    expect(deploymentSpec(target).selector.matchLabels).toEqual({ app: 'shop' });
    expect(deploymentSpec(target).template.metadata.labels).toMatchObject({
      app: 'shop',
      'canary-mttr/experiment': 'adhoc',
    });
    expect(deploymentSpec(target).template.metadata.labels).not.toHaveProperty('canary-mttr/run');
    expect(envOf(target)).toEqual({
      APP_VERSION: 'v1',
      FAULT_MODE: 'none',
      FAULT_ERROR_RATE: '1',
      FAULT_LATENCY_MS: '0',
      FAULT_ONSET_S: '0',
    });
    expectHardenedPod(target);
  });

  it('renders a release with stepWeights, no smoke test and the run labels', async () => {
    const values = {
      experiment: 'exp-42',
      run: 3,
      image: { repository: 'faulty-app', tag: 'v2' },
      version: 'v2',
      fault: { mode: 'latency', errorRate: 1, latencyMs: 800, onsetS: 0 },
      analysis: { interval: '10s', threshold: 2, stepWeights: [5, 10, 20, 50] },
      smokeTest: { enabled: false },
      progressDeadlineSeconds: 60,
    };
    const lint = await helmLint(FLAGGER, values, { namespace: NS });
    expect(lint.errors).toEqual([]);
    const objects = await helmTemplate(FLAGGER, values, { namespace: NS, releaseName: 'shop' });
    expectObjectLabels(objects, 'shop', 'flagger', 'exp-42', '3');

    const canary = one(objects, 'Canary');
    const spec = canary.spec as CanarySpec;
    expect(spec.progressDeadlineSeconds).toBe(60);
    expect(spec.analysis).toEqual({
      interval: '10s',
      threshold: 2,
      stepWeights: [5, 10, 20, 50],
      metrics: [
        { name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' },
        { name: 'request-duration', thresholdRange: { max: 500 }, interval: '1m' },
      ],
    });
    expect(crdProblems(canary, flaggerCrd)).toEqual([]);

    const target = one(objects, 'Deployment');
    expect(appContainer(target).image).toBe('faulty-app:v2');
    expect(envOf(target)).toEqual({
      APP_VERSION: 'v2',
      FAULT_MODE: 'latency',
      FAULT_ERROR_RATE: '1',
      FAULT_LATENCY_MS: '800',
      FAULT_ONSET_S: '0',
    });
  });

  it('points the smoke test at a loadtester in another namespace and binds gateways', async () => {
    const objects = await helmTemplate(
      FLAGGER,
      {
        smokeTest: { enabled: true, loadtesterNamespace: 'loadtest' },
        service: { port: 8080, hosts: ['*'], gateways: ['mesh', 'istio-ingress/canary-mttr-gateway'] },
        analysis: { metrics: { requestDuration: { enabled: false, max: 500, interval: '1m' } } },
      },
      { namespace: NS, releaseName: 'shop' },
    );
    const canary = one(objects, 'Canary');
    const spec = canary.spec as CanarySpec;
    expect(spec.service).toEqual({
      port: 8080,
      targetPort: 'http',
      portName: 'http',
      hosts: ['*'],
      gateways: ['mesh', 'istio-ingress/canary-mttr-gateway'],
    });
    expect(spec.analysis.metrics).toEqual([
      { name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' },
    ]);
    expect(spec.analysis.webhooks).toMatchObject([
      {
        url: 'http://flagger-loadtester.loadtest/',
        metadata: { cmd: expect.stringContaining(`http://shop-canary.${NS}:8080/sms`) },
      },
    ]);
    expect(crdProblems(canary, flaggerCrd)).toEqual([]);
  });

  it.each([
    [{ analysis: { interval: '5s' } }, "analysis.interval: 5s is below Flagger's 10s minimum; use 10s or more"],
    [{ analysis: { stepWeights: [5, 50, 20] } }, 'analysis.stepWeights[2]: 20 must be above the step before it (50)'],
    [{ analysis: { stepWeight: 60 } }, 'analysis.stepWeight: 60 is above analysis.maxWeight 50'],
    [
      {
        smokeTest: { enabled: false },
        analysis: {
          metrics: {
            requestSuccessRate: { enabled: false, min: 99, interval: '1m' },
            requestDuration: { enabled: false, max: 500, interval: '1m' },
          },
        },
      },
      'requestSuccessRate, requestDuration and smokeTest are all disabled',
    ],
  ])('refuses %j', async (values, message) => {
    await expect(helmTemplate(FLAGGER, values, { namespace: NS, releaseName: 'shop' })).rejects.toThrow(message);
    const lint = await helmLint(FLAGGER, values, { namespace: NS });
    expect(lint.ok).toBe(false);
    expect(lint.output).toContain(message);
  });

  it('names the field and value of a bad value in helm lint', async () => {
    const lint = await helmLint(
      FLAGGER,
      { analysis: { threshold: 0, interval: 'soon' }, fault: { mode: 'http500', errorRate: -1 } },
      { namespace: NS },
    );
    expect(lint.ok).toBe(false);
    expect(lint.errors).toEqual(
      expect.arrayContaining([
        "- at '/analysis/threshold': minimum: got 0, want 1",
        "- at '/fault/errorRate': minimum: got -1, want 0",
        expect.stringMatching(/^- at '\/analysis\/interval': 'soon' does not match pattern/),
      ]),
    );
  });
});

describe('test guards', () => {
  it('the CRD check catches unknown fields and wrong types', async () => {
    const objects = await helmTemplate(FLAGGER, {}, { namespace: NS, releaseName: 'shop' });
    const canary = structuredClone(one(objects, 'Canary'));
    const analysis = (canary.spec as CanarySpec).analysis;
    analysis.stepWieght = 5;
    analysis.threshold = 'two';
    expect(crdProblems(canary, flaggerCrd)).toEqual([
      'Canary.spec.analysis.threshold: "two" is not of type number',
      'Canary.spec.analysis.stepWieght: unknown field',
    ]);
    const vs = structuredClone(
      one(await helmTemplate(MANUAL, {}, { namespace: NS, releaseName: 'shop' }), 'VirtualService'),
    );
    expect(crdProblems({ ...vs, apiVersion: 'networking.istio.io/v2' }, istioCrds)[0]).toMatch(
      /^networking.istio.io\/v2 VirtualService: version v2 is not served \(served: v1, v1alpha3, v1beta1\)$/,
    );
  });
});
