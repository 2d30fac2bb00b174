import { z } from 'zod';
import { parseDurationMs } from './duration.ts';

/** A Flagger-style duration string ("30s", "1m"); kept as milliseconds after parsing. */
const goDuration = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; write it like 30s, 1m or 500ms` });
    return z.NEVER;
  }
  return ms;
});

const seconds = (what: string) =>
  z
    .number({ error: `must be a number of seconds (${what})` })
    .finite()
    .nonnegative();
const positiveSeconds = (what: string) => seconds(what).positive();
const share = z.number().min(0).max(1);
const weight = z.number().int().min(0).max(100);
const buildVersion = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,40}$/, 'must be 1–40 letters, digits, dots, dashes or underscores');

export const FaultModes = ['none', 'http500', 'latency', 'crash'] as const;
export type FaultMode = (typeof FaultModes)[number];

/** The build that is released: which version it reports and which fault it carries. */
export const releaseSchema = z.strictObject({
  /** Version the stable build reports in `x-app-version`. */
  stableVersion: buildVersion.default('v1'),
  /** Version the released build reports; must differ from the stable one. */
  version: buildVersion.default('v2'),
  /** Fault of the released build: none, http500, latency or crash. */
  fault: z.enum(FaultModes).default('none'),
  /** Share of requests that fail with 500 when fault is http500 (0..1). */
  errorRate: share.default(1),
  /** Added latency in real milliseconds when fault is latency (latency is never time-compressed). */
  latencyMs: z.number().finite().nonnegative().max(600_000).default(0),
  /** Scenario seconds after the build starts before the fault shows. */
  onsetS: seconds('onsetS').max(86_400).default(0),
});

/** Steady user traffic during the whole run (open model, constant arrival rate). */
export const loadSchema = z.strictObject({
  /** Requests per scenario second. With time compression the wall rate is rateRps × timeScale. */
  rateRps: z.number().finite().positive().max(50_000).default(20),
  /** A request unanswered after this many real milliseconds counts as failed (not time-compressed). */
  timeoutMs: z.number().finite().positive().max(600_000).default(5_000),
  /** Requests outstanding at once; a request due beyond it is dropped and counted as failed. */
  maxInFlight: z.number().int().positive().max(100_000).default(2_000),
});

/** Steady-state check before the release. */
export const warmupSchema = z.strictObject({
  /** Scenario seconds of load before the release; the baseline must be healthy throughout. */
  durationS: positiveSeconds('durationS').max(3_600).default(10),
  /** Highest failed-request share accepted during warm-up (the SLO); above it the run aborts. */
  maxErrorRate: share.default(0.01),
});

/** When a run counts as recovered and when it gives up. */
export const recoverySchema = z.strictObject({
  /** Length W of the clean window: no failed request and no request served by the release. */
  cleanWindowS: positiveSeconds('cleanWindowS').max(3_600).default(30),
  /** Scenario seconds after the release at which an unrecovered run is censored. */
  deadlineS: positiveSeconds('deadlineS').max(86_400).default(900),
});

/** Files say `interval: 30s` as Flagger does; once parsed the value is milliseconds, named so. */
const intervalInMs = <T extends { interval: number }>({ interval, ...rest }: T) => ({ intervalMs: interval, ...rest });

const successRateCheck = z
  .strictObject({
    /** Lowest passing success rate in percent (Flagger's thresholdRange.min). */
    min: z.number().min(0).max(100).default(99),
    /** Query window, Flagger's metric `interval`. */
    interval: goDuration.prefault('1m'),
  })
  .transform(intervalInMs);
const durationCheck = z
  .strictObject({
    /** Highest passing p99 request duration in milliseconds (thresholdRange.max). */
    max: z.number().positive().max(600_000).default(500),
    /** Query window, Flagger's metric `interval`. */
    interval: goDuration.prefault('1m'),
  })
  .transform(intervalInMs);

/** Weight steps (Flagger's stepWeights, the manual progression's) must rise. */
function checkAscending(steps: readonly number[], ctx: z.RefinementCtx): void {
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]! <= steps[i - 1]!) {
      ctx.addIssue({
        code: 'custom',
        path: ['stepWeights', i],
        message: `${steps[i]} must be above the step before it (${steps[i - 1]})`,
      });
    }
  }
}

/**
 * The service level a user holds the service to (docs/design.md §12): what makes a request bad for
 * the person who sent it. Impact, recovery, the clean window and MTTR are measured on bad requests.
 */
export const sloSchema = z.strictObject({
  /**
   * A request answered later than this many real milliseconds is bad (slow) for its user, like a
   * failed one (5xx, timeout, connection error). The proposal's limit is 500 ms. Latency is real
   * time even under time compression. null: only failures are bad.
   */
  latencyMs: z.number().finite().positive().max(600_000).nullable().default(500),
});

/** The service mesh between the users and the pods (the local platform's router). */
export const meshSchema = z.strictObject({
  /**
   * Scenario milliseconds from a route change during a run (a VirtualService write: the manual
   * release and rollback, Flagger's weight steps) to the router applying it. The default is
   * istiod's PILOT_DEBOUNCE_AFTER (100 ms, istio/istio pilot/pkg/features): istiod waits at least
   * that long after a config change before it pushes to the sidecars. The push itself and Envoy's
   * apply come on top and are not measured here, so 100 ms is a lower bound.
   */
  propagationDelayMs: z.number().finite().nonnegative().max(60_000).default(100),
});

/** Flagger's `Canary.spec.analysis`, with the two built-in Istio checks. */
export const flaggerSchema = z
  .strictObject({
    /** Analysis interval: the scheduler ticks this often. Flagger's minimum is 10s. */
    interval: goDuration.prefault('30s'),
    /** Failed checks that trigger a rollback. */
    threshold: z.number().int().min(1).max(100).default(2),
    /** Highest canary weight before promotion, percent. */
    maxWeight: weight.default(50),
    /** Weight added per passing tick, percent. Ignored when stepWeights is given. */
    stepWeight: weight.min(1).default(10),
    /** Explicit weight steps, percent, ascending (Flagger's stepWeights). */
    stepWeights: z.array(weight.min(1)).min(1).max(100).optional(),
    /** Seconds a canary may take to become ready before Flagger rolls back. */
    progressDeadlineS: positiveSeconds('progressDeadlineS').max(86_400).default(600),
    /** request-success-rate check; null disables it. */
    requestSuccessRate: successRateCheck.nullable().prefault({ min: 99, interval: '1m' }),
    /** request-duration check (p99, ms); null disables it. */
    requestDuration: durationCheck.nullable().prefault({ max: 500, interval: '1m' }),
    /** Pre-rollout smoke test: one POST /sms against the canary on the analysis-start tick. */
    smokeTest: z.boolean().default(false),
  })
  .superRefine((value, ctx) => {
    if (value.interval < 10_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['interval'],
        message: `${value.interval / 1000}s is below Flagger's 10s minimum`,
      });
    }
    if (value.stepWeights) checkAscending(value.stepWeights, ctx);
    else if (value.stepWeight > value.maxWeight) {
      ctx.addIssue({
        code: 'custom',
        path: ['stepWeight'],
        message: `${value.stepWeight} is above maxWeight ${value.maxWeight}`,
      });
    }
  })
  .transform(intervalInMs);

const reactionSchema = z
  .strictObject({
    /** Median of the lognormal delay, scenario seconds. */
    medianS: positiveSeconds('medianS').max(86_400),
    /** 90th percentile of the lognormal delay, scenario seconds (≥ median). */
    p90S: positiveSeconds('p90S').max(86_400),
  })
  .refine((r) => r.p90S >= r.medianS, { message: 'p90S must be at least medianS', path: ['p90S'] });

/** A person watching the error-rate panel (docs/design.md §6). */
export const dashboardOperatorSchema = z.strictObject({
  kind: z.literal('dashboard'),
  /** Seconds between looks at the dashboard. */
  lookIntervalS: positiveSeconds('lookIntervalS').max(86_400).default(60),
  /** Window of the error-rate panel, seconds. */
  panelWindowS: positiveSeconds('panelWindowS').max(86_400).default(60),
  /** Error rate (0..1) at which the panel visibly looks wrong. */
  visibleErrorRate: share.default(0.01),
  /**
   * Also watch the latency panel beside it: the service's p99 over panelWindowS, which visibly
   * looks wrong above the scenario's slo.latencyMs (its threshold line). No effect when
   * slo.latencyMs is null.
   */
  latencyPanel: z.boolean().default(true),
  /** Probability that a look at a bad panel is noticed. */
  pNotice: share.default(0.8),
  /** Time to decide and type the rollback once noticed. */
  reaction: reactionSchema.prefault({ medianS: 45, p90S: 120 }),
});

