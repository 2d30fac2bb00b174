import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { ScaledClock, type Clock } from '../common/clock.ts';
import { ConfigError, PlatformError } from '../common/errors.ts';
import { LoopLagMonitor } from '../common/loop-lag.ts';
import { createRandom, deriveSeed } from '../common/random.ts';
import type { Logger } from '../common/logger.ts';
import { CanaryObserver } from '../kube/canary-observer.ts';
import { helmTemplate, type KubeObject } from '../kube/helm.ts';
import { kubeRequest, resourcePath } from '../kube/kube-rest.ts';
import type { StartedLocalCluster } from '../cluster/local/cluster.ts';
import { createNamespace, paths, virtualServiceWeights } from '../cluster/workload-manifests.ts';
import { BuiltinLoadGenerator } from '../load/builtin-generator.ts';
import { isFailure, type RequestRecord } from '../load/types.ts';
import { CHARTS, flaggerChartValues } from '../platform/kube/kube-platform.ts';
import type { Scenario } from '../scenario/schema.ts';
import { quantile } from '../stats/index.ts';
import type { FidelityRun } from './types.ts';

const APP = 'sms-checker';

/** The Flagger arm's objects as the kube platform installs them: faulty-app's chart, rendered by helm. */
function renderFlaggerChart(
  scenario: Scenario,
  which: 'stable' | 'release',
  namespace: string,
  rep: number,
  loadtesterNamespace: string | undefined,
  signal: AbortSignal,
): Promise<KubeObject[]> {
  const values = {
    ...flaggerChartValues(scenario, which, loadtesterNamespace),
    fullnameOverride: APP,
    experiment: 'fidelity',
    run: String(rep),
  };
  return helmTemplate(path.join(CHARTS, 'flagger'), values, { namespace, releaseName: APP, signal });
}

const PLURALS: Record<string, string> = { Deployment: 'deployments', Canary: 'canaries' };

function collectionPath(obj: KubeObject, namespace: string): string {
  const plural = PLURALS[obj.kind];
  if (!plural)
    throw new PlatformError(
      `fidelity: the flagger chart rendered a ${obj.kind}, which fidelity does not know how to create`,
    );
  return resourcePath(obj.apiVersion, plural, namespace);
}

/** Creates every object of the chart: what `helm install` would send. */
async function install(kc: KubeConfig, objects: readonly KubeObject[], namespace: string): Promise<void> {
  for (const obj of objects) await kubeRequest(kc, { method: 'POST', path: collectionPath(obj, namespace), body: obj });
}

/** The release: the target Deployment's pod template replaced by the chart's released one, as `helm upgrade` does. */
async function release(kc: KubeConfig, objects: readonly KubeObject[], namespace: string): Promise<void> {
  const target = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === APP);
  if (!target) throw new PlatformError(`fidelity: the flagger chart rendered no Deployment ${APP}`);
  const template = (target.spec as { template?: unknown } | undefined)?.template;
  await kubeRequest(kc, {
    method: 'PATCH',
    path: paths.deployment(namespace, APP),
    patch: 'merge',
    body: { spec: { template } },
  });
}

/** What a release on the real Flagger needs: the cluster, the scenario, and where to report. */
export interface RealFlaggerOptions {
  cluster: StartedLocalCluster;
  scenario: Scenario;
  logger: Logger;
  signal: AbortSignal;
  /** Seeds the release phase of each repetition. */
  seed: number;
  clock?: Clock;
}

/**
 * The scenario on the real Flagger of a local control plane, `reps` times one after the other
 * (runRealRelease for each).
 */
export async function runOnRealFlagger(options: RealFlaggerOptions & { reps: number }): Promise<FidelityRun[]> {
  const runs: FidelityRun[] = [];
  for (let rep = 1; rep <= options.reps; rep++) runs.push(await runRealRelease(options, rep));
  return runs;
}

/**
 * One release of the scenario on the real Flagger: a fresh namespace with faulty-app's Flagger
 * chart installed as the kube platform installs it (the stable Deployment and a new Canary, as the
 * model's `reset` is a fresh Canary), a random pause (a uniform phase of the release against
 * Flagger's ticks), steady load through the mesh emulator, the warm-up, then the release of the
 * scenario's build; the Canary's events and status are watched until it is rolled back or
 * promoted. Releases in their own namespaces share nothing but the cluster, so several may run at
 * once (Flagger runs one job per Canary, docs/design.md §10).
 */
