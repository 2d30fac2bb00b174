import { describe, expect, it } from 'vitest';
import type { RunRow } from './run-rows.ts';
import { scrapeCells, scrapeParagraphs, scrapeTable } from './scrape-sweep.ts';

function row(scrapeS: number, arm: RunRow['arm'], scenario: string, outcome: string, mttrS?: number): RunRow {
  return {
    runId: `${scenario}-${scrapeS}-${arm}-${Math.random()}`,
    arm,
    scenario,
    sweep: `scrapeIntervalS=${scrapeS}`,
    outcome,
    mttrS,
    failedRequests: 0,
  };
}

// Two intervals. At 15 s Flagger catches the 500s and misses the 0.5% build; at 60 s it rolls back
// everything, the healthy build included, and the manual operator (no data on the panel) nothing.
const ROWS: RunRow[] = [
  row(15, 'flagger', 'faulty-500', 'rolled_back', 30),
  row(15, 'flagger', 'faulty-500', 'rolled_back', 40),
  row(15, 'flagger', 'partial-5pct', 'rolled_back', 100),
  row(15, 'flagger', 'partial-0.5pct', 'promoted'),
  row(15, 'flagger', 'healthy', 'promoted'),
  row(15, 'flagger', 'healthy', 'promoted'),
  row(15, 'manual', 'faulty-500', 'rolled_back', 120),
  row(15, 'manual', 'partial-5pct', 'rolled_back', 200),
  row(15, 'manual', 'partial-0.5pct', 'censored'),
  row(15, 'manual', 'healthy', 'no_impact'),
  row(60, 'flagger', 'faulty-500', 'rolled_back', 35),
  row(60, 'flagger', 'partial-5pct', 'rolled_back', 90),
  row(60, 'flagger', 'partial-0.5pct', 'rolled_back', 80),
  row(60, 'flagger', 'healthy', 'rolled_back'),
  row(60, 'flagger', 'healthy', 'rolled_back'),
  row(60, 'flagger', 'healthy', 'aborted'),
  row(60, 'manual', 'faulty-500', 'censored'),
  row(60, 'manual', 'partial-5pct', 'censored'),
  row(60, 'manual', 'partial-0.5pct', 'censored'),
  row(60, 'manual', 'healthy', 'no_impact'),
  // Not part of the sweep: ignored.
  { ...row(15, 'flagger', 'faulty-500', 'promoted'), sweep: '' },
];

describe('scrape sweep findings', () => {
  it('counts outcomes, false negatives and false alarms per interval and arm, leaving aborted runs out', () => {
    const cells = scrapeCells(ROWS);
    expect(cells.map((c) => [c.scrapeS, c.arm])).toEqual([
      [15, 'manual'],
      [15, 'flagger'],
      [60, 'manual'],
      [60, 'flagger'],
    ]);
    const flagger15 = cells[1]!;
    expect(flagger15.mttr).toEqual([
      { scenario: 'faulty-500', medianS: 35, recovered: 2, n: 2 },
      { scenario: 'partial-5pct', medianS: 100, recovered: 1, n: 1 },
      { scenario: 'partial-0.5pct', medianS: undefined, recovered: 0, n: 1 },
    ]);
    expect(flagger15.faulty).toEqual({ n: 4, rolledBack: 3, promoted: 1, censored: 0, noImpact: 0 });
    expect(flagger15.falseNegatives).toBe(1);
    expect(cells[3]!.healthy).toEqual({ n: 2, rolledBack: 2 });
    expect(cells[2]!.falseNegatives).toBe(3);
  });

  it('states the two-scrapes rule with its measured cost, and the trends per arm', () => {
    const [rule, flagger, manual] = scrapeParagraphs(scrapeCells(ROWS));
    expect(rule).toBe(
      "**A query window must hold at least two scrapes of a series.** rate() needs two samples, and a new series (a canary pod's, a first 500) is first seen at its first scrape. " +
        'At a 60 s scrape no 60 s window holds two, so every query finds no values: ' +
        'Flagger counted every check as failed and rolled back 2 of 2 healthy releases (and 3 of 3 faulty ones, for no better reason); ' +
        "the dashboard's 60 s error-rate panel showed no data, and the manual operator rolled back 0 of 3 faulty releases. " +
        "Flagger's false alarms on the healthy build: 0 of 2 at 15 s.",
    );
    expect(flagger).toBe(
      'For Flagger, median MTTR: faulty-500 35.0 s at 15 s, 35.0 s at 60 s; partial-5pct 100.0 s at 15 s, 90.0 s at 60 s; ' +
        'partial-0.5pct — (none of 1 recovered) at 15 s, 80.0 s at 60 s. ' +
        'False negatives (faulty releases not rolled back): 1 of 4 (25%) at 15 s, 0 of 3 (0%) at 60 s; ' +
        'faulty releases promoted: 1 at 15 s, 0 at 60 s; censored: 0 at 15 s, 0 at 60 s.',
    );
    expect(manual).toContain(
      'False negatives (faulty releases not rolled back): 1 of 3 (33%) at 15 s, 3 of 3 (100%) at 60 s',
    );
  });

  it('tabulates each cell', () => {
    const table = scrapeTable(scrapeCells(ROWS));
    expect(table.rows[1]).toEqual([
      '15',
      'flagger',
      '35.0 (2/2)',
      '100.0 (1/1)',
      '— (0/1)',
      '3 / 1 / 0 / 0',
      '1/4 (25%)',
      '0/2',
    ]);
    expect(table.rows[3]).toEqual([
      '60',
      'flagger',
      '35.0 (1/1)',
      '90.0 (1/1)',
      '80.0 (1/1)',
      '3 / 0 / 0 / 0',
      '0/3 (0%)',
      '2/2',
    ]);
  });
});
