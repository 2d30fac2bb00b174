import type { Writable } from 'node:stream';

/**
 * The user-facing channel: progress lines and summaries. Streams are parameters so CLI tests can
 * capture exactly what a user sees. Diagnostics go through `debug` namespaces instead.
 */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
}

export function createLogger(out: Writable = process.stdout, err: Writable = process.stderr): Logger {
  return {
    info: (line) => out.write(`${line}\n`),
    warn: (line) => err.write(`${line}\n`),
  };
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };
