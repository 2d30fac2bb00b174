/**
 * Kaplan–Meier estimate of the survival function ("still not recovered after t") for
 * right-censored times, as R's `survival::survfit(Surv(time, event) ~ 1)` computes it:
 *
 * - S(t) = Π over event times t_i ≤ t of (1 − d_i / n_i), with n_i the runs at risk just before
 *   t_i (time ≥ t_i: a run censored at t_i is still at risk at t_i) and d_i the events at t_i;
 * - Greenwood: Var(log S(t)) = Σ d_i / (n_i (n_i − d_i)); R's `std.err` in `summary()` is the
 *   standard error of S itself, S · sqrt(that sum);
 * - confidence interval with R's default conf.type = "log": S · exp(± z · se(log S)), the upper
 *   bound capped at 1. "log-log" (S^exp(± z · se / log S), the default of SAS and Stata) and
 *   "plain" (S ± z · se(S), clipped to [0, 1]) are available as options.
 *
 * In this harness the "event" is recovery, and a run that hit its deadline first is censored at
 * the deadline: it is kept in the estimate (it counts as at risk until then) instead of dropped,
 * which is what docs/design.md §7 asks for.
 */
import { assertLevel } from './input.ts';
import { normalQuantile } from './normal.ts';

/** One observation: `event` true when the event (recovery) was seen at `time`, false when censored. */
export interface SurvivalObservation {
  time: number;
  event: boolean;
}

export const KmConfTypes = ['log', 'log-log', 'plain'] as const;
export type KmConfType = (typeof KmConfTypes)[number];

export interface KaplanMeierOptions {
  /** Confidence level of the pointwise intervals, default 0.95. */
  level?: number;
  /** Interval transform, default 'log' (R survfit's default). */
  confType?: KmConfType;
}

/** One row of the step function: the state just after `time`. */
export interface KmStep {
  /** A distinct observed time (an event time, a censoring time, or both). */
  time: number;
  /** Observations with time ≥ this time (at risk just before it). */
  atRisk: number;
  /** Events at this time. */
  events: number;
  /** Censorings at this time. */
  censored: number;
  /** S(time), in [0, 1], non-increasing. */
  survival: number;
  /** Greenwood standard error of S (R `summary()`'s std.err); `undefined` once S = 0. */
  stdErr: number | undefined;
  /** Greenwood standard error of log S (R's `fit$std.err`); `undefined` once S = 0. */
  stdErrLog: number | undefined;
  /** Lower confidence bound of S; `undefined` where R gives NA (S = 0 for 'log'/'log-log'). */
  lower: number | undefined;
  /** Upper confidence bound of S; same rule as `lower`. */
  upper: number | undefined;
}

export interface KaplanMeierFit {
  /** Number of observations. */
  n: number;
  /** Number of events (non-censored observations). */
  events: number;
  /** One row per distinct time, ascending. Empty for empty input. */
  steps: KmStep[];
  level: number;
  confType: KmConfType;
}

/**
 * Kaplan–Meier fit with Greenwood standard errors and pointwise confidence intervals.
 * Empty input gives an empty step list. Throws a RangeError on a non-finite time.
 */
export function kaplanMeier(
  observations: readonly SurvivalObservation[],
  options: KaplanMeierOptions = {},
): KaplanMeierFit {
  const level = options.level ?? 0.95;
  const confType = options.confType ?? 'log';
  assertLevel('kaplanMeier', level);
  observations.forEach((o, i) => {
    if (!Number.isFinite(o.time)) {
      throw new RangeError(`kaplanMeier: observations[${i}].time is ${o.time}; times must be finite numbers`);
    }
  });
  const z = normalQuantile(1 - (1 - level) / 2);
  const sorted = [...observations].sort((p, q) => p.time - q.time);
  const steps: KmStep[] = [];
  let atRisk = sorted.length;
  let survival = 1;
  let greenwoodSum = 0; // Σ d / (n (n − d)); Infinity once S reaches 0
  for (let i = 0; i < sorted.length; ) {
    const time = (sorted[i] as SurvivalObservation).time;
    let events = 0;
    let censored = 0;
    while (i < sorted.length && (sorted[i] as SurvivalObservation).time === time) {
      if ((sorted[i] as SurvivalObservation).event) events++;
      else censored++;
      i++;
    }
    if (events > 0) {
      survival *= (atRisk - events) / atRisk;
      greenwoodSum += atRisk === events ? Infinity : events / (atRisk * (atRisk - events));
    }
    const stdErrLog = survival > 0 ? Math.sqrt(greenwoodSum) : undefined;
    const stdErr = stdErrLog === undefined ? undefined : survival * stdErrLog;
    steps.push({
      time,
      atRisk,
      events,
      censored,
      survival,
      stdErr,
      stdErrLog,
      ...confidenceBounds(survival, stdErrLog, z, confType),
    });
    atRisk -= events + censored;
  }
  return { n: sorted.length, events: sorted.filter((o) => o.event).length, steps, level, confType };
}

