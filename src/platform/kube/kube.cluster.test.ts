import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { helmTemplate, type KubeObject } from '../../kube/helm.ts';
import { kubeRequest, resourcePath } from '../../kube/kube-rest.ts';
import { IN_CLUSTER_TIER, PROJECT_ROOT, useLocalCluster } from '../../cluster/local/cluster-test-support.ts';
import { runOnCluster } from '../../test-support/cli.ts';
import { journalHeader, journalRuns, writePlan } from '../../test-support/plan.ts';
import type { RunEntry } from '../../experiment/journal.ts';

// The kube platform against the local control plane: the real kube-apiserver with Flagger's and
// Istio's CRDs, the real Flagger, real Helm, Prometheus and the mesh emulator.
const PLURALS: Record<string, string> = {
  Deployment: 'deployments',
  Service: 'services',
  VirtualService: 'virtualservices',
  DestinationRule: 'destinationrules',
  Canary: 'canaries',
  ServiceAccount: 'serviceaccounts',
  ConfigMap: 'configmaps',
};

describe.skipIf(!IN_CLUSTER_TIER)('kube platform on the local control plane (run by npm run test:cluster)', () => {
  const suite = useLocalCluster('kube');

  it('every object both charts render is accepted by the real API server (server-side dry run)', async () => {
    const kc = suite.cluster.kubeConfig;
    const namespace = 'dry-run';
    await kubeRequest(kc, {
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    });
    const sets: Array<[string, Record<string, unknown>]> = [
      ['manual', {}],
      [
        'manual',
        {
          trafficManagement: { weights: { stable: 90, canary: 10 } },
          canary: { fault: { mode: 'http500', errorRate: 0.05 } },
        },
      ],
      ['flagger', {}],
      [
        'flagger',
        { analysis: { interval: '10s', threshold: 2, stepWeights: [5, 10, 25, 50] }, smokeTest: { enabled: false } },
      ],
    ];
    let accepted = 0;
    for (const [chart, values] of sets) {
      const objects: KubeObject[] = await helmTemplate(path.join(PROJECT_ROOT, 'faulty-app/charts', chart), values, {
        namespace,
        releaseName: 'sms-checker',
      });
      expect(objects.length).toBeGreaterThan(0);
      for (const object of objects) {
        const plural = PLURALS[object.kind];
        expect(plural, `a plural for ${object.kind}`).toBeDefined();
        const created = await kubeRequest<KubeObject>(kc, {
          method: 'POST',
          path: `${resourcePath(object.apiVersion, plural!, namespace)}?dryRun=All&fieldValidation=Strict`,
          body: { ...object, metadata: { ...object.metadata, namespace } },
        });
        expect(created.kind).toBe(object.kind);
        accepted++;
      }
    }
    console.log(`[kube] ${accepted} rendered objects accepted by the API server (dry run, strict field validation)`);
  });

  it('keeps every Canary phase change once while its watches are cut every 2 s', async () => {
    const plan = path.join(suite.dir, 'cut.yaml');
    writePlan(plan, { name: 'kube-watch-cut', timeScale: 1, repetitions: 1 }, [
      '  - scenario: faulty-500',
      '    arms: [flagger]',
      '    overrides: { flagger: { interval: 10s, threshold: 1, smokeTest: false }, recovery: { cleanWindowS: 10, deadlineS: 300 }, warmup: { durationS: 5 } }',
    ]);
    const out = path.join(suite.dir, 'cut-report');
    const r = await runOnCluster(suite, plan, out, {
      timeoutMs: 400_000,
      env: { CANARY_MTTR_CUT_WATCH_EVERY_MS: '2000' },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const run = journalRuns(out)[0]!;
    expect(run.metrics.outcome).toBe('rolled_back');
    const phases = run.timeline
      .filter((e) => e.kind === 'flagger-event' && e.detail?.startsWith('status:'))
      .map((e) => e.detail!);
    // Each distinct status once, in the order Flagger went through them, across some 30 disconnects.
    expect(new Set(phases).size).toBe(phases.length);
    const phaseOrder = phases.map((p) => /phase (\w+)/.exec(p)![1]).filter((p, i, a) => p !== a[i - 1]);
    expect(phaseOrder.slice(-3)).toEqual(['Initialized', 'Progressing', 'Failed']);
    const events = run.timeline
      .filter((e) => e.kind === 'flagger-event' && !e.detail?.startsWith('status:'))
      .map((e) => e.detail!);
    expect(events.filter((e) => e.startsWith('Rolling back'))).toHaveLength(1);
    expect(events.filter((e) => e.startsWith('New revision detected'))).toHaveLength(1);
  }, 420_000);

  it('runs both arms with real Helm and the real Flagger and writes a report', async () => {
    const plan = path.join(suite.dir, 'plan.yaml');
    writePlan(plan, { name: 'kube-cluster-test', timeScale: 1, seed: 5, repetitions: 1 }, [
      '  - scenario: faulty-500',
      '    arms: [manual, flagger]',
      '    overrides:',
      '      flagger: { interval: 10s, threshold: 1, smokeTest: false }',
      '      recovery: { cleanWindowS: 20, deadlineS: 300 }',
      '      warmup: { durationS: 10 }',
      '      manual: { operator: { kind: dashboard, lookIntervalS: 15, pNotice: 1, reaction: { medianS: 10, p90S: 20 } } }',
    ]);
    const out = path.join(suite.dir, 'report');
    const started = Date.now();
    const r = await runOnCluster(suite, plan, out, { timeoutMs: 540_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    const runs = journalRuns(out);
    const flagger = runs.find((x) => x.arm === 'flagger')!;
    const manual = runs.find((x) => x.arm === 'manual')!;
    expect(rows.map((x) => [x.arm, x.outcome, x.platform])).toEqual([
      ['manual', 'rolled_back', 'kube'],
      ['flagger', 'rolled_back', 'kube'],
    ]);
    // The real Flagger's own events, read from the API, in this experiment's namespace.
    const namespace = `canary-mttr-${journalHeader(out).id}-flagger-\\d+`;
    const events = flagger.timeline.filter((e) => e.kind === 'flagger-event').map((e) => e.detail ?? '');
    expect(events).toContainEqual(
      expect.stringMatching(`^New revision detected! Scaling up sms-checker\\.${namespace}`),
    );
    expect(events).toContainEqual(
      expect.stringMatching(`^Rolling back sms-checker\\.${namespace} failed checks threshold reached 1`),
    );
    expect(flagger.timeline.some((e) => e.kind === 'flagger-event' && e.phase === 'Failed')).toBe(true);
    // Each phase change once.
    const phases = flagger.timeline
      .filter((e) => e.kind === 'flagger-event' && e.detail?.startsWith('status:'))
      .map((e) => e.detail);
    expect(new Set(phases).size).toBe(phases.length);
    // The manual rollback was a real helm rollback, seen on the VirtualService.
    expect(manual.timeline.some((e) => e.kind === 'rollback-issued' && e.detail === 'helm rollback')).toBe(true);
    expect(manual.timeline.some((e) => e.kind === 'rollback-done' && e.detail === 'helm rollback done')).toBe(true);
    expect(manual.timeline.some((e) => e.kind === 'routes' && e.canaryWeight === 10)).toBe(true);
    const releaseToRollback = (Number(rows[1]!.mitigate_ms) - Number(rows[1]!.release_ms)) / 1000;
    console.log(
      `[kube] both arms in ${((Date.now() - started) / 1000).toFixed(0)} s; Flagger release→Rolling back ${releaseToRollback.toFixed(1)} s (law: (30, 40] plus start-up)`,
    );
    expect(releaseToRollback).toBeGreaterThan(30);
    expect(releaseToRollback).toBeLessThan(60);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('Platform **kube**');
  }, 600_000);

  it('takes a healthy release by hand to its promotion, and applies a wrong values edit as typed (docs/design.md §13)', async () => {
    const plan = path.join(suite.dir, 'plan-manual.yaml');
    const common = ['      recovery: { cleanWindowS: 10, deadlineS: 300 }', '      warmup: { durationS: 10 }'];
    const operator =
      'operator: { kind: dashboard, lookIntervalS: 10, pNotice: 1, reaction: { medianS: 10, p90S: 20 } }';
    writePlan(plan, { name: 'kube-manual-process', timeScale: 1, seed: 5, repetitions: 1 }, [
      '  - scenario: healthy',
      '    arms: [manual]',
      '    overrides:',
      ...common,
      `      manual: { progression: { stepWeights: [50], holdS: 20 }, effort: { valuesEditS: 5, helmCommandS: 2 }, ${operator} }`,
      '  - scenario: faulty-500',
      '    arms: [manual]',
      '    overrides:',
      ...common,
      `      manual: { editErrorRate: 1, ${operator} }`,
    ]);
    const out = path.join(suite.dir, 'report-manual');
    const r = await runOnCluster(suite, plan, out, { timeoutMs: 540_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    const [healthy, faulty] = journalRuns(out);
    const weights = (run: RunEntry) =>
      run.timeline.filter((e) => e.kind === 'routes' && e.canaryWeight !== undefined).map((e) => e.canaryWeight);
    // The healthy release: 10%, the step to 50% and the promotion, each a real helm upgrade seen on the
    // VirtualService; the promotion is not taken for a rollback by someone outside the harness.
    expect(rows[0]).toMatchObject({ outcome: 'promoted', values_edits: '3', helm_commands: '3' });
    expect(weights(healthy!).slice(-3)).toEqual([10, 50, 0]);
    expect(healthy!.timeline.some((e) => e.kind === 'rollback-issued')).toBe(false);
    // The wrong edit: the VirtualService sends everything to the canary until the operator's helm rollback.
    expect(rows[1]).toMatchObject({ outcome: 'rolled_back', edit_errors: '1' });
    expect(weights(faulty!)).toContain(100);
    expect(faulty!.timeline.some((e) => e.kind === 'rollback-issued' && e.detail === 'helm rollback')).toBe(true);
  }, 600_000);

  it('a crash-looping canary is never Ready: the real Flagger waits for it and rolls back at its progress deadline', async () => {
    const plan = path.join(suite.dir, 'crash.yaml');
    writePlan(plan, { name: 'kube-crash-loop', timeScale: 1, repetitions: 1 }, [
      '  - scenario: crash-loop',
      '    arms: [flagger]',
      '    overrides: { flagger: { interval: 10s, threshold: 1, smokeTest: false, progressDeadlineS: 30 }, recovery: { cleanWindowS: 10, deadlineS: 300 }, warmup: { durationS: 5 } }',
    ]);
    const out = path.join(suite.dir, 'crash-report');
    const r = await runOnCluster(suite, plan, out, { timeoutMs: 400_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const run = journalRuns(out)[0]!;
    const events = run.timeline
      .filter((e) => e.kind === 'flagger-event' && !e.detail?.startsWith('status:'))
      .map((e) => e.detail!);
    console.log(`[kube] crash-loop events:\n  ${[...new Set(events)].join('\n  ')}`);
    expect(run.metrics.outcome).toBe('rolled_back');
    // Flagger saw an unavailable canary Deployment (its pod not Ready), never an analysis failure.
    expect(events.some((e) => e.includes('not ready') && e.includes('waiting for rollout to finish'))).toBe(true);
    const namespace = `canary-mttr-${journalHeader(out).id}-flagger-\\d+`;
    expect(events).toContainEqual(expect.stringMatching(`^Canary failed! Scaling down sms-checker\\.${namespace}`));
    expect(events.some((e) => e.startsWith('Rolling back'))).toBe(false);
    // No traffic ever went to the canary, so no user saw the crash.
    expect(run.timeline.some((e) => e.kind === 'routes' && (e.canaryWeight ?? 0) > 0)).toBe(false);
    expect(run.metrics.failedRequests).toBe(0);
    const releaseToRollback = (run.metrics.mitigateMs! - run.metrics.releaseMs) / 1000;
    console.log(
      `[kube] crash-loop: release→rollback (phase Failed) ${releaseToRollback.toFixed(1)} s (progress deadline 30 s, interval 10 s)`,
    );
    // The canary is scaled up on the first tick after the release (within one interval), and
    // rolled back on the first tick at least the deadline after it went unavailable.
    expect(releaseToRollback).toBeGreaterThan(30);
    expect(releaseToRollback).toBeLessThanOrEqual(10 + 30 + 10 + 5);
  }, 420_000);
});
