import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { bootstrapMedianDifferenceCI, mannWhitney } from '../stats/index.ts';
import { bootstrapSeed, fmtP, type RunRow } from './run-rows.ts';
import { makeHeader, makeRun, makeScenario } from './charts/test-fixtures.ts';
import { RUNS_PER_ARM_CANDIDATES, runsNeeded, scenarioVerdicts, verdictSection, verdictText } from './verdict.ts';
import { writeReport } from './write-report.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'verdict-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Unswept rows of one scenario; 'censored' stands for a run censored 900 s after impact. */
function rows(manual: Array<number | 'censored'>, flagger: number[], scenario = 's'): RunRow[] {
  return [
    ...manual.map((v, i) => ({
      runId: `m${i}`,
      arm: 'manual' as const,
      scenario,
      sweep: '',
      outcome: v === 'censored' ? 'censored' : 'rolled_back',
      ...(v === 'censored' ? { censoredAtS: 900 } : { mttrS: v }),
      failedRequests: 1,
    })),
    ...flagger.map((mttrS, i) => ({
      runId: `f${i}`,
      arm: 'flagger' as const,
      scenario,
      sweep: '',
      outcome: 'rolled_back',
      mttrS,
      failedRequests: 1,
    })),
  ];
}

const FLAGGER = [30, 31, 32, 29, 30];
/** A real difference (median 60 s against 30 s) with a spread five runs cannot resolve. */
const SPREAD = [-40, -25, 0, 30, 90];
const spreadBy = (k: number) => SPREAD.map((d) => 60 + k * d);

describe('the verdict per scenario', () => {
  it('calls a clear difference conclusive and says which arm, by how much, with its CI and p', () => {
    const [v] = scenarioVerdicts(rows([100, 101, 102, 103, 104], FLAGGER));
    expect(v!.verdict).toBe('slower');
    expect(v!.runsNeeded).toBeUndefined();
    expect(verdictText(v!)).toBe(
      '**s**: Flagger recovered faster, by 72.0 s (median MTTR 30.0 s Flagger, 102.0 s manual; ' +
        `manual − Flagger 72.0 s, 95% CI [${v!.difference.lower!.toFixed(1)}, ${v!.difference.upper!.toFixed(1)}]; ` +
        `Mann–Whitney p = ${fmtP(v!.p)}; runs per arm: manual 5, Flagger 5). **Conclusive** at this n: the CI excludes 0.`,
    );
    expect(v!.difference.lower).toBeGreaterThan(0);
    expect(v!.p).toBeLessThan(0.05);
    // The other way round: the manual arm is the faster one.
    const [w] = scenarioVerdicts(rows(FLAGGER, [100, 101, 102, 103, 104]));
    expect(w!.verdict).toBe('faster');
    expect(verdictText(w!)).toMatch(/^\*\*s\*\*: The manual arm recovered faster, by 72\.0 s .*\*\*Conclusive\*\*/);
  });

  it('says an unresolved difference is not conclusive and how many runs per arm would resolve it', () => {
    const [v] = scenarioVerdicts(rows(spreadBy(1), FLAGGER));
    expect(v!.difference.estimate).toBe(30);
    expect(v!.difference.lower).toBeLessThanOrEqual(0);
    expect(v!.verdict).toBe('not distinguishable');
    const n = v!.runsNeeded!.runsPerArm!;
    expect(n).toBeGreaterThan(5);
    expect(v!.runsNeeded!.share).toBeGreaterThanOrEqual(0.8);
    expect(verdictText(v!)).toContain(
      `**Not conclusive** at this n: the CI includes 0. At the observed spread, about **${n} runs per arm** would make it conclusive`,
    );
    // Twice the spread around the same medians needs more runs.
    const wider = runsNeeded(FLAGGER, spreadBy(2), 5, 7)!.runsPerArm ?? Number.POSITIVE_INFINITY;
    expect(runsNeeded(FLAGGER, spreadBy(1), 5, 7)!.runsPerArm).toBeLessThan(wider);
    // Never fewer runs than there are: a narrow spread resolved by 6 runs still asks for more than 10.
    expect(runsNeeded(FLAGGER, spreadBy(0.5), 5, 7)!.runsPerArm).toBe(6);
    expect(runsNeeded(FLAGGER, spreadBy(0.5), 10, 7)!.runsPerArm).toBe(12);
    // The manual arm the faster one: the same resolution, on the other side of 0.
    expect(runsNeeded(spreadBy(0.5), FLAGGER, 5, 7)!.runsPerArm).toBe(6);
  });

  it('finds no number of runs that separates arms that do not differ', () => {
    const [v] = scenarioVerdicts(rows([28, 29, 30, 31, 33], FLAGGER));
    expect(v!.runsNeeded!.runsPerArm).toBeUndefined();
    expect(v!.runsNeeded!.triedUpTo).toBe(RUNS_PER_ARM_CANDIDATES.at(-1));
    expect(verdictText(v!)).toContain(
      `even ${RUNS_PER_ARM_CANDIDATES.at(-1)} runs per arm would not make it conclusive`,
    );
  });

  it('keeps censored runs at their censoring time, and gives no verdict below five runs an arm', () => {
    // Dropping the two censored runs would leave a manual median of 25 s, faster than Flagger.
    const [v] = scenarioVerdicts(rows([20, 25, 'censored', 'censored', 28], FLAGGER));
    expect(v!.nManual).toBe(5);
    expect(v!.medianManual).toBe(28);
    expect(verdictText(v!)).toContain('manual 5 (2 never recovered, kept as censored)');
    const [few] = scenarioVerdicts(rows([100, 101, 102], FLAGGER));
    expect(few!.verdict).toBeUndefined();
    expect(verdictText(few!)).toContain('**Not conclusive**: fewer than 5 runs in an arm.');
  });

  it('leaves swept manual cells to the break-even table', () => {
    const swept = rows([100, 101, 102, 103, 104], FLAGGER).map((r) =>
      r.arm === 'manual' ? { ...r, sweep: 'lookIntervalS=10' } : r,
    );
    expect(scenarioVerdicts(swept)).toEqual([]);
    expect(verdictSection(swept)!.paragraphs).toEqual([
      '**s**: the manual arm is swept; the break-even table gives a verdict per cell.',
    ]);
  });
});