/** A Prometheus-style alert that pages the operator (docs/design.md §6). */
export const alertOperatorSchema = z.strictObject({
  kind: z.literal('alert'),
  /** The rule fires when the error rate over ruleWindowS exceeds this share... */
  errorRateAbove: share.default(0.01),
  /** ...measured over this window, seconds. */
  ruleWindowS: positiveSeconds('ruleWindowS').max(86_400).default(60),
  /**
   * ...or when the p99 latency (real ms) over ruleWindowS exceeds this: one rule
   * `error rate > X or p99 > L`. null (the default, docs/design.md §6's rule): errors only.
   */
  latencyP99AboveMs: z.number().finite().positive().max(600_000).nullable().default(null),
  /** ...for this long (the rule's `for`), seconds. */
  forS: seconds('forS').max(86_400).default(60),
  /** Rule evaluation interval, seconds. */
  evaluationIntervalS: positiveSeconds('evaluationIntervalS').max(3_600).default(15),
  /** Alertmanager group_wait before the first notification, seconds. */
  groupWaitS: seconds('groupWaitS').max(3_600).default(30),
  /** Time from page to acknowledgement. */
  acknowledge: reactionSchema.prefault({ medianS: 180, p90S: 300 }),
  /** Time from acknowledgement to the rollback command. */
  action: reactionSchema.prefault({ medianS: 30, p90S: 60 }),
});

/** A real person at the terminal, who types `rollback` when they decide to. */
export const humanOperatorSchema = z.strictObject({
  kind: z.literal('human'),
});

export const operatorSchema = z.discriminatedUnion('kind', [
  dashboardOperatorSchema,
  alertOperatorSchema,
  humanOperatorSchema,
]);

/**
 * How a person takes a healthy release the rest of the way (docs/design.md §13): after the release's
 * canaryWeight, one values edit and `helm upgrade` per weight of stepWeights, each once the panel
 * has looked fine for holdS since the last step; after the last one, the promotion (the release
 * becomes the stable build, the canary goes away).
 */
export const progressionSchema = z
  .strictObject({
    /**
     * Canary weights after the release's, percent, ascending; the promotion follows the last. Steps
     * at or below the release's canaryWeight are skipped.
     */
    stepWeights: z.array(weight.min(1).max(99)).max(20).default([25, 50]),
    /** Scenario seconds the canary must look fine at a weight before the next step. */
    holdS: positiveSeconds('holdS').max(86_400).default(120),
  })
  .superRefine((value, ctx) => checkAscending(value.stepWeights, ctx));

/**
 * Scenario seconds a person spends on each manual action (docs/design.md §13): the toil the report counts
 * as the operator's busy time. The rollback's own time is the operator model's reaction (dashboard)
 * or action (alert) time.
 */
export const effortSchema = z.strictObject({
  /** Opening values.yaml, changing the canary's weight (or image), saving it. */
  valuesEditS: seconds('valuesEditS').max(3_600).default(60),
  /** Typing a `helm upgrade` and reading its answer. */
  helmCommandS: seconds('helmCommandS').max(3_600).default(15),
  /** Reading one panel at a look: the error rate, and the latency where the dashboard shows it. */
  panelLookS: seconds('panelLookS').max(3_600).default(10),
  /** Opening the page and acknowledging it. */
  pageAcknowledgeS: seconds('pageAcknowledgeS').max(3_600).default(30),
});

