import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesLabelled, runCli, startCli, waitFor } from '../test-support/cli.ts';
import { QUICK_FLAGGER_RUNS, writePlan } from '../test-support/plan.ts';
import { UsageError } from '../common/errors.ts';
import { LOCK_FILE, lockReportFolder, tookOverMessage } from './folder-lock.ts';

let dir: string;
let name: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'folder-lock-'));
  name = `folder-lock-${process.pid}`;
});
afterAll(() => {
  for (const pid of processesLabelled(name)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (and been reaped): a writer that died. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function lockOf(folder: string): { pid: number; command: string } {
  return JSON.parse(readFileSync(path.join(folder, LOCK_FILE), 'utf8'));
}

describe('lockReportFolder', () => {
  it('refuses a second writer while the first holds the folder, and releases on dispose', () => {
    const folder = path.join(dir, 'twice');
    const first = lockReportFolder(folder, 'npm run experiment');
    expect(lockOf(folder)).toMatchObject({ pid: process.pid, command: 'npm run experiment' });
    expect(() => lockReportFolder(folder, 'npm run report')).toThrow(UsageError);
    expect(() => lockReportFolder(folder, 'npm run report')).toThrow(
      new RegExp(
        `^${folder}: another writer has this report folder \\(npm run experiment, pid ${process.pid}, since \\S+\\); wait for it to finish, or pass another folder$`,
      ),
    );
    first[Symbol.dispose]();
    // The folder was made for the lock and holds nothing else: it goes with it.
    expect(existsSync(folder)).toBe(false);
    const again = lockReportFolder(folder, 'npm run report');
    writeFileSync(path.join(folder, 'journal.jsonl'), '');
    again[Symbol.dispose]();
    expect(readdirSync(folder)).toEqual(['journal.jsonl']);
  });

  it('takes over the lock of a dead writer, or an unreadable one, and says so', () => {
    const folder = path.join(dir, 'stale');
    mkdirSync(folder);
    const pid = deadPid();
    writeFileSync(
      path.join(folder, LOCK_FILE),
      JSON.stringify({ pid, command: 'npm run experiment', startedAt: '2026-12-01T00:00:00.000Z' }),
    );
    const lock = lockReportFolder(folder, 'npm run report');
    expect(lockOf(folder).pid).toBe(process.pid);
    expect(tookOverMessage(lock, 'reports/x')).toBe(
      `reports/x: took over the lock of a writer that is no longer running (npm run experiment, pid ${pid}, since 2026-12-01T00:00:00.000Z)`,
    );
    lock[Symbol.dispose]();
    writeFileSync(path.join(folder, LOCK_FILE), '');
    using unreadable = lockReportFolder(folder, 'npm run report');
    expect(tookOverMessage(unreadable, 'reports/x')).toBe(
      'reports/x: took over the lock of a writer that is no longer running (its lock file was unreadable)',
    );
    expect(readdirSync(folder)).toEqual([LOCK_FILE]);
  });
});

describe('one writer per report folder, through the CLI', () => {
  it('refuses report and --resume while an experiment writes the folder; after a kill -9, the next writer takes over and says so', async () => {
    const plan = writePlan(path.join(dir, 'plan.yaml'), { name, timeScale: 30, repetitions: 20 }, QUICK_FLAGGER_RUNS);
    const out = path.join(dir, 'report');
    const env = { CANARY_MTTR_STATE_DIR: path.join(dir, 'state') };
    const writer = startCli(['experiment', '--experiment', plan, '--out', out], { env });
    try {
      // Long enough a plan (20 runs) to be still running during both attempts below.
      await waitFor(() => /\[ 1\/20\]/.test(writer.stdout()), 90_000, 'the first run to be journaled');
      const holder = new RegExp(
        `^${out}: another writer has this report folder \\(npm run experiment, pid ${writer.child.pid}, since \\S+\\); wait for it to finish, or pass another folder\\n$`,
      );
      for (const args of [
        ['report', out],
        ['experiment', '--resume', out],
      ]) {
        const r = await runCli(args, { env });
        expect(r.stderr).toMatch(holder);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe('');
      }
    } finally {
      writer.child.kill('SIGKILL');
    }
    await writer.done;
    expect(lockOf(out).pid).toBe(writer.child.pid);
    const report = await runCli(['report', out], { env });
    expect(report.stderr).toMatch(
      new RegExp(
        `^${out}: took over the lock of a writer that is no longer running \\(npm run experiment, pid ${writer.child.pid}, since \\S+\\)\\n$`,
      ),
    );
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/^Report: .*report\.html and report\.md \(\d+ runs\)\n$/);
    expect(existsSync(path.join(out, LOCK_FILE))).toBe(false);
  }, 300_000);
});
