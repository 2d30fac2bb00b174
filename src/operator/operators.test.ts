import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../common/clock.ts';
import { createRandom } from '../common/random.ts';
import { ScrapedMetrics } from '../metrics/scrape.ts';
import { MetricsStore } from '../metrics/store.ts';
import { alertOperatorSchema, dashboardOperatorSchema, effortSchema } from '../scenario/schema.ts';
import type { ManualAction } from '../timeline/types.ts';
import { AlertOperator } from './alert.ts';
import { DashboardOperator } from './dashboard.ts';
import type { Operator, OperatorContext, OperatorResult } from './types.ts';

/** What the progression's platform actions did, in clock ms. */
interface Steps {
  weights: Array<{ atMs: number; weight: number }>;
  promotedAt?: number;
}

/**
 * Drives an operator on a virtual clock while 10 req/s reach the service, `errorShare(t)` failing
 * and `slowShare(t)` of the others answered in 800 ms (the rest in 2 ms). The panels read
 * Prometheus' samples: scraped every 15 s at phase 0, so a series first answered at 0.5 s is
 * scraped at 15 and 30 s and has a rate from 30 s on.
 */
async function watch(
  operator: Operator,
  errorShare: (tMs: number) => number,
  untilMs: number,
  seed = 1,
  slowShare: (tMs: number) => number = () => 0,
  progression?: { weights: number[]; holdMs: number },
) {
  const clock = new VirtualClock(0);
  const store = new MetricsStore();
  const metrics = new ScrapedMetrics(store, { clock, intervalMs: 15_000, seed: 1, phase: () => 0 });
  const notes: Array<{ atMs: number; kind: string; detail?: string }> = [];
  const actions: Array<{ atMs: number; action: ManualAction; busyMs: number }> = [];
  const steps: Steps = { weights: [] };
  const abort = new AbortController();
  let rollbackAt: number | undefined;
  const ctx: OperatorContext = {
    act: (atMs, action, busyMs) => actions.push({ atMs, action, busyMs }),
    effort: effortSchema.parse({ valuesEditS: 60, helmCommandS: 15, panelLookS: 10, pageAcknowledgeS: 30 }),
    progression: progression && {
      ...progression,
      setCanaryWeight: async (weight) => void steps.weights.push({ atMs: clock.now(), weight }),
      promote: async () => {
        steps.promotedAt = clock.now();
      },
    },
    clock,
    metrics,
    namespace: 'ns',
    service: 'svc',
    random: createRandom(seed),
    releaseMs: 0,
    signal: abort.signal,
    rollback: async () => {
      rollbackAt = clock.now();
    },
    note: (atMs, kind, detail) => notes.push({ atMs, kind, detail }),
  };
  let result: OperatorResult | undefined;
  const done = operator.watch(ctx).then((r) => (result = r));
  for (let t = 0; t < untilMs && result === undefined; t += 1000) {
    await clock.advance(500);
    const failing = Math.round(10 * errorShare(t));
    const slow = Math.round(10 * slowShare(t));
    for (let i = 0; i < 10; i++)
      store.record(
        {
          namespace: 'ns',
          workload: 'svc-canary',
          service: 'svc',
          responseCode: i < failing ? 500 : 200,
          reporter: 'source',
        },
        clock.now(),
        i >= failing && i < failing + slow ? 800 : 2,
      );
    await clock.advance(500);
  }
  abort.abort(new Error('run ended'));
  await done;
  metrics.stop();
  return { result: result!, notes, rollbackAt, actions, steps };
}

