/**
 * `npm run fidelity -- [--reps N] [--scenario NAME] [--interval 10s] [--threshold 2] [--out DIR] [--model-time-scale X]`
 * `npm run fidelity -- --all [--scenarios a,b] [--reps N] [--concurrency N] [--out DIR | --resume DIR]`
 * `npm run fidelity -- --markdown DIR`
 *
 * With --all: every scenario of the catalogue as the scenario says (catalogue.ts). Without it:
 * runs one scenario (default faulty-500 with interval 10 s and threshold 2) N times on the real
 * Flagger of a local control plane and N times on the local platform's Flagger model, and writes
 * fidelity.md / fidelity.json: median release → detection (first Halt) and release → rollback
 * ("Rolling back") of each, their difference, and whether the model is within one analysis
 * interval of the real Flagger (issue 4, acceptance 4).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ConfigError, UsageError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/files.ts';
import { createLogger } from '../common/logger.ts';
import { integerOption, numberOption, parseOptions } from '../cli/args.ts';
import { exitCodeOf, folderTimestamp, runAsEntry } from '../cli/entry.ts';
import { startLocalCluster } from '../cluster/local/cluster.ts';
import { parseToolsEnv, resolveTools } from '../cluster/tools.ts';
import { toolsCacheDir } from '../process/tools.ts';
import { parseDurationMs } from '../scenario/duration.ts';
import { deepMerge, displayPath, readYamlFile, resolveScenarioFile, validate } from '../scenario/load-files.ts';
import { scenarioSchema, type Scenario } from '../scenario/schema.ts';
import { defaultConcurrency } from '../experiment/concurrency.ts';
import { estimateCatalogueS, FIDELITY_MD, RUNS_CSV, runCatalogue } from './catalogue.ts';
import { runOnModel } from './model-runs.ts';
import { repsFor } from './plan.ts';
import { readFidelityRunsCsv } from './runs-csv.ts';
import { fidelityFindingsMarkdown } from './table.ts';
import { runOnRealFlagger } from './real-flagger.ts';
import { compareArms, fidelityNotes, renderFidelityMarkdown, summarize } from './report.ts';

const CLI_FILE = fileURLToPath(import.meta.url);
const ALL_REPS = 10;
/** Real releases at once with --all: about an hour for the catalogue on 2 cores (estimateCatalogueS). */
const ALL_CONCURRENCY = 8;
const ALL_MODEL_TIME_SCALE = 10;
const PROJECT_ROOT = path.resolve(path.dirname(CLI_FILE), '../..');

export const FIDELITY_HELP = `Usage: npm run fidelity -- [options]

Runs a scenario on the real Flagger (local control plane; needs npm run tools:install) and on
the local platform's Flagger model, and writes fidelity.md and fidelity.json.

With --all, runs every scenario of scenarios/ as the scenario says (its interval, threshold and
scrape interval; one local control plane per scrape interval) on both sides, and writes runs.csv
(rewritten after every release: Ctrl-C keeps what was measured) and fidelity.md.

  --all                  every scenario of the catalogue (or those of --scenarios)
  --scenarios A,B        only these catalogue scenarios (implies --all)
  --reps N               with --all: releases per scenario and side (default ${ALL_REPS}; partial-0.5pct twice as many)
  --concurrency N        with --all: real releases at once on the cluster (default ${ALL_CONCURRENCY})
  --model-concurrency N  with --all: model runs at once (default: the local platform's default)
  --resume DIR           with --all: continue DIR's run (its plan.json), measuring only what runs.csv lacks
  --markdown DIR         print the README block from DIR/runs.csv and exit

Options of one scenario:
  --reps N               releases on each side (default 3)
  --scenario NAME|FILE   scenario (default faulty-500)
  --interval D           Flagger analysis interval, e.g. 10s (default 10s)
  --threshold N          failed checks before rollback (default 2)
  --model-time-scale X   time scale of the model's runs (default 1, real time like the real Flagger)
  --seed N               seed of the model's runs (default 1)
  --out DIR              report folder (default reports/fidelity-<timestamp>)
  -h, --help             this text`;

