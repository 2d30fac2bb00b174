import { PlatformError } from '../common/errors.ts';
import type { ProviderCommandOptions } from './provider.ts';

/**
 * The kind provider of `cluster:up` / `cluster:down` (a kind cluster with Istio, Prometheus and
 * Flagger, DESIGN §2). Placeholder: another module fills these two functions in; cli.ts only
 * dispatches to them.
 */
export async function kindUp(_options: ProviderCommandOptions): Promise<number> {
  throw new PlatformError('cluster:up --provider kind is not available in this build; use --provider local');
}

export async function kindDown(_options: ProviderCommandOptions): Promise<number> {
  throw new PlatformError('cluster:down --provider kind is not available in this build; use --provider local');
}
