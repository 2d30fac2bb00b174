import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { breakEvenMarkdown, concurrencyMarkdown, findingsMarkdown, proposalMarkdown } from './findings.ts';

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