/** The scenario file with the fidelity overrides, validated like an experiment's overrides. */
export function loadFidelityScenario(ref: string, intervalText?: string, threshold?: number): Scenario {
  const file = resolveScenarioFile(
    ref,
    path.join(PROJECT_ROOT, 'experiments/fidelity.yaml'),
    path.join(PROJECT_ROOT, 'scenarios'),
  );
  const raw = readYamlFile(file) ?? {};
  const base = validate(scenarioSchema, raw, displayPath(file));
  if (intervalText === undefined || threshold === undefined)
    return { ...base, name: base.name ?? path.basename(file).replace(/\.ya?ml$/, '') };
  const merged = deepMerge(raw, { flagger: { interval: intervalText, threshold }, recovery: { cleanWindowS: 10 } });
  const scenario = validate(
    scenarioSchema,
    merged,
    `${displayPath(file)} (with --interval ${intervalText} --threshold ${threshold})`,
  );
  return { ...scenario, name: base.name ?? path.basename(file).replace(/\.ya?ml$/, '') };
}

export async function main(
  argv: string[],
  io: { stdout: Writable; stderr: Writable; signal: AbortSignal; cwd: string },
): Promise<number> {
  const logger = createLogger(io.stdout, io.stderr);
  try {
    const { values } = parseOptions(
      argv,
      {
        reps: { type: 'string' },
        scenario: { type: 'string', default: 'faulty-500' },
        interval: { type: 'string' },
        threshold: { type: 'string' },
        'model-time-scale': { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        all: { type: 'boolean', default: false },
        scenarios: { type: 'string' },
        concurrency: { type: 'string' },
        'model-concurrency': { type: 'string' },
        resume: { type: 'string' },
        markdown: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      false,
    );
    if (values.help) {
      io.stdout.write(`${FIDELITY_HELP}\n`);
      return 0;
    }
    if (values.markdown !== undefined) {
      const csv = path.join(path.resolve(io.cwd, values.markdown), RUNS_CSV);
      if (!existsSync(csv))
        throw new UsageError(`--markdown: ${displayPath(csv, io.cwd)} does not exist; name a fidelity --all folder`);
      io.stdout.write(`${fidelityFindingsMarkdown(readFidelityRunsCsv(csv))}\n`);
      return 0;
    }
    if (values.all || values.scenarios !== undefined || values.resume !== undefined)
      return await mainAll(values, io, logger);
    const reps = integerOption('--reps', values.reps, 1, 50) ?? 3;
    const threshold = integerOption('--threshold', values.threshold, 1, 20) ?? 2;
    const seed = integerOption('--seed', values.seed, 0, 2 ** 32 - 1) ?? 1;
    const timeScale =
      numberOption(
        '--model-time-scale',
        values['model-time-scale'],
        (x) => x >= 1 && x <= 50,
        'a number from 1 to 50',
      ) ?? 1;
    const intervalText = values.interval ?? '10s';
    const intervalMs = parseDurationMs(intervalText);
    if (intervalMs === undefined || intervalMs < 10_000)
      throw new UsageError(
        `--interval: "${intervalText}" is not a duration of at least 10s (Flagger's minimum), e.g. 10s or 30s`,
      );
    const scenario = loadFidelityScenario(values.scenario!, intervalText, threshold);
    const tools = resolveTools();
    const out = path.resolve(io.cwd, values.out ?? path.join(PROJECT_ROOT, 'reports', `fidelity-${folderTimestamp()}`));
    if (existsSync(out) && readdirSync(out).length > 0)
      throw new UsageError(`--out: ${displayPath(out, io.cwd)} already exists and is not empty; pass a new folder`);
    mkdirSync(out, { recursive: true });
    const versions = toolVersions();
    const started = new Date();
    const t0 = performance.now();
    logger.info(
      `Fidelity: ${scenario.name} (interval ${intervalMs / 1000} s, threshold ${threshold}), ${reps} release${reps === 1 ? '' : 's'} on the real Flagger, then ${reps} on the model; writing ${displayPath(out, io.cwd)}/`,
    );

    let real: Awaited<ReturnType<typeof runOnRealFlagger>>;
    {
      const stateDir = path.join(out, 'cluster');
      await using cluster = await startLocalCluster({
        stateDir,
        logger,
        signal: io.signal,
        env: { ...process.env, CANARY_MTTR_TOOLS_DIR: tools.toolsDir },
      });
      logger.info(
        `Local control plane up in ${(cluster.startupMs / 1000).toFixed(1)} s (${(cluster.memory().totalBytes / 1024 ** 3).toFixed(2)} GB resident); logs in ${displayPath(cluster.logsDir, io.cwd)}/`,
      );
      real = await runOnRealFlagger({ cluster, scenario, reps, logger, signal: io.signal, seed });
    }
    const model = await runOnModel({
      scenario,
      reps,
      timeScale,
      seed,
      outDir: path.join(out, 'model'),
      logger,
      signal: io.signal,
    });
    for (const run of model) {
      logger.info(
        `model         r${run.rep}: ${run.outcome}; release → New revision ${fmt(run.newRevisionS)}, → first Halt ${fmt(run.detectS)}, → Rolling back ${fmt(run.rollbackS)}`,
      );
    }
    const wallS = (performance.now() - t0) / 1000;
    const settings = {
      intervalS: intervalMs / 1000,
      threshold,
      maxWeight: scenario.flagger.maxWeight,
      stepWeight: scenario.flagger.stepWeight,
      smokeTest: scenario.flagger.smokeTest,
      rateRps: scenario.load.rateRps,
      warmupS: scenario.warmup.durationS,
    };
    const notes = fidelityNotes(real, model);
    const markdown = renderFidelityMarkdown({
      scenarioName: scenario.name,
      settings,
      real,
      model,
      modelTimeScale: timeScale,
      versions,
      startedAt: started.toISOString(),
      wallS,
      notes,
    });
    writeFileAtomic(path.join(out, 'fidelity.md'), markdown);
    const verdict = compareArms(summarize(real), summarize(model), settings.intervalS);
    writeFileAtomic(
      path.join(out, 'fidelity.json'),
      `${JSON.stringify({ scenario: scenario.name, settings, versions, real, model, summary: { real: summarize(real), model: summarize(model) }, verdict }, null, 2)}\n`,
    );
    const r = summarize(real);
    const m = summarize(model);
    logger.info(
      `Median release → detect: real ${fmt(r.medianDetectS)}, model ${fmt(m.medianDetectS)}; release → rollback: real ${fmt(r.medianRollbackS)}, model ${fmt(m.medianRollbackS)} ` +
        `(model − real ${verdict.rollbackDiffS === undefined ? '—' : `${verdict.rollbackDiffS.toFixed(1)} s`}): ${verdict.withinOneInterval ? 'within' : 'NOT within'} one analysis interval (${settings.intervalS} s).`,
    );
    logger.info(`Report: ${displayPath(path.join(out, 'fidelity.md'), io.cwd)}`);
    return 0;
  } catch (err) {
    return exitCodeOf(err, io.signal, io.stderr);
  }
}

function fmt(s: number | undefined): string {
  return s === undefined ? '—' : `${s.toFixed(1)} s`;
}

/** The settings of a --all run, kept in its folder so --resume continues it as it was planned. */
interface AllPlan {
  scenarios: string[];
  reps: number;
  seed: number;
  modelTimeScale: number;
}

const PLAN_JSON = 'plan.json';

function readPlan(dir: string, cwd: string): AllPlan {
  const file = path.join(dir, PLAN_JSON);
  if (!existsSync(file))
    throw new UsageError(`--resume: ${displayPath(file, cwd)} does not exist; name the folder of an earlier --all run`);
  let plan: Partial<AllPlan>;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8')) as Partial<AllPlan>;
  } catch {
    throw new ConfigError(`${displayPath(file, cwd)}: not JSON; restore it or start a new run with --out`);
  }
  const ok =
    Array.isArray(plan.scenarios) &&
    plan.scenarios.every((s) => typeof s === 'string') &&
    Number.isInteger(plan.reps) &&
    Number.isInteger(plan.seed) &&
    typeof plan.modelTimeScale === 'number';
  if (!ok)
    throw new ConfigError(
      `${displayPath(file, cwd)}: needs scenarios (names), reps, seed and modelTimeScale; restore it or start a new run with --out`,
    );
  return plan as AllPlan;
}

/** The catalogue's scenario names: scenarios/*.yaml, sorted. */
function catalogueNames(): string[] {
  return readdirSync(path.join(PROJECT_ROOT, 'scenarios'))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => f.replace(/\.ya?ml$/, ''))
    .sort();
}

