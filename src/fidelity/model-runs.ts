import { ScaledClock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { planRuns } from '../experiment/plan.ts';
import { runExperiment } from '../experiment/runner.ts';
import { builtinLoad } from '../load/choose.ts';
import { unattendedOperators } from '../operator/create.ts';
import { LocalPlatform } from '../platform/local/local-platform.ts';
import type { LoadedExperiment } from '../scenario/load-files.ts';
import { experimentSchema, type Scenario } from '../scenario/schema.ts';
import { Marks } from '../timeline/compute.ts';
import type { FidelityRun } from './types.ts';

/**
 * The same scenario on the local platform's Flagger model (src/flagger-model), through the
 * experiment runner exactly as `npm run experiment` runs it: a plan of one cell, the flagger arm,
 * `reps` repetitions, journaled into `outDir`.
 */
export async function runOnModel(options: {
  scenario: Scenario;
  reps: number;
  timeScale: number;
  seed: number;
  outDir: string;
  logger: Logger;
  signal: AbortSignal;
  /** Runs at once (docs/design.md §10); 1 when not given. */
  concurrency?: number;
}): Promise<FidelityRun[]> {
  const { scenario, reps, timeScale, seed, outDir, logger, signal } = options;
  const parsed = experimentSchema.parse({
    name: 'fidelity-model',
    description: `${scenario.name} on the Flagger model, for comparison with the real Flagger`,
    timeScale,
    seed,
    repetitions: reps,
    runs: [{ scenario: scenario.name, arms: ['flagger'] }],
  });
  const loaded: LoadedExperiment = {
    file: '(fidelity: in-memory plan)',
    experiment: { ...parsed, name: 'fidelity-model' },
    cells: [{ entry: 0, arms: ['flagger'], repetitions: reps, scenario, sweepLabel: '' }],
  };
  const plan = planRuns(loaded, { seed, repetitions: reps });
  await using platform = new LocalPlatform({ timeScale, experiment: 'fidelity-model' });
  const entries = await runExperiment({
    loaded,
    plan,
    platform,
    clock: new ScaledClock(timeScale),
    load: builtinLoad(),
    operators: unattendedOperators(),
    outDir,
    seed,
    logger,
    signal,
    repetitions: reps,
    concurrency: options.concurrency,
  });
  return entries.map((entry): FidelityRun => {
    const m = entry.metrics;
    const release = m.releaseMs;
    const event = (prefix: string) =>
      entry.timeline.find(
        (e) => e.kind === Marks.flaggerEvent && e.atMs >= release && (e.detail ?? '').startsWith(prefix),
      );
    const s = (ms: number | undefined) => (ms === undefined ? undefined : (ms - release) / 1000);
    const rollingBack = event('Rolling back');
    return {
      rep: entry.repetition,
      id: entry.runId,
      newRevisionS: s(event('New revision detected')?.atMs),
      detectS: s(m.detectMs),
      rollbackS: s(rollingBack?.atMs ?? m.mitigateMs),
      detectMessage: event('Halt')?.detail,
      outcome: m.outcome === 'rolled_back' ? 'rolled_back' : m.outcome === 'promoted' ? 'promoted' : 'neither',
      failedRequests: m.failedRequests,
      totalRequests: m.totalRequests,
    };
  });
}
