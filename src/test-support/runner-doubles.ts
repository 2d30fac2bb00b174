/**
 * Test doubles for the runner's unit tests: a platform, a load generator and an operator that
 * live entirely on a (virtual) Clock, so a whole run takes milliseconds. They stand in for the
 * real ones at the runner's interfaces only; the real platform, generators and operators are
 * covered by their own tests and by the end-to-end tests of src/experiment/.
 */
import type { Clock } from '../common/clock.ts';
import { PlatformError } from '../common/errors.ts';
import type { LiveStats, LoadGenerator, LoadOptions, LoadSummary, StartedLoad } from '../load/builtin-generator.ts';
import { loadSummary } from '../load/builtin-generator.ts';
import type { MetricsSource } from '../metrics/types.ts';
import type { Operator, OperatorContext, OperatorResult } from '../operator/types.ts';
import type { ArmSession, Platform, RunLabels, TimelineSink } from '../platform/types.ts';
import type { Arm, EnvironmentFault, Scenario } from '../scenario/schema.ts';
import { Marks } from '../timeline/compute.ts';

/** One answer of the fake service. */
export interface FakeAnswer {
  status: number;
  version: string;
  /** Clock ms from the request to its answer. */
  latencyMs: number;
}

/**
 * The service under test, as a state: which share of requests the canary gets and how each build
 * answers. Shares are exact and evenly spread (at weight 10, every tenth request), so the tests
 * can compute every timestamp.
 */
export class FakeService {
  canaryWeight = 0;
  /** Share of the stable build's answers that are 500s (a sick baseline). */
  stableErrorRate = 0;
  /** Clock ms the canary takes to answer: its answers can come after the route change. */
  canaryLatencyMs = 0;
  /** When set, no request is answered at all (a dead data plane). */
  silent = false;

  constructor(
    readonly stableVersion = 'v1',
    readonly canaryVersion = 'v2',
    /** Whether the canary (the released build) answers 500. */
    readonly canaryFails = true,
  ) {}

  answer(i: number): FakeAnswer | undefined {
    if (this.silent) return undefined;
    if (evenlySpread(i, this.canaryWeight / 100)) {
      return { status: this.canaryFails ? 500 : 200, version: this.canaryVersion, latencyMs: this.canaryLatencyMs };
    }
    return { status: evenlySpread(i, this.stableErrorRate) ? 500 : 200, version: this.stableVersion, latencyMs: 0 };
  }
}

/** Whether request i is one of an exact, evenly spaced `share` of all requests (i = 1/share − 1, …). */
function evenlySpread(i: number, share: number): boolean {
  return Math.floor((i + 1) * share + 1e-9) > Math.floor(i * share + 1e-9);
}

/** A load generator double: one request every 1000 / rateRps clock ms, answered by a FakeService. */
export class FakeLoadGenerator implements LoadGenerator {
  readonly loads: FakeLoad[] = [];
  constructor(
    private readonly service: FakeService,
    /** Clock ms before the first request (k6 starting up). */
    private readonly startupMs = 0,
    /** The send lag p99 every load reports, wall ms (a busy machine). */
    private readonly sendLagP99WallMs = 0,
  ) {}
  start(options: LoadOptions): FakeLoad {
    const load = new FakeLoad(this.service, options, this.startupMs, this.sendLagP99WallMs);
    this.loads.push(load);
    return load;
  }
}

export class FakeLoad implements StartedLoad {
  readonly ready: Promise<void>;
  stopped = false;
  /** Clock time of start() and of the end of stop(). */
  readonly startMs: number;
  stopMs: number | undefined;
  private sent = 0;
  private answered = 0;
  private failed = 0;
  private readonly halt = new AbortController();
  private readonly outstanding = new Set<Promise<void>>();
  private readonly loop: Promise<void>;
  private stopping: Promise<LoadSummary> | undefined;

  constructor(
    private readonly service: FakeService,
    readonly options: LoadOptions,
    startupMs: number,
    private readonly sendLagP99WallMs = 0,
  ) {
    this.startMs = options.clock.now();
    const signal = AbortSignal.any([this.halt.signal, ...(options.signal ? [options.signal] : [])]);
    let resolveReady!: () => void;
    this.ready = new Promise((resolve) => (resolveReady = resolve));
    this.loop = this.run(startupMs, signal, resolveReady)
      .catch(() => undefined)
      .finally(resolveReady);
  }

  get stats(): LiveStats {
    const { sent, answered, failed } = this;
    const lag = this.sendLagP99WallMs;
    const sendLag = { count: sent, meanWallMs: lag, p99WallMs: lag, maxWallMs: lag };
    const unanswered = { timedOut: 0, errored: 0, dropped: 0, inFlight: sent - answered, maxInFlightSeen: 0 };
    return { scheduled: sent, sent, completed: answered, failed, recorded: answered, ...unanswered, sendLag };
  }

