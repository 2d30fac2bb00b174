import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ScaledClock, sleepWall } from '../common/clock.ts';
import { readRequestsFile } from '../experiment/requests-file.ts';
import { BuiltinLoadGenerator } from '../load/builtin-generator.ts';
import { LocalPlatform } from '../platform/local/local-platform.ts';
import { Marks } from '../timeline/compute.ts';
import { createProbes, probePlatform } from './probes.ts';
import { runPlanInProcess } from '../test-support/in-process.ts';
import { QUICK_FLAGGER_RUNS, writePlan } from '../test-support/plan.ts';
import { inRunWindow, runWindows } from './run-windows.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'probes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('probes', () => {
  it('see every route change, answer, Flagger event, load and session phase of a real in-process run, and change none of it', async () => {
    const planFile = writePlan(path.join(dir, 'plan.yaml'), { name: 'probes', timeScale: 20, repetitions: 1 }, [
      '  - { scenario: faulty-500, arms: [flagger], overrides: { flagger: { interval: 10s, threshold: 1 }, recovery: { cleanWindowS: 5 }, warmup: { durationS: 5 } } }',
    ]);
    const probes = createProbes();
    const before = performance.now();
    let entries: Awaited<ReturnType<typeof runPlanInProcess>>;
    {
      await using platform = probePlatform(
        new LocalPlatform({ timeScale: 20, experiment: `probes-test-${process.pid}`, observer: probes.observer }),
        probes.log,
      );
      entries = await runPlanInProcess(planFile, platform, path.join(dir, 'out'), { wrapLoad: probes.wrapLoad });
    }
    const [entry] = entries;
    expect(entry!.metrics.outcome).toBe('rolled_back');
    const { log } = probes;

    // The model's events: the very ones the run journaled, in order, each stamped after the start.
    const journaled = entry!.timeline.filter((e) => e.kind === Marks.flaggerEvent).map((e) => e.detail);
    expect(log.events.map((e) => e.message)).toEqual(journaled);
    expect(log.events.some((e) => e.message.startsWith('Rolling back'))).toBe(true);
    expect(log.events.every((e) => e.wallMs >= before)).toBe(true);

    // Routes: the canary got traffic, and all of it went back to the primary.
    expect(log.routes.some((r) => r.routes.some((d) => d.workload === 'sms-checker' && d.weight > 0))).toBe(true);
    expect(log.routes.at(-1)!.routes.find((d) => d.workload === 'sms-checker')?.weight ?? 0).toBe(0);

    // Answers: the router's own view, 500s from the canary only; every answer the client got
    // (status 0 is no answer: a timeout or a drop) was one the router gave.
    const answered = readRequestsFile(path.join(dir, 'out', entry!.requestsFile)).filter((r) => r.status !== 0);
    expect(log.responses.filter((r) => r.status === 500).every((r) => r.workload === 'sms-checker')).toBe(true);
    expect(log.responses.filter((r) => r.status === 500).length).toBeGreaterThanOrEqual(
      answered.filter((r) => r.status === 500).length,
    );
    expect(answered.some((r) => r.status === 500)).toBe(true);
    expect(log.responses.length).toBeGreaterThanOrEqual(answered.length);

    // One load, stopped once and drained after; one restore and one release, in that order.
    expect(log.loads).toHaveLength(1);
    expect(log.loads[0]!.stopCalledWallMs).toBeGreaterThanOrEqual(log.loads[0]!.startWallMs);
    expect(log.loads[0]!.stopDoneWallMs).toBeGreaterThanOrEqual(log.loads[0]!.stopCalledWallMs!);
    expect(log.opens.map((o) => o.arm)).toEqual(['flagger']);
    expect(log.restores).toEqual([expect.objectContaining({ slot: 1, runId: entry!.runId })]);
    expect(log.releases).toHaveLength(1);
    expect(log.releases[0]!.startWallMs).toBeGreaterThanOrEqual(log.restores[0]!.doneWallMs!);
  }, 90_000);

  it('name the slot of every observation, so runs in flight at once are told apart', async () => {
    const planFile = writePlan(
      path.join(dir, 'two-slots.yaml'),
      { name: 'probes-slots', timeScale: 20, repetitions: 2, concurrency: 2 },
      QUICK_FLAGGER_RUNS,
    );
    const probes = createProbes();
    let entries: Awaited<ReturnType<typeof runPlanInProcess>>;
    {
      await using platform = probePlatform(
        new LocalPlatform({ timeScale: 20, experiment: `probes-slots-${process.pid}`, observer: probes.observer }),
        probes.log,
      );
      entries = await runPlanInProcess(planFile, platform, path.join(dir, 'out-slots'), { wrapLoad: probes.wrapLoad });
    }
    expect(entries.map((e) => e.harness?.slot).sort()).toEqual([1, 2]);
    const windows = runWindows(probes.log.restores);
    const [a, b] = entries.map((e) => windows.get(e.runId)!);
    // The two runs overlapped: each started before the other ended.
    expect(a!.fromWallMs).toBeLessThan(
      Math.max(...probes.log.events.filter((e) => e.slot === b!.slot).map((e) => e.wallMs)),
    );
    expect(b!.fromWallMs).toBeLessThan(
      Math.max(...probes.log.events.filter((e) => e.slot === a!.slot).map((e) => e.wallMs)),
    );
    for (const entry of entries) {
      const window = windows.get(entry.runId)!;
      expect(window.slot).toBe(entry.harness?.slot);
      // Each run's own model events, exactly, and only its own router's answers and routes.
      const journaled = entry.timeline.filter((e) => e.kind === Marks.flaggerEvent).map((e) => e.detail);
      expect(inRunWindow(probes.log.events, window).map((e) => e.message)).toEqual(journaled);
      expect(inRunWindow(probes.log.responses, window).length).toBeGreaterThan(0);
      expect(inRunWindow(probes.log.routes, window).length).toBeGreaterThan(0);
    }
    expect(probes.log.events.length).toBe(
      entries.reduce((n, e) => n + e.timeline.filter((t) => t.kind === Marks.flaggerEvent).length, 0),
    );
  }, 90_000);

  it('wrapLoad stamps the first stop and its drain, and hands back what stop() returns', async () => {
    const probes = createProbes();
    const load = probes.wrapLoad(new BuiltinLoadGenerator()).start({
      url: 'http://127.0.0.1:9/sms',
      rateRps: 50,
      clock: new ScaledClock(1),
      timeoutMs: 500,
      maxInFlight: 10,
      onRecord: () => undefined,
    });
    await sleepWall(50);
    const first = await load.stop();
    const second = await load.stop();
    expect(second).toBe(first);
    expect(first.sent).toBeGreaterThan(0);
    const [entry] = probes.log.loads;
    expect(probes.log.loads).toHaveLength(1);
    expect(entry!.stopCalledWallMs).toBeGreaterThanOrEqual(entry!.startWallMs);
    expect(entry!.stopDoneWallMs).toBeGreaterThanOrEqual(entry!.stopCalledWallMs!);
  });
});
