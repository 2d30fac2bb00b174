import { median } from '../stats/descriptive.ts';
import type { FidelityRun } from './types.ts';

export interface ArmSummary {
  n: number;
  rolledBack: number;
  medianNewRevisionS?: number;
  medianDetectS?: number;
  medianRollbackS?: number;
  /** Rolling back − New revision: the release's time with the random tick phase `a` taken out. */
  medianRollbackAfterRevisionS?: number;
}

function present(values: Array<number | undefined>): number[] {
  return values.filter((v): v is number => v !== undefined && Number.isFinite(v));
}

export function summarize(runs: readonly FidelityRun[]): ArmSummary {
  return {
    n: runs.length,
    rolledBack: runs.filter((r) => r.outcome === 'rolled_back').length,
    medianNewRevisionS: median(present(runs.map((r) => r.newRevisionS))),
    medianDetectS: median(present(runs.map((r) => r.detectS))),
    medianRollbackS: median(present(runs.map((r) => r.rollbackS))),
    medianRollbackAfterRevisionS: median(
      present(
        runs.map((r) =>
          r.rollbackS !== undefined && r.newRevisionS !== undefined ? r.rollbackS - r.newRevisionS : undefined,
        ),
      ),
    ),
  };
}

export interface FidelityVerdict {
  intervalS: number;
  /** model − real, seconds. */
  detectDiffS?: number;
  rollbackDiffS?: number;
  rollbackAfterRevisionDiffS?: number;
  /** |model − real| of the median release→rollback ≤ one analysis interval (issue 4, acceptance 4). */
  withinOneInterval: boolean;
}

export function compareArms(real: ArmSummary, model: ArmSummary, intervalS: number): FidelityVerdict {
  const diff = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : a - b);
  const rollbackDiffS = diff(model.medianRollbackS, real.medianRollbackS);
  return {
    intervalS,
    detectDiffS: diff(model.medianDetectS, real.medianDetectS),
    rollbackDiffS,
    rollbackAfterRevisionDiffS: diff(model.medianRollbackAfterRevisionS, real.medianRollbackAfterRevisionS),
    withinOneInterval:
      rollbackDiffS !== undefined &&
      Math.abs(rollbackDiffS) <= intervalS &&
      real.rolledBack === real.n &&
      model.rolledBack === model.n,
  };
}

