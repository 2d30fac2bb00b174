import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { cmdlineOf, isAlive } from './procfs.ts';
import { UsageError } from '../common/errors.ts';
import { writeFileAtomic, writeFully } from '../common/files.ts';

export const LOCK_FILE = '.writer.lock';

interface LockRecord {
  pid: number;
  command: string;
  startedAt: string;
}

export interface FolderLock extends Disposable {
  /** Set when the lock of a writer that had died was taken over (`holder` unset: the lock was unreadable). */
  readonly tookOver?: { holder?: LockRecord };
}

function readLock(file: string): LockRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as LockRecord;
    return Number.isInteger(record.pid) && record.pid > 0 ? record : undefined;
  } catch {
    return undefined;
  }
}

/** The holder still runs: its pid is alive and is a node process (a recycled pid seldom is). */
function holderAlive(record: LockRecord | undefined): boolean {
  if (!record) return false;
  if (record.pid === process.pid) return true;
  return isAlive(record.pid) && (cmdlineOf(record.pid)?.[0]?.includes('node') ?? false);
}

/** Hard links whole `staged` to `file`, failing with EEXIST if it exists; O_EXCL where links are unsupported. */
function placeLock(staged: string, file: string): void {
  try {
    linkSync(staged, file);
  } catch (err) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    const fd = openSync(file, 'wx');
    try {
      writeFully(fd, readFileSync(staged));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Makes this process the only writer of a report folder, until the lock is disposed. The lock is
 * a file in the folder naming the holder's pid; it appears atomically and whole (written aside,
 * then hard-linked into place, which fails if a lock exists: O_EXCL without a moment in which the
 * file is empty). A second writer gets one line naming the holder. The lock of a holder that died
 * (kill -9, a crash) is taken over: moved aside first, so that of two writers racing for it only
 * one gets it. Disposing removes the lock, and the folder too when this call created it and
 * nothing else was written into it.
 */
export function lockReportFolder(dir: string, command: string, shown = dir): FolderLock {
  const created = !existsSync(dir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(
      `${shown}: cannot be made a report folder (${code}: a file is in the way, or no permission); pass another folder`,
    );
  }
  const file = path.join(dir, LOCK_FILE);
  const mine: LockRecord = { pid: process.pid, command, startedAt: new Date().toISOString() };
  const staged = `${file}.${process.pid}`;
  writeFileAtomic(staged, `${JSON.stringify(mine)}\n`);
  let tookOver: FolderLock['tookOver'];
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        placeLock(staged, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (attempt >= 3)
          throw new UsageError(`${shown}: other writers keep taking this report folder; pass another folder`);
      }
      const holder = readLock(file);
      if (holderAlive(holder)) {
        throw new UsageError(
          `${shown}: another writer has this report folder (${holder!.command}, pid ${holder!.pid}, since ${holder!.startedAt}); wait for it to finish, or pass another folder`,
        );
      }
      const aside = `${file}.stale.${process.pid}`;
      try {
        renameSync(file, aside);
      } catch {
        continue; // Another writer moved it first; try again.
      }
      const moved = readLock(aside);
      if (holderAlive(moved)) {
        // A racing writer's fresh lock, not the stale one: put it back and be refused next time round.
        try {
          linkSync(aside, file);
        } catch {
          // A third writer took the place; its lock stands.
        }
      } else {
        tookOver = { holder: moved ?? holder };
      }
      rmSync(aside, { force: true });
    }
  } finally {
    rmSync(staged, { force: true });
  }
  let released = false;
  return {
    tookOver,
    [Symbol.dispose]() {
      if (released) return;
      released = true;
      if (readLock(file)?.pid === process.pid) rmSync(file, { force: true });
      if (created) {
        try {
          if (readdirSync(dir).length === 0) rmdirSync(dir);
        } catch {
          // Already gone, or not ours to remove.
        }
      }
    },
  };
}

/** The line the console shows when a dead writer's lock was taken over. */
export function tookOverMessage(lock: FolderLock, shown: string): string | undefined {
  if (!lock.tookOver) return undefined;
  const from = lock.tookOver.holder;
  const who = from ? `${from.command}, pid ${from.pid}, since ${from.startedAt}` : 'its lock file was unreadable';
  return `${shown}: took over the lock of a writer that is no longer running (${who})`;
}
