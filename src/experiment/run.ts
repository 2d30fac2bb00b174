import path from 'node:path';
import createDebug from 'debug';
import type { Clock } from '../common/clock.ts';
import { HarnessError } from '../common/errors.ts';
import { pollUntil } from '../common/poll.ts';
import { createRandom, deriveSeed, type Random, shuffled } from '../common/random.ts';
import type { LoadSummary, StartedLoad } from '../load/builtin-generator.ts';
import type { ChosenLoad } from '../load/choose.ts';
import { isFailure } from '../load/types.ts';
import type { OperatorFactory } from '../operator/create.ts';
import { describeManualProcess, stepsAfter } from '../operator/progression.ts';
import type { OperatorResult, WatchedService } from '../operator/types.ts';
import type { ArmSession, TimelineSink } from '../platform/types.ts';
import { type EnvironmentFault, faultyServiceCount } from '../scenario/schema.ts';
import { computeRunMetrics, Marks } from '../timeline/compute.ts';
import type { ManualAction, RunMetrics } from '../timeline/types.ts';
import type { RunEntry } from './journal.ts';
import type { PlannedRun } from './plan.ts';
import { writeRequestsFile } from './requests-file.ts';
import { RunRecorder } from './run-recorder.ts';

const debug = createDebug('canary-mttr:runner');

/** How often the watch looks at the timeline and the records, wall ms. */
export const WATCH_POLL_WALL_MS = 25;
/** Wall time a slow-starting load generator (k6) gets to send its first request before the warm-up starts anyway. */
const LOAD_READY_WALL_MS = 30_000;
/** Beyond the request timeout, wall time the first answer of the warm-up may take to be read (k6). */
const FIRST_ANSWER_MARGIN_WALL_MS = 2_000;

/** What one run needs; the runner's options, narrowed to one run on one arm session. */
export interface RunContext {
  run: PlannedRun;
  /**
   * The arm session of each service of the release train (docs/design.md §13), by position; the
   * first `faultyServiceCount` carry the fault. One for a single service.
   */
  sessions: readonly ArmSession[];
  clock: Clock;
  load: ChosenLoad;
  operators: OperatorFactory;
  experiment: string;
  outDir: string;
  /** The experiment's interrupt: aborting it stops the run and rejects, journaling nothing. */
  signal: AbortSignal;
  /** Called once the run has issued its release (its set-up and warm-up are over), or has ended before. */
  onReleased?: () => void;
}

/**
 * One run: restore → warm up and verify the steady state → release → watch until the release's
 * fate is sealed and a clean window has passed, or the deadline → finish. A run that fails for a
 * reason of its own (a HarnessError) ends as `aborted`; an interrupt rejects with its reason.
 * Everything the run started (load, operator, faults) has stopped when this settles.
 */
export async function executeRun(ctx: RunContext): Promise<RunEntry> {
  const run = new Run(ctx);
  try {
    await run.restore();
    const warmup = await run.warmUp();
    if (!warmup.steady) return await run.abortedEntry(warmup.reason);
    const releaseMs = await run.release();
    ctx.onReleased?.();
    const endMs = await run.watchUntilSettled(releaseMs);
    return await run.finish(releaseMs, endMs);
  } catch (err) {
    if (ctx.signal.aborted || !(err instanceof HarnessError)) throw err;
    debug('run %s aborted: %O', ctx.run.runId, err);
    return await run.abortedEntry(err.message);
  } finally {
    ctx.onReleased?.();
    await run.stopEverything();
  }
}

type WarmupVerdict = { steady: true } | { steady: false; reason: string };

