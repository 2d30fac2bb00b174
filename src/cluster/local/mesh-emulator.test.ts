import type { V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  buildFromTemplate,
  deploymentOfPod,
  desiredState,
  isFaultyApp,
  podStatusPatch,
  resolveWorkload,
  routesFromVirtualService,
  serviceNameOf,
  type VirtualService,
} from './mesh-emulator.ts';

function deployment(
  name: string,
  env: Record<string, string>,
  extra: {
    image?: string;
    labels?: Record<string, string>;
    status?: V1Deployment['status'];
    replicas?: number;
    generation?: number;
  } = {},
): V1Deployment {
  return {
    metadata: { name, namespace: 'test', generation: extra.generation ?? 1 },
    spec: {
      replicas: extra.replicas ?? 1,
      selector: { matchLabels: extra.labels ?? { app: name } },
      template: {
        metadata: { labels: extra.labels ?? { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: extra.image ?? 'faulty-app:v1',
              env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
            },
          ],
        },
      },
    },
    status: extra.status ?? { observedGeneration: 1, replicas: 1, readyReplicas: 1, updatedReplicas: 1 },
  };
}

function service(name: string, selector: Record<string, string>): V1Service {
  return { metadata: { name, namespace: 'test' }, spec: { selector } };
}

describe('buildFromTemplate: the pod template names the build', () => {
  it('reads APP_VERSION and the FAULT_* variables of the first container', () => {
    const build = buildFromTemplate(
      deployment('podinfo', { APP_VERSION: 'v2', FAULT_MODE: 'http500', FAULT_ERROR_RATE: '0.05', FAULT_SEED: '7' }),
    );
    expect(build).toMatchObject({
      ok: true,
      seed: 7,
      spec: { version: 'v2', fault: 'http500', errorRate: 0.05, latencyMs: 0, onsetS: 0 },
    });
  });

  it('takes the version from the image tag when APP_VERSION is not set, and a seed from the name', () => {
    const a = buildFromTemplate(
      deployment(
        'podinfo',
        { FAULT_MODE: 'latency', FAULT_LATENCY_MS: '800' },
        { image: 'registry.local/faulty-app:v7' },
      ),
    );
    const b = buildFromTemplate(
      deployment(
        'podinfo',
        { FAULT_MODE: 'latency', FAULT_LATENCY_MS: '800' },
        { image: 'registry.local/faulty-app:v7' },
      ),
    );
    expect(a).toMatchObject({ ok: true, spec: { version: 'v7', fault: 'latency', latencyMs: 800 } });
    expect(a.ok && b.ok && a.seed === b.seed && a.revision === b.revision).toBe(true);
  });

  it("a template the app would refuse is refused with the app's own message", () => {
    expect(buildFromTemplate(deployment('podinfo', { FAULT_MODE: 'http500', FAULT_ERROR_RATE: '1.5' }))).toEqual({
      ok: false,
      problem:
        'test/podinfo: faulty-app: FAULT_ERROR_RATE="1.5" is not a number between 0 and 1; set it to a share such as 0.05',
    });
    expect(buildFromTemplate(deployment('podinfo', { FAULT_RATE: '1' }))).toMatchObject({
      ok: false,
      problem: expect.stringContaining('FAULT_RATE is not a known setting'),
    });
  });

  it('a change of any fault setting is a new revision; the same template is the same revision', () => {
    const a = buildFromTemplate(deployment('podinfo', { APP_VERSION: 'v2', FAULT_MODE: 'http500' }));
    const b = buildFromTemplate(
      deployment('podinfo', { APP_VERSION: 'v2', FAULT_MODE: 'http500', FAULT_ERROR_RATE: '0.5' }),
    );
    const c = buildFromTemplate(deployment('podinfo', { APP_VERSION: 'v2', FAULT_MODE: 'http500' }));
    expect(a.ok && b.ok && a.revision !== b.revision).toBe(true);
    expect(a.ok && c.ok && a.revision === c.revision).toBe(true);
  });
});

