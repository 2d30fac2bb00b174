import type { ExperimentHeader, RunEntry } from '../experiment/journal.ts';
import { Marks } from '../timeline/compute.ts';
import {
  bootstrapMedianCI,
  compareArms,
  fisherExact,
  kaplanMeier,
  kmMedian,
  summarize,
  type BootstrapInterval,
} from '../stats/index.ts';
import { breakEvenChartId, breakEvenGroups, breakEvenParagraph, breakEvenTable } from './break-even.ts';
import { flaggerTimingLaw } from './markdown.ts';
import { catchesParagraphs, matrixCells, matrixTable } from './matrix.ts';
import type { ReportModel, ReportSection, ReportTable } from './model.ts';
import { runToil } from './operator-cost.ts';
import { withOperatorSource } from './operator-sources.ts';
import { runsCsvRows } from './runs-csv.ts';
import { interferenceSection } from './interference.ts';
import { bootstrapSeed, cellName, fmt, fmtP, groupCells, runRowsFromCsv, type Cell, type RunRow } from './run-rows.ts';
import { servicesCells, servicesParagraphs, servicesTable } from './services.ts';
import { toilTable } from './toil.ts';
import { verdictSection } from './verdict.ts';

const ci = (i: BootstrapInterval, digits = 1) =>
  i.estimate === undefined ? '—' : `${fmt(i.estimate, digits)} [${fmt(i.lower, digits)}, ${fmt(i.upper, digits)}]`;

const defined = (xs: Array<number | undefined>) => xs.filter((x): x is number => x !== undefined);

export const SUMMARY_COLUMNS = [
  'scenario',
  'arm',
  'n',
  'rolled back',
  'promoted',
  'censored',
  'no impact',
  'aborted',
  'MTTR median [IQR] s',
  'MTTR mean ± SD s',
  'MTTR median 95% CI s',
  'KM median MTTR [95% CI] s',
  'release→recover median [IQR] s',
  'TTD median s',
  'TTM median s',
  'failed requests median',
];

/** The summary table: one row per scenario × arm, every figure computable from runs.csv. */
export function summaryTable(rows: readonly RunRow[]): ReportTable {
  const out: string[][] = [];
  for (const cell of groupCells(rows)) {
    const count = (o: string) => String(cell.rows.filter((r) => r.outcome === o).length);
    const mttr = defined(cell.rows.map((r) => r.mttrS));
    const d = summarize(mttr);
    const boot = bootstrapMedianCI(mttr, { seed: bootstrapSeed('median', cell) });
    const km = kaplanMeier(
      cell.rows
        .filter((r) => r.mttrS !== undefined || r.censoredAtS !== undefined)
        .map((r) => (r.mttrS !== undefined ? { time: r.mttrS, event: true } : { time: r.censoredAtS!, event: false })),
    );
    const kmm = km.steps.length === 0 ? undefined : kmMedian(km, { flat: 'midpoint' });
    const ttr = summarize(defined(cell.rows.map((r) => r.ttrReleaseS)));
    out.push([
      cellName(cell),
      cell.arm,
      String(cell.rows.length),
      count('rolled_back'),
      count('promoted'),
      count('censored'),
      count('no_impact'),
      count('aborted'),
      d.n === 0 ? '—' : `${fmt(d.median)} [${fmt(d.q1)}–${fmt(d.q3)}]`,
      d.n === 0 ? '—' : `${fmt(d.mean)} ± ${fmt(d.sd)}`,
      boot.estimate === undefined ? '—' : `[${fmt(boot.lower)}, ${fmt(boot.upper)}]`,
      kmm === undefined || kmm.value === undefined ? '—' : `${fmt(kmm.value)} [${fmt(kmm.lower)}, ${fmt(kmm.upper)}]`,
      ttr.n === 0 ? '—' : `${fmt(ttr.median)} [${fmt(ttr.q1)}–${fmt(ttr.q3)}]`,
      fmt(summarize(defined(cell.rows.map((r) => r.ttdS))).median),
      fmt(summarize(defined(cell.rows.map((r) => r.ttmS))).median),
      fmt(summarize(cell.rows.map((r) => r.failedRequests)).median, 0),
    ]);
  }
  return {
    id: 'summary',
    title: 'Runs per arm',
    note:
      "MTTR = recover − impact (user-impact view); release→recover = recover − release (DORA's failed-deployment recovery time); TTD/TTM = detect/mitigate − impact. " +
      'Median [IQR] (R type-7 quartiles) and mean ± SD over runs that recovered; 95% CI of the median by percentile bootstrap (2,000 resamples, seeded). ' +
      'The Kaplan–Meier median keeps censored runs (no recovery before the deadline) as censored observations, so they count without being dropped.',
    columns: SUMMARY_COLUMNS,
    align: SUMMARY_COLUMNS.map((_, i) => (i < 2 ? 'l' : 'r')),
    rows: out,
  };
}

