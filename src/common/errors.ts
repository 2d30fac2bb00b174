/**
 * The few error classes the harness knows. Each carries a stable `code`; the CLI prints a known
 * error as its one-line message and exits with `exitCode`, and prints the stack of anything else.
 */
export const ErrorCodes = {
  config: 'E_CONFIG',
  usage: 'E_USAGE',
  platform: 'E_PLATFORM',
  load: 'E_LOAD',
  report: 'E_REPORT',
  output: 'E_OUTPUT',
  interrupted: 'E_INTERRUPTED',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class HarnessError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly exitCode: number = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid experiment, scenario or environment input. Exit code 2, like a usage error. */
export class ConfigError extends HarnessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.config, message, 2, options);
  }
}

/** Bad command-line arguments. */
export class UsageError extends HarnessError {
  constructor(message: string) {
    super(ErrorCodes.usage, message, 2);
  }
}

/** The platform (processes, ports, cluster) could not do what was asked. */
export class PlatformError extends HarnessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.platform, message, 1, options);
  }
}

/** A report folder or journal cannot be read. */
export class ReportError extends HarnessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.report, message, 1, options);
  }
}

/** A result could not be written (a full disk, a file-size limit); what was written before stays. */
export class OutputError extends HarnessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.output, message, 1, options);
  }
}

export function isHarnessError(err: unknown): err is HarnessError {
  return err instanceof HarnessError;
}
