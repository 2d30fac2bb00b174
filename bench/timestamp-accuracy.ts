/**
 * Benchmark 3, timestamp accuracy on the local platform: runs bench/timestamp-accuracy.yaml
 * (faulty-500 under Flagger, interval 10 s, threshold 1, 10× compression, 3 repetitions) inside
 * this process, one run at a time, then with 8 repetitions at the default concurrency (what
 * `npm run experiment` picks on this machine), and compares the journal's impact, detect, mitigate
 * and recover times with the components' own observations (src/bench/probes.ts,
 * src/bench/ground-truth.ts):
 *
 *   detect    model emitting its first `Halt …`/`Rolling back …` event   vs the journal's detectMs
 *   mitigate  model emitting its `Rolling back …` event                  vs mitigateMs
 *   impact    first failed response the router finished forwarding        vs impactMs
 *   recover   the router's last bad response before the clean window,     vs recoverMs
 *             no earlier than the router applying canary weight 0
 *
 * Ground truth is stamped on this process's monotonic clock; the run's origin (scenario ms 0) is
 * fixed on the route change every run's restore makes, which the probe and the journal both see
 * synchronously inside one listener call. With runs overlapping, each observation goes to the run
 * of its slot (src/bench/run-windows.ts). Errors are absolute, in scenario ms (wall ms × time
 * scale) and in wall ms.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describeProfile, summarizeCpuProfile, type CpuProfile } from '../src/bench/cpu-profile.ts';
import { describeContention } from '../src/bench/schedstat.ts';
import { groundTruth, type TruthMarks } from '../src/bench/ground-truth.ts';
import { inRunWindow, runWindows } from '../src/bench/run-windows.ts';
import { runLagFlagged } from '../src/report/runs-csv.ts';
import { nearestRank, spreadOf } from '../src/bench/stats.ts';
import type { Figure } from '../src/bench/table.ts';
import { Marks } from '../src/timeline/compute.ts';
import { MAX_DEFAULT_CONCURRENCY } from '../src/experiment/concurrency.ts';
import { LOCAL_SERVICE } from '../src/platform/local/local-platform.ts';
import { BENCH_DIR, type BenchOutcome, type Benchmark } from './context.ts';
import { runInstrumented, type InstrumentedExperiment } from './in-process.ts';

const PLAN = path.join(BENCH_DIR, 'timestamp-accuracy.yaml');
const TARGET_P99_MS = 50;
const MARKS = ['detect', 'mitigate', 'recover', 'impact'] as const;
type Mark = (typeof MARKS)[number];
/** The marks the target applies to (the issue's list); impact is reported beside them. */
const TARGETED: readonly Mark[] = ['detect', 'mitigate', 'recover'];

interface RunComparison {
  runId: string;
  outcome: string;
  slot: number;
  /** Runs in flight when this one started. */
  concurrency: number;
  loopLagP99WallMs?: number;
  /** Over the lag bound (runs.csv `lag_flagged`): the runner itself says its timestamps may be off. */
  lagFlagged: boolean;
  harness: TruthMarks;
  truth: TruthMarks;
  /** harness − truth, scenario ms. */
  errorMs: Partial<Record<Mark, number>>;
  /** Origin alignment cross-check: restore() entry vs the restore's route change, scenario ms. */
  originCheckMs: number;
  /** Journal detect − the model's own atMs stamp of that event (bookkeeping check), scenario ms. */
  detectVsModelStampMs?: number;
  /** How long after the model's stamp (its tick start) the detecting event was emitted, wall ms. */
  detectEmitLagWallMs?: number;
  routerResponses: number;
}