/** Manual against Flagger per scenario, for each duration view, plus Fisher's test on promotions. */
export function comparisonTables(rows: readonly RunRow[], faultyScenarios: ReadonlySet<string>): ReportTable[] {
  const cells = groupCells(rows);
  const pairs: Array<{ manual: Cell; flagger: Cell }> = [];
  for (const m of cells.filter((c) => c.arm === 'manual')) {
    // A swept manual cell is compared with the unswept Flagger reference of the same scenario.
    const f =
      cells.find((c) => c.arm === 'flagger' && c.scenario === m.scenario && c.sweep === m.sweep) ??
      cells.find((c) => c.arm === 'flagger' && c.scenario === m.scenario && c.sweep === '');
    if (f) pairs.push({ manual: m, flagger: f });
  }
  const views: Array<[string, keyof RunRow]> = [
    ['MTTR (recover − impact)', 'mttrS'],
    ['release → recover', 'ttrReleaseS'],
    ['TTD (detect − impact)', 'ttdS'],
    ['TTM (mitigate − impact)', 'ttmS'],
  ];
  const columns = [
    'scenario',
    'view',
    'n manual',
    'n Flagger',
    'median manual s',
    'median Flagger s',
    'difference F − M [95% CI] s',
    'ratio F / M [95% CI]',
    'Mann–Whitney U',
    'p',
    'A12 (F > M)',
  ];
  const out: string[][] = [];
  for (const { manual, flagger } of pairs) {
    for (const [label, key] of views) {
      const a = defined(manual.rows.map((r) => r[key] as number | undefined));
      const b = defined(flagger.rows.map((r) => r[key] as number | undefined));
      if (a.length === 0 || b.length === 0) {
        out.push([cellName(manual), label, String(a.length), String(b.length), '—', '—', '—', '—', '—', '—', '—']);
        continue;
      }
      const c = compareArms(a, b, { seed: bootstrapSeed(`compare/${String(key)}`, manual) });
      out.push([
        cellName(manual),
        label,
        String(a.length),
        String(b.length),
        fmt(c.a.median),
        fmt(c.b.median),
        ci(c.medianDifference),
        ci(c.medianRatio, 2),
        `${fmt(c.mannWhitney.u, 1)} (${c.mannWhitney.method ?? '—'})`,
        fmtP(c.mannWhitney.p),
        `${fmt(c.a12.a12, 2)} ${c.a12.magnitude ?? ''}`.trim(),
      ]);
    }
  }
  const fisherRows: string[][] = [];
  for (const { manual, flagger } of pairs) {
    if (!faultyScenarios.has(manual.scenario)) continue;
    const promoted = (c: Cell) => c.rows.filter((r) => r.outcome === 'promoted').length;
    const table = [
      [promoted(manual), manual.rows.length - promoted(manual)],
      [promoted(flagger), flagger.rows.length - promoted(flagger)],
    ] as const;
    const f = fisherExact(table);
    fisherRows.push([
      cellName(manual),
      `${promoted(manual)}/${manual.rows.length}`,
      `${promoted(flagger)}/${flagger.rows.length}`,
      fmtP(f.pTwoSided),
    ]);
  }
  const tables: ReportTable[] = [
    {
      id: 'comparison',
      title: 'Manual against Flagger',
      note:
        'Flagger relative to manual: a negative difference, a ratio below 1 and A12 below 0.5 mean Flagger recovers faster. ' +
        'Difference and ratio of medians with percentile bootstrap CIs; two-sided Mann–Whitney U (exact p for small samples without ties, else normal approximation with tie and continuity correction); Vargha–Delaney A12 with its magnitude label.',
      columns,
      align: columns.map((_, i) => (i < 2 ? 'l' : 'r')),
      rows: out,
    },
  ];
  if (fisherRows.length > 0) {
    tables.push({
      id: 'fisher',
      title: 'Faulty build promoted',
      note: "Fisher's exact test (two-sided) on the 2×2 table arm × promoted, for scenarios whose release carries a fault.",
      columns: ['scenario', 'promoted, manual', 'promoted, Flagger', 'p (two-sided)'],
      align: ['l', 'r', 'r', 'r'],
      rows: fisherRows,
    });
  }
  return tables;
}

