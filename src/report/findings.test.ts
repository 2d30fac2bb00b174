import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  breakEvenMarkdown,
  concurrencyMarkdown,
  editErrorMarkdown,
  findingsMarkdown,
  proposalMarkdown,
  scrapeSweepMarkdown,
  servicesMarkdown,
  toilMarkdown,
} from './findings.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe("README's findings", () => {
  it('are exactly what the checked-in runs.csv of the quoted run gives', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('## Findings');
    expect(at).toBeGreaterThan(0);
    const section = readme.slice(at);
    const expected = findingsMarkdown(path.join(ROOT, 'reports/findings/fault-matrix/runs.csv'));
    expect(section).toContain(expected);
  });

  it('and the report of that run says the same', () => {
    const report = readFileSync(path.join(ROOT, 'reports/findings/fault-matrix/report.md'), 'utf8');
    const expected = findingsMarkdown(path.join(ROOT, 'reports/findings/fault-matrix/runs.csv'));
    // The report has the paragraphs, then the table under its own heading and note.
    for (const paragraph of expected.split('\n\n').filter((p) => !p.startsWith('|')))
      expect(report).toContain(paragraph);
  });

  it("on the proposal's settings are exactly what the checked-in runs.csv of that run gives", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf("### On the proposal's own settings");
    expect(at).toBeGreaterThan(0);
    const section = readme.slice(at);
    expect(section).toContain(proposalMarkdown(path.join(ROOT, 'reports/findings/seed-proposal/runs.csv')));
  });

  it.each([
    ['### Break-even: the dashboard operator against Flagger', 'sweep-operator'],
    ['### Break-even: the alert operator against Flagger', 'sweep-alert'],
  ])(
    '%s: the paragraph and table are exactly what the checked-in runs.csv gives, and its report agrees',
    (heading, folder) => {
      const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
      const at = readme.indexOf(heading);
      expect(at).toBeGreaterThan(0);
      const section = readme.slice(at, readme.indexOf('\n### ', at + heading.length));
      const runsCsv = path.join(ROOT, 'reports/findings', folder, 'runs.csv');
      const expected = breakEvenMarkdown(runsCsv);
      expect(section).toContain(expected);
      const report = readFileSync(path.join(ROOT, 'reports/findings', folder, 'report.md'), 'utf8');
      expect(report).toContain(expected.split('\n\n')[0]!);
    },
  );

  it('on the scrape interval are exactly what the checked-in runs.csv of the scrape sweep gives', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const heading = "### The scrape interval: the proposal's 15 s assumption";
    const at = readme.indexOf(heading);
    expect(at).toBeGreaterThan(0);
    const section = readme.slice(at, readme.indexOf('\n## ', at));
    expect(section).toContain(scrapeSweepMarkdown(path.join(ROOT, 'reports/findings/sweep-scrape/runs.csv')));
  });

  it('on concurrency: the paragraph and table are exactly what the two checked-in runs.csv give', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const heading = '### Concurrency does not change the science';
    const at = readme.indexOf(heading);
    expect(at).toBeGreaterThan(0);
    const section = readme.slice(at, readme.indexOf('\n## ', at));
    const folder = (name: string) => path.join(ROOT, 'reports/findings/concurrency', name);
    expect(section).toContain(concurrencyMarkdown(folder('concurrency-1'), folder('concurrency-default')));
  });
});

describe("README's findings on toil, human error and many services (docs/design.md §13)", () => {
  it.each([
    ['### Toil per release', 'toil', toilMarkdown],
    ['### Human error in the values edit', 'sweep-edit-error', editErrorMarkdown],
    ['### Many services: where the manual process stops keeping up', 'sweep-services', servicesMarkdown],
  ])('%s: exactly what the checked-in runs.csv gives', (heading, folder, generate) => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf(heading);
    expect(at).toBeGreaterThan(0);
    const end = readme.indexOf('\n## ', at);
    const section = readme.slice(at, end === -1 ? undefined : end);
    expect(section).toContain(generate(path.join(ROOT, 'reports/findings', folder, 'runs.csv')));
  });
});

describe('the human-error findings (editErrorMarkdown)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edit-error-findings-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A runs.csv of the sweep: per cell, each run's failed requests, MTTR and edit errors, in columns. */
  function runsCsv(cells: Array<{ arm: string; sweep: string; failed: number[]; mttr: number[]; errors: number[] }>) {
    const header = 'run_id,arm,scenario,sweep,outcome,release_ms,mttr_s,failed_requests,edit_errors';
    const lines = cells.flatMap((c, i) =>
      c.failed.map(
        (failed, j) =>
          `r${i}-${j},${c.arm},faulty-500,${c.sweep},rolled_back,1000,${c.mttr[j]},${failed},${c.errors[j]}`,
      ),
    );
    const file = path.join(dir, 'runs.csv');
    writeFileSync(file, [header, ...lines].join('\n'));
    return file;
  }

  it('gives per swept rate the edit errors, failed requests per release and MTTR, and Flagger beside them', () => {
    const file = runsCsv([
      {
        arm: 'manual',
        sweep: 'editErrorRate=0.1',
        failed: [20, 400, 22, 24],
        mttr: [90, 95, 100, 80],
        errors: [0, 1, 0, 0],
      },
      {
        arm: 'manual',
        sweep: 'editErrorRate=0',
        failed: [20, 22, 24, 18],
        mttr: [90, 100, 80, 70],
        errors: [0, 0, 0, 0],
      },
      { arm: 'flagger', sweep: '', failed: [5, 7], mttr: [40, 50], errors: [0, 0] },
    ]);
    const md = editErrorMarkdown(file);
    expect(md.split('\n')[0]).toBe(
      "Over 8 manual releases of faulty-500, 1 had a values edit that set the canary's weight to 100 instead of 10. " +
        'Those 1 releases failed a median of 400 requests (median MTTR 95.0 s), the ones edited right 22 (90.0 s): ' +
        'one wrong edit cost 18.2 times the failed requests of a release. ' +
        "At editErrorRate 0.1 that adds 38 failed requests per release on average, while the cells' mean failed requests per release lie 96 apart (21.0 to 116.5, at least 4 runs per cell): " +
        "the operator's own spread hides the rates swept; the sweep measures the cost of a wrong edit, not yet that of the rate. " +
        'Flagger, which takes no values edit, failed 6.0 requests per release on average (median MTTR 45.0 s).',
    );
    const rows = md.split('\n').filter((l) => /^\| (0|0\.1|Flagger)/.test(l));
    expect(rows.map((r) => r.split(' | ').slice(0, 5).join(' | '))).toEqual([
      '| 0 | 4 | 0 | 21 [20–23] | 21.0',
      '| 0.1 | 4 | 1 | 23 [22–118] | 116.5',
      '| Flagger (no values edit) | 2 | — | 6 [6–7] | 6.0',
    ]);
    expect(rows[0]!.split(' | ')[5]).toMatch(/^85\.0 \[/);
  });
});
