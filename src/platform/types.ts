import type { Clock } from '../common/clock.ts';
import type { Random } from '../common/random.ts';
import type { MetricsSource } from '../metrics/types.ts';
import type { Arm, EnvironmentFault, Scenario } from '../scenario/schema.ts';
import type { TimelineEntry } from '../timeline/types.ts';

export const PlatformNames = ['local', 'kube'] as const;
export type PlatformName = (typeof PlatformNames)[number];

/** Labels every process and cluster object carries, so leftovers can be found and removed. */
export interface RunLabels {
  experiment: string;
  run: string;
}

/** Where a session writes its timeline for the run in progress. */
export type TimelineSink = (entry: TimelineEntry) => void;

/**
 * One arm of one scenario deployed on a platform (docs/design.md §8): the manual setup (stable and canary
 * Deployments behind weighted routes) or the Flagger setup (target, primary, Canary).
 */
export interface ArmSession extends AsyncDisposable {
  readonly arm: Arm;
  /** URL the load generator sends POST /sms to. */
  readonly serviceUrl: string;
  /** Metrics the operators (and, locally, the Flagger model) query. */
  readonly metrics: MetricsSource;
  readonly namespace: string;
  readonly service: string;
  /** Which load generator and metrics backend this session uses, for the report. */
  readonly describe: () => Record<string, string>;
  /** Returns to the stable state: stable build serving 100%, canary gone, Canary idle. */
  restore(run: RunLabels, timeline: TimelineSink, random: Random, signal: AbortSignal): Promise<void>;
  /**
   * Issues the release of the scenario's build (manual: canary + weight; Flagger: new image). The
   * manual arm's canary gets `canaryWeight` (the values edit as typed), the scenario's by default.
   */
  release(signal: AbortSignal, canaryWeight?: number): Promise<void>;
  /** Manual arm: the rollback (weights back to 100/0, canary removed). */
  rollback(signal: AbortSignal): Promise<void>;
  /** Manual arm: a values edit and `helm upgrade` that move the canary to `weight` percent. */
  setCanaryWeight(weight: number, signal: AbortSignal): Promise<void>;
  /**
   * Manual arm: the promotion (values edit and `helm upgrade`): the released build becomes the
   * stable one, all traffic goes to it and the canary goes away; marks `promoted`.
   */
  promote(signal: AbortSignal): Promise<void>;
  /** Text the human operator is shown: what was released and how to watch it. */
  instructions(): string;
  /**
   * Injects a fault of the environment and resolves when it is over (scenario durations). Platforms
   * that cannot inject it throw a PlatformError, which the runner records in the timeline.
   */
  injectEnvironmentFault(fault: EnvironmentFault, signal: AbortSignal): Promise<void>;
  /**
   * Manual arm, where the platform can see it: resolves with the time the canary's weight went
   * back to 0 after the release without the harness asking (a person's `helm rollback`).
   */
  externalRollback?(signal: AbortSignal): Promise<number>;
}

/** Where a session is opened (docs/design.md §10). */
export interface OpenOptions {
  clock: Clock;
  seed: number;
  /** The experiment's name (from the plan). */
  experiment: string;
  /**
   * The experiment's unique id (journal header `id`), kept across --resume: names and labels what a
   * session creates, so two experiments on one platform never share an object.
   */
  experimentId: string;
  /** The slot the session belongs to, from 1: sessions of different slots share nothing. */
  slot: number;
  /**
   * Which service of the scenario's release train this session deploys (docs/design.md §13): its
   * position from 0 and the train's size. Absent: the only one.
   */
  service?: { index: number; count: number };
}

/** The service's name, `base` for a train of one, `base-<position from 1>` in a train of more. */
export function trainServiceName(base: string, service: OpenOptions['service']): string {
  return service === undefined || service.count === 1 ? base : `${base}-${service.index + 1}`;
}

/** A seed's name for one service of a train: the train's first service keeps the name a single service had. */
export function trainSeedName(name: string, service: OpenOptions['service']): string {
  return service === undefined || service.index === 0 ? name : `${name}/service-${service.index}`;
}

export interface Platform extends AsyncDisposable {
  readonly name: PlatformName;
  open(arm: Arm, scenario: Scenario, options: OpenOptions): Promise<ArmSession>;
}
