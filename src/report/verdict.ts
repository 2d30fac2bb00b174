/**
 * The answer the report opens with: per scenario, which arm recovered faster, by how much, with
 * what certainty, and, when the runs do not settle it, roughly how many would. Computed from
 * runs.csv rows alone, with the break-even table's rule for "conclusive", so the two never disagree.
 */
import { createRandom, deriveSeed } from '../common/random.ts';
import { bootstrapMedianComparison, compareArms, median, type BootstrapInterval } from '../stats/index.ts';
import { MIN_RUNS_FOR_VERDICT, mttrOrCensored, type Verdict, verdictOf } from './break-even.ts';
import { bootstrapSeed, fmt, fmtP, groupCells, type RunRow } from './run-rows.ts';
import type { ReportSection } from './model.ts';

/** Runs per arm tried, in order, by the runs-needed estimate (only those above the current n). */
export const RUNS_PER_ARM_CANDIDATES = [6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100] as const;
/** Simulated experiments per candidate n′. */
export const SIMULATED_EXPERIMENTS = 200;
/** Bootstrap resamples of each simulated experiment's CI (fewer than the report's 2,000: 200 CIs per n′). */
export const SIMULATED_RESAMPLES = 1000;
/** Share of simulated experiments whose CI must exclude 0 (the usual 80% power). */
export const CONCLUSIVE_SHARE = 0.8;

export interface RunsNeeded {
  /** Smallest candidate n′ that reached CONCLUSIVE_SHARE; undefined when none did. */
  runsPerArm?: number;
  /** Largest n′ tried. */
  triedUpTo: number;
  /** Share of conclusive simulated experiments at the n′ reported (or at the largest tried). */
  share: number;
}

/**
 * How many runs per arm would make median(b) − median(a) conclusive at the observed spread: for
 * each candidate n′ above `currentN`, SIMULATED_EXPERIMENTS experiments draw n′ runs per arm with
 * replacement from the observed ones, and count those whose 95% bootstrap CI excludes 0 on the
 * side of the observed difference. Deterministic in `seed`.
 */
export function runsNeeded(
  a: readonly number[],
  b: readonly number[],
  currentN: number,
  seed: number,
): RunsNeeded | undefined {
  if (a.length === 0 || b.length === 0) return undefined;
  const observed = median(b)! - median(a)!;
  const needed = Math.ceil(CONCLUSIVE_SHARE * SIMULATED_EXPERIMENTS);
  let last: RunsNeeded | undefined;
  for (const n of RUNS_PER_ARM_CANDIDATES.filter((c) => c > currentN)) {
    const random = createRandom(deriveSeed(seed, `runs-needed/${n}`));
    const draw = (xs: readonly number[]) => Array.from({ length: n }, () => xs[Math.floor(random.next() * xs.length)]!);
    let conclusive = 0;
    let done = 0;
    // Stops as soon as the count is decided either way: a hopeless n′ costs a few dozen experiments.
    while (done < SIMULATED_EXPERIMENTS && conclusive < needed && done - conclusive <= SIMULATED_EXPERIMENTS - needed) {
      const d = bootstrapMedianComparison(draw(a), draw(b), {
        seed: deriveSeed(seed, `runs-needed/${n}/${done}`),
        resamples: SIMULATED_RESAMPLES,
      }).difference;
      if ((observed >= 0 && d.lower! > 0) || (observed <= 0 && d.upper! < 0)) conclusive++;
      done++;
    }
    last = { triedUpTo: n, share: conclusive / done };
    if (conclusive >= needed) return { ...last, runsPerArm: n };
  }
  return last;
}

export interface ScenarioVerdict {
  scenario: string;
  /**
   * Runs with user impact per arm, and how many of them never recovered (censored, whatever their
   * outcome: a promoted faulty release is one too), kept at their censoring time.
   */
  nManual: number;
  nFlagger: number;
  censoredManual: number;
  censoredFlagger: number;
  medianManual?: number;
  medianFlagger?: number;
  /** median(manual) − median(Flagger) with its 95% percentile bootstrap CI. */
  difference: BootstrapInterval;
  /** Two-sided Mann–Whitney p, manual against Flagger. */
  p?: number;
  /** From the CI of the difference, as in the break-even table; undefined below MIN_RUNS_FOR_VERDICT. */
  verdict?: Verdict;
  /** Only when not conclusive. */
  runsNeeded?: RunsNeeded;
}

/** One verdict per scenario that has an unswept manual cell and an unswept Flagger cell. */
export function scenarioVerdicts(rows: readonly RunRow[]): ScenarioVerdict[] {
  const cells = groupCells(rows).filter((c) => c.sweep === '');
  return cells.flatMap((manual) => {
    const flagger = cells.find((c) => c.arm === 'flagger' && c.scenario === manual.scenario);
    if (manual.arm !== 'manual' || !flagger) return [];
    const [m, f] = [mttrOrCensored(manual.rows), mttrOrCensored(flagger.rows)];
    const censored = (rs: readonly RunRow[]) =>
      rs.filter((r) => r.mttrS === undefined && r.censoredAtS !== undefined).length;
    // compareArms reads "b relative to a": b = manual gives median(manual) − median(Flagger).
    const c = compareArms(f, m, { seed: bootstrapSeed('verdict', manual) });
    const verdict = verdictOf(c.medianDifference, m.length, f.length);
    return [
      {
        scenario: manual.scenario,
        nManual: m.length,
        nFlagger: f.length,
        censoredManual: censored(manual.rows),
        censoredFlagger: censored(flagger.rows),
        medianManual: c.b.median,
        medianFlagger: c.a.median,
        difference: c.medianDifference,
        p: c.mannWhitney.p,
        verdict,
        runsNeeded:
          verdict === 'faster' || verdict === 'slower'
            ? undefined
            : runsNeeded(f, m, Math.max(m.length, f.length), bootstrapSeed('verdict/runs-needed', manual)),
      },
    ];
  });
}

