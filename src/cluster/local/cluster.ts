import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoreV1Api, KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import createDebug from 'debug';
import { parseAllDocuments } from 'yaml';
import { buildApp } from '../../../faulty-app/build.ts';
import { PlatformError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../common/logger.ts';
import { MeshEmulator } from './mesh-emulator.ts';
import { PidFile } from '../../process/pid-file.ts';
import { dieWithParent, ProcessRegistry, type ManagedProcess } from '../../process/registry.ts';
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
  bridgeConfig,
  bridgeSockets,
  clusterPaths,
  controllerManagerArgs,
  etcdArgs,
  fakeNode,
  BRIDGED_PID_LINE,
  flaggerArgs,
  kubeconfigYaml,
  kwokArgs,
  LOADTESTER,
  loadtesterArgs,
  loadtesterObjects,
  NETNS_BRIDGE,
  PORT_NAMES,
  prometheusArgs,
  prometheusConfig,
  schedulerArgs,
  serviceProxyEnv,
  STATE_DIR_NAMES,
  type ClusterPaths,
  type ClusterPorts,
} from './components.ts';
import { createClusterPki, ensurePrivateDir, prepareStateDir, writePrivateFile } from './credentials.ts';
import { apiServerReady, httpGet, waitUntil } from './probe.ts';
import { namesService, startServiceProxy, type ProxyTarget, type ServiceProxy } from './service-proxy.ts';
import { forward, type Forward } from './socket-forward.ts';
import { clusterProcessesDir, stopLocalClusterFromState } from './stop.ts';

const debug = createDebug('canary-mttr:cluster');

export const FAKE_NODE = 'kwok-node-0';

/**
 * unshare's options for a new network namespace: plain as root; as another user inside a user
 * namespace of its own, where it may set up its loopback. Undefined when this machine allows
 * neither (no unshare or ip, or user namespaces disabled): checked by doing just that once.
 */
