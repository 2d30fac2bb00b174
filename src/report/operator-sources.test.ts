import { PassThrough } from 'node:stream';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEntry } from '../experiment/journal.ts';
import { planRuns } from '../experiment/plan.ts';
import { createOperator } from '../operator/create.ts';
import { loadExperimentFile } from '../scenario/load-files.ts';
import { describeManualProcess } from '../operator/progression.ts';
import { manualSchema, operatorSchema, sloSchema } from '../scenario/schema.ts';
import { PROJECT_ROOT } from '../test-support/cli.ts';
import { buildReportModel } from './build-model.ts';
import { makeHeader, makeRun, makeScenario } from './charts/test-fixtures.ts';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import { manualProcessSourceText, operatorSourceText } from './operator-sources.ts';

/**
 * The journal a sweep plan would write, without running it: one run per planned manual run, with
 * the operator description the runner journals (the operator's own describe()).
 */
function journalOfPlan(file: string): { runs: RunEntry[]; header: ReturnType<typeof makeHeader> } {
  const loaded = loadExperimentFile(path.join(PROJECT_ROOT, file), path.join(PROJECT_ROOT, 'scenarios'));
  const io = { input: new PassThrough(), output: new PassThrough(), instructions: () => '' };
  const runs = planRuns(loaded, { repetitions: 1 }).map((p) => {
    const run = makeRun({
      runId: p.runId,
      arm: p.arm,
      scenario: p.scenario.name,
      entry: p.entry,
      outcome: 'rolled_back',
      mttrS: 30,
      sweep: p.sweep,
      sweepLabel: p.sweepLabel,
    });
    return p.arm === 'manual'
      ? { ...run, operator: createOperator(p.scenario.manual.operator, p.scenario.slo, io).describe() }
      : run;
  });
  return {
    runs,
    header: makeHeader(
      loaded.cells.map((c) => c.scenario),
      runs,
      loaded.cells.map((c) => c.sweepLabel),
    ),
  };
}

/** The default story each operator kind journals (its describe().source). */
const defaultStory = (kind: 'dashboard' | 'alert') =>
  String(
    createOperator(operatorSchema.parse({ kind }), sloSchema.parse({}), {
      input: new PassThrough(),
      output: new PassThrough(),
      instructions: () => '',
    }).describe().source,
  );

