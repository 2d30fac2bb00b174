import { lognormalFromMedianP90 } from '../common/random.ts';
import type { DashboardOperatorSettings } from '../scenario/schema.ts';
import { Progression } from './progression.ts';
import { isAbort, type Operator, type OperatorContext, type OperatorResult, readErrorRate } from './types.ts';

/**
 * A person who glances at the error-rate panel every lookIntervalS (docs/design.md §6). A look at a panel
 * above the visible threshold is noticed with probability pNotice; then deciding and typing the
 * rollback takes a lognormal reaction time.
 */
export class DashboardOperator implements Operator {
  readonly kind = 'dashboard';
  constructor(private readonly settings: DashboardOperatorSettings) {}

  describe(): Record<string, string | number> {
    const s = this.settings;
    return {
      kind: 'dashboard',
      lookIntervalS: s.lookIntervalS,
      panelWindowS: s.panelWindowS,
      visibleErrorRate: s.visibleErrorRate,
      pNotice: s.pNotice,
      reactionMedianS: s.reaction.medianS,
      reactionP90S: s.reaction.p90S,
      source:
        'assumed (docs/design.md §6 defaults): a person looking at a Grafana panel once a minute; reaction lognormal, median 45 s, p90 120 s',
    };
  }

  async watch(ctx: OperatorContext): Promise<OperatorResult> {
    const s = this.settings;
    const lookMs = s.lookIntervalS * 1000;
    const lookBusyMs = ctx.effort.panelLookS * 1000;
    const progression = ctx.progression && new Progression(ctx.progression, ctx.releaseMs);
    // The operator's glances are not synchronised with the release: first look within one interval.
    let nextLook = ctx.releaseMs + ctx.random.next() * lookMs;
    try {
      for (;;) {
        await ctx.clock.sleep(nextLook - ctx.clock.now(), ctx.signal);
        const at = ctx.clock.now();
        const rate = await readErrorRate(ctx, s.panelWindowS);
        ctx.act(at, 'dashboard-look', lookBusyMs);
        if (rate === null) {
          ctx.note(at, 'operator-look', 'panel shows no data (metrics unavailable)');
          nextLook += lookMs;
          continue;
        }
        const shown = rate === undefined ? 'no data' : `${(rate * 100).toFixed(2)}% errors`;
        if (rate !== undefined && rate > s.visibleErrorRate) {
          if (ctx.random.next() < s.pNotice) {
            ctx.note(at, 'operator-noticed', `panel shows ${shown}`);
            const reactionMs = lognormalFromMedianP90(ctx.random, s.reaction.medianS, s.reaction.p90S) * 1000;
            await ctx.clock.sleep(reactionMs, ctx.signal);
            const mitigateMs = ctx.clock.now();
            ctx.note(mitigateMs, 'operator-rollback', `after ${(reactionMs / 1000).toFixed(1)} s of reaction`);
            // Deciding and typing the rollback is the reaction time: that is what it kept them busy.
            ctx.act(mitigateMs, 'helm-command', reactionMs, 'helm rollback');
            await ctx.rollback();
            return { detectMs: at, mitigateMs };
          }
          ctx.note(at, 'operator-look', `panel shows ${shown}; not noticed this time`);
        } else {
          ctx.note(at, 'operator-look', `panel shows ${shown}`);
        }
        // A panel that looks fine to them (a bad one unnoticed included) lets the release go on.
        // "No data" is no reason to go on: nothing was seen.
        if (progression && rate !== undefined && progression.due(at)) {
          if (await progression.step(ctx)) return {};
          // The next look follows the step: a look is not due while the person was editing.
          while (nextLook <= ctx.clock.now()) nextLook += lookMs;
          continue;
        }
        nextLook += lookMs;
      }
    } catch (err) {
      if (isAbort(err, ctx.signal)) return {};
      throw err;
    }
  }
}
