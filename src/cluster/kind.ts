/**
 * The kind provider of `cluster:up` / `cluster:down`: a kind cluster with Istio, Prometheus,
 * Flagger, flagger-loadtester and Grafana (issue 5, "Cluster commands"; docs/design.md §2).
 *
 * The work is planned as data first: `kindUpPlan` / `kindDownPlan` return the steps, each a title
 * (the one progress line a user sees) and the argv arrays it runs. `kindUp` / `kindDown` run the
 * preflight (src/cluster/preflight.ts), then the plan through a `CommandRunner`, one step after the
 * other, stopping at the first failure with the tool's last output and the exact command. Every
 * install is `helm upgrade --install … --wait` and an existing cluster is reused, so running
 * `cluster up` again finishes a half-done cluster instead of starting over.
 *
 * NOT EXECUTED HERE: the machine this was written on has no Docker engine and no network, so none
 * of these commands has been run against a real docker, kind, helm or kubectl. What is verified is
 * the plan itself, its execution through a recording runner, the preflight stop (in-process and as
 * the real CLI process) and the agreement of the repository files it references
 * (src/cluster/kind.test.ts). scripts/kind/README.md says the same to users.
 *
 * Entry points:
 * - `runClusterCli` — scripts/kind/cluster.ts (`node --import tsx scripts/kind/cluster.ts up|down`);
 * - `kindUp` / `kindDown` — the programmatic API (`await using cluster = await kindUp(…)` deletes the
 *   cluster at the end of the scope; the CLI never disposes it);
 * - `kindProviderUp` / `kindProviderDown` — thin adapters taking a provider dispatcher's options
 *   (`{ env, logger, signal, timeoutMs }`) and returning an exit code. src/cluster/cli.ts dispatches
 *   `--provider kind` to `runClusterCli` instead.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import createDebug from 'debug';
import { isHarnessError, PlatformError, UsageError } from '../common/errors.ts';
import { parseOptions } from '../cli/args.ts';
import { createLogger, silentLogger, type Logger } from '../common/logger.ts';
import { runCommand, type CommandResult } from '../process/commands.ts';
import { LOADTESTER_NAMESPACE } from '../kube/cluster-state.ts';
import { formatPreflight, runPreflight, type ClusterTool, type FoundTool } from './preflight.ts';

const debug = createDebug('canary-mttr:kind');

/** The checkout this module lives in: where the Dockerfile, values files and versions.env are. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Where the cluster's services answer on this machine. The ports are fixed twice, and must agree:
 * the NodePorts in the values files and their host mappings in scripts/kind/kind-config.yaml
 * (kind.test.ts checks both against these URLs).
 */
export const KIND_HOST_URLS = {
  ingress: 'http://localhost:8080',
  prometheus: 'http://localhost:9090',
  grafana: 'http://localhost:3000',
} as const;

/**
 * The prometheus chart's server Service (release `prometheus` in istio-system, servicePort 80):
 * Flagger's metricsServer. Grafana's datasource in grafana-values.yaml is the same Service.
 */
export const PROMETHEUS_IN_CLUSTER_URL = 'http://prometheus-server.istio-system:80';

/** flagger-loadtester's chart is versioned apart from Flagger, so it is not in versions.env. */
export const FLAGGER_LOADTESTER_CHART_VERSION = '0.38.0';

const CHART_REPOS = {
  istio: 'https://istio-release.storage.googleapis.com/charts',
  prometheus: 'https://prometheus-community.github.io/helm-charts',
  flagger: 'https://flagger.app',
  grafana: 'https://grafana.github.io/helm-charts',
} as const;

const ISTIO_NAMESPACE = 'istio-system';
/**
 * Istio's gateway chart labels its pods `istio: <release without "istio-">`; the Gateway in
 * cluster-objects.yaml selects `istio: ingressgateway`, hence this release name.
 */
const INGRESS_NAMESPACE = 'istio-ingress';
const INGRESS_RELEASE = 'istio-ingressgateway';
/**
 * The provider name in grafana-values.yaml's dashboardProviders: the grafana chart writes
 * `dashboards.<provider>.<file>` into that provider's folder. The uid is the dashboard JSON's.
 */
