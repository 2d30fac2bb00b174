import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, statSync } from 'node:fs';
import { writeFully } from '../common/files.ts';
import { z } from 'zod';
import { ConfigError } from '../common/errors.ts';
import type { LoadSummary } from '../load/builtin-generator.ts';
import { displayPath, validate } from '../scenario/load-files.ts';
import { Arms, experimentSchema, scenarioSchema, type Scenario } from '../scenario/schema.ts';
import { ManualActions, type Mark, Marks, Outcomes, type RunMetrics, type TimelineEntry } from '../timeline/types.ts';

export const JOURNAL_FILE = 'journal.jsonl';

/** First line of a journal: what was planned, with every setting needed to re-render the report. */
export interface ExperimentHeader {
  type: 'experiment';
  /**
   * Unique id of this experiment (docs/design.md §10): names and labels what it creates on a
   * platform, and is kept across --resume. Journals older than it have none.
   */
  id?: string;
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
  /** Slots the experiment started with, and why that many (docs/design.md §10); absent before concurrency. */
  concurrency?: number;
  concurrencyReason?: string;
}

/** Where a run ran and how late the harness was while it ran (docs/design.md §10). */
export interface RunHarness {
  /** The slot, from 1. */
  slot: number;
  /** The runner's concurrency when the run started (it can be lowered on the way). */
  concurrency: number;
  loopLagP99WallMs: number;
  loopLagMaxWallMs: number;
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
  load: Omit<LoadSummary, 'sendLag'> & { sendLagP99WallMs: number; sendLagMaxWallMs?: number; generator: string };
  /** Absent in journals written before concurrency. */
  harness?: RunHarness;
  operator?: Record<string, string | number>;
  platform: Record<string, string>;
}

export type JournalLine = ExperimentHeader | RunEntry;

/*
 * A journal is input like a plan: `npm run report` and `--resume` read one that may have been
 * edited, damaged or handed over. Its header and runs are checked with the plan's own schemas
 * where the plan has them (time scale, seed, repetitions, scenarios), so a value the plan would
 * refuse is refused here too, with the same one-line message, before it reaches arithmetic or HTML.
 * Objects are loose: a field this version does not know is kept, not refused.
 */

/**
 * Flagger intervals, which a header keeps parsed (milliseconds, as `intervalMs`; journals written
 * before that name was introduced say `interval`) but a scenario file writes as text ("30s"). They
 * are turned back into text so the scenario file's own schema checks them and names them again.
 * The round trip of every shipped experiment is tested, so a duration field added to the scenario
 * schema and missing here fails that test.
 */
const MS_INTERVAL_OBJECTS = [['flagger'], ['flagger', 'requestSuccessRate'], ['flagger', 'requestDuration']] as const;

function durationsAsText(scenario: unknown): unknown {
  if (scenario === null || typeof scenario !== 'object') return scenario;
  const copy = structuredClone(scenario) as Record<string, unknown>;
  for (const parts of MS_INTERVAL_OBJECTS) {
    let node: unknown = copy;
    for (const part of parts) {
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
    }
    if (node === null || typeof node !== 'object') continue;
    const o = node as Record<string, unknown>;
    const ms = 'intervalMs' in o ? o.intervalMs : o.interval;
    if (typeof ms !== 'number') continue;
    delete o.intervalMs;
    o.interval = `${ms}ms`;
  }
  return copy;
}

const headerScenarioSchema = z.preprocess(durationsAsText, scenarioSchema.required({ name: true }));
const runIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,300}$/, 'must be letters, digits, dots, dashes or underscores');
const text = (max: number) => z.string().max(max);
const finite = z.number().finite();
const count = z.number().int().nonnegative();

export const experimentHeaderSchema = z.looseObject({
  type: z.literal('experiment'),
  id: z
    .string()
    .regex(/^[a-z0-9]{4,12}$/, 'must be 4 to 12 lowercase letters or digits')
    .optional(),
  name: experimentSchema.shape.name.unwrap(),
  file: text(4096).min(1),
  description: text(2_000),
  platform: z.string().regex(/^[a-z0-9-]{1,40}$/, 'must be a platform name'),
  timeScale: experimentSchema.shape.timeScale.unwrap(),
  seed: experimentSchema.shape.seed.unwrap(),
  startedAt: text(64),
  plannedRuns: z.array(runIdSchema),
  repetitions: experimentSchema.shape.repetitions.unwrap().optional(),
  scenarios: z.array(headerScenarioSchema).min(1),
  sweeps: z.array(text(500)).optional(),
  node: text(64),
  concurrency: count.min(1).optional(),
  concurrencyReason: text(1_000).optional(),
});

const timelineEntrySchema = z.looseObject({
  atMs: finite,
  kind: z.enum(Object.values(Marks) as [Mark, ...Mark[]]),
  detail: text(10_000).optional(),
  canaryWeight: finite.optional(),
  phase: text(100).optional(),
  failedChecks: finite.optional(),
  objectTime: text(64).optional(),
  action: z.enum(ManualActions).optional(),
  busyMs: finite.nonnegative().optional(),
  editError: z.boolean().optional(),
});

