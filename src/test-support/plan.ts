import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RunEntry } from '../experiment/journal.ts';

export interface PlanHeader {
  name: string;
  timeScale: number;
  seed?: number;
  repetitions: number;
}

/** Writes an experiment file for a test: the header, then `runs:` and the given YAML lines of its runs. */
export function writePlan(file: string, header: PlanHeader, runs: readonly string[]): string {
  const head = [`name: ${header.name}`, `timeScale: ${header.timeScale}`, ...(header.seed === undefined ? [] : [`seed: ${header.seed}`]), `repetitions: ${header.repetitions}`];
  writeFileSync(file, [...head, 'runs:', ...runs].join('\n'));
  return file;
}

/** The runs a report folder's journal holds, in journal order. */
export function journalRuns(outDir: string): RunEntry[] {
  return readFileSync(path.join(outDir, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string })
    .filter((line): line is RunEntry => line.type === 'run');
}
