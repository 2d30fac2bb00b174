import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findingsMarkdown, proposalMarkdown } from './findings.ts';

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
    for (const paragraph of expected.split('\n\n').filter((p) => !p.startsWith('|'))) expect(report).toContain(paragraph);
  });

  it("on the proposal's settings are exactly what the checked-in runs.csv of that run gives", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf("### On the proposal's own settings");
    expect(at).toBeGreaterThan(0);
    const section = readme.slice(at);
    expect(section).toContain(proposalMarkdown(path.join(ROOT, 'reports/findings/seed-proposal/runs.csv')));
  });
});
