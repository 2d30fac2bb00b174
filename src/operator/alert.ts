import { lognormalFromMedianP90 } from '../common/random.ts';
import type { AlertOperatorSettings } from '../scenario/schema.ts';
import { Progression } from './progression.ts';
import { isAbort, type Operator, type OperatorContext, type OperatorResult, readPanels } from './types.ts';

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

  async watch(ctx: OperatorContext): Promise<OperatorResult> {
    const s = this.settings;
    const evalMs = s.evaluationIntervalS * 1000;
    let nextEval = ctx.releaseMs + ctx.random.next() * evalMs;
    let activeSince: number | undefined;
    const progression = ctx.progression && new Progression(ctx.progression, ctx.releaseMs);
    try {
      for (;;) {
        await ctx.clock.sleep(nextEval - ctx.clock.now(), ctx.signal);
        const at = ctx.clock.now();
        const limitMs = s.latencyP99AboveMs;
        const { rate, p99 } = await readPanels(ctx, s.ruleWindowS, limitMs !== null);
        if (rate === null || p99 === null) {
          // A failed rule evaluation keeps the alert state as it was, as Prometheus does.
          nextEval += evalMs;
          continue;
        }
        const breached =
          (rate !== undefined && rate > s.errorRateAbove) || (limitMs !== null && p99 !== undefined && p99 > limitMs);
        const value =
          `error rate ${rate === undefined ? 'no data' : `${(rate * 100).toFixed(2)}%`}` +
          (limitMs === null ? '' : `, p99 ${p99 === undefined ? 'no data' : `${p99.toFixed(0)} ms`}`);
        if (!breached) {
          if (activeSince !== undefined) ctx.note(at, 'alert-resolved', 'pending alert cleared before firing');
          activeSince = undefined;
          // With no alert pending, the person takes the next step once its hold has passed, after one
          // look at the dashboard to confirm (the alert rule watches; the steps are still by hand).
          if (progression?.due(at)) {
            ctx.act(at, 'dashboard-look', ctx.effort.panelLookS * 1000, 'before the next step');
            if (await progression.step(ctx)) return {};
            while (nextEval <= ctx.clock.now()) nextEval += evalMs;
            continue;
          }
        } else {
          if (activeSince === undefined) {
            activeSince = at;
            ctx.note(at, 'alert-pending', value);
          }
          if (at - activeSince >= s.forS * 1000) {
            ctx.note(at, 'alert-firing', value);
            await ctx.clock.sleep(s.groupWaitS * 1000, ctx.signal);
            ctx.note(ctx.clock.now(), 'alert-notified', 'page sent after group_wait');
            await ctx.clock.sleep(
              lognormalFromMedianP90(ctx.random, s.acknowledge.medianS, s.acknowledge.p90S) * 1000,
              ctx.signal,
            );
            const detectMs = ctx.clock.now();
            ctx.note(detectMs, 'operator-noticed', 'page acknowledged');
            ctx.act(detectMs, 'page-acknowledged', ctx.effort.pageAcknowledgeS * 1000);
            const actionMs = lognormalFromMedianP90(ctx.random, s.action.medianS, s.action.p90S) * 1000;
            await ctx.clock.sleep(actionMs, ctx.signal);
            const mitigateMs = ctx.clock.now();
            ctx.note(mitigateMs, 'operator-rollback', 'rollback issued');
            // From the acknowledgement to the command the person works on it: that is the busy time.
            ctx.act(mitigateMs, 'helm-command', actionMs, 'helm rollback');
            await ctx.rollback();
            return { detectMs, mitigateMs };
          }
        }
        nextEval += evalMs;
      }
    } catch (err) {
      if (isAbort(err, ctx.signal)) return {};
      throw err;
    }
  }
}
