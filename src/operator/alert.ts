import { lognormalFromMedianP90 } from '../common/random.ts';
import type { AlertOperatorSettings } from '../scenario/schema.ts';
import type { Progression } from './progression.ts';
import {
  isAbort,
  type Operator,
  type OperatorContext,
  type OperatorResult,
  readPanels,
  rollBackNoticed,
  type WatchedService,
  watchStates,
} from './types.ts';

/**
 * A Prometheus alerting rule `error rate > X over W for F` (or, with latencyP99AboveMs set,
 * `error rate > X or p99 > L over W for F`: one rule, one pending state), evaluated every evaluationIntervalS,
 * routed through Alertmanager's group_wait to a person who acknowledges after a lognormal delay
 * and then issues the rollback after another (docs/design.md §6). The rule follows Prometheus semantics:
 * pending from the first true evaluation, firing at the first evaluation at least `for` later,
 * back to inactive when an evaluation is false before it fires.
 */
export class AlertOperator implements Operator {
  readonly kind = 'alert';
  constructor(private readonly settings: AlertOperatorSettings) {}

  describe(): Record<string, string | number> {
    const s = this.settings;
    return {
      kind: 'alert',
      rule:
        s.latencyP99AboveMs === null
          ? `error rate over ${s.ruleWindowS}s > ${s.errorRateAbove} for ${s.forS}s`
          : `error rate over ${s.ruleWindowS}s > ${s.errorRateAbove} or p99 over ${s.ruleWindowS}s > ${s.latencyP99AboveMs} ms, for ${s.forS}s`,
      evaluationIntervalS: s.evaluationIntervalS,
      groupWaitS: s.groupWaitS,
      acknowledgeMedianS: s.acknowledge.medianS,
      acknowledgeP90S: s.acknowledge.p90S,
      actionMedianS: s.action.medianS,
      actionP90S: s.action.p90S,
      source:
        'assumed (docs/design.md §6 defaults): rule on the error rate only (no latency condition), evaluated every 15 s; Alertmanager group_wait 30 s (its default); acknowledge p90 at the Google SRE book 5-minute on-call target',
    };
  }

  /**
   * A release train (docs/design.md §13) has one rule per service, evaluated together, and one page
   * per service that fires. The person handles one thing at a time: while they handle a page or take
   * a step, the model evaluates no rule; the rules of the services after it are evaluated when they
   * are free again (a simplification: Prometheus would go on evaluating, so a second alert would be
   * pending sooner). The watch ends when every service is rolled back or promoted.
   */
  async watch(ctx: OperatorContext): Promise<OperatorResult> {
    const evalMs = this.settings.evaluationIntervalS * 1000;
    let nextEval = ctx.releaseMs + ctx.random.next() * evalMs;
    const watched = watchStates(ctx).map((w) => ({ ...w, activeSince: undefined as number | undefined }));
    const result: OperatorResult = {};
    try {
      for (;;) {
        await ctx.clock.sleep(nextEval - ctx.clock.now(), ctx.signal);
        for (const w of watched) if (!w.done) w.done = await this.evaluate(ctx, w, result);
        if (watched.every((w) => w.done)) return result;
        // Evaluations that fell while the person was busy are skipped, not made up.
        while (nextEval <= ctx.clock.now()) nextEval += evalMs;
      }
    } catch (err) {
      if (isAbort(err, ctx.signal)) return result;
      throw err;
    }
  }

  /**
   * One evaluation of one service's rule, and what follows it: the page and the rollback once it
   * fires, or the next step once the hold has passed with no alert pending. Resolves true when the
   * service needs no more evaluations (rolled back or promoted).
   */
  private async evaluate(
    ctx: OperatorContext,
    w: { svc: WatchedService; progression?: Progression; activeSince: number | undefined },
    result: OperatorResult,
  ): Promise<boolean> {
    const s = this.settings;
    const { svc } = w;
    const at = ctx.clock.now();
    const limitMs = s.latencyP99AboveMs;
    const { rate, p99 } = await readPanels(svc, s.ruleWindowS, limitMs !== null);
    // A failed rule evaluation keeps the alert state as it was, as Prometheus does.
    if (rate === null || p99 === null) return false;
    const breached =
      (rate !== undefined && rate > s.errorRateAbove) || (limitMs !== null && p99 !== undefined && p99 > limitMs);
    const value =
      `error rate ${rate === undefined ? 'no data' : `${(rate * 100).toFixed(2)}%`}` +
      (limitMs === null ? '' : `, p99 ${p99 === undefined ? 'no data' : `${p99.toFixed(0)} ms`}`);
    if (!breached) {
      if (w.activeSince !== undefined) svc.note(at, 'alert-resolved', 'pending alert cleared before firing');
      w.activeSince = undefined;
      // With no alert pending, the person takes the next step once its hold has passed, after one
      // look at the dashboard to confirm (the alert rule watches; the steps are still by hand).
      if (w.progression?.due(at)) {
        svc.act(at, 'dashboard-look', ctx.effort.panelLookS * 1000, 'before the next step');
        return w.progression.step(ctx);
      }
      return false;
    }
    if (w.activeSince === undefined) {
      w.activeSince = at;
      svc.note(at, 'alert-pending', value);
    }
    if (at - w.activeSince < s.forS * 1000) return false;
    svc.note(at, 'alert-firing', value);
    await ctx.clock.sleep(s.groupWaitS * 1000, ctx.signal);
    svc.note(ctx.clock.now(), 'alert-notified', 'page sent after group_wait');
    await ctx.clock.sleep(
      lognormalFromMedianP90(ctx.random, s.acknowledge.medianS, s.acknowledge.p90S) * 1000,
      ctx.signal,
    );
    const detectMs = ctx.clock.now();
    svc.note(detectMs, 'operator-noticed', 'page acknowledged');
    svc.act(detectMs, 'page-acknowledged', ctx.effort.pageAcknowledgeS * 1000);
    const actionMs = lognormalFromMedianP90(ctx.random, s.action.medianS, s.action.p90S) * 1000;
    await ctx.clock.sleep(actionMs, ctx.signal);
    const mitigateMs = ctx.clock.now();
    svc.note(mitigateMs, 'operator-rollback', 'rollback issued');
    // From the acknowledgement to the command the person works on it: that is the busy time.
    svc.act(mitigateMs, 'helm-command', actionMs, 'helm rollback');
    return rollBackNoticed(svc, result, detectMs, mitigateMs);
  }
}
