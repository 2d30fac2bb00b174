import { ErrorCodes, HarnessError } from '../common/errors.ts';

/** The load generator was misconfigured or failed while running. */
export class LoadError extends HarnessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.load, message, 1, options);
  }
}
