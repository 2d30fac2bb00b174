import { describe, expect, it } from 'vitest';
import type { RequestRecord } from '../load/types.ts';
import { computeRunMetrics, Marks, type RunObservation } from './compute.ts';
import type { TimelineEntry } from './types.ts';

/** 10 requests per second from `fromMs` to `toMs`; `serve(t)` says who answered, how and how fast (5 ms unless told). */
function traffic(
  fromMs: number,
  toMs: number,
  serve: (t: number) => { status: number; version: string; latencyMs?: number },
): RequestRecord[] {
  const out: RequestRecord[] = [];
  for (let t = fromMs; t < toMs; t += 100) {
    const { status, version, latencyMs = 5 } = serve(t);
    out.push({ sentMs: t, doneMs: t + latencyMs, latencyMs, status, version });
  }
  return out;
}

function observe(over: Partial<RunObservation> & Pick<RunObservation, 'records' | 'timeline'>): RunObservation {
  return {
    arm: 'flagger',
    releaseMs: 10_000,
    deadlineMs: 10_000 + 900_000,
    endMs: 200_000,
    releaseVersion: 'v2',
    cleanWindowMs: 30_000,
    latencyLimitMs: 500,
    ...over,
  };
}

const flaggerEvent = (atMs: number, detail: string, phase = 'Progressing'): TimelineEntry => ({
  atMs,
  kind: Marks.flaggerEvent,
  detail,
  phase,
});

