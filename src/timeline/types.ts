/** Kinds of timeline line that the runner, the platforms and the operators write. */
export const Marks = {
  release: 'release',
  flaggerEvent: 'flagger-event',
  routes: 'routes',
  detect: 'detect',
  rollbackIssued: 'rollback-issued',
  rollbackDone: 'rollback-done',
  promoted: 'promoted',
  steady: 'steady',
  envFaultStart: 'env-fault-start',
  envFaultEnd: 'env-fault-end',
  operatorLook: 'operator-look',
  operatorNoticed: 'operator-noticed',
  operatorRollback: 'operator-rollback',
  alertPending: 'alert-pending',
  alertFiring: 'alert-firing',
  alertResolved: 'alert-resolved',
  alertNotified: 'alert-notified',
  manualAction: 'manual-action',
} as const;
export type Mark = (typeof Marks)[keyof typeof Marks];

/** The kinds of manual action a release may take a person (docs/design.md §13), counted as toil. */
export const ManualActions = ['values-edit', 'helm-command', 'dashboard-look', 'page-acknowledged'] as const;
export type ManualAction = (typeof ManualActions)[number];

/** One line of a run's timeline: harness marks, Flagger events, route changes, operator notes. */
export interface TimelineEntry {
  /** Scenario milliseconds on the harness clock. */
  atMs: number;
  kind: Mark;
  detail?: string;
  /** Canary weight after this entry, when it changed the routes. */
  canaryWeight?: number;
  /** Canary phase after a Flagger event. */
  phase?: string;
  failedChecks?: number;
  /** Object timestamp from the cluster (ISO), when the platform has one. */
  objectTime?: string;
  /** A `manual-action` line: which action the person took... */
  action?: ManualAction;
  /** ...and the scenario ms it kept them busy (from the operator model and manual.effort). */
  busyMs?: number;
  /** A `values-edit` line whose edit went wrong (manual.editErrorRate): applied as typed. */
  editError?: boolean;
  /**
   * In a release train of more than one service (docs/design.md §13), the position (from 0) of the
   * service the line is about; absent on lines about the whole run and in a train of one.
   */
  service?: number;
}

export const Outcomes = ['rolled_back', 'promoted', 'censored', 'no_impact', 'aborted'] as const;
export type Outcome = (typeof Outcomes)[number];

/** The measured quantities of one run (docs/design.md §4). Times are scenario ms from the run's start. */
export interface RunMetrics {
  outcome: Outcome;
  releaseMs: number;
  impactMs?: number;
  detectMs?: number;
  mitigateMs?: number;
  recoverMs?: number;
  promotedMs?: number;
  /** When the run stopped observing (recovered + clean window, or the deadline). */
  endMs: number;
  mttrS?: number;
  ttrReleaseS?: number;
  ttdS?: number;
  ttmS?: number;
  /** Requests after the release that failed (5xx, timeout, connection error). */
  failedRequests: number;
  /**
   * Requests after the release answered later than the SLO's latency limit (docs/design.md §12);
   * with failedRequests they make badRequests. Undefined in journals written before the SLO.
   */
  slowRequests?: number;
  /** Failed + slow: the requests impact, recovery and MTTR are measured on. Undefined as slowRequests. */
  badRequests?: number;
  totalRequests: number;
  /** Highest failed share in any 1-second bin after the release. */
  peakErrorRate: number;
  /** Censoring time for survival analysis: end − impact when not recovered. */
  censoredAtS?: number;
  abortReason?: string;
  /** A release train of more than one service (docs/design.md §13): each service's own fate. */
  services?: ServiceFate[];
}

/** What happened to one service of a release train (docs/design.md §13). Times are scenario ms from the run's start. */
export interface ServiceFate {
  /** Position in the train, from 0. */
  service: number;
  /** Whether its release carried the fault. */
  faulty: boolean;
  outcome: Exclude<Outcome, 'aborted'>;
  impactMs?: number;
  detectMs?: number;
  mitigateMs?: number;
  recoverMs?: number;
  promotedMs?: number;
  failedRequests: number;
  badRequests: number;
  totalRequests: number;
}