function compareRuns(exp: InstrumentedExperiment): RunComparison[] {
  const { log, timeScale } = exp;
  const windows = runWindows(log.restores);
  const out: RunComparison[] = [];
  for (const entry of exp.entries) {
    const window = windows.get(entry.runId);
    if (!window || entry.metrics.outcome === 'aborted') continue;
    const routes = inRunWindow(log.routes, window);
    const restoreRoute = routes[0];
    const journalRoute = entry.timeline.find((e) => e.kind === Marks.routes);
    if (!restoreRoute || !journalRoute) continue;
    const originWall = restoreRoute.wallMs - journalRoute.atMs / timeScale;
    const rel = (wallMs: number) => (wallMs - originWall) * timeScale;
    const scenario = exp.plan.find((p) => p.runId === entry.runId)!.scenario;
    const responses = inRunWindow(log.responses, window);
    const events = inRunWindow(log.events, window);
    const truth = groundTruth({
      releaseMs: entry.metrics.releaseMs,
      canaryWorkload: LOCAL_SERVICE,
      cleanWindowMs: scenario.recovery.cleanWindowS * 1000,
      endMs: entry.metrics.endMs,
      routes: routes.map((r) => ({
        atMs: rel(r.wallMs),
        canaryWeight: r.routes.find((d) => d.workload === LOCAL_SERVICE)?.weight ?? 0,
      })),
      responses: responses.map((r) => ({ atMs: rel(r.wallMs), status: r.status, workload: r.workload })),
      events: events.map((e) => ({ atMs: rel(e.wallMs), message: e.message })),
    });
    const m = entry.metrics;
    const harness: TruthMarks = {
      impactMs: m.impactMs,
      detectMs: m.detectMs,
      mitigateMs: m.mitigateMs,
      recoverMs: m.recoverMs,
    };
    const errorMs: RunComparison['errorMs'] = {};
    for (const mark of MARKS) {
      const h = harness[`${mark}Ms`];
      const t = truth[`${mark}Ms`];
      if (h !== undefined && t !== undefined) errorMs[mark] = h - t;
    }
    // The router stamps its records with the runner's clock: that fixes the clock's origin on ours.
    const clockOrigins = responses.map((r) => r.wallMs - r.clockMs / timeScale).sort((a, b) => a - b);
    const clockOriginWall = clockOrigins[clockOrigins.length >> 1];
    const detectEvent = events.find(
      (e) => rel(e.wallMs) >= m.releaseMs && (e.message.startsWith('Halt') || e.message.startsWith('Rolling back')),
    );
    let detectVsModelStampMs: number | undefined;
    let detectEmitLagWallMs: number | undefined;
    if (detectEvent && clockOriginWall !== undefined && m.detectMs !== undefined) {
      const modelStampWall = clockOriginWall + detectEvent.atMs / timeScale;
      detectVsModelStampMs = m.detectMs - rel(modelStampWall);
      detectEmitLagWallMs = detectEvent.wallMs - modelStampWall;
    }
    out.push({
      runId: entry.runId,
      outcome: m.outcome,
      slot: window.slot,
      concurrency: entry.harness?.concurrency ?? 1,
      loopLagP99WallMs: entry.harness?.loopLagP99WallMs,
      lagFlagged: runLagFlagged(entry),
      harness,
      truth,
      errorMs,
      originCheckMs: (window.fromWallMs - originWall) * timeScale,
      detectVsModelStampMs,
      detectEmitLagWallMs,
      routerResponses: responses.length,
    });
  }
  return out;
}

function errorsOf(runs: readonly RunComparison[], mark: Mark): number[] {
  return runs
    .map((r) => r.errorMs[mark])
    .filter((v): v is number => v !== undefined)
    .map(Math.abs);
}

/** One way of running the plan: the plan as written one run at a time, or the default concurrency. */
interface Mode {
  label: string;
  options: { concurrency?: number | 'default'; repetitions?: number };
}

const MODES: readonly Mode[] = [
  { label: 'sequential', options: { concurrency: 1 } },
  // As many runs as the default can ever pick, so the plan's size never caps it: the default is
  // then the machine's own (cores × time scale), as for `npm run experiment`.
  { label: 'default', options: { concurrency: 'default', repetitions: MAX_DEFAULT_CONCURRENCY } },
];

interface ModeResult {
  mode: string;
  /** The concurrency the runs started with, and why. */
  concurrency: number;
  reason: string;
  planned: number;
  runs: RunComparison[];
}

function figuresOf(result: ModeResult, timeScale: number): { figures: Figure[]; summary: Record<string, unknown> } {
  const { runs } = result;
  const at = `at concurrency ${result.concurrency}${result.mode === 'default' ? ' (the default)' : ''}`;
  const figures: Figure[] = [];
  const summary: Record<string, unknown> = {};
  for (const mark of MARKS) {
    const errors = errorsOf(runs, mark);
    const p50 = nearestRank(errors, 0.5);
    const p99 = nearestRank(errors, 0.99);
    summary[mark] = {
      n: errors.length,
      p50Ms: p50,
      p99Ms: p99,
      maxMs: errors.length ? Math.max(...errors) : undefined,
    };
    const f = (v: number | undefined, d: number) => (v === undefined ? '—' : v.toFixed(d));
    figures.push({
      bench: 'timestamps',
      figure: `${mark} |error| p50 / p99 ${at} (n=${errors.length})`,
      value: `${f(p50, 2)} / ${f(p99, 2)} (wall ${f(p50 === undefined ? undefined : p50 / timeScale, 3)} / ${f(p99 === undefined ? undefined : p99 / timeScale, 3)})`,
      unit: 'scenario ms (wall ms)',
      target: TARGETED.includes(mark) ? `p99 < ${TARGET_P99_MS}` : '',
      status: !TARGETED.includes(mark)
        ? 'info'
        : p99 !== undefined && p99 < TARGET_P99_MS && errors.length === runs.length && runs.length > 0
          ? 'pass'
          : 'miss',
    });
  }
  if (result.mode === 'default') {
    const lowest = Math.min(...runs.map((r) => r.concurrency));
    figures.push({
      bench: 'timestamps',
      figure: `runs over the lag bound ${at} (lowest concurrency reached: ${Number.isFinite(lowest) ? lowest : '—'})`,
      value: `${runs.filter((r) => r.lagFlagged).length} of ${runs.length}`,
      unit: 'runs',
      target: '',
      status: 'info',
    });
  }
  return { figures, summary };
}