/** The proposal's success criteria: automated rollback under 120 s every time; no manual edit. */
export function successCriteriaTable(
  runs: readonly RunEntry[],
  rows: readonly RunRow[],
  faultyScenarios: ReadonlySet<string>,
): ReportTable {
  const faultyFlagger = rows.filter((r) => r.arm === 'flagger' && faultyScenarios.has(r.scenario));
  const rolledBack = faultyFlagger.filter((r) => r.releaseToRollbackS !== undefined);
  const under120 = rolledBack.filter((r) => r.releaseToRollbackS! < 120);
  const slowest = rolledBack.length === 0 ? undefined : Math.max(...rolledBack.map((r) => r.releaseToRollbackS!));
  const flaggerRuns = runs.filter((r) => r.arm === 'flagger');
  const manualEdits = flaggerRuns.filter(
    (r) => runToil(r).manualActions > 0 || r.timeline.some((e) => e.kind === Marks.rollbackIssued),
  ).length;
  const manualRuns = runs.filter((r) => r.arm === 'manual');
  const manualActions = summarize(manualRuns.map((r) => runToil(r).manualActions)).median;
  const pass = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return {
    id: 'criteria',
    title: "The proposal's success criteria",
    columns: ['criterion', 'measured', 'verdict'],
    rows: [
      [
        'Flagger rolls back a faulty release within 120 s of the release, in every run',
        faultyFlagger.length === 0
          ? 'no faulty release ran under Flagger'
          : `${under120.length} of ${faultyFlagger.length} runs under 120 s; slowest ${fmt(slowest)} s`,
        faultyFlagger.length === 0 ? '—' : pass(under120.length === faultyFlagger.length),
      ],
      [
        'No manual values edit in the Flagger arm',
        `${manualEdits} of ${flaggerRuns.length} Flagger runs needed one (the manual arm took a median of ${fmt(manualActions, 0)} manual actions in each of its ${manualRuns.length} runs; see the toil table)`,
        flaggerRuns.length === 0 ? '—' : pass(manualEdits === 0),
      ],
    ],
  };
}

export function timingLawTable(header: ExperimentHeader, runs: readonly RunEntry[]): ReportTable | undefined {
  const entries = header.scenarios
    .map((s, entry) => ({ s, entry }))
    .filter(({ entry }) => runs.some((r) => r.arm === 'flagger' && r.entry === entry));
  if (entries.length === 0) return undefined;
  const range = (xs: number[]) => (xs.length === 0 ? '—' : `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`);
  return {
    id: 'timing-law',
    title: 'Flagger timing against the analysis-loop law',
    note: "Counted from the release with the first scheduler tick at a ∈ (0, interval] (docs/design.md §5): all checks failing → `Rolling back` in ((threshold+2)·interval, (threshold+3)·interval]; all passing → `Succeeded` in ((steps+3)·interval, (steps+4)·interval], plus the canary's start-up time.",
    columns: [
      'scenario',
      'interval s',
      'threshold',
      'steps',
      'expected rollback s',
      'measured release→rollback s',
      'expected promotion s',
      'measured release→Succeeded s',
    ],
    align: ['l', 'r', 'r', 'r', 'l', 'l', 'l', 'l'],
    rows: entries.map(({ s, entry }) => {
      const law = flaggerTimingLaw(s);
      const mine = runs.filter((r) => r.arm === 'flagger' && r.entry === entry);
      const rollbacks = mine
        .filter((r) => r.metrics.outcome === 'rolled_back' && r.metrics.mitigateMs !== undefined)
        .map((r) => (r.metrics.mitigateMs! - r.metrics.releaseMs) / 1000);
      const promotions = mine
        .filter((r) => r.metrics.promotedMs !== undefined)
        .map((r) => (r.metrics.promotedMs! - r.metrics.releaseMs) / 1000);
      const label = header.sweeps?.[entry];
      return [
        label ? `${s.name} (${label})` : s.name,
        String(s.flagger.intervalMs / 1000),
        String(s.flagger.threshold),
        String(law.steps),
        `(${law.rollback[0]}, ${law.rollback[1]}]`,
        range(rollbacks),
        `(${law.promotion[0]}, ${law.promotion[1]}]`,
        range(promotions),
      ];
    }),
  };
}

function operatorTable(runs: readonly RunEntry[]): ReportTable | undefined {
  const seen = new Map<string, Record<string, string | number>>();
  for (const r of runs) if (r.operator) seen.set(`${r.scenario}\u0000${JSON.stringify(r.operator)}`, r.operator);
  if (seen.size === 0) return undefined;
  const rows: string[][] = [];
  for (const [key, op] of seen) {
    const scenario = key.split('\u0000')[0]!;
    const params = Object.entries(op)
      .filter(([k]) => k !== 'source' && k !== 'kind' && k !== 'processSource')
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    const source = [op.source, op.processSource]
      .filter((x) => x !== undefined)
      .map((x) => String(x).replace(/([^.])$/, '$1.'))
      .join(' ');
    rows.push([scenario, String(op.kind), params, source]);
  }
  return {
    id: 'operators',
    title: 'Operator models (manual arm)',
    columns: ['scenario', 'operator', 'parameters', 'source'],
    rows,
  };
}

