import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/**
 * Command lines and configuration files of the local control plane, as pure functions of the
 * state dir and ports (the flags that work are the ones scripts/tools/smoke-control-plane.sh
 * checks). Everything listens on 127.0.0.1, except Flagger's own HTTP server: its `-port` flag
 * takes only a port and it binds every interface (fluxcd/flagger pkg/server: Addr ":" + port).
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
] as const satisfies ReadonlyArray<keyof ClusterPorts>;

/** Where everything of one cluster lives inside its state dir. */
export function clusterPaths(stateDir: string) {
  return {
    stateDir,
    logs: path.join(stateDir, 'logs'),
    etcdData: path.join(stateDir, 'etcd'),
    certs: path.join(stateDir, 'certs'),
    tokens: path.join(stateDir, 'tokens.csv'),
    serviceAccountKey: path.join(stateDir, 'sa.key'),
    kubeconfig: path.join(stateDir, 'kubeconfig'),
    prometheusConfig: path.join(stateDir, 'prometheus.yml'),
    prometheusData: path.join(stateDir, 'prometheus-data'),
    appBundle: path.join(stateDir, 'faulty-app.mjs'),
  };
}
export type ClusterPaths = ReturnType<typeof clusterPaths>;

const LOOPBACK = '127.0.0.1';

export function etcdArgs(p: ClusterPaths, ports: ClusterPorts, name: string): string[] {
  return [
    `--name=${name}`,
    `--data-dir=${p.etcdData}`,
    `--listen-client-urls=http://${LOOPBACK}:${ports.etcdClient}`,
    `--advertise-client-urls=http://${LOOPBACK}:${ports.etcdClient}`,
    `--listen-peer-urls=http://${LOOPBACK}:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://${LOOPBACK}:${ports.etcdPeer}`,
    `--initial-cluster=${name}=http://${LOOPBACK}:${ports.etcdPeer}`,
    // A throwaway test cluster: losing it on a power cut is fine, fsync latency is not.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

export function apiServerArgs(p: ClusterPaths, ports: ClusterPorts): string[] {
  return [
    `--etcd-servers=http://${LOOPBACK}:${ports.etcdClient}`,
    `--bind-address=${LOOPBACK}`,
    `--advertise-address=${LOOPBACK}`,
    `--secure-port=${ports.apiServer}`,
    // With a loopback advertise address the endpoint reconciler fails every few seconds.
    '--endpoint-reconciler-type=none',
    `--cert-dir=${p.certs}`,
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
    `--root-ca-file=${path.join(p.certs, 'apiserver.crt')}`,
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

export function flaggerArgs(p: ClusterPaths, ports: ClusterPorts): string[] {
  return [
    `-kubeconfig=${p.kubeconfig}`,
    '-mesh-provider=istio',
    `-metrics-server=http://${LOOPBACK}:${ports.prometheus}`,
    '-log-level=info',
    `-port=${ports.flagger}`,
  ];
}

/** A kubeconfig with the generated bearer token and the apiserver's self-signed CA. */
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