  stop(): Promise<LoadSummary> {
    this.stopping ??= (async () => {
      this.halt.abort(new Error('load stopped'));
      await this.loop;
      await Promise.all(this.outstanding);
      this.stopped = true;
      this.stopMs = this.options.clock.now();
      const ms = this.stopMs - this.startMs;
      const { sendLag, ...counts } = this.stats;
      return loadSummary(counts, ms, ms, sendLag);
    })();
    return this.stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private async run(startupMs: number, signal: AbortSignal, ready: () => void): Promise<void> {
    const { clock } = this.options;
    await clock.sleep(startupMs, signal);
    ready();
    const intervalMs = 1000 / this.options.rateRps;
    for (let i = 0; ; i++) {
      const sentMs = clock.now();
      const answer = this.service.answer(i);
      this.sent++;
      if (answer) {
        const delivered = this.deliver(sentMs, answer);
        this.outstanding.add(delivered);
        void delivered.then(() => this.outstanding.delete(delivered));
      }
      await clock.sleep(intervalMs, signal);
    }
  }

  private async deliver(sentMs: number, answer: FakeAnswer): Promise<void> {
    const { clock } = this.options;
    if (answer.latencyMs > 0) await clock.sleep(answer.latencyMs);
    this.answered++;
    if (answer.status >= 500) this.failed++;
    this.options.onRecord({
      sentMs,
      doneMs: clock.now(),
      latencyMs: answer.latencyMs,
      status: answer.status,
      version: answer.version,
    });
  }
}

/** One step of a scripted Flagger: at `afterMs` clock ms after the release, an event. */
export interface FlaggerStep {
  afterMs: number;
  message: string;
  canaryWeight?: number;
  phase?: string;
}

/** Flagger's events for a release whose every check fails: rolled back at release + `rollbackMs`. */
export function flaggerRollingBack(rollbackMs: number): FlaggerStep[] {
  return [
    {
      afterMs: rollbackMs - 30_000,
      message: 'Advance sms-checker.fake canary weight 10',
      canaryWeight: 10,
      phase: 'Progressing',
    },
    { afterMs: rollbackMs - 20_000, message: 'Halt sms-checker.fake advancement success rate 90.00% < 99%' },
    { afterMs: rollbackMs, message: 'Rolling back sms-checker.fake failed checks threshold reached 2' },
    { afterMs: rollbackMs, message: 'Canary failed! Scaling down sms-checker.fake', canaryWeight: 0, phase: 'Failed' },
  ];
}

/** What the fake platform's sessions do, shared by every session it opens. */
export interface FakePlatformScript {
  service: FakeService;
  /** The Flagger arm's events after the release. Default: none (Flagger never acts). */
  flagger?: FlaggerStep[];
  /** Clock ms a manual rollback takes to apply. */
  rollbackMs?: number;
  /** When set, a manual rollback fails with a PlatformError of this message instead. */
  rollbackFails?: string;
  /** Environment faults the platform can inject: each lasts its duration. Others fail with a PlatformError. */
  injectable?: readonly EnvironmentFault['fault'][];
}

/** A platform double: sessions that drive a FakeService on the clock. */
export class FakePlatform implements Platform {
  readonly name = 'local';
  readonly sessions: FakeSession[] = [];
  /** Every restore of every session, in the order they began: which run, on which slot, when. */
  readonly restores: Array<{ run: string; slot: number; atMs: number }> = [];
  disposed = false;
  constructor(private readonly script: FakePlatformScript) {}
  async open(arm: Arm, scenario: Scenario, options: { clock: Clock; slot?: number }): Promise<FakeSession> {
    const session = new FakeSession(arm, scenario, options.clock, this.script, options.slot ?? 1, this.restores);
    this.sessions.push(session);
    return session;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.disposed = true;
  }
}

const noMetrics: MetricsSource = {
  requestSuccessRate: () => Promise.reject(new Error('the fake platform has no metrics')),
  requestDurationP99: () => Promise.reject(new Error('the fake platform has no metrics')),
  serviceErrorRate: () => Promise.reject(new Error('the fake platform has no metrics')),
  serviceLatencyP99: () => Promise.reject(new Error('the fake platform has no metrics')),
};

export class FakeSession implements ArmSession {
  readonly serviceUrl = 'http://fake.invalid/sms';
  readonly metrics = noMetrics;
  readonly namespace = 'fake';
  readonly service = 'sms-checker';
  readonly describe = () => ({ platform: 'fake' });
  released = 0;
  restored = 0;
  disposed = false;
  private timeline: TimelineSink = () => undefined;
  private flaggerRun: AbortController | undefined;

