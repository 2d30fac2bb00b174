import { isBad, isFailure, isSlow, type RequestRecord } from '../load/types.ts';
import { Marks, type Outcome, type RunMetrics, type ServiceFate, type TimelineEntry } from './types.ts';

export { Marks } from './types.ts';

export interface RunObservation {
  arm: 'manual' | 'flagger';
  releaseMs: number;
  /** Scenario time at which the run gives up (release + deadline). */
  deadlineMs: number;
  /** Scenario time the run stopped observing. */
  endMs: number;
  /** Version the faulty (released) build reports in x-app-version. */
  releaseVersion: string;
  cleanWindowMs: number;
  /** The SLO's latency limit (real ms): a request answered later is bad; null counts failures only. */
  latencyLimitMs: number | null;
  records: readonly RequestRecord[];
  timeline: readonly TimelineEntry[];
  /**
   * A release train of more than one service (docs/design.md §13): per position, whether its
   * release carried the fault. Records and timeline lines name their service.
   */
  faultyServices?: readonly boolean[];
}

function firstAt(
  timeline: readonly TimelineEntry[],
  match: (e: TimelineEntry) => boolean,
  fromMs: number,
): number | undefined {
  return timeline.find((e) => e.atMs >= fromMs && match(e))?.atMs;
}

const isFlagger = (prefix: string) => (e: TimelineEntry) =>
  e.kind === Marks.flaggerEvent && (e.detail ?? '').startsWith(prefix);

/** The rollback is applied: manual weights back to 100/0, or Flagger's Canary marked Failed. */
export const isRolledBack = (e: TimelineEntry) =>
  e.kind === Marks.rollbackDone ||
  isFlagger('Canary failed!')(e) ||
  (e.kind === Marks.flaggerEvent && e.phase === 'Failed');

/** Flagger finished promoting the release (phase Succeeded). */
export const isPromoted = (e: TimelineEntry) =>
  e.kind === Marks.promoted ||
  isFlagger('Promotion completed!')(e) ||
  (e.kind === Marks.flaggerEvent && e.phase === 'Succeeded');

/** When the release's fate was sealed (rolled back or promoted), if it was. */
export function fateSealedAt(timeline: readonly TimelineEntry[], fromMs = -Infinity): number | undefined {
  return firstAt(timeline, (e) => isRolledBack(e) || isPromoted(e), fromMs);
}

/**
 * When the rollback started (`mitigate`, docs/design.md §4): Flagger's `Rolling back …`, or its
 * phase Failed (a canary that never became ready is failed without that event); in the manual arm
 * the operator's `helm rollback`.
 */
export function mitigatedAt(
  timeline: readonly TimelineEntry[],
  arm: RunObservation['arm'],
  fromMs = -Infinity,
): number | undefined {
  if (arm === 'manual') return firstAt(timeline, (e) => e.kind === Marks.rollbackIssued, fromMs);
  return firstAt(
    timeline,
    (e) => isFlagger('Rolling back')(e) || (e.kind === Marks.flaggerEvent && e.phase === 'Failed'),
    fromMs,
  );
}

/**
 * Turns one run's request records and timeline into the quantities of docs/design.md §4. Pure: the same
 * inputs give the same numbers, so `npm run report` can recompute them from the journal. A release
 * train of more than one service is measured per service, then as one release (trainMetrics).
 */
export function computeRunMetrics(obs: RunObservation): RunMetrics {
  const train = obs.faultyServices;
  if (train === undefined || train.length <= 1) return serviceMetrics(obs, obs.records, obs.timeline);
  return trainMetrics(obs, train);
}