const GRAFANA_DASHBOARD_PROVIDER = 'canary-mttr';
const GRAFANA_DASHBOARD_UID = 'canary-mttr';

const VERSIONS_FILE = 'scripts/tools/versions.env';

/** kind cluster names: they become container names and the kubectl context `kind-NAME`. */
const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

// ---- configuration -----------------------------------------------------------------------------

export interface KindConfig {
  /** The checkout: every command runs here, and `files` are relative to it. */
  root: string;
  /** kind cluster name (`--name`); the kubectl context is `kind-<clusterName>`. */
  clusterName: string;
  /** kind node image (`kind create cluster --image`); kind's own default when absent. */
  nodeImage?: string;
  /**
   * The namespace experiments run in, with sidecar injection; flagger-loadtester is installed
   * there. It is created by files.clusterObjects, which must name the same namespace.
   */
  namespace: string;
  /**
   * The faulty-app image. One build serves every version: each pod's version and fault come from
   * its env, which the charts set. The later tags are the same image under the tags a release
   * switches to, because Flagger only starts an analysis when the pod template changes.
   */
  image: { repository: string; tags: readonly string[] };
  /** Chart versions, x.y.z (no leading v). Prometheus and Grafana follow their repos' latest. */
  versions: { istio: string; flagger: string; loadtester: string };
  /** Files the plan uses, relative to `root`. */
  files: {
    dockerfile: string;
    kindConfig: string;
    istioGatewayValues: string;
    clusterObjects: string;
    prometheusValues: string;
    grafanaValues: string;
    dashboard: string;
  };
  /** `helm --timeout` of every install (Go duration). */
  helmTimeout: string;
  /** `kind create cluster --wait` (Go duration): until the control plane is ready. */
  kindWait: string;
}

/**
 * The KEY=VALUE lines of scripts/tools/versions.env, the one place tool versions are pinned
 * (install.sh and check.sh source the same file).
 */
