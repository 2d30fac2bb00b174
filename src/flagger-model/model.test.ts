import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../common/clock.ts';
import { MetricsStore } from '../metrics/store.ts';
import { flaggerSchema, type FlaggerSettings } from '../scenario/schema.ts';
import { FlaggerCanaryModel, type CanaryEvent, type CanaryWorkloads } from './model.ts';
import { CanaryTicker } from './scheduler.ts';

const INTERVAL_MS = 30_000;
const NS = 'test';
const NAME = 'podinfo';

/** The workloads as plain state: what the model asked for is what the test reads back. */
class InMemoryWorkloads implements CanaryWorkloads {
  revision = 'v1';
  canaryUp = false;
  canaryReadyAfterTicks = 0;
  canaryCrashes = false;
  weights: [number, number] = [100, 0];
  primaryRevision = 'v1';
  smokeFailure: string | undefined;
  readinessChecks = 0;
  targetRevision(): string {
    return this.revision;
  }
  async scaleUpCanary(): Promise<void> {
    this.canaryUp = true;
    this.readinessChecks = 0;
  }
  canaryReadiness(): 'ready' | 'starting' | 'failed' {
    if (this.canaryCrashes) return 'failed';
    return this.readinessChecks++ >= this.canaryReadyAfterTicks ? 'ready' : 'starting';
  }
  primaryReady(): boolean {
    return true;
  }
  async setRoutes(primary: number, canary: number): Promise<void> {
    this.weights = [primary, canary];
  }
  async promote(): Promise<void> {
    this.primaryRevision = this.revision;
  }
  async scaleDownCanary(): Promise<void> {
    this.canaryUp = false;
  }
  async smokeTest(): Promise<string | undefined> {
    return this.smokeFailure;
  }
}

interface Harness {
  clock: VirtualClock;
  model: FlaggerCanaryModel;
  workloads: InMemoryWorkloads;
  events: CanaryEvent[];
  messages: () => string[];
  /** Requests per second that reach the canary; `errorShare(t)` of them fail. */
  traffic: (errorShare: (tMs: number) => number, perSecond?: number) => void;
  advance: (ms: number) => Promise<void>;
}

function settings(overrides: Partial<Record<keyof FlaggerSettings, unknown>> = {}): FlaggerSettings {
  return flaggerSchema.parse({ interval: '30s', threshold: 2, maxWeight: 50, stepWeight: 10, ...overrides });
}

function setUp(flagger: FlaggerSettings): Harness {
  const clock = new VirtualClock(0);
  const store = new MetricsStore(() => clock.now());
  const workloads = new InMemoryWorkloads();
  const model = new FlaggerCanaryModel({ name: NAME, namespace: NS }, flagger, workloads, store);
  const events: CanaryEvent[] = [];
  model.onEvent((e) => events.push(e));
  let errorShare: ((tMs: number) => number) | undefined;
  let perSecond = 20;
  return {
    clock,
    model,
    workloads,
    events,
    messages: () => events.map((e) => e.message),
    traffic(share, rate = 20) {
      errorShare = share;
      perSecond = rate;
    },
    // Moves time one second at a time, recording the canary's share of traffic as the router would.
    async advance(ms) {
      const end = clock.now() + ms;
      while (clock.now() < end) {
        const step = Math.min(1000, end - clock.now());
        await clock.advance(step);
        const canaryWeight = workloads.weights[1];
        if (!errorShare || !workloads.canaryUp || canaryWeight === 0) continue;
        const requests = Math.round((perSecond * canaryWeight) / 100);
        const failures = Math.round(requests * errorShare(clock.now()));
        for (let i = 0; i < requests; i++) {
          store.record(
            { namespace: NS, workload: NAME, service: NAME, responseCode: i < failures ? 500 : 200 },
            clock.now(),
            3,
          );
        }
      }
    },
  };
}

/** Releases at t = 0 with the first tick at `a`, as docs/design.md §5 counts. */
async function releaseAndRun(h: Harness, firstTickMs: number, untilMs: number): Promise<CanaryTicker> {
  const ticker = new CanaryTicker(h.model, h.clock, INTERVAL_MS);
  h.workloads.revision = 'v2';
  ticker.start(firstTickMs);
  await h.advance(untilMs);
  return ticker;
}