describe('dashboard operator', () => {
  it('notices a bad panel at a look and rolls back after the reaction time', async () => {
    const op = new DashboardOperator(
      dashboardOperatorSchema.parse({
        kind: 'dashboard',
        pNotice: 1,
        lookIntervalS: 60,
        reaction: { medianS: 45, p90S: 120 },
      }),
      500,
    );
    const { result, notes, rollbackAt } = await watch(op, () => 0.1, 600_000);
    expect(result.detectMs).toBeDefined();
    // The first look falls within one look interval of the release (seed 1: at 37.6 s), after the
    // two scrapes (15 and 30 s) that give the new 500 series a rate: it is the look that notices.
    expect(notes[0]?.kind).toBe('operator-noticed');
    expect(result.detectMs!).toBeGreaterThan(30_000);
    expect(result.detectMs!).toBeLessThanOrEqual(60_000);
    expect(result.mitigateMs).toBe(rollbackAt);
    expect(result.mitigateMs! - result.detectMs!).toBeGreaterThan(0);
    expect(notes.find((n) => n.kind === 'operator-noticed')?.detail).toBe('panel shows 10.00% errors, p99 5 ms');
  });

  it('never rolls back while the panel stays under the visible threshold', async () => {
    const op = new DashboardOperator(dashboardOperatorSchema.parse({ kind: 'dashboard', pNotice: 1 }), 500);
    const { result, rollbackAt, notes } = await watch(op, () => 0.005, 600_000);
    expect(result).toEqual({});
    expect(rollbackAt).toBeUndefined();
    expect(notes.filter((n) => n.kind === 'operator-look').length).toBeGreaterThanOrEqual(9);
  });

  it('with pNotice 0 looks and never notices', async () => {
    const op = new DashboardOperator(dashboardOperatorSchema.parse({ kind: 'dashboard', pNotice: 0 }), 500);
    const { result, notes } = await watch(op, () => 1, 300_000);
    expect(result).toEqual({});
    expect(notes.some((n) => n.detail?.includes('not noticed this time'))).toBe(true);
  });

  it('draws the same times from the same seed', async () => {
    const settings = dashboardOperatorSchema.parse({ kind: 'dashboard', pNotice: 0.5 });
    const a = await watch(new DashboardOperator(settings, 500), () => 0.2, 900_000, 42);
    const b = await watch(new DashboardOperator(settings, 500), () => 0.2, 900_000, 42);
    expect(a.result).toEqual(b.result);
  });

  it('notices a latency panel above the SLO with no errors at all (docs/design.md §12)', async () => {
    const settings = dashboardOperatorSchema.parse({ kind: 'dashboard', pNotice: 1, lookIntervalS: 60 });
    // One request in ten (the canary's share) answered in 800 ms: the service's p99 is ~950 ms.
    const { result, notes, rollbackAt } = await watch(
      new DashboardOperator(settings, 500),
      () => 0,
      600_000,
      1,
      () => 0.1,
    );
    expect(result.detectMs).toBeDefined();
    expect(result.detectMs!).toBeLessThanOrEqual(60_000);
    expect(rollbackAt).toBe(result.mitigateMs);
    expect(notes.find((n) => n.kind === 'operator-noticed')?.detail).toBe('panel shows 0.00% errors, p99 950 ms');
  });

  it('does not notice latency under its SLO, with the latency panel off, or with no latency SLO', async () => {
    const on = dashboardOperatorSchema.parse({ kind: 'dashboard', pNotice: 1 });
    const off = dashboardOperatorSchema.parse({ kind: 'dashboard', pNotice: 1, latencyPanel: false });
    for (const op of [
      new DashboardOperator(on, 1000),
      new DashboardOperator(off, 500),
      new DashboardOperator(on, null),
    ]) {
      const { result, rollbackAt } = await watch(
        op,
        () => 0,
        300_000,
        1,
        () => 0.1,
      );
      expect(result).toEqual({});
      expect(rollbackAt).toBeUndefined();
    }
    expect(new DashboardOperator(off, 500).describe().visibleLatencyP99Ms).toBe('not watched');
    expect(new DashboardOperator(on, 500).describe().visibleLatencyP99Ms).toBe(500);
  });
});