/** The state one run's phases share, and the phases themselves, in the order executeRun calls them. */
class Run {
  private readonly recorder: RunRecorder;
  private readonly base: Omit<RunEntry, 'metrics' | 'timeline' | 'load' | 'operator'>;
  /** Ends what the run started (operator, faults) when the run ends, whatever the reason. */
  private readonly ended = new AbortController();
  /** The experiment's interrupt or the run's end. */
  private readonly signal: AbortSignal;
  /** One load per service of the train: each service has its own users. */
  private started: StartedLoad[] = [];
  private faults: Promise<void>[] = [];
  private operatorDone: Promise<OperatorResult> | undefined;
  private operatorDescription: Record<string, string | number> | undefined;
  private operatorError: unknown;
  /** Whether each values edit goes wrong: a stream of its own, so the other draws stay as they were. */
  private readonly edits: Random;
  /** A release train of more than one service (docs/design.md §13): its lines and records name their service. */
  private readonly train: boolean;

  constructor(private readonly ctx: RunContext) {
    const { run } = ctx;
    this.train = ctx.sessions.length > 1;
    this.recorder = new RunRecorder(
      ctx.clock,
      run.arm,
      run.scenario.release.version,
      run.scenario.slo.latencyMs,
      ctx.sessions.length,
    );
    this.signal = AbortSignal.any([ctx.signal, this.ended.signal]);
    this.edits = createRandom(deriveSeed(run.seed, 'edit-errors'));
    this.base = {
      type: 'run',
      runId: run.runId,
      arm: run.arm,
      scenario: run.scenario.name,
      entry: run.entry,
      sweep: run.sweep,
      sweepLabel: run.sweepLabel,
      repetition: run.repetition,
      seed: run.seed,
      timeScale: ctx.clock.timeScale,
      startedAt: new Date().toISOString(),
      wallMs: 0,
      requestsFile: `requests/${run.runId}.csv`,
      platform: ctx.sessions[0]!.describe(),
      services: ctx.sessions.length,
      faultyServices: faultyServiceCount(run.scenario),
    };
  }

  async restore(): Promise<void> {
    const { run, sessions } = this.ctx;
    await Promise.all(
      sessions.map((session, i) => {
        const random = createRandom(deriveSeed(run.seed, i === 0 ? 'restore' : `restore/${i}`));
        return session.restore({ experiment: this.ctx.experiment, run: run.runId }, this.sink(i), random, this.signal);
      }),
    );
  }

  /** Where the lines about service `i` go: in a train they name it. */
  private sink(i: number): TimelineSink {
    const { mark } = this.recorder;
    return this.train ? (entry) => mark({ ...entry, service: i }) : mark;
  }