describe('the operator source of a swept report', () => {
  it.each([
    [
      'experiments/sweep-operator.yaml',
      'dashboard',
      ['lookIntervalS', 'reaction.medianS'],
      ['panelWindowS', 'visibleErrorRate', 'pNotice', 'reaction.p90S'],
    ],
    [
      'experiments/sweep-alert.yaml',
      'alert',
      ['forS', 'acknowledge.medianS'],
      [
        'errorRateAbove',
        'ruleWindowS',
        'evaluationIntervalS',
        'groupWaitS',
        'acknowledge.p90S',
        'action.medianS',
        'action.p90S',
      ],
    ],
  ] as const)(
    '%s: every row names the swept values as factors and gives sources only for the rest',
    (file, kind, swept, kept) => {
      const { runs, header } = journalOfPlan(file);
      const model = buildReportModel(header, runs, []);
      const table = model.sections.find((s) => s.id === 'operators')!.tables[0]!;
      const manualCells = new Set(runs.filter((r) => r.arm === 'manual').map((r) => r.sweepLabel));
      expect(table.rows).toHaveLength(manualCells.size);
      expect(manualCells.size).toBeGreaterThan(4);
      const story = defaultStory(kind);
      const cells = header.scenarios
        .map((s, entry) => ({ s, label: header.sweeps![entry]! }))
        .filter(({ label }) => manualCells.has(label));
      for (const { s, label } of cells) {
        const op = s.manual.operator as Record<string, unknown> & { kind: string };
        const value = (p: string) => p.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], op);
        const row = table.rows.find(
          (r) =>
            r[1] === kind &&
            swept.every(
              (p) => r[3]!.includes(`${p} = ${String(value(p))} s,`) || r[3]!.includes(`${p} = ${String(value(p))} s.`),
            ),
        );
        expect(row, `row of ${label}`).toBeDefined();
        const source = row![3]!;
        expect(source).not.toContain(story);
        const [sweptPart, assumedPart] = source.split('Assumed (docs/design.md §6 defaults): ');
        expect(sweptPart).toMatch(/^Swept, an experimental factor and not an assumption: /);
        // A swept field never appears among the assumptions, and every other field does.
        for (const p of swept) expect(assumedPart).not.toMatch(new RegExp(`(^|; )${p.replace('.', '\\.')} = `));
        for (const p of kept)
          expect(assumedPart).toMatch(
            new RegExp(`(^|; )${p.replace('.', '\\.')} = ${String(value(p)).replace('.', '\\.')}`),
          );
      }
      // report.md and report.html carry the same text.
      const md = renderMarkdown(model);
      const html = renderHtml(model, []);
      expect(md).not.toContain(story);
      expect(html).not.toContain(story.replace(/'/g, '&#39;'));
      expect(html).toContain('Swept, an experimental factor and not an assumption: ');
    },
  );

  it('names a field the plan set to another value than the default, and keeps the story when nothing changed', () => {
    const dashboard = operatorSchema.parse({ kind: 'dashboard', pNotice: 1 });
    const text = operatorSourceText(dashboard, { 'manual.operator.lookIntervalS': 60 })!;
    expect(text).toContain('Swept, an experimental factor and not an assumption: lookIntervalS = 60 s.');
    expect(text).toContain('Set by the experiment or scenario file, not a docs/design.md §6 default: pNotice = 1.');
    expect(text).not.toMatch(/Assumed[\s\S]*(lookIntervalS|pNotice)/);
    // A sweep of the whole reaction object covers both of its fields.
    expect(
      operatorSourceText(operatorSchema.parse({ kind: 'dashboard' }), {
        'manual.operator.reaction': { medianS: 45, p90S: 120 },
      }),
    ).toMatch(/^Swept, [^.]*reaction\.medianS = 45 s, reaction\.p90S = 120 s\. Assumed/);
    expect(operatorSourceText(operatorSchema.parse({ kind: 'alert' }), undefined)).toBeUndefined();
    expect(operatorSourceText(operatorSchema.parse({ kind: 'alert' }), { 'flagger.interval': 10_000 })).toBeUndefined();
  });

  it.each(['dashboard', 'alert'] as const)('gives every %s field that kept its default its own reason', (kind) => {
    const swept = kind === 'dashboard' ? 'lookIntervalS' : 'groupWaitS';
    const text = operatorSourceText(operatorSchema.parse({ kind }), { [`manual.operator.${swept}`]: 1 })!;
    expect(text).toMatch(/Assumed/);
    // The generic fallback means a field was added without its reason.
    expect(text).not.toContain('(docs/design.md §6 default)');
    if (kind === 'dashboard') expect(text).toMatch(/latencyPanel = true \(the latency panel beside/);
    else expect(text).toMatch(/latencyP99AboveMs = null \(off: /);
  });
});

describe('the manual process in the operator table (docs/design.md §13)', () => {
  const description = (manual: Record<string, unknown> = {}) => ({
    ...createOperator(operatorSchema.parse({ kind: 'dashboard' }), sloSchema.parse({}), {
      input: new PassThrough(),
      output: new PassThrough(),
      instructions: () => '',
    }).describe(),
    ...describeManualProcess(manualSchema.parse(manual)),
  });

  it('lists every parameter with its source, and a swept one as swept', () => {
    const text = manualProcessSourceText(description({ editErrorRate: 0.05 }), { 'manual.editErrorRate': 0.05 })!;
    expect(text).toContain('Manual process, swept: editErrorRate = 0.05.');
    expect(text).toContain('progression = 10% → 25% → 50% → promote, hold 120 s at each (assumed:');
    expect(text).toContain('helmCommandS = 15 (keystroke-level model (Card, Moran & Newell 1980)');
    expect(text).not.toContain('editErrorRate = 0.05 (');
    const unswept = manualProcessSourceText(description(), undefined)!;
    expect(unswept).toContain("editErrorRate = 0 (0 unless swept; HEART's nominal error probabilities");
  });

  it("gives a release train's handling its source, or names it swept when the service count is swept", () => {
    const train = (sweep: Record<string, unknown> | undefined) =>
      manualProcessSourceText({ ...description(), ...describeManualProcess(manualSchema.parse({}), 4, 1) }, sweep)!;
    expect(train(undefined)).toMatch(
      /services = 4 \(1 faulty\), released, .* \(assumed: one person runs the whole train/,
    );
    const swept = train({ services: 4 });
    expect(swept).toMatch(/^Manual process, swept: services = 4 \(1 faulty\)/);
    // The count is swept; the one-person handling stays an assumption with its reason.
    expect(swept).toMatch(/one service after another \(assumed: one person runs the whole train/);
  });

  it("appear in the report's operator table: parameters in their column, sources in the source column", () => {
    const run = {
      ...makeRun({ runId: 'm1', arm: 'manual', scenario: 'faulty-500', outcome: 'rolled_back', mttrS: 30 }),
    };
    const withOp = { ...run, operator: description() };
    const model = buildReportModel(makeHeader([makeScenario('faulty-500')], [withOp]), [withOp], []);
    const table = model.sections.find((s) => s.id === 'operators')!.tables[0]!;
    const [, , params, source] = table.rows[0]!;
    expect(params).toContain('progression=10% → 25% → 50% → promote, hold 120 s at each');
    expect(params).toContain('panelLookS=10');
    expect(params).not.toContain('processSource');
    expect(source).toContain('Manual process (docs/design.md §13): progression = ');
  });
});
