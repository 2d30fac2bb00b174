import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { cmdlineOf, isAlive } from '../cluster/procfs.ts';
import { writeFileAtomic } from '../common/files.ts';

/**
 * A record, on disk, of every child process this harness has alive, so that the next start can
 * find and remove what a crashed (SIGKILLed) harness left behind. One file per harness process.
 */
export interface PidRecord {
  harnessPid: number;
  startedAt: string;
  experiment: string;
  children: Array<{ pid: number; label: string; command: string }>;
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
    this.record = { harnessPid: process.pid, startedAt: new Date().toISOString(), experiment, children: [] };
    this.flush();
  }

  add(pid: number, label: string, command: string): void {
    this.record.children.push({ pid, label, command });
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

const commandOf = (pid: number) => cmdlineOf(pid)?.join(' ');

export interface Leftovers {
  harnessPid: number;
  experiment: string;
  killed: Array<{ pid: number; label: string }>;
}

/**
 * Finds pid files of harnesses that are no longer running and kills the children they list that
 * are still alive with the same command line (a recycled pid is left alone). Returns what it
 * removed, so the caller can say so.
 */
export function reapLeftovers(dir = path.join(stateDir(), 'processes')): Leftovers[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^harness-\d+(-\d+)?\.json$/.test(f));
  } catch {
    return [];
  }
  const out: Leftovers[] = [];
  for (const name of files) {
    const file = path.join(dir, name);
    let record: PidRecord;
    try {
      record = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
    } catch {
      rmSync(file, { force: true });
      continue;
    }
    if (record.harnessPid !== process.pid && isAlive(record.harnessPid) && commandOf(record.harnessPid)?.includes('node')) continue;
    const killed: Leftovers['killed'] = [];
    for (const child of record.children) {
      if (!isAlive(child.pid) || commandOf(child.pid) !== child.command) continue;
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
  return out;
}