/** What the break-even does not say: the operator is a model, and what a team would measure to place itself. */
export const BREAK_EVEN_CAVEAT =
  "These cells are the operator model's assumptions (docs/design.md §6), not measurements of people. " +
  "To place a real on-call rotation on this chart, measure from its own incidents how often someone looks at the canary panel during a release (or the alert rule's `for` and evaluation interval), " +
  'the time from a visible problem (or the page) to acknowledgement, and from there to the rollback command.';

/** Builds every table of the report from the journal's runs. */
export function buildReportModel(header: ExperimentHeader, journaled: RunEntry[], problems: string[]): ReportModel {
  // The operator's source told per field: a swept value is a factor of the experiment, not an assumption.
  const runs = journaled.map((r) => withOperatorSource(r, header.scenarios[r.entry]));
  const rows = runRowsFromCsv(runsCsvRows(header.name, runs));
  const faulty = new Set(header.scenarios.filter((s) => s.release.fault !== 'none').map((s) => s.name));
  const sections: ReportSection[] = [];
  const intro = [
    `Platform **${header.platform}**, time scale **${header.timeScale}×** (durations are scenario seconds), seed ${header.seed}, started ${header.startedAt}. ` +
      `${runs.length} of ${header.plannedRuns.length} planned runs journaled.`,
  ];
  const generators = [...new Set(runs.map((r) => r.load.generator))];
  intro.push(
    `Load generator: ${generators.join(', ') || '—'} (open model, constant arrival rate; per-request records in requests/).`,
  );
  if (header.description) intro.unshift(header.description.trim());
  // The answer first: the verdict per scenario, then the tables it comes from.
  const verdict = verdictSection(rows);
  if (verdict) sections.push(verdict);
  sections.push({ id: 'summary', title: 'Runs per arm', paragraphs: intro, tables: [summaryTable(rows)] });
  const comparison = comparisonTables(rows, faulty);
  if (comparison[0]!.rows.length > 0)
    sections.push({ id: 'comparison', title: 'Manual against Flagger', paragraphs: [], tables: comparison });
  const breakEven = breakEvenGroups(rows);
  if (breakEven.length > 0) {
    sections.push({
      id: 'break-even',
      title: 'Break-even: where the manual process matches Flagger',
      paragraphs: [
        ...breakEven.map((g) => breakEvenParagraph(g, rows)),
        BREAK_EVEN_CAVEAT,
        `Chart data: ${breakEven.map((_, i) => `\`charts/${breakEvenChartId(i + 1)}.csv\``).join(', ')}.`,
      ],
      tables: breakEven.map((g, i) => breakEvenTable(g, i + 1)),
    });
  }
  const scenarios = new Set(rows.map((r) => r.scenario));
  if (scenarios.size >= 3) {
    const cells = matrixCells(rows);
    sections.push({
      id: 'fault-matrix',
      title: 'Which faults each mechanism catches',
      paragraphs: catchesParagraphs(cells, faulty),
      tables: [matrixTable(cells)],
    });
  }
  sections.push({
    id: 'criteria',
    title: "The proposal's success criteria",
    paragraphs: [],
    tables: [successCriteriaTable(runs, rows, faulty)],
  });
  const toil = toilTable(rows);
  if (toil) sections.push({ id: 'toil', title: toil.title, paragraphs: [], tables: [toil] });
  const services = servicesCells(rows);
  if (services.length > 0) {
    const table = servicesTable(services);
    sections.push({ id: 'services', title: table.title, paragraphs: servicesParagraphs(services), tables: [table] });
  }
  const law = timingLawTable(header, runs);
  if (law) sections.push({ id: 'timing-law', title: law.title, paragraphs: [], tables: [law] });
  const interference = interferenceSection(header, runs);
  if (interference) sections.push(interference);
  const operators = operatorTable(runs);
  if (operators)
    sections.push({
      id: 'operators',
      title: operators.title,
      paragraphs: ['These are assumptions, not measurements; sweeps show how the comparison moves with them.'],
      tables: [operators],
    });
  const censored = runs.filter((r) => r.metrics.outcome === 'censored' || r.metrics.outcome === 'aborted');
  if (censored.length > 0) {
    sections.push({
      id: 'censored',
      title: 'Censored and aborted runs',
      paragraphs: ['Kept in every table above; listed here with the reason.'],
      tables: [
        {
          id: 'censored-runs',
          title: 'Censored and aborted runs',
          columns: ['run', 'outcome', 'reason'],
          rows: censored.map((r) => [
            r.runId,
            r.metrics.outcome,
            r.metrics.outcome === 'aborted'
              ? (r.metrics.abortReason ?? '')
              : `no recovery within the deadline; censored ${fmt(r.metrics.censoredAtS)} s after impact`,
          ]),
        },
      ],
    });
  }
  return { title: `MTTR report: ${header.name}`, header, runs, sections, problems };
}
