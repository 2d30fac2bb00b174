import { lognormalFromMedianP90 } from '../common/random.ts';
import type { DashboardOperatorSettings } from '../scenario/schema.ts';
import type { Progression } from './progression.ts';
import * as operator from './types.ts';
import type { Operator, OperatorContext, OperatorResult, WatchedService } from './types.ts';

/**
 * A person who glances at the service's dashboard every lookIntervalS (docs/design.md §6): the
 * error-rate panel and, beside it, the latency panel (p99, its threshold line at the SLO's latency
 * limit; docs/design.md §12). A look at which either panel is above its visible threshold is noticed
 * with probability pNotice; then deciding and typing the rollback takes a lognormal reaction time.
 */
export class DashboardOperator implements Operator {
  readonly kind = 'dashboard';
  /** The latency panel's threshold (ms), or null when the operator does not watch latency. */
  private readonly visibleP99Ms: number | null;

  /** `sloLatencyMs` is the scenario's slo.latencyMs: where the latency panel's threshold line is drawn. */
  constructor(
    private readonly settings: DashboardOperatorSettings,
    sloLatencyMs: number | null,
  ) {
    this.visibleP99Ms = settings.latencyPanel ? sloLatencyMs : null;
  }

  describe(): Record<string, string | number> {
    const s = this.settings;
    return {
      kind: 'dashboard',
      lookIntervalS: s.lookIntervalS,
      panelWindowS: s.panelWindowS,
      visibleErrorRate: s.visibleErrorRate,
      visibleLatencyP99Ms: this.visibleP99Ms ?? 'not watched',
      pNotice: s.pNotice,
      reactionMedianS: s.reaction.medianS,
      reactionP90S: s.reaction.p90S,
      source:
        'assumed (docs/design.md §6 defaults): a person looking at a Grafana dashboard once a minute, its error-rate panel and its latency panel (threshold line at the SLO, docs/design.md §12); reaction lognormal, median 45 s, p90 120 s',
    };
  }

  /**
   * A release train (docs/design.md §13) is one dashboard of N services: a look reads their panels
   * one service after another, each service taking panelLookS per panel, so the scan of N services
   * takes N times as long; the next look falls on the first look time after the scan. A rollback or
   * a step of one service is done (after reading its panels) before reading the next. The watch
   * ends when every service is rolled back or promoted.
   */
  async watch(ctx: OperatorContext): Promise<OperatorResult> {
    const s = this.settings;
    const lookMs = s.lookIntervalS * 1000;
    const limitMs = this.visibleP99Ms;
    // Reading each panel takes its time: the error rate, and the latency where there is one.
    const serviceLookMs = ctx.effort.panelLookS * 1000 * (limitMs === null ? 1 : 2);
    const watched = operator.watchStates(ctx);
    // A single service's look is an instant (its reading time is busy time only), as it always was;
    // in a train the person reads one service's panels before the next.
    const train = watched.length > 1;
    const result: OperatorResult = {};
    // The operator's glances are not synchronised with the release: first look within one interval.
    let nextLook = ctx.releaseMs + ctx.random.next() * lookMs;
    try {
      for (;;) {
        await ctx.clock.sleep(nextLook - ctx.clock.now(), ctx.signal);
        for (const w of watched) {
          if (!w.done) w.done = await this.look(ctx, w.svc, w.progression, serviceLookMs, train, result);
        }
        if (watched.every((w) => w.done)) return result;
        // The next look follows the scan: a look is not due while the person was reading or editing.
        while (nextLook <= ctx.clock.now()) nextLook += lookMs;
      }
    } catch (err) {
      if (operator.isAbort(err, ctx.signal)) return result;
      throw err;
    }
  }

  /**
   * One look at one service's panels, and what it leads to: a rollback, a step of the progression,
   * or nothing. Resolves true when the service needs no more looks (rolled back or promoted).
   */
  private async look(
    ctx: OperatorContext,
    svc: WatchedService,
    progression: Progression | undefined,
    busyMs: number,
    train: boolean,
    result: OperatorResult,
  ): Promise<boolean> {
    const s = this.settings;
    const at = ctx.clock.now();
    const limitMs = this.visibleP99Ms;
    // A latency panel that cannot be read shows no data, like an empty one: nothing to notice.
    const { rate, p99 } = await operator.readPanels(svc, s.panelWindowS, limitMs !== null);
    svc.act(at, 'dashboard-look', busyMs);
    if (train) await ctx.clock.sleep(busyMs, ctx.signal);
    if (rate === null) {
      svc.note(at, 'operator-look', 'panel shows no data (metrics unavailable)');
      return false;
    }
    let shown = rate === undefined ? 'no data' : `${(rate * 100).toFixed(2)}% errors`;
    if (limitMs !== null) shown += `, p99 ${typeof p99 === 'number' ? `${p99.toFixed(0)} ms` : 'no data'}`;
    const errorsVisible = rate !== undefined && rate > s.visibleErrorRate;
    const latencyVisible = limitMs !== null && typeof p99 === 'number' && p99 > limitMs;
    if (errorsVisible || latencyVisible) {
      if (ctx.random.next() < s.pNotice) {
        svc.note(at, 'operator-noticed', `panel shows ${shown}`);
        const reactionMs = lognormalFromMedianP90(ctx.random, s.reaction.medianS, s.reaction.p90S) * 1000;
        await ctx.clock.sleep(reactionMs, ctx.signal);
        const mitigateMs = ctx.clock.now();
        svc.note(mitigateMs, 'operator-rollback', `after ${(reactionMs / 1000).toFixed(1)} s of reaction`);
        // Deciding and typing the rollback is the reaction time: that is what it kept them busy.
        svc.act(mitigateMs, 'helm-command', reactionMs, 'helm rollback');
        return operator.rollBackNoticed(svc, result, at, mitigateMs);
      }
      svc.note(at, 'operator-look', `panel shows ${shown}; not noticed this time`);
    } else {
      svc.note(at, 'operator-look', `panel shows ${shown}`);
    }
    // A panel that looks fine to them (a bad one unnoticed included) lets the release go on.
    // "No data" is no reason to go on: nothing was seen.
    if (progression && rate !== undefined && progression.due(at)) return progression.step(ctx);
    return false;
  }
}
