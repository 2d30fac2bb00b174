/**
 * The outside tools a kind cluster needs (docker, kind, helm, kubectl): finding them, checking
 * their versions, and running them. `runPreflight` reports every problem at once and
 * `formatPreflight` turns the list into the one block a user reads before `cluster:up` stops:
 * a half-created cluster because the fourth tool was missing is worse than not starting.
 *
 * Minimum versions (stated here, and in the block when one is too old):
 * - docker 20.10: the oldest engine kind's node images are tested with;
 * - kind 0.30: its default node image is Kubernetes 1.34, within the range recent Istio releases
 *   support (older kind defaults to node images Istio no longer installs on);
 * - helm 3.12: `upgrade --install --repo` with `--set-file`, as cluster:up uses them;
 * - kubectl 1.28: the oldest client still within the skew policy of the node images above.
 */
import path from 'node:path';
import createDebug from 'debug';
import { runCommand, type CommandResult } from '../process/commands.ts';
import { findExecutable, findTool, toolsCacheDir } from '../process/tools.ts';

const debug = createDebug('canary-mttr:cluster');

// ---- requirements ------------------------------------------------------------------------------

export const ClusterTools = ['docker', 'kind', 'helm', 'kubectl'] as const;
export type ClusterTool = (typeof ClusterTools)[number];

export interface ToolRequirement {
  /** Oldest version accepted, x.y.z. */
  minVersion: string;
  /** Arguments that print the version (parsed as the first x.y.z in the output). */
  versionArgs: readonly string[];
  /** Product name in the block ("need Docker 20.10.0 or newer"). */
  product: string;
  /** How to get it: one line in the block. */
  install: string;
}

/** The kind release `go install` suggests; newer ones work too (minimum above). */
export const KIND_INSTALL_VERSION = 'v0.33.0';

export const toolRequirements: Readonly<Record<ClusterTool, ToolRequirement>> = {
  docker: {
    minVersion: '20.10.0',
    versionArgs: ['--version'],
    product: 'Docker',
    install: 'install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then start it',
  },
  kind: {
    minVersion: '0.30.0',
    versionArgs: ['version'],
    product: 'kind',
    install:
      `go install sigs.k8s.io/kind@${KIND_INSTALL_VERSION} (puts kind in $(go env GOPATH)/bin; put that on PATH), ` +
      'or a release binary: https://kind.sigs.k8s.io/docs/user/quick-start/#installation',
  },
  helm: {
    minVersion: '3.12.0',
    versionArgs: ['version', '--short'],
    product: 'Helm',
    install:
      'npm run tools:install (builds the pinned helm into ~/.cache/canary-mttr/tools/bin, found there without a PATH change), ' +
      'or https://helm.sh/docs/intro/install/',
  },
  kubectl: {
    minVersion: '1.28.0',
    versionArgs: ['version', '--client'],
    product: 'kubectl',
    install: 'a release binary from https://kubernetes.io/docs/tasks/tools/#kubectl, or your package manager',
  },
};

/** Where each tool is looked for, in order. helm also comes from the tools cache. */
export function locateTool(tool: ClusterTool, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return tool === 'helm' ? findTool('helm', env) : findExecutable(tool, env);
}

/** Where `locateTool` looked, for the "not found" line. */
function searchedPlaces(tool: ClusterTool, env: NodeJS.ProcessEnv): string {
  if (tool !== 'helm') return 'on PATH';
  return `on PATH, in CANARY_MTTR_HELM or in ${path.join(toolsCacheDir(env), 'bin')}`;
}

export type Version = readonly [number, number, number];