export const timestampBenchmark: Benchmark = {
  name: 'timestamps',
  title:
    'Timestamp accuracy: journal vs the router and the Flagger model (faulty-500, Flagger, 10×), one run at a time and at the default concurrency',
  async run(ctx): Promise<BenchOutcome> {
    let timeScale = 1;
    const results: ModeResult[] = [];
    for (const mode of MODES) {
      const result: ModeResult = { mode: mode.label, concurrency: 1, reason: '', planned: 0, runs: [] };
      for (let rep = 0; rep < ctx.reps; rep++) {
        const exp = await runInstrumented(ctx, PLAN, { label: `timestamps-${mode.label}-${rep}`, ...mode.options });
        timeScale = exp.timeScale;
        result.concurrency = exp.concurrency.concurrency;
        result.reason = exp.concurrency.reason;
        result.planned += exp.plan.length;
        result.runs.push(...compareRuns(exp));
      }
      results.push(result);
    }
    const perMode = results.map((result) => ({ result, ...figuresOf(result, timeScale) }));
    const figures = perMode.flatMap((m) => m.figures);
    const summary = Object.fromEntries(
      perMode.map((m) => [m.result.mode, { concurrency: m.result.concurrency, reason: m.result.reason, ...m.summary }]),
    );
    const all = results.flatMap((r) => r.runs);
    const notes = [
      ...results.map(
        (r) =>
          `${r.mode}: ${r.runs.length} of ${r.planned} runs compared (${ctx.reps} × bench/timestamp-accuracy.yaml${r.mode === 'default' ? ` with ${MAX_DEFAULT_CONCURRENCY} repetitions` : ''}), ` +
          `concurrency ${r.concurrency} (${r.reason}); lag-flagged runs ${r.runs.filter((c) => c.lagFlagged).length}.`,
      ),
      `p99 of so few runs is the largest error (nearest rank). Target applied in scenario ms, the unit of the report. Signed errors (harness − truth) are in details.runs. ` +
        `With runs in flight at once, each probe observation is given to the run of its own slot, between that run's restore() and the slot's next one.`,
      `Origin alignment cross-check (restore() entry vs the restore's route change): ${fmtRange(all.map((r) => r.originCheckMs))} scenario ms. ` +
        `Journal detect − the model's own stamp on that event: ${fmtRange(all.map((r) => r.detectVsModelStampMs))} scenario ms; ` +
        `the model stamps the tick's start and emits the event ${fmtRange(all.map((r) => r.detectEmitLagWallMs))} wall ms later.`,
    ];
    const missed = perMode.find((m) => m.figures.some((f) => f.status === 'miss'))?.result;
    if (missed && ctx.profile) {
      const dir = path.join(ctx.workDir, 'profile-timestamps');
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'harness.cpuprofile');
      ctx.log(`  profiling one more experiment (${missed.mode}) for the missed target`);
      const mode = MODES.find((m) => m.label === missed.mode)!;
      const exp = await runInstrumented(ctx, PLAN, {
        label: 'timestamps-profile',
        cpuProfile: file,
        ...mode.options,
        repetitions: mode.options.repetitions ?? 1,
      });
      const profiled = compareRuns(exp);
      notes.push(
        `profiled run errors (${missed.mode}, scenario ms): ${JSON.stringify(profiled.map((r) => r.errorMs))}`,
      );
      if (existsSync(file)) {
        const profile = summarizeCpuProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
        notes.push(describeProfile('harness process profile', profile));
        notes.push(
          `bottleneck (measured): ${describeContention('harness main thread', 1 - profile.idleShare, exp.sched, exp.endWallMs - exp.startWallMs)}`,
        );
      }
    }
    return {
      figures,
      details: {
        plan: 'bench/timestamp-accuracy.yaml',
        timeScale,
        summary,
        runs: results.map((r) => ({ mode: r.mode, runs: r.runs })),
      },
      notes,
    };
  },
};

function fmtRange(values: ReadonlyArray<number | undefined>): string {
  const spread = spreadOf(values.filter((v): v is number => v !== undefined));
  if (!spread) return '—';
  return `${spread.min.toFixed(3)}…${spread.max.toFixed(3)}`;
}