describe('computeRunMetrics', () => {
  it('measures impact, detect, mitigate and recover of a Flagger rollback', () => {
    // Canary at 10% from 40 s, failing everything, rolled back at 100 s.
    const records = traffic(0, 200_000, (t) =>
      t >= 40_000 && t < 100_000 && Math.floor(t / 100) % 10 === 0
        ? { status: 500, version: 'v2' }
        : { status: 200, version: 'v1' },
    );
    const timeline = [
      { atMs: 10_000, kind: Marks.release },
      flaggerEvent(20_000, 'New revision detected! Scaling up app.ns'),
      flaggerEvent(40_000, 'Advance app.ns canary weight 10'),
      flaggerEvent(70_000, 'Halt app.ns advancement success rate 0.00% < 99%'),
      flaggerEvent(100_000, 'Rolling back app.ns failed checks threshold reached 2'),
      flaggerEvent(100_000, 'Canary failed! Scaling down app.ns', 'Failed'),
    ];
    const m = computeRunMetrics(observe({ records, timeline }));
    expect(m.outcome).toBe('rolled_back');
    expect(m.impactMs).toBe(40_005);
    expect(m.detectMs).toBe(70_000);
    expect(m.mitigateMs).toBe(100_000);
    // Last failed request sent at 99 s, answered at 99.005 s; the route change at 100 s is later.
    expect(m.recoverMs).toBe(100_000);
    expect(m.mttrS).toBeCloseTo((100_000 - 40_005) / 1000, 6);
    expect(m.ttrReleaseS).toBeCloseTo(90, 6);
    expect(m.ttdS).toBeCloseTo(29.995, 6);
    expect(m.ttmS).toBeCloseTo(59.995, 6);
    expect(m.failedRequests).toBe(60);
    expect(m.peakErrorRate).toBeCloseTo(0.1, 6);
  });

  it('extends recovery past the rollback while late failures still arrive', () => {
    const records = traffic(0, 200_000, (t) =>
      t >= 40_000 && t < 104_000 ? { status: 500, version: 'v2' } : { status: 200, version: 'v1' },
    );
    const timeline = [
      flaggerEvent(100_000, 'Rolling back app.ns failed checks threshold reached 2'),
      flaggerEvent(100_000, 'Canary failed! Scaling down app.ns', 'Failed'),
    ];
    const m = computeRunMetrics(observe({ records, timeline }));
    expect(m.recoverMs).toBe(103_905);
  });

  it('starts the clean window at the route change that takes the traffic away, not at the decision', () => {
    // Rolled back at 100 s; the weight change reaches the router 100 ms later (mesh propagation).
    const records = traffic(0, 200_000, (t) =>
      t >= 40_000 && t < 100_000 && Math.floor(t / 100) % 10 === 0
        ? { status: 500, version: 'v2' }
        : { status: 200, version: 'v1' },
    );
    const routes = (atMs: number, canaryWeight: number): TimelineEntry => ({
      atMs,
      kind: Marks.routes,
      detail: `app-primary=${100 - canaryWeight} app-canary=${canaryWeight}`,
      canaryWeight,
    });
    const timeline = [
      routes(40_100, 10),
      flaggerEvent(100_000, 'Rolling back app.ns failed checks threshold reached 2'),
      flaggerEvent(100_000, 'Canary failed! Scaling down app.ns', 'Failed'),
      routes(100_100, 0),
      routes(150_000, 0),
    ];
    const m = computeRunMetrics(observe({ records, timeline }));
    expect(m.mitigateMs).toBe(100_000);
    expect(m.recoverMs).toBe(100_100);
    // A route change before the rollback does not count, even with the canary at 0.
    const early = computeRunMetrics(observe({ records, timeline: [routes(30_000, 0), ...timeline.slice(1, 3)] }));
    expect(early.recoverMs).toBe(100_000);
  });

  it('a release rolled back before any failed request has MTTR 0 and a measured TTR_release', () => {
    const records = traffic(0, 200_000, () => ({ status: 200, version: 'v1' }));
    const timeline = [
      flaggerEvent(50_000, 'Halt app.ns advancement pre-rollout check smoke-test failed 500'),
      flaggerEvent(80_000, 'Rolling back app.ns failed checks threshold reached 2'),
      flaggerEvent(80_000, 'Canary failed! Scaling down app.ns', 'Failed'),
    ];
    const m = computeRunMetrics(observe({ records, timeline }));
    expect(m.outcome).toBe('rolled_back');
    expect(m.failedRequests).toBe(0);
    expect(m.mttrS).toBe(0);
    expect(m.ttrReleaseS).toBe(70);
    expect(m.impactMs).toBeUndefined();
    expect(m.ttdS).toBeUndefined();
  });

  it('keeps a run without recovery as censored at the deadline, with its censoring time', () => {
    const records = traffic(0, 120_000, (t) =>
      t >= 30_000 ? { status: 500, version: 'v2' } : { status: 200, version: 'v1' },
    );
    const m = computeRunMetrics(observe({ arm: 'manual', records, timeline: [], deadlineMs: 110_000, endMs: 120_000 }));
    expect(m.outcome).toBe('censored');
    expect(m.recoverMs).toBeUndefined();
    expect(m.mttrS).toBeUndefined();
    expect(m.censoredAtS).toBeCloseTo((110_000 - 30_005) / 1000, 6);
  });

  it('calls a healthy promotion promoted with no impact figures', () => {
    const records = traffic(0, 200_000, (t) => ({ status: 200, version: t > 60_000 ? 'v2' : 'v1' }));
    const timeline = [flaggerEvent(150_000, 'Promotion completed! Scaling down app.ns', 'Succeeded')];
    const m = computeRunMetrics(observe({ records, timeline }));
    expect(m.outcome).toBe('promoted');
    expect(m.promotedMs).toBe(150_000);
    expect(m.failedRequests).toBe(0);
    expect(m.mttrS).toBeUndefined();
  });

  it('does not count a recovery whose clean window was not observed before the run ended', () => {
    const records = traffic(0, 120_000, (t) =>
      t >= 40_000 && t < 100_000 ? { status: 500, version: 'v2' } : { status: 200, version: 'v1' },
    );
    const timeline = [
      { atMs: 100_000, kind: Marks.rollbackIssued },
      { atMs: 100_000, kind: Marks.rollbackDone },
    ];
    const m = computeRunMetrics(observe({ arm: 'manual', records, timeline, endMs: 120_000 }));
    expect(m.outcome).toBe('rolled_back');
    expect(m.recoverMs).toBeUndefined();
    expect(m.censoredAtS).toBeCloseTo((120_000 - 40_005) / 1000, 6);
  });

  describe('with the SLO (docs/design.md §12): a request slower than latencyLimitMs is bad', () => {
    // Canary at 10% from 40 s, answering every request in 800 ms without an error; rolled back at 100 s.
    const slowCanary = (t: number) =>
      t >= 40_000 && t < 100_000 && Math.floor(t / 100) % 10 === 0
        ? { status: 200, version: 'v2', latencyMs: 800 }
        : { status: 200, version: 'v1' };
    const rollback = [
      flaggerEvent(70_000, 'Halt app.ns advancement request duration 950ms > 500ms'),
      flaggerEvent(100_000, 'Rolling back app.ns failed checks threshold reached 2'),
      flaggerEvent(100_000, 'Canary failed! Scaling down app.ns', 'Failed'),
    ];

    it('gives a latency rollback an impact and a positive MTTR made of slow requests', () => {
      const m = computeRunMetrics(observe({ records: traffic(0, 200_000, slowCanary), timeline: rollback }));
      expect(m.outcome).toBe('rolled_back');
      expect(m.impactMs).toBe(40_800);
      // The last slow answer: sent at 99.0 s, answered at 99.8 s; the route change at 100 s is later.
      expect(m.recoverMs).toBe(100_000);
      expect(m.mttrS).toBeCloseTo(59.2, 6);
      expect(m.failedRequests).toBe(0);
      expect(m.slowRequests).toBe(60);
      expect(m.badRequests).toBe(60);
      expect(m.peakErrorRate).toBe(0);
    });

    it('counts a request at the limit as good, a failed slow one once as failed', () => {
      const records = traffic(10_000, 20_000, (t) =>
        t === 10_000
          ? { status: 200, version: 'v2', latencyMs: 500 }
          : t === 10_100
            ? { status: 0, version: '', latencyMs: 5_000 }
            : { status: 200, version: 'v1' },
      );
      const m = computeRunMetrics(observe({ arm: 'manual', records, timeline: [] }));
      expect([m.failedRequests, m.slowRequests, m.badRequests]).toEqual([1, 0, 1]);
    });

    it('keeps an unnoticed latency fault censored, and no_impact only when latency is not in the SLO', () => {
      const records = traffic(0, 200_000, (t) =>
        t >= 40_000 && Math.floor(t / 100) % 10 === 0
          ? { status: 200, version: 'v2', latencyMs: 800 }
          : { status: 200, version: 'v1' },
      );
      const withSlo = computeRunMetrics(observe({ arm: 'manual', records, timeline: [] }));
      expect(withSlo.outcome).toBe('censored');
      expect(withSlo.impactMs).toBe(40_800);
      expect(withSlo.censoredAtS).toBeCloseTo((200_000 - 40_800) / 1000, 6);
      const failuresOnly = computeRunMetrics(observe({ arm: 'manual', records, timeline: [], latencyLimitMs: null }));
      expect(failuresOnly.outcome).toBe('no_impact');
      expect([failuresOnly.slowRequests, failuresOnly.badRequests]).toEqual([0, 0]);
    });

    it('extends recovery past the rollback while slow answers still arrive, even from the stable build', () => {
      const records = traffic(0, 200_000, (t) =>
        t >= 100_000 && t < 104_000 ? { status: 200, version: 'v1', latencyMs: 700 } : slowCanary(t),
      );
      const m = computeRunMetrics(observe({ records, timeline: rollback }));
      expect(m.recoverMs).toBe(103_900 + 700);
      expect(computeRunMetrics(observe({ records, timeline: rollback, latencyLimitMs: 1_000 })).recoverMs).toBe(
        100_000,
      );
    });
  });
});

