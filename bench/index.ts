/**
 * npm run bench — the harness's own speed and accuracy, held to numbers (issue 7):
 *
 *   node --import tsx bench/index.ts [--only NAME[,NAME…]] [--skip NAME[,NAME…]] [--reps N]
 *                                    [--no-profile] [--out FILE]
 *
 * Runs each benchmark (capacity, arrival, timestamps, overhead, report, experiment, concurrency), prints one
 * table (figure, value, unit, target, pass|miss) and writes bench/results.json with the machine it
 * ran on. Every measurement is repeated (--reps, default 2; the machine is shared) and reported
 * as median [min–max]; every missed target is profiled and the profile's findings go into
 * `notes`. Loopback only; every loop is bounded in count and time.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, availableParallelism, loadavg, tmpdir, totalmem, release, platform as osPlatform } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { integerOption, parseOptions } from '../src/cli/args.ts';
import { exitCodeOf, runAsEntry } from '../src/cli/entry.ts';
import { UsageError } from '../src/common/errors.ts';
import { formatMarkdownTable, formatTable, type Figure } from '../src/bench/table.ts';
import { PidFile } from '../src/process/pid-file.ts';
import { ProcessRegistry } from '../src/process/registry.ts';
import { findTool } from '../src/process/tools.ts';
import { arrivalBenchmark } from './arrival-accuracy.ts';
import { capacityBenchmark } from './capacity.ts';
import { concurrencyBenchmark } from './concurrency.ts';
import { BENCH_DIR, createAppBundle, loadAverage, type BenchContext, type Benchmark } from './context.ts';
import { defaultExperimentBenchmark } from './default-experiment.ts';
import { overheadBenchmark } from './harness-overhead.ts';
import { reportScalingBenchmark } from './report-scaling.ts';
import { timestampBenchmark } from './timestamp-accuracy.ts';

const BENCHMARKS: readonly Benchmark[] = [
  capacityBenchmark,
  arrivalBenchmark,
  timestampBenchmark,
  overheadBenchmark,
  reportScalingBenchmark,
  defaultExperimentBenchmark,
  concurrencyBenchmark,
];
const NAMES = BENCHMARKS.map((b) => b.name);

const USAGE = `usage: node --import tsx bench/index.ts [--only NAME[,NAME…]] [--skip NAME[,NAME…]] [--reps N] [--no-profile] [--out FILE]
benchmarks: ${NAMES.join(', ')}`;

interface Args {
  selected: Benchmark[];
  reps: number;
  profile: boolean;
  out: string;
}

function parseBenchArgs(argv: string[]): Args | 'help' {
  const { values } = parseOptions(
    argv,
    {
      only: { type: 'string' },
      skip: { type: 'string' },
      reps: { type: 'string' },
      'no-profile': { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  );
  if (values.help) return 'help';
  const list = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const names = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const name of names) {
      if (!NAMES.includes(name))
        throw new UsageError(`--${flag}: "${name}" is not a benchmark; use one of ${NAMES.join(', ')}`);
    }
    return names;
  };
  const only = list('only', values.only);
  const skip = list('skip', values.skip) ?? [];
  const reps = integerOption('--reps', values.reps, 1, 20) ?? 2;
  return {
    selected: BENCHMARKS.filter((b) => (only ? only.includes(b.name) : true) && !skip.includes(b.name)),
    reps,
    profile: !values['no-profile'],
    out: path.resolve(values.out ?? path.join(BENCH_DIR, 'results.json')),
  };
}

function toolVersion(command: string | undefined, args: string[]): string | undefined {
  if (!command || !existsSync(command)) return undefined;
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    return out.split('\n')[0]!.trim();
  } catch (err) {
    // wrk -v prints its version and exits 1.
    const stdout = (err as { stdout?: string }).stdout ?? '';
    return stdout.split('\n')[0]?.trim() || undefined;
  }
}

function findTools(): BenchContext['tools'] {
  return { k6: findTool('k6'), wrk: findTool('wrk') };
}

async function main(argv: string[], signal: AbortSignal): Promise<number> {
  let args: Args | 'help';
  try {
    args = parseBenchArgs(argv);
  } catch (err) {
    return exitCodeOf(err, signal, process.stderr);
  }
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const tools = findTools();
  const workDir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-bench-'));
  const registry = new ProcessRegistry({ experiment: `bench-${process.pid}` }, new PidFile(`bench-${process.pid}`));
  const ctx: BenchContext = {
    registry,
    workDir,
    reps: args.reps,
    profile: args.profile,
    signal,
    log: (line) => process.stderr.write(`${line}\n`),
    appBundle: createAppBundle(workDir),
    tools,
  };
  const startedAt = new Date();
  const started = performance.now();
  const loadAtStart = loadavg().map((v) => Math.round(v * 100) / 100);
  const figures: Figure[] = [];
  const benchmarks: Record<string, unknown> = {};
  const notes: Record<string, string[]> = {};
  let failed = false;
  try {
    for (const bench of args.selected) {
      if (signal.aborted) break;
      const loadBefore = loadAverage();
      const t0 = performance.now();
      ctx.log(`== ${bench.name}: ${bench.title} (load average ${loadBefore})`);
      try {
        const outcome = await bench.run(ctx);
        figures.push(...outcome.figures);
        const loadAfter = loadAverage();
        benchmarks[bench.name] = {
          title: bench.title,
          wallS: Math.round((performance.now() - t0) / 100) / 10,
          loadAverage: { before: loadBefore, after: loadAfter },
          details: outcome.details,
        };
        notes[bench.name] = [
          `load average ${loadBefore} before, ${loadAfter} after, on ${availableParallelism()} cores`,
          ...outcome.notes,
        ];
        for (const f of outcome.figures)
          ctx.log(`   ${f.figure}: ${f.value} ${f.unit} ${f.target ? `(target ${f.target}: ${f.status})` : ''}`);
      } catch (err) {
        if (signal.aborted) break;
        failed = true;
        const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
        ctx.log(`   ${bench.name} failed: ${message}`);
        figures.push({
          bench: bench.name,
          figure: 'benchmark failed',
          value: (err as Error).message ?? String(err),
          unit: '',
          target: 'runs',
          status: 'miss',
        });
        notes[bench.name] = [`failed: ${message}`];
      }
    }
  } finally {
    await registry[Symbol.asyncDispose]();
    rmSync(workDir, { recursive: true, force: true });
  }
  if (signal.aborted) {
    process.stderr.write('interrupted: no results written\n');
    return 130;
  }
  const cpuList = cpus();
  const results = {
    machine: {
      cpuModel: cpuList[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      os: `${osPlatform()} ${release()}`,
      node: process.version,
      k6: toolVersion(tools.k6, ['version']),
      wrk: toolVersion(tools.wrk, ['-v']),
      /** 1-, 5- and 15-minute load averages: other processes share these cores. */
      loadAverage: { atStart: loadAtStart, atEnd: loadavg().map((v) => Math.round(v * 100) / 100) },
    },
    date: startedAt.toISOString(),
    command: `node --import tsx bench/index.ts ${process.argv.slice(2).join(' ')}`.trim(),
    repetitions: args.reps,
    benchmarksRun: args.selected.map((b) => b.name),
    wallS: Math.round((performance.now() - started) / 1000),
    figures,
    notes,
    benchmarks,
    markdownTable: formatMarkdownTable(figures),
  };
  writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${formatTable(figures)}\n\n`);
  process.stdout.write(
    `${results.machine.cpuModel}, ${results.machine.cores} cores, Node ${results.machine.node}, ${results.date}; ` +
      `load average at the end ${results.machine.loadAverage.atEnd.join(' ')}\n`,
  );
  process.stdout.write(`results: ${path.relative(process.cwd(), args.out) || args.out}\n`);
  for (const [name, list] of Object.entries(notes)) {
    for (const note of list) process.stdout.write(`note ${name}: ${note}\n`);
  }
  return failed ? 1 : 0;
}

await runAsEntry(
  import.meta.url,
  () => '\ninterrupted: stopping the current benchmark and its processes (Ctrl-C again to stop at once)\n',
  main,
);