  /**
   * Starts the load and judges the baseline over the warm-up: it must answer, with no more
   * failures than the scenario allows, before anything is released. The environment faults are
   * scheduled from here, relative to the planned release.
   */
  async warmUp(): Promise<WarmupVerdict> {
    const { scenario } = this.ctx.run;
    const { clock } = this.ctx;
    const { record } = this.recorder;
    // Each service of a train has users of its own, at the scenario's full rate (docs/design.md §13).
    this.started = this.ctx.sessions.map((session, i) =>
      this.ctx.load.generator.start({
        url: session.serviceUrl,
        rateRps: scenario.load.rateRps,
        clock,
        timeoutMs: scenario.load.timeoutMs,
        maxInFlight: scenario.load.maxInFlight,
        signal: this.signal,
        // The load ends at the deadline at the latest; k6 adds its margin for the waits in between.
        maxDurationMs: (scenario.warmup.durationS + scenario.recovery.deadlineS) * 1000,
        onRecord: this.train ? (r) => record({ ...r, service: i }) : record,
      }),
    );
    const started = this.started;
    // k6 takes from 50 ms to several seconds (a busy machine) to start its VUs: the warm-up
    // counts from its first request. The wait is wall time: compressed, it would be too short.
    await this.within(
      Promise.all(started.map((s) => s.ready)).then(() => undefined),
      LOAD_READY_WALL_MS * clock.timeScale,
    );
    const warmupMs = scenario.warmup.durationS * 1000;
    const plannedReleaseMs = clock.now() + warmupMs;
    this.faults = scenario.environmentFaults.map((fault) =>
      this.injectLater(fault, plannedReleaseMs + fault.atS * 1000),
    );
    await clock.sleep(warmupMs, this.signal);
    // A record comes with its answer, and answers lag their requests (k6 reads its output every
    // 50 ms; a busy machine answers late): with requests sent but none answered yet, wait for the
    // first answer, at most the request timeout (wall), before judging the warm-up.
    const records = this.recorder.records;
    await pollUntil(() => records.length > 0 || started.every((s) => s.stats.sent === 0), {
      everyMs: WATCH_POLL_WALL_MS * clock.timeScale,
      timeoutMs: (scenario.load.timeoutMs + FIRST_ANSWER_MARGIN_WALL_MS) * clock.timeScale,
      clock,
      signal: this.signal,
    });
    const warm = records.filter((r) => r.sentMs >= 0);
    const warmRate = warm.length === 0 ? 1 : warm.filter(isFailure).length / warm.length;
    if (warm.length === 0) {
      return { steady: false, reason: `no request completed during the ${scenario.warmup.durationS} s warm-up` };
    }
    if (warmRate > scenario.warmup.maxErrorRate) {
      const limit = `limit ${(scenario.warmup.maxErrorRate * 100).toFixed(2)}%`;
      const failed = `${(warmRate * 100).toFixed(2)}% of ${warm.length} requests failed`;
      return { steady: false, reason: `baseline unhealthy during warm-up: ${failed} (${limit})` };
    }
    this.recorder.mark({
      atMs: clock.now(),
      kind: Marks.steady,
      detail: `${warm.length} requests, ${(warmRate * 100).toFixed(2)}% failed`,
    });
    return { steady: true };
  }

  /**
   * Issues the release and, on the manual arm, sets the operator watching. Returns its clock time.
   * A release train (docs/design.md §13) is released at once on the Flagger arm (an image change per
   * service); by hand, one service after another in an order drawn per run, each edit and
   * `helm upgrade` after the last has returned, and the operator starts watching after the last.
   */
  async release(): Promise<number> {
    const { run, sessions, clock } = this.ctx;
    const { scenario } = run;
    const releaseMs = clock.now();
    const train = this.train ? ` to ${sessions.length} services, ${faultyServiceCount(scenario)} faulty` : '';
    this.recorder.mark({
      atMs: releaseMs,
      kind: Marks.release,
      detail: `${scenario.release.version} (fault ${scenario.release.fault})${train}`,
    });
    if (run.arm !== 'manual') {
      await Promise.all(sessions.map((session) => session.release(this.signal)));
      return releaseMs;
    }
    const { effort } = scenario.manual;
    const order = this.train ? shuffled(sessions.length, createRandom(deriveSeed(run.seed, 'service-order'))) : [0];
    for (const [position, i] of order.entries()) {
      // The person edits and types the next service's release once the last `helm upgrade` returned.
      if (position > 0) await clock.sleep((effort.valuesEditS + effort.helmCommandS) * 1000, this.signal);
      // The release is a person's values edit and `helm upgrade`, done by the time it is issued.
      const weight = this.editCanaryWeight(scenario.manual.canaryWeight, 'helm upgrade --install', i);
      await sessions[i]!.release(this.signal, weight);
    }
    const instructions = () => sessions.map((session) => session.instructions()).join('\n');
    const operator = this.ctx.operators(scenario.manual.operator, scenario.slo, instructions);
    this.operatorDescription = {
      ...operator.describe(),
      ...describeManualProcess(scenario.manual, sessions.length, faultyServiceCount(scenario)),
    };
    const watched = order.map((i) => this.watchedService(i));
    const first = watched[0]!;
    this.operatorDone = operator.watch({
      ...first,
      effort,
      clock,
      random: createRandom(deriveSeed(run.seed, 'operator')),
      // A train's operator starts watching once the last service is released.
      releaseMs: this.train ? clock.now() : releaseMs,
      signal: this.ended.signal,
      services: this.train ? watched : undefined,
    });
    this.operatorDone.then(
      // Operator-detect is the moment they noticed; recorded as its own mark for the timeline.
      (r) => {
        const noticed = `${operator.kind} operator noticed`;
        if (this.train) {
          for (const d of r.detections ?? [])
            this.sink(d.service)({ atMs: d.atMs, kind: Marks.detect, detail: noticed });
        } else if (r.detectMs !== undefined)
          this.recorder.mark({ atMs: r.detectMs, kind: Marks.detect, detail: noticed });
      },
      // A failed rollback ends the watch at once: waiting for the deadline would tell nothing more.
      (err: unknown) => {
        this.operatorError = err;
      },
    );
    return releaseMs;
  }