/** The quantities of one service from its records and its timeline. */
function serviceMetrics(
  obs: RunObservation,
  records: readonly RequestRecord[],
  timeline: readonly TimelineEntry[],
): RunMetrics {
  const { releaseMs } = obs;
  const after = records.filter((r) => r.sentMs >= releaseMs);
  const failures = after.filter(isFailure);
  const slow = after.filter((r) => isSlow(r, obs.latencyLimitMs));
  const badCount = failures.length + slow.length;

  // Impact is the first request that was bad for its user (docs/design.md §12): failed or slow.
  const impactMs = minOf([...failures, ...slow].map((r) => r.doneMs));

  const detectMs =
    obs.arm === 'flagger'
      ? firstAt(
          timeline,
          (e) =>
            isFlagger('Halt')(e) ||
            isFlagger('Rolling back')(e) ||
            (e.kind === Marks.flaggerEvent && (e.failedChecks ?? 0) >= 1),
          releaseMs,
        )
      : firstAt(timeline, (e) => e.kind === Marks.detect, releaseMs);
  const mitigateMs = mitigatedAt(timeline, obs.arm, releaseMs);
  let rolledBackMs = firstAt(timeline, isRolledBack, releaseMs);
  // In the manual arm, a release that looked fine all the way is promoted by hand (docs/design.md §13).
  let promotedMs = firstAt(timeline, isPromoted, releaseMs);
  if (rolledBackMs !== undefined && rolledBackMs > obs.deadlineMs) rolledBackMs = undefined;
  if (promotedMs !== undefined && promotedMs > obs.deadlineMs) promotedMs = undefined;

  const recoverMs =
    rolledBackMs !== undefined
      ? findRecovery(obs, after, routedAwayAt(timeline, mitigateMs ?? rolledBackMs))
      : undefined;

  let outcome: Outcome;
  if (rolledBackMs !== undefined) outcome = 'rolled_back';
  else if (promotedMs !== undefined) outcome = 'promoted';
  else outcome = badCount > 0 ? 'censored' : 'no_impact';

  return withDurations(obs, after, {
    outcome,
    impactMs,
    detectMs,
    mitigateMs,
    recoverMs,
    promotedMs,
    failedRequests: failures.length,
    slowRequests: slow.length,
  });
}

type Moments = Pick<
  RunMetrics,
  'outcome' | 'impactMs' | 'detectMs' | 'mitigateMs' | 'recoverMs' | 'promotedMs' | 'failedRequests' | 'slowRequests'
>;

/** The run's measures from its moments: MTTR and the other durations, the counts, the censoring time. */
function withDurations(obs: RunObservation, after: readonly RequestRecord[], m: Moments): RunMetrics {
  const { releaseMs } = obs;
  const { impactMs, detectMs, mitigateMs, recoverMs } = m;
  const s = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
  let mttrS: number | undefined;
  if (recoverMs !== undefined) mttrS = impactMs === undefined ? 0 : s(Math.max(0, recoverMs - impactMs));
  const metrics: RunMetrics = {
    outcome: m.outcome,
    releaseMs,
    impactMs,
    detectMs,
    mitigateMs,
    recoverMs,
    promotedMs: m.promotedMs,
    endMs: obs.endMs,
    mttrS,
    ttrReleaseS: recoverMs === undefined ? undefined : s(recoverMs - releaseMs),
    ttdS: impactMs === undefined || detectMs === undefined ? undefined : s(detectMs - impactMs),
    ttmS: impactMs === undefined || mitigateMs === undefined ? undefined : s(mitigateMs - impactMs),
    failedRequests: m.failedRequests,
    slowRequests: m.slowRequests,
    badRequests: m.failedRequests + (m.slowRequests ?? 0),
    totalRequests: after.length,
    peakErrorRate: peakErrorRate(after),
  };
  if (recoverMs === undefined && impactMs !== undefined)
    metrics.censoredAtS = s(Math.min(obs.endMs, obs.deadlineMs) - impactMs);
  return metrics;
}

/**
 * A release train (docs/design.md §13): each service measured on its own records and timeline, then
 * the run as one release. Impact is the first bad request on any service. The services that decide
 * the fate are the faulty ones (in a healthy train, the ones rolled back by mistake, else all): the
 * run is rolled back when every one of them is, and recovers when the last of them has recovered;
 * it is promoted when a faulty service was (a faulty build reached all its users), or, in a healthy
 * train, when every service was. Detection is the first among the deciding services, mitigation the
 * last (the incident is mitigated when all of them are).
 */
