/**
 * cluster:up / cluster:down without a cluster: kind cannot run here (no Docker engine, no
 * network), so these tests pin the exact command plan, run it through a recording runner, check
 * the preflight stop (in-process and as the real CLI process), and check that the repository files
 * the plan references exist and agree with each other. The commands themselves were not run.
 *
 * Test doubles: the fake docker/kind/helm/kubectl are two-line shell scripts printing what the
 * real tools print for their version commands.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { PlatformError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import {
  defaultKindConfig,
  KIND_HOST_URLS,
  kindDown,
  kindDownPlan,
  kindUp,
  kindUpPlan,
  PROJECT_ROOT,
  PROMETHEUS_IN_CLUSTER_URL,
  readPinnedVersions,
  runClusterCli,
  type CommandRunner,
} from './kind.ts';
import type { CommandResult } from '../process/commands.ts';
import { fakeTool as writeFakeTool, fakeToolsHome } from '../test-support/fake-tools.ts';
import { sink } from '../test-support/sink.ts';

const config = defaultKindConfig('/repo', { ISTIO_API_VERSION: 'v1.32.0', FLAGGER_VERSION: 'v1.44.0' });
const ctx = ['--kube-context', 'kind-canary-mttr'];
const wait = ['--wait', '--timeout', '10m'];

/** The plan of a fresh cluster, written out: this is the spec of what cluster:up runs. */
const expectedUpCommands: { argv: string[]; cwd?: string }[] = [
  { argv: ['docker', 'build', '-f', 'faulty-app/Dockerfile', '-t', 'faulty-app:v1', '.'], cwd: '/repo' },
  { argv: ['docker', 'tag', 'faulty-app:v1', 'faulty-app:v2'] },
  {
    argv: [
      'kind',
      'create',
      'cluster',
      '--name',
      'canary-mttr',
      '--config',
      '/repo/scripts/kind/kind-config.yaml',
      '--wait',
      '120s',
    ],
  },
  { argv: ['kind', 'load', 'docker-image', 'faulty-app:v1', 'faulty-app:v2', '--name', 'canary-mttr'] },
  {
    argv: [
      'helm',
      'upgrade',
      '--install',
      'istio-base',
      'base',
      '--repo',
      'https://istio-release.storage.googleapis.com/charts',
      '--version',
      '1.32.0',
      '--namespace',
      'istio-system',
      '--create-namespace',
      ...ctx,
      ...wait,
    ],
  },
  {
    argv: [
      'helm',
      'upgrade',
      '--install',
      'istiod',
      'istiod',
      '--repo',
      'https://istio-release.storage.googleapis.com/charts',
      '--version',
      '1.32.0',
      '--namespace',
      'istio-system',
      '--create-namespace',
      ...ctx,
      ...wait,
    ],
  },
  {
    argv: [
      'helm',
      'upgrade',
      '--install',
      'istio-ingressgateway',
      'gateway',
      '--repo',
      'https://istio-release.storage.googleapis.com/charts',
      '--version',
      '1.32.0',
      '--namespace',
      'istio-ingress',
      '--create-namespace',
      ...ctx,
      '--values',
      '/repo/scripts/kind/istio-gateway-values.yaml',
      ...wait,
    ],
  },
  { argv: ['kubectl', '--context', 'kind-canary-mttr', 'apply', '-f', '/repo/scripts/kind/cluster-objects.yaml'] },
  {
    argv: [
      'helm',
      'upgrade',
      '--install',
      'prometheus',
      'prometheus',
      '--repo',
      'https://prometheus-community.github.io/helm-charts',
      '--namespace',
      'istio-system',
      '--create-namespace',
      ...ctx,
      '--values',
      '/repo/scripts/kind/prometheus-values.yaml',
      ...wait,
    ],
  },
  {
    argv: [
      'helm',
      'upgrade',
      '--install',
      'flagger',
      'flagger',
      '--repo',
      'https://flagger.app',
      '--version',
      '1.44.0',
      '--namespace',
      'istio-system',
      '--create-namespace',
      ...ctx,
      '--set',
      'meshProvider=istio',
      '--set',
      'metricsServer=http://prometheus-server.istio-system:80',
      ...wait,
    ],
  },
  {
    argv: [
      'helm',
      'upgrade',
      '--install',
      'flagger-loadtester',
      'loadtester',
      '--repo',
      'https://flagger.app',
      '--version',
      '0.38.0',
      '--namespace',
      'canary-mttr',
      '--create-namespace',
      ...ctx,
      ...wait,
    ],
  },
  {
    argv: [
      'helm',
      'upgrade',
      '--install',
      'grafana',
      'grafana',
      '--repo',
      'https://grafana.github.io/helm-charts',
      '--namespace',
      'istio-system',
      '--create-namespace',
      ...ctx,
      '--values',
      '/repo/scripts/kind/grafana-values.yaml',
      '--set-file',
      'dashboards.canary-mttr.canary-mttr.json=/repo/faulty-app/charts/dashboards/canary-mttr.json',
      ...wait,
    ],
  },
];

