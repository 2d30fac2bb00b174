import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ScaledClock, sleepWall } from '../common/clock.ts';
import { FlaggerCanaryModel, type CanaryWorkloads } from '../flagger-model/model.ts';
import { BuiltinLoadGenerator } from '../load/builtin-generator.ts';
import { WeightedRouter } from '../mesh/router.ts';
import { MetricsStore } from '../metrics/store.ts';
import type { ArmSession, Platform } from '../platform/types.ts';
import { flaggerSchema } from '../scenario/schema.ts';
import { installProbes, probePlatform, type InstalledProbes } from './probes.ts';

let probes: InstalledProbes | undefined;
afterEach(() => {
  probes?.uninstall();
  probes = undefined;
});

function post(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = '{"sms":"hello"}';
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end(body);
  });
}

describe('installProbes', () => {
  it("sees a real router's route changes and answers, stamped on the probe's clock", async () => {
    probes = installProbes();
    const clock = new ScaledClock(10);
    const store = new MetricsStore(() => clock.now());
    const router = await new WeightedRouter({ clock, metrics: store, namespace: 'ns', service: 'svc' }).start();
    try {
      const before = performance.now();
      router.setRoutes([{ workload: 'svc', weight: 100 }]);
      // No endpoint: the router itself answers 503 "no healthy upstream" and records it.
      expect(await post(`${router.url}/sms`)).toBe(503);
      const { routes, responses } = probes.log;
      expect(routes).toEqual([{ wallMs: expect.any(Number), routes: [{ workload: 'svc', weight: 100 }] }]);
      expect(routes[0]!.wallMs).toBeGreaterThanOrEqual(before);
      expect(responses).toEqual([{ wallMs: expect.any(Number), clockMs: expect.any(Number), status: 503, workload: 'svc' }]);
      // The wrapper hands every record on to the store.
      expect(await store.serviceErrorRate({ namespace: 'ns', service: 'svc', windowMs: 60_000 })).toBe(1);
    } finally {
      await router.stop();
    }
  });

  it('listens to every Flagger model once it is reset, and stamps the load generator stop and drain', async () => {
    probes = installProbes();
    let revision = 'v1';
    const workloads: CanaryWorkloads = {
      targetRevision: () => revision,
      scaleUpCanary: async () => undefined,
      canaryReadiness: () => 'starting',
      primaryReady: () => true,
      setRoutes: async () => undefined,
      promote: async () => undefined,
      scaleDownCanary: async () => undefined,
      smokeTest: async () => undefined,
    };
    const model = new FlaggerCanaryModel({ name: 'svc', namespace: 'ns' }, flaggerSchema.parse({}), workloads, new MetricsStore(() => 0));
    model.reset();
    model.reset();
    revision = 'v2';
    await model.tick(1234);
    expect(probes.log.events).toEqual([{ wallMs: expect.any(Number), atMs: 1234, message: 'New revision detected! Scaling up svc.ns' }]);

    const load = new BuiltinLoadGenerator().start({
      url: 'http://127.0.0.1:9/sms',
      rateRps: 50,
      clock: new ScaledClock(1),
      timeoutMs: 500,
      maxInFlight: 10,
      onRecord: () => undefined,
    });
    await sleepWall(50);
    await load.stop();
    await load.stop();
    const [entry] = probes.log.loads;
    expect(entry!.stopCalledWallMs).toBeGreaterThanOrEqual(entry!.startWallMs);
    expect(entry!.stopDoneWallMs).toBeGreaterThanOrEqual(entry!.stopCalledWallMs!);
  });

  it('puts the prototypes back on uninstall and refuses a second installation', () => {
    const original = MetricsStore.prototype.record;
    probes = installProbes();
    expect(MetricsStore.prototype.record).not.toBe(original);
    expect(() => installProbes()).toThrow('probes: already installed');
    probes.uninstall();
    probes = undefined;
    expect(MetricsStore.prototype.record).toBe(original);
  });
});

describe('probePlatform', () => {
  it("stamps each session's restore and release, and still returns what they return", async () => {
    probes = installProbes();
    const calls: string[] = [];
    const session = {
      restore: async () => void calls.push('restore'),
      release: async () => void calls.push('release'),
    } as unknown as ArmSession;
    const inner: Platform = { name: 'local', open: async () => session, [Symbol.asyncDispose]: async () => undefined };
    const opened = await probePlatform(inner, probes.log).open('flagger', {} as never, {} as never);
    await opened.restore({ experiment: 'e', run: 'r' }, () => undefined, {} as never, new AbortController().signal);
    await opened.release(new AbortController().signal);
    expect(calls).toEqual(['restore', 'release']);
    expect(probes.log.opens).toHaveLength(1);
    expect(probes.log.restores[0]!.doneWallMs).toBeGreaterThanOrEqual(probes.log.restores[0]!.startWallMs);
    expect(probes.log.releases[0]!.doneWallMs).toBeGreaterThanOrEqual(probes.log.releases[0]!.startWallMs);
  });
});
