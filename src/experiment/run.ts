import path from 'node:path';
import createDebug from 'debug';
import type { Clock } from '../common/clock.ts';
import { HarnessError } from '../common/errors.ts';
import { pollUntil } from '../common/poll.ts';
import { createRandom, deriveSeed, type Random } from '../common/random.ts';
import type { LoadSummary, StartedLoad } from '../load/builtin-generator.ts';
import type { ChosenLoad } from '../load/choose.ts';
import { isFailure } from '../load/types.ts';
import type { OperatorFactory } from '../operator/create.ts';
import { describeManualProcess, stepsAfter } from '../operator/progression.ts';
import type { OperatorResult } from '../operator/types.ts';
import type { ArmSession } from '../platform/types.ts';
import type { EnvironmentFault } from '../scenario/schema.ts';
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
  session: ArmSession;
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
  private started: StartedLoad | undefined;
  private faults: Promise<void>[] = [];
  private operatorDone: Promise<OperatorResult> | undefined;
  private operatorDescription: Record<string, string | number> | undefined;
  private operatorError: unknown;
  /** Whether each values edit goes wrong: a stream of its own, so the other draws stay as they were. */
  private readonly edits: Random;

  constructor(private readonly ctx: RunContext) {
    const { run } = ctx;
    this.recorder = new RunRecorder(ctx.clock, run.arm, run.scenario.release.version, run.scenario.slo.latencyMs);
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
      platform: ctx.session.describe(),
    };
  }

  async restore(): Promise<void> {
    const { run, session } = this.ctx;
    const random = createRandom(deriveSeed(run.seed, 'restore'));
    await session.restore({ experiment: this.ctx.experiment, run: run.runId }, this.recorder.mark, random, this.signal);
  }

  /**
   * Starts the load and judges the baseline over the warm-up: it must answer, with no more
   * failures than the scenario allows, before anything is released. The environment faults are
   * scheduled from here, relative to the planned release.
   */
  async warmUp(): Promise<WarmupVerdict> {
    const { scenario } = this.ctx.run;
    const { clock } = this.ctx;
    const started = this.ctx.load.generator.start({
      url: this.ctx.session.serviceUrl,
      rateRps: scenario.load.rateRps,
      clock,
      timeoutMs: scenario.load.timeoutMs,
      maxInFlight: scenario.load.maxInFlight,
      signal: this.signal,
      // The load ends at the deadline at the latest; k6 adds its margin for the waits in between.
      maxDurationMs: (scenario.warmup.durationS + scenario.recovery.deadlineS) * 1000,
      onRecord: this.recorder.record,
    });
    this.started = started;
    // k6 takes from 50 ms to several seconds (a busy machine) to start its VUs: the warm-up
    // counts from its first request. The wait is wall time: compressed, it would be too short.
    await this.within(started.ready, LOAD_READY_WALL_MS * clock.timeScale);
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
    await pollUntil(() => records.length > 0 || started.stats.sent === 0, {
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

  /** Issues the release and, on the manual arm, sets the operator watching. Returns its clock time. */
  async release(): Promise<number> {
    const { run, session, clock } = this.ctx;
    const { scenario } = run;
    const releaseMs = clock.now();
    this.recorder.mark({
      atMs: releaseMs,
      kind: Marks.release,
      detail: `${scenario.release.version} (fault ${scenario.release.fault})`,
    });
    if (run.arm !== 'manual') {
      await session.release(this.signal);
      return releaseMs;
    }
    // The release is a person's values edit and `helm upgrade`, done by the time it is issued.
    await session.release(this.signal, this.editCanaryWeight(scenario.manual.canaryWeight, 'helm upgrade --install'));
    const operator = this.ctx.operators(scenario.manual.operator, scenario.slo, () => session.instructions());
    this.operatorDescription = { ...operator.describe(), ...describeManualProcess(scenario.manual) };
    const progression = scenario.manual.progression;
    this.operatorDone = operator.watch({
      act: this.act,
      effort: scenario.manual.effort,
      progression: progression
        ? {
            weights: stepsAfter(scenario.manual.canaryWeight, progression.stepWeights),
            holdMs: progression.holdS * 1000,
            setCanaryWeight: (weight) =>
              session.setCanaryWeight(this.editCanaryWeight(weight, 'helm upgrade'), this.signal),
            promote: async () => {
              this.recordEdit('the release becomes the stable build', 'helm upgrade');
              await session.promote(this.signal);
            },
          }
        : undefined,
      clock,
      metrics: session.metrics,
      namespace: session.namespace,
      service: session.service,
      random: createRandom(deriveSeed(run.seed, 'operator')),
      releaseMs,
      signal: this.ended.signal,
      note: (atMs, kind, detail) => this.recorder.mark({ atMs, kind, detail }),
      externalRollback: session.externalRollback?.(this.ended.signal),
      rollback: async () => {
        this.recorder.mark({ atMs: clock.now(), kind: Marks.rollbackIssued, detail: 'helm rollback' });
        await session.rollback(this.signal);
      },
    });
    this.operatorDone.then(
      // Operator-detect is the moment they noticed; recorded as its own mark for the timeline.
      (r) => {
        if (r.detectMs !== undefined)
          this.recorder.mark({ atMs: r.detectMs, kind: Marks.detect, detail: `${operator.kind} operator noticed` });
      },
      // A failed rollback ends the watch at once: waiting for the deadline would tell nothing more.
      (err: unknown) => {
        this.operatorError = err;
      },
    );
    return releaseMs;
  }

  /** Counts a manual action in the timeline (toil, docs/design.md §13). */
  private readonly act = (atMs: number, action: ManualAction, busyMs: number, detail?: string, editError?: true) =>
    this.recorder.mark({ atMs, kind: Marks.manualAction, action, busyMs, detail, editError });

  /**
   * A values edit of the canary's weight and the helm command that applies it, counted now. With
   * probability manual.editErrorRate the edit is wrong: the weight typed is 100, not `intended`
   * (the proposal's example), and that is what the platform gets. Returns the weight typed.
   */
  private editCanaryWeight(intended: number, command: string): number {
    const wrong = intended < 100 && this.edits.next() < this.ctx.run.scenario.manual.editErrorRate;
    const typed = wrong ? 100 : intended;
    if (wrong) this.recordEdit(`canary weight ${typed} (intended ${intended}: edit error)`, command, true);
    else this.recordEdit(`canary weight ${typed}`, command);
    return typed;
  }

  /** A values edit and its helm command, with the busy times of manual.effort. */
  private recordEdit(edit: string, command: string, editError?: true): void {
    const { valuesEditS, helmCommandS } = this.ctx.run.scenario.manual.effort;
    const atMs = this.ctx.clock.now();
    this.act(atMs, 'values-edit', valuesEditS * 1000, edit, editError);
    this.act(atMs, 'helm-command', helmCommandS * 1000, command);
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
    if (this.started) await this.started.stop().catch(() => undefined);
    if (this.operatorDone) await this.operatorDone.catch(() => undefined);
  }

  private async loadSummary(): Promise<RunEntry['load']> {
    if (!this.started) return emptyLoad(this.ctx.load.name);
    const { sendLag, ...rest } = await this.started.stop();
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
    const { clock, session } = this.ctx;
    const { mark } = this.recorder;
    const what = `${fault.fault} for ${fault.durationS} s`;
    try {
      await clock.sleep(atMs - clock.now(), this.ended.signal);
      mark({ atMs: clock.now(), kind: Marks.envFaultStart, detail: what });
      await session.injectEnvironmentFault(fault, this.ended.signal);
      mark({ atMs: clock.now(), kind: Marks.envFaultEnd, detail: what });
    } catch (err) {
      if (this.ended.signal.aborted) return;
      mark({ atMs: clock.now(), kind: Marks.envFaultEnd, detail: `${what}: ${(err as Error).message}` });
    }
  }
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
