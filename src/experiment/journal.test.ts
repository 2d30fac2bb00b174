import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readJournal } from './journal.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function journalWith(header: object): string {
  dir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-journal-'));
  const file = path.join(dir, 'journal.jsonl');
  writeFileSync(file, `${JSON.stringify({ type: 'experiment', ...header })}\n`);
  return file;
}

describe('readJournal', () => {
  it('reads the Flagger intervals of a journal written before they were named intervalMs', () => {
    const flagger = { interval: 30_000, threshold: 2, requestSuccessRate: { min: 99, interval: 60_000 }, requestDuration: null };
    const { header } = readJournal(journalWith({ name: 'old', scenarios: [{ name: 'faulty-500', flagger }] }));
    expect(header!.scenarios[0]!.flagger).toEqual({
      intervalMs: 30_000,
      threshold: 2,
      requestSuccessRate: { intervalMs: 60_000, min: 99 },
      requestDuration: null,
    });
  });

  it('leaves a current journal as it was written', () => {
    const flagger = { intervalMs: 10_000, threshold: 1, requestSuccessRate: null, requestDuration: { intervalMs: 60_000, max: 500 } };
    const { header } = readJournal(journalWith({ name: 'new', scenarios: [{ name: 'healthy', flagger }] }));
    expect(header!.scenarios[0]!.flagger).toEqual(flagger);
  });
});
