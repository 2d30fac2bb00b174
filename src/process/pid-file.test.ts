import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executableOf, isAlive, startTicksOf } from './procfs.ts';
import { ownedTempDirPrefix, reapLeftovers, type PidRecord } from './pid-file.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'pid-file-test-'));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function startSleep(): ChildProcess {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  started.push(child);
  return child;
}

/** The pid of a process that has exited (and been reaped): a harness that is gone. */
async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

function identity(pid: number) {
  return { startTicks: startTicksOf(pid)!, exe: executableOf(pid)! };
}

describe('reapLeftovers', () => {
  it('kills the recorded children of a dead harness, never a process that merely has a recorded pid', async () => {
    const pidDir = path.join(dir, 'processes');
    const tmp = path.join(dir, 'tmp');
    mkdirSync(pidDir);
    mkdirSync(tmp);
    const ours = startSleep().pid!;
    const foreign = startSleep().pid!;
    const harnessPid = await deadPid();
    const record: PidRecord = {
      harnessPid,
      harnessStartTicks: 1,
      startedAt: new Date().toISOString(),
      experiment: 'reap-test',
      children: [
        { pid: ours, label: 'app', command: 'sleep 300', ...identity(ours) },
        // The foreign process as a reused pid: another start time, or another executable.
        {
          pid: foreign,
          label: 'app',
          command: 'sleep 300',
          startTicks: identity(foreign).startTicks - 1,
          exe: identity(foreign).exe,
        },
        {
          pid: foreign,
          label: 'app',
          command: 'sleep 300',
          startTicks: identity(foreign).startTicks,
          exe: '/usr/bin/k6',
        },
      ],
    };
    const file = path.join(pidDir, `harness-${harnessPid}-1.json`);
    writeFileSync(file, JSON.stringify(record));

    expect(reapLeftovers(pidDir, tmp)).toEqual([
      { harnessPid, experiment: 'reap-test', killed: [{ pid: ours, label: 'app' }] },
    ]);
    await new Promise((resolve) => started[0]!.once('exit', resolve));
    expect(isAlive(ours)).toBe(false);
    expect(isAlive(foreign)).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it("removes temporary folders whose owner is gone and keeps a running owner's", async () => {
    const tmp = path.join(dir, 'tmp-sweep');
    mkdirSync(tmp);
    const gone = await deadPid();
    const live = startSleep().pid!;
    const mine = mkdtempSync(ownedTempDirPrefix('k6', tmp));
    expect(path.basename(mine)).toMatch(new RegExp(`^canary-mttr-k6-${process.pid}\\.${startTicksOf(process.pid)}-`));
    const stale = path.join(tmp, `canary-mttr-k6-${gone}.${startTicksOf(process.pid)}-abc123`);
    // A live pid with another start time: the owner died and the pid went to someone else.
    const reused = path.join(tmp, `canary-mttr-app-${live}.${startTicksOf(live)! - 1}-abc123`);
    const liveOwner = path.join(tmp, `canary-mttr-app-${live}.${startTicksOf(live)}-abc123`);
    const notOurs = path.join(tmp, `canary-mttr-${gone}-abc123`);
    for (const folder of [stale, reused, liveOwner, notOurs]) mkdirSync(folder);
    writeFileSync(path.join(stale, 'k6-output.json'), '{}\n');

    reapLeftovers(path.join(dir, 'no-pid-files'), tmp);
    expect([mine, stale, reused, liveOwner, notOurs].map(existsSync)).toEqual([true, false, false, true, true]);
  });
});
