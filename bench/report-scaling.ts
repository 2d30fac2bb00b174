/**
 * Benchmark 5, report scaling: runs `node --import tsx bench/report.ts` (report build time and
 * peak memory at 10k, 100k and 1M request records, and the growth exponent of wall time) and
 * takes its figures. Targets: exponent ≤ 1.1 (linear or better), and bench/report.ts's own
 * targets for 1M records (under 15 s, under 1 GiB).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describeProfile, summarizeCpuProfile, type CpuProfile } from '../src/bench/cpu-profile.ts';
import { formatSpread, spreadOf } from '../src/bench/stats.ts';
import type { Figure } from '../src/bench/table.ts';
import { parseReportBenchOutput, type ReportBenchResult } from '../src/bench/tool-output.ts';
import {
  BENCH_DIR,
  TSX,
  loadAverage,
  runProcess,
  type BenchContext,
  type BenchOutcome,
  type Benchmark,
} from './context.ts';
import { writeSyntheticReport } from './synthetic-report.ts';

const EXPONENT_TARGET = 1.1;
const MILLION_WALL_TARGET_S = 15;
const MILLION_RSS_TARGET_MIB = 1024;
/** bench/report.ts spreads the records over this many runs. */
const RUNS = 40;

async function profileMillion(ctx: BenchContext): Promise<string[]> {
  const dir = mkdtempSync(path.join(ctx.workDir, 'report-profile-'));
  const profDir = path.join(ctx.workDir, 'profile-report');
  mkdirSync(profDir, { recursive: true });
  try {
    ctx.log('  profiling the report build at 1M records');
    writeSyntheticReport(dir, RUNS, Math.round(1_000_000 / RUNS));
    const run = await runProcess(
      ctx,
      process.execPath,
      ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--import', TSX, path.join(BENCH_DIR, 'report-build-child.ts'), dir],
      { env: { ...process.env }, label: 'bench-report-profile', timeoutMs: 600_000 },
    );
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    const notes = [`profiled report build at 1M records: ${run.stdout.trim().split('\n').pop()}`];
    if (file)
      notes.push(
        describeProfile(
          'report build profile',
          summarizeCpuProfile(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile),
        ),
      );
    return notes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const reportScalingBenchmark: Benchmark = {
  name: 'report',
  title: 'Report scaling (bench/report.ts: 10k, 100k, 1M request records)',
  async run(ctx): Promise<BenchOutcome> {
    const results: Array<ReportBenchResult & { loadAverage: number; wallS: number }> = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const load = loadAverage();
      const run = await runProcess(ctx, process.execPath, ['--import', TSX, path.join(BENCH_DIR, 'report.ts')], {
        env: { ...process.env },
        label: 'bench-report',
        timeoutMs: 900_000,
      });
      if (run.code !== 0)
        throw new Error(`bench/report.ts exited ${run.code ?? run.signal}: ${run.stderr.trim().slice(0, 400)}`);
      const parsed = parseReportBenchOutput(run.stdout);
      results.push({ ...parsed, loadAverage: load, wallS: run.wallMs / 1000 });
      ctx.log(
        `  rep ${rep + 1}: ${parsed.rows.map((r) => `${r.records}: ${r.wallS} s ${r.peakRssMiB} MiB`).join(', ')}; exponent ${parsed.exponent}`,
      );
    }
    const sizes = [...new Set(results.flatMap((r) => r.rows.map((row) => row.records)))].sort((a, b) => a - b);
    const figures: Figure[] = sizes.map((records) => {
      const walls = results
        .map((r) => r.rows.find((row) => row.records === records)?.wallS)
        .filter((v): v is number => v !== undefined);
      const spread = spreadOf(walls);
      const million = records === 1_000_000;
      return {
        bench: 'report',
        figure: `build time, ${records.toLocaleString('en-US')} records`,
        value: formatSpread(spread, 2),
        unit: 's',
        target: million ? `< ${MILLION_WALL_TARGET_S}` : '',
        status: !million ? 'info' : spread !== undefined && spread.median < MILLION_WALL_TARGET_S ? 'pass' : 'miss',
      };
    });
    const rss = spreadOf(
      results
        .map((r) => r.rows.find((row) => row.records === 1_000_000)?.peakRssMiB)
        .filter((v): v is number => v !== undefined),
    );
    figures.push({
      bench: 'report',
      figure: 'peak RSS, 1,000,000 records',
      value: formatSpread(rss, 0),
      unit: 'MiB',
      target: `< ${MILLION_RSS_TARGET_MIB}`,
      status: rss !== undefined && rss.median < MILLION_RSS_TARGET_MIB ? 'pass' : 'miss',
    });
    const exponent = spreadOf(results.map((r) => r.exponent).filter((v): v is number => v !== undefined));
    figures.push({
      bench: 'report',
      figure: 'growth exponent of build time (1 = linear)',
      value: formatSpread(exponent, 2),
      unit: '',
      target: `≤ ${EXPONENT_TARGET}`,
      status: exponent !== undefined && exponent.median <= EXPONENT_TARGET ? 'pass' : 'miss',
    });
    // The end-to-end exponent includes the fixed cost of a build (module loading, the report's
    // charts); the exponent between the two largest sizes shows the per-record growth alone.
    const marginal = spreadOf(
      results
        .map((r) => {
          const [a, b] = r.rows.slice(-2);
          return a && b && a.records !== b.records
            ? Math.log(b.wallS / a.wallS) / Math.log(b.records / a.records)
            : undefined;
        })
        .filter((v): v is number => v !== undefined),
    );
    const lastTwo = sizes
      .slice(-2)
      .map((n) => n.toLocaleString('en-US'))
      .join(' → ');
    figures.push({
      bench: 'report',
      figure: `growth exponent between the two largest sizes (${lastTwo})`,
      value: formatSpread(marginal, 2),
      unit: '',
      target: '',
      status: 'info',
    });
    const notes: string[] = [
      `bench/report.ts run ${ctx.reps} times; load average at each start: ${results.map((r) => r.loadAverage).join(', ')}`,
    ];
    if (figures.some((f) => f.status === 'miss') && ctx.profile) notes.push(...(await profileMillion(ctx)));
    return { figures, details: { results }, notes };
  },
};
