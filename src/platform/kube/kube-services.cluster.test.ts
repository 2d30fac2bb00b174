import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { IN_CLUSTER_TIER, useLocalCluster } from '../../cluster/local/cluster-test-support.ts';
import { runOnCluster } from '../../test-support/cli.ts';
import { journalHeader, journalRuns, writePlan } from '../../test-support/plan.ts';

// A release train of four services, one faulty (docs/design.md §13), on the local control plane: four
// Helm releases of the Flagger chart in one namespace, so four Deployments, Canaries and
// VirtualServices, analysed by the real Flagger, each service served by its own mesh-emulator router.
describe.skipIf(!IN_CLUSTER_TIER)('a release train on the real Flagger (run by npm run test:cluster)', () => {
  const suite = useLocalCluster('kube-services');

  it('four Canaries analyse independently: the faulty one is rolled back, the three healthy ones promoted', async () => {
    const plan = path.join(suite.dir, 'services.yaml');
    writePlan(plan, { name: 'kube-services', timeScale: 1, seed: 7, repetitions: 1 }, [
      '  - scenario: faulty-500',
      '    arms: [flagger]',
      '    overrides:',
      '      services: 4',
      '      faultyServices: 1',
      '      load: { rateRps: 5 }',
      '      flagger: { interval: 10s, threshold: 2, maxWeight: 20, stepWeight: 10, smokeTest: false }',
      '      recovery: { cleanWindowS: 10, deadlineS: 300 }',
      '      warmup: { durationS: 10 }',
    ]);
    const out = path.join(suite.dir, 'services-report');
    const r = await runOnCluster(suite, plan, out, { timeoutMs: 540_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [row] = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    expect([row!.platform, row!.services, row!.faulty_services, row!.outcome]).toEqual([
      'kube',
      '4',
      '1',
      'rolled_back',
    ]);
    expect([row!.services_rolled_back, row!.services_promoted]).toEqual(['1', '3']);
    const run = journalRuns(out)[0]!;
    expect(run.metrics.services!.map((f) => [f.service, f.faulty, f.outcome])).toEqual([
      [0, true, 'rolled_back'],
      [1, false, 'promoted'],
      [2, false, 'promoted'],
      [3, false, 'promoted'],
    ]);
    // The real Flagger's own events, per Canary, in this experiment's namespace.
    const namespace = `canary-mttr-${journalHeader(out).id}-flagger-\\d+`;
    const events = (service: number) =>
      run.timeline.filter((e) => e.kind === 'flagger-event' && e.service === service).map((e) => e.detail ?? '');
    expect(events(0)).toContainEqual(
      expect.stringMatching(`^Rolling back sms-checker-1\\.${namespace} failed checks threshold reached 2`),
    );
    for (const service of [1, 2, 3]) {
      expect(events(service).some((e) => e.startsWith('Rolling back'))).toBe(false);
      expect(events(service)).toContainEqual(
        expect.stringMatching(`^Promotion completed! Scaling down sms-checker-${service + 1}\\.${namespace}`),
      );
    }
  }, 600_000);
});
