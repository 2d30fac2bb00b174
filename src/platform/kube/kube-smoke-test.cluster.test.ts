import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { IN_CLUSTER_TIER, useLocalCluster } from '../../cluster/local/cluster-test-support.ts';
import { runOnCluster } from '../../test-support/cli.ts';
import { journalHeader, journalRuns, writePlan } from '../../test-support/plan.ts';
import type { RunEntry } from '../../experiment/journal.ts';

// The smoke-test scenarios on the kube platform: faulty-app's Flagger chart with its pre-rollout
// webhook, the real Flagger calling the real flagger-loadtester, which runs the chart's curl
// against the canary's Service (docs/design.md §8).
describe.skipIf(!IN_CLUSTER_TIER)(
  'the smoke test through the real flagger-loadtester (run by npm run test:cluster)',
  () => {
    const suite = useLocalCluster('smoke');

    /** The loadtester's log lines (zap, one JSON object a line), by message. */
    const loadtesterMessages = () =>
      readFileSync(path.join(suite.cluster.logsDir, 'flagger-loadtester.log'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as { msg?: string }).msg ?? '');
    const flaggerEvents = (run: RunEntry) =>
      run.timeline.filter((e) => e.kind === 'flagger-event' && !e.detail?.startsWith('status:')).map((e) => e.detail!);
    const smokeCommand = (namespace: string) =>
      `curl -sf -X POST -d '{"sms":"smoke test"}' -H 'content-type: application/json' http://sms-checker-canary.${namespace}:8080/sms`;

    it('rolls back a build whose smoke test fails before any user request reaches it, and promotes one whose smoke test passes', async () => {
      const plan = path.join(suite.dir, 'smoke.yaml');
      const common = 'recovery: { cleanWindowS: 10, deadlineS: 300 }, warmup: { durationS: 5 }';
      writePlan(plan, { name: 'kube-smoke-test', timeScale: 1, seed: 3, repetitions: 1 }, [
        '  - scenario: faulty-500-smoke',
        '    arms: [flagger]',
        `    overrides: { flagger: { interval: 10s, threshold: 1 }, ${common} }`,
        '  - scenario: healthy',
        '    arms: [flagger]',
        `    overrides: { flagger: { interval: 10s, threshold: 1, smokeTest: true, stepWeight: 25 }, ${common} }`,
      ]);
      const out = path.join(suite.dir, 'smoke-report');
      const r = await runOnCluster(suite, plan, out, { timeoutMs: 540_000 });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<
        Record<string, string>
      >;
      expect(rows.map((x) => [x.scenario, x.outcome])).toEqual([
        ['faulty-500-smoke', 'rolled_back'],
        ['healthy', 'promoted'],
      ]);
      const [faulty, healthy] = journalRuns(out) as [RunEntry, RunEntry];
      // The session's namespace, canary-mttr-<id>-flagger-<slot>, as Flagger's events name it.
      const pattern = new RegExp(`sms-checker\\.(canary-mttr-${journalHeader(out).id}-flagger-\\d+)`);
      const namespace = flaggerEvents(faulty)
        .map((e) => pattern.exec(e)?.[1])
        .find((ns) => ns !== undefined)!;
      expect(namespace).toBeDefined();
      const logged = loadtesterMessages();

      // The faulty build: the loadtester ran the chart's curl against the canary, which answered 500
      // (curl -f: exit 22); Flagger's event carries retryablehttp's text, not the loadtester's answer.
      const faultyEvents = flaggerEvents(faulty);
      console.log(`[smoke] faulty-500-smoke events:\n  ${faultyEvents.join('\n  ')}`);
      expect(logged).toContainEqual(
        expect.stringContaining(`command failed ${smokeCommand(namespace)} exit status 22`),
      );
      expect(faultyEvents).toContain(
        `Halt sms-checker.${namespace} advancement pre-rollout check smoke-test failed POST http://flagger-loadtester.canary-mttr/ giving up after 1 attempt(s)`,
      );
      expect(faultyEvents).toContain(`Rolling back sms-checker.${namespace} failed checks threshold reached 1`);
      expect(
        faultyEvents.indexOf(`Rolling back sms-checker.${namespace} failed checks threshold reached 1`),
      ).toBeGreaterThan(faultyEvents.findIndex((e) => e.startsWith('Halt ')));
      // No weight ever went to the canary: no user request saw the fault.
      expect(faulty.timeline.some((e) => e.kind === 'routes' && (e.canaryWeight ?? 0) > 0)).toBe(false);
      expect(faulty.metrics.failedRequests).toBe(0);
      // Three ticks at least: the new revision, the failed hook (failed checks 1), the rollback.
      const releaseToRollback = (Number(rows[0]!.mitigate_ms) - Number(rows[0]!.release_ms)) / 1000;
      console.log(
        `[smoke] faulty-500-smoke: release → Rolling back ${releaseToRollback.toFixed(1)} s (interval 10 s, threshold 1)`,
      );
      expect(releaseToRollback).toBeGreaterThan(20);

      // The healthy build passed the same command and went on to its promotion.
      const healthyEvents = flaggerEvents(healthy);
      expect(logged).toContainEqual(expect.stringContaining(`command finished ${smokeCommand(namespace)}`));
      expect(healthyEvents).toContain('Pre-rollout check smoke-test passed');
      expect(healthyEvents.some((e) => e.startsWith('Halt '))).toBe(false);
      expect(healthy.timeline.some((e) => e.kind === 'routes' && e.canaryWeight === 50)).toBe(true);
      // Repeated events in one namespace may come "(combined from similar events): …".
      expect(healthyEvents).toContainEqual(
        expect.stringContaining(`Promotion completed! Scaling down sms-checker.${namespace}`),
      );
    }, 600_000);
  },
);