const expectedTitles = [
  'build the faulty-app image faulty-app:v1, faulty-app:v2',
  'create the kind cluster canary-mttr (scripts/kind/kind-config.yaml)',
  'load faulty-app:v1, faulty-app:v2 into the kind node',
  'Istio 1.32.0: CRDs (istio/base)',
  'Istio 1.32.0: control plane (istio/istiod)',
  'Istio 1.32.0: ingress gateway on http://localhost:8080 (istio/gateway)',
  'namespace canary-mttr (sidecar injection) and the shared Gateway',
  'Prometheus scraping the Istio sidecars on http://localhost:9090 (prometheus-community/prometheus)',
  'Flagger 1.44.0 (flagger/flagger, meshProvider=istio)',
  "flagger-loadtester 0.38.0 in canary-mttr (the smoke test's runner)",
  'Grafana with the canary-mttr dashboard on http://localhost:3000 (grafana/grafana)',
];

describe('kindUpPlan / kindDownPlan', () => {
  it('is exactly the commands cluster:up runs on a fresh machine, in order', () => {
    const plan = kindUpPlan(config);
    expect(plan.map((s) => s.title)).toEqual(expectedTitles);
    expect(plan.flatMap((s) => s.commands)).toEqual(expectedUpCommands);
  });

  it('reuses an existing cluster: no create, everything else is an idempotent upgrade', () => {
    const plan = kindUpPlan(config, { clusterExists: true });
    expect(plan[1]).toEqual({ title: 'reuse the existing kind cluster canary-mttr', commands: [] });
    expect(plan.flatMap((s) => s.commands)).toEqual(expectedUpCommands.filter((c) => c.argv[1] !== 'create'));
  });

  it('passes a node image and a cluster name through', () => {
    const plan = kindUpPlan({ ...config, clusterName: 'lab', nodeImage: 'kindest/node:v1.34.0' });
    expect(plan[1]!.commands[0]!.argv).toEqual([
      'kind',
      'create',
      'cluster',
      '--name',
      'lab',
      '--config',
      '/repo/scripts/kind/kind-config.yaml',
      '--image',
      'kindest/node:v1.34.0',
      '--wait',
      '120s',
    ]);
    expect(plan[4]!.commands[0]!.argv).toContain('kind-lab');
  });

  it('cluster:down deletes the cluster', () => {
    expect(kindDownPlan(config)).toEqual([
      {
        title: 'delete the kind cluster canary-mttr',
        commands: [{ argv: ['kind', 'delete', 'cluster', '--name', 'canary-mttr'] }],
      },
    ]);
  });

  it('pins Istio and Flagger to scripts/tools/versions.env', () => {
    const pinned = readPinnedVersions(PROJECT_ROOT);
    const real = defaultKindConfig(PROJECT_ROOT);
    expect(real.versions.istio).toBe(pinned.ISTIO_API_VERSION!.replace(/^v/, ''));
    expect(real.versions.flagger).toBe(pinned.FLAGGER_VERSION!.replace(/^v/, ''));
  });
});

// ---- kindUp / kindDown with a recording runner -------------------------------------------------

let dir: string;
let bin: string;
let env: NodeJS.ProcessEnv;