describe('alert operator', () => {
  it('goes pending, fires after `for`, pages after group_wait, then the person acknowledges and acts', async () => {
    const op = new AlertOperator(
      alertOperatorSchema.parse({ kind: 'alert', forS: 60, evaluationIntervalS: 15, groupWaitS: 30 }),
    );
    const { result, notes } = await watch(op, () => 0.1, 3_600_000);
    const at = (kind: string) => notes.find((n) => n.kind === kind)?.atMs;
    const pending = at('alert-pending')!;
    const firing = at('alert-firing')!;
    // Pending at the first evaluation after the 500 series' second scrape (30 s).
    expect(pending).toBeGreaterThan(30_000);
    expect(pending).toBeLessThanOrEqual(30_000 + 15_000);
    // Fires at the first evaluation at least `for` after pending: exactly 4 evaluations later.
    expect(firing - pending).toBe(60_000);
    expect(at('alert-notified')! - firing).toBe(30_000);
    expect(result.detectMs).toBe(at('operator-noticed'));
    expect(result.detectMs!).toBeGreaterThan(at('alert-notified')!);
    expect(result.mitigateMs!).toBeGreaterThan(result.detectMs!);
  });

  it('clears a pending alert when the error rate drops before `for` has passed', async () => {
    const op = new AlertOperator(
      alertOperatorSchema.parse({ kind: 'alert', forS: 120, evaluationIntervalS: 15, ruleWindowS: 30 }),
    );
    // A 30-second blip of errors, then clean.
    const { result, notes } = await watch(op, (t) => (t >= 20_000 && t < 50_000 ? 1 : 0), 600_000);
    expect(notes.some((n) => n.kind === 'alert-pending')).toBe(true);
    expect(notes.some((n) => n.kind === 'alert-resolved')).toBe(true);
    expect(notes.some((n) => n.kind === 'alert-firing')).toBe(false);
    expect(result).toEqual({});
  });

  it('fires on slow answers only when the rule has a latency condition', async () => {
    const slow = () => 0.1;
    const errorsOnly = new AlertOperator(alertOperatorSchema.parse({ kind: 'alert' }));
    const quiet = await watch(errorsOnly, () => 0, 600_000, 1, slow);
    expect(quiet.notes.some((n) => n.kind === 'alert-pending')).toBe(false);
    expect(quiet.result).toEqual({});

    const withLatency = new AlertOperator(
      alertOperatorSchema.parse({ kind: 'alert', latencyP99AboveMs: 500, forS: 60, evaluationIntervalS: 15 }),
    );
    expect(withLatency.describe().rule).toBe('error rate over 60s > 0.01 or p99 over 60s > 500 ms, for 60s');
    const { result, notes } = await watch(withLatency, () => 0, 3_600_000, 1, slow);
    const pending = notes.find((n) => n.kind === 'alert-pending')!;
    expect(pending.detail).toBe('error rate 0.00%, p99 950 ms');
    expect(notes.find((n) => n.kind === 'alert-firing')!.atMs - pending.atMs).toBe(60_000);
    expect(result.mitigateMs).toBeGreaterThan(result.detectMs!);
  });
});

