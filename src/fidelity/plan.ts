/**
 * What `npm run fidelity -- --all` runs and how long it should take: one task per release and
 * scenario, grouped by Prometheus' scrape interval (a start-up option of the local control plane,
 * so each group gets a cluster of its own), and a wall-time estimate from the timing law of
 * docs/design.md §5 spread over the concurrent slots.
 */
import type { Scenario } from '../scenario/schema.ts';

/** partial-0.5pct's rollbacks are rare events: twice the releases to see their share. */
export const REPS_FACTOR: Readonly<Record<string, number>> = { 'partial-0.5pct': 2 };

export function repsFor(scenario: string, reps: number): number {
  return reps * (REPS_FACTOR[scenario] ?? 1);
}

export interface ReleaseTask {
  scenario: Scenario;
  rep: number;
}

/**
 * The real side's releases in the order they start: repetition k of every scenario before
 * repetition k + 1, so a slow spell of the machine touches every scenario alike, and the scenarios
 * with more releases finish last. `done` holds `scenario/rep` keys already measured (resume).
 */
export function releaseTasks(
  scenarios: readonly Scenario[],
  reps: number,
  done: ReadonlySet<string> = new Set(),
): ReleaseTask[] {
  const most = Math.max(0, ...scenarios.map((s) => repsFor(s.name, reps)));
  const tasks: ReleaseTask[] = [];
  for (let rep = 1; rep <= most; rep++)
    for (const scenario of scenarios)
      if (rep <= repsFor(scenario.name, reps) && !done.has(`${scenario.name}/${rep}`)) tasks.push({ scenario, rep });
  return tasks;
}

/** Scenarios by `metrics.scrapeIntervalS`, smallest first: one local control plane per group. */
export function byScrapeInterval(
  scenarios: readonly Scenario[],
): Array<{ scrapeIntervalS: number; scenarios: Scenario[] }> {
  const groups = new Map<number, Scenario[]>();
  for (const s of scenarios)
    groups.set(s.metrics.scrapeIntervalS, [...(groups.get(s.metrics.scrapeIntervalS) ?? []), s]);
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([scrapeIntervalS, list]) => ({ scrapeIntervalS, scenarios: list }));
}

/**
 * The expected release → rollback or promotion of a scenario by the timing law, seconds: the first
 * tick comes a ∈ (0, interval] after the release (a/2 on average), a failed smoke test rolls back
 * threshold + 1 intervals after it, a failed success-rate check threshold + 2, a healthy build is
 * promoted after steps + 3, a crash waits for the progress deadline, and a delayed onset first
 * waits for its fault.
 */
export function expectedFateS(scenario: Scenario): number {
  const f = scenario.flagger;
  const i = f.intervalMs / 1000;
  const r = scenario.release;
  const steps = f.stepWeights?.length ?? Math.ceil(f.maxWeight / f.stepWeight);
  if (r.fault === 'crash') return f.progressDeadlineS + 1.5 * i;
  const minRate = f.requestSuccessRate?.min ?? 0;
  const visibleErrors = r.fault === 'http500' && r.errorRate > 1 - minRate / 100;
  const slow = r.fault === 'latency' && f.requestDuration != null && r.latencyMs > f.requestDuration.max;
  if (!visibleErrors && !slow) return (steps + 3.5) * i;
  const smokeFails = f.smokeTest && r.fault === 'http500' && r.errorRate >= 1 && (r.onsetS ?? 0) === 0;
  if (smokeFails) return (f.threshold + 1.5) * i;
  return (r.onsetS ?? 0) + (f.threshold + 2.5) * i;
}

/**
 * Wall seconds of one release on the real Flagger: the Canary's initialisation (about one and a
 * half intervals, on Flagger's ticks), the random phase (half an interval on average), the
 * warm-up, the fate, and a few seconds of install and cleanup.
 */
export function estimateReleaseS(scenario: Scenario): number {
  const i = scenario.flagger.intervalMs / 1000;
  return 1.5 * i + 5 + 0.5 * i + scenario.warmup.durationS + expectedFateS(scenario) + 5;
}

/** Wall seconds of tasks run in order on `slots` slots, each task on the first free slot. */
export function scheduleWallS(durationsS: readonly number[], slots: number): number {
  const free = Array.from({ length: Math.max(1, slots) }, () => 0);
  for (const d of durationsS) {
    const k = free.indexOf(Math.min(...free));
    free[k]! += d;
  }
  return Math.max(0, ...free);
}

/** Wall seconds of the model's runs: each scenario's releases at the time scale, on `slots` slots. */
export function estimateModelS(scenarios: readonly Scenario[], reps: number, timeScale: number, slots: number): number {
  return scenarios.reduce(
    (sum, s) =>
      sum +
      scheduleWallS(
        Array.from(
          { length: repsFor(s.name, reps) },
          () => (s.warmup.durationS + expectedFateS(s) + s.recovery.cleanWindowS) / timeScale + 2,
        ),
        slots,
      ),
    0,
  );
}

/**
 * Progress of the real side: how many releases are done, and the wall time left, with the law's
 * estimates of what remains scaled by how the finished releases compared with theirs. A release in
 * flight counts with what is left of its scaled estimate.
 */
export class Progress {
  private estimatedDoneS = 0;
  private actualDoneS = 0;
  private done = 0;
  private readonly inFlight = new Map<number, { estimateS: number; startMs: number }>();
  private nextId = 0;
  constructor(
    private total: number,
    private readonly waitingS: number[],
    private readonly slots: number,
    private readonly afterS: number,
  ) {}

  /** A release will be measured again (its first measurement was overloaded). */
  requeued(estimateS: number): void {
    this.total++;
    this.waitingS.push(estimateS);
  }

  /** A release starts; the id goes back to finished(). */
  started(estimateS: number, nowMs: number): number {
    const at = this.waitingS.indexOf(estimateS);
    if (at >= 0) this.waitingS.splice(at, 1);
    this.inFlight.set(this.nextId, { estimateS, startMs: nowMs });
    return this.nextId++;
  }

  /** A release finished (or failed). */
  finished(id: number, nowMs: number): void {
    const run = this.inFlight.get(id);
    if (!run) return;
    this.inFlight.delete(id);
    this.done++;
    this.estimatedDoneS += run.estimateS;
    this.actualDoneS += (nowMs - run.startMs) / 1000;
  }

  /** Seconds left: the releases in flight and waiting on the slots, scaled, then what comes after. */
  leftS(nowMs: number): number {
    const factor = this.estimatedDoneS > 0 ? this.actualDoneS / this.estimatedDoneS : 1;
    const flying = [...this.inFlight.values()].map((r) =>
      Math.max(0, r.estimateS * factor - (nowMs - r.startMs) / 1000),
    );
    const free = [...flying, ...Array.from({ length: Math.max(0, this.slots - flying.length) }, () => 0)];
    for (const d of this.waitingS) {
      const k = free.indexOf(Math.min(...free));
      free[k]! += d * factor;
    }
    return Math.max(0, ...free) + this.afterS;
  }

  line(nowMs: number): string {
    const left = this.leftS(nowMs);
    const eta = new Date(nowMs + left * 1000).toISOString().slice(11, 16);
    return `${this.done}/${this.total} real releases done; about ${Math.round(left / 60)} min left (ETA ${eta} UTC)`;
  }
}
