import type { Logger } from '../common/logger.ts';

export const Providers = ['local', 'kind'] as const;
export type Provider = (typeof Providers)[number];

/** What `cluster:up` / `cluster:down` pass to a provider, whichever it is. */
export interface ProviderCommandOptions {
  /** State folder given with --state-dir, if any. */
  stateDir?: string;
  /** Start-up deadline, wall ms. */
  timeoutMs: number;
  /** Run in this process until Ctrl-C instead of detaching (local provider). */
  foreground: boolean;
  logger: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
}
