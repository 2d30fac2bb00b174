import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../common/clock.ts';
import type { RouteDestination } from '../../mesh/router.ts';
import { scenarioSchema } from '../../scenario/schema.ts';
import { LocalPlatform } from './local-platform.ts';

/** Opens a manual session on a virtual clock and returns when each route change reached the router. */
async function rollbackRoutes(propagationDelayMs?: number) {
  const clock = new VirtualClock(0);
  const seen: Array<{ atMs: number; routes: string }> = [];
  const show = (routes: readonly RouteDestination[]) => routes.map((r) => `${r.workload}=${r.weight}`).join(' ');
  await using platform = new LocalPlatform({
    timeScale: 1,
    experiment: 'propagation-test',
    observer: { routes: (routes) => seen.push({ atMs: clock.now(), routes: show(routes) }) },
  });
  const scenario = {
    ...scenarioSchema.parse(propagationDelayMs === undefined ? {} : { mesh: { propagationDelayMs } }),
    name: 'p',
  };
  await using session = await platform.open('manual', scenario, {
    clock,
    seed: 1,
    experiment: 'propagation-test',
    experimentId: 'abcd1234',
    slot: 1,
  });
  let doneAtMs: number | undefined;
  const rollback = session.rollback(AbortSignal.timeout(60_000)).then(() => (doneAtMs = clock.now()));
  await clock.advance(249);
  const before = [...seen];
  await clock.advance(1);
  await rollback;
  return { before, seen, doneAtMs };
}

describe('the local mesh (docs/design.md §8)', () => {
  it('applies a route change mesh.propagationDelayMs after it is made, and the rollback is done then', async () => {
    const { before, seen, doneAtMs } = await rollbackRoutes(250);
    expect(before).toEqual([]);
    expect(seen).toEqual([{ atMs: 250, routes: 'sms-checker-stable=100' }]);
    expect(doneAtMs).toBe(250);
  });

  it("applies it at once with a delay of 0, and waits istiod's 100 ms push debounce by default", async () => {
    expect((await rollbackRoutes(0)).seen).toEqual([{ atMs: 0, routes: 'sms-checker-stable=100' }]);
    expect((await rollbackRoutes()).seen).toEqual([{ atMs: 100, routes: 'sms-checker-stable=100' }]);
  });
});
