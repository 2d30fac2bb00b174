import { LAG_BOUND_SCENARIO_MS, lagScenarioMs, runLagOf } from '../experiment/concurrency.ts';
import type { ExperimentHeader, RunEntry } from '../experiment/journal.ts';
import { median } from '../stats/index.ts';
import type { ReportSection } from './model.ts';
import { fmt } from './run-rows.ts';
import { runLagFlagged } from './runs-csv.ts';

const ms = (v: number) => fmt(v, 2);

/**
 * The report's account of concurrency (docs/design.md §10): how many runs were in flight and why,
 * when the runner lowered that, and the lag each level saw, with every run whose lag could have
 * shifted a timestamp beyond the bound. Every figure comes from runs.csv's slot, concurrency and
 * lag columns. Journals written before concurrency give no section.
 */
export function interferenceSection(header: ExperimentHeader, runs: readonly RunEntry[]): ReportSection | undefined {
  const measured = runs.filter((r) => r.harness !== undefined);
  if (measured.length === 0) return undefined;
  const byPlan = header.plannedRuns
    .map((id) => measured.find((r) => r.runId === id))
    .filter((r): r is RunEntry => r !== undefined);
  const paragraphs = [
    `Runs in flight at once: **${header.concurrency ?? 1}**${header.concurrencyReason ? ` (${header.concurrencyReason})` : ''}. ` +
      `Each ran in its own slot (own processes, ports, metrics and operator locally; own namespaces on a cluster), in plan order.`,
  ];
  const lowered: string[] = [];
  for (let i = 1; i < byPlan.length; i++) {
    const before = byPlan[i - 1]!.harness!.concurrency;
    const after = byPlan[i]!.harness!.concurrency;
    if (after < before) lowered.push(`to ${after} from ${byPlan[i]!.runId}`);
  }
  if (lowered.length > 0)
    paragraphs.push(`The runner lowered its concurrency after runs over the lag bound: ${lowered.join(', ')}.`);
  paragraphs.push(
    `A run is flagged when the lag p99 (wall ms) of an event loop that stamps its timestamps × the time scale exceeds ${LAG_BOUND_SCENARIO_MS} ms: ` +
      "the harness's loop, which stamps the timeline and, with the built-in generator, every answer; k6, which stamps in its own process, is judged by its send lag. " +
      'A timestamp of that run could be off by more than that in scenario time. Flagged runs stay in every table; they are listed below. ' +
      "The built-in generator's send lag (how late requests left against their schedule) shifts arrivals, not stamps; it is shown beside.",
  );
  const levels = [...new Set(measured.map((r) => r.harness!.concurrency))].sort((a, b) => b - a);
  const levelRows = levels.map((level) => {
    const at = measured.filter((r) => r.harness!.concurrency === level);
    const loop = at.map((r) => r.harness!.loopLagP99WallMs).sort((a, b) => a - b);
    const send = at.map((r) => r.load.sendLagP99WallMs).sort((a, b) => a - b);
    return [
      String(level),
      String(at.length),
      ms(median(loop)!),
      ms(loop.at(-1)!),
      ms(Math.max(...at.map((r) => r.harness!.loopLagMaxWallMs))),
      ms(median(send)!),
      ms(send.at(-1)!),
      String(at.filter(runLagFlagged).length),
    ];
  });
  const flagged = byPlan.filter(runLagFlagged);
  const tables: ReportSection['tables'] = [
    {
      id: 'interference',
      title: 'Lag per concurrency level (wall ms)',
      columns: [
        'concurrency',
        'runs',
        'loop lag p99, median',
        'loop lag p99, worst',
        'loop lag max',
        'send lag p99, median',
        'send lag p99, worst',
        'flagged',
      ],
      align: ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows: levelRows,
    },
  ];
  if (flagged.length > 0) {
    tables.push({
      id: 'lag-flagged',
      title: 'Runs over the lag bound',
      columns: ['run', 'slot', 'concurrency', 'loop lag p99', 'send lag p99', 'possible shift (scenario ms)'],
      align: ['l', 'r', 'r', 'r', 'r', 'r'],
      rows: flagged.map((r) => [
        r.runId,
        String(r.harness!.slot),
        String(r.harness!.concurrency),
        ms(r.harness!.loopLagP99WallMs),
        ms(r.load.sendLagP99WallMs),
        lagScenarioMs(runLagOf(r)).toFixed(0),
      ]),
    });
  }
  return { id: 'concurrency', title: 'Concurrency and interference', paragraphs, tables };
}
