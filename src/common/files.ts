import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

/**
 * Errno codes of a disk that refused to take more: full, over quota, over the file-size limit
 * (`ulimit -f`), read-only or failing. After one of these a run cannot write its results, and
 * writing more (a re-render) could only replace good files with worse ones.
 */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EIO']);

export function isDiskError(err: unknown): err is NodeJS.ErrnoException {
  return (
    typeof (err as NodeJS.ErrnoException | undefined)?.code === 'string' &&
    DISK_FULL_CODES.has((err as NodeJS.ErrnoException).code!)
  );
}

/** Adds the file to an errno error that lacks it (write(2) errors do), so a message can name it. */
function withPath(err: unknown, file: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && e.path === undefined) e.path = file;
  return err;
}

/** Writes all of `data` at the fd's position, looping on short writes (a nearly full disk). */
export function writeFully(fd: number, data: Uint8Array): void {
  for (let offset = 0; offset < data.length; ) {
    offset += writeSync(fd, data, offset, data.length - offset);
  }
}

let tempSeq = 0;

/**
 * Replaces `file` with `data` so a reader never sees a half-written file: the data goes to a
 * temporary file in the same folder (same filesystem, so the rename is atomic), is forced to disk,
 * and is renamed over the target. On any error, a full disk included, the temporary file is
 * removed and the previous `file`, if any, is left as it was. `fsync: false` keeps the atomic
 * replace but not the durability across a power cut, for bookkeeping written during a run.
 */
export function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { mode?: number; fsync?: boolean } = {},
): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++tempSeq}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  try {
    const fd = openSync(tmp, 'wx', options.mode ?? 0o644);
    try {
      writeFully(fd, bytes);
      if (options.fsync !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw withPath(err, file);
  }
}

export type ReadRegularResult =
  | { ok: true; bytes: Buffer }
  | {
      ok: false;
      reason: 'missing' | 'folder' | 'not-a-file' | 'too-large' | 'unreadable';
      code?: string;
      size?: number;
    };

/**
 * Reads a regular file of at most `maxBytes`. Anything else is refused without reading it: a
 * folder, a device such as /dev/zero (endless), a FIFO (opening one blocks until a writer comes),
 * a socket. The file is opened non-blocking and checked again by its descriptor, so a path swapped
 * for a FIFO between the two checks cannot hang the read either; and the read stops at the cap.
 */
export function readRegularFile(file: string, maxBytes: number): ReadRegularResult {
  let fd: number;
  try {
    const stat = statSync(file);
    if (stat.isDirectory()) return { ok: false, reason: 'folder' };
    if (!stat.isFile()) return { ok: false, reason: 'not-a-file' };
    if (stat.size > maxBytes) return { ok: false, reason: 'too-large', size: stat.size };
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : 'unreadable', code };
  }
  try {
    if (!fstatSync(fd).isFile()) return { ok: false, reason: 'not-a-file' };
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > maxBytes) return { ok: false, reason: 'too-large', size: length };
    return { ok: true, bytes: buffer.subarray(0, length) };
  } catch (err) {
    return { ok: false, reason: 'unreadable', code: (err as NodeJS.ErrnoException).code };
  } finally {
    closeSync(fd);
  }
}
