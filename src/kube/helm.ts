/**
 * The real helm binary, run as a child process: `helm template` to get the objects a chart makes,
 * `helm lint` to check a chart and its values. Used by the chart tests, and meant for the kube
 * platform's server-side dry run (render here, then send each object to the apiserver).
 *
 * helm is taken from CANARY_MTTR_HELM, then PATH, then the tools cache that
 * `npm run tools:install` fills, so tests find it without sourcing tools.env.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PlatformError } from '../common/errors.ts';
import { runCommand } from '../process/commands.ts';
import { findTool, toolSearchPlaces } from '../process/tools.ts';

/** A rendered Kubernetes object: what `helm template` prints, one per YAML document. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface HelmOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Wall milliseconds; default 60 s. */
  timeoutMs?: number;
}

export interface HelmRenderOptions extends HelmOptions {
  namespace: string;
  releaseName: string;
}

export interface HelmLintOptions extends HelmOptions {
  namespace?: string;
  /** `--strict`: warnings fail too. Default true. */
  strict?: boolean;
}

export interface HelmLintResult {
  ok: boolean;
  /** `[ERROR]` lines and the schema violations listed under them ("- at '/x': …"), in order. */
  errors: string[];
  /** Everything helm printed. */
  output: string;
}

/** Path of the helm binary, or undefined. */
export function findHelm(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findTool('helm', env);
}

/** Path of the helm binary; a PlatformError saying how to get it when there is none. */
export function requireHelm(env: NodeJS.ProcessEnv = process.env): string {
  const helm = findHelm(env);
  if (helm === undefined) {
    throw new PlatformError(
      `helm not found (${toolSearchPlaces('helm', env)}); run npm run tools:install first, or set CANARY_MTTR_HELM`,
    );
  }
  return helm;
}

/** Values go through a file, not --set: --set turns "0.05" into a string and "1" into an int. */
async function withValuesFile<T>(values: Record<string, unknown>, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'canary-mttr-helm-'));
  try {
    const file = path.join(dir, 'values.json'); // JSON is YAML, and exact for numbers and strings
    await writeFile(file, JSON.stringify(values));
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Helm's error without its "Error: " prefix and the "--debug" advice, one problem per line. */
function helmError(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !l.startsWith('Use --debug flag'))
    .map((l) => l.replace(/^Error: /, ''))
    .join('\n');
}

/**
 * `helm template` of `chartDir` with `values` layered over the chart's values.yaml: the objects it
 * would install, in helm's order. Rejects with a PlatformError carrying helm's message when the
 * chart or values are invalid (schema violations, `fail` in a template).
 */
export async function helmTemplate(
  chartDir: string,
  values: Record<string, unknown>,
  options: HelmRenderOptions,
): Promise<KubeObject[]> {
  const env = options.env ?? process.env;
  const helm = requireHelm(env);
  const result = await withValuesFile(values, (file) =>
    runCommand(helm, ['template', options.releaseName, chartDir, '--namespace', options.namespace, '--values', file], {
      env,
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? 60_000,
    }),
  );
  if (result.code !== 0) {
    throw new PlatformError(`helm template ${chartDir}: ${helmError(result.stderr) || `exit code ${result.code}`}`);
  }
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(result.stdout)) {
    if (doc.errors.length > 0) {
      throw new PlatformError(`helm template ${chartDir}: rendered YAML does not parse: ${doc.errors[0]!.message}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue; // a template that rendered nothing
    const obj = value as Partial<KubeObject>;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || typeof obj.metadata?.name !== 'string') {
      throw new PlatformError(
        `helm template ${chartDir}: a rendered document has no apiVersion, kind or metadata.name`,
      );
    }
    objects.push(obj as KubeObject);
  }
  return objects;
}

/**
 * `helm lint` of `chartDir` with `values`, then a `helm template` with the same values. Resolves
 * with the verdict; rejects only if helm cannot run.
 *
 * The render is needed because Helm 3's lint mode turns a template's `fail` into an INFO log line
 * and passes: checks a schema cannot express (the weights summing to 100, ascending stepWeights)
 * would otherwise pass lint and only stop `helm install`.
 */
export async function helmLint(
  chartDir: string,
  values: Record<string, unknown>,
  options: HelmLintOptions = {},
): Promise<HelmLintResult> {
  const env = options.env ?? process.env;
  const helm = requireHelm(env);
  const args = ['lint', chartDir];
  if (options.strict ?? true) args.push('--strict');
  if (options.namespace !== undefined) args.push('--namespace', options.namespace);
  const result = await withValuesFile(values, (file) =>
    runCommand(helm, [...args, '--values', file], {
      env,
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? 60_000,
    }),
  );
  const errors: string[] = [];
  let inError = false;
  for (const raw of `${result.stdout}${result.stderr}`.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[ERROR]')) {
      inError = true;
      errors.push(line);
    } else if (line === '' || line.startsWith('[')) {
      inError = false;
    } else if (inError && line.startsWith('- ')) {
      errors.push(line);
    }
  }
  let ok = result.code === 0;
  let output = `${result.stdout}${result.stderr}`;
  if (ok) {
    try {
      await helmTemplate(chartDir, values, {
        env,
        signal: options.signal,
        timeoutMs: options.timeoutMs,
        namespace: options.namespace ?? 'default',
        releaseName: 'lint',
      });
    } catch (err) {
      if (options.signal?.aborted || !(err instanceof PlatformError)) throw err;
      ok = false;
      const rendered = `[ERROR] templates/: ${err.message.replace(/^helm template [^:]*: /, '')}`;
      errors.push(rendered);
      output += `${rendered}\n`;
    }
  }
  return { ok, errors: [...new Set(errors)], output };
}
