/**
 * Benchmark 1, load generator capacity: the highest constant arrival rate the built-in generator
 * sustains against one faulty-app process on loopback, beside k6's constant-arrival-rate executor
 * and wrk's closed-loop maximum, against the same app build in the same invocation.
 *
 * A step runs for STEP_MS at one rate against the app process of that tool's search (one process
 * per tool and repetition, so no tool inherits another's connections or warm-up).
 * A step passes when
 *   - the successful answers completed inside the window, per second, are within 1% of the rate
 *     (a generator that falls behind, or a server that cannot keep up, shows here), and
 *   - nothing was dropped or failed, and (built-in) every scheduled request produced a record;
 *     (k6) dropped_iterations is 0 and http_req_failed is 0.
 * Both tools get at most MAX_IN_FLIGHT requests outstanding (the built-in's maxInFlight, k6's
 * maxVUs), the same 2 s request timeout, and a second attempt at a step they missed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describeProfile, summarizeCpuProfile, type CpuProfile } from '../src/bench/cpu-profile.ts';
import { describeContention } from '../src/bench/schedstat.ts';
import { formatSpread, spreadOf, withinShare } from '../src/bench/stats.ts';
import { searchSteps, type StepSearchResult } from '../src/bench/step-search.ts';
import type { Figure } from '../src/bench/table.ts';
import { parseK6Summary, parseWrkOutput, type K6Result, type WrkResult } from '../src/bench/tool-output.ts';
import {
  BENCH_DIR,
  TSX,
  loadAverage,
  runProcess,
  settle,
  startApp,
  type BenchApp,
  type BenchContext,
  type BenchOutcome,
  type Benchmark,
} from './context.ts';
import type { LoadChildResult } from './load-child.ts';

const RATES = [1_000, 2_000, 3_000, 5_000, 7_000, 10_000, 14_000, 20_000, 28_000, 40_000];
const STEP_MS = 5_000;
const TIMEOUT_MS = 2_000;
const MAX_IN_FLIGHT = 1_000;
const TOLERANCE = 0.01;
/** Wall budget of one tool's search (a step is not started once it is spent). */
const SEARCH_BUDGET_MS = 180_000;
const WRK_CONFIGS = [
  { threads: 1, connections: 32 },
  { threads: 2, connections: 64 },
];

interface StepCommon {
  /** Server CPU over the step, share of one core. */
  serverCpuShare: number | undefined;
  loadAverage: number;
}
type BuiltinStep = LoadChildResult & StepCommon & { attempts?: number; error?: string };
type K6Step = Partial<K6Result> &
  StepCommon & { achievedRps: number; vus: number; attempts?: number; k6CpuShare?: number; error?: string };

interface Repetition {
  builtin: StepSearchResult<BuiltinStep>;
  k6?: StepSearchResult<K6Step>;
  wrk: Array<{ threads: number; connections: number; result?: WrkResult; error?: string; serverCpuShare?: number }>;
}

export function builtinPasses(s: BuiltinStep, rate: number): boolean {
  return (
    s.error === undefined &&
    s.dropped === 0 &&
    s.failed === 0 &&
    s.recorded === s.scheduled &&
    s.kept === s.recorded &&
    withinShare(s.answeredInWindowRps, rate, TOLERANCE)
  );
}

export function k6Passes(s: K6Step, rate: number): boolean {
  return s.error === undefined && s.dropped === 0 && s.failedShare === 0 && withinShare(s.achievedRps, rate, TOLERANCE);
}

