import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesLabelled, runCli } from '../test-support/cli.ts';
import { QUICK_FLAGGER_RUNS, writePlan } from '../test-support/plan.ts';
import { JOURNAL_FILE, readJournal } from './journal.ts';

// A full disk in the middle of an experiment, made real with a file-size limit (`ulimit -f`): the
// next journal append fails part-way, as it would on ENOSPC. What was written before must survive.
const LIMIT_KIB = 512;
const REPORT_FILES = ['report.html', 'report.md', 'runs.csv', 'summary.json'];

let dir: string;
let out: string;
let name: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'disk-full-'));
  out = path.join(dir, 'report');
  name = `disk-full-${process.pid}`;
  env = { CANARY_MTTR_STATE_DIR: path.join(dir, 'state') };
});
afterAll(() => {
  for (const pid of processesLabelled(name)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('a full disk mid-experiment', () => {
  it('leaves a journal that parses and the previous report intact, with a one-line error and no re-render', async () => {
    const plan = writePlan(path.join(dir, 'plan.yaml'), { name, timeScale: 30, repetitions: 2 }, QUICK_FLAGGER_RUNS);
    const first = await runCli(['experiment', '--experiment', plan, '--out', out], { timeoutMs: 180_000, env });
    expect(first.code).toBe(0);
    // As after an interruption before the second run was journaled: the report still shows both
    // runs (the earlier good render), the journal holds one, so --resume runs the second again.
    const journal = path.join(out, JOURNAL_FILE);
    const lines = readFileSync(journal, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    // Blank lines (which a journal reader skips) bring the journal to 100 bytes below the limit:
    // the second run's line (kilobytes) cannot fit, while its request records (tens of KiB) can.
    const kept = `${lines.slice(0, 2).join('\n')}\n`;
    writeFileSync(journal, kept + '\n'.repeat(LIMIT_KIB * 1024 - 100 - Buffer.byteLength(kept)));
    const journalBefore = readFileSync(journal);
    const reportBefore = REPORT_FILES.map((f) => readFileSync(path.join(out, f)));

    const r = await runCli(['experiment', '--resume', out], { timeoutMs: 180_000, env, fileSizeLimitKiB: LIMIT_KIB });

    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${journal}: cannot be written (EFBIG: file too large); the files written before it are intact; free some space, then finish with npm run experiment -- --resume ${out}\n`,
    );
    // The run was started (so the write failed mid-experiment), and the report was not re-rendered.
    expect(r.stdout).toContain('Resuming');
    expect(r.stdout).not.toContain('Report:');
    // The partly written line was cut back: the journal is byte for byte what it was, and parses.
    expect(readFileSync(journal).equals(journalBefore)).toBe(true);
    const parsed = readJournal(journal);
    expect(parsed.problems).toEqual([]);
    expect(parsed.runs.map((run) => run.runId)).toEqual([JSON.parse(lines[1]!).runId]);
    // The previous report is untouched and still parses; no temporary file or lock is left.
    expect(REPORT_FILES.map((f) => readFileSync(path.join(out, f)))).toEqual(reportBefore);
    expect(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).runs).toBe(2);
    expect(readFileSync(path.join(out, 'runs.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
    const everyFile = readdirSync(out, { recursive: true }).map(String);
    expect(everyFile.filter((f) => f.endsWith('.tmp') || path.basename(f).startsWith('.'))).toEqual([]);
    expect(processesLabelled(name)).toEqual([]);
  }, 400_000);
});