describe('toil and the manual progression (docs/design.md §13)', () => {
  const dashboard = (extra: Record<string, unknown> = {}) =>
    new DashboardOperator(
      dashboardOperatorSchema.parse({ kind: 'dashboard', pNotice: 1, lookIntervalS: 60, ...extra }),
      null,
    );
  /** An hour of a release that looks fine, with two steps after the release's and a 120 s hold. */
  const watchHealthyRelease = (op: Operator) =>
    watch(
      op,
      () => 0,
      3_600_000,
      1,
      () => 0,
      { weights: [25, 50], holdMs: 120_000 },
    );
  const count = (actions: Array<{ action: ManualAction }>, action: ManualAction) =>
    actions.filter((a) => a.action === action).length;

  it('counts every dashboard look (panelLookS each) and the rollback, busy for the reaction time', async () => {
    const { result, notes, actions } = await watch(dashboard(), () => 0.1, 600_000);
    const looks = notes.filter((n) => n.kind === 'operator-look' || n.kind === 'operator-noticed');
    expect(count(actions, 'dashboard-look')).toBe(looks.length);
    expect(actions.filter((a) => a.action === 'dashboard-look').every((a) => a.busyMs === 10_000)).toBe(true);
    expect(actions.at(-1)).toEqual({
      atMs: result.mitigateMs,
      action: 'helm-command',
      busyMs: expect.closeTo(result.mitigateMs! - result.detectMs!, 6),
    });
  });

  it('takes a release that looks fine step by step to its promotion, a hold and an edit apart', async () => {
    const { result, notes, steps, rollbackAt } = await watchHealthyRelease(dashboard());
    expect(result).toEqual({});
    expect(rollbackAt).toBeUndefined();
    expect(steps.weights.map((w) => w.weight)).toEqual([25, 50]);
    const firstLook = notes.find((n) => n.kind === 'operator-look')!.atMs;
    // The first look at least 120 s after the release is the third; the edit and the command take 75 s.
    expect(steps.weights[0]!.atMs).toBe(firstLook + 120_000 + 75_000);
    // Looks keep their rhythm: the first one 120 s after a step is the fourth after it (60 s apart).
    expect(steps.weights[1]!.atMs - steps.weights[0]!.atMs).toBe(240_000);
    expect(steps.promotedAt! - steps.weights[1]!.atMs).toBe(240_000);
    // Once promoted, the operator stops looking.
    expect(notes.at(-1)!.atMs).toBeLessThan(steps.promotedAt!);
  });

  it('never steps on while a bad panel is noticed: it rolls back instead', async () => {
    const { steps, rollbackAt } = await watch(
      dashboard(),
      () => 1,
      1_800_000,
      1,
      () => 0,
      {
        weights: [25, 50],
        holdMs: 0,
      },
    );
    expect(steps.weights).toEqual([]);
    expect(steps.promotedAt).toBeUndefined();
    expect(rollbackAt).toBeDefined();
  });

  it('steps on a bad panel it did not notice', async () => {
    const { steps, rollbackAt } = await watch(
      dashboard({ pNotice: 0 }),
      () => 1,
      1_800_000,
      1,
      () => 0,
      {
        weights: [25],
        holdMs: 60_000,
      },
    );
    expect(steps.weights.map((w) => w.weight)).toEqual([25]);
    expect(steps.promotedAt).toBeDefined();
    expect(rollbackAt).toBeUndefined();
  });

  it('the alert operator steps on with no alert pending, one dashboard look per step', async () => {
    const op = new AlertOperator(alertOperatorSchema.parse({ kind: 'alert', evaluationIntervalS: 15 }));
    const { result, steps, actions } = await watchHealthyRelease(op);
    expect(result).toEqual({});
    expect(steps.weights.map((w) => w.weight)).toEqual([25, 50]);
    expect(steps.promotedAt).toBeDefined();
    expect(count(actions, 'dashboard-look')).toBe(3);
    expect(count(actions, 'page-acknowledged')).toBe(0);
  });

  it('the alert operator counts the page acknowledged and the rollback, busy for the action time', async () => {
    const op = new AlertOperator(alertOperatorSchema.parse({ kind: 'alert' }));
    const { result, actions, steps } = await watch(
      op,
      () => 0.1,
      3_600_000,
      1,
      () => 0,
      {
        weights: [25],
        holdMs: 600_000,
      },
    );
    expect(steps.weights).toEqual([]);
    expect(actions).toEqual([
      { atMs: result.detectMs, action: 'page-acknowledged', busyMs: 30_000 },
      {
        atMs: result.mitigateMs,
        action: 'helm-command',
        busyMs: expect.closeTo(result.mitigateMs! - result.detectMs!, 6),
      },
    ]);
  });
});

