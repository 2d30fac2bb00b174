import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../common/clock.ts';
import type { OperatorSettings } from '../scenario/schema.ts';
import { loadExperimentFile } from '../scenario/load-files.ts';
import { Marks } from '../timeline/compute.ts';
import { PROJECT_ROOT } from '../test-support/cli.ts';
import { journalRuns, writePlan } from '../test-support/plan.ts';
import {
  FakeLoadGenerator,
  FakePlatform,
  FakeService,
  flaggerRollingBack,
  ScriptedOperator,
  type FakePlatformScript,
  type OperatorScript,
} from '../test-support/runner-doubles.ts';
import type { RunEntry } from './journal.ts';
import { planRuns } from './plan.ts';
import { WATCH_POLL_WALL_MS } from './run.ts';
import { runExperiment } from './runner.ts';

// The runner's phases on a virtual clock, against test doubles of the platform, the load and the
// operator (src/test-support/runner-doubles.ts): every timestamp below follows from the script.
// At 10 requests per second and a canary weight of 10, request i is sent at i × 100 ms from the
// run's start and every tenth one (i = 9, 19, …) goes to the canary. The warm-up lasts 10 s, so the
// release is at 10 000 ms; Flagger's steps and the operator's moves count from there.
// The clock reports the default experiment's compression (20×), so the runner converts its wall
// durations as it does there: it looks at the run every 25 wall ms, i.e. every 500 clock ms.

