import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { ConfigError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/files.ts';
import type { FidelityRun } from './types.ts';

/** The two sides of the comparison: the real Flagger of the local control plane, and the model. */
export const Sides = ['real', 'model'] as const;
export type Side = (typeof Sides)[number];

/** One measured release with what the comparison needs to judge it without the scenario files. */
export interface FidelityRow extends FidelityRun {
  side: Side;
  scenario: string;
  intervalS: number;
  threshold: number;
  smokeTest: boolean;
  scrapeIntervalS: number;
}

const COLUMNS = [
  'side',
  'scenario',
  'rep',
  'id',
  'interval_s',
  'threshold',
  'smoke_test',
  'scrape_interval_s',
  'outcome',
  'new_revision_s',
  'detect_s',
  'rollback_s',
  'failed_requests',
  'total_requests',
  'stable_p99_ms',
  'timeouts',
  'loop_lag_max_ms',
  'detect_message',
] as const;

const OUTCOMES: ReadonlySet<string> = new Set<FidelityRun['outcome']>(['rolled_back', 'promoted', 'neither']);

const seconds = (v: number | undefined) => (v === undefined ? '' : v.toFixed(3));

/** runs.csv of a fidelity run: one line per release and side, in side, scenario, rep order. */
export function fidelityRunsCsv(rows: readonly FidelityRow[]): string {
  const sorted = [...rows].sort(
    (a, b) => Sides.indexOf(a.side) - Sides.indexOf(b.side) || a.scenario.localeCompare(b.scenario) || a.rep - b.rep,
  );
  return stringify(
    sorted.map((r) => [
      r.side,
      r.scenario,
      r.rep,
      r.id,
      r.intervalS,
      r.threshold,
      String(r.smokeTest),
      r.scrapeIntervalS,
      r.outcome,
      seconds(r.newRevisionS),
      seconds(r.detectS),
      seconds(r.rollbackS),
      r.failedRequests,
      r.totalRequests,
      r.stableP99Ms === undefined ? '' : r.stableP99Ms.toFixed(1),
      r.timeouts ?? '',
      r.loopLagMaxMs === undefined ? '' : r.loopLagMaxMs.toFixed(1),
      r.detectMessage ?? '',
    ]),
    { header: true, columns: [...COLUMNS] },
  );
}

/** Replaces runs.csv at once: an interrupt leaves the previous complete file or the new one. */
export function writeFidelityRunsCsv(file: string, rows: readonly FidelityRow[]): void {
  writeFileAtomic(file, fidelityRunsCsv(rows));
}

/** Reads a fidelity runs.csv back; a malformed line is named with its field and value. */
export function readFidelityRunsCsv(file: string): FidelityRow[] {
  const records = parse(readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true }) as Array<
    Record<string, string>
  >;
  return records.map((rec, i) => {
    const where = `${file}: line ${i + 2}`;
    const num = (field: string, optional = false): number | undefined => {
      const raw = rec[field];
      if ((raw === undefined || raw === '') && optional) return undefined;
      const v = Number(raw);
      if (raw === undefined || raw === '' || !Number.isFinite(v))
        throw new ConfigError(`${where}: ${field} is "${raw ?? ''}", not a number; fix or remove the line`);
      return v;
    };
    const side = rec.side as Side;
    if (!Sides.includes(side))
      throw new ConfigError(`${where}: side is "${rec.side ?? ''}"; use one of ${Sides.join(', ')}`);
    const outcome = rec.outcome ?? '';
    if (!OUTCOMES.has(outcome))
      throw new ConfigError(`${where}: outcome is "${outcome}"; use one of ${[...OUTCOMES].join(', ')}`);
    if (!rec.scenario) throw new ConfigError(`${where}: scenario is empty; name the scenario of the release`);
    return {
      side,
      scenario: rec.scenario,
      rep: num('rep')!,
      id: rec.id ?? '',
      intervalS: num('interval_s')!,
      threshold: num('threshold')!,
      smokeTest: rec.smoke_test === 'true',
      scrapeIntervalS: num('scrape_interval_s')!,
      outcome: outcome as FidelityRun['outcome'],
      newRevisionS: num('new_revision_s', true),
      detectS: num('detect_s', true),
      rollbackS: num('rollback_s', true),
      failedRequests: num('failed_requests')!,
      totalRequests: num('total_requests')!,
      stableP99Ms: num('stable_p99_ms', true),
      timeouts: num('timeouts', true),
      loopLagMaxMs: num('loop_lag_max_ms', true),
      detectMessage: rec.detect_message ? rec.detect_message : undefined,
    };
  });
}
