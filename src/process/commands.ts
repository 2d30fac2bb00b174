/**
 * Runs an outside program to completion and hands back its exit status and output: helm, kind,
 * docker, `k6 version`. Long-running children (apps, k6 under load, the control plane) are
 * started through the ProcessRegistry instead (registry.ts).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import createDebug from 'debug';
import { PlatformError } from '../common/errors.ts';

const debug = createDebug('canary-mttr:process');

export interface CommandResult {
  /** Exit code; null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunCommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  /** Wall milliseconds before the process is killed and the call rejects. */
  timeoutMs?: number;
}

/** Output kept per stream: the tail, since that is where a tool says what went wrong. */
const MAX_OUTPUT_CHARS = 1_000_000;

/**
 * Runs `file args` and resolves with its exit status and output, whatever the exit code. Rejects
 * only when it cannot run (not found, not executable), on `timeoutMs` (PlatformError) and on
 * `signal` (its reason); in those cases the child is killed first, so nothing outlives the call.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  const timeout = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
  const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  signal?.throwIfAborted();
  debug('run %s %o', file, args);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const keep = (text: string, chunk: string) => {
      const joined = text + chunk;
      return joined.length > MAX_OUTPUT_CHARS ? joined.slice(-MAX_OUTPUT_CHARS) : joined;
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout = keep(stdout, c)));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = keep(stderr, c)));
    let settled = false;
    const onAbort = () => {
      child.kill('SIGTERM');
      // A tool that ignores SIGTERM (docker build in a stuck step) still may not outlive us.
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 5_000).unref();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    child.once('error', (err) => finish(() => reject(err)));
    child.once('close', (code, sig) =>
      finish(() => {
        if (timeout?.aborted && !options.signal?.aborted) {
          reject(
            new PlatformError(
              `${path.basename(file)} ${args.join(' ')} did not finish within ${(options.timeoutMs ?? 0) / 1000} s`,
            ),
          );
        } else if (options.signal?.aborted) {
          reject(options.signal.reason);
        } else {
          resolve({ code, signal: sig, stdout, stderr });
        }
      }),
    );
  });
}
