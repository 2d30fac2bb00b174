import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticReport } from '../../bench/synthetic-report.ts';
import { runCli } from '../test-support/cli.ts';
import { writePlan } from '../test-support/plan.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'report-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run report', () => {
  it('re-renders every file from the journal, without running anything', async () => {
    const report = path.join(dir, 'synthetic');
    writeSyntheticReport(report, 4, 400);
    const r = await runCli(['report', report]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Report: ${report}/report.html and report.md (4 runs)\n`);
    expect(readFileSync(path.join(report, 'runs.csv'), 'utf8').trim().split('\n')).toHaveLength(5);
    const html = readFileSync(path.join(report, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(readFileSync(path.join(report, 'report.md'), 'utf8')).toContain('| faulty-500 | manual | 2 |');
  });

  it('names a corrupted journal line by its number and renders the rest', async () => {
    const report = path.join(dir, 'corrupted');
    writeSyntheticReport(report, 4, 200);
    const journal = path.join(report, 'journal.jsonl');
    const lines = readFileSync(journal, 'utf8').split('\n');
    lines[2] = lines[2]!.slice(0, 40); // line 3: the second run, cut in the middle
    writeFileSync(journal, lines.join('\n'));
    const r = await runCli(['report', report]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${journal}:3: not valid JSON; line skipped\n`);
    expect(r.stdout).toBe(`Report: ${report}/report.html and report.md (3 runs)\n`);
    const md = readFileSync(path.join(report, 'report.md'), 'utf8');
    expect(md).toContain(`- ${journal}:3: not valid JSON; line skipped`);
    expect(readFileSync(path.join(report, 'runs.csv'), 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('fails cleanly on a missing folder and on an empty report', async () => {
    const missing = path.join(dir, 'nope');
    const a = await runCli(['report', missing]);
    expect(a).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `${missing}: no such report folder; pass a folder written by npm run experiment\n`,
    });
    const empty = path.join(dir, 'empty');
    writeSyntheticReport(empty, 0, 0);
    const b = await runCli(['report', empty]);
    expect(b).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `${empty}: the journal holds no finished run yet; nothing to report\n`,
    });
    const noArg = await runCli(['report']);
    expect(noArg.code).toBe(2);
    expect(noArg.stderr).toBe(
      'report: name the report folder, e.g. npm run report -- reports/quick-20261126-070000Z\n',
    );
  });
});

describe('npm run compare', () => {
  it('compares two real reports of npm run experiment with different seeds', async () => {
    const plan = path.join(dir, 'plan.yaml');
    writePlan(plan, { name: 'compare-check', timeScale: 30, repetitions: 2 }, [
      '  - scenario: faulty-500',
      '    arms: [manual, flagger]',
      // 5 req/s (150 req/s wall at 30×): a busy machine keeps up, so every run recovers.
      '    overrides: { load: { rateRps: 5 }, flagger: { interval: 10s, threshold: 1 }, recovery: { cleanWindowS: 5 }, warmup: { durationS: 5 }, manual: { operator: { kind: dashboard, lookIntervalS: 15, pNotice: 1 } } }',
    ]);
    const a = path.join(dir, 'seed-1');
    const b = path.join(dir, 'seed-2');
    for (const [out, seed] of [
      [a, '1'],
      [b, '2'],
    ] as const) {
      const r = await runCli(['experiment', '--experiment', plan, '--out', out, '--seed', seed], {
        timeoutMs: 120_000,
      });
      expect(r.code).toBe(0);
    }
    const out = path.join(dir, 'cmp');
    const r = await runCli(['compare', a, b, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Comparison: ${out}/compare.md, ${out}/compare.html\n`);
    const md = readFileSync(path.join(out, 'compare.md'), 'utf8');
    expect(md).toContain('A: compare-check (local, seed 1, seed-1), 4 runs.');
    expect(md).toContain('B: compare-check (local, seed 2, seed-2), 4 runs.');
    for (const arm of ['manual', 'flagger'])
      expect(md).toMatch(new RegExp(`\\| faulty-500 \\| ${arm} \\| MTTR \\| 2 \\| 2 \\|`));
    expect(readFileSync(path.join(out, 'compare.html'), 'utf8')).toContain('<svg');
  }, 240_000);

  it('fails cleanly when a folder is missing or the two share nothing', async () => {
    const r = await runCli(['compare', path.join(dir, 'nope'), path.join(dir, 'synthetic')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${path.join(dir, 'nope')}: no such report folder; pass a folder written by npm run experiment\n`,
    );
    const one = await runCli(['compare', path.join(dir, 'synthetic')]);
    expect(one.code).toBe(2);
    expect(one.stderr).toBe(
      'compare: expected two report folders, got 1; usage: npm run compare -- DIR_A DIR_B [--out DIR]\n',
    );
  });
});
