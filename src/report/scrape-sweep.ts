/**
 * The scrape-interval sweep (experiments/sweep-scrape.yaml, docs/design.md §11): how MTTR, the
 * outcome shares and the false-negative rate of each arm move with Prometheus' scrape interval,
 * and what the rule "a query window must hold two scrapes" costs where it is broken. Computed from
 * runs.csv rows alone, so README's findings trace to the checked-in CSV.
 */
import { summarize } from '../stats/index.ts';
import { parseSweepLabel } from './break-even.ts';
import type { ReportTable } from './model.ts';
import { fmt, type RunRow } from './run-rows.ts';

/** The faulty scenarios the sweep runs; `healthy` is the control. */
export const SWEPT_FAULTS = ['faulty-500', 'partial-5pct', 'partial-0.5pct'] as const;
const HEALTHY = 'healthy';
/** The query window of Flagger's checks and of the dashboard's panel in the swept scenarios. */
const WINDOW_S = 60;

export interface ScrapeCell {
  scrapeS: number;
  arm: 'manual' | 'flagger';
  /** Per faulty scenario: median MTTR of the runs that recovered, and how many did out of how many. */
  mttr: Array<{ scenario: string; medianS?: number; recovered: number; n: number }>;
  /** Faulty runs (aborted ones left out) and their outcomes. */
  faulty: { n: number; rolledBack: number; promoted: number; censored: number; noImpact: number };
  /** Faulty runs not rolled back before the deadline: promoted, censored or without impact. */
  falseNegatives: number;
  healthy: { n: number; rolledBack: number };
}

function scrapeOf(row: RunRow): number | undefined {
  const value = parseSweepLabel(row.sweep).find(([field]) => field === 'scrapeIntervalS')?.[1];
  return typeof value === 'number' ? value : undefined;
}

export function scrapeCells(rows: readonly RunRow[]): ScrapeCell[] {
  const swept = rows.filter((r) => scrapeOf(r) !== undefined && r.outcome !== 'aborted');
  const intervals = [...new Set(swept.map((r) => scrapeOf(r)!))].sort((a, b) => a - b);
  const cells: ScrapeCell[] = [];
  for (const scrapeS of intervals) {
    for (const arm of ['manual', 'flagger'] as const) {
      const mine = swept.filter((r) => scrapeOf(r) === scrapeS && r.arm === arm);
      if (mine.length === 0) continue;
      const faulty = mine.filter((r) => (SWEPT_FAULTS as readonly string[]).includes(r.scenario));
      const count = (rs: RunRow[], outcome: string) => rs.filter((r) => r.outcome === outcome).length;
      const healthy = mine.filter((r) => r.scenario === HEALTHY);
      cells.push({
        scrapeS,
        arm,
        mttr: SWEPT_FAULTS.map((scenario) => {
          const runs = faulty.filter((r) => r.scenario === scenario);
          const recovered = runs.map((r) => r.mttrS).filter((x): x is number => x !== undefined);
          return { scenario, medianS: summarize(recovered).median, recovered: recovered.length, n: runs.length };
        }),
        faulty: {
          n: faulty.length,
          rolledBack: count(faulty, 'rolled_back'),
          promoted: count(faulty, 'promoted'),
          censored: count(faulty, 'censored'),
          noImpact: count(faulty, 'no_impact'),
        },
        falseNegatives: faulty.length - count(faulty, 'rolled_back'),
        healthy: { n: healthy.length, rolledBack: count(healthy, 'rolled_back') },
      });
    }
  }
  return cells;
}

const pct = (k: number, n: number) => (n === 0 ? '—' : `${Math.round((k / n) * 100)}%`);
const armName = (arm: ScrapeCell['arm']) => (arm === 'flagger' ? 'Flagger' : 'the manual canary');