async function builtinStep(ctx: BenchContext, app: BenchApp, rate: number, cpuProfile?: string): Promise<BuiltinStep> {
  const cpu0 = app.cpuMs();
  const input = {
    url: app.url,
    rateRps: rate,
    durationMs: STEP_MS,
    timeoutMs: TIMEOUT_MS,
    maxInFlight: MAX_IN_FLIGHT,
    cpuProfile,
  };
  const load = loadAverage();
  const run = await runProcess(
    ctx,
    process.execPath,
    ['--import', TSX, path.join(BENCH_DIR, 'load-child.ts'), JSON.stringify(input)],
    {
      env: { ...process.env, NODE_OPTIONS: '' },
      label: `bench-load-${rate}`,
      timeoutMs: STEP_MS + 30_000,
    },
  );
  const serverCpuMs = app.cpuMs() - cpu0;
  const line = run.stdout.trim().split('\n').pop() ?? '';
  let parsed: LoadChildResult;
  try {
    parsed = JSON.parse(line) as LoadChildResult;
  } catch {
    const error = `load child exited ${run.code ?? run.signal}${run.timedOut ? ' (timed out)' : ''}: ${run.stderr.trim().slice(0, 300)}`;
    return { ...emptyLoadResult(rate), serverCpuShare: undefined, loadAverage: load, error };
  }
  return { ...parsed, serverCpuShare: serverCpuMs / (parsed.windowMs + parsed.drainMs), loadAverage: load };
}

function emptyLoadResult(rate: number): LoadChildResult {
  return {
    rateRps: rate,
    scheduled: 0,
    sent: 0,
    completed: 0,
    failed: 0,
    timedOut: 0,
    errored: 0,
    dropped: 0,
    recorded: 0,
    kept: 0,
    maxInFlightSeen: 0,
    windowMs: 0,
    sendRps: 0,
    answeredInWindowRps: 0,
    sendLagP99Ms: 0,
    sendLagMaxMs: 0,
    latencyP99Ms: 0,
    drainMs: 0,
    cpuShare: 0,
    eventLoopDelayP99Ms: 0,
    eventLoopDelayMaxMs: 0,
    runQueueWaitMs: undefined,
    onCpuMs: undefined,
    lagP99SeriesMs: [],
    connectionsOpened: 0,
  };
}

/**
 * k6's VU count matters on two cores: few VUs keep latency low but drop iterations while k6
 * allocates more; many VUs never run out but cost k6 and the app a connection each. Each step
 * tries the few-VU setting first and, if it misses, the MAX_IN_FLIGHT setting: like the built-in
 * generator, k6 gets a second attempt at a step it missed.
 */
function k6Configs(rate: number): Array<{ vus: number; maxVus: number }> {
  return [
    { vus: Math.max(100, Math.ceil(rate / 20)), maxVus: MAX_IN_FLIGHT },
    { vus: MAX_IN_FLIGHT, maxVus: MAX_IN_FLIGHT },
  ];
}

async function k6Step(ctx: BenchContext, app: BenchApp, rate: number, k6: string): Promise<K6Step> {
  const attempts: K6Step[] = [];
  for (const config of k6Configs(rate)) {
    const attempt = await k6Attempt(ctx, app, rate, k6, config);
    attempts.push(attempt);
    if (k6Passes(attempt, rate)) break;
    await settle();
  }
  const best =
    attempts.find((a) => k6Passes(a, rate)) ?? [...attempts].sort((a, b) => b.achievedRps - a.achievedRps)[0]!;
  return { ...best, attempts: attempts.length };
}