describe('one operator for a release train (docs/design.md §13)', () => {
  /**
   * Three services at 10 req/s each on one virtual clock, service 1 failing 10% from the start,
   * watched by `op`: by default a dashboard operator who looks every 30 s and reads two panels at
   * 10 s each per service.
   */
  async function watchTrain(
    op: Operator = new DashboardOperator(
      dashboardOperatorSchema.parse({
        kind: 'dashboard',
        pNotice: 1,
        lookIntervalS: 30,
        reaction: { medianS: 20, p90S: 40 },
      }),
      500,
    ),
  ) {
    const clock = new VirtualClock(0);
    const store = new MetricsStore();
    const metrics = new ScrapedMetrics(store, { clock, intervalMs: 15_000, seed: 1, phase: () => 0 });
    const lines: Array<{ service: number; atMs: number; kind: string; busyMs?: number }> = [];
    const rolledBack: number[] = [];
    const abort = new AbortController();
    const services = [0, 1, 2].map((index) => ({
      index,
      metrics,
      namespace: 'ns',
      service: `svc-${index}`,
      rollback: async () => void rolledBack.push(index),
      note: (atMs: number, kind: string) => lines.push({ service: index, atMs, kind }),
      act: (atMs: number, action: ManualAction, busyMs: number) =>
        lines.push({ service: index, atMs, kind: action, busyMs }),
    }));
    const ctx: OperatorContext = {
      ...services[0]!,
      effort: effortSchema.parse({ panelLookS: 10 }),
      clock,
      random: createRandom(3),
      releaseMs: 0,
      signal: abort.signal,
      services,
    };
    let result: OperatorResult | undefined;
    const done = op.watch(ctx).then((r) => (result = r));
    for (let t = 0; t < 400_000; t += 1000) {
      await clock.advance(500);
      for (const index of [0, 1, 2])
        for (let i = 0; i < 10; i++)
          store.record(
            {
              namespace: 'ns',
              workload: `svc-${index}-canary`,
              service: `svc-${index}`,
              responseCode: index === 1 && i === 0 ? 500 : 200,
              reporter: 'source',
            },
            clock.now(),
            2,
          );
      await clock.advance(500);
    }
    abort.abort(new Error('run ended'));
    await done;
    metrics.stop();
    return { lines, rolledBack, result: result! };
  }

  it("a look reads each service's panels one after another, so each service is looked at less often", async () => {
    const { lines } = await watchTrain();
    const looks = (service: number) => lines.filter((l) => l.service === service && l.kind === 'dashboard-look');
    // Two panels at 10 s per service: the next service is read 20 s later, and each look costs 20 s.
    const first = [0, 1, 2].map((s) => looks(s)[0]!.atMs);
    expect(first[1]! - first[0]!).toBe(20_000);
    expect(looks(0).every((l) => l.busyMs === 20_000)).toBe(true);
    // A scan of three services takes 60 s, of the two left after the rollback 40 s: the looks at one
    // service come at least two look intervals apart, never one.
    const gaps = looks(2)
      .slice(1)
      .map((l, i) => l.atMs - looks(2)[i]!.atMs);
    expect(gaps.length).toBeGreaterThan(3);
    expect(gaps.every((g) => g >= 60_000)).toBe(true);
  });

  it('rolls back only the service whose panel is bad, and goes on watching the others', async () => {
    const { lines, rolledBack, result } = await watchTrain();
    expect(rolledBack).toEqual([1]);
    expect(result.detections).toEqual([{ service: 1, atMs: result.detectMs }]);
    const noticed = lines.find((l) => l.kind === 'operator-noticed')!;
    expect(noticed.service).toBe(1);
    // After the rollback, service 1 is no longer looked at; services 0 and 2 still are.
    const after = lines.filter((l) => l.kind === 'dashboard-look' && l.atMs > result.mitigateMs!);
    expect(new Set(after.map((l) => l.service))).toEqual(new Set([0, 2]));
  });

  it('the alert operator gets one page per service whose rule fires, and rolls back only that service', async () => {
    const { lines, rolledBack, result } = await watchTrain(
      new AlertOperator(alertOperatorSchema.parse({ kind: 'alert' })),
    );
    expect(rolledBack).toEqual([1]);
    expect(lines.filter((l) => l.kind === 'alert-notified').map((l) => l.service)).toEqual([1]);
    expect(lines.filter((l) => l.kind === 'page-acknowledged').map((l) => l.service)).toEqual([1]);
    expect(result.detections).toEqual([{ service: 1, atMs: result.detectMs }]);
    // The rules of the healthy services never went pending.
    expect(lines.filter((l) => l.kind === 'alert-pending').map((l) => l.service)).toEqual([1]);
  });
});