export function scrapeTable(cells: readonly ScrapeCell[]): ReportTable {
  const columns = [
    'scrape interval s',
    'arm',
    ...SWEPT_FAULTS.map((s) => `${s} median MTTR s (recovered/n)`),
    'faulty: rolled back / promoted / censored / no impact',
    'false negatives',
    'healthy rolled back',
  ];
  return {
    id: 'scrape-sweep',
    title: 'MTTR and outcomes against the scrape interval',
    note:
      'Per scrape interval and arm. Median MTTR over the runs that recovered (a censored run has none). ' +
      'False negatives: faulty releases (faulty-500, partial-5pct, partial-0.5pct) not rolled back before the deadline. ' +
      'Healthy rolled back: false alarms on the healthy control.',
    columns,
    align: columns.map((_, i) => (i === 1 ? 'l' : 'r')),
    rows: cells.map((c) => [
      String(c.scrapeS),
      c.arm,
      ...c.mttr.map((m) => `${fmt(m.medianS)} (${m.recovered}/${m.n})`),
      `${c.faulty.rolledBack} / ${c.faulty.promoted} / ${c.faulty.censored} / ${c.faulty.noImpact}`,
      `${c.falseNegatives}/${c.faulty.n} (${pct(c.falseNegatives, c.faulty.n)})`,
      `${c.healthy.rolledBack}/${c.healthy.n}`,
    ]),
  };
}

/** The generated paragraphs: the two-scrapes rule with its measured cost, then the trends per arm. */
export function scrapeParagraphs(cells: readonly ScrapeCell[]): string[] {
  if (cells.length === 0) return [];
  const intervals = [...new Set(cells.map((c) => c.scrapeS))];
  const cell = (scrapeS: number, arm: ScrapeCell['arm']) => cells.find((c) => c.scrapeS === scrapeS && c.arm === arm);
  const out: string[] = [];
  // The rule: Prometheus 2.42 selects [t − 60 s, t]; at a scrape every 60 s or more no window holds
  // two samples (but on the instant of a scrape), so rate() has no value.
  const broken = intervals.filter((s) => s >= WINDOW_S);
  const kept = intervals.filter((s) => s < WINDOW_S);
  if (broken.length > 0) {
    const s = broken[0]!;
    const f = cell(s, 'flagger');
    const m = cell(s, 'manual');
    const sentences = [
      `**A query window must hold at least two scrapes of a series.** rate() needs two samples, and a new series (a canary pod's, a first 500) is first seen at its first scrape. ` +
        `At a ${s} s scrape no ${WINDOW_S} s window holds two, so every query finds no values:`,
    ];
    if (f)
      sentences.push(
        `Flagger counted every check as failed and rolled back ${f.healthy.rolledBack} of ${f.healthy.n} healthy releases ` +
          `(and ${f.faulty.rolledBack} of ${f.faulty.n} faulty ones, for no better reason);`,
      );
    if (m)
      sentences.push(
        `the dashboard's ${WINDOW_S} s error-rate panel showed no data, and the manual operator rolled back ${m.faulty.rolledBack} of ${m.faulty.n} faulty releases.`,
      );
    const healthyKept = kept
      .map((k) => cell(k, 'flagger'))
      .filter((c): c is ScrapeCell => c !== undefined)
      .map((c) => `${c.healthy.rolledBack} of ${c.healthy.n} at ${c.scrapeS} s`);
    if (healthyKept.length > 0)
      sentences.push(`Flagger's false alarms on the healthy build: ${healthyKept.join(', ')}.`);
    out.push(sentences.join(' '));
  }
  for (const arm of ['flagger', 'manual'] as const) {
    const mine = intervals.map((s) => cell(s, arm)).filter((c): c is ScrapeCell => c !== undefined);
    if (mine.length === 0) continue;
    const byInterval = (text: (c: ScrapeCell) => string) => mine.map((c) => `${text(c)} at ${c.scrapeS} s`).join(', ');
    const mttr = SWEPT_FAULTS.map(
      (scenario) =>
        `${scenario} ${byInterval((c) => {
          const m = c.mttr.find((x) => x.scenario === scenario)!;
          return m.medianS === undefined ? `— (none of ${m.n} recovered)` : `${fmt(m.medianS)} s`;
        })}`,
    );
    out.push(
      `For ${armName(arm)}, median MTTR: ${mttr.join('; ')}. ` +
        `False negatives (faulty releases not rolled back): ${byInterval((c) => `${c.falseNegatives} of ${c.faulty.n} (${pct(c.falseNegatives, c.faulty.n)})`)}; ` +
        `faulty releases promoted: ${byInterval((c) => `${c.faulty.promoted}`)}; censored: ${byInterval((c) => `${c.faulty.censored}`)}.`,
    );
  }
  return out;
}