describe('isFaultyApp', () => {
  it('emulates faulty-app images and templates that set its variables, nothing else', () => {
    expect(isFaultyApp(deployment('a', {}, { image: 'faulty-app:v1' }))).toBe(true);
    expect(isFaultyApp(deployment('b', { APP_VERSION: 'v1' }, { image: 'example/app:1' }))).toBe(true);
    expect(isFaultyApp(deployment('c', {}, { image: 'ghcr.io/fluxcd/flagger-loadtester:0.38.0' }))).toBe(false);
  });
});

describe("desiredState follows the controllers (the pods exist; their readiness is the emulator's)", () => {
  it('runs an observed generation with a pod, ready or not; stops at zero replicas or no pod; keeps the old pod mid-rollout', () => {
    expect(desiredState(deployment('a', {}))).toBe('run');
    expect(desiredState(deployment('a', {}, { replicas: 0 }))).toBe('stop');
    expect(
      desiredState(deployment('a', {}, { status: { observedGeneration: 1, replicas: 0, updatedReplicas: 0 } })),
    ).toBe('stop');
    // A pod of the template that is not ready (a crash-looping build) still runs: its readiness comes from the process.
    expect(
      desiredState(
        deployment('a', {}, { status: { observedGeneration: 1, replicas: 1, readyReplicas: 0, updatedReplicas: 1 } }),
      ),
    ).toBe('run');
    expect(
      desiredState(
        deployment(
          'a',
          {},
          { generation: 2, status: { observedGeneration: 1, replicas: 1, readyReplicas: 1, updatedReplicas: 1 } },
        ),
      ),
    ).toBe('keep');
    expect(
      desiredState(
        deployment(
          'a',
          {},
          { generation: 2, status: { observedGeneration: 2, replicas: 1, readyReplicas: 1, updatedReplicas: 0 } },
        ),
      ),
    ).toBe('keep');
  });
});

describe('pods: which Deployment, and the status patch that says what the process does', () => {
  const pod = (labels: Record<string, string>, status: V1Pod['status'] = {}): V1Pod => ({
    metadata: { name: 'p', namespace: 'test', labels },
    spec: { containers: [{ name: 'app', image: 'faulty-app:v1' }] },
    status: { phase: 'Running', ...status },
  });
  const unready: V1Pod['status'] = {
    conditions: [{ type: 'Ready', status: 'False' }],
    containerStatuses: [{ name: 'app', image: 'faulty-app:v1', ready: false, restartCount: 0, imageID: '' }],
  };
  const ready: V1Pod['status'] = {
    conditions: [{ type: 'Ready', status: 'True' }],
    containerStatuses: [{ name: 'app', image: 'faulty-app:v1', ready: true, restartCount: 0, imageID: '' }],
  };
  const now = new Date('2026-11-26T10:00:00.123Z');

  it("finds the Deployment by its selector, in the pod's namespace only", () => {
    const deployments = [deployment('podinfo', {}), deployment('podinfo-primary', {})];
    expect(
      deploymentOfPod(pod({ app: 'podinfo-primary', 'pod-template-hash': 'x' }), deployments)?.metadata?.name,
    ).toBe('podinfo-primary');
    expect(deploymentOfPod(pod({ app: 'podinfo' }), deployments)?.metadata?.name).toBe('podinfo');
    expect(deploymentOfPod(pod({ app: 'other' }), deployments)).toBeUndefined();
    expect(
      deploymentOfPod(
        { ...pod({ app: 'podinfo' }), metadata: { namespace: 'elsewhere', labels: { app: 'podinfo' } } },
        deployments,
      ),
    ).toBeUndefined();
  });

  it('marks a pod Ready and running, or not Ready in CrashLoopBackOff with its restarts, and leaves a pod that already says so', () => {
    expect(podStatusPatch(pod({}, unready), true, 0, now)).toEqual({
      status: {
        conditions: [
          { type: 'Ready', status: 'True', reason: null, lastTransitionTime: '2026-11-26T10:00:00Z' },
          { type: 'ContainersReady', status: 'True', reason: null, lastTransitionTime: '2026-11-26T10:00:00Z' },
        ],
        containerStatuses: [
          {
            name: 'app',
            image: 'faulty-app:v1',
            ready: true,
            restartCount: 0,
            started: true,
            state: { running: { startedAt: '2026-11-26T10:00:00Z' }, waiting: null },
          },
        ],
      },
    });
    expect(podStatusPatch(pod({}, ready), false, 2, now)).toMatchObject({
      status: {
        conditions: [
          { type: 'Ready', status: 'False', reason: 'ContainersNotReady' },
          { type: 'ContainersReady', status: 'False' },
        ],
        containerStatuses: [
          {
            name: 'app',
            ready: false,
            restartCount: 2,
            started: false,
            state: { waiting: { reason: 'CrashLoopBackOff' }, running: null },
          },
        ],
      },
    });
    expect(podStatusPatch(pod({}, ready), true, 0, now)).toBeUndefined();
    expect(podStatusPatch(pod({}, unready), false, 0, now)).toBeUndefined();
    // Same readiness, one more restart: patched.
    expect(podStatusPatch(pod({}, unready), false, 1, now)).toBeDefined();
  });
});

