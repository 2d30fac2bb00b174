/**
 * Benchmark 7, concurrency (issue 12, docs/design.md §10): `npm run experiment -- --reps 4
 * --concurrency N` (experiments/quick.yaml: 12 runs) at N = 1, 2, 4 and 8, each through the CLI.
 * Per N: runs per wall minute over the journal's span (header → end of the last run), the whole
 * machine's CPU busy share over that span (/proc/stat deltas: every process on the machine counts,
 * not only the experiment's), the median over runs of the harness's event-loop lag p99, and the runs
 * over the lag bound. The runner lowers N when a run's lag crosses the bound; the lowest N reached
 * is shown. Beside them, the default the harness picks on this machine for `npm run experiment`.
 * Each experiment is stopped after 10 minutes, so the benchmark ends within 40 minutes a repetition.
 */
import path from 'node:path';
import { formatSpread, spreadOf } from '../src/bench/stats.ts';
import type { Figure } from '../src/bench/table.ts';
import { defaultConcurrency } from '../src/experiment/concurrency.ts';
import { planRuns } from '../src/experiment/plan.ts';
import { loadExperimentFile } from '../src/scenario/load-files.ts';
import { PROJECT_ROOT, type BenchOutcome, type Benchmark } from './context.ts';
import { type ExperimentRun, runExperimentCli } from './default-experiment.ts';

const PLAN = path.join(PROJECT_ROOT, 'experiments/quick.yaml');
const LEVELS = [1, 2, 4, 8] as const;
/** Repetitions per cell of quick.yaml (3 cells): 12 runs, enough for 8 at once to fill its slots. */
const PLAN_REPS = 4;
const TIMEOUT_MS = 10 * 60_000;

interface Level {
  concurrency: number;
  runs: ExperimentRun[];
}

const pct = (v: number | undefined) => (v === undefined ? '—' : `${(v * 100).toFixed(0)}%`);
const ms = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));

function levelFigure(level: Level): Figure {
  const { runs } = level;
  const median = (values: Array<number | undefined>) =>
    spreadOf(values.filter((v): v is number => v !== undefined))?.median;
  const lowest = Math.min(...runs.map((r) => r.pace.concurrencyLowest ?? level.concurrency));
  const flagged = runs.reduce((n, r) => n + r.pace.lagFlagged, 0);
  const total = runs.reduce((n, r) => n + r.runs, 0);
  return {
    bench: 'concurrency',
    figure: `--concurrency ${level.concurrency}${lowest < level.concurrency ? ` (lowered to ${lowest} on lag)` : ''}`,
    value:
      `${formatSpread(spreadOf(runs.map((r) => r.pace.runsPerMinute)), 1)} · ` +
      `${pct(median(runs.map((r) => r.cpuBusyShare)))} · ` +
      `${ms(median(runs.map((r) => r.pace.loopLagP99MedianWallMs)))} · ${flagged}/${total}`,
    unit: 'runs/min · machine CPU · loop-lag p99 ms · flagged',
    target: '',
    status: 'info',
  };
}

export const concurrencyBenchmark: Benchmark = {
  name: 'concurrency',
  title: `Runs per wall minute at --concurrency ${LEVELS.join(', ')} (experiments/quick.yaml --reps ${PLAN_REPS})`,
  async run(ctx): Promise<BenchOutcome> {
    const loaded = loadExperimentFile(PLAN, path.join(PROJECT_ROOT, 'scenarios'));
    const timeScale = loaded.experiment.timeScale;
    // What `npm run experiment` picks here: quick.yaml as written, on the local platform.
    const chosen = defaultConcurrency({ platform: 'local', timeScale, plannedRuns: planRuns(loaded).length });
    const levels: Level[] = [];
    for (const concurrency of LEVELS) {
      const level: Level = { concurrency, runs: [] };
      for (let rep = 0; rep < ctx.reps; rep++) {
        const run = await runExperimentCli(ctx, `concurrency-${concurrency}-${rep}`, {
          args: ['--reps', String(PLAN_REPS), '--concurrency', String(concurrency)],
          timeoutMs: TIMEOUT_MS,
        });
        level.runs.push(run);
        ctx.log(
          `  --concurrency ${concurrency}, rep ${rep + 1}: ${run.runs} runs in ${(run.pace.spanMs / 1000).toFixed(1)} s ` +
            `(${run.pace.runsPerMinute.toFixed(1)} runs/min), machine CPU ${pct(run.cpuBusyShare)}, ` +
            `loop-lag p99 median ${ms(run.pace.loopLagP99MedianWallMs)} ms, ${run.pace.lagFlagged} flagged, load ${run.loadAverage}`,
        );
      }
      levels.push(level);
    }
    const best = [...levels].sort(
      (a, b) =>
        (spreadOf(b.runs.map((r) => r.pace.runsPerMinute))?.median ?? 0) -
        (spreadOf(a.runs.map((r) => r.pace.runsPerMinute))?.median ?? 0),
    )[0]!;
    const figures: Figure[] = [
      ...levels.map(levelFigure),
      {
        bench: 'concurrency',
        figure: `default on this machine for npm run experiment (${chosen.reason})`,
        value: String(chosen.concurrency),
        unit: 'runs at once',
        target: '',
        status: 'info',
      },
      {
        bench: 'concurrency',
        figure: 'most runs per wall minute measured at',
        value: `--concurrency ${best.concurrency}`,
        unit: '',
        target: '',
        status: 'info',
      },
    ];
    const notes = [
      `Each level runs experiments/quick.yaml --reps ${PLAN_REPS} (${levels[0]?.runs[0]?.runs ?? '—'} runs) through the CLI, ${ctx.reps} time(s). ` +
        'Runs per minute over the journal (header → end of the last run), so the report written after it is not counted. ' +
        'Machine CPU is the busy share of all cores over that span from /proc/stat: it counts every process on the machine, other users included. ' +
        "Loop-lag p99 is the median over runs of each run's event-loop lag p99 (journal harness.loopLagP99WallMs); flagged runs exceed the lag bound (runs.csv lag_flagged).",
      `Outcomes: ${levels.map((l) => `${l.concurrency}: ${l.runs.map((r) => JSON.stringify(r.outcomes)).join(' ')}`).join('; ')}.`,
    ];
    return {
      figures,
      details: { plan: 'experiments/quick.yaml', planReps: PLAN_REPS, default: chosen, levels },
      notes,
    };
  },
};
