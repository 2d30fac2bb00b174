import type { Clock } from '../common/clock.ts';
import type { Random } from '../common/random.ts';
import type { MetricsSource, ServiceQuery } from '../metrics/types.ts';
import type { EffortSettings } from '../scenario/schema.ts';
import type { ManualAction, Mark } from '../timeline/types.ts';
import { type ManualSteps, Progression } from './progression.ts';

/** What an operator can see and do during one manual-arm run. */
export interface OperatorContext {
  clock: Clock;
  metrics: MetricsSource;
  namespace: string;
  /** The service whose error-rate and latency panels the operator watches. */
  service: string;
  random: Random;
  /** Scenario time of the release. */
  releaseMs: number;
  /** Aborted when the run ends (deadline, recovery or interrupt). */
  signal: AbortSignal;
  /** Issues the rollback (helm rollback / weights back to 100/0) and resolves when it is applied. */
  rollback: () => Promise<void>;
  /** Adds a line to the run's timeline (e.g. "alert firing"). */
  note: (atMs: number, kind: Mark, detail?: string) => void;
  /**
   * Counts a manual action the person took at `atMs` (toil, docs/design.md §13) and the scenario ms it
   * kept them busy.
   */
  act: (atMs: number, action: ManualAction, busyMs: number, detail?: string) => void;
  /** Scenario seconds per manual action (manual.effort). */
  effort: EffortSettings;
  /** The steps that take a release that looks fine to its promotion; undefined: none are taken. */
  progression?: ManualSteps;
  /**
   * Resolves with the time a rollback was seen that the harness did not issue (a person ran
   * `helm rollback` on a cluster); never resolves where the platform cannot see one.
   */
  externalRollback?: Promise<number>;
  /**
   * A release train of more than one service (docs/design.md §13), in the order the person handles
   * them; the single-service fields above are then unused. Absent: the one service above.
   */
  services?: readonly WatchedService[];
}

/** One service of a release train, as the operator sees and acts on it. */
export interface WatchedService {
  /** Position in the train, from 0. */
  index: number;
  metrics: MetricsSource;
  namespace: string;
  service: string;
  rollback: () => Promise<void>;
  progression?: ManualSteps;
  externalRollback?: Promise<number>;
  /** The run's note and act, the lines naming this service. */
  note: OperatorContext['note'];
  act: OperatorContext['act'];
}

/**
 * Rolls back a service whose problem the operator noticed at `detectMs`, the command issued at
 * `mitigateMs`, and keeps both in the watch's result (the first of each, and every detection).
 * Resolves true: the service needs no more watching.
 */
export async function rollBackNoticed(
  svc: WatchedService,
  result: OperatorResult,
  detectMs: number,
  mitigateMs: number,
): Promise<true> {
  result.detectMs ??= detectMs;
  result.mitigateMs ??= mitigateMs;
  result.detections = [...(result.detections ?? []), { service: svc.index, atMs: detectMs }];
  await svc.rollback();
  return true;
}

/** What the operator keeps per watched service: its progression, and whether it needs watching. */
export function watchStates(ctx: OperatorContext) {
  return watchedServices(ctx).map((svc) => ({
    svc,
    progression: svc.progression && new Progression(svc.progression, ctx.releaseMs),
    done: false,
  }));
}

/** The services an operator watches: the train's, or the one service of the context. */
export function watchedServices(ctx: OperatorContext): readonly WatchedService[] {
  if (ctx.services !== undefined) return ctx.services;
  const { metrics, namespace, service, rollback, progression, externalRollback, note, act } = ctx;
  return [{ index: 0, metrics, namespace, service, rollback, progression, externalRollback, note, act }];
}

export interface OperatorResult {
  /** When the operator noticed the problem (scenario ms); undefined if they never did. */
  detectMs?: number;
  /** When the rollback was issued (scenario ms). */
  mitigateMs?: number;
  /** In a release train, each service whose problem the operator noticed, and when. */
  detections?: Array<{ service: number; atMs: number }>;
}

/** A manual operator: watches from the release on and may decide to roll back. */
export interface Operator {
  readonly kind: 'dashboard' | 'alert' | 'human';
  /** Every parameter with where its value comes from, for the report. */
  describe(): Record<string, string | number>;
  /** Runs until the rollback was issued or the signal aborts; never throws on abort. */
  watch(ctx: OperatorContext): Promise<OperatorResult>;
}

export function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted && (err === signal.reason || (err instanceof Error && err.name === 'AbortError'));
}

/**
 * What the service's panels show over the last `windowS`, as a person or an alert rule reads
 * them: the error rate and, when `withLatency`, the p99 latency (ms; Flagger's request-duration
 * query on the service's series). Each is undefined when there is no data and null when the
 * metrics could not be read at all.
 */
export async function readPanels(
  ctx: Pick<OperatorContext, 'metrics' | 'namespace' | 'service'>,
  windowS: number,
  withLatency: boolean,
): Promise<{ rate: number | undefined | null; p99: number | undefined | null }> {
  const query: ServiceQuery = { namespace: ctx.namespace, service: ctx.service, windowMs: windowS * 1000 };
  const read = async (q: () => Promise<number | undefined>) => {
    try {
      return await q();
    } catch {
      return null;
    }
  };
  const rate = await read(() => ctx.metrics.serviceErrorRate(query));
  const p99 = withLatency ? await read(() => ctx.metrics.serviceLatencyP99(query)) : undefined;
  return { rate, p99 };
}
