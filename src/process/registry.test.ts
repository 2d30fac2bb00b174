import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { executableOf, isAlive, startTicksOf } from './procfs.ts';
import { sleepWall } from '../common/clock.ts';
import type { PidRecord } from './pid-file.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'processes-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Polls `check` every 50 ms for at most `boundMs` of wall time; true as soon as it holds. */
async function within(boundMs: number, check: () => boolean): Promise<boolean> {
  const end = performance.now() + boundMs;
  while (!check()) {
    if (performance.now() > end) return false;
    await sleepWall(50);
  }
  return true;
}

describe('ProcessRegistry', () => {
  it('a child dies with the harness even when the harness is SIGKILLed, and its pid file says who it was', async () => {
    const pidDir = path.join(dir, 'processes');
    // A harness in its own process: a registry with a pid file, one child (sleep), its pid on stdout.
    const script = [
      `const { ProcessRegistry } = await import(${JSON.stringify(path.join(HERE, 'registry.ts'))});`,
      `const { PidFile } = await import(${JSON.stringify(path.join(HERE, 'pid-file.ts'))});`,
      `const registry = new ProcessRegistry({ experiment: 'pdeathsig-test' }, new PidFile('pdeathsig-test', ${JSON.stringify(pidDir)}));`,
      `const child = registry.spawn('sleep', ['300'], { env: { PATH: process.env.PATH }, label: 'sleeper' });`,
      'console.log(child.pid);',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const harness = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let childPid: number | undefined;
    try {
      childPid = await new Promise<number>((resolve, reject) => {
        harness.stdout!.setEncoding('utf8').once('data', (line: string) => resolve(Number(line.trim())));
        harness.once('exit', (code) => reject(new Error(`the harness exited with ${code}`)));
      });
      expect(isAlive(childPid)).toBe(true);
      // The pid is setpriv's until it has exec'd sleep: compare /proc's view once the exec is done.
      const pid = childPid;
      expect(await within(5000, () => !/setpriv$/.test(executableOf(pid) ?? 'setpriv'))).toBe(true);
      const [file] = readdirSync(pidDir);
      const record = JSON.parse(readFileSync(path.join(pidDir, file!), 'utf8')) as PidRecord;
      expect(record.harnessPid).toBe(harness.pid);
      expect(record.harnessStartTicks).toBe(startTicksOf(harness.pid!));
      expect(record.children).toEqual([
        {
          pid: childPid,
          label: 'sleeper',
          command: 'sleep 300',
          startTicks: startTicksOf(childPid),
          exe: executableOf(childPid),
        },
      ]);
      expect(path.basename(record.children[0]!.exe!)).toMatch(/sleep|coreutils/);

      harness.kill('SIGKILL');
      // The kernel's parent-death signal: no cleanup code of the harness runs on SIGKILL.
      // 5 s is a bound on the behaviour (the child goes at all), not a speed target.
      expect(await within(5_000, () => !isAlive(childPid!))).toBe(true);
    } finally {
      harness.kill('SIGKILL');
      if (childPid !== undefined && isAlive(childPid)) process.kill(childPid, 'SIGKILL');
    }
  });
});
