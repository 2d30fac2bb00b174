import { Readable, Writable } from 'node:stream';
import type { OperatorSettings, SloSettings } from '../scenario/schema.ts';
import { AlertOperator } from './alert.ts';
import { DashboardOperator } from './dashboard.ts';
import { HumanOperator } from './human.ts';
import type { Operator } from './types.ts';

/**
 * Makes the manual arm's operator of one run from its scenario's settings and service level (the
 * dashboard's latency panel draws its threshold at the SLO's latency limit).
 */
export type OperatorFactory = (settings: OperatorSettings, slo: SloSettings, instructions: () => string) => Operator;

/** The one place that picks an operator implementation from the scenario. */
export function createOperator(
  settings: OperatorSettings,
  slo: SloSettings,
  io: { input: Readable; output: Writable; instructions: () => string },
): Operator {
  switch (settings.kind) {
    case 'dashboard':
      return new DashboardOperator(settings, slo.latencyMs);
    case 'alert':
      return new AlertOperator(settings);
    case 'human':
      return new HumanOperator(io.input, io.output, io.instructions);
  }
}

/** The operators of an experiment: a human operator (if a scenario asks for one) reads `input`, writes `output`. */
export function operatorFactory(io: { input: Readable; output: Writable }): OperatorFactory {
  return (settings, slo, instructions) => createOperator(settings, slo, { ...io, instructions });
}

/**
 * The operators of an experiment run inside another program (benchmarks, fidelity, tests), with
 * nobody at the keyboard: a human operator reads an empty input, and what it prints goes nowhere.
 */
export function unattendedOperators(): OperatorFactory {
  return operatorFactory({
    input: Readable.from([]),
    output: new Writable({ write: (_chunk, _encoding, done) => done() }),
  });
}