async function k6Attempt(
  ctx: BenchContext,
  app: BenchApp,
  rate: number,
  k6: string,
  config: { vus: number; maxVus: number },
  retry = true,
): Promise<K6Step> {
  const summary = path.join(ctx.workDir, `k6-${rate}-${config.vus}-${Date.now()}.json`);
  const cpu0 = app.cpuMs();
  const load = loadAverage();
  const run = await runProcess(
    ctx,
    k6,
    ['run', '--quiet', '--no-usage-report', path.join(BENCH_DIR, 'k6-constant-rate.ts')],
    {
      // `k6 run` exposes its environment as __ENV (--include-system-env-vars defaults to true).
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        URL: app.url,
        RATE: String(rate),
        DURATION_S: String(STEP_MS / 1000),
        VUS: String(config.vus),
        MAX_VUS: String(config.maxVus),
        // Requests still out when the window closes are not counted, as for the built-in generator.
        GRACEFUL_STOP: '0s',
        SUMMARY: summary,
      },
      label: `bench-k6-${rate}`,
      timeoutMs: STEP_MS + 60_000,
    },
  );
  const serverCpuMs = app.cpuMs() - cpu0;
  if (!existsSync(summary)) {
    // k6 exits 105 when something outside interrupts it (a shared machine): one retry.
    if (retry && !ctx.signal.aborted) return k6Attempt(ctx, app, rate, k6, config, false);
    const error = `k6 exited ${run.code ?? run.signal} without a summary: ${run.stderr.trim().slice(0, 300)}`;
    return { achievedRps: 0, serverCpuShare: undefined, loadAverage: load, error, vus: config.vus };
  }
  const result = parseK6Summary(readFileSync(summary, 'utf8'));
  return {
    ...result,
    vus: config.vus,
    achievedRps: (result.iterations * 1000) / STEP_MS,
    serverCpuShare: serverCpuMs / result.testRunDurationMs,
    k6CpuShare: run.cpuMs === undefined ? undefined : run.cpuMs / run.wallMs,
    loadAverage: load,
  };
}

async function withApp<T>(
  ctx: BenchContext,
  label: string,
  body: (app: BenchApp) => Promise<T>,
  cpuProfDir?: string,
): Promise<T> {
  const app = await startApp(ctx, { label, cpuProfDir });
  try {
    return await body(app);
  } finally {
    await app.stop();
  }
}

function describeSearch<T>(tool: string, s: StepSearchResult<T>, achieved: (r: T) => number): string {
  const steps = s.steps
    .map((st) => `${st.rate}:${st.pass ? 'pass' : 'miss'}(${Math.round(achieved(st.result))})`)
    .join(' ');
  return `${tool} ${steps}${s.stoppedEarly ? ` [stopped: ${s.stoppedEarly}]` : ''}`;
}

async function oneRepetition(ctx: BenchContext, rep: number): Promise<Repetition> {
  const order = ['builtin', 'k6', 'wrk'] as const;
  // Rotate the order per repetition, so a drift of the machine's load hits every tool alike.
  const rotated = [...order.slice(rep % 3), ...order.slice(0, rep % 3)];
  const out: Partial<Repetition> = {};
  for (const tool of rotated) {
    if (tool === 'builtin') {
      out.builtin = await withApp(ctx, `bench-app-builtin-${rep}`, (app) =>
        searchSteps<BuiltinStep>({
          rates: RATES,
          budgetMs: SEARCH_BUDGET_MS,
          signal: ctx.signal,
          runStep: async (rate) => {
            // A missed step is run once more (k6 also gets two attempts): one stall of a shared
            // machine should not end the search.
            const first = await builtinStep(ctx, app, rate);
            await settle();
            if (builtinPasses(first, rate)) return { ...first, attempts: 1 };
            const second = await builtinStep(ctx, app, rate);
            await settle();
            return {
              ...(builtinPasses(second, rate) || second.answeredInWindowRps > first.answeredInWindowRps
                ? second
                : first),
              attempts: 2,
            };
          },
          passes: builtinPasses,
        }),
      );
      ctx.log(
        `  rep ${rep + 1}: ${describeSearch('built-in', out.builtin, (r: BuiltinStep) => r.answeredInWindowRps)}`,
      );
    } else if (tool === 'k6') {
      const k6 = ctx.tools.k6;
      if (!k6) continue;
      out.k6 = await withApp(ctx, `bench-app-k6-${rep}`, (app) =>
        searchSteps<K6Step>({
          rates: RATES,
          budgetMs: SEARCH_BUDGET_MS,
          signal: ctx.signal,
          runStep: async (rate) => {
            const step = await k6Step(ctx, app, rate, k6);
            await settle();
            return step;
          },
          passes: k6Passes,
        }),
      );
      ctx.log(`  rep ${rep + 1}: ${describeSearch('k6', out.k6, (r: K6Step) => r.achievedRps)}`);
    } else {
      const wrk = ctx.tools.wrk;
      out.wrk = [];
      if (!wrk) continue;
      await withApp(ctx, `bench-app-wrk-${rep}`, async (app) => {
        for (const config of WRK_CONFIGS) {
          const cpu0 = app.cpuMs();
          const run = await runProcess(
            ctx,
            wrk,
            [
              `-t${config.threads}`,
              `-c${config.connections}`,
              `-d${STEP_MS / 1000}s`,
              '-s',
              path.join(BENCH_DIR, 'wrk-post.lua'),
              app.url,
            ],
            { env: { PATH: process.env.PATH }, label: 'bench-wrk', timeoutMs: STEP_MS + 20_000 },
          );
          const serverCpuShare = (app.cpuMs() - cpu0) / run.wallMs;
          try {
            out.wrk!.push({ ...config, result: parseWrkOutput(run.stdout), serverCpuShare });
          } catch (err) {
            out.wrk!.push({
              ...config,
              error: `${(err as Error).message}; stderr: ${run.stderr.trim().slice(0, 200)}`,
            });
          }
          await settle();
        }
      });
      ctx.log(
        `  rep ${rep + 1}: wrk ${out.wrk.map((w) => `t${w.threads}c${w.connections}:${w.result ? Math.round(w.result.requestsPerSec) : w.error}`).join(' ')}`,
      );
    }
  }
  return out as Repetition;
}