describe('routes of a VirtualService, by workload', () => {
  // What Flagger writes: apex podinfo, services podinfo-primary (selects app=podinfo-primary) and
  // podinfo-canary (selects app=podinfo, the target Deployment).
  const deployments = [deployment('podinfo', {}), deployment('podinfo-primary', {})];
  const services = [
    service('podinfo', { app: 'podinfo-primary' }),
    service('podinfo-primary', { app: 'podinfo-primary' }),
    service('podinfo-canary', { app: 'podinfo' }),
  ];
  const vs = (route: Array<{ host: string; weight?: number }>): VirtualService => ({
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      hosts: ['podinfo'],
      http: [{ route: route.map((r) => ({ destination: { host: r.host }, weight: r.weight })) }],
    },
  });
  const resolveWith = (svcs: V1Service[]) => (host: string) => resolveWorkload(host, 'test', svcs, deployments);

  it("maps Flagger's services to workloads through their selectors", () => {
    expect(
      routesFromVirtualService(
        vs([
          { host: 'podinfo-primary', weight: 90 },
          { host: 'podinfo-canary', weight: 10 },
        ]),
        resolveWith(services),
      ),
    ).toEqual({
      ok: true,
      routes: [
        { workload: 'podinfo-primary', weight: 90 },
        { workload: 'podinfo', weight: 10 },
      ],
    });
  });

  it("falls back to Flagger's naming before the Services are seen, and strips cluster-local names", () => {
    expect(
      routesFromVirtualService(
        vs([
          { host: 'podinfo-primary.test.svc.cluster.local', weight: 100 },
          { host: 'podinfo-canary', weight: 0 },
        ]),
        resolveWith([]),
      ),
    ).toEqual({
      ok: true,
      routes: [
        { workload: 'podinfo-primary', weight: 100 },
        { workload: 'podinfo', weight: 0 },
      ],
    });
    expect(serviceNameOf('podinfo.test.svc', 'test')).toBe('podinfo');
    expect(serviceNameOf('podinfo.other.svc.cluster.local', 'test')).toBe('podinfo.other.svc.cluster.local');
  });

  it('a single destination without a weight takes everything; weights not adding to 100 are refused', () => {
    expect(routesFromVirtualService(vs([{ host: 'podinfo-primary' }]), resolveWith(services))).toEqual({
      ok: true,
      routes: [{ workload: 'podinfo-primary', weight: 100 }],
    });
    expect(
      routesFromVirtualService(
        vs([{ host: 'podinfo-primary', weight: 90 }, { host: 'podinfo-canary' }]),
        resolveWith(services),
      ),
    ).toEqual({
      ok: false,
      problem: 'VirtualService test/podinfo: http[0].route weights add up to 90, not 100',
    });
    expect(
      routesFromVirtualService({ metadata: { name: 'x', namespace: 'test' }, spec: {} }, resolveWith(services)),
    ).toEqual({ ok: false, problem: 'VirtualService test/x: http[0].route is empty' });
  });
});