function eventAt(h: Harness, text: string): number | undefined {
  return h.events.find((e) => e.message.startsWith(text))?.atMs;
}

describe('Flagger model, tick by tick', () => {
  it('rolls back when every check fails, at a + (threshold + 2) × interval', async () => {
    const h = setUp(settings({ threshold: 2 }));
    h.traffic(() => 1);
    const a = 12_000;
    const ticker = await releaseAndRun(h, a, a + 5 * INTERVAL_MS);
    await ticker.stop();
    expect(h.messages()).toEqual([
      'New revision detected! Scaling up podinfo.test',
      'Starting canary analysis for podinfo.test',
      'Advance podinfo.test canary weight 10',
      // Every answer a 5xx: Prometheus has no non-5xx series, so Flagger finds "no values" (not 0%).
      'Halt advancement no values found for istio metric request-success-rate probably podinfo.test is not receiving traffic: running query failed: no values found',
      'Halt advancement no values found for istio metric request-success-rate probably podinfo.test is not receiving traffic: running query failed: no values found',
      'Rolling back podinfo.test failed checks threshold reached 2',
      'Canary failed! Scaling down podinfo.test',
    ]);
    expect(eventAt(h, 'New revision')).toBe(a);
    expect(eventAt(h, 'Starting canary analysis')).toBe(a + INTERVAL_MS);
    expect(eventAt(h, 'Halt')).toBe(a + 2 * INTERVAL_MS);
    expect(eventAt(h, 'Rolling back')).toBe(a + (2 + 2) * INTERVAL_MS);
    expect(h.model.currentStatus).toEqual({ phase: 'Failed', canaryWeight: 0, failedChecks: 0, iterations: 0 });
    expect(h.workloads.weights).toEqual([100, 0]);
    expect(h.workloads.canaryUp).toBe(false);
    // The weight never moved past the first step while checks failed.
    const weights = h.events.map((e) => e.status.canaryWeight);
    expect(Math.max(...weights)).toBe(10);
  });

  it('reports failedChecks as they accumulate and reads 0 after the rollback', async () => {
    const h = setUp(settings({ threshold: 3 }));
    h.traffic(() => 1);
    const ticker = new CanaryTicker(h.model, h.clock, INTERVAL_MS);
    h.workloads.revision = 'v2';
    ticker.start(INTERVAL_MS);
    const seen: number[] = [];
    for (let k = 1; k <= 6; k++) {
      await h.advance(INTERVAL_MS);
      seen.push(h.model.currentStatus.failedChecks);
    }
    await ticker.stop();
    // ticks: new revision, start, fail, fail, fail, rollback
    expect(seen).toEqual([0, 0, 1, 2, 3, 0]);
    expect(h.model.currentStatus.phase).toBe('Failed');
  });

  it('accumulates intermittent failures: a passing check does not reset failedChecks', async () => {
    // A 30 s metric window equal to the interval makes each check see only its own half-minute.
    const h = setUp(settings({ threshold: 2, requestSuccessRate: { min: 99, interval: '30s' } }));
    const bad = (t: number) => (t > 60_000 && t <= 90_000) || (t > 120_000 && t <= 150_000);
    h.traffic((t) => (bad(t) ? 0.5 : 0));
    const ticker = await releaseAndRun(h, INTERVAL_MS, 7 * INTERVAL_MS);
    await ticker.stop();
    expect(h.events.map((e) => [e.atMs / 1000, e.message, e.status.failedChecks])).toEqual([
      [30, 'New revision detected! Scaling up podinfo.test', 0],
      [60, 'Starting canary analysis for podinfo.test', 0],
      [60, 'Advance podinfo.test canary weight 10', 0],
      [90, 'Halt podinfo.test advancement success rate 50.00% < 99%', 0],
      [120, 'Advance podinfo.test canary weight 20', 1],
      [150, 'Halt podinfo.test advancement success rate 50.00% < 99%', 1],
      [180, 'Rolling back podinfo.test failed checks threshold reached 2', 2],
      [180, 'Canary failed! Scaling down podinfo.test', 2],
    ]);
    expect(h.model.currentStatus.phase).toBe('Failed');
  });

  it('counts "no values" as a failed check', async () => {
    const h = setUp(settings({ threshold: 2 }));
    // No traffic reaches the canary at all.
    const ticker = await releaseAndRun(h, 5_000, 5_000 + 5 * INTERVAL_MS);
    await ticker.stop();
    expect(h.messages()).toContain(
      'Halt advancement no values found for istio metric request-success-rate probably podinfo.test is not receiving traffic: running query failed: no values found',
    );
    expect(h.messages().filter((m) => m.startsWith('Halt advancement no values')).length).toBe(2);
    expect(eventAt(h, 'Rolling back')).toBe(5_000 + 4 * INTERVAL_MS);
  });

  it('promotes a healthy release: Promoting at a + (max/step + 1) × interval, Succeeded two ticks later', async () => {
    const h = setUp(settings({ threshold: 2, maxWeight: 50, stepWeight: 10 }));
    h.traffic(() => 0);
    const a = 20_000;
    const ticker = await releaseAndRun(h, a, a + 9 * INTERVAL_MS);
    await ticker.stop();
    expect(h.messages()).toEqual([
      'New revision detected! Scaling up podinfo.test',
      'Starting canary analysis for podinfo.test',
      'Advance podinfo.test canary weight 10',
      'Advance podinfo.test canary weight 20',
      'Advance podinfo.test canary weight 30',
      'Advance podinfo.test canary weight 40',
      'Advance podinfo.test canary weight 50',
      'Copying podinfo.test template spec to podinfo-primary.test',
      'Routing all traffic to primary',
      'Promotion completed! Scaling down podinfo.test',
    ]);
    expect(eventAt(h, 'Copying')).toBe(a + (50 / 10 + 1) * INTERVAL_MS);
    expect(eventAt(h, 'Routing all traffic')).toBe(a + (50 / 10 + 2) * INTERVAL_MS);
    expect(eventAt(h, 'Promotion completed')).toBe(a + (50 / 10 + 3) * INTERVAL_MS);
    expect(h.model.currentStatus.phase).toBe('Succeeded');
    expect(h.workloads.primaryRevision).toBe('v2');
    expect(h.workloads.weights).toEqual([100, 0]);
  });

  it('rolls back exactly when failedChecks reaches the threshold, not a tick earlier', async () => {
    const h = setUp(settings({ threshold: 1 }));
    h.traffic(() => 1);
    const ticker = new CanaryTicker(h.model, h.clock, INTERVAL_MS);
    h.workloads.revision = 'v2';
    ticker.start(10_000);
    await h.advance(10_000 + 2 * INTERVAL_MS); // new revision, start, first failing check
    expect(h.model.currentStatus).toMatchObject({ phase: 'Progressing', failedChecks: 1, canaryWeight: 10 });
    expect(eventAt(h, 'Rolling back')).toBeUndefined();
    await h.advance(INTERVAL_MS);
    await ticker.stop();
    expect(eventAt(h, 'Rolling back')).toBe(10_000 + 3 * INTERVAL_MS);
    expect(h.messages()).toContain('Rolling back podinfo.test failed checks threshold reached 1');
  });

  it('halts on a slow canary with the request-duration check', async () => {
    const h = setUp(settings({ threshold: 1, requestSuccessRate: null }));
    const clock = h.clock;
    // Latency well above 500 ms: feed the store directly.
    const store = new MetricsStore(() => clock.now());
    const model = new FlaggerCanaryModel({ name: NAME, namespace: NS }, settings({ threshold: 1 }), h.workloads, store);
    const events: string[] = [];
    model.onEvent((e) => events.push(e.message));
    h.workloads.revision = 'v2';
    await model.tick(0);
    await model.tick(30_000);
    for (let t = 31_000; t <= 60_000; t += 1000)
      store.record({ namespace: NS, workload: NAME, service: NAME, responseCode: 200 }, t, 812);
    await clock.advance(60_000);
    await model.tick(60_000);
    expect(events[events.length - 1]).toBe('Halt podinfo.test advancement request duration 995ms > 500ms');
  });

  it('rolls back a canary that never becomes ready once the progress deadline has passed, strictly', async () => {
    const h = setUp(settings({ threshold: 2, progressDeadlineS: 60 }));
    h.workloads.canaryCrashes = true;
    const ticker = await releaseAndRun(h, 10_500, 10_500 + 4 * INTERVAL_MS);
    await ticker.stop();
    // Scaled up on the first tick (10.5 s; the condition time is 10 s, whole seconds); not ready on
    // the next two; the second, 70.5 s, is 60.5 s after the condition time: past the deadline.
    const waiting = h.events.filter(
      (e) =>
        e.message ===
        'canary deployment podinfo.test not ready: waiting for rollout to finish: 0 of 1 (readyThreshold 100%) updated replicas are available',
    );
    expect(waiting.map((e) => e.atMs)).toEqual([10_500 + INTERVAL_MS, 10_500 + 2 * INTERVAL_MS]);
    expect(eventAt(h, 'Canary failed! Scaling down podinfo.test')).toBe(10_500 + 2 * INTERVAL_MS);
    // As Flagger 1.44 does: no "Rolling back" line on this path.
    expect(h.messages().some((m) => m.startsWith('Rolling back'))).toBe(false);
    expect(h.model.currentStatus.phase).toBe('Failed');
    expect(h.messages().some((m) => m.startsWith('Starting canary analysis'))).toBe(false);
  });

  it('keeps a canary that is exactly at the progress deadline: Flagger compares strictly', async () => {
    const h = setUp(settings({ threshold: 2, progressDeadlineS: 60 }));
    h.workloads.canaryCrashes = true;
    // Scale-up on a whole second: the tick 60 s later is a tie, still retriable; the next rolls back.
    const ticker = await releaseAndRun(h, 10_000, 10_000 + 4 * INTERVAL_MS);
    await ticker.stop();
    expect(eventAt(h, 'Canary failed! Scaling down podinfo.test')).toBe(10_000 + 3 * INTERVAL_MS);
  });

  it('truncates the request duration to whole milliseconds before comparing, as Flagger does', async () => {
    const run = async (p99: number | undefined) => {
      const metrics = {
        requestSuccessRate: async () => 100,
        requestDurationP99: async () => p99,
        serviceErrorRate: async () => 0,
        serviceLatencyP99: async () => 0,
      };
      const workloads = new InMemoryWorkloads();
      const model = new FlaggerCanaryModel(
        { name: NAME, namespace: NS },
        settings({ threshold: 1 }),
        workloads,
        metrics,
      );
      const messages: string[] = [];
      model.onEvent((e) => messages.push(e.message));
      workloads.revision = 'v2';
      for (const t of [0, 30_000, 60_000]) await model.tick(t);
      return messages.at(-1);
    };
    expect(await run(500.9)).toBe('Advance podinfo.test canary weight 20');
    expect(await run(501.7)).toBe('Halt podinfo.test advancement request duration 501ms > 500ms');
    // The duration check's "no values" text has no query error appended (scheduler_metrics.go).
    expect(await run(undefined)).toBe(
      'Halt advancement no values found for istio metric request-duration probably podinfo.test is not receiving traffic',
    );
  });

  it('rolls back a build failing the smoke test before it gets any traffic, at a + (threshold + 1) × interval', async () => {
    const h = setUp(settings({ threshold: 2, smokeTest: true }));
    h.workloads.smokeFailure = 'POST /sms answered 500';
    const a = 7_000;
    const ticker = await releaseAndRun(h, a, a + 4 * INTERVAL_MS);
    await ticker.stop();
    expect(h.messages()).toEqual([
      'New revision detected! Scaling up podinfo.test',
      'Starting canary analysis for podinfo.test',
      'Halt podinfo.test advancement pre-rollout check smoke-test failed POST /sms answered 500',
      'Starting canary analysis for podinfo.test',
      'Halt podinfo.test advancement pre-rollout check smoke-test failed POST /sms answered 500',
      'Rolling back podinfo.test failed checks threshold reached 2',
      'Canary failed! Scaling down podinfo.test',
    ]);
    expect(eventAt(h, 'Rolling back')).toBe(a + 3 * INTERVAL_MS);
    expect(Math.max(...h.events.map((e) => e.status.canaryWeight))).toBe(0);
  });
});
