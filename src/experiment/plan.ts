import { randomBytes } from 'node:crypto';
import { deriveSeed } from '../common/random.ts';
import type { LoadedExperiment } from '../scenario/load-files.ts';
import type { Arm, Scenario } from '../scenario/schema.ts';

/** One planned run: a scenario, an arm and a repetition, with its own seed. */
export interface PlannedRun {
  /** Position in the plan, from 0. */
  index: number;
  runId: string;
  arm: Arm;
  /** Index into LoadedExperiment.cells (and the journal header's scenarios). */
  entry: number;
  scenario: Scenario;
  /** Swept values of this cell and their label ('' when not swept). */
  sweep?: Record<string, unknown>;
  sweepLabel: string;
  /** From 1. */
  repetition: number;
  seed: number;
}

/**
 * Expands entries × arms × repetitions. Interleaved order runs repetition k of every entry and arm
 * before repetition k + 1, so slow drift of the machine hits both arms alike.
 */
export function planRuns(
  loaded: LoadedExperiment,
  options: { seed?: number; repetitions?: number } = {},
): PlannedRun[] {
  const { experiment } = loaded;
  const seed = options.seed ?? experiment.seed;
  const cells = loaded.cells.flatMap((cell, cellIndex) =>
    cell.arms.map((arm) => ({
      arm,
      entry: cellIndex,
      reps: options.repetitions ?? cell.repetitions ?? experiment.repetitions,
    })),
  );
  const ordered: Array<{ arm: Arm; entry: number; repetition: number }> = [];
  if (experiment.order === 'blocked') {
    for (const cell of cells)
      for (let r = 1; r <= cell.reps; r++) ordered.push({ arm: cell.arm, entry: cell.entry, repetition: r });
  } else {
    const most = Math.max(...cells.map((c) => c.reps));
    for (let r = 1; r <= most; r++)
      for (const cell of cells) if (r <= cell.reps) ordered.push({ arm: cell.arm, entry: cell.entry, repetition: r });
  }
  const width = String(Math.max(...cells.map((c) => c.reps))).length;
  const seen = new Set<string>();
  return ordered.map((item, index) => {
    const cell = loaded.cells[item.entry]!;
    const scenario = cell.scenario;
    const slug = cell.sweepLabel ? `-${cell.sweepLabel.replace(/[^A-Za-z0-9.]+/g, '-').replace(/-+$/, '')}` : '';
    const rep = `r${String(item.repetition).padStart(width, '0')}`;
    let runId = `${scenario.name}${slug}-${item.arm}-${rep}`;
    // Two entries may run the same scenario with different overrides.
    if (seen.has(runId)) runId = `${scenario.name}${slug}-e${item.entry}-${item.arm}-${rep}`;
    seen.add(runId);
    return {
      index,
      runId,
      arm: item.arm,
      entry: item.entry,
      scenario,
      sweep: cell.sweep,
      sweepLabel: cell.sweepLabel,
      repetition: item.repetition,
      seed: deriveSeed(seed, runId),
    };
  });
}

/**
 * A new experiment id: 8 lowercase base-36 characters, short enough for namespace names
 * (`canary-mttr-<id>-flagger-2`) and random, so two experiments started at once never share one.
 */
export function newExperimentId(): string {
  const n = randomBytes(6).readUIntBE(0, 6);
  return n.toString(36).padStart(8, '0').slice(-8);
}
