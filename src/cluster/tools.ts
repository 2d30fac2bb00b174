import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PlatformError } from '../common/errors.ts';
import { toolsCacheDir } from '../process/tools.ts';

/**
 * Paths of the local control-plane tools that `npm run tools:install` (scripts/tools/install.sh)
 * puts in its cache. Read from the CANARY_MTTR_* variables when set, else from the cache's
 * tools.env, so a fresh shell that never sourced tools.env still finds them.
 */
export interface ToolPaths {
  toolsDir: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  /** kwok's default node and pod stages (a standalone kwok has none built in). */
  kwokStages: string;
  flagger: string;
  /** The smoke-test webhook's runner: cmd/loadtester of Flagger's module, same version. */
  flaggerLoadtester: string;
  prometheus: string;
  flaggerCrd: string;
  istioCrds: string;
}

const KEYS = {
  etcd: ['CANARY_MTTR_ETCD', 'bin/etcd'],
  kubeApiserver: ['CANARY_MTTR_KUBE_APISERVER', 'bin/kube-apiserver'],
  kubeControllerManager: ['CANARY_MTTR_KUBE_CONTROLLER_MANAGER', 'bin/kube-controller-manager'],
  kubeScheduler: ['CANARY_MTTR_KUBE_SCHEDULER', 'bin/kube-scheduler'],
  kwok: ['CANARY_MTTR_KWOK', 'bin/kwok'],
  kwokStages: ['CANARY_MTTR_KWOK_STAGES', 'kwok/stages.yaml'],
  flagger: ['CANARY_MTTR_FLAGGER', 'bin/flagger'],
  flaggerLoadtester: ['CANARY_MTTR_FLAGGER_LOADTESTER', 'bin/flagger-loadtester'],
  prometheus: ['CANARY_MTTR_PROMETHEUS', 'bin/prometheus'],
  flaggerCrd: ['CANARY_MTTR_FLAGGER_CRD', 'crds/flagger-crd.yaml'],
  istioCrds: ['CANARY_MTTR_ISTIO_CRDS', 'crds/istio-crds.yaml'],
} as const satisfies Record<Exclude<keyof ToolPaths, 'toolsDir'>, readonly [string, string]>;

const EXECUTABLES = new Set<keyof ToolPaths>([
  'etcd',
  'kubeApiserver',
  'kubeControllerManager',
  'kubeScheduler',
  'kwok',
  'flagger',
  'flaggerLoadtester',
  'prometheus',
]);

export const INSTALL_HINT = 'run npm run tools:install first';

/** KEY="value" lines of tools.env (the installer writes nothing fancier). */
export function parseToolsEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Z0-9_]+)="([^"]*)"\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Resolves and checks every tool; a missing one is one PlatformError line naming the tool, the
 * path looked at and what to do.
 */
export function resolveTools(env: NodeJS.ProcessEnv = process.env): ToolPaths {
  const toolsDir = toolsCacheDir(env);
  const envFile = path.join(toolsDir, 'tools.env');
  const fromFile = existsSync(envFile) ? parseToolsEnv(readFileSync(envFile, 'utf8')) : {};
  const resolved: Partial<ToolPaths> = { toolsDir };
  for (const [name, [variable, fallback]] of Object.entries(KEYS) as Array<
    [keyof typeof KEYS, readonly [string, string]]
  >) {
    const file = env[variable] ?? fromFile[variable] ?? path.join(toolsDir, fallback);
    if (!existsSync(file)) {
      throw new PlatformError(
        `local cluster: ${path.basename(fallback)} not found at ${file}; ${INSTALL_HINT} (or set ${variable})`,
      );
    }
    if (EXECUTABLES.has(name)) {
      try {
        accessSync(file, constants.X_OK);
      } catch {
        throw new PlatformError(`local cluster: ${file} is not executable; ${INSTALL_HINT}`);
      }
    }
    resolved[name] = file;
  }
  return resolved as ToolPaths;
}
