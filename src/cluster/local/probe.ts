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

export interface HttpGetOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** PEM of the CA the server's certificate must chain to; without it any certificate passes. */
  ca?: string;
  /** PEM of a client certificate and its key (etcd takes no client without one). */
  cert?: string;
  key?: string;
  /** Connect to this Unix socket file instead of the URL's host and port. */
  socketPath?: string;
}

/**
 * One GET with a hard timeout; never rejects (status 0 on a connection error, a certificate that
 * does not chain to `ca`, or a timeout). A request carrying an Authorization header must name the
 * CA: the header then leaves only after the TLS handshake proved the server holds a certificate
 * of ours, so a process that took a port we freed never sees the token (without a CA it throws).
 */
export function httpGet(url: string, options: HttpGetOptions = {}): Promise<ProbeResult> {
  const target = new URL(url);
  const tls = target.protocol === 'https:';
  const hasCredential = Object.keys(options.headers ?? {}).some((h) => h.toLowerCase() === 'authorization');
  if (hasCredential && !(tls && options.ca))
    throw new Error(`httpGet ${url}: a credential is sent only over TLS checked against a CA`);
  return new Promise((resolve) => {
    const client = tls ? https : http;
    const req = client.get(
      target,
      {
        headers: options.headers,
        timeout: options.timeoutMs ?? 2_000,
        agent: false,
        socketPath: options.socketPath,
        // Health probes without a credential (controller-manager and scheduler serve a self-signed
        // certificate made a moment ago) may skip the check; everything with a CA is verified.
        ...(tls
          ? options.ca
            ? { ca: options.ca, cert: options.cert, key: options.key }
            : { rejectUnauthorized: false }
          : {}),
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

/**
 * kube-apiserver's /readyz with the admin token. The token goes only to a server whose certificate
 * chains to the cluster's CA: the port was free when it was picked, not reserved, and another
 * process may have bound it before the apiserver did.
 */
export async function apiServerReady(apiServerUrl: string, token: string, caPem: string): Promise<boolean> {
  return (
    (await httpGet(`${apiServerUrl}/readyz`, { headers: { Authorization: `Bearer ${token}` }, ca: caPem })).body ===
    'ok'
  );
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