/** The arrival-accuracy benchmark's jitter bound, applied to the capacity steps for context. */
const LAG_BOUND_MS = 5;

/** The highest passing step whose send lag p99 stayed under LAG_BOUND_MS (0 when none). */
function lowLagRate(rep: Repetition): number {
  const ok = rep.builtin.steps.filter((s) => s.pass && s.result.sendLagP99Ms < LAG_BOUND_MS).map((s) => s.rate);
  return ok.length === 0 ? 0 : Math.max(...ok);
}

/** The sustained rate of one search; the last rate of the list when every step passed. */
function sustained(s: StepSearchResult<unknown>): number {
  return s.lastPass ?? 0;
}

function wrkMax(rep: Repetition): number | undefined {
  const clean = rep.wrk.filter((w) => w.result && w.result.non2xx === 0 && w.result.socketErrors === 0);
  if (clean.length === 0) return undefined;
  return Math.max(...clean.map((w) => w.result!.requestsPerSec));
}

async function profileMiss(ctx: BenchContext, rate: number): Promise<string[]> {
  const dir = path.join(ctx.workDir, `profile-capacity-${rate}`);
  mkdirSync(dir, { recursive: true });
  const generatorProfile = path.join(dir, 'generator.cpuprofile');
  const serverDir = path.join(dir, 'server');
  mkdirSync(serverDir, { recursive: true });
  ctx.log(`  profiling the built-in generator and the app at ${rate} req/s`);
  const step = await withApp(
    ctx,
    'bench-app-profile',
    (app) => builtinStep(ctx, app, rate, generatorProfile),
    serverDir,
  );
  const notes: string[] = [
    `profiled step at ${rate} req/s (load average ${step.loadAverage}): answered ${Math.round(step.answeredInWindowRps)}/s, ` +
      `dropped ${step.dropped}, send lag p99 ${step.sendLagP99Ms.toFixed(1)} ms, generator CPU ${(step.cpuShare * 100).toFixed(0)}% of a core, ` +
      `server CPU ${step.serverCpuShare === undefined ? '?' : (step.serverCpuShare * 100).toFixed(0)}% of a core, generator main thread waiting for a core ` +
      `${step.runQueueWaitMs?.toFixed(0) ?? '?'} ms of ${(step.windowMs + step.drainMs).toFixed(0)} ms, event-loop delay max ${step.eventLoopDelayMaxMs.toFixed(0)} ms, ` +
      `cumulative send-lag p99 every 0.5 s ${step.lagP99SeriesMs.join(', ')} ms, ${step.connectionsOpened} connections opened`,
  ];
  if (existsSync(generatorProfile)) {
    const summary = summarizeCpuProfile(JSON.parse(readFileSync(generatorProfile, 'utf8')) as CpuProfile);
    notes.push(describeProfile('built-in generator profile', summary));
    const sched =
      step.runQueueWaitMs === undefined || step.onCpuMs === undefined
        ? undefined
        : { onCpuMs: step.onCpuMs, runQueueWaitMs: step.runQueueWaitMs, timeslices: 0 };
    notes.push(
      `bottleneck (measured): ${describeContention('generator main thread', 1 - summary.idleShare, sched, step.windowMs + step.drainMs)}`,
    );
  }
  const serverFile = readdirSync(serverDir).find((f) => f.endsWith('.cpuprofile'));
  if (serverFile) {
    const summary = summarizeCpuProfile(
      JSON.parse(readFileSync(path.join(serverDir, serverFile), 'utf8')) as CpuProfile,
    );
    notes.push(describeProfile('faulty-app profile (whole process life)', summary));
  }
  return notes;
}

