/**
 * Synthetic runs for the chart and HTML tests: journal entries shaped like the runner's, with
 * request records drawn from a seeded generator, so the tests need no experiment run.
 */
import type { ExperimentHeader, RunEntry } from '../../experiment/journal.ts';
import type { RequestRecord } from '../../load/types.ts';
import { scenarioSchema, type Scenario } from '../../scenario/schema.ts';
import type { Outcome } from '../../timeline/types.ts';

export interface SyntheticRun {
  runId: string;
  arm: RunEntry['arm'];
  scenario: string;
  entry?: number;
  outcome: Outcome;
  /** Seconds from impact; omit for runs without impact. */
  ttdS?: number;
  ttmS?: number;
  mttrS?: number;
  /** Censoring time after impact, for runs that did not recover. */
  censoredAtS?: number;
  promotedAfterReleaseS?: number;
  sweep?: Record<string, unknown>;
  sweepLabel?: string;
}

const RELEASE_MS = 10_000;
const IMPACT_AFTER_RELEASE_MS = 2_500;

export function makeRun(s: SyntheticRun): RunEntry {
  const impacted = s.mttrS !== undefined || s.censoredAtS !== undefined;
  const impactMs = impacted ? RELEASE_MS + IMPACT_AFTER_RELEASE_MS : undefined;
  const at = (sec: number | undefined) =>
    impactMs === undefined || sec === undefined ? undefined : impactMs + sec * 1000;
  const recoverMs = at(s.mttrS);
  const promotedMs = s.promotedAfterReleaseS === undefined ? undefined : RELEASE_MS + s.promotedAfterReleaseS * 1000;
  const endMs =
    recoverMs !== undefined
      ? recoverMs + 10_000
      : s.censoredAtS !== undefined
        ? at(s.censoredAtS)!
        : (promotedMs ?? RELEASE_MS + 60_000) + 10_000;
  const operator: Record<string, string | number> | undefined =
    s.arm !== 'manual'
      ? undefined
      : s.scenario === 'slow'
        ? {
            kind: 'alert',
            errorRateAbove: 0.01,
            forS: 60,
            groupWaitS: 30,
            acknowledgeMedianS: 180,
            source: 'assumed (docs/design.md §6): Prometheus rule, Alertmanager group_wait, on-call acknowledgement',
          }
        : {
            kind: 'dashboard',
            lookIntervalS: 60,
            pNotice: 0.8,
            reactionMedianS: 45,
            source: 'assumed (docs/design.md §6): a person <glancing> at the panel & reacting',
          };
  return {
    type: 'run',
    runId: s.runId,
    arm: s.arm,
    scenario: s.scenario,
    entry: s.entry ?? 0,
    ...(s.sweep ? { sweep: s.sweep } : {}),
    sweepLabel: s.sweepLabel ?? '',
    repetition: 1,
    seed: 1,
    timeScale: 10,
    startedAt: '2026-01-01T00:00:00.000Z',
    wallMs: 1000,
    metrics: {
      outcome: s.outcome,
      releaseMs: RELEASE_MS,
      impactMs,
      detectMs: at(s.ttdS),
      mitigateMs: at(s.ttmS),
      recoverMs,
      promotedMs,
      endMs,
      mttrS: s.mttrS,
      ttrReleaseS: s.mttrS === undefined ? undefined : s.mttrS + IMPACT_AFTER_RELEASE_MS / 1000,
      ttdS: s.ttdS,
      ttmS: s.ttmS,
      failedRequests: impacted ? 50 : 0,
      totalRequests: 1000,
      peakErrorRate: impacted ? 0.2 : 0,
      censoredAtS: s.censoredAtS,
    },
    timeline: [{ atMs: RELEASE_MS, kind: 'release', detail: 'v2 (fault http500)' }],
    requestsFile: `requests/${s.runId}.csv`,
    load: {
      scheduled: 1000,
      sent: 1000,
      completed: 1000,
      failed: 50,
      timedOut: 0,
      errored: 0,
      dropped: 0,
      recorded: 1000,
      maxInFlightSeen: 10,
      achievedRps: 20,
      scenarioDurationMs: endMs,
      wallDurationMs: endMs / 10,
      sendLagP99WallMs: 1,
      generator: 'built-in',
    },
    ...(operator ? { operator } : {}),
    platform: { platform: 'local' },
  };
}

/** Requests at `rps` from the start to the run's end: the release serves `share` of them after the release until mitigation, and fails them. */
export function makeRecords(
  run: RunEntry,
  options: { rps?: number; share?: number; faulty?: boolean; seed?: number } = {},
): RequestRecord[] {
  const rps = options.rps ?? 20;
  const share = options.share ?? (run.arm === 'manual' ? 0.1 : 0.3);
  let state = (options.seed ?? 7) >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const m = run.metrics;
  const canaryUntil = m.mitigateMs ?? m.promotedMs ?? m.endMs;
  const out: RequestRecord[] = [];
  for (let t = 0; t < m.endMs; t += 1000 / rps) {
    const canary = t >= m.releaseMs + 1000 && t < canaryUntil && next() < share;
    const promoted = m.promotedMs !== undefined && t >= m.promotedMs;
    const version = canary || promoted ? 'v2' : 'v1';
    const fails = canary && options.faulty !== false;
    out.push({ sentMs: t, doneMs: t + 5, latencyMs: 5, status: fails ? 500 : 200, version });
  }
  return out;
}

export function makeScenario(name: string, input: Record<string, unknown> = {}): Scenario {
  return { ...scenarioSchema.parse(input), name };
}