describe('the verdict in the report', () => {
  const scenarios = [makeScenario('clear', { release: { fault: 'http500' } }), makeScenario('close')];
  const runs = [
    ...[95, 120, 140, 160, 210].map((mttrS, i) =>
      makeRun({ runId: `clear-manual-r${i}`, arm: 'manual', scenario: 'clear', outcome: 'rolled_back', mttrS }),
    ),
    ...[30, 31, 29.5, 33, 30.5].map((mttrS, i) =>
      makeRun({ runId: `clear-flagger-r${i}`, arm: 'flagger', scenario: 'clear', outcome: 'rolled_back', mttrS }),
    ),
    ...spreadBy(1).map((mttrS, i) =>
      makeRun({
        runId: `close-manual-r${i}`,
        arm: 'manual',
        scenario: 'close',
        entry: 1,
        outcome: 'rolled_back',
        mttrS,
      }),
    ),
    makeRun({
      runId: 'close-manual-r5',
      arm: 'manual',
      scenario: 'close',
      entry: 1,
      outcome: 'censored',
      censoredAtS: 880,
    }),
    ...FLAGGER.map((mttrS, i) =>
      makeRun({
        runId: `close-flagger-r${i}`,
        arm: 'flagger',
        scenario: 'close',
        entry: 1,
        outcome: 'rolled_back',
        mttrS,
      }),
    ),
  ];
  const folder = path.join(dir, 'report');

  it('opens report.md and report.html, before the summary', async () => {
    mkdirSync(folder);
    for (const line of [makeHeader(scenarios, runs), ...runs])
      appendFileSync(path.join(folder, 'journal.jsonl'), `${JSON.stringify(line)}\n`);
    await writeReport(folder);
    const md = readFileSync(path.join(folder, 'report.md'), 'utf8').split('\n');
    expect(md[0]).toMatch(/^# MTTR report: /);
    expect(md.filter((l) => l.startsWith('## ')).slice(0, 2)).toEqual(['## Verdict', '## Runs per arm']);
    expect(md.slice(1).find((l) => l.trim() !== '')).toBe('## Verdict');
    const html = readFileSync(path.join(folder, 'report.html'), 'utf8');
    expect([...html.matchAll(/<section id="([^"]+)"/g)].map((m) => m[1]).slice(0, 2)).toEqual([
      's-verdict',
      's-summary',
    ]);
    expect(html).toContain('<strong>clear</strong>: Flagger recovered faster');
  });

  it('prints only numbers recomputed from runs.csv', () => {
    const md = readFileSync(path.join(folder, 'report.md'), 'utf8');
    const csv = parse(readFileSync(path.join(folder, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    const f1 = (v: number) => v.toFixed(1);
    // Median written out here, independent of the report's code.
    const med = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
    };
    for (const scenario of ['clear', 'close']) {
      const mttr = (arm: string) =>
        csv
          .filter((r) => r.scenario === scenario && r.arm === arm)
          .map((r) => Number(r.mttr_s !== '' ? r.mttr_s : r.censored_at_s));
      const [m, f] = [mttr('manual'), mttr('flagger')];
      const cell = { scenario, sweep: '', arm: 'manual' };
      const ci = bootstrapMedianDifferenceCI(f, m, { seed: bootstrapSeed('verdict', cell) });
      const d = med(m) - med(f);
      const line = md.split('\n').find((l) => l.startsWith(`**${scenario}**:`))!;
      expect(line).toContain(
        `(median MTTR ${f1(med(f))} s Flagger, ${f1(med(m))} s manual; manual − Flagger ${f1(d)} s, ` +
          `95% CI [${f1(ci.lower!)}, ${f1(ci.upper!)}]; Mann–Whitney p = ${fmtP(mannWhitney(m, f).p)}; runs per arm: manual ${m.length}`,
      );
      const conclusive = ci.lower! > 0 || ci.upper! < 0;
      expect(line.includes('**Conclusive** at this n')).toBe(conclusive);
      if (!conclusive) {
        const need = runsNeeded(f, m, Math.max(m.length, f.length), bootstrapSeed('verdict/runs-needed', cell));
        expect(line).toContain(`about **${need!.runsPerArm} runs per arm**`);
      }
    }
    expect(md).toContain('**clear**: Flagger recovered faster');
    expect(md).toContain('manual 6 (1 never recovered, kept as censored)');
    expect(md).toContain('Method: MTTR of every run with user impact');
  });
});

describe('module load order', () => {
  it.each(['break-even.ts', 'verdict.ts', 'build-model.ts', 'write-report.ts'])(
    'loads first in a fresh process: %s',
    (file) => {
      const url = new URL(file, import.meta.url).href;
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', `await import(${JSON.stringify(url)});`],
        {
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      expect(r.stderr).not.toContain('before initialization');
      expect(r.status).toBe(0);
    },
  );
});
