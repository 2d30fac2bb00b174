/**
 * The local control plane with the real Flagger (docs/design.md §8, issue 4): a Canary is initialised,
 * the faulty-500 release is detected and rolled back, a healthy release is promoted, all asserted
 * from the API; and the mesh emulator's metrics give Prometheus the success rate the clients saw.
 * Its credentials (issue 14): an owner-only state dir, etcd on loopback behind client certificates,
 * an admin token sent to nothing but our apiserver, Flagger's port in a network namespace.
 * Runs under vitest.cluster.config.ts (npm run test:cluster) and needs npm run tools:install.
 */
import { chmodSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScaledClock } from '../../common/clock.ts';
import { BuiltinLoadGenerator } from '../../load/builtin-generator.ts';
import type { RequestRecord } from '../../load/types.ts';
import type { BuildSpec } from '../../platform/local/app-process.ts';
import { flaggerSchema } from '../../scenario/schema.ts';
import { CanaryObserver } from '../../kube/canary-observer.ts';
import { kubeRequest, resourcePath } from '../../kube/kube-rest.ts';
import { cmdlineOf, listeningPorts, listeningSockets, socketInodesOf } from '../../process/procfs.ts';
import {
  canaryManifest,
  createNamespace,
  faultyAppDeployment,
  paths,
  releasePatch,
  virtualServiceWeights,
} from '../workload-manifests.ts';
import { startLocalCluster, type StartedLocalCluster } from './cluster.ts';
import { bridgeSockets, clusterPaths } from './components.ts';
import { createClusterPki } from './credentials.ts';
import { apiServerReady, httpGet } from './probe.ts';
import { IN_CLUSTER_TIER, leftovers, randomName, requireTools } from './cluster-test-support.ts';

const clock = new ScaledClock(1);
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const v1: BuildSpec = { version: 'v1', fault: 'none', errorRate: 0, latencyMs: 0, onsetS: 0 };
const faulty500: BuildSpec = { version: 'v2', fault: 'http500', errorRate: 1, latencyMs: 0, onsetS: 0 };
const healthyV3: BuildSpec = { version: 'v3', fault: 'none', errorRate: 0, latencyMs: 0, onsetS: 0 };