export function makeHeader(scenarios: Scenario[], runs: readonly RunEntry[], sweeps?: string[]): ExperimentHeader {
  return {
    type: 'experiment',
    name: 'synthetic',
    file: 'experiments/synthetic.yaml',
    description: 'Synthetic runs for tests.',
    platform: 'local',
    timeScale: 10,
    seed: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    plannedRuns: runs.map((r) => r.runId),
    scenarios,
    ...(sweeps ? { sweeps } : {}),
    node: 'v20.20.0',
  };
}

/**
 * Two scenarios, both arms, one censored manual run, runs without impact (a healthy release
 * promoted by Flagger), and a run rolled back before any failure (MTTR 0).
 */
export function mixedRuns(): RunEntry[] {
  return [
    makeRun({
      runId: 'faulty-manual-r1',
      arm: 'manual',
      scenario: 'faulty',
      outcome: 'rolled_back',
      ttdS: 40,
      ttmS: 95,
      mttrS: 97,
    }),
    makeRun({
      runId: 'faulty-manual-r2',
      arm: 'manual',
      scenario: 'faulty',
      outcome: 'rolled_back',
      ttdS: 70,
      ttmS: 150,
      mttrS: 152,
    }),
    makeRun({
      runId: 'faulty-manual-r3',
      arm: 'manual',
      scenario: 'faulty',
      outcome: 'censored',
      ttdS: 300,
      censoredAtS: 897.5,
    }),
    makeRun({
      runId: 'faulty-manual-r4',
      arm: 'manual',
      scenario: 'faulty',
      outcome: 'rolled_back',
      ttdS: 30,
      ttmS: 200,
      mttrS: 201,
    }),
    makeRun({
      runId: 'faulty-flagger-r1',
      arm: 'flagger',
      scenario: 'faulty',
      outcome: 'rolled_back',
      ttdS: 8,
      ttmS: 28,
      mttrS: 30,
    }),
    makeRun({
      runId: 'faulty-flagger-r2',
      arm: 'flagger',
      scenario: 'faulty',
      outcome: 'rolled_back',
      ttdS: 9,
      ttmS: 29,
      mttrS: 29.5,
    }),
    makeRun({
      runId: 'faulty-flagger-r3',
      arm: 'flagger',
      scenario: 'faulty',
      outcome: 'rolled_back',
      ttdS: 12,
      ttmS: 31,
      mttrS: 33,
    }),
    makeRun({
      runId: 'slow-manual-r1',
      arm: 'manual',
      scenario: 'slow',
      entry: 1,
      outcome: 'rolled_back',
      ttdS: 60,
      ttmS: 120,
      mttrS: 125,
    }),
    makeRun({
      runId: 'slow-manual-r2',
      arm: 'manual',
      scenario: 'slow',
      entry: 1,
      outcome: 'censored',
      censoredAtS: 880,
    }),
    makeRun({
      runId: 'slow-flagger-r1',
      arm: 'flagger',
      scenario: 'slow',
      entry: 1,
      outcome: 'rolled_back',
      ttdS: 10,
      ttmS: 40,
      mttrS: 42,
    }),
    makeRun({ runId: 'slow-flagger-r2', arm: 'flagger', scenario: 'slow', entry: 1, outcome: 'rolled_back', mttrS: 0 }),
    makeRun({
      runId: 'healthy-flagger-r1',
      arm: 'flagger',
      scenario: 'healthy',
      entry: 2,
      outcome: 'promoted',
      promotedAfterReleaseS: 85,
    }),
  ];
}

export function mixedHeader(runs: readonly RunEntry[]): ExperimentHeader {
  return makeHeader(
    [
      makeScenario('faulty', { release: { fault: 'http500' }, flagger: { interval: '10s' } }),
      makeScenario('slow', { release: { fault: 'latency', latencyMs: 2000 }, manual: { operator: { kind: 'alert' } } }),
      makeScenario('healthy', { release: { fault: 'none' } }),
    ],
    runs,
  );
}

/** A manual-operator sweep over one or two fields, with an unswept Flagger reference. */
export function sweepRuns(two = false): RunEntry[] {
  const runs: RunEntry[] = [];
  const looks = [15, 30, 60];
  const notices = two ? [0.5, 0.9] : [undefined];
  let k = 0;
  for (const look of looks) {
    for (const p of notices) {
      const sweep: Record<string, unknown> = { 'manual.operator.lookIntervalS': look };
      if (p !== undefined) sweep['manual.operator.pNotice'] = p;
      const label = Object.entries(sweep)
        .map(([key, v]) => `${key.split('.').pop()}=${v}`)
        .join(' ');
      for (let r = 1; r <= 3; r++) {
        const mttr = look * 1.5 + 40 + r * 7 + (p === 0.5 ? 30 : 0);
        runs.push(
          makeRun({
            runId: `faulty-${k}-manual-r${r}`,
            arm: 'manual',
            scenario: 'faulty',
            entry: k,
            outcome: 'rolled_back',
            ttdS: mttr / 3,
            ttmS: mttr - 2,
            mttrS: mttr,
            sweep,
            sweepLabel: label,
          }),
        );
      }
      k++;
    }
  }
  for (let r = 1; r <= 3; r++) {
    runs.push(
      makeRun({
        runId: `faulty-flagger-r${r}`,
        arm: 'flagger',
        scenario: 'faulty',
        entry: k,
        outcome: 'rolled_back',
        ttdS: 9,
        ttmS: 28,
        mttrS: 29 + r,
      }),
    );
  }
  return runs;
}