/** First x.y(.z) in `text` ("Docker version 28.2.2, build …", "kind v0.33.0 go1.24 …", "v3.22.0+g…"). */
export function parseVersion(text: string): Version | undefined {
  const m = /(?:^|[^\w.])v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

// ---- the check ---------------------------------------------------------------------------------

export const PreflightProblemKinds = ['missing', 'too-old', 'no-version', 'not-running'] as const;
export type PreflightProblemKind = (typeof PreflightProblemKinds)[number];

export interface PreflightProblem {
  tool: ClusterTool;
  kind: PreflightProblemKind;
  /** Where the tool was found (all kinds but `missing`). */
  path?: string;
  /** The version found (`too-old`). */
  version?: string;
  /** What the tool said (`no-version`, `not-running`), one line. */
  detail?: string;
  /** Where it was looked for (`missing`). */
  searched?: string;
}

export interface FoundTool {
  path: string;
  version: string;
}

export interface PreflightReport {
  /** Empty when everything is in place. In ClusterTools order. */
  problems: PreflightProblem[];
  /** The tools that passed, with their absolute path: run these, not whatever PATH finds later. */
  tools: Partial<Record<ClusterTool, FoundTool>>;
}

export interface PreflightOptions {
  env?: NodeJS.ProcessEnv;
  /** Which tools to check; default all four (cluster:down needs only docker and kind). */
  tools?: readonly ClusterTool[];
  signal?: AbortSignal;
  /** Per command; `docker info` against a hung engine is what this guards. Default 20 s. */
  timeoutMs?: number;
}

function firstLine(text: string): string {
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

async function checkTool(
  tool: ClusterTool,
  options: PreflightOptions,
): Promise<{ problem?: PreflightProblem; found?: FoundTool }> {
  const env = options.env ?? process.env;
  const req = toolRequirements[tool];
  const file = locateTool(tool, env);
  if (file === undefined) return { problem: { tool, kind: 'missing', searched: searchedPlaces(tool, env) } };
  const run = (args: readonly string[]) =>
    runCommand(file, args, { env, signal: options.signal, timeoutMs: options.timeoutMs ?? 20_000 });

  let result: CommandResult;
  try {
    result = await run(req.versionArgs);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return {
      problem: { tool, kind: 'no-version', path: file, detail: err instanceof Error ? err.message : String(err) },
    };
  }
  const version = parseVersion(result.stdout) ?? parseVersion(result.stderr);
  const shown = `${tool} ${req.versionArgs.join(' ')}`;
  if (version === undefined) {
    const said = firstLine(result.stderr) || firstLine(result.stdout) || 'nothing';
    return {
      problem: {
        tool,
        kind: 'no-version',
        path: file,
        detail: `"${shown}" exited with code ${result.code} and printed ${said === 'nothing' ? 'nothing' : `"${said}"`}`,
      },
    };
  }
  const versionText = version.join('.');
  if (compareVersions(version, parseVersion(req.minVersion)!) < 0) {
    return { problem: { tool, kind: 'too-old', path: file, version: versionText } };
  }

  if (tool === 'docker') {
    // The client alone is not enough: kind creates its nodes through the engine.
    try {
      const info = await run(['info', '--format', '{{.ServerVersion}}']);
      if (info.code !== 0) {
        const said = firstLine(info.stderr) || firstLine(info.stdout) || `exit code ${info.code}`;
        return { problem: { tool, kind: 'not-running', path: file, detail: `docker info failed: ${said}` } };
      }
    } catch (err) {
      if (options.signal?.aborted) throw err;
      return {
        problem: {
          tool,
          kind: 'not-running',
          path: file,
          detail: `docker info failed: ${err instanceof Error ? err.message : String(err)}`,
        },
      };
    }
  }
  return { found: { path: file, version: versionText } };
}

/** Checks every tool (in parallel) and reports all problems at once, in ClusterTools order. */
export async function runPreflight(options: PreflightOptions = {}): Promise<PreflightReport> {
  const wanted = ClusterTools.filter((t) => (options.tools ?? ClusterTools).includes(t));
  const results = await Promise.all(wanted.map((t) => checkTool(t, options)));
  const report: PreflightReport = { problems: [], tools: {} };
  wanted.forEach((tool, i) => {
    const r = results[i]!;
    if (r.problem) report.problems.push(r.problem);
    if (r.found) report.tools[tool] = r.found;
  });
  debug('preflight: %O', report);
  return report;
}

function describeProblem(p: PreflightProblem): string {
  const req = toolRequirements[p.tool];
  const need = `need ${req.product} ${req.minVersion} or newer${p.tool === 'docker' ? ' with a running engine' : ''}`;
  switch (p.kind) {
    case 'missing':
      return `missing: not found ${p.searched ?? 'on PATH'}; ${need}`;
    case 'too-old':
      return `too old: ${p.version} at ${p.path}; ${need}`;
    case 'no-version':
      return `unusable: ${p.path}: ${p.detail}; ${need}`;
    case 'not-running':
      return `not running: ${p.detail}`;
  }
}

function installHint(p: PreflightProblem): string {
  if (p.kind === 'not-running')
    return 'start the engine (sudo systemctl start docker, or open Docker Desktop) until docker info answers';
  return toolRequirements[p.tool].install;
}

/**
 * The one block printed when prerequisites are missing: one line per problem saying what is
 * wrong, one line under it saying how to get it, and what to run afterwards.
 */
export function formatPreflight(problems: readonly PreflightProblem[], command = 'npm run cluster:up'): string {
  if (problems.length === 0) return `${command}: docker, kind, helm and kubectl are in place`;
  const width = Math.max(...problems.map((p) => p.tool.length)) + 2;
  const lines = [
    `${command} cannot start: ${problems.length === 1 ? '1 prerequisite needs' : `${problems.length} prerequisites need`} attention`,
  ];
  for (const p of problems) {
    lines.push(`  ${p.tool.padEnd(width)}${describeProblem(p)}`);
    lines.push(`  ${''.padEnd(width)}get it: ${installHint(p)}`);
  }
  lines.push(`Then run ${command} again.`);
  return lines.join('\n');
}
