import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CoreV1Api, KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import createDebug from 'debug';
import { parseAllDocuments } from 'yaml';
import { buildApp } from '../../../faulty-app/build.ts';
import { PlatformError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../common/logger.ts';
import { MeshEmulator } from './mesh-emulator.ts';
import { PidFile } from '../../process/pid-file.ts';
import { ProcessRegistry, type ManagedProcess } from '../../process/registry.ts';
import { kubeRequest, resourcePath } from '../../kube/kube-rest.ts';
import { isAlive, rssBytes } from '../../process/procfs.ts';
import {
  clusterNameFor,
  readState,
  writeState,
  type ClusterState,
  type RecordedRouter,
} from '../../kube/cluster-state.ts';
import { resolveTools, type ToolPaths } from '../tools.ts';
import {
  apiServerArgs,
  clusterPaths,
  controllerManagerArgs,
  etcdArgs,
  fakeNode,
  flaggerArgs,
  kubeconfigYaml,
  kwokArgs,
  PORT_NAMES,
  prometheusArgs,
  prometheusConfig,
  schedulerArgs,
  type ClusterPaths,
  type ClusterPorts,
} from './components.ts';
import { httpGet, waitUntil } from './probe.ts';
import { clusterProcessesDir, stopLocalClusterFromState } from './stop.ts';

const debug = createDebug('canary-mttr:cluster');

export const FAKE_NODE = 'kwok-node-0';

export interface LocalClusterOptions {
  stateDir: string;
  /** Process label (CANARY_MTTR_EXPERIMENT); derived from the state dir when absent. */
  name?: string;
  /** 'supervisor' when a detached process owns it (cluster:up), 'embedded' for tests and fidelity runs. */
  ownerKind?: 'supervisor' | 'embedded';
  /** Start Flagger (default true). */
  flagger?: boolean;
  /** Whole start-up deadline, wall ms (default 180 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Progress lines ("etcd ready in 0.4 s"). */
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Prometheus scrape interval, seconds (default 1). */
  scrapeIntervalS?: number;
}

export interface StartedLocalCluster extends AsyncDisposable {
  readonly name: string;
  readonly stateDir: string;
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  readonly apiServerUrl: string;
  readonly prometheusUrl: string;
  readonly mesh: MeshEmulator;
  readonly ports: ClusterPorts;
  readonly startupMs: number;
  readonly logsDir: string;
  /** Pids of every control-plane process (not the app processes). */
  readonly pids: number[];
  /** Resident memory of the control-plane processes and of this process, bytes. */
  memory(): { components: Record<string, number>; totalBytes: number };
  state(): ClusterState;
  /** Stops everything (safe to call twice): emulator and apps, Flagger, …, etcd. */
  stop(): Promise<void>;
}

async function freePorts(count: number): Promise<number[]> {
  // Keep every listener open until all are chosen, so no port is handed out twice.
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function elapsedS(sinceMs: number): string {
  return `${((performance.now() - sinceMs) / 1000).toFixed(1)} s`;
}

interface Component {
  name: string;
  binary: string;
  process: ManagedProcess;
  logFile: string;
}

/**
 * Starts a local control plane without containers (docs/design.md §8): etcd, kube-apiserver (bearer token,
 * RBAC), kube-controller-manager, kube-scheduler, kwok with one fake node, the Flagger and Istio
 * CRDs, Prometheus scraping the mesh emulator, the mesh emulator itself (in this process) and
 * Flagger. Writes `<stateDir>/kubeconfig` and `<stateDir>/cluster.json`. On any failure
 * everything started so far is stopped before the error is rethrown.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<StartedLocalCluster> {
  const t0 = performance.now();
  const logger = options.logger ?? silentLogger;
  const stateDir = path.resolve(options.stateDir);
  const name = options.name ?? clusterNameFor(stateDir);
  const tools = resolveTools(options.env);
  const previous = readState(stateDir);
  if (
    previous &&
    (previous.status === 'starting' || previous.status === 'ready' || previous.status === 'stopping') &&
    isAlive(previous.ownerPid)
  ) {
    throw new PlatformError(
      `local cluster: ${stateDir} is in use by a running cluster (owner pid ${previous.ownerPid}); run npm run cluster:down -- --provider local --state-dir ${stateDir} first`,
    );
  }
  if (previous && previous.status !== 'stopped') {
    // A crashed owner: whatever of its cluster still runs would hold the data dirs reused below.
    const swept = await stopLocalClusterFromState(stateDir);
    if (swept.stopped > 0)
      logger.warn(`[cluster] stopped ${swept.stopped} leftover process(es) of the previous cluster in ${stateDir}`);
  }
  const p = clusterPaths(stateDir);
  for (const dir of [p.etcdData, p.certs, p.prometheusData]) rmSync(dir, { recursive: true, force: true });
  mkdirSync(p.logs, { recursive: true });
  mkdirSync(p.certs, { recursive: true });
  mkdirSync(p.etcdData, { recursive: true, mode: 0o700 });
  mkdirSync(p.prometheusData, { recursive: true });

  const portList = await freePorts(PORT_NAMES.length);
  const ports = Object.fromEntries(PORT_NAMES.map((n, i) => [n, portList[i]!])) as unknown as ClusterPorts;
  const apiServerUrl = `https://127.0.0.1:${ports.apiServer}`;
  const prometheusUrl = `http://127.0.0.1:${ports.prometheus}`;
  const state: ClusterState = {
    version: 1,
    provider: 'local',
    name,
    stateDir,
    status: 'starting',
    ownerPid: process.pid,
    ownerKind: options.ownerKind ?? 'embedded',
    startedAt: new Date().toISOString(),
    kubeconfig: p.kubeconfig,
    apiServerUrl,
    prometheusUrl,
    ports: { ...ports },
    processes: [],
    routers: [],
  };
  writeState(state);

  const env: NodeJS.ProcessEnv = {
    PATH: options.env?.PATH ?? process.env.PATH,
    HOME: options.env?.HOME ?? process.env.HOME,
  };
  // Every child dies with this process (ProcessRegistry's parent-death signal), and is recorded
  // with its start time and executable in <stateDir>/processes, the only processes cluster:down stops.
  const registry = new ProcessRegistry({ experiment: name }, new PidFile(name, clusterProcessesDir(stateDir)));
  const components: Component[] = [];
  let mesh: MeshEmulator | undefined;
  const deadline = performance.now() + (options.timeoutMs ?? 180_000);
  const remaining = (capMs: number) => Math.max(1_000, Math.min(capMs, deadline - performance.now()));
  const signal = options.signal;

  const start = (component: string, binary: string, args: string[]): Component => {
    const logFile = path.join(p.logs, `${component}.log`);
    const proc = registry.spawn(binary, args, { env, label: component });
    const log = createWriteStream(logFile, { flags: 'w' });
    proc.child.stdout?.pipe(log, { end: false });
    proc.child.stderr?.pipe(log, { end: false });
    void proc.exited.then((exit) => {
      log.end();
      if (!stopping) logger.warn(`[cluster] ${component} exited (code ${exit.code ?? exit.signal}); see ${logFile}`);
    });
    const entry = { name: component, binary, process: proc, logFile };
    components.push(entry);
    state.processes.push({ component, pid: proc.pid ?? -1, binary });
    writeState(state);
    debug('started %s (pid %d): %s %s', component, proc.pid, binary, args.join(' '));
    return entry;
  };

  let stopping = false;
  let stopPromise: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopPromise ??= (async () => {
      stopping = true;
      state.status = 'stopping';
      writeState(state);
      const errors: unknown[] = [];
      try {
        await mesh?.stop();
      } catch (err) {
        errors.push(err);
      }
      const byName = (n: string) => components.filter((c) => c.name === n);
      // Clients first, then the API server, then its storage: nothing logs errors about a missing peer for long.
      const waves = [
        ['flagger', 'kwok', 'kube-scheduler', 'kube-controller-manager', 'prometheus'],
        ['kube-apiserver'],
        ['etcd'],
      ];
      for (const wave of waves) {
        await Promise.all(
          wave.flatMap(byName).map((c) => c.process.stop(3_000).catch((err: unknown) => errors.push(err))),
        );
      }
      await registry[Symbol.asyncDispose]();
      for (const dir of [p.etcdData, p.prometheusData]) rmSync(dir, { recursive: true, force: true });
      state.status = 'stopped';
      state.routers = [];
      writeState(state);
      if (errors.length > 0) debug('errors while stopping: %O', errors);
    })();
    return stopPromise;
  };

  try {
    // Credentials: a random bearer token in the system:masters group (cluster-admin under RBAC).
    const token = randomBytes(24).toString('hex');
    writeFileSync(p.tokens, `${token},canary-admin,canary-admin,system:masters\n`, { mode: 0o600 });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(p.serviceAccountKey, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });

    let t = performance.now();
    const etcd = start('etcd', tools.etcd, etcdArgs(p, ports, name));
    await waitUntil(
      'etcd /health',
      async () => (await httpGet(`http://127.0.0.1:${ports.etcdClient}/health`)).status === 200,
      {
        timeoutMs: remaining(30_000),
        signal,
        process: etcd.process,
        logFile: etcd.logFile,
      },
    );
    logger.info(`[cluster] etcd ready in ${elapsedS(t)}`);

    t = performance.now();
    const api = start('kube-apiserver', tools.kubeApiserver, apiServerArgs(p, ports));
    const auth = { Authorization: `Bearer ${token}` };
    await waitUntil(
      'kube-apiserver /readyz',
      async () => (await httpGet(`${apiServerUrl}/readyz`, { headers: auth })).body === 'ok',
      {
        timeoutMs: remaining(120_000),
        signal,
        process: api.process,
        logFile: api.logFile,
      },
    );
    logger.info(`[cluster] kube-apiserver ready in ${elapsedS(t)}`);
    const caPem = readFileSync(path.join(p.certs, 'apiserver.crt'), 'utf8');
    writeFileSync(p.kubeconfig, kubeconfigYaml(apiServerUrl, token, caPem, name), { mode: 0o600 });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(p.kubeconfig);

    t = performance.now();
    const kcm = start('kube-controller-manager', tools.kubeControllerManager, controllerManagerArgs(p, ports));
    const scheduler = start('kube-scheduler', tools.kubeScheduler, schedulerArgs(p, ports));
    const kwok = start('kwok', tools.kwok, kwokArgs(p, tools.kwokStages));
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await core.createNode({ body: fakeNode(FAKE_NODE) });
    const crdsDone = installCrds(kubeConfig, [tools.flaggerCrd, tools.istioCrds], {
      timeoutMs: remaining(60_000),
      signal,
    });
    writeFileSync(p.prometheusConfig, prometheusConfig(ports, options.scrapeIntervalS ?? 1));
    const prometheus = start('prometheus', tools.prometheus, prometheusArgs(p, ports));
    await Promise.all([
      waitUntil(
        'kube-controller-manager /healthz',
        async () => (await httpGet(`https://127.0.0.1:${ports.controllerManager}/healthz`)).status === 200,
        {
          timeoutMs: remaining(60_000),
          signal,
          process: kcm.process,
          logFile: kcm.logFile,
        },
      ),
      waitUntil(
        'kube-scheduler /healthz',
        async () => (await httpGet(`https://127.0.0.1:${ports.scheduler}/healthz`)).status === 200,
        {
          timeoutMs: remaining(60_000),
          signal,
          process: scheduler.process,
          logFile: scheduler.logFile,
        },
      ),
      waitUntil(`kwok: node ${FAKE_NODE} Ready`, async () => nodeReady(core, FAKE_NODE), {
        timeoutMs: remaining(60_000),
        signal,
        process: kwok.process,
        logFile: kwok.logFile,
        everyMs: 250,
      }),
      waitUntil('prometheus /-/ready', async () => (await httpGet(`${prometheusUrl}/-/ready`)).status === 200, {
        timeoutMs: remaining(60_000),
        signal,
        process: prometheus.process,
        logFile: prometheus.logFile,
      }),
      crdsDone,
    ]);
    logger.info(
      `[cluster] controller-manager, scheduler, kwok (node ${FAKE_NODE} Ready), Prometheus and CRDs ready in ${elapsedS(t)}`,
    );

    t = performance.now();
    const bundle = await buildApp(p.appBundle);
    mesh = new MeshEmulator({
      kubeConfig,
      registry,
      bundlePath: bundle,
      metricsPort: ports.meshMetrics,
      env,
      onRoutersChanged: (routers) => {
        state.routers = routers.map((r): RecordedRouter => ({ namespace: r.namespace, apex: r.apex, url: r.url }));
        if (!stopping) writeState(state);
      },
    });
    await mesh.start();
    state.meshMetricsUrl = mesh.metricsUrl;
    logger.info(`[cluster] mesh emulator serving metrics at ${mesh.metricsUrl} (${elapsedS(t)})`);

    if (options.flagger ?? true) {
      t = performance.now();
      const flagger = start('flagger', tools.flagger, flaggerArgs(p, ports));
      await waitUntil(
        'flagger /healthz',
        async () => (await httpGet(`http://127.0.0.1:${ports.flagger}/healthz`)).status === 200,
        {
          timeoutMs: remaining(60_000),
          signal,
          process: flagger.process,
          logFile: flagger.logFile,
        },
      );
      logger.info(`[cluster] flagger ready in ${elapsedS(t)}`);
    }

    const memory = () => {
      const byComponent: Record<string, number> = {};
      for (const c of components)
        if (!c.process.hasExited && c.process.pid) byComponent[c.name] = rssBytes(c.process.pid);
      byComponent['apps (faulty-app)'] = registry.pids
        .filter((pid) => !components.some((c) => c.process.pid === pid))
        .reduce((sum, pid) => sum + rssBytes(pid), 0);
      byComponent['owner process (mesh emulator)'] = rssBytes(process.pid);
      return { components: byComponent, totalBytes: Object.values(byComponent).reduce((a, b) => a + b, 0) };
    };
    const startupMs = performance.now() - t0;
    state.status = 'ready';
    state.startupMs = Math.round(startupMs);
    state.memoryBytes = memory().totalBytes;
    writeState(state);
    const startedMesh = mesh;
    return {
      name,
      stateDir,
      kubeconfigPath: p.kubeconfig,
      kubeConfig,
      apiServerUrl,
      prometheusUrl,
      mesh: startedMesh,
      ports,
      startupMs,
      logsDir: p.logs,
      get pids() {
        return components.map((c) => c.process.pid).filter((pid): pid is number => pid !== undefined);
      },
      memory,
      state: () => structuredClone(state),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    state.error = (err as Error)?.message ?? String(err);
    try {
      await stop();
    } catch (cleanupErr) {
      // Never let a cleanup problem hide why start-up failed.
      logger.warn(`[cluster] cleanup after a failed start: ${(cleanupErr as Error).message}`);
    }
    state.status = 'failed';
    writeState(state);
    throw err;
  }
}

async function nodeReady(core: CoreV1Api, name: string): Promise<boolean> {
  try {
    const node = await core.readNode({ name });
    return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  } catch {
    return false;
  }
}

/** Creates the CRDs of the given multi-document YAML files and waits until each is Established. */
export async function installCrds(
  kubeConfig: KubeConfig,
  files: string[],
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  const crdPath = (name?: string) =>
    resourcePath('apiextensions.k8s.io/v1', 'customresourcedefinitions', undefined, name);
  const crds: V1CustomResourceDefinition[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const body = doc.toJS() as V1CustomResourceDefinition | null;
      if (body?.kind === 'CustomResourceDefinition') crds.push(body);
    }
  }
  await Promise.all(crds.map((body) => kubeRequest(kubeConfig, { method: 'POST', path: crdPath(), body })));
  await Promise.all(
    crds.map((crd) =>
      waitUntil(
        `CRD ${crd.metadata?.name} Established`,
        async () => {
          const current = await kubeRequest<V1CustomResourceDefinition>(kubeConfig, {
            method: 'GET',
            path: crdPath(crd.metadata!.name!),
          });
          return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
        },
        { timeoutMs: options.timeoutMs, signal: options.signal, everyMs: 250 },
      ),
    ),
  );
}

export type { ClusterPaths, ClusterPorts, ToolPaths };
