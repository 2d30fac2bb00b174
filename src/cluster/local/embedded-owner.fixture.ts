/**
 * Test fixture (lifecycle.cluster.test.ts): a process that owns a local cluster the way a test or
 * a fidelity run does, starts one faulty-app Deployment so an app process runs too, prints
 * `ready <json>` and then either fails like a failing test (`throw`: the error escapes an
 * `await using` block) or waits to be killed (`wait`).
 *   node --import tsx src/cluster/local/embedded-owner.fixture.ts STATE_DIR throw|wait
 */
import { kubeRequest } from '../../kube/kube-rest.ts';
import { createNamespace, faultyAppDeployment, paths } from '../workload-manifests.ts';
import { startLocalCluster } from './cluster.ts';

const [stateDir, mode] = process.argv.slice(2);
if (!stateDir || (mode !== 'throw' && mode !== 'wait')) {
  process.stderr.write('usage: embedded-owner.fixture.ts STATE_DIR throw|wait\n');
  process.exit(2);
}

async function main(): Promise<void> {
  await using cluster = await startLocalCluster({ stateDir: stateDir!, timeoutMs: 120_000 });
  await createNamespace(cluster.kubeConfig, 'owner');
  await kubeRequest(cluster.kubeConfig, {
    method: 'POST',
    path: paths.deployment('owner'),
    body: faultyAppDeployment('owner', 'app', { version: 'v1', fault: 'none', errorRate: 0, latencyMs: 0, onsetS: 0 }),
  });
  const deadline = Date.now() + 30_000;
  while (!cluster.mesh.snapshot().workloads.some((w) => w.port !== undefined)) {
    if (Date.now() > deadline) throw new Error('the app process did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  // What it runs, as its state file says now: in `throw` mode the state changes as soon as this
  // line is out, while the owner stops its cluster.
  const components = cluster.state().processes.map((p) => p.component);
  process.stdout.write(`ready ${JSON.stringify({ name: cluster.name, pids: cluster.pids, components })}\n`);
  if (mode === 'throw') throw new Error('a failing test');
  await new Promise(() => undefined);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
});