function confidenceBounds(
  s: number,
  seLog: number | undefined,
  z: number,
  confType: KmConfType,
): { lower: number | undefined; upper: number | undefined } {
  if (seLog === undefined) {
    // S = 0: R gives NA for 'log' and 'log-log'; 'plain' has se(S) = 0·∞, NA as well.
    return { lower: undefined, upper: undefined };
  }
  if (seLog === 0) return { lower: s, upper: s }; // before the first event: S = 1 exactly
  switch (confType) {
    case 'log':
      return { lower: s * Math.exp(-z * seLog), upper: Math.min(1, s * Math.exp(z * seLog)) };
    case 'log-log': {
      // log(−log S) ± z·se(log S)/|log S|, mapped back with S = exp(−exp(·)).
      const logS = Math.log(s);
      const spread = (z * seLog) / Math.abs(logS);
      const centre = Math.log(-logS);
      return { lower: Math.exp(-Math.exp(centre + spread)), upper: Math.exp(-Math.exp(centre - spread)) };
    }
    case 'plain': {
      const se = s * seLog;
      return { lower: Math.max(0, s - z * se), upper: Math.min(1, s + z * se) };
    }
  }
}

/**
 * How a quantile is read where S(t) is exactly at the level over a flat stretch:
 * - 'first': the first time S(t) ≤ level (the textbook definition; the default);
 * - 'midpoint': the midpoint of the flat stretch, as R's `quantile.survfit` (survival ≥ 2.37)
 *   does so that, without censoring, the KM median equals the ordinary sample median.
 */
export const KmFlatRules = ['first', 'midpoint'] as const;
export type KmFlatRule = (typeof KmFlatRules)[number];

export interface KmQuantile {
  /** The estimate; `undefined` when S(t) never falls to the level. */
  value: number | undefined;
  /** Lower confidence limit: where the lower confidence curve falls to the level (Brookmeyer–Crowley style, as R). */
  lower: number | undefined;
  /** Upper confidence limit: where the upper confidence curve falls to the level; `undefined` if it never does. */
  upper: number | undefined;
  level: number;
}

// S is a product of fractions: a curve meant to be exactly 0.5 can come out as 0.5000000000000001
// and miss the median by a whole step. R uses the same tolerance, sqrt(.Machine$double.eps).
const TOLERANCE = Math.sqrt(Number.EPSILON);

/**
 * The time by which a fraction `p` of runs have had the event: the first time S(t) ≤ 1 − p,
 * with its confidence interval read off the pointwise confidence curves (R `quantile.survfit`).
 * `p` = 0.5 gives the median.
 */
export function kmQuantile(fit: KaplanMeierFit, p: number, options: { flat?: KmFlatRule } = {}): KmQuantile {
  if (!(p > 0 && p < 1)) throw new RangeError(`kmQuantile: p ${p} must be between 0 and 1 (exclusive)`);
  const flat = options.flat ?? 'first';
  const target = 1 - p;
  const times = fit.steps.map((s) => s.time);
  const lastTime = times[times.length - 1];
  return {
    value: crossing(
      times,
      fit.steps.map((s) => s.survival),
      target,
      flat,
      lastTime,
    ),
    lower: crossing(
      times,
      fit.steps.map((s) => s.lower),
      target,
      flat,
      lastTime,
    ),
    upper: crossing(
      times,
      fit.steps.map((s) => s.upper),
      target,
      flat,
      lastTime,
    ),
    level: fit.level,
  };
}

/**
 * Median time to the event (recovery) with its confidence interval: the smallest time where
 * S(t) ≤ 0.5 (`undefined` if the curve never gets there), or with `flat: 'midpoint'` R's rule.
 */
export function kmMedian(fit: KaplanMeierFit, options: { flat?: KmFlatRule } = {}): KmQuantile {
  return kmQuantile(fit, 0.5, options);
}

function crossing(
  times: readonly number[],
  curve: readonly (number | undefined)[],
  target: number,
  flat: KmFlatRule,
  lastTime: number | undefined,
): number | undefined {
  const first = curve.findIndex((y) => y !== undefined && y <= target + TOLERANCE);
  if (first < 0) return undefined;
  const t = times[first] as number;
  if (flat === 'first' || Math.abs((curve[first] as number) - target) >= TOLERANCE) return t;
  // Exactly at the target: average with the time the curve next drops below it, or with the end
  // of follow-up if it never does (R's `findq`).
  const below = curve.findIndex((y, i) => i > first && y !== undefined && y < target - TOLERANCE);
  return (t + (below >= 0 ? (times[below] as number) : (lastTime as number))) / 2;
}
