import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadExperimentFile } from '../scenario/load-files.ts';
import { PROJECT_ROOT } from '../test-support/cli.ts';
import { type ExperimentHeader, experimentHeaderSchema, readJournal } from './journal.ts';

const EXPERIMENTS = path.join(PROJECT_ROOT, 'experiments');

/** The header `npm run experiment` writes for a shipped plan, as JSON (parsed scenarios, intervals in ms). */
function headerOf(file: string): ExperimentHeader {
  const loaded = loadExperimentFile(path.join(EXPERIMENTS, file), path.join(PROJECT_ROOT, 'scenarios'));
  const header: ExperimentHeader = {
    type: 'experiment',
    name: loaded.experiment.name,
    file: loaded.file,
    description: loaded.experiment.description,
    platform: 'local',
    timeScale: loaded.experiment.timeScale,
    seed: loaded.experiment.seed,
    startedAt: new Date(0).toISOString(),
    plannedRuns: [],
    scenarios: loaded.cells.map((c) => c.scenario),
    sweeps: loaded.cells.map((c) => c.sweepLabel),
    node: process.version,
  };
  return JSON.parse(JSON.stringify(header));
}

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function journalWith(header: object): string {
  dir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-journal-'));
  const file = path.join(dir, 'journal.jsonl');
  writeFileSync(file, `${JSON.stringify(header)}\n`);
  return file;
}

describe('the journal header schema', () => {
  // The header keeps parsed scenarios (durations in ms); it is checked with the scenario file's own
  // schema, which reads durations as text. Every shipped plan must survive the round trip, so a
  // duration field the header check does not know about fails here rather than on a user's report.
  for (const file of readdirSync(EXPERIMENTS).filter((f) => f.endsWith('.yaml'))) {
    it(`accepts the header of ${file} as written, scenarios unchanged`, () => {
      const asWritten = headerOf(file);
      expect(experimentHeaderSchema.parse(asWritten)).toEqual(asWritten);
    });
  }
});

describe('readJournal', () => {
  it('reads the Flagger intervals of a journal written before they were named intervalMs', () => {
    const current = headerOf('quick.yaml');
    const old = JSON.parse(JSON.stringify(current).replaceAll('"intervalMs":', '"interval":'));
    expect(JSON.stringify(old)).not.toContain('intervalMs');
    const { header } = readJournal(journalWith(old));
    expect(header!.scenarios[0]!.flagger).toEqual(current.scenarios[0]!.flagger);
    expect(header!.scenarios[0]!.flagger.intervalMs).toBe(10_000);
  });

  it('leaves a current journal as it was written', () => {
    const current = headerOf('quick.yaml');
    expect(readJournal(journalWith(current)).header).toEqual(current);
  });
});
