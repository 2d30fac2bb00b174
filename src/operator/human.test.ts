import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../common/clock.ts';
import { createRandom } from '../common/random.ts';
import { ScrapedMetrics } from '../metrics/scrape.ts';
import { MetricsStore } from '../metrics/store.ts';
import { effortSchema } from '../scenario/schema.ts';
import { HumanOperator } from './human.ts';
import type { OperatorContext } from './types.ts';

function context(clock: VirtualClock, extra: Partial<OperatorContext> = {}) {
  const rollbacks: number[] = [];
  const notes: string[] = [];
  const ctx: OperatorContext = {
    clock,
    metrics: new ScrapedMetrics(new MetricsStore(), { clock, intervalMs: 15_000, seed: 1 }),
    namespace: 'ns',
    service: 'svc',
    random: createRandom(1),
    releaseMs: 0,
    signal: new AbortController().signal,
    rollback: async () => {
      rollbacks.push(clock.now());
    },
    note: (_at, kind, detail) => notes.push(`${kind}: ${detail}`),
    act: () => undefined,
    effort: effortSchema.parse({}),
    ...extra,
  };
  return { ctx, rollbacks, notes };
}

describe('human operator', () => {
  it('prints what was released and rolls back when the person types "rollback"', async () => {
    const clock = new VirtualClock(0);
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    output.on('data', (c: Buffer) => (printed += c.toString()));
    const op = new HumanOperator(input, output, () => 'Released v2 as a canary at 10%.');
    const { ctx, rollbacks, notes } = context(clock);
    const watching = op.watch(ctx);
    await clock.advance(42_000);
    input.write('what?\n');
    input.write('rollback\n');
    const result = await watching;
    expect(result).toEqual({ detectMs: 42_000, mitigateMs: 42_000 });
    expect(rollbacks).toEqual([42_000]);
    expect(printed).toBe(
      'Released v2 as a canary at 10%.\nType "rollback" and Enter to roll back the canary.\nType "rollback" to roll back; anything else is ignored.\n',
    );
    expect(notes).toEqual(['operator-rollback: typed at the terminal']);
  });

  it('sees a rollback done outside the harness and does not issue another', async () => {
    const clock = new VirtualClock(0);
    let seen!: (atMs: number) => void;
    const external = new Promise<number>((resolve) => (seen = resolve));
    const op = new HumanOperator(new PassThrough(), new PassThrough(), () => '');
    const { ctx, rollbacks, notes } = context(clock, { externalRollback: external });
    const watching = op.watch(ctx);
    await clock.advance(90_000);
    seen(90_000);
    expect(await watching).toEqual({ detectMs: 90_000, mitigateMs: 90_000 });
    expect(rollbacks).toEqual([]);
    expect(notes).toEqual(['operator-rollback: rolled back outside the harness']);
  });

  it('returns nothing when the run ends first', async () => {
    const clock = new VirtualClock(0);
    const abort = new AbortController();
    const op = new HumanOperator(new PassThrough(), new PassThrough(), () => '');
    const { ctx } = context(clock, { signal: abort.signal });
    const watching = op.watch(ctx);
    abort.abort(new Error('deadline'));
    expect(await watching).toEqual({});
  });
});
