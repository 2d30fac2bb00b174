import path from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { HarnessError, isHarnessError } from '../common/errors.ts';

/** What a command's work is aborted with on the first Ctrl-C, SIGTERM or SIGHUP; the exit code is 130. */
export class Interrupted extends HarnessError {
  constructor() {
    super('E_INTERRUPTED', 'interrupted', 130);
  }
}

/** True when the module at `moduleUrl` (its import.meta.url) is the script node was started with. */
export function isEntryModule(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && path.resolve(entry) === fileURLToPath(moduleUrl);
}

/**
 * A signal the first SIGINT, SIGTERM or SIGHUP (the terminal closed, an ssh session dropped)
 * aborts with Interrupted, after writing `notice(name)` to stderr, so the command stops and
 * cleans up. A second one exits at once with 130; the process registry's exit hook still kills
 * every child process. SIGKILL cannot be caught: the children's parent-death signal covers it.
 */
export function abortOnInterrupt(notice: (name: NodeJS.Signals) => string): AbortSignal {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (name: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(notice(name));
    controller.abort(new Interrupted());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  return controller.signal;
}

/** A report folder's time stamp: 20261126-093812Z. */
export function folderTimestamp(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');
}

/**
 * The exit code of a command that threw `err`: 130 when interrupted, the known error's own code
 * after its one line on stderr, and 1 after the stack of anything unexpected.
 */
export function exitCodeOf(err: unknown, signal: AbortSignal, stderr: Writable): number {
  if (err instanceof Interrupted || (signal.aborted && !isHarnessError(err))) return 130;
  if (isHarnessError(err)) {
    stderr.write(`${err.message}\n`);
    return err.exitCode;
  }
  stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

/**
 * The entry of every command (src/cli/main.ts, src/cluster/cli.ts, src/fidelity/cli.ts,
 * bench/index.ts): when `moduleUrl` is the script node was started with, runs `run` with the
 * arguments and abortOnInterrupt's signal, and sets the process's exit code from its result.
 */
export async function runAsEntry(
  moduleUrl: string,
  notice: (name: NodeJS.Signals) => string,
  run: (argv: string[], signal: AbortSignal) => Promise<number>,
): Promise<void> {
  if (!isEntryModule(moduleUrl)) return;
  const signal = abortOnInterrupt(notice);
  process.exitCode = await run(process.argv.slice(2), signal);
}
