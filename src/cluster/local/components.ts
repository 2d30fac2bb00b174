import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { LOADTESTER_NAMESPACE } from '../../kube/cluster-state.ts';
import { pkiPaths } from './credentials.ts';

/**
 * Command lines and configuration files of the local control plane, as pure functions of the
 * state dir and ports (the flags that work are the ones scripts/tools/smoke-control-plane.sh
 * checks). Everything listens on 127.0.0.1. etcd and kube-apiserver serve TLS with certificates
 * of the cluster's own CA, and etcd takes only clients with a certificate from it. The HTTP
 * servers of Flagger and flagger-loadtester bind every interface (their `-port` takes only a port:
 * fluxcd/flagger pkg/server and pkg/loadtester/server.go, Addr ":" + port), so each runs in a
 * network namespace of its own (see netns-bridge.ts).
 */

export interface ClusterPorts {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
  controllerManager: number;
  scheduler: number;
  prometheus: number;
  flagger: number;
  meshMetrics: number;
  /** The service proxy (service-proxy.ts): the cluster DNS for Flagger's webhooks and the smoke test. */
  serviceProxy: number;
  flaggerLoadtester: number;
}

export const PORT_NAMES = [
  'etcdClient',
  'etcdPeer',
  'apiServer',
  'controllerManager',
  'scheduler',
  'prometheus',
  'flagger',
  'meshMetrics',
  'serviceProxy',
  'flaggerLoadtester',
] as const satisfies ReadonlyArray<keyof ClusterPorts>;

/** Where everything of one cluster lives inside its state dir. */
export function clusterPaths(stateDir: string) {
  return {
    stateDir,
    logs: path.join(stateDir, 'logs'),
    etcdData: path.join(stateDir, 'etcd'),
    certs: path.join(stateDir, 'certs'),
    pki: pkiPaths(path.join(stateDir, 'certs')),
    /** Socket files between the host and Flagger's network namespace. */
    sockets: path.join(stateDir, 'sockets'),
    tokens: path.join(stateDir, 'tokens.csv'),
    serviceAccountKey: path.join(stateDir, 'sa.key'),
    kubeconfig: path.join(stateDir, 'kubeconfig'),
    prometheusConfig: path.join(stateDir, 'prometheus.yml'),
    prometheusData: path.join(stateDir, 'prometheus-data'),
    appBundle: path.join(stateDir, 'faulty-app.mjs'),
  };
}
export type ClusterPaths = ReturnType<typeof clusterPaths>;

/** Every name the cluster writes directly in its state dir (cluster.json included). */
export const STATE_DIR_NAMES: ReadonlySet<string> = new Set([
  'cluster.json',
  ...Object.values(clusterPaths('/'))
    .filter((v): v is string => typeof v === 'string' && v !== '/')
    .map((v) => path.basename(v)),
]);

const LOOPBACK = '127.0.0.1';

