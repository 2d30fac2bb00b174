import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { LoadSummary } from '../load/builtin-generator.ts';
import type { Scenario } from '../scenario/schema.ts';
import type { RunMetrics, TimelineEntry } from '../timeline/types.ts';

export const JOURNAL_FILE = 'journal.jsonl';

/** First line of a journal: what was planned, with every setting needed to re-render the report. */
export interface ExperimentHeader {
  type: 'experiment';
  name: string;
  file: string;
  description: string;
  platform: string;
  timeScale: number;
  seed: number;
  startedAt: string;
  plannedRuns: string[];
  /** The --reps override the plan was expanded with, if any (resume re-plans with it). */
  repetitions?: number;
  /** Scenario of each plan cell (RunEntry.entry), with overrides and sweeps applied, defaults filled in. */
  scenarios: Scenario[];
  /** Sweep label of each plan cell ('' when not swept). */
  sweeps?: string[];
  node: string;
}

/** One finished run. Times in `metrics` and `timeline` are scenario ms from the run's start. */
export interface RunEntry {
  type: 'run';
  runId: string;
  arm: 'manual' | 'flagger';
  scenario: string;
  entry: number;
  /** Swept values of the run's cell, and their label ('' when not swept). */
  sweep?: Record<string, unknown>;
  sweepLabel?: string;
  repetition: number;
  seed: number;
  timeScale: number;
  startedAt: string;
  wallMs: number;
  metrics: RunMetrics;
  timeline: TimelineEntry[];
  /** Relative to the report folder. */
  requestsFile: string;
  load: Omit<LoadSummary, 'sendLag'> & { sendLagP99WallMs: number; generator: string };
  operator?: Record<string, string | number>;
  platform: Record<string, string>;
}

export type JournalLine = ExperimentHeader | RunEntry;

/**
 * Appends one JSON line and forces it to disk before returning, so a run that has ended is
 * journaled even if the harness is killed a moment later.
 */
export function appendJournal(file: string, line: JournalLine): void {
  const fd = openSync(file, 'a');
  try {
    writeSync(fd, `${JSON.stringify(line)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface JournalProblem {
  line: number;
  message: string;
}

export interface ReadJournal {
  header: ExperimentHeader | undefined;
  runs: RunEntry[];
  problems: JournalProblem[];
}

/** Reads a journal, keeping every valid line and naming each line that is not (torn or edited). */
export function readJournal(file: string): ReadJournal {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const out: ReadJournal = { header: undefined, runs: [], problems: [] };
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      const torn = i === lines.length - 1 && !text.endsWith('\n');
      out.problems.push({ line: i + 1, message: torn ? 'incomplete last line (the harness stopped while writing it)' : 'not valid JSON' });
      return;
    }
    const type = (parsed as { type?: unknown })?.type;
    if (type === 'experiment' && !out.header) out.header = withIntervalMs(parsed as ExperimentHeader);
    else if (type === 'run' && typeof (parsed as RunEntry).runId === 'string' && (parsed as RunEntry).metrics) out.runs.push(parsed as RunEntry);
    else out.problems.push({ line: i + 1, message: `unexpected entry (type ${JSON.stringify(type)})` });
  });
  return out;
}

/**
 * Journals written before the parsed Flagger intervals were named `intervalMs` kept them under
 * `interval` (milliseconds too); renaming them on read lets `npm run report` re-render those folders.
 */
function withIntervalMs(header: ExperimentHeader): ExperimentHeader {
  const rename = (o: unknown): unknown => {
    if (o === null || typeof o !== 'object' || !('interval' in o) || 'intervalMs' in o) return o;
    const { interval, ...rest } = o as Record<string, unknown>;
    return { intervalMs: interval, ...rest };
  };
  if (!Array.isArray(header.scenarios)) return header;
  const scenarios = header.scenarios.map((s) => {
    const f = rename(s.flagger) as Record<string, unknown>;
    const checks = { requestSuccessRate: rename(f.requestSuccessRate), requestDuration: rename(f.requestDuration) };
    return { ...s, flagger: { ...f, ...checks } as Scenario['flagger'] };
  });
  return { ...header, scenarios };
}

/**
 * Cuts a torn last line (the harness was killed while writing it) so the next append starts on a
 * line of its own. Returns whether anything was cut; the run on that line is then run again.
 */
export function truncateTornTail(file: string): boolean {
  const text = readFileSync(file);
  if (text.length === 0 || text[text.length - 1] === 0x0a) return false;
  const lastNewline = text.lastIndexOf(0x0a);
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, lastNewline + 1);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}
