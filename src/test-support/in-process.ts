import path from 'node:path';
import { ScaledClock } from '../common/clock.ts';
import type { RunEntry } from '../experiment/journal.ts';
import { planRuns } from '../experiment/plan.ts';
import { runExperiment } from '../experiment/runner.ts';
import type { LoadGenerator } from '../load/builtin-generator.ts';
import { builtinLoad } from '../load/choose.ts';
import { unattendedOperators } from '../operator/create.ts';
import type { Platform } from '../platform/types.ts';
import { loadExperimentFile } from '../scenario/load-files.ts';
import { PROJECT_ROOT } from './cli.ts';

/**
 * Runs an experiment file inside the test's process, as `npm run experiment` runs it (the plan,
 * its time scale, seed and concurrency, runExperiment), on `platform`: quiet, and with nothing on stdin.
 * `wrapLoad` wraps (or replaces) the built-in generator.
 */
export async function runPlanInProcess(
  planFile: string,
  platform: Platform,
  outDir: string,
  extra: { wrapLoad?: (generator: LoadGenerator) => LoadGenerator } = {},
): Promise<RunEntry[]> {
  const loaded = loadExperimentFile(planFile, path.join(PROJECT_ROOT, 'scenarios'));
  const load = builtinLoad();
  return runExperiment({
    loaded,
    plan: planRuns(loaded, {}),
    platform,
    clock: new ScaledClock(loaded.experiment.timeScale),
    load: { ...load, generator: extra.wrapLoad?.(load.generator) ?? load.generator },
    operators: unattendedOperators(),
    outDir,
    seed: loaded.experiment.seed,
    concurrency: loaded.experiment.concurrency,
    logger: { info: () => undefined, warn: () => undefined },
    signal: new AbortController().signal,
  });
}