const f1 = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));
const signed = (v: number | undefined) => (v === undefined ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(1)}`);

export interface FidelityReportInput {
  scenarioName: string;
  settings: {
    intervalS: number;
    threshold: number;
    maxWeight: number;
    stepWeight: number;
    /** A pre-rollout smoke test: when it fails, the rollback comes one interval sooner (docs/design.md §5). */
    smokeTest: boolean;
    rateRps: number;
    warmupS: number;
  };
  real: FidelityRun[];
  model: FidelityRun[];
  modelTimeScale: number;
  versions: { flagger: string; kubernetes: string };
  startedAt: string;
  wallS: number;
  notes: string[];
}

/** fidelity.md: per-run tables, medians, model − real, and the verdict against one interval. */
export function renderFidelityMarkdown(input: FidelityReportInput): string {
  const real = summarize(input.real);
  const model = summarize(input.model);
  const v = compareArms(real, model, input.settings.intervalS);
  const { intervalS, threshold } = input.settings;
  // Ticks from the first to the rollback: the smoke test fails on the first tick itself, the
  // success-rate check only from the tick after the first weight (docs/design.md §5).
  const ticksToRollback = threshold + (input.settings.smokeTest ? 1 : 2);
  const lawLow = ticksToRollback * intervalS;
  const lawHigh = (ticksToRollback + 1) * intervalS;
  const lines: string[] = [];
  lines.push(`# Fidelity: the Flagger model against the real Flagger`);
  lines.push('');
  lines.push(
    `Scenario \`${input.scenarioName}\` (interval ${intervalS} s, threshold ${threshold}, maxWeight ${input.settings.maxWeight}, stepWeight ${input.settings.stepWeight}; ` +
      `${input.settings.rateRps} req/s, warm-up ${input.settings.warmupS} s), ${real.n} release${real.n === 1 ? '' : 's'} on each side. Started ${input.startedAt}, ${Math.round(input.wallS)} s wall.`,
  );
  lines.push('');
  lines.push(
    `- **real Flagger**: Flagger ${input.versions.flagger} on a local control plane (kube-apiserver ${input.versions.kubernetes}, etcd, kwok, Prometheus scraping the mesh emulator every 1 s), real time.`,
  );
  lines.push(
    `- **model**: \`src/flagger-model\` on the local platform through the experiment runner, time scale ${input.modelTimeScale}× (times below are scenario seconds).`,
  );
  lines.push('');
  lines.push(
    'Times are seconds after the release. *detect* is the first failed check (`Halt … advancement …`), *rollback* is `Rolling back … failed checks threshold reached`.',
  );
  lines.push('');
  lines.push(
    '| | n | rolled back | median release → New revision | median release → detect | median release → rollback | median New revision → rollback |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  lines.push(
    `| real Flagger | ${real.n} | ${real.rolledBack} | ${f1(real.medianNewRevisionS)} | ${f1(real.medianDetectS)} | ${f1(real.medianRollbackS)} | ${f1(real.medianRollbackAfterRevisionS)} |`,
  );
  lines.push(
    `| model | ${model.n} | ${model.rolledBack} | ${f1(model.medianNewRevisionS)} | ${f1(model.medianDetectS)} | ${f1(model.medianRollbackS)} | ${f1(model.medianRollbackAfterRevisionS)} |`,
  );
  lines.push(
    `| model − real | | | | ${signed(v.detectDiffS)} | ${signed(v.rollbackDiffS)} | ${signed(v.rollbackAfterRevisionDiffS)} |`,
  );
  lines.push('');
  lines.push(
    v.withinOneInterval
      ? `**Within one analysis interval: yes.** The model's median release → rollback differs from the real Flagger's by ${signed(v.rollbackDiffS)} s, |Δ| ≤ ${intervalS} s.`
      : `**Within one analysis interval: no.** The model's median release → rollback differs from the real Flagger's by ${signed(v.rollbackDiffS)} s (limit ±${intervalS} s)${
          real.rolledBack < real.n || model.rolledBack < model.n
            ? `, or not every release was rolled back (real ${real.rolledBack}/${real.n}, model ${model.rolledBack}/${model.n})`
            : ''
        }.`,
  );
  lines.push('');
  lines.push(
    `The timing law of docs/design.md §5 puts the rollback in (${lawLow}, ${lawHigh}] s after the release: the first tick comes a ∈ (0, ${intervalS}] s after it, and the rollback ${ticksToRollback} intervals ` +
      `(${lawLow} s) after that tick. The last column removes the random phase a: both should read ${lawLow}.0 s, and a difference there is a difference of mechanism, ` +
      `not of luck. With ${real.n} release${real.n === 1 ? '' : 's'} per side the medians of release → rollback can differ by up to one interval from a alone.`,
  );
  lines.push('');
  for (const [title, runs] of [
    ['Real Flagger', input.real],
    ['Model', input.model],
  ] as const) {
    lines.push(`## ${title}: every release`);
    lines.push('');
    lines.push('| run | outcome | New revision | detect | rollback | failed / total requests | first Halt event |');
    lines.push('|---|---|---:|---:|---:|---:|---|');
    for (const r of runs) {
      lines.push(
        `| ${r.id} | ${r.outcome} | ${f1(r.newRevisionS)} | ${f1(r.detectS)} | ${f1(r.rollbackS)} | ${r.failedRequests} / ${r.totalRequests} | ${(r.detectMessage ?? '—').replace(/\|/g, '\\|')} |`,
      );
    }
    lines.push('');
  }
  if (input.notes.length > 0) {
    lines.push('## Notes');
    lines.push('');
    for (const note of input.notes) lines.push(`- ${note}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Differences worth a sentence beyond the numbers: event texts that differ between the two (the
 * timeline code matches on prefixes, so a different text is a different classification).
 */
export function fidelityNotes(real: readonly FidelityRun[], model: readonly FidelityRun[]): string[] {
  const notes: string[] = [];
  const realNoValues = real.filter((r) => r.detectMessage?.includes('no values found')).length;
  const modelRate = model.filter((r) => r.detectMessage?.includes('success rate')).length;
  if (realNoValues > 0 && modelRate > 0) {
    notes.push(
      `The real Flagger's first Halt said "no values found for istio metric request-success-rate" in ${realNoValues} of ${real.length} releases, the model's said "success rate 0.00% < 99%" in ${modelRate} of ${model.length}. ` +
        'With every request of the canary failing, only `response_code="500"` series exist for it, so the numerator of the request-success-rate query selects nothing and Prometheus returns an empty vector: ' +
        'Flagger reports "no values", which also counts as a failed check. Same timing, different text; anything that keys on the "success rate" wording would miss the real event.',
    );
  }
  return notes;
}