async function mainAll(
  values: Record<string, string | boolean | undefined>,
  io: { stdout: Writable; stderr: Writable; signal: AbortSignal; cwd: string },
  logger: ReturnType<typeof createLogger>,
): Promise<number> {
  const str = (k: string) => values[k] as string | undefined;
  for (const flag of ['interval', 'threshold', 'scenario'] as const)
    if (str(flag) !== undefined && !(flag === 'scenario' && str(flag) === 'faulty-500'))
      throw new UsageError(`--${flag}: not with --all, which runs each scenario as its file says; drop it`);
  const concurrency = integerOption('--concurrency', str('concurrency'), 1, 32) ?? ALL_CONCURRENCY;
  let plan: AllPlan;
  let out: string;
  const resume = str('resume');
  if (resume !== undefined) {
    if (str('out') !== undefined)
      throw new UsageError('--out: not with --resume, which writes into the resumed folder');
    out = path.resolve(io.cwd, resume);
    plan = readPlan(out, io.cwd);
  } else {
    const known = catalogueNames();
    const picked =
      str('scenarios')
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '') ?? known;
    for (const name of picked)
      if (!known.includes(name))
        throw new UsageError(`--scenarios: "${name}" is not in scenarios/; use some of ${known.join(', ')}`);
    plan = {
      scenarios: picked,
      reps: integerOption('--reps', str('reps'), 1, 100) ?? ALL_REPS,
      seed: integerOption('--seed', str('seed'), 0, 2 ** 32 - 1) ?? 1,
      modelTimeScale:
        numberOption(
          '--model-time-scale',
          str('model-time-scale'),
          (x) => x >= 1 && x <= 50,
          'a number from 1 to 50',
        ) ?? ALL_MODEL_TIME_SCALE,
    };
    out = path.resolve(io.cwd, str('out') ?? path.join(PROJECT_ROOT, 'reports', `fidelity-all-${folderTimestamp()}`));
    if (existsSync(out) && readdirSync(out).length > 0)
      throw new UsageError(
        `--out: ${displayPath(out, io.cwd)} already exists and is not empty; pass a new folder, or --resume it`,
      );
  }
  const scenarios = plan.scenarios.map((name) => loadFidelityScenario(name));
  const modelConcurrency =
    integerOption('--model-concurrency', str('model-concurrency'), 1, 32) ??
    defaultConcurrency({ platform: 'local', timeScale: plan.modelTimeScale, plannedRuns: plan.reps }).concurrency;
  const tools = resolveTools();
  mkdirSync(out, { recursive: true });
  if (resume === undefined) writeFileAtomic(path.join(out, PLAN_JSON), `${JSON.stringify(plan, null, 2)}\n`);
  const estimate = estimateCatalogueS({
    scenarios,
    reps: plan.reps,
    concurrency,
    modelTimeScale: plan.modelTimeScale,
    modelConcurrency,
  });
  logger.info(
    `Fidelity --all: ${scenarios.length} scenarios, ${plan.reps} releases each (partial-0.5pct ${repsFor('partial-0.5pct', plan.reps)}) per side; ` +
      `the real side ${concurrency} at once, the model at ${plan.modelTimeScale}× ${modelConcurrency} at once. ` +
      `Estimated wall time ${Math.round((estimate.realS + estimate.modelS) / 60)} min (real ${Math.round(estimate.realS / 60)}, model ${Math.round(estimate.modelS / 60)}) if this run starts from nothing; writing ${displayPath(out, io.cwd)}/`,
  );
  await runCatalogue({
    scenarios,
    reps: plan.reps,
    concurrency,
    modelTimeScale: plan.modelTimeScale,
    modelConcurrency,
    seed: plan.seed,
    out,
    logger,
    signal: io.signal,
    versions: toolVersions(),
    startCluster: async (scrapeIntervalS, stateDir) => {
      const cluster = await startLocalCluster({
        stateDir,
        logger,
        signal: io.signal,
        scrapeIntervalS,
        env: { ...process.env, CANARY_MTTR_TOOLS_DIR: tools.toolsDir },
      });
      logger.info(
        `Local control plane up in ${(cluster.startupMs / 1000).toFixed(1)} s; logs in ${displayPath(cluster.logsDir, io.cwd)}/`,
      );
      return cluster;
    },
  });
  logger.info(`Report: ${displayPath(path.join(out, FIDELITY_MD), io.cwd)} (data: ${RUNS_CSV})`);
  return 0;
}

/** Flagger's and Kubernetes' versions as tools:install recorded them. */
function toolVersions(): { flagger: string; kubernetes: string } {
  const toolsEnv = existsSync(path.join(toolsCacheDir(), 'tools.env'))
    ? parseToolsEnv(readFileSync(path.join(toolsCacheDir(), 'tools.env'), 'utf8'))
    : {};
  return {
    flagger: process.env.CANARY_MTTR_FLAGGER_VERSION ?? toolsEnv.CANARY_MTTR_FLAGGER_VERSION ?? '?',
    kubernetes: process.env.CANARY_MTTR_KUBERNETES_VERSION ?? toolsEnv.CANARY_MTTR_KUBERNETES_VERSION ?? '?',
  };
}

await runAsEntry(
  import.meta.url,
  (name) => `\n${name}: stopping and cleaning up (again to exit at once)\n`,
  (argv, signal) => main(argv, { stdout: process.stdout, stderr: process.stderr, signal, cwd: process.cwd() }),
);