const runMetricsSchema = z.looseObject({
  outcome: z.enum(Outcomes),
  releaseMs: finite,
  impactMs: finite.optional(),
  detectMs: finite.optional(),
  mitigateMs: finite.optional(),
  recoverMs: finite.optional(),
  promotedMs: finite.optional(),
  endMs: finite,
  mttrS: finite.optional(),
  ttrReleaseS: finite.optional(),
  ttdS: finite.optional(),
  ttmS: finite.optional(),
  failedRequests: count,
  slowRequests: count.optional(),
  badRequests: count.optional(),
  totalRequests: count,
  peakErrorRate: finite.min(0).max(1),
  censoredAtS: finite.optional(),
  abortReason: text(10_000).optional(),
});

export const runEntrySchema = z.looseObject({
  type: z.literal('run'),
  runId: runIdSchema,
  arm: z.enum(Arms),
  scenario: text(200),
  entry: count,
  sweep: z.record(z.string(), z.unknown()).optional(),
  sweepLabel: text(500).optional(),
  repetition: count.min(1),
  seed: count,
  timeScale: experimentSchema.shape.timeScale.unwrap(),
  startedAt: text(64),
  wallMs: finite.nonnegative(),
  metrics: runMetricsSchema,
  timeline: z.array(timelineEntrySchema),
  // A report opens this file and links it: it must stay inside the folder's requests/.
  requestsFile: z
    .string()
    .regex(
      /^requests\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,300}\.csv$/,
      "must name a .csv file in the report's requests/ folder",
    ),
  load: z.looseObject({
    scheduled: count,
    sent: count,
    completed: count,
    failed: count,
    timedOut: count,
    errored: count,
    dropped: count,
    recorded: count,
    maxInFlightSeen: count,
    achievedRps: finite,
    scenarioDurationMs: finite,
    wallDurationMs: finite,
    sendLagP99WallMs: finite,
    sendLagMaxWallMs: finite.optional(),
    generator: text(200),
  }),
  harness: z
    .looseObject({
      slot: count.min(1),
      concurrency: count.min(1),
      loopLagP99WallMs: finite.nonnegative(),
      loopLagMaxWallMs: finite.nonnegative(),
    })
    .optional(),
  operator: z.record(z.string(), z.union([text(2_000), finite])).optional(),
  platform: z.record(z.string(), text(2_000)),
});

/**
 * Appends one JSON line and forces it to disk before returning, so a run that has ended is
 * journaled even if the harness is killed a moment later.
 */
export function appendJournal(file: string, line: JournalLine): void {
  const fd = openSync(file, 'a');
  let start: number | undefined;
  try {
    start = fstatSync(fd).size;
    writeFully(fd, Buffer.from(`${JSON.stringify(line)}\n`));
    fsyncSync(fd);
  } catch (err) {
    // A full disk can take part of the line: cut it back to where it began, so the journal ends
    // on a whole line and still parses (the run is lost, the runs before it are not).
    if (start !== undefined) {
      try {
        ftruncateSync(fd, start);
        fsyncSync(fd);
      } catch {
        // Nothing more can be done; resume cuts a torn last line too.
      }
    }
    throw Object.assign(err as NodeJS.ErrnoException, { path: (err as NodeJS.ErrnoException).path ?? file });
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

function readJournalText(file: string): Buffer {
  // A FIFO or a device in its place would block the read, or never end it.
  if (!statSync(file).isFile()) {
    throw new ConfigError(
      `${displayPath(file)}: not a regular file; a journal is a file written by npm run experiment`,
    );
  }
  return readFileSync(file);
}

/**
 * Reads a journal, keeping every valid line and naming each line that is not JSON (torn by a kill,
 * or damaged). A header or run that is JSON but breaks its schema was edited: that is refused with
 * one ConfigError line naming the line, field and value.
 */
export function readJournal(file: string): ReadJournal {
  const shown = displayPath(file);
  const text = readJournalText(file).toString('utf8');
  const lines = text.split('\n');
  const out: ReadJournal = { header: undefined, runs: [], problems: [] };
  const runs: Array<{ line: number; run: RunEntry }> = [];
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      const torn = i === lines.length - 1 && !text.endsWith('\n');
      out.problems.push({
        line: i + 1,
        message: torn ? 'incomplete last line (the harness stopped while writing it)' : 'not valid JSON',
      });
      return;
    }
    const type = (parsed as { type?: unknown })?.type;
    const where = `${shown}:${i + 1}`;
    if (type === 'experiment' && !out.header) {
      out.header = validate(experimentHeaderSchema, parsed, where) as ExperimentHeader;
    } else if (type === 'run') runs.push({ line: i + 1, run: validate(runEntrySchema, parsed, where) });
    else out.problems.push({ line: i + 1, message: `unexpected entry (type ${JSON.stringify(type)})` });
  });
  const scenarios = out.header?.scenarios.length;
  out.runs = runs.map(({ line, run }) => {
    if (scenarios !== undefined && run.entry >= scenarios) {
      throw new ConfigError(
        `${shown}:${line}: entry: ${run.entry} is not a plan cell of the header (it lists ${scenarios}); the journal was edited`,
      );
    }
    return run;
  });
  return out;
}

/**
 * Cuts a torn last line (the harness was killed while writing it) so the next append starts on a
 * line of its own. Returns whether anything was cut; the run on that line is then run again.
 */
export function truncateTornTail(file: string): boolean {
  const text = readJournalText(file);
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