export function readPinnedVersions(root: string = PROJECT_ROOT): Record<string, string> {
  const file = path.join(root, VERSIONS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PlatformError(
      `${file}: cannot read the pinned versions (${(err as NodeJS.ErrnoException).code ?? String(err)}); is ${root} the canary-mttr checkout?`,
      { cause: err },
    );
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(\S*)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function pinnedVersion(pinned: Record<string, string>, key: string, root: string): string {
  const value = pinned[key];
  if (value === undefined || !/^v?\d+\.\d+\.\d+$/.test(value)) {
    throw new PlatformError(
      `${path.join(root, VERSIONS_FILE)}: ${key}: ${value === undefined ? 'missing' : `"${value}" is not a version`}; expected a line like ${key}=v1.2.3`,
    );
  }
  return value.replace(/^v/, '');
}

/**
 * The cluster cluster:up makes by default. Istio and Flagger come from versions.env, the same
 * versions whose CRDs the chart tests validate against.
 */
export function defaultKindConfig(
  root: string = PROJECT_ROOT,
  pinned: Record<string, string> = readPinnedVersions(root),
): KindConfig {
  return {
    root,
    clusterName: 'canary-mttr',
    namespace: LOADTESTER_NAMESPACE,
    image: { repository: 'faulty-app', tags: ['v1', 'v2'] },
    versions: {
      istio: pinnedVersion(pinned, 'ISTIO_API_VERSION', root),
      flagger: pinnedVersion(pinned, 'FLAGGER_VERSION', root),
      loadtester: FLAGGER_LOADTESTER_CHART_VERSION,
    },
    files: {
      dockerfile: 'faulty-app/Dockerfile',
      kindConfig: 'scripts/kind/kind-config.yaml',
      istioGatewayValues: 'scripts/kind/istio-gateway-values.yaml',
      clusterObjects: 'scripts/kind/cluster-objects.yaml',
      prometheusValues: 'scripts/kind/prometheus-values.yaml',
      grafanaValues: 'scripts/kind/grafana-values.yaml',
      dashboard: 'faulty-app/charts/dashboards/canary-mttr.json',
    },
    helmTimeout: '10m',
    kindWait: '120s',
  };
}

/** The kubeconfig context kind writes for a cluster. */
export function kindContext(clusterName: string): string {
  return `kind-${clusterName}`;
}

// ---- the plan ----------------------------------------------------------------------------------

/** One command: argv[0] is the tool's name (docker, kind, helm, kubectl), resolved when it runs. */
export interface PlannedCommand {
  argv: readonly string[];
  /** Working directory when it matters (docker's build context); else the checkout. */
  cwd?: string;
}

/** One progress line and the commands behind it (none when there is nothing to do). */
export interface PlanStep {
  title: string;
  commands: PlannedCommand[];
}

export interface KindUpState {
  /** A cluster of that name exists already (`kind get clusters`): reuse it. */
  clusterExists?: boolean;
}

/** The steps of cluster:up, in order. Pure: nothing is looked up or run. */
export function kindUpPlan(config: KindConfig, state: KindUpState = {}): PlanStep[] {
  const name = config.clusterName;
  const context = kindContext(name);
  const file = (f: keyof KindConfig['files']) => path.join(config.root, config.files[f]);
  const images = config.image.tags.map((tag) => `${config.image.repository}:${tag}`);
  const [built, ...aliases] = images;
  if (built === undefined) throw new PlatformError('cluster:up: image.tags is empty; give at least one tag, e.g. v1');
  const { istio, flagger, loadtester } = config.versions;

  const helmInstall = (
    release: string,
    chart: string,
    repo: string,
    version: string | undefined,
    namespace: string,
    extra: readonly string[] = [],
  ): PlannedCommand => ({
    argv: [
      'helm',
      'upgrade',
      '--install',
      release,
      chart,
      '--repo',
      repo,
      ...(version === undefined ? [] : ['--version', version]),
      '--namespace',
      namespace,
      '--create-namespace',
      '--kube-context',
      context,
      ...extra,
      '--wait',
      '--timeout',
      config.helmTimeout,
    ],
  });

  return [
    {
      title: `build the faulty-app image ${images.join(', ')}`,
      commands: [
        { argv: ['docker', 'build', '-f', config.files.dockerfile, '-t', built, '.'], cwd: config.root },
        ...aliases.map((alias) => ({ argv: ['docker', 'tag', built, alias] })),
      ],
    },
    state.clusterExists
      ? { title: `reuse the existing kind cluster ${name}`, commands: [] }
      : {
          title: `create the kind cluster ${name} (${config.files.kindConfig})`,
          commands: [
            {
              argv: [
                'kind',
                'create',
                'cluster',
                '--name',
                name,
                '--config',
                file('kindConfig'),
                ...(config.nodeImage === undefined ? [] : ['--image', config.nodeImage]),
                '--wait',
                config.kindWait,
              ],
            },
          ],
        },
    {
      title: `load ${images.join(', ')} into the kind node`,
      commands: [{ argv: ['kind', 'load', 'docker-image', ...images, '--name', name] }],
    },
    {
      title: `Istio ${istio}: CRDs (istio/base)`,
      commands: [helmInstall('istio-base', 'base', CHART_REPOS.istio, istio, ISTIO_NAMESPACE)],
    },
    {
      title: `Istio ${istio}: control plane (istio/istiod)`,
      commands: [helmInstall('istiod', 'istiod', CHART_REPOS.istio, istio, ISTIO_NAMESPACE)],
    },
    {
      title: `Istio ${istio}: ingress gateway on ${KIND_HOST_URLS.ingress} (istio/gateway)`,
      commands: [
        helmInstall(INGRESS_RELEASE, 'gateway', CHART_REPOS.istio, istio, INGRESS_NAMESPACE, [
          '--values',
          file('istioGatewayValues'),
        ]),
      ],
    },
    {
      // After Istio: the Gateway's kind comes with Istio's CRDs.
      title: `namespace ${config.namespace} (sidecar injection) and the shared Gateway`,
      commands: [{ argv: ['kubectl', '--context', context, 'apply', '-f', file('clusterObjects')] }],
    },
    {
      title: `Prometheus scraping the Istio sidecars on ${KIND_HOST_URLS.prometheus} (prometheus-community/prometheus)`,
      commands: [
        helmInstall('prometheus', 'prometheus', CHART_REPOS.prometheus, undefined, ISTIO_NAMESPACE, [
          '--values',
          file('prometheusValues'),
        ]),
      ],
    },
    {
      title: `Flagger ${flagger} (flagger/flagger, meshProvider=istio)`,
      commands: [
        helmInstall('flagger', 'flagger', CHART_REPOS.flagger, flagger, ISTIO_NAMESPACE, [
          '--set',
          'meshProvider=istio',
          '--set',
          `metricsServer=${PROMETHEUS_IN_CLUSTER_URL}`,
        ]),
      ],
    },
    {
      title: `flagger-loadtester ${loadtester} in ${config.namespace} (the smoke test's runner)`,
      commands: [helmInstall('flagger-loadtester', 'loadtester', CHART_REPOS.flagger, loadtester, config.namespace)],
    },
    {
      title: `Grafana with the ${GRAFANA_DASHBOARD_UID} dashboard on ${KIND_HOST_URLS.grafana} (grafana/grafana)`,
      commands: [
        helmInstall('grafana', 'grafana', CHART_REPOS.grafana, undefined, ISTIO_NAMESPACE, [
          '--values',
          file('grafanaValues'),
          // The JSON in the repository is the one source of the panels.
          '--set-file',
          `dashboards.${GRAFANA_DASHBOARD_PROVIDER}.${path.basename(config.files.dashboard)}=${file('dashboard')}`,
        ]),
      ],
    },
  ];
}

/** The steps of cluster:down. */
export function kindDownPlan(config: KindConfig): PlanStep[] {
  const name = config.clusterName;
  return [
    { title: `delete the kind cluster ${name}`, commands: [{ argv: ['kind', 'delete', 'cluster', '--name', name] }] },
  ];
}

// ---- running it --------------------------------------------------------------------------------

export interface CommandRunnerOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * Runs one command and resolves with its exit status and output whatever the exit code; rejects
 * only when it cannot run or is aborted. argv[0] is an absolute path (the one the preflight found).
 */
export type CommandRunner = (argv: readonly string[], options: CommandRunnerOptions) => Promise<CommandResult>;

/** The real runner: a child process, killed on abort (src/cluster/preflight.ts `runCommand`). */
export const runChildProcess: CommandRunner = (argv, options) => {
  const [file, ...args] = argv;
  if (file === undefined) throw new PlatformError('cannot run an empty command');
  return runCommand(file, args, options);
};

export interface KindCommandOptions {
  config: KindConfig;
  /** Environment of the preflight and of every command (PATH, HOME, KUBECONFIG, DOCKER_HOST). */
  env?: NodeJS.ProcessEnv;
  /** Progress lines on info; the preflight block and a failing tool's output on warn. */
  logger?: Logger;
  runner?: CommandRunner;
  /** Ctrl-C: the running command is killed and the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface KindUpOptions extends KindCommandOptions {
  /** Whole cluster:up deadline, wall ms; none by default (each helm install has its own --timeout). */
  timeoutMs?: number;
  /** Wall clock, ms (the "ready in" line). */
  now?: () => number;
}

export interface StartedKindCluster extends AsyncDisposable {
  readonly name: string;
  /** kubeconfig context (kind writes it into KUBECONFIG or ~/.kube/config). */
  readonly context: string;
  readonly urls: typeof KIND_HOST_URLS;
  /** Deletes the cluster; runs once however often it is called. */
  down(): Promise<void>;
}

type Tools = Partial<Record<ClusterTool, FoundTool>>;

interface Execution {
  /** "cluster:up": the prefix of a failure line. */
  label: string;
  tools: Tools;
  root: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  runner: CommandRunner;
  /** The user's signal (Ctrl-C). */
  signal?: AbortSignal;
  /** The deadline, when there is one. */
  deadline?: { signal: AbortSignal; ms: number };
}

/** The argv as a user would type it: tool names, not the absolute paths that ran. */
const shown = (argv: readonly string[]) => `\`${argv.join(' ')}\``;

/** Lines of a failing tool's output kept for the user: the end is where tools say what went wrong. */
const FAILURE_OUTPUT_LINES = 60;

function toolPath(tool: string, tools: Tools, label: string): string {
  const found = tools[tool as ClusterTool];
  // The plan only uses the four checked tools; anything else is a bug in the plan, not the machine.
  if (found === undefined)
    throw new PlatformError(`${label}: the plan uses ${tool}, which the preflight did not check`);
  return found.path;
}

async function runOne(command: PlannedCommand, exec: Execution, where: string): Promise<CommandResult> {
  const [tool, ...args] = command.argv;
  if (tool === undefined) throw new PlatformError(`${exec.label}: ${where}: empty command in the plan`);
  const signals = [exec.signal, exec.deadline?.signal].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
  const file = toolPath(tool, exec.tools, exec.label);
  // Docker 20.10–22 build with the legacy builder unless told otherwise, and the legacy builder
  // ignores faulty-app/Dockerfile.dockerignore: the whole checkout (node_modules, reports) would
  // be sent as the build context. BuildKit is built into every engine the preflight accepts.
  const env =
    tool === 'docker' && exec.env.DOCKER_BUILDKIT === undefined ? { ...exec.env, DOCKER_BUILDKIT: '1' } : exec.env;
  debug('%s: %s: %o', exec.label, where, command.argv);
  try {
    return await exec.runner([file, ...args], { cwd: command.cwd ?? exec.root, env, signal });
  } catch (err) {
    if (exec.signal?.aborted) throw err; // Ctrl-C: the caller reports it
    if (exec.deadline?.signal.aborted) {
      throw new PlatformError(
        `${exec.label}: ${where} did not finish within the ${exec.deadline.ms / 1000} s deadline: ${shown(command.argv)} was stopped`,
        { cause: err },
      );
    }
    if (isHarnessError(err)) throw new PlatformError(`${exec.label}: ${where} failed: ${err.message}`, { cause: err });
    throw new PlatformError(
      `${exec.label}: ${where} failed: ${shown(command.argv)} could not run: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/**
 * Runs the steps in order, one progress line each. The first command that exits non-zero stops
 * everything: its output goes to warn and the error names the step and the command, because a
 * later step on top of a failed one only buries the cause.
 */
async function runPlan(plan: readonly PlanStep[], exec: Execution): Promise<void> {
  for (const [i, step] of plan.entries()) {
    const where = `step ${i + 1}/${plan.length} (${step.title})`;
    exec.logger.info(`[${i + 1}/${plan.length}] ${step.title}`);
    for (const command of step.commands) {
      const result = await runOne(command, exec, where);
      const output = [result.stdout, result.stderr]
        .map((s) => s.trimEnd())
        .filter((s) => s !== '')
        .join('\n');
      if (result.code === 0) {
        debug('%s: %s: done%s', exec.label, where, output === '' ? '' : `\n${output}`);
        continue;
      }
      if (output !== '') exec.logger.warn(output.split('\n').slice(-FAILURE_OUTPUT_LINES).join('\n'));
      const exit =
        result.code === null ? `was ended by ${result.signal ?? 'a signal'}` : `exited with code ${result.code}`;
      throw new PlatformError(
        `${exec.label}: ${where} failed: ${shown(command.argv)} ${exit}; ${output === '' ? 'it printed nothing' : 'its last output is above'}`,
      );
    }
  }
}

/**
 * Checks the tools first and reports every problem in one block: a half-created cluster because
 * the fourth tool was missing is worse than not starting.
 */
async function preflight(
  command: string,
  tools: readonly ClusterTool[],
  options: KindCommandOptions,
  logger: Logger,
): Promise<Tools> {
  const report = await runPreflight({ env: options.env ?? process.env, tools, signal: options.signal });
  if (report.problems.length > 0) {
    logger.warn(formatPreflight(report.problems, command));
    throw new PlatformError(
      `${command} stopped: missing prerequisites: ${report.problems.map((p) => p.tool).join(', ')}`,
    );
  }
  return report.tools;
}

/** The names `kind get clusters` lists (it says "No kind clusters found." on stderr when none). */
async function existingClusters(exec: Execution): Promise<string[]> {
  const argv = ['kind', 'get', 'clusters'];
  const result = await runOne({ argv }, exec, 'listing the kind clusters');
  if (result.code !== 0) {
    const said = (result.stderr.trim() || result.stdout.trim()).split('\n').at(-1) ?? '';
    throw new PlatformError(
      `${exec.label}: ${shown(argv)} exited with code ${result.code}${said === '' ? '' : `: ${said}`}`,
    );
  }
  return result.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/**
 * cluster:up: preflight (docker, kind, helm, kubectl), then `kindUpPlan`, reusing a cluster of the
 * same name. Resolves with the cluster once every install is ready; rejects with a PlatformError
 * (exit code 1) when a prerequisite is missing or a step fails, after printing why.
 */
export async function kindUp(options: KindUpOptions): Promise<StartedKindCluster> {
  const now = options.now ?? Date.now;
  const startedMs = now();
  const { config } = options;
  const logger = options.logger ?? silentLogger;
  const label = 'cluster:up';
  const tools = await preflight('npm run cluster:up', ['docker', 'kind', 'helm', 'kubectl'], options, logger);
  const exec: Execution = {
    label,
    tools,
    root: config.root,
    env: options.env ?? process.env,
    logger,
    runner: options.runner ?? runChildProcess,
    signal: options.signal,
    deadline:
      options.timeoutMs === undefined
        ? undefined
        : { signal: AbortSignal.timeout(options.timeoutMs), ms: options.timeoutMs },
  };
  const clusterExists = (await existingClusters(exec)).includes(config.clusterName);
  debug('cluster %s %s', config.clusterName, clusterExists ? 'exists: reusing it' : 'does not exist yet');
  await runPlan(kindUpPlan(config, { clusterExists }), exec);

  const context = kindContext(config.clusterName);
  const seconds = Math.round((now() - startedMs) / 1000);
  logger.info(
    `cluster:up: kind cluster ${config.clusterName} ready in ${seconds} s (context ${context}); ` +
      `Grafana ${KIND_HOST_URLS.grafana}/d/${GRAFANA_DASHBOARD_UID}, Prometheus ${KIND_HOST_URLS.prometheus}, ingress ${KIND_HOST_URLS.ingress}`,
  );

  let deleting: Promise<void> | undefined;
  // The up deadline is over once up returns; deleting may take as long as it takes.
  const down = () =>
    (deleting ??= runPlan(kindDownPlan(config), { ...exec, label: 'cluster:down', deadline: undefined }));
  return {
    name: config.clusterName,
    context,
    urls: KIND_HOST_URLS,
    down,
    [Symbol.asyncDispose]: down,
  };
}

/** cluster:down: deletes the kind cluster. Needs only docker and kind (kind deletes through docker). */
export async function kindDown(options: KindCommandOptions): Promise<void> {
  const logger = options.logger ?? silentLogger;
  const tools = await preflight('npm run cluster:down', ['docker', 'kind'], options, logger);
  await runPlan(kindDownPlan(options.config), {
    label: 'cluster:down',
    tools,
    root: options.config.root,
    env: options.env ?? process.env,
    logger,
    runner: options.runner ?? runChildProcess,
    signal: options.signal,
  });
}

// ---- the provider adapters ---------------------------------------------------------------------

/**
 * What a `cluster:up --provider …` dispatcher passes to a provider. Structural on purpose: it is the
 * part of the former ProviderCommandOptions (src/cluster/provider.ts) that applies to kind, so an
 * object of that shape is accepted as it is. `stateDir` and `foreground` do not apply: kind keeps
 * its state in Docker and the kubeconfig, and nothing of ours runs after up returns.
 */
export interface KindProviderOptions {
  /** Whole start-up deadline, wall ms. */
  timeoutMs?: number;
  logger: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
}

/**
 * `cluster:up --provider kind` as a provider call: the default cluster of this checkout. Returns 0
 * once it is ready; rejects with a PlatformError otherwise (for the dispatcher to print). A kind
 * cluster with its image pulls needs many minutes, so the local provider's deadline does not fit.
 */
export async function kindProviderUp(options: KindProviderOptions): Promise<number> {
  await kindUp({
    config: defaultKindConfig(PROJECT_ROOT),
    env: options.env,
    logger: options.logger,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
  });
  return 0;
}

/** `cluster:down --provider kind` as a provider call: deletes the default cluster of this checkout. */
export async function kindProviderDown(options: KindProviderOptions): Promise<number> {
  await kindDown({
    config: defaultKindConfig(PROJECT_ROOT),
    env: options.env,
    logger: options.logger,
    signal: options.signal,
  });
  return 0;
}

// ---- the command line --------------------------------------------------------------------------

export const CLUSTER_HELP = `usage: cluster up|down [--name NAME] [--node-image IMAGE]

  up    check docker, kind, helm and kubectl, then create the kind cluster NAME (or reuse it) and
        install Istio, Prometheus, Flagger, flagger-loadtester and Grafana (scripts/kind/README.md)
  down  delete the kind cluster NAME

  --name NAME          kind cluster name (default canary-mttr); the kubectl context is kind-NAME
  --node-image IMAGE   up only: kind node image, e.g. kindest/node:v1.34.0 (default: kind's own)
  --help               this text
`;

export interface ClusterCliIo {
  stdout: Writable;
  stderr: Writable;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  runner?: CommandRunner;
  /** The checkout whose files and versions.env are used; default PROJECT_ROOT. */
  root?: string;
}

const Commands = ['up', 'down'] as const;
type Command = (typeof Commands)[number];

function parseClusterArgs(argv: readonly string[]): { command: Command; name?: string; nodeImage?: string } | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('cluster: no command given; use up or down');
  if (!(Commands as readonly string[]).includes(command))
    throw new UsageError(`cluster: "${command}" is not a command; use up or down`);
  const { values } = parseOptions(
    rest,
    { name: { type: 'string' }, 'node-image': { type: 'string' } },
    false,
    `cluster ${command}`,
  );
  if (command === 'down' && values['node-image'] !== undefined)
    throw new UsageError('--node-image: unknown option of cluster down; see --help');
  if (values.name !== undefined && !CLUSTER_NAME.test(values.name)) {
    throw new UsageError(
      `--name: "${values.name}" is not a cluster name; use lowercase letters, digits and dashes, e.g. canary-mttr`,
    );
  }
  return { command: command as Command, name: values.name, nodeImage: values['node-image'] };
}

/**
 * `cluster up|down`: returns the exit code. 2 with one line for bad arguments, 1 with one line for a
 * known failure (after the preflight block or the tool's output), 130 when `signal` stopped it;
 * anything unexpected is rethrown for its stack.
 */
export async function runClusterCli(argv: readonly string[], io: ClusterCliIo): Promise<number> {
  let args: ReturnType<typeof parseClusterArgs>;
  try {
    args = parseClusterArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`${err.message}\n`);
    return 2;
  }
  if (args === 'help') {
    io.stdout.write(CLUSTER_HELP);
    return 0;
  }
  const logger = createLogger(io.stdout, io.stderr);
  try {
    const base = defaultKindConfig(io.root ?? PROJECT_ROOT);
    const config: KindConfig = {
      ...base,
      clusterName: args.name ?? base.clusterName,
      nodeImage: args.nodeImage ?? base.nodeImage,
    };
    const options = { config, env: io.env ?? process.env, logger, runner: io.runner, signal: io.signal };
    // The cluster outlives this process: up's result is deliberately not disposed.
    if (args.command === 'up') await kindUp(options);
    else await kindDown(options);
    return 0;
  } catch (err) {
    if (io.signal?.aborted) return 130;
    if (!isHarnessError(err)) throw err;
    io.stderr.write(`${err.message}\n`);
    return err.exitCode;
  }
}