  /** Service `i` as the manual operator sees and acts on it: its panels, its rollback, its steps. */
  private watchedService(i: number): WatchedService {
    const { run, clock } = this.ctx;
    const session = this.ctx.sessions[i]!;
    const { manual } = run.scenario;
    const mark = this.sink(i);
    const progression = manual.progression;
    return {
      index: i,
      metrics: session.metrics,
      namespace: session.namespace,
      service: session.service,
      note: (atMs, kind, detail) => mark({ atMs, kind, detail }),
      act: (atMs, action, busyMs, detail) => this.act(atMs, action, busyMs, detail, undefined, i),
      progression: progression
        ? {
            weights: stepsAfter(manual.canaryWeight, progression.stepWeights),
            holdMs: progression.holdS * 1000,
            setCanaryWeight: (weight) =>
              session.setCanaryWeight(this.editCanaryWeight(weight, 'helm upgrade', i), this.signal),
            promote: async () => {
              this.recordEdit('the release becomes the stable build', 'helm upgrade', undefined, i);
              await session.promote(this.signal);
            },
          }
        : undefined,
      externalRollback: session.externalRollback?.(this.ended.signal),
      rollback: async () => {
        mark({ atMs: clock.now(), kind: Marks.rollbackIssued, detail: 'helm rollback' });
        await session.rollback(this.signal);
      },
    };
  }

  /** Counts a manual action in the timeline (toil, docs/design.md §13), naming its service in a train. */
  private act(
    atMs: number,
    action: ManualAction,
    busyMs: number,
    detail?: string,
    editError?: true,
    service?: number,
  ): void {
    this.sink(service ?? 0)({ atMs, kind: Marks.manualAction, action, busyMs, detail, editError });
  }

  /**
   * A values edit of the canary's weight and the helm command that applies it, counted now. With
   * probability manual.editErrorRate the edit is wrong: the weight typed is 100, not `intended`
   * (the proposal's example), and that is what the platform gets. Returns the weight typed.
   */
  private editCanaryWeight(intended: number, command: string, service: number): number {
    const wrong = intended < 100 && this.edits.next() < this.ctx.run.scenario.manual.editErrorRate;
    const typed = wrong ? 100 : intended;
    if (wrong) this.recordEdit(`canary weight ${typed} (intended ${intended}: edit error)`, command, true, service);
    else this.recordEdit(`canary weight ${typed}`, command, undefined, service);
    return typed;
  }

  /** A values edit and its helm command, with the busy times of manual.effort. */
  private recordEdit(edit: string, command: string, editError: true | undefined, service: number): void {
    const { valuesEditS, helmCommandS } = this.ctx.run.scenario.manual.effort;
    const atMs = this.ctx.clock.now();
    this.act(atMs, 'values-edit', valuesEditS * 1000, edit, editError, service);
    this.act(atMs, 'helm-command', helmCommandS * 1000, command, undefined, service);
  }