export const capacityBenchmark: Benchmark = {
  name: 'capacity',
  title: 'Load generator capacity (built-in vs k6 vs wrk, one faulty-app process)',
  async run(ctx): Promise<BenchOutcome> {
    const reps: Repetition[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) reps.push(await oneRepetition(ctx, rep));
    const builtin = reps.map((r) => sustained(r.builtin));
    const k6 = reps.filter((r) => r.k6).map((r) => sustained(r.k6!));
    const ratios = reps.filter((r) => r.k6 && sustained(r.k6) > 0).map((r) => sustained(r.builtin) / sustained(r.k6!));
    const wrk = reps.map(wrkMax).filter((v): v is number => v !== undefined);
    const wrkRatios = reps.filter((r) => wrkMax(r) !== undefined).map((r) => sustained(r.builtin) / wrkMax(r)!);
    const builtinSpread = spreadOf(builtin)!;
    const ratioSpread = spreadOf(ratios);
    const atSustained = reps
      .map((r) => r.builtin.steps.find((s) => s.rate === r.builtin.lastPass)?.result)
      .filter((s): s is BuiltinStep => s !== undefined);
    const missSteps = reps
      .map((r) => r.builtin.steps.find((s) => !s.pass)?.result)
      .filter((s): s is BuiltinStep => s !== undefined);
    const ceiling = RATES[RATES.length - 1]!;
    const above = (v: number[]) => (v.some((x) => x >= ceiling) ? ` (${ceiling} is the top step)` : '');
    const figures: Figure[] = [
      {
        bench: 'capacity',
        figure: 'built-in sustained rate, per-request records',
        value: formatSpread(builtinSpread) + above(builtin),
        unit: 'req/s',
        target: '≥ 5000',
        status: builtinSpread.median >= 5_000 ? 'pass' : 'miss',
      },
      {
        bench: 'capacity',
        figure: 'k6 constant-arrival-rate sustained rate',
        value: ctx.tools.k6 ? formatSpread(spreadOf(k6)) + above(k6) : 'k6 not installed',
        unit: 'req/s',
        target: '',
        status: 'info',
      },
      {
        bench: 'capacity',
        figure: 'built-in / k6 sustained rate',
        value: formatSpread(ratioSpread, 2),
        unit: 'ratio',
        target: '≥ 0.50',
        status: ratioSpread !== undefined && ratioSpread.median >= 0.5 ? 'pass' : 'miss',
      },
      {
        bench: 'capacity',
        figure: 'wrk max throughput (closed-loop, not an arrival rate)',
        value: ctx.tools.wrk ? formatSpread(spreadOf(wrk)) : 'wrk not installed',
        unit: 'req/s',
        target: '',
        status: 'info',
      },
      {
        bench: 'capacity',
        figure: 'built-in sustained / wrk closed-loop max',
        value: formatSpread(spreadOf(wrkRatios), 2),
        unit: 'ratio',
        target: '',
        status: 'info',
      },
      {
        bench: 'capacity',
        figure: `built-in highest passing step with send lag p99 < ${LAG_BOUND_MS} ms`,
        value: formatSpread(spreadOf(reps.map(lowLagRate))),
        unit: 'req/s',
        target: '',
        status: 'info',
      },
      {
        bench: 'capacity',
        figure: 'built-in send lag p99 at its sustained rate',
        value: formatSpread(spreadOf(atSustained.map((s) => s.sendLagP99Ms)), 1),
        unit: 'ms',
        target: '',
        status: 'info',
      },
    ];
    const notes: string[] = [
      `Step search over ${RATES.join(', ')} req/s, ${STEP_MS / 1000} s a step, stopping at the first miss; a step passes when the ` +
        `successful answers completed inside the window are within ${TOLERANCE * 100}% of the rate and nothing was dropped or failed ` +
        `(a missed step is run once more before the search stops) ` +
        `(built-in: records == scheduled; k6: dropped_iterations == 0 and http_req_failed == 0), with a ${TIMEOUT_MS / 1000} s timeout. ` +
        `The built-in runs with maxInFlight ${MAX_IN_FLIGHT}; k6's two attempts use preAllocatedVUs max(100, rate/20), then ${MAX_IN_FLIGHT} ` +
        `(maxVUs ${MAX_IN_FLIGHT}). wrk is closed-loop (wrk2 is not available): its figure is the app's maximum throughput ` +
        `with ${WRK_CONFIGS.map((c) => `${c.threads} thread(s) × ${c.connections} connections`).join(' or ')}, not a sustained arrival rate.`,
    ];
    for (const [i, rep] of reps.entries()) {
      const top = rep.builtin.steps.find((s) => s.rate === rep.builtin.lastPass)?.result;
      if (top) {
        notes.push(
          `rep ${i + 1}: built-in at its sustained ${top.rateRps} req/s: cumulative send-lag p99 every 0.5 s ${top.lagP99SeriesMs.join(', ')} ms ` +
            `(lag incurred early in the step stays in the p99), ${top.maxInFlightSeen} in flight at most, ${top.connectionsOpened} connections opened, generator CPU ${(top.cpuShare * 100).toFixed(0)}%, ` +
            `main thread waiting for a core ${top.runQueueWaitMs?.toFixed(0) ?? '?'} ms of ${(top.windowMs + top.drainMs).toFixed(0)} ms, load average ${top.loadAverage}`,
        );
      }
    }
    for (const miss of missSteps) {
      notes.push(
        `built-in first miss at ${miss.rateRps} req/s: answered ${Math.round(miss.answeredInWindowRps)}/s, dropped ${miss.dropped}, ` +
          `failed ${miss.failed}, send lag p99 ${miss.sendLagP99Ms.toFixed(1)} ms, generator CPU ${(miss.cpuShare * 100).toFixed(0)}%, ` +
          `server CPU ${miss.serverCpuShare === undefined ? '?' : (miss.serverCpuShare * 100).toFixed(0)}%, generator main thread waiting for a core ` +
          `${miss.runQueueWaitMs?.toFixed(0) ?? '?'} ms of ${(miss.windowMs + miss.drainMs).toFixed(0)} ms, event-loop delay max ${miss.eventLoopDelayMaxMs.toFixed(0)} ms, ` +
          `cumulative send-lag p99 every 0.5 s ${miss.lagP99SeriesMs.join(', ')} ms, ${miss.connectionsOpened} connections opened, load average ${miss.loadAverage}` +
          (miss.error ? `, error: ${miss.error}` : ''),
      );
    }
    const missed = figures.some((f) => f.status === 'miss');
    if (missed && ctx.profile) {
      const rates = missSteps.map((s) => s.rateRps).sort((a, b) => a - b);
      const rate = rates[rates.length >> 1] ?? RATES[0]!;
      notes.push(...(await profileMiss(ctx, rate)));
    }
    return { figures, details: { rates: RATES, stepMs: STEP_MS, repetitions: reps }, notes };
  },
};