export function etcdArgs(p: ClusterPaths, ports: ClusterPorts, name: string): string[] {
  return [
    `--name=${name}`,
    `--data-dir=${p.etcdData}`,
    `--listen-client-urls=https://${LOOPBACK}:${ports.etcdClient}`,
    `--advertise-client-urls=https://${LOOPBACK}:${ports.etcdClient}`,
    `--listen-peer-urls=https://${LOOPBACK}:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=https://${LOOPBACK}:${ports.etcdPeer}`,
    `--initial-cluster=${name}=https://${LOOPBACK}:${ports.etcdPeer}`,
    // Any local process could otherwise read and write every object, tokens of ServiceAccounts included.
    `--cert-file=${p.pki.etcd.cert}`,
    `--key-file=${p.pki.etcd.key}`,
    '--client-cert-auth=true',
    `--trusted-ca-file=${p.pki.ca.cert}`,
    `--peer-cert-file=${p.pki.etcd.cert}`,
    `--peer-key-file=${p.pki.etcd.key}`,
    '--peer-client-cert-auth=true',
    `--peer-trusted-ca-file=${p.pki.ca.cert}`,
    // A throwaway test cluster: losing it on a power cut is fine, fsync latency is not.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

export function apiServerArgs(p: ClusterPaths, ports: ClusterPorts): string[] {
  return [
    `--etcd-servers=https://${LOOPBACK}:${ports.etcdClient}`,
    `--etcd-cafile=${p.pki.ca.cert}`,
    `--etcd-certfile=${p.pki.etcdClient.cert}`,
    `--etcd-keyfile=${p.pki.etcdClient.key}`,
    `--bind-address=${LOOPBACK}`,
    `--advertise-address=${LOOPBACK}`,
    `--secure-port=${ports.apiServer}`,
    // With a loopback advertise address the endpoint reconciler fails every few seconds.
    '--endpoint-reconciler-type=none',
    // Signed by the cluster's CA, so a client can tell this apiserver from whatever else took the port.
    `--tls-cert-file=${p.pki.apiServer.cert}`,
    `--tls-private-key-file=${p.pki.apiServer.key}`,
    `--token-auth-file=${p.tokens}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${p.serviceAccountKey}`,
    `--service-account-signing-key-file=${p.serviceAccountKey}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    '--allow-privileged=true',
    '--profiling=false',
  ];
}

export function controllerManagerArgs(p: ClusterPaths, ports: ClusterPorts): string[] {
  return [
    `--kubeconfig=${p.kubeconfig}`,
    `--authentication-kubeconfig=${p.kubeconfig}`,
    `--authorization-kubeconfig=${p.kubeconfig}`,
    `--bind-address=${LOOPBACK}`,
    `--secure-port=${ports.controllerManager}`,
    '--leader-elect=false',
    `--service-account-private-key-file=${p.serviceAccountKey}`,
    `--root-ca-file=${p.pki.ca.cert}`,
    '--profiling=false',
  ];
}

export function schedulerArgs(p: ClusterPaths, ports: ClusterPorts): string[] {
  return [
    `--kubeconfig=${p.kubeconfig}`,
    `--authentication-kubeconfig=${p.kubeconfig}`,
    `--authorization-kubeconfig=${p.kubeconfig}`,
    `--bind-address=${LOOPBACK}`,
    `--secure-port=${ports.scheduler}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}

/** The project's own kwok stage: faulty-app pods start Running but not Ready (see the file). */
export const KWOK_APP_POD_STAGE = fileURLToPath(new URL('./kwok-app-pods.yaml', import.meta.url));

/**
 * kwok manages every Node (there is one, made by startLocalCluster) and plays the kubelet: pods
 * scheduled there become Running and Ready at once, deleted ones go away; faulty-app pods become
 * Running and wait for the mesh emulator to mark them Ready. No --server-address and no
 * --node-port, so it opens no port.
 */
export function kwokArgs(p: ClusterPaths, stagesFile: string): string[] {
  return [
    `--kubeconfig=${p.kubeconfig}`,
    `--config=${stagesFile}`,
    `--config=${KWOK_APP_POD_STAGE}`,
    '--manage-all-nodes=true',
    `--node-ip=${LOOPBACK}`,
    '--cidr=10.244.0.0/16',
  ];
}

export function prometheusArgs(p: ClusterPaths, ports: ClusterPorts): string[] {
  return [
    `--config.file=${p.prometheusConfig}`,
    `--storage.tsdb.path=${p.prometheusData}`,
    '--storage.tsdb.retention.time=2h',
    `--web.listen-address=${LOOPBACK}:${ports.prometheus}`,
    '--log.level=warn',
  ];
}

/** Scrapes the mesh emulator like Istio's Prometheus scrapes the Envoy sidecars, every second. */
export function prometheusConfig(ports: ClusterPorts, scrapeIntervalS = 1): string {
  return stringify({
    global: {
      scrape_interval: `${scrapeIntervalS}s`,
      scrape_timeout: `${scrapeIntervalS}s`,
      evaluation_interval: `${scrapeIntervalS}s`,
    },
    scrape_configs: [
      {
        job_name: 'mesh-emulator',
        metrics_path: '/stats/prometheus',
        static_configs: [{ targets: [`${LOOPBACK}:${ports.meshMetrics}`] }],
      },
    ],
  });
}

/** The script that runs Flagger or flagger-loadtester inside a network namespace of its own. */
export const NETNS_BRIDGE = fileURLToPath(new URL('./netns-bridge.ts', import.meta.url));
/** The bridge's first stdout line: `bridged pid <n>`, the pid of the program it runs. */
export const BRIDGED_PID_LINE = 'bridged pid ';

/** What netns-bridge.ts gets as its one argument (JSON). */
export interface BridgeConfig {
  /** Ports of the host's loopback that the program reaches, each through a socket file the owner serves. */
  toHost: Array<{ port: number; socket: string }>;
  /** Socket files through which the host reaches a port inside the namespace. */
  fromHost: Array<{ socket: string; port: number }>;
  /** The program's command line (already wrapped with the parent-death signal). */
  command: string[];
}

/** The socket files of the bridges, inside the owner-only state dir. */
export function bridgeSockets(p: ClusterPaths) {
  return {
    apiServer: path.join(p.sockets, 'apiserver.sock'),
    prometheus: path.join(p.sockets, 'prometheus.sock'),
    serviceProxy: path.join(p.sockets, 'service-proxy.sock'),
    flagger: path.join(p.sockets, 'flagger.sock'),
    flaggerLoadtester: path.join(p.sockets, 'flagger-loadtester.sock'),
  };
}

/**
 * What each bridged program reaches on the host and serves to it: Flagger the apiserver,
 * Prometheus and the service proxy (its webhooks); flagger-loadtester the service proxy only (the
 * smoke test's curl).
 */
export function bridgeConfig(
  p: ClusterPaths,
  ports: ClusterPorts,
  program: 'flagger' | 'flaggerLoadtester',
  command: string[],
): BridgeConfig {
  const sockets = bridgeSockets(p);
  const proxy = { port: ports.serviceProxy, socket: sockets.serviceProxy };
  return {
    toHost:
      program === 'flagger'
        ? [
            { port: ports.apiServer, socket: sockets.apiServer },
            { port: ports.prometheus, socket: sockets.prometheus },
            proxy,
          ]
        : [proxy],
    fromHost: [{ socket: sockets[program], port: ports[program] }],
    command,
  };
}

/**
 * flagger-loadtester's Service, as the kind provider installs it (scripts/kind: the loadtester
 * chart in the experiments' namespace): the Canary's smoke-test webhook is
 * `http://flagger-loadtester.<namespace>/`, so the charts get this namespace as
 * `smokeTest.loadtesterNamespace`.
 */
export const LOADTESTER = { namespace: LOADTESTER_NAMESPACE, service: 'flagger-loadtester' } as const;

/**
 * The loadtester's flags. `-timeout` bounds a command it runs (its default is an hour): the
 * smoke test's curl has no timeout of its own, and Flagger gives up on the webhook after 30 s.
 */
export function loadtesterArgs(ports: ClusterPorts): string[] {
  return [`-port=${ports.flaggerLoadtester}`, '-log-level=info', '-timeout=1m'];
}

/**
 * http_proxy for the programs that call Services by name: curl reads the lower-case names only,
 * Go's net/http either. Loopback addresses (the apiserver, Prometheus) never go through it.
 */
export function serviceProxyEnv(proxyUrl: string): Record<string, string> {
  return {
    http_proxy: proxyUrl,
    HTTP_PROXY: proxyUrl,
    no_proxy: '127.0.0.1,localhost',
    NO_PROXY: '127.0.0.1,localhost',
  };
}

/** The loadtester's namespace and Service (no selector: its one endpoint is the process the cluster runs). */
export function loadtesterObjects(ports: ClusterPorts) {
  const labels = { 'app.kubernetes.io/name': LOADTESTER.service };
  return {
    namespace: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LOADTESTER.namespace } },
    service: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: LOADTESTER.service, namespace: LOADTESTER.namespace, labels },
      spec: { ports: [{ name: 'http', port: 80, targetPort: ports.flaggerLoadtester }] },
    },
  };
}

export function flaggerArgs(p: ClusterPaths, ports: ClusterPorts): string[] {
  return [
    `-kubeconfig=${p.kubeconfig}`,
    '-mesh-provider=istio',
    `-metrics-server=http://${LOOPBACK}:${ports.prometheus}`,
    '-log-level=info',
    `-port=${ports.flagger}`,
  ];
}

/** A kubeconfig with the generated bearer token and the cluster's CA. */
export function kubeconfigYaml(server: string, token: string, caPem: string, name: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: `${name}-admin`, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin` } }],
    'current-context': name,
  });
}

/** The fake node kwok manages (no taints: every pod may land there). */
export function fakeNode(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
      },
    },
    spec: {},
  };
}
