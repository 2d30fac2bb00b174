import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ExperimentHeader, RunEntry } from '../experiment/journal.ts';

export interface PlanHeader {
  name: string;
  timeScale: number;
  seed?: number;
  repetitions: number;
  /**
   * Runs in flight at once; 1 when not given. The suite already runs test files side by side, so a
   * test runs its plan one run at a time unless concurrency is what it tests.
   */
  concurrency?: number;
}

/**
 * faulty-500 in the Flagger arm with the shortest settings Flagger allows: about 10 s of wall time a
 * run at 30×. 5 req/s of scenario time (150 req/s wall at 30×, not the scenario's 600) so that a
 * busy machine keeps up with the compressed clock.
 */
export const QUICK_FLAGGER_RUNS = [
  '  - scenario: faulty-500',
  '    arms: [flagger]',
  '    overrides:',
  '      { load: { rateRps: 5 }, flagger: { interval: 10s, threshold: 1 }, recovery: { cleanWindowS: 5 }, warmup: { durationS: 5 } }',
] as const;

/** Writes an experiment file for a test: the header, then `runs:` and the given YAML lines of its runs. */
export function writePlan(file: string, header: PlanHeader, runs: readonly string[]): string {
  const head = [
    `name: ${header.name}`,
    `timeScale: ${header.timeScale}`,
    ...(header.seed === undefined ? [] : [`seed: ${header.seed}`]),
    `repetitions: ${header.repetitions}`,
    `concurrency: ${header.concurrency ?? 1}`,
  ];
  writeFileSync(file, [...head, 'runs:', ...runs].join('\n'));
  return file;
}

/** One short faulty-500 run under Flagger (interval 10 s, threshold 1, 5 s warm-up and clean window), at 20×. */
export function writeShortFlaggerPlan(file: string, name: string, repetitions = 1): string {
  return writePlan(file, { name, timeScale: 20, repetitions }, [
    '  - { scenario: faulty-500, arms: [flagger], overrides: { flagger: { interval: 10s, threshold: 1 }, recovery: { cleanWindowS: 5 }, warmup: { durationS: 5 } } }',
  ]);
}

/** The runs a report folder's journal holds, in journal order. */
export function journalRuns(outDir: string): RunEntry[] {
  return readFileSync(path.join(outDir, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string })
    .filter((line): line is RunEntry => line.type === 'run');
}

/** The experiment header of a report folder's journal (its first line): the id, the plan, the seed. */
export function journalHeader(outDir: string): ExperimentHeader {
  const first = readFileSync(path.join(outDir, 'journal.jsonl'), 'utf8').split('\n')[0]!;
  return JSON.parse(first) as ExperimentHeader;
}

/**
 * faulty-500 in both arms with the shortest settings: Flagger at interval 10 s and threshold 1, an
 * attentive dashboard operator (a look every 10 s that always notices), 5 s warm-up and clean
 * window, and 5 req/s of scenario time so that a busy machine keeps up with the compressed clock.
 */
export function writeBothArmsPlan(file: string, header: PlanHeader): string {
  return writePlan(file, header, [
    '  - scenario: faulty-500',
    '    arms: [manual, flagger]',
    '    overrides:',
    '      flagger: { interval: 10s, threshold: 1 }',
    '      manual: { operator: { kind: dashboard, lookIntervalS: 10, pNotice: 1, reaction: { medianS: 5, p90S: 10 } } }',
    '      recovery: { cleanWindowS: 5 }',
    '      warmup: { durationS: 5 }',
    '      load: { rateRps: 5 }',
  ]);
}
