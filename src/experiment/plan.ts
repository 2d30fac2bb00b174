import { deriveSeed } from '../common/random.ts';
import type { LoadedExperiment } from '../scenario/load-files.ts';
import type { Arm, Scenario } from '../scenario/schema.ts';

/** One planned run: a scenario, an arm and a repetition, with its own seed. */
export interface PlannedRun {
  /** Position in the plan, from 0. */
  index: number;
  runId: string;
  arm: Arm;
  /** Index into the experiment's entries (and LoadedExperiment.scenarios). */
  entry: number;
  scenario: Scenario;
  /** From 1. */
  repetition: number;
  seed: number;
}

/**
 * Expands entries × arms × repetitions. Interleaved order runs repetition k of every entry and arm
 * before repetition k + 1, so slow drift of the machine hits both arms alike.
 */
export function planRuns(loaded: LoadedExperiment, options: { seed?: number; repetitions?: number } = {}): PlannedRun[] {
  const { experiment, scenarios } = loaded;
  const seed = options.seed ?? experiment.seed;
  const cells = experiment.runs.flatMap((entry, entryIndex) =>
    entry.arms.map((arm) => ({ arm, entry: entryIndex, reps: options.repetitions ?? entry.repetitions ?? experiment.repetitions })),
  );
  const ordered: Array<{ arm: Arm; entry: number; repetition: number }> = [];
  if (experiment.order === 'blocked') {
    for (const cell of cells) for (let r = 1; r <= cell.reps; r++) ordered.push({ arm: cell.arm, entry: cell.entry, repetition: r });
  } else {
    const most = Math.max(...cells.map((c) => c.reps));
    for (let r = 1; r <= most; r++) for (const cell of cells) if (r <= cell.reps) ordered.push({ arm: cell.arm, entry: cell.entry, repetition: r });
  }
  const width = String(Math.max(...cells.map((c) => c.reps))).length;
  const seen = new Set<string>();
  return ordered.map((item, index) => {
    const scenario = scenarios[item.entry]!;
    let runId = `${scenario.name}-${item.arm}-r${String(item.repetition).padStart(width, '0')}`;
    // Two entries may run the same scenario with different overrides.
    if (seen.has(runId)) runId = `${scenario.name}-e${item.entry}-${item.arm}-r${String(item.repetition).padStart(width, '0')}`;
    seen.add(runId);
    return { index, runId, arm: item.arm, entry: item.entry, scenario, repetition: item.repetition, seed: deriveSeed(seed, runId) };
  });
}
