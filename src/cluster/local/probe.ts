import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { PlatformError } from '../../common/errors.ts';
import { pollUntil } from '../../common/poll.ts';
import type { ManagedProcess } from '../../process/registry.ts';

export interface ProbeResult {
  status: number;
  body: string;
}

/** One GET with a hard timeout; never throws (status 0 on a connection error or timeout). */
export function httpGet(
  url: string,
  options: { headers?: Record<string, string>; timeoutMs?: number; ca?: string } = {},
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const req = client.get(
      target,
      {
        headers: options.headers,
        timeout: options.timeoutMs ?? 2_000,
        agent: false,
        // Readiness probes of a server whose certificate was made a moment ago; clients use the CA.
        ...(target.protocol === 'https:' ? (options.ca ? { ca: options.ca } : { rejectUnauthorized: false }) : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 65_536) body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ status: 0, body }));
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve({ status: 0, body: '' }));
  });
}

/** Last non-empty line of a log file, shortened, for one-line error messages. */
export function lastLogLine(file: string): string {
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const last = lines.at(-1) ?? '';
  return last.length > 300 ? `${last.slice(0, 300)}…` : last;
}

/**
 * Polls `check` every `everyMs` until it holds. Fails at the deadline, when the signal aborts, or
 * at once when `process` exits (its log's last line goes into the message).
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  options: { timeoutMs: number; signal?: AbortSignal; process?: ManagedProcess; logFile?: string; everyMs?: number },
): Promise<void> {
  const ready = await pollUntil(
    async () => {
      if (options.process?.hasExited) {
        const exit = await options.process.exited;
        const last = options.logFile ? lastLogLine(options.logFile) : '';
        throw new PlatformError(
          `local cluster: ${what}: the process exited (code ${exit.code ?? exit.signal}) before it was ready${last ? `: ${last}` : ''}${options.logFile ? ` (log: ${options.logFile})` : ''}`,
        );
      }
      return check();
    },
    { everyMs: options.everyMs ?? 200, timeoutMs: options.timeoutMs, signal: options.signal },
  );
  if (ready) return;
  const last = options.logFile ? lastLogLine(options.logFile) : '';
  throw new PlatformError(
    `local cluster: ${what}: not ready after ${(options.timeoutMs / 1000).toFixed(0)} s${last ? `; last log line: ${last}` : ''}${options.logFile ? ` (log: ${options.logFile})` : ''}`,
  );
}
