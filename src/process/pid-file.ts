import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import createDebug from 'debug';
import { writeFileAtomic } from '../common/files.ts';
import { cmdlineOf, isAlive, isSameProcess, startTicksOf } from './procfs.ts';

const debug = createDebug('canary-mttr:processes');

/** One child process as its pid file records it. */
export interface PidChild {
  pid: number;
  label: string;
  command: string;
  /** Start time in clock ticks since boot (/proc/<pid>/stat); absent in files of older versions. */
  startTicks?: number;
  /** Real path of the executable; absent when it could not be resolved. */
  exe?: string;
}

/**
 * A record, on disk, of every child process this harness has alive, so that the next start can
 * find and remove what a crashed (SIGKILLed) harness left behind. One file per harness process.
 */
export interface PidRecord {
  harnessPid: number;
  /** The harness's own start time (clock ticks since boot), to tell it from a later process with its pid. */
  harnessStartTicks?: number;
  startedAt: string;
  experiment: string;
  children: PidChild[];
}

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CANARY_MTTR_STATE_DIR ?? path.join(homedir(), '.cache', 'canary-mttr', 'state');
}

let fileSeq = 0;

export class PidFile {
  private readonly file: string;
  private readonly record: PidRecord;

  constructor(experiment: string, dir = path.join(stateDir(), 'processes')) {
    mkdirSync(dir, { recursive: true });
    // One file per registry: a process may run several (a benchmark runs platforms side by side).
    this.file = path.join(dir, `harness-${process.pid}-${++fileSeq}.json`);
    this.record = {
      harnessPid: process.pid,
      harnessStartTicks: startTicksOf(process.pid),
      startedAt: new Date().toISOString(),
      experiment,
      children: [],
    };
    this.flush();
  }

  add(child: PidChild): void {
    this.record.children.push(child);
    this.flush();
  }

  remove(pid: number): void {
    this.record.children = this.record.children.filter((c) => c.pid !== pid);
    this.flush();
  }

  /** Deletes the file: every child is gone. */
  close(): void {
    rmSync(this.file, { force: true });
  }

  private flush(): void {
    // A crash mid-write never leaves a half file for the next start. No fsync: this is written
    // while a run is measured (a canary starts), and a flush to disk would stall the event loop.
    writeFileAtomic(this.file, JSON.stringify(this.record), { fsync: false });
  }
}

/** The pid files in `dir` with their paths; an unreadable one is deleted (a crash never leaves one, see flush). */
export function readPidFiles(dir: string): Array<{ file: string; record: PidRecord }> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => /^harness-\d+(-\d+)?\.json$/.test(f));
  } catch {
    return [];
  }
  const out: Array<{ file: string; record: PidRecord }> = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      out.push({ file, record: JSON.parse(readFileSync(file, 'utf8')) as PidRecord });
    } catch {
      rmSync(file, { force: true });
    }
  }
  return out;
}

/**
 * True while the recorded child still runs as that process: same start time and executable, or,
 * in a file written before those were recorded, the same command line. A reused pid is false.
 */
export function isRecordedChild(child: PidChild): boolean {
  if (child.startTicks !== undefined && child.exe !== undefined)
    return isSameProcess({ pid: child.pid, startTicks: child.startTicks, exe: child.exe });
  return isAlive(child.pid) && cmdlineOf(child.pid)?.join(' ') === child.command;
}

/**
 * True while the harness that wrote `record` runs: its pid alive with the recorded start time. A
 * file of an older version (no start time) counts as alive while its pid runs node, unless that
 * pid is now this process's own.
 */
export function isHarnessAlive(record: PidRecord): boolean {
  if (!isAlive(record.harnessPid)) return false;
  if (record.harnessStartTicks !== undefined) return startTicksOf(record.harnessPid) === record.harnessStartTicks;
  return record.harnessPid !== process.pid && (cmdlineOf(record.harnessPid)?.join(' ').includes('node') ?? false);
}

export interface Leftovers {
  harnessPid: number;
  experiment: string;
  killed: Array<{ pid: number; label: string }>;
}

/**
 * Finds pid files of harnesses that are no longer running and kills the children they list that
 * are still the same processes (a recycled pid is left alone); then removes the temporary folders
 * of harnesses that are gone (see ownedTempDirPrefix). Returns the processes it removed, so the
 * caller can say so.
 */
export function reapLeftovers(dir = path.join(stateDir(), 'processes'), tempDir = tmpdir()): Leftovers[] {
  const out: Leftovers[] = [];
  for (const { file, record } of readPidFiles(dir)) {
    if (isHarnessAlive(record)) continue;
    const killed: Leftovers['killed'] = [];
    for (const child of record.children) {
      if (!isRecordedChild(child)) continue;
      try {
        process.kill(child.pid, 'SIGKILL');
        killed.push({ pid: child.pid, label: child.label });
      } catch {
        // Gone in the meantime.
      }
    }
    rmSync(file, { force: true });
    if (killed.length > 0) out.push({ harnessPid: record.harnessPid, experiment: record.experiment, killed });
  }
  sweepStaleTempDirs(tempDir);
  return out;
}

const TEMP_PREFIX = 'canary-mttr-';

/**
 * The prefix for a temporary folder this process owns (`mkdtemp(prefix)`):
 * `canary-mttr-<kind>-<pid>.<start ticks>-`, so that a later start can tell from the name alone
 * whether its owner still runs, and remove it if not (sweepStaleTempDirs). A SIGKILL leaves no
 * chance to remove it on the way out.
 */
export function ownedTempDirPrefix(kind: 'k6' | 'app' | 'values', dir = tmpdir()): string {
  return path.join(dir, `${TEMP_PREFIX}${kind}-${process.pid}.${startTicksOf(process.pid) ?? 0}-`);
}

/**
 * Removes the folders made with ownedTempDirPrefix in `dir` whose owner is gone: its pid is dead
 * or now belongs to a process that started at another time. Only folders of this user are
 * touched. Returns the folders removed.
 */
export function sweepStaleTempDirs(dir = tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    const m = /^canary-mttr-[a-z0-9]+-(\d+)\.(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const ticks = Number(m[2]);
    if (pid === process.pid || (isAlive(pid) && (startTicksOf(pid) ?? 0) === ticks)) continue;
    const folder = path.join(dir, name);
    try {
      const stat = statSync(folder);
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue;
      rmSync(folder, { recursive: true, force: true });
      removed.push(folder);
      debug('removed %s: its owner (pid %d) is gone', folder, pid);
    } catch {
      // Removed by someone else in the meantime.
    }
  }
  return removed;
}