  /**
   * Watches until the release's fate is sealed and the run has seen enough of it (see
   * RunRecorder.watchEndsAt), or until the deadline. Returns the clock time the watch ended.
   */
  async watchUntilSettled(releaseMs: number): Promise<number> {
    const { scenario } = this.ctx.run;
    const { clock } = this.ctx;
    const windowMs = scenario.recovery.cleanWindowS * 1000;
    const deadlineMs = releaseMs + scenario.recovery.deadlineS * 1000;
    await pollUntil(
      () => {
        if (this.operatorError !== undefined) throw this.operatorError;
        const endsAt = this.recorder.watchEndsAt(windowMs);
        return endsAt !== undefined && this.recorder.now() >= endsAt;
      },
      {
        everyMs: WATCH_POLL_WALL_MS * clock.timeScale,
        timeoutMs: deadlineMs - clock.now(),
        clock,
        signal: this.signal,
      },
    );
    return clock.now();
  }

  /** Stops what the run started, computes its measures and writes its request records. */
  async finish(releaseMs: number, endMs: number): Promise<RunEntry> {
    const { run } = this.ctx;
    const { scenario } = run;
    this.ended.abort(new Error('run ended'));
    if (this.operatorDone) await this.operatorDone;
    const load = await this.loadSummary();
    const recorder = this.recorder;
    recorder.sort();
    const metrics = computeRunMetrics({
      arm: run.arm,
      releaseMs: recorder.at(releaseMs),
      deadlineMs: recorder.at(releaseMs + scenario.recovery.deadlineS * 1000),
      endMs: recorder.at(endMs),
      releaseVersion: scenario.release.version,
      cleanWindowMs: scenario.recovery.cleanWindowS * 1000,
      latencyLimitMs: scenario.slo.latencyMs,
      records: recorder.records,
      timeline: recorder.timeline,
      faultyServices: this.train ? this.ctx.sessions.map((_, i) => i < faultyServiceCount(scenario)) : undefined,
    });
    writeRequestsFile(path.join(this.ctx.outDir, this.base.requestsFile), recorder.records);
    return { ...this.base, metrics, timeline: recorder.timeline, load, operator: this.operatorDescription };
  }

  /** The journal line of a run that ended without a verdict, with what it recorded until then. */
  async abortedEntry(reason: string): Promise<RunEntry> {
    const endMs = this.recorder.now();
    await this.stopEverything();
    // A load that failed (the cause of the abort, often) has no summary to give.
    const load = await this.loadSummary().catch(() => emptyLoad(this.ctx.load.name));
    const { timeline, records } = this.recorder;
    const metrics: RunMetrics = {
      outcome: 'aborted',
      releaseMs: timeline.find((e) => e.kind === Marks.release)?.atMs ?? endMs,
      endMs,
      failedRequests: 0,
      slowRequests: 0,
      badRequests: 0,
      totalRequests: 0,
      peakErrorRate: 0,
      abortReason: reason,
    };
    writeRequestsFile(path.join(this.ctx.outDir, this.base.requestsFile), records);
    return { ...this.base, metrics, timeline, load };
  }

  /** On every path: the load, the faults and the operator have stopped before the run settles. */
  async stopEverything(): Promise<void> {
    this.ended.abort(new Error('run ended'));
    await Promise.all(this.faults);
    await Promise.all(this.started.map((s) => s.stop().catch(() => undefined)));
    if (this.operatorDone) await this.operatorDone.catch(() => undefined);
  }

  private async loadSummary(): Promise<RunEntry['load']> {
    if (this.started.length === 0) return emptyLoad(this.ctx.load.name);
    const { sendLag, ...rest } = mergeLoadSummaries(await Promise.all(this.started.map((s) => s.stop())));
    const sendLagP99WallMs = Math.round(sendLag.p99WallMs * 100) / 100;
    const sendLagMaxWallMs = Math.round(sendLag.maxWallMs * 100) / 100;
    return { ...pickLoadSummary(rest), sendLagP99WallMs, sendLagMaxWallMs, generator: this.ctx.load.name };
  }