function trainMetrics(obs: RunObservation, faulty: readonly boolean[]): RunMetrics {
  const fates: ServiceFate[] = faulty.map((isFaulty, service) => {
    const m = serviceMetrics(
      obs,
      obs.records.filter((r) => r.service === service),
      obs.timeline.filter((e) => e.service === service),
    );
    return {
      service,
      faulty: isFaulty,
      outcome: m.outcome as ServiceFate['outcome'],
      impactMs: m.impactMs,
      detectMs: m.detectMs,
      mitigateMs: m.mitigateMs,
      recoverMs: m.recoverMs,
      promotedMs: m.promotedMs,
      failedRequests: m.failedRequests,
      badRequests: m.badRequests ?? m.failedRequests,
      totalRequests: m.totalRequests,
    };
  });
  const faultyFates = fates.filter((f) => f.faulty);
  const rolledBack = fates.filter((f) => f.outcome === 'rolled_back');
  const deciding = faultyFates.length > 0 ? faultyFates : rolledBack.length > 0 ? rolledBack : fates;
  const after = obs.records.filter((r) => r.sentMs >= obs.releaseMs);
  const failed = fates.reduce((n, f) => n + f.failedRequests, 0);
  const bad = fates.reduce((n, f) => n + f.badRequests, 0);
  const promotedMs =
    faultyFates.length > 0
      ? minOf(faultyFates.flatMap((f) => f.promotedMs ?? []))
      : lastOfAll(fates.map((f) => f.promotedMs));
  let outcome: Outcome;
  if (deciding.every((f) => f.outcome === 'rolled_back')) outcome = 'rolled_back';
  else if (promotedMs !== undefined) outcome = 'promoted';
  else outcome = bad > 0 ? 'censored' : 'no_impact';
  const metrics = withDurations(obs, after, {
    outcome,
    impactMs: minOf(fates.flatMap((f) => f.impactMs ?? [])),
    detectMs: minOf(deciding.flatMap((f) => f.detectMs ?? [])),
    mitigateMs: lastOfAll(deciding.map((f) => f.mitigateMs)),
    recoverMs: outcome === 'rolled_back' ? lastOfAll(deciding.map((f) => f.recoverMs)) : undefined,
    promotedMs,
    failedRequests: failed,
    slowRequests: bad - failed,
  });
  return { ...metrics, services: fates };
}

/** The latest of the values when every one is defined, else undefined. */
function lastOfAll(values: ReadonlyArray<number | undefined>): number | undefined {
  if (values.length === 0 || values.some((v) => v === undefined)) return undefined;
  return Math.max(...(values as number[]));
}

/**
 * When the rollback took the release's traffic away: the first route change at or after the
 * rollback's start that leaves the released build weight 0. A route change reaches the data plane
 * after the decision (istiod's push; the local router's `mesh.propagationDelayMs`), and until it
 * does users can still reach the release. Without such a change in the timeline (a canary that
 * never got traffic, a journal written before route changes were recorded) it is the rollback's
 * start itself.
 */
export function routedAwayAt(timeline: readonly TimelineEntry[], rollbackMs: number): number {
  return firstAt(timeline, (e) => e.kind === Marks.routes && e.canaryWeight === 0, rollbackMs) ?? rollbackMs;
}

/**
 * `recover`: the last bad moment before a clean window of length W — no bad request (failed or
 * slow) and no request served by the released build — that starts no earlier than the route change that took
 * the release's traffic away. With no bad request at all, it is that route change itself.
 */
function findRecovery(obs: RunObservation, after: readonly RequestRecord[], routedAwayMs: number): number | undefined {
  const bad = after
    .filter((r) => isBad(r, obs.latencyLimitMs) || r.version === obs.releaseVersion)
    .map((r) => r.doneMs)
    .sort((a, b) => a - b);
  let candidate = routedAwayMs;
  // Bad moments up to the route change belong to the incident.
  let i = 0;
  while (i < bad.length && bad[i]! <= candidate) i++;
  if (i > 0) candidate = Math.max(candidate, bad[i - 1]!);
  for (;;) {
    const next = bad[i];
    if (next === undefined || next > candidate + obs.cleanWindowMs) {
      return candidate + obs.cleanWindowMs <= obs.endMs ? candidate : undefined;
    }
    candidate = next;
    i++;
  }
}

function minOf(values: number[]): number | undefined {
  let min: number | undefined;
  for (const v of values) if (min === undefined || v < min) min = v;
  return min;
}

function peakErrorRate(records: readonly RequestRecord[]): number {
  const bins = new Map<number, { total: number; failed: number }>();
  for (const r of records) {
    const key = Math.floor(r.sentMs / 1000);
    let bin = bins.get(key);
    if (!bin) {
      bin = { total: 0, failed: 0 };
      bins.set(key, bin);
    }
    bin.total++;
    if (isFailure(r)) bin.failed++;
  }
  let peak = 0;
  for (const bin of bins.values()) peak = Math.max(peak, bin.failed / bin.total);
  return peak;
}