export async function runRealRelease(options: RealFlaggerOptions, rep: number): Promise<FidelityRun> {
  const { cluster, scenario, logger, signal } = options;
  const clock = options.clock ?? new ScaledClock(1);
  const kc = cluster.kubeConfig;
  const f = scenario.flagger;
  const steps = f.stepWeights?.length ?? Math.ceil(f.maxWeight / f.stepWeight);
  // Long enough for the slowest fate of the law (promotion) plus a few ticks of slack.
  const fateTimeoutMs = Math.min(
    scenario.recovery.deadlineS * 1000,
    (Math.max(f.threshold, steps) + 8) * f.intervalMs + 60_000 + (f.progressDeadlineS ?? 0) * 1000,
  );
  const loadtesterNamespace = cluster.state().loadtesterNamespace;
  if (f.smokeTest && !loadtesterNamespace) {
    throw new ConfigError(
      'flagger.smokeTest: the pre-rollout smoke test needs flagger-loadtester, which this local cluster does not run (started without Flagger?); use a scenario without it',
    );
  }
  signal.throwIfAborted();
  const ns = `fidelity-${randomBytes(3).toString('hex')}-r${rep}`;
  const stable = await renderFlaggerChart(scenario, 'stable', ns, rep, loadtesterNamespace, signal);
  const released = await renderFlaggerChart(scenario, 'release', ns, rep, loadtesterNamespace, signal);
  await createNamespace(kc, ns, { labels: { 'canary-mttr/fidelity': 'true' }, signal });
  const records: RequestRecord[] = [];
  let load: ReturnType<BuiltinLoadGenerator['start']> | undefined;
  let observer: CanaryObserver | undefined;
  let lag: LoopLagMonitor | undefined;
  try {
    await install(kc, stable, ns);
    observer = await new CanaryObserver({ kubeConfig: kc, namespace: ns, name: APP, clock }).start();
    const watched = observer;
    await observer.waitFor('phase Initialized', () => watched.firstStatus((s) => s.phase === 'Initialized'), {
      timeoutMs: 150_000 + 2 * f.intervalMs,
      signal,
    });
    const url = await cluster.mesh.waitForRouter(ns, APP, { timeoutMs: 30_000, signal });
    // Flagger ticks on a grid that starts when the Canary is picked up, and `Initialized` is
    // written on a tick: releasing a fixed time later would always land at the same phase of
    // the grid. A random pause gives the release a uniform phase, as the model's ticker has.
    await clock.sleep(createRandom(deriveSeed(options.seed, `phase/${rep}`)).next() * f.intervalMs, signal);
    load = new BuiltinLoadGenerator().start({
      url: `${url}/sms`,
      rateRps: scenario.load.rateRps,
      clock,
      timeoutMs: scenario.load.timeoutMs,
      maxInFlight: scenario.load.maxInFlight,
      signal,
      onRecord: (r) => records.push(r),
    });
    await clock.sleep(scenario.warmup.durationS * 1000, signal);
    const releaseMs = clock.now();
    lag = new LoopLagMonitor();
    await release(kc, released, ns);
    const fate = await observer.waitFor(
      'rollback or promotion',
      () => watched.firstStatus((s) => s.phase === 'Failed' || s.phase === 'Succeeded', releaseMs),
      { timeoutMs: fateTimeoutMs, signal },
    );
    const at = (ms: number | undefined) => (ms === undefined ? undefined : (ms - releaseMs) / 1000);
    const halt = observer.firstEvent('Halt', releaseMs);
    const firstFailedCheck = observer.firstStatus((s) => s.failedChecks >= 1, releaseMs);
    const rollingBack = observer.firstEvent('Rolling back', releaseMs);
    const after = records.filter((r) => r.sentMs >= releaseMs);
    const run: FidelityRun = {
      rep,
      id: ns,
      newRevisionS: at(observer.firstEvent('New revision detected', releaseMs)?.atMs),
      detectS: at(Math.min(halt?.atMs ?? Infinity, firstFailedCheck?.atMs ?? Infinity, rollingBack?.atMs ?? Infinity)),
      rollbackS: at(rollingBack?.atMs ?? (fate.phase === 'Failed' ? fate.atMs : undefined)),
      detectMessage: halt?.message,
      outcome: fate.phase === 'Failed' ? 'rolled_back' : 'promoted',
      failedRequests: after.filter(isFailure).length,
      totalRequests: after.length,
      stableP99Ms: quantile(
        after.filter((r) => r.version === scenario.release.stableVersion && !isFailure(r)).map((r) => r.latencyMs),
        0.99,
      ),
      timeouts: after.filter((r) => r.status === 0).length,
      loopLagMaxMs: lag.stop().maxWallMs,
    };
    if (run.detectS === Infinity) run.detectS = undefined;
    if (fate.phase === 'Failed') {
      const weights = await virtualServiceWeights(kc, ns, APP);
      if (weights[`${APP}-primary`] !== 100)
        logger.warn(`${ns}: after the rollback the VirtualService weights are ${JSON.stringify(weights)}, not 100/0`);
    }
    logger.info(
      `real Flagger  ${scenario.name} r${rep}: ${run.outcome}; release → New revision ${fmt(run.newRevisionS)}, → first Halt ${fmt(run.detectS)}, → Rolling back ${fmt(run.rollbackS)} (${ns})`,
    );
    return run;
  } finally {
    lag?.stop();
    await load?.stop();
    await observer?.stop();
    // Deleting the namespace removes the Canary, its workloads and the router; nothing waits for it.
    await kubeRequest(kc, { method: 'DELETE', path: paths.namespace(ns) }).catch(() => undefined);
  }
}

function fmt(s: number | undefined): string {
  return s === undefined ? '—' : `${s.toFixed(1)} s`;
}
