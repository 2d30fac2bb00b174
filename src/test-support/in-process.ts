import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { RunEntry } from '../experiment/journal.ts';
import { planRuns } from '../experiment/plan.ts';
import { runExperiment, type RunnerOptions } from '../experiment/runner.ts';
import type { Platform } from '../platform/types.ts';
import { loadExperimentFile } from '../scenario/load-files.ts';
import { PROJECT_ROOT } from './cli.ts';

/**
 * Runs an experiment file inside the test's process, as `npm run experiment` runs it (the plan,
 * its time scale and seed, runExperiment), on `platform`: quiet, and with nothing on stdin.
 */
export async function runPlanInProcess(planFile: string, platform: Platform, outDir: string, extra: Pick<RunnerOptions, 'wrapLoad'> = {}): Promise<RunEntry[]> {
  const loaded = loadExperimentFile(planFile, path.join(PROJECT_ROOT, 'scenarios'));
  return runExperiment({
    loaded,
    plan: planRuns(loaded, {}),
    platform,
    outDir,
    timeScale: loaded.experiment.timeScale,
    seed: loaded.experiment.seed,
    logger: { info: () => undefined, warn: () => undefined },
    signal: new AbortController().signal,
    stdin: Readable.from([]),
    stdout: new Writable({ write: (_chunk, _encoding, done) => done() }),
    ...extra,
  });
}