const withCensored = (n: number, censored: number) =>
  censored > 0 ? `${n} (${censored} never recovered, kept as censored)` : String(n);

/** The verdict of one scenario in two or three sentences, every number from runs.csv. */
export function verdictText(v: ScenarioVerdict): string {
  const head = `**${v.scenario}**: `;
  if (v.nManual === 0 || v.nFlagger === 0)
    return `${head}no MTTR to compare: runs with user impact, manual ${v.nManual}, Flagger ${v.nFlagger}.`;
  const d = v.difference.estimate!;
  const who =
    d > 0
      ? `Flagger recovered faster, by ${fmt(d)} s`
      : d < 0
        ? `the manual arm recovered faster, by ${fmt(-d)} s`
        : 'neither arm recovered faster';
  const numbers =
    `${who} (median MTTR ${fmt(v.medianFlagger)} s Flagger, ${fmt(v.medianManual)} s manual; ` +
    `manual − Flagger ${fmt(d)} s, 95% CI [${fmt(v.difference.lower)}, ${fmt(v.difference.upper)}]; ` +
    `Mann–Whitney p = ${fmtP(v.p)}; runs per arm: manual ${withCensored(v.nManual, v.censoredManual)}, Flagger ${withCensored(v.nFlagger, v.censoredFlagger)}).`;
  const sentences = [`${head}${numbers.charAt(0).toUpperCase()}${numbers.slice(1)}`];
  if (v.verdict === 'faster' || v.verdict === 'slower') {
    sentences.push('**Conclusive** at this n: the CI excludes 0.');
  } else {
    sentences.push(
      v.verdict === undefined
        ? `**Not conclusive**: fewer than ${MIN_RUNS_FOR_VERDICT} runs in an arm.`
        : '**Not conclusive** at this n: the CI includes 0.',
    );
    const need = v.runsNeeded;
    if (need?.runsPerArm !== undefined)
      sentences.push(
        `At the observed spread, about **${need.runsPerArm} runs per arm** would make it conclusive (${fmt(100 * need.share, 0)}% of simulated experiments).`,
      );
    else if (need)
      sentences.push(
        `At the observed spread, even ${need.triedUpTo} runs per arm would not make it conclusive (${fmt(100 * need.share, 0)}% of simulated experiments): the arms may not differ.`,
      );
  }
  return sentences.join(' ');
}

export const VERDICT_METHOD =
  'Method: MTTR of every run with user impact, a censored run counted at its censoring time (a lower bound above every recovered run, so it is kept); ' +
  'the difference of medians manual − Flagger with a 95% percentile bootstrap CI (2,000 seeded resamples) and a two-sided Mann–Whitney test; ' +
  `conclusive when the CI excludes 0 with at least ${MIN_RUNS_FOR_VERDICT} runs per arm, the rule of the break-even table. ` +
  `Runs needed: for each n′ in ${RUNS_PER_ARM_CANDIDATES.join(', ')} above the larger arm's n, ${SIMULATED_EXPERIMENTS} simulated experiments draw n′ runs per arm with replacement from the observed runs and compute the same CI (${SIMULATED_RESAMPLES.toLocaleString('en')} resamples); ` +
  `the estimate is the smallest n′ at which at least ${100 * CONCLUSIVE_SHARE}% of them exclude 0 on the side of the observed difference.`;

/** The report's first section, or undefined when no scenario has both arms unswept. */
export function verdictSection(rows: readonly RunRow[]): ReportSection | undefined {
  const verdicts = scenarioVerdicts(rows);
  const judged = new Set(verdicts.map((v) => v.scenario));
  // A scenario whose manual arm is only swept is judged per cell by the break-even table.
  const reference = new Set(rows.filter((r) => r.arm === 'flagger' && r.sweep === '').map((r) => r.scenario));
  const swept = [
    ...new Set(
      rows
        .filter((r) => r.arm === 'manual' && r.sweep !== '' && reference.has(r.scenario) && !judged.has(r.scenario))
        .map((r) => r.scenario),
    ),
  ];
  if (verdicts.length === 0 && swept.length === 0) return undefined;
  return {
    id: 'verdict',
    title: 'Verdict',
    paragraphs: [
      ...verdicts.map(verdictText),
      ...swept.map((s) => `**${s}**: the manual arm is swept; the break-even table gives a verdict per cell.`),
      ...(verdicts.length > 0 ? [VERDICT_METHOD] : []),
    ],
    tables: [],
  };
}
