import type { ExperimentHeader, RunEntry } from '../experiment/journal.ts';
import type { Scenario } from '../scenario/schema.ts';
import type { CellSummary, Spread } from './summary.ts';

const fmt = (v: number | undefined, digits = 1) => (v === undefined ? '—' : v.toFixed(digits));
const medianIqr = (s: Spread, digits = 1) =>
  s.n === 0 ? '—' : `${fmt(s.median, digits)} [${fmt(s.q1, digits)}–${fmt(s.q3, digits)}]`;

/** The analysis-loop timing law of DESIGN §5 for a scenario's Flagger settings, in seconds. */
export function flaggerTimingLaw(scenario: Scenario): { rollback: [number, number]; promotion: [number, number]; steps: number } {
  const f = scenario.flagger;
  const intervalS = f.interval / 1000;
  const steps = f.stepWeights ? f.stepWeights.length : Math.ceil(f.maxWeight / f.stepWeight);
  return {
    rollback: [(f.threshold + 2) * intervalS, (f.threshold + 3) * intervalS],
    promotion: [(steps + 3) * intervalS, (steps + 4) * intervalS],
    steps,
  };
}

function range(values: number[]): string {
  if (values.length === 0) return '—';
  return `${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}`;
}

export function renderMarkdown(header: ExperimentHeader, runs: readonly RunEntry[], cells: readonly CellSummary[], problems: string[]): string {
  const out: string[] = [];
  out.push(`# MTTR report: ${header.name}`);
  out.push('');
  if (header.description) out.push(header.description.trim(), '');
  out.push(
    `Platform **${header.platform}**, time scale **${header.timeScale}×** (durations below are scenario seconds), ` +
      `seed ${header.seed}, started ${header.startedAt}. ${runs.length} of ${header.plannedRuns.length} planned runs journaled.`,
  );
  out.push('');
  out.push('## Runs per arm');
  out.push('');
  out.push('MTTR = recover − impact (user-impact view); release→recover = recover − release (DORA\'s failed-deployment recovery time). Median [IQR] over runs that recovered; censored runs are counted, never dropped.');
  out.push('');
  out.push('| scenario | arm | n | rolled back | promoted | censored | no impact | aborted | MTTR s | release→recover s | TTD s | TTM s | failed requests |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---|---|');
  for (const c of cells) {
    const o = c.outcomes;
    out.push(
      `| ${c.scenario} | ${c.arm} | ${c.n} | ${o.rolled_back} | ${o.promoted} | ${o.censored} | ${o.no_impact} | ${o.aborted} | ` +
        `${medianIqr(c.mttrS)} | ${medianIqr(c.ttrReleaseS)} | ${medianIqr(c.ttdS)} | ${medianIqr(c.ttmS)} | ${medianIqr(c.failedRequests, 0)} |`,
    );
  }
  out.push('');

  const flaggerScenarios = header.scenarios
    .map((s, entry) => ({ s, entry }))
    .filter(({ entry }) => runs.some((r) => r.arm === 'flagger' && r.entry === entry));
  if (flaggerScenarios.length > 0) {
    out.push('## Flagger timing against the analysis-loop law');
    out.push('');
    out.push('Counted from the release with the first scheduler tick at a ∈ (0, interval] (DESIGN §5): all checks failing → `Rolling back` in ((threshold+2)·interval, (threshold+3)·interval]; all passing → `Succeeded` in ((steps+3)·interval, (steps+4)·interval], plus the canary\'s start-up time.');
    out.push('');
    out.push('| scenario | interval s | threshold | steps | expected rollback s | measured release→rollback s | expected promotion s | measured release→Succeeded s |');
    out.push('|---|---:|---:|---:|---|---|---|---|');
    for (const { s, entry } of flaggerScenarios) {
      const law = flaggerTimingLaw(s);
      const mine = runs.filter((r) => r.arm === 'flagger' && r.entry === entry);
      const rollbacks = mine.filter((r) => r.metrics.mitigateMs !== undefined).map((r) => (r.metrics.mitigateMs! - r.metrics.releaseMs) / 1000);
      const promotions = mine.filter((r) => r.metrics.promotedMs !== undefined).map((r) => (r.metrics.promotedMs! - r.metrics.releaseMs) / 1000);
      out.push(
        `| ${s.name} | ${s.flagger.interval / 1000} | ${s.flagger.threshold} | ${law.steps} | (${law.rollback[0]}, ${law.rollback[1]}] | ${range(rollbacks)} | (${law.promotion[0]}, ${law.promotion[1]}] | ${range(promotions)} |`,
      );
    }
    out.push('');
  }

  const censored = runs.filter((r) => r.metrics.outcome === 'censored' || r.metrics.outcome === 'aborted');
  if (censored.length > 0) {
    out.push('## Censored and aborted runs');
    out.push('');
    for (const r of censored) {
      const why = r.metrics.outcome === 'aborted' ? r.metrics.abortReason : `no recovery within the deadline; censored ${fmt(r.metrics.censoredAtS)} s after impact`;
      out.push(`- ${r.runId}: ${r.metrics.outcome} — ${why}`);
    }
    out.push('');
  }
  if (problems.length > 0) {
    out.push('## Journal problems');
    out.push('');
    for (const p of problems) out.push(`- ${p}`);
    out.push('');
  }
  out.push('Every figure above is computed from `runs.csv` next to this file; each run\'s requests are in `requests/<run_id>.csv` and its timeline in `journal.jsonl`.');
  out.push('');
  return out.join('\n');
}
