import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadExperimentFile } from '../scenario/load-files.ts';
import { PROJECT_ROOT } from '../test-support/cli.ts';
import { type ExperimentHeader, experimentHeaderSchema } from './journal.ts';

const EXPERIMENTS = path.join(PROJECT_ROOT, 'experiments');

describe('the journal header schema', () => {
  // The header keeps parsed scenarios (durations in ms); it is checked with the scenario file's own
  // schema, which reads durations as text. Every shipped plan must survive the round trip, so a
  // duration field the header check does not know about fails here rather than on a user's report.
  for (const file of readdirSync(EXPERIMENTS).filter((f) => f.endsWith('.yaml'))) {
    it(`accepts the header of ${file} as written, scenarios unchanged`, () => {
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
      const asWritten = JSON.parse(JSON.stringify(header));
      expect(experimentHeaderSchema.parse(asWritten)).toEqual(asWritten);
    });
  }
});
