import { deriveSeed } from '../common/random.ts';

/**
 * The per-run numbers the statistics use, as runs.csv holds them (rounded the same way), so every
 * figure of the report can be recomputed from runs.csv alone.
 */
export interface RunRow {
  runId: string;
  arm: 'manual' | 'flagger';
  scenario: string;
  /** Sweep label ("" when the entry is not swept). */
  sweep: string;
  outcome: string;
  mttrS?: number;
  ttrReleaseS?: number;
  ttdS?: number;
  ttmS?: number;
  censoredAtS?: number;
  failedRequests: number;
  /** Answered later than the SLO's latency limit; undefined in runs.csv files older than the SLO. */
  slowRequests?: number;
  /** Failed + slow (docs/design.md §12); undefined as slowRequests. */
  badRequests?: number;
  releaseToRollbackS?: number;
  releaseToPromotedS?: number;
  /** The manual operator's attention (report/operator-cost.ts); undefined in runs.csv files older than it. */
  looksPerHour?: number;
  pages?: number;
  /** Toil (report/operator-cost.ts); undefined in runs.csv files older than it. */
  manualActions?: number;
  operatorBusyS?: number;
  valuesEdits?: number;
  helmCommands?: number;
  dashboardLooks?: number;
  pagesAcknowledged?: number;
  /** Values edits that went wrong (manual.editErrorRate). */
  editErrors?: number;
  /** The release train (docs/design.md §13); undefined in runs.csv files older than it. */
  services?: number;
  faultyServices?: number;
  servicesRolledBack?: number;
  servicesPromoted?: number;
}

const num = (v: string | number | undefined): number | undefined =>
  v === undefined || v === '' ? undefined : Number(v);

export function runRowsFromCsv(rows: ReadonlyArray<Record<string, string | number>>): RunRow[] {
  return rows.map((r) => {
    const release = num(r.release_ms)!;
    const mitigate = num(r.mitigate_ms);
    const promoted = num(r.promoted_ms);
    return {
      runId: String(r.run_id),
      arm: String(r.arm) as RunRow['arm'],
      scenario: String(r.scenario),
      sweep: String(r.sweep ?? ''),
      outcome: String(r.outcome),
      mttrS: num(r.mttr_s),
      ttrReleaseS: num(r.ttr_release_s),
      ttdS: num(r.ttd_s),
      ttmS: num(r.ttm_s),
      censoredAtS: num(r.censored_at_s),
      failedRequests: Number(r.failed_requests),
      slowRequests: num(r.slow_requests),
      badRequests: num(r.bad_requests),
      releaseToRollbackS:
        r.outcome === 'rolled_back' && mitigate !== undefined ? (mitigate - release) / 1000 : undefined,
      releaseToPromotedS: promoted !== undefined ? (promoted - release) / 1000 : undefined,
      looksPerHour: num(r.looks_per_hour),
      pages: num(r.pages),
      manualActions: num(r.manual_actions),
      operatorBusyS: num(r.operator_busy_s),
      valuesEdits: num(r.values_edits),
      helmCommands: num(r.helm_commands),
      dashboardLooks: num(r.dashboard_looks),
      pagesAcknowledged: num(r.pages_acknowledged),
      editErrors: num(r.edit_errors),
      services: num(r.services),
      faultyServices: num(r.faulty_services),
      servicesRolledBack: num(r.services_rolled_back),
      servicesPromoted: num(r.services_promoted),
    };
  });
}

export const fmt = (v: number | undefined, digits = 1): string =>
  v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits);
export const fmtP = (p: number | undefined) => (p === undefined ? '—' : p < 0.001 ? p.toExponential(1) : p.toFixed(3));

/** A cell's name in tables: the scenario, with its sweep label when swept. */
export const cellName = (c: { scenario: string; sweep: string }) =>
  c.sweep ? `${c.scenario} (${c.sweep})` : c.scenario;

export interface Cell {
  scenario: string;
  sweep: string;
  arm: 'manual' | 'flagger';
  rows: RunRow[];
}

export function groupCells(rows: readonly RunRow[]): Cell[] {
  const cells = new Map<string, Cell>();
  for (const row of rows) {
    const key = `${row.scenario}\u0000${row.sweep}\u0000${row.arm}`;
    let cell = cells.get(key);
    if (!cell) {
      cell = { scenario: row.scenario, sweep: row.sweep, arm: row.arm, rows: [] };
      cells.set(key, cell);
    }
    cell.rows.push(row);
  }
  return [...cells.values()];
}

/** Seed of a cell's bootstrap: fixed by the cell's name, so runs.csv alone reproduces it. */
export function bootstrapSeed(what: string, cell: { scenario: string; sweep: string; arm?: string }): number {
  return deriveSeed(0x5eed, `${what}/${cell.scenario}/${cell.sweep}/${cell.arm ?? ''}`);
}
