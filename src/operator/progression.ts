import type { ManualSettings } from '../scenario/schema.ts';
import type { OperatorContext } from './types.ts';

/**
 * The manual steps of a release that looks fine (docs/design.md §13): the weights still to set after the
 * release's, the hold at each, and the two platform actions. The runner provides it; the operator
 * decides when to take each step.
 */
export interface ManualSteps {
  /** Canary weights to set after the release's, in order; the promotion follows the last. */
  weights: readonly number[];
  /** Scenario ms the canary must look fine at a weight before the next step. */
  holdMs: number;
  /** The values edit and `helm upgrade` to `weight`, applied as typed (which may be wrong). */
  setCanaryWeight(weight: number): Promise<void>;
  /** The values edit and `helm upgrade` that make the release the stable build. */
  promote(): Promise<void>;
}

/** The weights a progression still sets after a release at `canaryWeight`: steps at or below it are skipped. */
export function stepsAfter(canaryWeight: number, stepWeights: readonly number[]): number[] {
  return stepWeights.filter((w) => w > canaryWeight);
}

/**
 * Where one operator is in the progression. A step is due at a moment the canary looks fine to the
 * operator, once the hold at the current weight has passed; taking it keeps the person busy for a
 * values edit and a helm command (manual.effort) before the change applies.
 */
export class Progression {
  private taken = 0;
  private lastStepMs: number;

  constructor(
    private readonly steps: ManualSteps,
    releaseMs: number,
  ) {
    this.lastStepMs = releaseMs;
  }

  /** Whether the next step is due at `atMs`. */
  due(atMs: number): boolean {
    return atMs - this.lastStepMs >= this.steps.holdMs;
  }

  /**
   * Takes the next step: sleeps while the person edits values.yaml and types the command, then
   * applies it. Resolves true when the step was the promotion (the operator's watch is over).
   */
  async step(ctx: OperatorContext): Promise<boolean> {
    const { valuesEditS, helmCommandS } = ctx.effort;
    await ctx.clock.sleep((valuesEditS + helmCommandS) * 1000, ctx.signal);
    const weight = this.steps.weights[this.taken];
    this.taken++;
    this.lastStepMs = ctx.clock.now();
    if (weight === undefined) {
      await this.steps.promote();
      return true;
    }
    await this.steps.setCanaryWeight(weight);
    return false;
  }
}

/**
 * The manual process's parameters (beyond the operator's), for the report's operator table; with a
 * release train of `services` (`faulty` of them faulty), how one person handles them (docs/design.md §13).
 */
export function describeManualProcess(
  manual: ManualSettings,
  services = 1,
  faulty = 0,
): Record<string, string | number> {
  const p = manual.progression;
  const weights = p ? [manual.canaryWeight, ...stepsAfter(manual.canaryWeight, p.stepWeights)] : [manual.canaryWeight];
  const train: Record<string, string> =
    services > 1
      ? {
          services: `${services} (${faulty} faulty), released, looked at and stepped by one person one service at a time, in an order drawn per run; a look reads each service's panels at panelLookS per panel, one service after another`,
        }
      : {};
  return {
    ...train,
    progression: p
      ? `${weights.map((w) => `${w}%`).join(' → ')} → promote, hold ${p.holdS} s at each`
      : `${manual.canaryWeight}% until a rollback or the deadline`,
    editErrorRate: manual.editErrorRate,
    valuesEditS: manual.effort.valuesEditS,
    helmCommandS: manual.effort.helmCommandS,
    panelLookS: manual.effort.panelLookS,
    pageAcknowledgeS: manual.effort.pageAcknowledgeS,
  };
}