const fakeTool = (name: string, body: string): string => writeFakeTool(bin, name, body);
const fakeAll = (only: readonly string[] = ['docker', 'kind', 'helm', 'kubectl']) => {
  const paths: Record<string, string> = {};
  if (only.includes('docker'))
    paths.docker = fakeTool(
      'docker',
      `[ "$1" = "--version" ] && echo 'Docker version 28.2.2, build e6534b4' || echo 28.2.2`,
    );
  if (only.includes('kind')) paths.kind = fakeTool('kind', `echo 'kind v0.33.0 go1.24.6 linux/amd64'`);
  if (only.includes('helm')) paths.helm = fakeTool('helm', `echo 'v3.22.0+g5f2d3c1'`);
  if (only.includes('kubectl')) paths.kubectl = fakeTool('kubectl', `echo 'Client Version: v1.30.2'`);
  return paths;
};

beforeEach(() => {
  ({ dir, bin, env } = fakeToolsHome('canary-mttr-kind-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { logger: Logger; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { logger: { info: (l) => out.push(l), warn: (l) => err.push(l) }, out, err };
}

/** Records every command; answers `kind get clusters` with `clusters` and fails `failOn`. */
function recorder(clusters = '', failOn?: string) {
  const calls: { argv: readonly string[]; cwd: string }[] = [];
  const runner: CommandRunner = async (argv, options) => {
    calls.push({ argv, cwd: options.cwd });
    const ok = (stdout = ''): CommandResult => ({ code: 0, signal: null, stdout, stderr: '' });
    if (argv.slice(1).join(' ') === 'get clusters') return ok(clusters);
    if (failOn !== undefined && argv.includes(failOn)) {
      return {
        code: 1,
        signal: null,
        stdout: 'Release "istiod" does not exist. Installing it now.\n',
        stderr: 'Error: context deadline exceeded\n',
      };
    }
    return ok();
  };
  return { runner, calls };
}

describe('kindUp / kindDown', () => {
  it('without docker and kind: prints the one block, throws PlatformError (exit 1), runs nothing', async () => {
    fakeAll(['helm', 'kubectl']);
    const { logger, out, err } = capture();
    const { runner, calls } = recorder();
    const failure = await kindUp({ config, env, logger, runner }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PlatformError);
    expect((failure as PlatformError).exitCode).toBe(1);
    expect((failure as PlatformError).message).toBe('npm run cluster:up stopped: missing prerequisites: docker, kind');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(
      /^npm run cluster:up cannot start: 2 prerequisites need attention\n {2}docker {2}missing: .*\n.*\n {2}kind {4}missing: .*\n.*\nThen run npm run cluster:up again\.$/,
    );
    expect(out).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('runs the plan in order with the tools the preflight found, one progress line per step', async () => {
    const paths = fakeAll();
    const { logger, out, err } = capture();
    const { runner, calls } = recorder('other-cluster\n');
    let t = 1_000;
    const cluster = await kindUp({ config, env, logger, runner, now: () => (t += 60_000) });
    expect(calls[0]).toEqual({ argv: [paths.kind, 'get', 'clusters'], cwd: '/repo' });
    expect(calls.slice(1)).toEqual(
      expectedUpCommands.map((c) => ({ argv: [paths[c.argv[0]!], ...c.argv.slice(1)], cwd: '/repo' })),
    );
    expect(out).toEqual([
      ...expectedTitles.map((title, i) => `[${i + 1}/11] ${title}`),
      'cluster:up: kind cluster canary-mttr ready in 60 s (context kind-canary-mttr); Grafana http://localhost:3000/d/canary-mttr, Prometheus http://localhost:9090, ingress http://localhost:8080',
    ]);
    expect(err).toEqual([]);
    expect(cluster).toMatchObject({ name: 'canary-mttr', context: 'kind-canary-mttr', urls: KIND_HOST_URLS });

    // down() runs once however often it is called (await using + an explicit call).
    calls.length = 0;
    await cluster.down();
    await cluster[Symbol.asyncDispose]();
    expect(calls).toEqual([{ argv: [paths.kind, 'delete', 'cluster', '--name', 'canary-mttr'], cwd: '/repo' }]);
  });

  it('reuses an existing cluster of the same name', async () => {
    fakeAll();
    const { logger, out } = capture();
    const { runner, calls } = recorder('canary-mttr\n');
    await kindUp({ config, env, logger, runner });
    expect(out[1]).toBe('[2/11] reuse the existing kind cluster canary-mttr');
    expect(calls.some((c) => c.argv.includes('create'))).toBe(false);
  });

  it('stops at the first failing step with its output and the command, running nothing after it', async () => {
    fakeAll();
    const { logger, out, err } = capture();
    const { runner, calls } = recorder('', 'istiod');
    await expect(kindUp({ config, env, logger, runner })).rejects.toThrow(
      new PlatformError(
        'cluster:up: step 5/11 (Istio 1.32.0: control plane (istio/istiod)) failed: `helm upgrade --install istiod istiod --repo https://istio-release.storage.googleapis.com/charts --version 1.32.0 --namespace istio-system --create-namespace --kube-context kind-canary-mttr --wait --timeout 10m` exited with code 1; its last output is above',
      ),
    );
    expect(out.at(-1)).toBe('[5/11] Istio 1.32.0: control plane (istio/istiod)');
    expect(err).toEqual(['Release "istiod" does not exist. Installing it now.\nError: context deadline exceeded']);
    expect(calls.at(-1)!.argv).toContain('istiod');
  });

  it('cluster:down needs only docker and kind', async () => {
    const paths = fakeAll(['docker', 'kind']);
    const { logger, out } = capture();
    const { runner, calls } = recorder();
    await kindDown({ config, env, logger, runner });
    expect(out).toEqual(['[1/1] delete the kind cluster canary-mttr']);
    expect(calls).toEqual([{ argv: [paths.kind, 'delete', 'cluster', '--name', 'canary-mttr'], cwd: '/repo' }]);
  });
});

// ---- the command a user runs -------------------------------------------------------------------

describe('cluster CLI', () => {
  it('cluster up without docker and kind: the block on stderr, then one line, exit code 1 (real process)', async () => {
    fakeAll(['helm', 'kubectl']);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(PROJECT_ROOT, 'scripts/kind/cluster.ts'), 'up'],
      {
        cwd: PROJECT_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stdout).toBe('');
    expect(stderr).toBe(
      [
        'npm run cluster:up cannot start: 2 prerequisites need attention',
        '  docker  missing: not found on PATH; need Docker 20.10.0 or newer with a running engine',
        '          get it: install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then start it',
        '  kind    missing: not found on PATH; need kind 0.30.0 or newer',
        '          get it: go install sigs.k8s.io/kind@v0.33.0 (puts kind in $(go env GOPATH)/bin; put that on PATH), or a release binary: https://kind.sigs.k8s.io/docs/user/quick-start/#installation',
        'Then run npm run cluster:up again.',
        'npm run cluster:up stopped: missing prerequisites: docker, kind',
        '',
      ].join('\n'),
    );
    expect(code).toBe(1);
  });

  it('rejects unknown commands and options with one line and exit code 2', async () => {
    for (const [argv, line] of [
      [['sideways'], 'cluster: "sideways" is not a command; use up or down'],
      [['up', '--nmae', 'x'], '--nmae: unknown option of cluster up; see --help'],
      [
        ['up', '--name', 'Bad_Name'],
        '--name: "Bad_Name" is not a cluster name; use lowercase letters, digits and dashes, e.g. canary-mttr',
      ],
    ] as const) {
      const out = sink();
      const err = sink();
      expect(await runClusterCli(argv, { stdout: out.stream, stderr: err.stream, env })).toBe(2);
      expect(err.text()).toBe(`${line}\n`);
      expect(out.text()).toBe('');
    }
  });

  it('cluster down --name lab deletes that cluster', async () => {
    fakeAll(['docker', 'kind']);
    const out = sink();
    const err = sink();
    const { runner, calls } = recorder();
    expect(
      await runClusterCli(['down', '--name', 'lab'], { stdout: out.stream, stderr: err.stream, env, runner }),
    ).toBe(0);
    expect(calls.map((c) => c.argv.slice(1))).toEqual([['delete', 'cluster', '--name', 'lab']]);
    expect(out.text()).toBe('[1/1] delete the kind cluster lab\n');
  });
});

// ---- the repository files the plan uses --------------------------------------------------------

describe('cluster files in the repository', () => {
  const real = defaultKindConfig(PROJECT_ROOT);
  const read = (f: keyof typeof real.files) => readFileSync(path.join(PROJECT_ROOT, real.files[f]), 'utf8');
  const kindConfig = parseYaml(read('kindConfig')) as {
    kind: string;
    apiVersion: string;
    nodes: { role: string; extraPortMappings: { containerPort: number; hostPort: number; listenAddress: string }[] }[];
  };
  const gateway = parseYaml(read('istioGatewayValues')) as {
    service: { type: string; ports: { name: string; nodePort?: number }[] };
  };
  const prometheus = parseYaml(read('prometheusValues')) as {
    server: { service: { type: string; nodePort: number; servicePort: number } };
  };
  const grafana = parseYaml(read('grafanaValues')) as {
    service: { nodePort: number };
    datasources: { 'datasources.yaml': { datasources: { uid: string; url: string }[] } };
    dashboardProviders: { 'dashboardproviders.yaml': { providers: { name: string; options: { path: string } }[] } };
  };
  const dashboard = JSON.parse(read('dashboard')) as {
    uid: string;
    panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[];
  };

  it('maps every NodePort the values files fix to the host port cluster:up prints', () => {
    expect(kindConfig).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
    const mappings = Object.fromEntries(
      kindConfig.nodes[0]!.extraPortMappings.map((m) => [m.containerPort, m.hostPort]),
    );
    const port = (url: string) => Number(new URL(url).port);
    expect(mappings[gateway.service.ports.find((p) => p.name === 'http2')!.nodePort!]).toBe(
      port(KIND_HOST_URLS.ingress),
    );
    expect(mappings[prometheus.server.service.nodePort]).toBe(port(KIND_HOST_URLS.prometheus));
    expect(mappings[grafana.service.nodePort]).toBe(port(KIND_HOST_URLS.grafana));
    expect(gateway.service.type).toBe('NodePort');
    expect(prometheus.server.service.type).toBe('NodePort');
    // Only reachable from this machine.
    for (const m of kindConfig.nodes[0]!.extraPortMappings) expect(m.listenAddress).toBe('127.0.0.1');
  });

  it('wires Prometheus, Flagger, Grafana and the dashboard to each other', () => {
    // Flagger's metricsServer and Grafana's datasource are the prometheus chart's server Service.
    expect(PROMETHEUS_IN_CLUSTER_URL).toBe(
      `http://prometheus-server.istio-system:${prometheus.server.service.servicePort}`,
    );
    const ds = grafana.datasources['datasources.yaml'].datasources[0]!;
    expect(ds.url).toBe(`http://prometheus-server.istio-system.svc:${prometheus.server.service.servicePort}`);
    // The --set-file key names the provider whose folder Grafana reads.
    const provider = grafana.dashboardProviders['dashboardproviders.yaml'].providers[0]!;
    expect(provider).toMatchObject({
      name: 'canary-mttr',
      options: { path: '/var/lib/grafana/dashboards/canary-mttr' },
    });
    expect(kindUpPlan(real).at(-1)!.commands[0]!.argv.join(' ')).toContain(
      `--set-file dashboards.${provider.name}.canary-mttr.json=`,
    );
    // The final line links /d/canary-mttr.
    expect(dashboard.uid).toBe('canary-mttr');
    for (const p of dashboard.panels) expect(p.datasource.uid).toBe(ds.uid);
  });

  it('has the error-rate and canary-weight panels on the metrics the mesh exports', () => {
    const titles = dashboard.panels.map((p) => p.title);
    expect(titles).toEqual(expect.arrayContaining(['Error rate (5xx share of requests)', 'Canary weight']));
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.some((e) => e.includes('istio_requests_total') && e.includes('response_code=~"5.."'))).toBe(true);
    expect(exprs.some((e) => e.includes('flagger_canary_weight'))).toBe(true);
  });

  it('creates the experiment namespace with sidecar injection and a Gateway the ingress pods match', () => {
    const docs = parseAllDocuments(read('clusterObjects')).map(
      (d) =>
        d.toJS() as {
          kind: string;
          metadata: { name: string; namespace?: string; labels?: Record<string, string> };
          spec?: { selector: Record<string, string> };
        },
    );
    const ns = docs.find((d) => d.kind === 'Namespace')!;
    expect(ns.metadata).toMatchObject({ name: real.namespace, labels: { 'istio-injection': 'enabled' } });
    const gw = docs.find((d) => d.kind === 'Gateway')!;
    // Istio's gateway chart labels its pods istio: <release name without "istio-">.
    const release = kindUpPlan(real)[5]!.commands[0]!.argv[3]!;
    expect(gw.spec!.selector).toEqual({ istio: release.replace(/^istio-/, '') });
    expect(gw.metadata.namespace).toBe('istio-ingress');
  });
});