/** The manual canary: a values edit and `helm upgrade` per step, and an operator who watches. */
export const manualSchema = z.strictObject({
  /** Canary weight set by the release's Helm values edit, percent. */
  canaryWeight: weight.min(1).default(10),
  /** Who decides the rollback. */
  operator: operatorSchema.prefault({ kind: 'dashboard' }),
  /**
   * The steps of a release that looks fine, up to its promotion; null keeps the canary at
   * canaryWeight until a rollback or the deadline.
   */
  progression: progressionSchema.nullable().prefault({}),
  /**
   * Probability (0..1) that a values edit setting the canary's weight is wrong: the weight is set
   * to 100 instead of the intended value (the proposal's example) and applied as typed.
   */
  editErrorRate: share.default(0),
  /** Time per manual action, for the operator's busy time. */
  effort: effortSchema.prefault({}),
});

/**
 * What the metrics backend sees (docs/design.md §11). On the local platform the router's Istio
 * counters are scraped like Prometheus scrapes the sidecars, and every query reads those samples
 * only.
 */
export const metricsSchema = z.strictObject({
  /**
   * Prometheus' scrape_interval, scenario seconds; the proposal assumes 15 s. A query window must
   * hold two scrapes of a series, or the query finds no values.
   */
  scrapeIntervalS: positiveSeconds('scrapeIntervalS').min(1).max(3_600).default(15),
});

export const EnvironmentFaultKinds = ['metrics-outage', 'router-restart', 'stable-crash'] as const;

/**
 * A fault of the environment rather than of the release, to rehearse how the harness and the
 * mechanisms behave when their own infrastructure fails (local platform).
 */
export const environmentFaultSchema = z.strictObject({
  /** metrics-outage: queries fail; router-restart: the data plane drops its connections and
   * refuses new ones; stable-crash: the stable (primary) pod dies and restarts. */
  fault: z.enum(EnvironmentFaultKinds),
  /** When it starts, scenario seconds after the release; negative means during the warm-up. */
  atS: z.number().finite().min(-3_600).max(86_400),
  /** How long it lasts, scenario seconds (for stable-crash: until the pod is back). */
  durationS: z.number().finite().positive().max(3_600),
});
export type EnvironmentFault = z.output<typeof environmentFaultSchema>;

/** The most services one run may release (each is a router and app processes on the local platform). */
export const MAX_SERVICES = 16;

/** One run's recipe (a file in scenarios/). */
export const scenarioSchema = z
  .strictObject({
    /** Name used in reports and runs.csv; defaults to the file name. */
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'must be lowercase letters, digits, dots and dashes')
      .optional(),
    /** What this scenario shows, one or two sentences. */
    description: z.string().max(2_000).default(''),
    release: releaseSchema.prefault({}),
    load: loadSchema.prefault({}),
    warmup: warmupSchema.prefault({}),
    recovery: recoverySchema.prefault({}),
    flagger: flaggerSchema.prefault({}),
    manual: manualSchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    /** How route changes reach the data plane (local platform). */
    mesh: meshSchema.prefault({}),
    /** What a bad request is: failed, or slower than latencyMs. */
    slo: sloSchema.prefault({}),
    /** Faults of the environment injected during each run (local platform); none by default. */
    environmentFaults: z.array(environmentFaultSchema).max(20).default([]),
    /**
     * Services released in one train (docs/design.md §13): N copies of the service side by side, each
     * with its own canary, workloads, routes and metrics, and each under the full `load.rateRps` of
     * its own users. The Flagger arm analyses each on its own; the manual arm's one operator handles
     * them one at a time. 1 is the single service.
     */
    services: z.number().int().min(1).max(MAX_SERVICES).default(1),
    /**
     * How many of the services carry the release's fault (0..services); the others get a healthy
     * build of the same version. Default: 1 when release.fault is not none, else 0.
     */
    faultyServices: z.number().int().min(0).max(MAX_SERVICES).optional(),
  })
  .superRefine((value, ctx) => {
    const k = value.faultyServices;
    if (k !== undefined && k > value.services) {
      ctx.addIssue({
        code: 'custom',
        path: ['faultyServices'],
        message: `${k} is more than services (${value.services}); set it to at most ${value.services}`,
      });
    }
  });