const dir = mkdtempSync(path.join(tmpdir(), 'runner-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TIME_SCALE = 20;
const RELEASE_MS = 10_000;
const WINDOW_MS = 10_000;
/** The watch's first look at or after `ms`: it looks at the release and every 500 ms after. */
const firstLookAt = (ms: number) => {
  const everyMs = WATCH_POLL_WALL_MS * TIME_SCALE;
  return RELEASE_MS + Math.ceil((ms - RELEASE_MS) / everyMs) * everyMs;
};
let planCount = 0;

interface Setup {
  arms?: string;
  repetitions?: number;
  /** Extra YAML of the scenario overrides (inside the braces). */
  overrides?: string;
  script: FakePlatformScript;
  operator?: OperatorScript;
  /** Clock ms the load needs before its first request. */
  loadStartupMs?: number;
  /** Scenario seconds from the release to the deadline. */
  deadlineS?: number;
  /** Called after every step of the clock, with the clock time. */
  onTick?: (nowMs: number) => void;
  signal?: AbortSignal;
  concurrency?: number;
  /** The send lag p99 every load reports, wall ms. */
  sendLagP99WallMs?: number;
}

async function runOnDoubles(setup: Setup) {
  const base = path.join(dir, `plan-${++planCount}`);
  const overrides = [
    'load: { rateRps: 10 }',
    'warmup: { durationS: 10 }',
    `recovery: { cleanWindowS: ${WINDOW_MS / 1000}, deadlineS: ${setup.deadlineS ?? 120} }`,
    ...(setup.overrides ? [setup.overrides] : []),
  ].join(', ');
  const planFile = writePlan(
    `${base}.yaml`,
    { name: 'runner-unit', timeScale: 1, seed: 5, repetitions: setup.repetitions ?? 1 },
    [`  - { scenario: faulty-500, arms: [${setup.arms ?? 'flagger'}], overrides: { ${overrides} } }`],
  );
  const loaded = loadExperimentFile(planFile, path.join(PROJECT_ROOT, 'scenarios'));
  const clock = new VirtualClock(0, TIME_SCALE);
  const platform = new FakePlatform(setup.script);
  const load = new FakeLoadGenerator(setup.script.service, setup.loadStartupMs, setup.sendLagP99WallMs);
  const operator = new ScriptedOperator(setup.operator ?? {});
  const operatorsMade: OperatorSettings[] = [];
  const outDir = path.join(base, 'out');
  const warnings: string[] = [];
  const work = runExperiment({
    loaded,
    plan: planRuns(loaded),
    platform,
    clock,
    load: { generator: load, name: 'fake load (test double)' },
    operators: (settings) => {
      operatorsMade.push(settings);
      return operator;
    },
    outDir,
    seed: 5,
    logger: { info: () => undefined, warn: (line) => warnings.push(line) },
    signal: setup.signal ?? new AbortController().signal,
    concurrency: setup.concurrency,
    // The virtual clock's timestamps do not depend on the event loop: no lag to measure.
    loopLag: () => ({
      stop: () => ({ p99WallMs: 0, maxWallMs: 0 }),
    }),
  });
  let settled = false;
  const result = work.then(
    (entries) => ({ entries, error: undefined }),
    (error: unknown) => ({ entries: [] as RunEntry[], error }),
  );
  void result.then(() => (settled = true));
  // Bounded: an hour of scenario time in 1-second steps.
  for (let step = 0; !settled && step < 3_600; step++) {
    await clock.advance(1_000);
    setup.onTick?.(clock.now());
  }
  expect(settled).toBe(true);
  return { ...(await result), platform, load, operator, operatorsMade, outDir, clock, warnings };
}

const at = (entry: RunEntry, kind: string, detail = '') =>
  entry.timeline.filter((e) => e.kind === kind && (e.detail ?? '').startsWith(detail)).map((e) => e.atMs);

describe('the warm-up', () => {
  it('aborts the run on an unhealthy baseline, releasing nothing', async () => {
    const service = new FakeService();
    service.stableErrorRate = 0.5;
    const { entries, platform, load } = await runOnDoubles({
      script: { service, flagger: flaggerRollingBack(50_000) },
    });
    const [entry] = entries;
    expect(entry!.metrics.outcome).toBe('aborted');
    expect(entry!.metrics.abortReason).toBe(
      'baseline unhealthy during warm-up: 50.00% of 100 requests failed (limit 1.00%)',
    );
    expect(entry!.metrics.endMs).toBe(RELEASE_MS);
    expect(at(entry!, Marks.release)).toEqual([]);
    expect(platform.sessions[0]!.released).toBe(0);
    expect(load.loads[0]!.stopped).toBe(true);
    expect(entry!.load.sent).toBe(100);
  });

  it('waits for a first answer at most the request timeout and 2 s, then aborts a silent baseline', async () => {
    const service = new FakeService();
    service.silent = true;
    const { entries } = await runOnDoubles({ script: { service } });
    expect(entries[0]!.metrics.abortReason).toBe('no request completed during the 10 s warm-up');
    // The request timeout is 5 000 ms (faulty-500.yaml) of wall time: 100 s of scenario time at 20×.
    expect(entries[0]!.metrics.endMs).toBe(RELEASE_MS + (5_000 + 2_000) * TIME_SCALE);
  });

  it("counts from the load's first request (StartedLoad.ready), not from its start", async () => {
    const service = new FakeService();
    const { entries } = await runOnDoubles({
      script: { service, flagger: flaggerRollingBack(50_000) },
      loadStartupMs: 2_500,
    });
    expect(at(entries[0]!, Marks.steady)).toEqual([2_500 + RELEASE_MS]);
    expect(entries[0]!.metrics.releaseMs).toBe(2_500 + RELEASE_MS);
  });
});

describe('the watch', () => {
  it('ends a clean window after the last bad answer, not after the rollback', async () => {
    // The canary answers 3 s late: its last answers come after Flagger's rollback at release + 50 s.
    const service = new FakeService();
    service.canaryLatencyMs = 3_000;
    const { entries } = await runOnDoubles({ script: { service, flagger: flaggerRollingBack(50_000) } });
    const m = entries[0]!.metrics;
    const rollbackMs = RELEASE_MS + 50_000;
    // The last canary request goes out at 59 900 ms and is answered at 62 900 ms.
    const lastBadMs = rollbackMs - 100 + 3_000;
    expect(m.outcome).toBe('rolled_back');
    expect(m.mitigateMs).toBe(rollbackMs);
    expect(m.recoverMs).toBe(lastBadMs);
    expect(m.endMs).toBe(firstLookAt(lastBadMs + WINDOW_MS));
    expect(m.endMs).toBeLessThan(lastBadMs + WINDOW_MS + WATCH_POLL_WALL_MS * TIME_SCALE);
    // Weight 10 from release + 20 s: the first canary request at 30 900 ms, answered 3 s later.
    expect(m.impactMs).toBe(30_900 + 3_000);
    expect(m.mttrS).toBeCloseTo((lastBadMs - 33_900) / 1000, 9);
  });

  it('censors a release nobody rolls back at the deadline, and stops the operator there', async () => {
    const service = new FakeService();
    const { entries, operator, load } = await runOnDoubles({
      arms: 'manual',
      script: { service },
      operator: {},
      deadlineS: 40,
    });
    const m = entries[0]!.metrics;
    const deadlineMs = RELEASE_MS + 40_000;
    expect(m.outcome).toBe('censored');
    expect(m.endMs).toBe(deadlineMs);
    expect(m.recoverMs).toBeUndefined();
    expect(m.impactMs).toBe(10_900);
    expect(m.censoredAtS).toBeCloseTo((deadlineMs - 10_900) / 1000, 9);
    expect(operator.watched).toHaveLength(1);
    expect(operator.watched[0]!.aborted).toBe(true);
    expect(load.loads[0]!.stopped).toBe(true);
  });

  it('lets an operator race Flagger on the same release: each arm recovers when its own rollback lands', async () => {
    const service = new FakeService();
    const { entries, operatorsMade } = await runOnDoubles({
      arms: 'manual, flagger',
      script: { service, flagger: flaggerRollingBack(50_000), rollbackMs: 2_000 },
      operator: { noticeAfterMs: 25_000, rollbackAfterMs: 40_000 },
    });
    // Only the manual arm has an operator, made from its scenario's settings.
    expect(operatorsMade.map((s) => s.kind)).toEqual(['dashboard']);
    const manual = entries.find((e) => e.arm === 'manual')!.metrics;
    const flagger = entries.find((e) => e.arm === 'flagger')!.metrics;
    // Manual: weight 10 at the release, noticed at +25 s, rollback issued at +40 s, applied 2 s later.
    expect(manual).toMatchObject({ outcome: 'rolled_back', impactMs: 10_900, detectMs: 35_000, mitigateMs: 50_000 });
    // The last canary answer came at 51.9 s; recovery waits for the weights to be back at 52 s.
    expect(manual.recoverMs).toBe(52_000);
    expect(manual.endMs).toBe(firstLookAt(52_000 + WINDOW_MS));
    // Flagger: weight 10 at +20 s, first failed check at +30 s, rolled back at +50 s.
    expect(flagger).toMatchObject({ outcome: 'rolled_back', impactMs: 30_900, detectMs: 40_000, mitigateMs: 60_000 });
    expect(flagger.recoverMs).toBe(60_000);
    expect(manual.mttrS).toBeCloseTo(41.1, 9);
    expect(flagger.mttrS).toBeCloseTo(29.1, 9);
  });
});

describe('a failing operator', () => {
  it('whose rollback fails ends the run at once as aborted, with the cause', async () => {
    const service = new FakeService();
    const { entries } = await runOnDoubles({
      arms: 'manual',
      script: { service, rollbackMs: 1_000, rollbackFails: 'helm rollback: exit code 1' },
      operator: { noticeAfterMs: 20_000, rollbackAfterMs: 30_000 },
    });
    const m = entries[0]!.metrics;
    expect(m.outcome).toBe('aborted');
    expect(m.abortReason).toBe('helm rollback: exit code 1');
    // At the watch's first look after the failure, not at the deadline 120 s after the release.
    expect(m.endMs).toBe(firstLookAt(RELEASE_MS + 31_000));
  });
});

describe('an interrupt', () => {
  it('mid-run stops the run and the experiment, keeps the finished runs journaled and cleans up', async () => {
    const service = new FakeService();
    const interrupt = new AbortController();
    // Run 1 ends at 70 s (rolled back at 60 s plus the window); run 2 releases at 80 s.
    const { entries, error, platform, load, outDir } = await runOnDoubles({
      repetitions: 2,
      script: { service, flagger: flaggerRollingBack(50_000) },
      signal: interrupt.signal,
      onTick: (nowMs) => {
        if (nowMs === 100_000) interrupt.abort(new Error('SIGINT'));
      },
    });
    expect(entries).toEqual([]);
    expect((error as Error).message).toBe('SIGINT');
    expect(journalRuns(outDir).map((r) => r.runId)).toEqual(['faulty-500-flagger-r1']);
    expect(existsSync(path.join(outDir, 'requests', 'faulty-500-flagger-r2.csv'))).toBe(false);
    expect(platform.sessions.every((s) => s.disposed)).toBe(true);
    expect(load.loads.map((l) => l.stopped)).toEqual([true, true]);
  });
});

describe('environment faults', () => {
  it('are injected and marked at their time from the release; one the platform cannot inject is noted', async () => {
    const service = new FakeService();
    const { entries } = await runOnDoubles({
      overrides: [
        'environmentFaults: [',
        '{ fault: router-restart, atS: -3, durationS: 2 },',
        '{ fault: metrics-outage, atS: 5, durationS: 10 },',
        '{ fault: stable-crash, atS: 55, durationS: 600 } ]',
      ].join(' '),
      script: { service, flagger: flaggerRollingBack(50_000), injectable: ['metrics-outage', 'stable-crash'] },
    });
    const entry = entries[0]!;
    expect(entry.metrics.outcome).toBe('rolled_back');
    expect(at(entry, Marks.envFaultStart, 'router-restart')).toEqual([RELEASE_MS - 3_000]);
    expect(
      entry.timeline
        .filter((e) => e.kind === Marks.envFaultEnd && e.detail?.startsWith('router-restart'))
        .map((e) => [e.atMs, e.detail]),
    ).toEqual([[RELEASE_MS - 3_000, 'router-restart for 2 s: fake platform: cannot inject router-restart']]);
    expect(at(entry, Marks.envFaultStart, 'metrics-outage')).toEqual([RELEASE_MS + 5_000]);
    expect(at(entry, Marks.envFaultEnd, 'metrics-outage')).toEqual([RELEASE_MS + 15_000]);
    // A fault still running when the run ends is cut short with it, and does not hold the run up.
    expect(at(entry, Marks.envFaultStart, 'stable-crash')).toEqual([RELEASE_MS + 55_000]);
    expect(at(entry, Marks.envFaultEnd, 'stable-crash')).toEqual([]);
    expect(entry.metrics.endMs).toBe(firstLookAt(RELEASE_MS + 50_000 + WINDOW_MS));
  });
});

describe('manual actions (docs/design.md §13)', () => {
  const actions = (entry: RunEntry) =>
    entry.timeline
      .filter((e) => e.kind === Marks.manualAction)
      .map((e) => ({ atMs: e.atMs, action: e.action, busyMs: e.busyMs, detail: e.detail }));

  it("count the manual release's values edit and helm command, busy for manual.effort; Flagger's none", async () => {
    const service = new FakeService();
    const { entries } = await runOnDoubles({
      arms: 'manual, flagger',
      overrides: 'manual: { effort: { valuesEditS: 40, helmCommandS: 12 } }',
      script: { service, flagger: flaggerRollingBack(50_000) },
      operator: { noticeAfterMs: 25_000 },
    });
    const manual = entries.find((e) => e.arm === 'manual')!;
    expect(actions(manual)).toEqual([
      { atMs: RELEASE_MS, action: 'values-edit', busyMs: 40_000, detail: 'canary weight 10' },
      { atMs: RELEASE_MS, action: 'helm-command', busyMs: 12_000, detail: 'helm upgrade --install' },
    ]);
    expect(actions(entries.find((e) => e.arm === 'flagger')!)).toEqual([]);
  });

  it('with editErrorRate 1 the release sets the weight to 100: every request after it meets the faulty build', async () => {
    const service = new FakeService();
    const { entries, platform } = await runOnDoubles({
      arms: 'manual',
      overrides: 'manual: { editErrorRate: 1 }',
      script: { service },
      operator: { noticeAfterMs: 20_000 },
    });
    const m = entries[0]!.metrics;
    expect(platform.sessions[0]!.edits).toEqual([100]);
    expect(actions(entries[0]!)[0]!.detail).toBe('canary weight 100 (intended 10: edit error)');
    expect(entries[0]!.timeline.filter((e) => e.editError).map((e) => e.action)).toEqual(['values-edit']);
    expect(m.outcome).toBe('rolled_back');
    // The first request after the release fails, and so does every one until the rollback 20 s later
    // (the one sent at that very moment included): 201 at 10 per second. At weight 10 it is 20.
    expect(m.impactMs).toBe(RELEASE_MS);
    expect(m.failedRequests).toBe(201);
    expect(m.peakErrorRate).toBe(1);
  });

  it('with editErrorRate 0 no edit goes wrong', async () => {
    const service = new FakeService();
    const { entries, platform } = await runOnDoubles({
      arms: 'manual',
      repetitions: 3,
      script: { service },
      operator: { noticeAfterMs: 20_000 },
    });
    expect(platform.sessions[0]!.edits).toEqual([10, 10, 10]);
    expect(entries.map((e) => e.metrics.failedRequests)).toEqual([20, 20, 20]);
  });
});

/** The most loads running at once, from their clock start and stop times. */
function mostAtOnce(loads: ReadonlyArray<{ startMs: number; stopMs: number | undefined }>): number {
  const edges = loads.flatMap((l) => [
    { atMs: l.startMs, step: 1 },
    { atMs: l.stopMs!, step: -1 },
  ]);
  // At one instant a stop comes before a start: a slot is free again before its next run begins.
  edges.sort((a, b) => a.atMs - b.atMs || a.step - b.step);
  let now = 0;
  let most = 0;
  for (const edge of edges) {
    now += edge.step;
    most = Math.max(most, now);
  }
  return most;
}

describe('concurrency (docs/design.md §10)', () => {
  const planned = (n: number) => Array.from({ length: n }, (_, i) => `faulty-500-flagger-r${i + 1}`);

  it('runs up to N at once, each slot with its own session, starting runs in plan order', async () => {
    const service = new FakeService();
    const { entries, platform, load, error } = await runOnDoubles({
      repetitions: 6,
      concurrency: 3,
      script: { service, flagger: flaggerRollingBack(50_000) },
    });
    expect(error).toBeUndefined();
    expect(entries.map((e) => e.runId).sort()).toEqual(planned(6).sort());
    expect(platform.restores.map((r) => r.run)).toEqual(planned(6));
    expect(platform.sessions.map((s) => s.slot).sort()).toEqual([1, 2, 3]);
    expect(mostAtOnce(load.loads)).toBe(3);
    for (const entry of entries) {
      expect(entry.harness?.concurrency).toBe(3);
      const restore = platform.restores.find((r) => r.run === entry.runId)!;
      expect(entry.harness?.slot).toBe(restore.slot);
    }
    expect(platform.sessions.every((s) => s.disposed)).toBe(true);
  });

  it('at N = 1 runs one at a time on slot 1, as before concurrency', async () => {
    const service = new FakeService();
    const { entries, platform, load } = await runOnDoubles({
      repetitions: 3,
      concurrency: 1,
      script: { service, flagger: flaggerRollingBack(50_000) },
    });
    expect(entries.map((e) => e.runId)).toEqual(planned(3));
    expect(mostAtOnce(load.loads)).toBe(1);
    expect(platform.sessions.map((s) => s.slot)).toEqual([1]);
    expect(entries.map((e) => e.harness?.slot)).toEqual([1, 1, 1]);
  });

  it('runs one fewer at once after the second run over the lag bound at the current level, down to 1', async () => {
    // 5 wall ms of send lag at 20× (a generator stamping outside the harness's loop, as k6 does) could
    // shift a timestamp by 100 scenario ms: over the 50 ms bound.
    const service = new FakeService();
    const { entries, load, warnings } = await runOnDoubles({
      repetitions: 8,
      concurrency: 3,
      sendLagP99WallMs: 5,
      script: { service, flagger: flaggerRollingBack(50_000) },
    });
    expect(entries).toHaveLength(8);
    const byPlan = planned(8).map((id) => entries.find((e) => e.runId === id)!.harness!.concurrency);
    for (let i = 1; i < byPlan.length; i++) expect(byPlan[i]).toBeLessThanOrEqual(byPlan[i - 1]!);
    expect(byPlan.slice(0, 3)).toEqual([3, 3, 3]);
    expect(byPlan.at(-1)).toBe(1);
    // Each level is left on its second run over the bound, the first only noted.
    expect(warnings.map((w) => w.replace(/^\S+: /, ''))).toEqual([
      'lag 100.0 scenario ms exceeds the 50 ms bound (the first over it at 3 at once; a second lowers the concurrency)',
      'lag 100.0 scenario ms exceeds the 50 ms bound, the second over it at 3 at once; running 2 at once from now on',
      'lag 100.0 scenario ms exceeds the 50 ms bound (the first over it at 2 at once; a second lowers the concurrency)',
      'lag 100.0 scenario ms exceeds the 50 ms bound, the second over it at 2 at once; running 1 at once from now on',
    ]);
    // Once lowered to 1, the runs still in flight finish before the next one starts.
    const firstAtOne = byPlan.indexOf(1);
    expect(mostAtOnce(load.loads.slice(firstAtOne))).toBe(1);
  });
});