describe('computeRunMetrics of a release train (docs/design.md §13)', () => {
  /** Service `service`'s own traffic: its records name it. */
  const ofService = (service: number, records: RequestRecord[]) => records.map((r) => ({ ...r, service }));
  const on = (service: number, entry: TimelineEntry): TimelineEntry => ({ ...entry, service });
  const healthy = (service: number, promotedAtMs: number) => ({
    records: ofService(
      service,
      traffic(0, 200_000, () => ({ status: 200, version: 'v1' })),
    ),
    timeline: [
      on(service, flaggerEvent(promotedAtMs, `Promotion completed! Scaling down app-${service}.ns`, 'Succeeded')),
    ],
  });
  /** A faulty service whose canary fails from `impactAtMs` until its rollback at `rollbackAtMs`. */
  const faulty = (service: number, impactAtMs: number, rollbackAtMs: number) => ({
    records: ofService(
      service,
      traffic(0, 200_000, (t) =>
        t >= impactAtMs && t < rollbackAtMs && Math.floor(t / 100) % 10 === 0
          ? { status: 500, version: 'v2' }
          : { status: 200, version: 'v1' },
      ),
    ),
    timeline: [
      on(service, flaggerEvent(impactAtMs + 10_000, `Halt app-${service}.ns advancement success rate 0.00% < 99%`)),
      on(service, flaggerEvent(rollbackAtMs, `Rolling back app-${service}.ns failed checks threshold reached 2`)),
      on(service, flaggerEvent(rollbackAtMs, `Canary failed! Scaling down app-${service}.ns`, 'Failed')),
    ],
  });
  const train = (...services: Array<{ records: RequestRecord[]; timeline: TimelineEntry[] }>) => ({
    records: services.flatMap((s) => s.records).sort((a, b) => a.sentMs - b.sentMs),
    timeline: [{ atMs: 10_000, kind: Marks.release }, ...services.flatMap((s) => s.timeline)].sort(
      (a, b) => a.atMs - b.atMs,
    ),
  });

  it('is rolled back and recovers when every faulty service has; impact is the first bad request on any service', () => {
    const { records, timeline } = train(faulty(0, 60_000, 100_000), healthy(1, 90_000), faulty(2, 40_000, 80_000));
    const m = computeRunMetrics(observe({ records, timeline, faultyServices: [true, false, true] }));
    expect(m.services!.map((f) => [f.service, f.outcome])).toEqual([
      [0, 'rolled_back'],
      [1, 'promoted'],
      [2, 'rolled_back'],
    ]);
    expect(m.outcome).toBe('rolled_back');
    // The first failure of service 2, the first detection (service 2's), the last rollback (service 0's).
    expect(m.impactMs).toBe(40_005);
    expect(m.detectMs).toBe(50_000);
    expect(m.mitigateMs).toBe(100_000);
    // Service 0's last v2 answer (99.0 s) is the run's recovery: the later of the two.
    expect(m.recoverMs).toBe(m.services![0]!.recoverMs);
    expect(m.recoverMs).toBeGreaterThan(m.services![2]!.recoverMs!);
    expect(m.mttrS).toBeCloseTo((m.recoverMs! - 40_005) / 1000, 9);
    // The counts are the train's: every service's requests after the release.
    expect(m.totalRequests).toBe(3 * 1_900);
    expect(m.failedRequests).toBe(m.services!.reduce((n, f) => n + f.failedRequests, 0));
    expect(m.failedRequests).toBe(40 + 40);
  });

  it('is not rolled back while a faulty service is not, and is promoted when a faulty build reached all its users', () => {
    const open = train(faulty(0, 60_000, 100_000), {
      records: ofService(1, faulty(1, 40_000, 300_000).records),
      timeline: [],
    });
    const pending = computeRunMetrics(observe({ ...open, faultyServices: [true, true] }));
    expect(pending.outcome).toBe('censored');
    expect(pending.recoverMs).toBeUndefined();
    expect(pending.censoredAtS).toBeCloseTo((200_000 - 40_005) / 1000, 9);
    const promoted = train(faulty(0, 60_000, 100_000), {
      records: ofService(
        1,
        traffic(0, 200_000, () => ({ status: 200, version: 'v1' })),
      ),
      timeline: [on(1, flaggerEvent(120_000, 'Promotion completed! Scaling down app-1.ns', 'Succeeded'))],
    });
    const m = computeRunMetrics(observe({ ...promoted, faultyServices: [true, true] }));
    expect(m.outcome).toBe('promoted');
    expect(m.promotedMs).toBe(120_000);
  });

  it('a healthy train is promoted when its last service is, and rolled back when one service was by mistake', () => {
    const all = train(healthy(0, 90_000), healthy(1, 120_000));
    const m = computeRunMetrics(observe({ ...all, faultyServices: [false, false] }));
    expect([m.outcome, m.promotedMs]).toEqual(['promoted', 120_000]);
    const mistaken = train(healthy(0, 90_000), {
      records: ofService(
        1,
        traffic(0, 200_000, () => ({ status: 200, version: 'v1' })),
      ),
      timeline: [
        on(1, flaggerEvent(70_000, 'Rolling back app-1.ns failed checks threshold reached 2')),
        on(1, flaggerEvent(70_000, 'Canary failed! Scaling down app-1.ns', 'Failed')),
      ],
    });
    const r = computeRunMetrics(observe({ ...mistaken, faultyServices: [false, false] }));
    expect([r.outcome, r.mitigateMs, r.mttrS]).toEqual(['rolled_back', 70_000, 0]);
  });

  it('a train of one is measured as a single service, with no per-service fates', () => {
    const { records, timeline } = faulty(0, 60_000, 100_000);
    const single = computeRunMetrics(
      observe({
        records: records.map(({ service: _, ...r }) => r),
        timeline: [{ atMs: 10_000, kind: Marks.release }, ...timeline.map(({ service: _, ...e }) => e)],
      }),
    );
    const one = computeRunMetrics(
      observe({
        records: records.map(({ service: _, ...r }) => r),
        timeline: [{ atMs: 10_000, kind: Marks.release }, ...timeline.map(({ service: _, ...e }) => e)],
        faultyServices: [true],
      }),
    );
    expect(one).toEqual(single);
    expect(one.services).toBeUndefined();
  });
});
