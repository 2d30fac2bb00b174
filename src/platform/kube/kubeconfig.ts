import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { PlatformError, UsageError } from '../../common/errors.ts';
import { kubeRequest } from '../../kube/kube-rest.ts';

export interface KubeTarget {
  /** --kubeconfig; else KUBECONFIG; else ~/.kube/config. */
  kubeconfig?: string;
  /** --context; else the kubeconfig's current context. */
  context?: string;
}

/** Loads the kubeconfig the way kubectl picks it, and selects the context. */
export function loadKubeConfig(target: KubeTarget, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const file = target.kubeconfig ?? env.KUBECONFIG?.split(':')[0];
  try {
    if (file !== undefined) {
      if (!existsSync(file))
        throw new UsageError(`--kubeconfig: ${file} does not exist; pass the kubeconfig of your cluster`);
      kc.loadFromFile(file);
    } else {
      kc.loadFromDefault();
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // The parser's message can quote the file's content, credentials included: never show it.
    throw new UsageError(`--kubeconfig: ${file ?? '~/.kube/config'} is not a valid kubeconfig; check the file`);
  }
  if (target.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === target.context)) {
      throw new UsageError(
        `--context: "${target.context}" is not a context of ${file ?? 'the default kubeconfig'}; contexts: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        }`,
      );
    }
    kc.setCurrentContext(target.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new UsageError(
      `--kubeconfig: ${file ?? 'the default kubeconfig'} has no current context with a cluster; pass --context`,
    );
  }
  return kc;
}

/** Every credential a kubeconfig holds, so no message ever prints one. */
export function secretsOf(kc: KubeConfig): string[] {
  const out: string[] = [];
  for (const user of kc.getUsers()) {
    for (const value of [user.token, user.password, user.keyData, user.certData, user.keyFile, user.certFile])
      if (value) out.push(value);
    const provider = user.authProvider as { config?: Record<string, string> } | undefined;
    for (const value of Object.values(provider?.config ?? {}))
      if (typeof value === 'string' && value.length >= 8) out.push(value);
    const exec = user.exec as { env?: Array<{ value?: string }> } | undefined;
    for (const e of exec?.env ?? []) if (e.value) out.push(e.value);
  }
  return out.filter((s) => s.length >= 4);
}

/** Replaces every secret in `text` with [redacted]; also bearer tokens in any form. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]');
}

/** Asks the API server for its version; one line naming the context and server when it cannot. */
export async function probeCluster(kc: KubeConfig, timeoutMs = 5_000): Promise<{ gitVersion: string }> {
  const context = kc.getCurrentContext();
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  try {
    return await kubeRequest<{ gitVersion: string }>(kc, { method: 'GET', path: '/version', timeoutMs });
  } catch (err) {
    const raw = (err as NodeJS.ErrnoException).code ?? (err as Error).message ?? String(err);
    const reason = redact(String(raw).split('\n')[0]!, secretsOf(kc));
    throw new PlatformError(
      `kube: cannot reach the cluster of context "${context}" at ${server} (${reason}); check --kubeconfig and --context, and that the cluster is running`,
    );
  }
}