  constructor(
    readonly arm: Arm,
    private readonly scenario: Scenario,
    private readonly clock: Clock,
    private readonly script: FakePlatformScript,
    /** The runner's slot that opened this session. */
    readonly slot = 1,
    private readonly restores: FakePlatform['restores'] = [],
  ) {}

  async restore(run: RunLabels, timeline: TimelineSink): Promise<void> {
    this.restores.push({ run: run.run, slot: this.slot, atMs: this.clock.now() });
    this.flaggerRun?.abort();
    this.timeline = timeline;
    this.script.service.canaryWeight = 0;
    this.restored++;
  }

  /** Weights the manual arm's values edits set, in order (the release's first). */
  readonly edits: number[] = [];
  promoted = 0;

  async release(_signal: AbortSignal, canaryWeight = this.scenario.manual.canaryWeight): Promise<void> {
    this.released++;
    if (this.arm === 'manual') {
      await this.setCanaryWeight(canaryWeight);
      return;
    }
    this.flaggerRun = new AbortController();
    void this.playFlagger(this.clock.now(), this.flaggerRun.signal).catch(() => undefined);
  }

  async rollback(signal: AbortSignal): Promise<void> {
    await this.clock.sleep(this.script.rollbackMs ?? 0, signal);
    if (this.script.rollbackFails !== undefined) throw new PlatformError(this.script.rollbackFails);
    this.setWeight(0);
    this.timeline({ atMs: this.clock.now(), kind: Marks.rollbackDone, canaryWeight: 0 });
  }

  async setCanaryWeight(weight: number): Promise<void> {
    this.edits.push(weight);
    this.setWeight(weight);
  }

  async promote(): Promise<void> {
    this.promoted++;
    this.setWeight(0);
    this.timeline({ atMs: this.clock.now(), kind: Marks.promoted });
  }

  instructions(): string {
    return 'fake platform: nothing to do';
  }

  async injectEnvironmentFault(fault: EnvironmentFault, signal: AbortSignal): Promise<void> {
    if (!(this.script.injectable ?? []).includes(fault.fault))
      throw new PlatformError(`fake platform: cannot inject ${fault.fault}`);
    await this.clock.sleep(fault.durationS * 1000, signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.flaggerRun?.abort();
    this.disposed = true;
  }

  private setWeight(weight: number): void {
    this.script.service.canaryWeight = weight;
    this.timeline({ atMs: this.clock.now(), kind: Marks.routes, canaryWeight: weight });
  }

  private async playFlagger(releaseMs: number, signal: AbortSignal): Promise<void> {
    for (const step of this.script.flagger ?? []) {
      await this.clock.sleep(releaseMs + step.afterMs - this.clock.now(), signal);
      if (step.canaryWeight !== undefined) this.script.service.canaryWeight = step.canaryWeight;
      this.timeline({
        atMs: this.clock.now(),
        kind: Marks.flaggerEvent,
        detail: step.message,
        canaryWeight: step.canaryWeight,
        phase: step.phase,
      });
    }
  }
}

/** What a scripted operator does after the release, in clock ms; undefined: never notices. */
export interface OperatorScript {
  noticeAfterMs?: number;
  rollbackAfterMs?: number;
}

/** An operator double: notices and rolls back at scripted times. */
export class ScriptedOperator implements Operator {
  readonly kind = 'dashboard';
  /** The signals of the runs it watched: the runner must abort each when its run ends. */
  readonly watched: AbortSignal[] = [];
  constructor(private readonly script: OperatorScript) {}
  describe(): Record<string, string | number> {
    return { kind: 'scripted (test double)' };
  }
  async watch(ctx: OperatorContext): Promise<OperatorResult> {
    this.watched.push(ctx.signal);
    const { noticeAfterMs, rollbackAfterMs } = this.script;
    try {
      if (noticeAfterMs === undefined) {
        await ctx.clock.sleep(Number.MAX_SAFE_INTEGER, ctx.signal);
        return {};
      }
      await ctx.clock.sleep(ctx.releaseMs + noticeAfterMs - ctx.clock.now(), ctx.signal);
      const detectMs = ctx.clock.now();
      ctx.note(detectMs, 'operator-noticed', 'scripted');
      await ctx.clock.sleep(ctx.releaseMs + (rollbackAfterMs ?? noticeAfterMs) - ctx.clock.now(), ctx.signal);
      const mitigateMs = ctx.clock.now();
      await ctx.rollback();
      return { detectMs, mitigateMs };
    } catch (err) {
      if (ctx.signal.aborted) return {};
      throw err;
    }
  }
}
