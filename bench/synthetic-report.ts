import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRandom } from '../src/common/random.ts';
import { appendJournal, JOURNAL_FILE, type ExperimentHeader, type RunEntry } from '../src/experiment/journal.ts';
import { writeRequestsFile } from '../src/experiment/requests-file.ts';
import type { RequestRecord } from '../src/load/types.ts';
import { scenarioSchema } from '../src/scenario/schema.ts';
import { computeRunMetrics, Marks } from '../src/timeline/compute.ts';
import type { TimelineEntry } from '../src/timeline/types.ts';

/**
 * Writes a report folder as `npm run experiment` would, without running anything: `runs` runs
 * alternating manual and Flagger, `recordsPerRun` requests each, a faulty canary at 10% between
 * its release and a seeded rollback time. For benchmarks of the report build.
 */
export function writeSyntheticReport(dir: string, runs: number, recordsPerRun: number, seed = 1): void {
  mkdirSync(path.join(dir, 'requests'), { recursive: true });
  const scenario = { ...scenarioSchema.parse({ release: { fault: 'http500' } }), name: 'faulty-500' };
  const header: ExperimentHeader = {
    type: 'experiment',
    name: 'synthetic',
    file: 'synthetic',
    description: `Synthetic: ${runs} runs × ${recordsPerRun} requests.`,
    platform: 'local',
    timeScale: 1,
    seed,
    startedAt: new Date(0).toISOString(),
    plannedRuns: [],
    scenarios: [scenario],
    sweeps: [''],
    node: process.version,
  };
  const random = createRandom(seed);
  const journal = path.join(dir, JOURNAL_FILE);
  const entries: RunEntry[] = [];
  for (let i = 0; i < runs; i++) {
    const arm = i % 2 === 0 ? 'manual' : 'flagger';
    const runId = `faulty-500-${arm}-r${String(Math.floor(i / 2) + 1).padStart(4, '0')}`;
    header.plannedRuns.push(runId);
    const rateRps = 20;
    const releaseMs = 10_000;
    const rollbackMs =
      releaseMs + (arm === 'manual' ? 60_000 + random.next() * 180_000 : 40_000 + random.next() * 10_000);
    const records: RequestRecord[] = new Array(recordsPerRun);
    for (let k = 0; k < recordsPerRun; k++) {
      const sentMs = (k * 1000) / rateRps;
      const canary = sentMs >= releaseMs && sentMs < rollbackMs && random.next() < 0.1;
      const latencyMs = 2 + random.next() * 3;
      records[k] = {
        sentMs,
        doneMs: sentMs + latencyMs,
        latencyMs,
        status: canary ? 500 : 200,
        version: canary ? 'v2' : 'v1',
      };
    }
    const endMs = records[recordsPerRun - 1]!.doneMs;
    const timeline: TimelineEntry[] = [
      { atMs: releaseMs, kind: Marks.release },
      { atMs: releaseMs + 5_000, kind: Marks.routes, canaryWeight: 10 },
      arm === 'manual'
        ? { atMs: rollbackMs - 30_000, kind: Marks.detect }
        : {
            atMs: rollbackMs - 20_000,
            kind: Marks.flaggerEvent,
            detail: 'Halt faulty-500.ns advancement success rate 0.00% < 99%',
            phase: 'Progressing',
          },
      ...(arm === 'manual'
        ? [
            { atMs: rollbackMs, kind: Marks.rollbackIssued },
            { atMs: rollbackMs, kind: Marks.rollbackDone },
          ]
        : [
            {
              atMs: rollbackMs,
              kind: Marks.flaggerEvent,
              detail: 'Rolling back faulty-500.ns failed checks threshold reached 2',
              phase: 'Progressing',
            },
            {
              atMs: rollbackMs,
              kind: Marks.flaggerEvent,
              detail: 'Canary failed! Scaling down faulty-500.ns',
              phase: 'Failed',
            },
          ]),
      { atMs: rollbackMs, kind: Marks.routes, canaryWeight: 0 },
    ];
    const metrics = computeRunMetrics({
      arm,
      releaseMs,
      deadlineMs: releaseMs + 900_000_000,
      endMs,
      releaseVersion: 'v2',
      cleanWindowMs: 30_000,
      latencyLimitMs: 500,
      records,
      timeline,
    });
    const entry: RunEntry = {
      type: 'run',
      runId,
      arm,
      scenario: 'faulty-500',
      entry: 0,
      sweepLabel: '',
      repetition: Math.floor(i / 2) + 1,
      seed: i,
      timeScale: 1,
      startedAt: new Date(0).toISOString(),
      wallMs: 0,
      metrics,
      timeline,
      requestsFile: `requests/${runId}.csv`,
      load: {
        scheduled: recordsPerRun,
        sent: recordsPerRun,
        completed: recordsPerRun,
        failed: metrics.failedRequests,
        timedOut: 0,
        errored: 0,
        dropped: 0,
        recorded: recordsPerRun,
        maxInFlightSeen: 1,
        achievedRps: rateRps,
        scenarioDurationMs: endMs,
        wallDurationMs: endMs,
        sendLagP99WallMs: 0,
        generator: 'synthetic',
      },
      operator: arm === 'manual' ? { kind: 'dashboard', source: 'synthetic' } : undefined,
      platform: { platform: 'local' },
    };
    writeRequestsFile(path.join(dir, entry.requestsFile), records);
    entries.push(entry);
  }
  appendJournal(journal, header);
  for (const e of entries) appendJournal(journal, e);
  writeFileSync(path.join(dir, 'README.txt'), 'Synthetic report folder written by bench/synthetic-report.ts\n');
}