/** How many services of a scenario's train carry the fault (docs/design.md §13). */
export function faultyServiceCount(scenario: Pick<Scenario, 'faultyServices' | 'release'>): number {
  return scenario.faultyServices ?? (scenario.release.fault === 'none' ? 0 : 1);
}

/**
 * The scenario one service of the train deploys: the first faultyServices positions carry the
 * release's fault, the others a healthy build of the same version. (Which position the person
 * handles first is drawn per run, so being first here gives the faulty ones no head start.)
 */
export function serviceScenario(scenario: Scenario, index: number): Scenario {
  if (index < faultyServiceCount(scenario)) return scenario;
  return { ...scenario, release: { ...scenario.release, fault: 'none' } };
}

export const Arms = ['manual', 'flagger'] as const;
export type Arm = (typeof Arms)[number];

/** One entry of an experiment: a scenario run in some arms. */
export const experimentEntrySchema = z.strictObject({
  /** Scenario name (a file scenarios/<name>.yaml) or a path to a scenario file. */
  scenario: z.string().min(1).max(500),
  /** Arms to run it in. */
  arms: z.array(z.enum(Arms)).min(1).max(2).default(['manual', 'flagger']),
  /** Repetitions per arm; defaults to the experiment's. */
  repetitions: z.number().int().min(1).max(10_000).optional(),
  /** Values merged over the scenario file (same shape as a scenario), e.g. flagger.interval. */
  overrides: z.record(z.string(), z.unknown()).optional(),
  /**
   * One or two scenario fields to sweep, by dotted path, each with its list of values, e.g.
   * `{ "manual.operator.lookIntervalS": [15, 30, 60] }`. Every combination runs as its own cell.
   */
  sweep: z
    .record(
      z.string().regex(/^[A-Za-z]+(\.[A-Za-z0-9]+)*$/, 'must be a dotted field path such as flagger.interval'),
      z.array(z.unknown()).min(1).max(50),
    )
    .refine((s) => Object.keys(s).length >= 1 && Object.keys(s).length <= 2, { message: 'sweeps one or two fields' })
    .optional(),
});

/** An experiment plan (a file in experiments/). */
export const experimentSchema = z.strictObject({
  /** Name used for the report folder; defaults to the file name. */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'must be lowercase letters, digits, dots and dashes')
    .optional(),
  /** What the experiment asks. */
  description: z.string().max(2_000).default(''),
  /** Scenario seconds per wall second; 1 is real time. */
  timeScale: z.number().finite().min(0.1).max(200).default(1),
  /** Base seed; each run derives its own from it. */
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(1),
  /** Repetitions per arm and scenario. */
  repetitions: z.number().int().min(1).max(10_000).default(5),
  /** Order of runs: interleaved arms (a fairer comparison) or blocked by arm. */
  order: z.enum(['interleaved', 'blocked']).default('interleaved'),
  /** Runs in flight at once (docs/design.md §10); absent: chosen from the machine (--concurrency overrides). */
  concurrency: z.number().int().min(1).max(64).optional(),
  runs: z.array(experimentEntrySchema).min(1).max(1_000),
});

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.output<typeof scenarioSchema> & { name: string };
export type FlaggerSettings = z.output<typeof flaggerSchema>;
export type ManualSettings = z.output<typeof manualSchema>;
export type ProgressionSettings = z.output<typeof progressionSchema>;
export type EffortSettings = z.output<typeof effortSchema>;
export type OperatorSettings = z.output<typeof operatorSchema>;
export type DashboardOperatorSettings = z.output<typeof dashboardOperatorSchema>;
export type AlertOperatorSettings = z.output<typeof alertOperatorSchema>;
export type ReleaseSettings = z.output<typeof releaseSchema>;
export type SloSettings = z.output<typeof sloSchema>;
export type LoadSettings = z.output<typeof loadSchema>;
export type MetricsSettings = z.output<typeof metricsSchema>;
export type Experiment = z.output<typeof experimentSchema> & { name: string };
export type ExperimentEntry = z.output<typeof experimentEntrySchema>;