export function networkNamespaceOptions(): string[] | undefined {
  const options = process.getuid?.() === 0 ? ['--net'] : ['--user', '--map-root-user', '--net'];
  const probe = spawnSync('unshare', [...options, '--', 'ip', 'link', 'set', 'lo', 'up'], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  return probe.status === 0 ? options : undefined;
}

/** node --import <tsx> <script>: the bridge is TypeScript and runs from any working directory. */
function tsxCommand(script: string): string[] {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', loader, script];
}

export interface LocalClusterOptions {
  stateDir: string;
  /** Process label (CANARY_MTTR_EXPERIMENT); derived from the state dir when absent. */
  name?: string;
  /** 'supervisor' when a detached process owns it (cluster:up), 'embedded' for tests and fidelity runs. */
  ownerKind?: 'supervisor' | 'embedded';
  /** Start Flagger and flagger-loadtester (default true). */
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
 * Starts a local control plane without containers (docs/design.md §8): etcd (TLS, client certificates),
 * kube-apiserver (bearer token, RBAC, a serving certificate of the cluster's own CA),
 * kube-controller-manager, kube-scheduler, kwok with one fake node, the Flagger and Istio CRDs,
 * Prometheus scraping the mesh emulator, the mesh emulator itself (in this process) and Flagger (in
 * a network namespace of its own where the machine allows one). Writes `<stateDir>/kubeconfig` and
 * `<stateDir>/cluster.json`; the state dir and every credential in it are owner-only. On any
 * failure everything started so far is stopped before the error is rethrown.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<StartedLocalCluster> {
  const t0 = performance.now();
  const logger = options.logger ?? silentLogger;
  const stateDir = path.resolve(options.stateDir);
  const name = options.name ?? clusterNameFor(stateDir);
  const tools = resolveTools(options.env);
  prepareStateDir(stateDir, STATE_DIR_NAMES);
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
  for (const dir of [p.etcdData, p.certs, p.sockets, p.prometheusData]) rmSync(dir, { recursive: true, force: true });
  for (const dir of [p.logs, p.certs, p.sockets, p.etcdData, p.prometheusData]) ensurePrivateDir(dir);

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

  /**
   * `recordedBinary`: what the process runs in the end when `binary` execs another program;
   * `extraEnv`: variables of this component only.
   */
  const start = (
    component: string,
    binary: string,
    args: string[],
    recordedBinary = binary,
    extraEnv: Record<string, string> = {},
  ): Component => {
    const logFile = path.join(p.logs, `${component}.log`);
    const proc = registry.spawn(binary, args, { env: { ...env, ...extraEnv }, label: component });
    const log = createWriteStream(logFile, { flags: 'w' });
    proc.child.stdout?.pipe(log, { end: false });
    proc.child.stderr?.pipe(log, { end: false });
    void proc.exited.then((exit) => {
      log.end();
      if (!stopping) logger.warn(`[cluster] ${component} exited (code ${exit.code ?? exit.signal}); see ${logFile}`);
    });
    const entry = { name: component, binary, process: proc, logFile };
    components.push(entry);
    state.processes.push({ component, pid: proc.pid ?? -1, binary: recordedBinary });
    writeState(state);
    debug('started %s (pid %d): %s %s', component, proc.pid, binary, args.join(' '));
    return entry;
  };

  let stopping = false;
  let stopPromise: Promise<void> | undefined;
  /** The owner's ends of the socket files to the network namespaces of Flagger and the loadtester. */
  const hostForwards: Forward[] = [];
  /** The pids of Flagger and the loadtester when they run under the netns bridge, by component. */
  const bridgedPids = new Map<string, number>();
  let serviceProxy: ServiceProxy | undefined;
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
        ['flagger', 'flagger-loadtester', 'kwok', 'kube-scheduler', 'kube-controller-manager', 'prometheus'],
        ['kube-apiserver'],
        ['etcd'],
      ];
      for (const wave of waves) {
        await Promise.all(
          wave.flatMap(byName).map((c) => c.process.stop(3_000).catch((err: unknown) => errors.push(err))),
        );
      }
      await registry[Symbol.asyncDispose]();
      await Promise.all(hostForwards.map((f) => f.close()));
      await serviceProxy?.close();
      for (const dir of [p.etcdData, p.sockets, p.prometheusData]) rmSync(dir, { recursive: true, force: true });
      state.status = 'stopped';
      state.routers = [];
      delete state.loadtesterNamespace;
      writeState(state);
      if (errors.length > 0) debug('errors while stopping: %O', errors);
    })();
    return stopPromise;
  };

  try {
    // Credentials: a random bearer token in the system:masters group (cluster-admin under RBAC).
    const token = randomBytes(24).toString('hex');
    writePrivateFile(p.tokens, `${token},canary-admin,canary-admin,system:masters\n`);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writePrivateFile(p.serviceAccountKey, privateKey.export({ type: 'pkcs1', format: 'pem' }));
    let t = performance.now();
    const pki = await createClusterPki(p.certs, name);
    const caPem = readFileSync(pki.ca.cert, 'utf8');
    logger.info(`[cluster] certificates made in ${elapsedS(t)}`);

    t = performance.now();
    const etcd = start('etcd', tools.etcd, etcdArgs(p, ports, name));
    const etcdClient = {
      ca: caPem,
      cert: readFileSync(pki.etcdClient.cert, 'utf8'),
      key: readFileSync(pki.etcdClient.key, 'utf8'),
    };
    await waitUntil(
      'etcd /health',
      async () => (await httpGet(`https://127.0.0.1:${ports.etcdClient}/health`, etcdClient)).status === 200,
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
    await waitUntil('kube-apiserver /readyz', () => apiServerReady(apiServerUrl, token, caPem), {
      timeoutMs: remaining(120_000),
      signal,
      process: api.process,
      logFile: api.logFile,
    });
    logger.info(`[cluster] kube-apiserver ready in ${elapsedS(t)}`);
    writePrivateFile(p.kubeconfig, kubeconfigYaml(apiServerUrl, token, caPem, name));
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
      const netns = networkNamespaceOptions();
      if (!netns) {
        logger.warn(
          `[cluster] unshare --net failed (no network namespace for this user here): the ports of Flagger (${ports.flagger}) and flagger-loadtester (${ports.flaggerLoadtester}) listen on every interface; ` +
            'run as root or allow user namespaces to keep them off the network',
        );
      }
      const sockets = bridgeSockets(p);
      // The smoke test's loadtester, as Flagger's webhook names it: http://flagger-loadtester.<ns>/.
      const loadtesterTarget: ProxyTarget = netns
        ? { socket: sockets.flaggerLoadtester }
        : { host: '127.0.0.1', port: ports.flaggerLoadtester };
      const emulator = mesh;
      serviceProxy = await startServiceProxy({
        port: ports.serviceProxy,
        resolve: (host) =>
          namesService(host, LOADTESTER.service, LOADTESTER.namespace)
            ? loadtesterTarget
            : emulator.serviceTarget(host),
      });
      const { namespace: loadtesterNs, service: loadtesterService } = loadtesterObjects(ports);
      await kubeRequest(kubeConfig, { method: 'POST', path: '/api/v1/namespaces', body: loadtesterNs });
      await kubeRequest(kubeConfig, {
        method: 'POST',
        path: resourcePath('v1', 'services', LOADTESTER.namespace),
        body: loadtesterService,
      });
      if (netns) {
        // The host's ends of what the two namespaces reach (bridgeConfig says which reaches what).
        for (const to of ['serviceProxy', 'apiServer', 'prometheus'] as const)
          hostForwards.push(await forward({ socket: sockets[to] }, { port: ports[to] }));
      }
      const proxyEnv = serviceProxyEnv(serviceProxy.url);

      /**
       * Starts Flagger or the loadtester: in a network namespace of its own under the netns bridge
       * where the machine allows one (its port is then reached through its socket file), else
       * as a plain child. Resolves once its /healthz answers.
       */
      const startProgram = async (
        component: 'flagger' | 'flagger-loadtester',
        program: 'flagger' | 'flaggerLoadtester',
        binary: string,
        args: string[],
      ): Promise<void> => {
        let started: Component;
        let health: () => Promise<boolean>;
        if (netns) {
          const config = bridgeConfig(p, ports, program, dieWithParent([binary, ...args]));
          const [node, ...nodeArgs] = tsxCommand(NETNS_BRIDGE);
          started = start(
            component,
            'unshare',
            [...netns, '--', node!, ...nodeArgs, JSON.stringify(config)],
            node,
            proxyEnv,
          );
          started.process.child.stdout?.once('data', (chunk: Buffer) => {
            const line = chunk.toString('utf8').split('\n')[0] ?? '';
            if (!line.startsWith(BRIDGED_PID_LINE)) return;
            const pid = Number(line.slice(BRIDGED_PID_LINE.length));
            bridgedPids.set(component, pid);
            state.processes.push({ component: `${component}-process`, pid, binary });
            writeState(state);
          });
          health = async () =>
            (await httpGet('http://localhost/healthz', { socketPath: sockets[program] })).status === 200;
        } else {
          started = start(component, binary, args, binary, proxyEnv);
          health = async () => (await httpGet(`http://127.0.0.1:${ports[program]}/healthz`)).status === 200;
        }
        await waitUntil(`${component} /healthz`, health, {
          timeoutMs: remaining(60_000),
          signal,
          process: started.process,
          logFile: started.logFile,
        });
      };
      await Promise.all([
        startProgram('flagger', 'flagger', tools.flagger, flaggerArgs(p, ports)),
        startProgram('flagger-loadtester', 'flaggerLoadtester', tools.flaggerLoadtester, loadtesterArgs(ports)),
      ]);
      state.loadtesterNamespace = LOADTESTER.namespace;
      writeState(state);
      logger.info(
        `[cluster] flagger and flagger-loadtester (Service ${LOADTESTER.service}.${LOADTESTER.namespace}) ready in ${elapsedS(t)}${netns ? ' (each in a network namespace of its own)' : ''}`,
      );
    }

    const memory = () => {
      const byComponent: Record<string, number> = {};
      for (const c of components)
        if (!c.process.hasExited && c.process.pid) byComponent[c.name] = rssBytes(c.process.pid);
      for (const [component, pid] of bridgedPids) {
        if (byComponent[component] === undefined) continue;
        byComponent[`${component} netns bridge`] = byComponent[component];
        byComponent[component] = rssBytes(pid);
      }
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
        return [...components.map((c) => c.process.pid), ...bridgedPids.values()].filter(
          (pid): pid is number => pid !== undefined,
        );
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
