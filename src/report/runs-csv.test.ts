import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEntry } from '../experiment/journal.ts';
import { toMicroseconds, writeRequestsFile } from '../experiment/requests-file.ts';
import type { RequestRecord } from '../load/types.ts';
import { computeRunMetrics, Marks } from '../timeline/compute.ts';
import type { ManualAction } from '../timeline/types.ts';
import { runsCsvRows } from './runs-csv.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'runs-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A journaled run with what runs.csv reads of it. */
function runEntry(arm: 'manual' | 'flagger', timeline: RunEntry['timeline'], metrics?: RunEntry['metrics']): RunEntry {
  return {
    runId: 'r',
    arm,
    scenario: 's',
    repetition: 1,
    seed: 1,
    timeScale: 1,
    platform: {},
    load: { generator: 'builtin' },
    metrics: metrics ?? {
      outcome: 'rolled_back',
      releaseMs: 0,
      endMs: 1,
      failedRequests: 0,
      totalRequests: 0,
      peakErrorRate: 0,
    },
    timeline,
  } as unknown as RunEntry;
}

describe('runs.csv and requests/*.csv', () => {
  it('select the same requests at the release boundary, to the microsecond', () => {
    // The release lands 0.3 ms after one request and 0.2 ms before the next: whole-millisecond
    // rounding of either file would count one of them on the wrong side.
    const releaseMs = toMicroseconds(1000.4567);
    const records: RequestRecord[] = [999.1, 1000.1567, 1000.4567, 1000.6567, 1001.9].map((t) => ({
      sentMs: toMicroseconds(t),
      doneMs: toMicroseconds(t + 3),
      latencyMs: 3,
      status: t > 1000.2 ? 500 : 200,
      version: t > 1000.2 ? 'v2' : 'v1',
    }));
    const metrics = computeRunMetrics({
      arm: 'flagger',
      releaseMs,
      deadlineMs: releaseMs + 60_000,
      endMs: 5_000,
      releaseVersion: 'v2',
      cleanWindowMs: 1_000,
      latencyLimitMs: 500,
      records,
      timeline: [{ atMs: releaseMs, kind: Marks.release }],
    });
    expect(metrics.totalRequests).toBe(3);
    const file = path.join(dir, 'r.csv');
    writeRequestsFile(file, records);
    const row = runsCsvRows('e', [runEntry('flagger', [], metrics)])[0]!;
    const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1);
    const after = lines.filter((l) => Number(l.split(',')[0]) >= Number(row.release_ms));
    expect(after).toHaveLength(Number(row.total_requests));
    expect(after.filter((l) => Number(l.split(',')[3]) >= 500)).toHaveLength(Number(row.failed_requests));
  });

  it('count slow and bad requests as requests/*.csv recomputes them: latency_ms over the SLO, failures apart', () => {
    const records: RequestRecord[] = [
      { latencyMs: 3, status: 200 },
      { latencyMs: 800, status: 200 },
      { latencyMs: 501, status: 201 },
      { latencyMs: 500, status: 200 },
      { latencyMs: 900, status: 503 },
      { latencyMs: 5_000, status: 0 },
    ].map((r, i) => ({ ...r, sentMs: 2_000 + i * 10, doneMs: 2_000 + i * 10 + r.latencyMs, version: 'v2' }));
    const metrics = computeRunMetrics({
      arm: 'manual',
      releaseMs: 1_000,
      deadlineMs: 60_000,
      endMs: 60_000,
      releaseVersion: 'v2',
      cleanWindowMs: 1_000,
      latencyLimitMs: 500,
      records,
      timeline: [{ atMs: 1_000, kind: Marks.release }],
    });
    const file = path.join(dir, 'slow.csv');
    writeRequestsFile(file, records);
    const row = runsCsvRows('e', [runEntry('flagger', [], metrics)])[0]!;
    const fields = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',').map(Number));
    const failed = fields.filter(([, , , status]) => status === 0 || status! >= 500).length;
    const slow = fields.filter(([, , latency, status]) => status !== 0 && status! < 500 && latency! > 500).length;
    expect([row.failed_requests, row.slow_requests, row.bad_requests]).toEqual([failed, slow, failed + slow]);
    expect([failed, slow]).toEqual([2, 2]);
    // A run journaled before the SLO counted failures only: its slow and bad cells stay empty.
    const { slowRequests: _s, badRequests: _b, ...before } = metrics;
    const old = runsCsvRows('e', [runEntry('flagger', [], before)])[0]!;
    expect([old.failed_requests, old.slow_requests, old.bad_requests]).toEqual([2, '', '']);
  });
});

describe("runs.csv's toil columns (docs/design.md §13)", () => {
  const act = (action: ManualAction, busyMs: number) => ({ atMs: 1, kind: Marks.manualAction, action, busyMs });

  it('count the manual actions by kind and add up their busy time', () => {
    const row = runsCsvRows('e', [
      runEntry('manual', [
        act('values-edit', 60_000),
        act('helm-command', 15_000),
        act('dashboard-look', 10_000),
        act('dashboard-look', 10_000),
        { atMs: 2, kind: Marks.operatorLook, detail: 'panel shows 0.00% errors' },
        act('page-acknowledged', 30_000),
        act('helm-command', 12_345.6789),
        { ...act('values-edit', 0), editError: true },
      ]),
    ])[0]!;
    expect(row).toMatchObject({
      manual_actions: 7,
      operator_busy_s: 137.346,
      values_edits: 2,
      edit_errors: 1,
      helm_commands: 2,
      dashboard_looks: 2,
      pages_acknowledged: 1,
    });
  });

  it('are 0, not empty, for a run without any', () => {
    const row = runsCsvRows('e', [runEntry('flagger', [{ atMs: 0, kind: Marks.release }])])[0]!;
    expect(row).toMatchObject({ manual_actions: 0, operator_busy_s: 0, values_edits: 0, helm_commands: 0 });
  });
});
