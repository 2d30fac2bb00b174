import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendJournal, type JournalLine } from '../experiment/journal.ts';
import { readRegularFile, writeFileAtomic } from './files.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs `code` (an ES module body that may import project files by absolute path) in a node process
 * whose files may not grow past 1 KiB (`ulimit -f 1`), as if the disk were full: a write crossing
 * it is cut short, the next one fails with EFBIG. Returns what the code printed.
 */
function underFileLimit(code: string): string {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `trap '' XFSZ; ulimit -f 1; exec "$0" "$@"`,
      process.execPath,
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      code,
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, TSX_DISABLE_CACHE: '1' },
      timeout: 60_000,
    },
  );
  expect(r.stderr).toBe('');
  return r.stdout.trim();
}

const FILES = path.join(import.meta.dirname, 'files.ts');
const JOURNAL = path.join(import.meta.dirname, '../experiment/journal.ts');

describe('writeFileAtomic', () => {
  it('replaces a file whole', () => {
    const file = path.join(dir, 'whole.txt');
    writeFileSync(file, 'old');
    writeFileAtomic(file, 'new content');
    expect(readFileSync(file, 'utf8')).toBe('new content');
    expect(readdirSync(dir).filter((f) => f.includes('whole'))).toEqual(['whole.txt']);
  });

  it('on a full disk keeps the previous file as it was, leaves no temporary file, and names the file in the error', () => {
    const file = path.join(dir, 'report.html');
    writeFileSync(file, 'the previous good report');
    const out = underFileLimit(`
      import { writeFileAtomic } from ${JSON.stringify(FILES)};
      try { writeFileAtomic(${JSON.stringify(file)}, 'x'.repeat(5000)); console.log('written'); }
      catch (err) { console.log(err.code, err.path); }`);
    expect(out).toBe(`EFBIG ${file}`);
    expect(readFileSync(file, 'utf8')).toBe('the previous good report');
    expect(readdirSync(dir).filter((f) => f.includes('report'))).toEqual(['report.html']);
  });
});

describe('appendJournal on a full disk', () => {
  it('cuts a partly written line back to its start, so the journal still parses', () => {
    const file = path.join(dir, 'journal.jsonl');
    const header = { type: 'experiment', name: 'x' };
    writeFileSync(file, `${JSON.stringify(header)}\n${'\n'.repeat(900)}`);
    const before = readFileSync(file);
    // A line of ~2 KB: the first write(2) takes what fits under 1 KiB, the next one fails.
    const out = underFileLimit(`
      import { appendJournal } from ${JSON.stringify(JOURNAL)};
      try { appendJournal(${JSON.stringify(file)}, { type: 'run', runId: 'r', pad: 'y'.repeat(2000) }); console.log('appended'); }
      catch (err) { console.log(err.code, err.path); }`);
    expect(out).toBe(`EFBIG ${file}`);
    expect(readFileSync(file).equals(before)).toBe(true);
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    expect(lines.map((l) => JSON.parse(l))).toEqual([header]);
  });

  it('appends whole lines when there is room', () => {
    const file = path.join(dir, 'roomy.jsonl');
    const line = { type: 'experiment' } as JournalLine;
    appendJournal(file, line);
    appendJournal(file, line);
    expect(readFileSync(file, 'utf8')).toBe('{"type":"experiment"}\n{"type":"experiment"}\n');
  });
});

describe('readRegularFile', () => {
  it('reads a regular file up to the cap and refuses anything else', () => {
    const file = path.join(dir, 'small.yaml');
    writeFileSync(file, 'a: 1\n');
    expect(readRegularFile(file, 100)).toEqual({ ok: true, bytes: Buffer.from('a: 1\n') });
    expect(readRegularFile(file, 3)).toEqual({ ok: false, reason: 'too-large', size: 5 });
    expect(readRegularFile('/dev/null', 100)).toEqual({ ok: false, reason: 'not-a-file' });
    expect(readRegularFile(dir, 100)).toEqual({ ok: false, reason: 'folder' });
    expect(readRegularFile(path.join(dir, 'nope'), 100)).toMatchObject({
      ok: false,
      reason: 'missing',
      code: 'ENOENT',
    });
  });
});