describe.skipIf(!IN_CLUSTER_TIER)('local control plane with the real Flagger (run by npm run test:cluster)', () => {
  let stateDir: string;
  /** Certificates of another CA, as a process that took one of the cluster's ports could hold. */
  let otherCertsDir: string;
  let cluster: StartedLocalCluster | undefined;
  const read = (file: string) => readFileSync(file, 'utf8');
  const modeOf = (file: string) => statSync(file).mode & 0o777;

  beforeAll(async () => {
    requireTools();
    stateDir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-cluster-'));
    otherCertsDir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-other-ca-'));
    // As an earlier version (or a user's umask) could have left them: a world-readable state dir
    // and credentials. Start-up must tighten them, not only make new files with tight modes.
    chmodSync(stateDir, 0o755);
    for (const file of [clusterPaths(stateDir).tokens, clusterPaths(stateDir).kubeconfig]) {
      writeFileSync(file, 'left by an earlier run\n');
      chmodSync(file, 0o644);
    }
    cluster = await startLocalCluster({ stateDir, timeoutMs: 150_000 });
    const memory = cluster.memory();
    console.log(
      `[cluster] started in ${s(cluster.startupMs)}; resident memory ${(memory.totalBytes / 1024 ** 2).toFixed(0)} MB: ` +
        Object.entries(memory.components)
          .map(([name, bytes]) => `${name} ${(bytes / 1024 ** 2).toFixed(0)}`)
          .join(', '),
    );
  });

  afterAll(async () => {
    if (!cluster) return;
    const name = cluster.name;
    try {
      await cluster.stop();
      const left = leftovers(stateDir, name, requireTools());
      expect(left).toEqual({ processes: [], ports: [] });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(otherCertsDir, { recursive: true, force: true });
    }
  });

  it('the state dir and its certs and sockets folders are 0700, every key, token and kubeconfig 0600', () => {
    const p = clusterPaths(stateDir);
    for (const dir of [stateDir, p.certs, p.sockets]) expect(modeOf(dir), dir).toBe(0o700);
    const secrets = [
      p.tokens,
      p.serviceAccountKey,
      p.kubeconfig,
      p.pki.ca.key,
      p.pki.apiServer.key,
      p.pki.etcd.key,
      p.pki.etcdClient.key,
    ];
    for (const file of secrets) expect(modeOf(file), file).toBe(0o600);
    expect(read(p.tokens)).toMatch(/^[0-9a-f]{48},canary-admin,canary-admin,system:masters\n$/);
  });

  it('etcd listens on 127.0.0.1 only and takes no client without a certificate of the cluster CA', async () => {
    const c = cluster!;
    const p = clusterPaths(stateDir);
    const ca = read(p.pki.ca.cert);
    const health = `https://127.0.0.1:${c.ports.etcdClient}/health`;
    expect(
      (await httpGet(health, { ca, cert: read(p.pki.etcdClient.cert), key: read(p.pki.etcdClient.key) })).status,
    ).toBe(200);
    expect(await httpGet(health, { ca })).toEqual({ status: 0, body: '' });
    const other = await createClusterPki(path.join(otherCertsDir, 'client'), 'other');
    expect(await httpGet(health, { ca, cert: read(other.etcdClient.cert), key: read(other.etcdClient.key) })).toEqual({
      status: 0,
      body: '',
    });
    // Every socket etcd listens on, found by its open file descriptors.
    const etcdPid = c.state().processes.find((proc) => proc.component === 'etcd')!.pid;
    const inodes = socketInodesOf(etcdPid);
    const listening = listeningSockets().filter((sock) => inodes.has(sock.inode));
    expect(listening.map((sock) => `${sock.address}:${sock.port}`).sort()).toEqual(
      [`127.0.0.1:${c.ports.etcdClient}`, `127.0.0.1:${c.ports.etcdPeer}`].sort(),
    );
  });

  it('the readiness probe sends the admin token to our apiserver only, not to another process on a freed port', async () => {
    const c = cluster!;
    const p = clusterPaths(stateDir);
    const token = read(p.tokens).split(',')[0]!;
    const ca = read(p.pki.ca.cert);
    expect(await apiServerReady(c.apiServerUrl, token, ca)).toBe(true);
    // Two impostors: TLS with a certificate for 127.0.0.1 from another CA, and a bare TCP listener.
    const other = await createClusterPki(path.join(otherCertsDir, 'impostor'), 'impostor');
    const received: string[] = [];
    const impostorTls = tls.createServer(
      { cert: read(other.apiServer.cert), key: read(other.apiServer.key) },
      (sock) => {
        sock.on('data', (d: Buffer) => received.push(d.toString('latin1'))).on('error', () => undefined);
      },
    );
    const impostorTcp = net.createServer((sock) =>
      sock.on('data', (d) => received.push(d.toString('latin1'))).on('error', () => undefined),
    );
    const listen = (server: net.Server) =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
      );
    try {
      expect(await apiServerReady(`https://127.0.0.1:${await listen(impostorTls)}`, token, ca)).toBe(false);
      expect(await apiServerReady(`https://127.0.0.1:${await listen(impostorTcp)}`, token, ca)).toBe(false);
      // The bare listener saw the TLS hello, so the probe did reach it; nobody saw the token.
      expect(received.length).toBeGreaterThan(0);
      expect(received.join('')).not.toContain(token);
    } finally {
      impostorTls.close();
      impostorTcp.close();
    }
  });

  it('Flagger runs in a network namespace of its own: its port, bound on every interface there, listens nowhere on the host', async () => {
    const c = cluster!;
    const tools = requireTools();
    const flagger = c.state().processes.find((proc) => proc.component === 'flagger-process');
    expect(flagger, 'Flagger recorded in cluster.json').toBeDefined();
    expect(cmdlineOf(flagger!.pid)?.[0]).toBe(tools.flagger);
    expect(readlinkSync(`/proc/${flagger!.pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
    // In its namespace: a listener on the wildcard address at its port, and no interface but lo.
    const inside = listeningSockets(flagger!.pid).filter((sock) => socketInodesOf(flagger!.pid).has(sock.inode));
    expect(inside.map((sock) => sock.port)).toContain(c.ports.flagger);
    const interfaces = read(`/proc/${flagger!.pid}/net/dev`)
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim())
      .filter(Boolean);
    expect(interfaces).toEqual(['lo']);
    expect(listeningPorts().has(c.ports.flagger)).toBe(false);
    // Reached from the host only through the owner-only socket file.
    expect(modeOf(bridgeSockets(clusterPaths(stateDir)).flagger)).toBe(0o600);
    expect(
      (await httpGet('http://localhost/healthz', { socketPath: bridgeSockets(clusterPaths(stateDir)).flagger })).status,
    ).toBe(200);
  });

  it.concurrent('the real Flagger rolls back the faulty-500 release (Failed, 100/0) and promotes a healthy one (Succeeded)', async () => {
    const c = cluster!;
    const kc = c.kubeConfig;
    const ns = randomName('flagger');
    const name = 'podinfo';
    const settings = flaggerSchema.parse({
      interval: '10s',
      threshold: 2,
      maxWeight: 50,
      stepWeight: 10,
      requestSuccessRate: { min: 99, interval: '1m' },
      requestDuration: { max: 500, interval: '1m' },
    });
    await createNamespace(kc, ns);
    await kubeRequest(kc, { method: 'POST', path: paths.deployment(ns), body: faultyAppDeployment(ns, name, v1) });
    await kubeRequest(kc, { method: 'POST', path: paths.canary(ns), body: canaryManifest(ns, name, settings) });
    await using observer = await new CanaryObserver({ kubeConfig: kc, namespace: ns, name, clock }).start();
    const created = clock.now();
    await observer.waitFor('phase Initialized', () => observer.firstStatus((st) => st.phase === 'Initialized'), {
      timeoutMs: 120_000,
    });
    console.log(`[flagger] Canary ${ns}/${name} initialised ${s(clock.now() - created)} after creation`);

    const url = await c.mesh.waitForRouter(ns, name, { timeoutMs: 30_000 });
    const records: RequestRecord[] = [];
    const load = new BuiltinLoadGenerator().start({
      url: `${url}/sms`,
      rateRps: 20,
      clock,
      timeoutMs: 5_000,
      maxInFlight: 500,
      onRecord: (r) => records.push(r),
    });
    try {
      await clock.sleep(5_000);
      expect(records.length).toBeGreaterThan(50);
      expect(records.every((r) => r.status === 200 && r.version === 'v1')).toBe(true);

      // Faulty release: only the pod template changes, as `kubectl set image` would.
      const release = clock.now();
      await kubeRequest(kc, {
        method: 'PATCH',
        path: paths.deployment(ns, name),
        patch: 'strategic',
        body: releasePatch(faulty500),
      });
      const failed = await observer.waitFor(
        'phase Failed',
        () => observer.firstStatus((st) => st.phase === 'Failed', release),
        { timeoutMs: 150_000 },
      );
      expect(await virtualServiceWeights(kc, ns, name)).toEqual({ [`${name}-primary`]: 100, [`${name}-canary`]: 0 });
      const halt = observer.firstEvent('Halt', release);
      const rollingBack = observer.firstEvent('Rolling back', release);
      const newRevision = observer.firstEvent('New revision detected', release);
      expect(halt, 'a Halt event').toBeDefined();
      expect(rollingBack?.message).toMatch(/Rolling back podinfo\.\S+ failed checks threshold reached 2/);
      const failedByV2 = records.filter((r) => r.sentMs >= release && r.version === 'v2' && r.status === 500).length;
      expect(failedByV2).toBeGreaterThan(0);
      console.log(
        `[flagger] faulty-500: release → New revision ${s(newRevision!.atMs - release)}, → first Halt ${s(halt!.atMs - release)}, ` +
          `→ Rolling back ${s(rollingBack!.atMs - release)}, → phase Failed ${s(failed.atMs - release)}; ${failedByV2} user requests failed`,
      );
      // docs/design.md §5: rollback at a + (threshold + 2) × interval, a ∈ (0, interval]; one interval of slack.
      expect(rollingBack!.atMs - release).toBeGreaterThan(40_000);
      expect(rollingBack!.atMs - release).toBeLessThanOrEqual(60_000);
      // After the rollback the released build serves nobody.
      await clock.sleep(2_000);
      const after = records.filter((r) => r.sentMs >= failed.atMs + 1_000);
      expect(after.length).toBeGreaterThan(0);
      expect(after.every((r) => r.version === 'v1' && r.status === 200)).toBe(true);

      // The success-rate window is 1 m: let the faulty build's 500s age out of it before the next
      // release, or Flagger would (rightly) hold them against the healthy one. `Rolling back` came
      // on a tick, so +55 s puts the release mid-interval (a ≈ 5 s): a release right on the tick
      // grid would make the law's bounds below a coin toss.
      const quietUntil = rollingBack!.atMs + 55_000;
      await clock.sleep(Math.max(0, quietUntil - clock.now()));
      const release2 = clock.now();
      await kubeRequest(kc, {
        method: 'PATCH',
        path: paths.deployment(ns, name),
        patch: 'strategic',
        body: releasePatch(healthyV3),
      });
      const succeeded = await observer.waitFor(
        'phase Succeeded',
        () => observer.firstStatus((st) => st.phase === 'Succeeded', release2),
        { timeoutMs: 200_000 },
      );
      expect(await virtualServiceWeights(kc, ns, name)).toEqual({ [`${name}-primary`]: 100, [`${name}-canary`]: 0 });
      const promoting = observer.firstEvent('Copying', release2);
      console.log(
        `[flagger] healthy: release → Copying (Promoting) ${promoting ? s(promoting.atMs - release2) : '—'}, → phase Succeeded ${s(succeeded.atMs - release2)}; ` +
          `weights seen ${[...new Set(observer.statuses.filter((st) => st.atMs >= release2).map((st) => st.canaryWeight))].join(' → ')}`,
      );
      // Promotion: Succeeded at a + (maxWeight/stepWeight + 3) × interval; one interval of slack.
      expect(succeeded.atMs - release2).toBeGreaterThan(80_000);
      expect(succeeded.atMs - release2).toBeLessThanOrEqual(100_000);
      await clock.sleep(2_000);
      const promoted = records.filter((r) => r.sentMs >= succeeded.atMs + 1_000);
      expect(promoted.length).toBeGreaterThan(0);
      expect(promoted.every((r) => r.version === 'v3' && r.status === 200)).toBe(true);
    } finally {
      await load.stop();
    }
  });

  it.concurrent("Prometheus's request-success-rate over the mesh emulator's metrics equals the client-observed rate within 1 point", async () => {
    const c = cluster!;
    const kc = c.kubeConfig;
    const ns = randomName('mix');
    await createNamespace(kc, ns);
    // A hand-made split (no Flagger): Services select the pods, the VirtualService names the
    // Services, one of them by its cluster-local FQDN.
    const partial: BuildSpec = { version: 'v2', fault: 'http500', errorRate: 0.2, latencyMs: 0, onsetS: 0 };
    for (const [name, build] of [
      ['mix-stable', v1],
      ['mix-faulty', partial],
    ] as const) {
      await kubeRequest(kc, { method: 'POST', path: paths.deployment(ns), body: faultyAppDeployment(ns, name, build) });
      await kubeRequest(kc, {
        method: 'POST',
        path: resourcePath('v1', 'services', ns),
        body: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name, namespace: ns },
          spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] },
        },
      });
    }
    await kubeRequest(kc, {
      method: 'POST',
      path: paths.virtualService(ns),
      body: {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name: 'mix', namespace: ns },
        spec: {
          hosts: ['mix'],
          http: [
            {
              route: [
                { destination: { host: 'mix-stable' }, weight: 70 },
                { destination: { host: `mix-faulty.${ns}.svc.cluster.local` }, weight: 30 },
              ],
            },
          ],
        },
      },
    });
    const url = await c.mesh.waitForRouter(ns, 'mix', { timeoutMs: 30_000 });
    // Both pods serving before the load starts, so every series exists from the first second.
    const deadline = Date.now() + 30_000;
    while (c.mesh.snapshot().workloads.filter((w) => w.namespace === ns && w.port !== undefined).length < 2) {
      if (Date.now() > deadline)
        throw new Error(`workloads of ${ns} not running: ${JSON.stringify(c.mesh.snapshot().workloads)}`);
      await clock.sleep(100);
    }
    const records: RequestRecord[] = [];
    const epochOffsetMs = Date.now() - clock.now();
    const load = new BuiltinLoadGenerator().start({
      url: `${url}/sms`,
      rateRps: 20,
      clock,
      timeoutMs: 5_000,
      maxInFlight: 500,
      onRecord: (r) => records.push(r),
    });
    // Over a minute of traffic, so the 1 m window holds only steady traffic of series that exist.
    await clock.sleep(75_000);
    await load.stop();
    const endMs = clock.now();
    // Two scrapes after the last request.
    await clock.sleep(2_500);
    const evalS = (endMs + epochOffsetMs) / 1000;

    const rateQuery = (selector: string) =>
      `sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="${ns}",${selector},response_code!~"5.*"}[1m])) / ` +
      `sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="${ns}",${selector}}[1m])) * 100`;
    const prom = async (query: string): Promise<number> => {
      const res = await fetch(
        `${c.prometheusUrl}/api/v1/query?${new URLSearchParams({ query, time: evalS.toFixed(3) })}`,
      );
      const body = (await res.json()) as { status: string; data: { result: Array<{ value: [number, string] }> } };
      expect(body.status).toBe('success');
      expect(body.data.result.length, `no value for ${query}`).toBe(1);
      return Number(body.data.result[0]!.value[1]);
    };
    const windowed = records.filter((r) => r.doneMs > endMs - 60_000 && r.doneMs <= endMs);
    const clientRate = (match: (r: RequestRecord) => boolean) => {
      const chosen = windowed.filter(match);
      return (chosen.filter((r) => r.status !== 0 && r.status < 500).length / chosen.length) * 100;
    };
    const rows = [
      {
        what: 'mix-faulty (v2, 20% 500s)',
        prom: await prom(rateQuery('destination_workload=~"mix-faulty"')),
        client: clientRate((r) => r.version === 'v2'),
      },
      {
        what: 'mix-stable (v1)',
        prom: await prom(rateQuery('destination_workload=~"mix-stable"')),
        client: clientRate((r) => r.version === 'v1'),
      },
      {
        what: 'both workloads',
        prom: await prom(rateQuery('destination_workload=~"mix-stable|mix-faulty"')),
        client: clientRate(() => true),
      },
    ];
    console.log(
      `[mesh] success rate over the last minute (${windowed.length} requests): ` +
        rows.map((r) => `${r.what}: Prometheus ${r.prom.toFixed(2)}%, clients ${r.client.toFixed(2)}%`).join('; '),
    );
    expect(windowed.every((r) => r.version === 'v1' || r.version === 'v2')).toBe(true);
    for (const row of rows) expect(Math.abs(row.prom - row.client), row.what).toBeLessThanOrEqual(1);
    // The split itself: about 30% to the faulty workload, and its error share near 20%.
    expect(rows[0]!.client).toBeGreaterThan(70);
    expect(rows[0]!.client).toBeLessThan(90);
  });
});