  /** Waits for `promise`, at most `ms` of clock time, leaving no timer behind. */
  private async within(promise: Promise<void>, ms: number): Promise<void> {
    const done = new AbortController();
    try {
      await Promise.race([promise, this.ctx.clock.sleep(ms, AbortSignal.any([this.signal, done.signal]))]);
    } finally {
      done.abort();
    }
  }

  /** Runs one environment fault at clock time `atMs`, marking its start and end in the timeline. */
  private async injectLater(fault: EnvironmentFault, atMs: number): Promise<void> {
    const { clock, sessions } = this.ctx;
    const { mark } = this.recorder;
    const what = `${fault.fault} for ${fault.durationS} s`;
    try {
      await clock.sleep(atMs - clock.now(), this.ended.signal);
      mark({ atMs: clock.now(), kind: Marks.envFaultStart, detail: what });
      // The environment is shared: in a release train the fault hits every service.
      await Promise.all(sessions.map((session) => session.injectEnvironmentFault(fault, this.ended.signal)));
      mark({ atMs: clock.now(), kind: Marks.envFaultEnd, detail: what });
    } catch (err) {
      if (this.ended.signal.aborted) return;
      mark({ atMs: clock.now(), kind: Marks.envFaultEnd, detail: `${what}: ${(err as Error).message}` });
    }
  }
}

/**
 * The loads of a release train's services as one (docs/design.md §13): counts and rates add up,
 * durations and lags are the longest. One load is returned as it is.
 */
function mergeLoadSummaries(summaries: readonly LoadSummary[]): LoadSummary {
  if (summaries.length === 1) return summaries[0]!;
  const sum = (pick: (s: LoadSummary) => number) => summaries.reduce((n, s) => n + pick(s), 0);
  const max = (pick: (s: LoadSummary) => number) => Math.max(...summaries.map(pick));
  return {
    ...summaries[0]!,
    scheduled: sum((s) => s.scheduled),
    sent: sum((s) => s.sent),
    completed: sum((s) => s.completed),
    failed: sum((s) => s.failed),
    timedOut: sum((s) => s.timedOut),
    errored: sum((s) => s.errored),
    dropped: sum((s) => s.dropped),
    recorded: sum((s) => s.recorded),
    maxInFlightSeen: sum((s) => s.maxInFlightSeen),
    achievedRps: sum((s) => s.achievedRps),
    scenarioDurationMs: max((s) => s.scenarioDurationMs),
    wallDurationMs: max((s) => s.wallDurationMs),
    sendLag: {
      count: sum((s) => s.sendLag.count),
      meanWallMs:
        sum((s) => s.sendLag.meanWallMs * s.sendLag.count) /
        Math.max(
          1,
          sum((s) => s.sendLag.count),
        ),
      p99WallMs: max((s) => s.sendLag.p99WallMs),
      maxWallMs: max((s) => s.sendLag.maxWallMs),
    },
  };
}

/** The LoadSummary fields a journal keeps (a generator may report more). */
function pickLoadSummary(s: Omit<LoadSummary, 'sendLag'>): Omit<LoadSummary, 'sendLag'> {
  const { scheduled, sent, completed, failed, timedOut, errored, dropped, recorded, maxInFlightSeen } = s;
  const { achievedRps, scenarioDurationMs, wallDurationMs } = s;
  return {
    scheduled,
    sent,
    completed,
    failed,
    timedOut,
    errored,
    dropped,
    recorded,
    maxInFlightSeen,
    achievedRps,
    scenarioDurationMs,
    wallDurationMs,
  };
}

function emptyLoad(generator: string): RunEntry['load'] {
  const counts = { scheduled: 0, sent: 0, completed: 0, failed: 0, timedOut: 0, errored: 0, dropped: 0, recorded: 0 };
  return {
    ...counts,
    maxInFlightSeen: 0,
    achievedRps: 0,
    scenarioDurationMs: 0,
    wallDurationMs: 0,
    sendLagP99WallMs: 0,
    sendLagMaxWallMs: 0,
    generator,
  };
}
