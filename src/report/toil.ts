/**
 * The toil table (docs/design.md §13): per scenario and arm, the manual actions a release took and the
 * time they kept a person busy, with the release duration of a promoted release beside them. Every
 * figure comes from runs.csv's toil columns (report/operator-cost.ts counts them per run).
 */
import { summarize } from '../stats/index.ts';
import type { ReportTable } from './model.ts';
import { cellName, fmt, groupCells, type RunRow } from './run-rows.ts';

const TOIL_COLUMNS = [
  'scenario',
  'arm',
  'n',
  'manual actions median [min–max]',
  'values edits',
  'helm commands',
  'dashboard looks',
  'pages acknowledged',
  'operator busy median [IQR] s',
  'promoted',
  'release→promoted median s',
];

/** The toil table, or undefined when runs.csv predates the toil columns. */
export function toilTable(rows: readonly RunRow[]): ReportTable | undefined {
  const counted = rows.filter((r) => r.manualActions !== undefined);
  if (counted.length === 0) return undefined;
  const out = groupCells(counted).map((cell) => {
    const median = (pick: (r: RunRow) => number | undefined, digits = 1) =>
      fmt(summarize(cell.rows.flatMap((r) => pick(r) ?? [])).median, digits);
    const actions = summarize(cell.rows.map((r) => r.manualActions!));
    const busy = summarize(cell.rows.flatMap((r) => r.operatorBusyS ?? []));
    const promoted = cell.rows.filter((r) => r.releaseToPromotedS !== undefined);
    return [
      cellName(cell),
      cell.arm,
      String(cell.rows.length),
      `${fmt(actions.median)} [${fmt(actions.min, 0)}–${fmt(actions.max, 0)}]`,
      median((r) => r.valuesEdits),
      median((r) => r.helmCommands),
      median((r) => r.dashboardLooks),
      median((r) => r.pagesAcknowledged),
      busy.n === 0 ? '—' : `${fmt(busy.median)} [${fmt(busy.q1)}–${fmt(busy.q3)}]`,
      `${promoted.length}/${cell.rows.length}`,
      median((r) => r.releaseToPromotedS),
    ];
  });
  return {
    id: 'toil',
    title: 'Toil per release',
    note:
      'Manual actions a run took, counted from its timeline (runs.csv: manual_actions, values_edits, helm_commands, dashboard_looks, pages_acknowledged), ' +
      'and the scenario seconds they kept the person busy (operator_busy_s): manual.effort per values edit, helm command, panel look and page; ' +
      "a rollback's helm command costs the operator model's own reaction (dashboard) or action (alert) time. " +
      "A Flagger release is an image change and takes none. Release→promoted: from the release to the promotion, for the runs promoted (Flagger's Succeeded; the manual arm's last step).",
    columns: TOIL_COLUMNS,
    align: TOIL_COLUMNS.map((_, i) => (i < 2 ? 'l' : 'r')),
    rows: out,
  };
}
