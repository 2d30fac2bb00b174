import type { Readable, Writable } from 'node:stream';
import type { OperatorSettings } from '../scenario/schema.ts';
import { AlertOperator } from './alert.ts';
import { DashboardOperator } from './dashboard.ts';
import { HumanOperator } from './human.ts';
import type { Operator } from './types.ts';

/** The one place that picks an operator implementation from the scenario. */
export function createOperator(
  settings: OperatorSettings,
  io: { input: Readable; output: Writable; instructions: () => string },
): Operator {
  switch (settings.kind) {
    case 'dashboard':
      return new DashboardOperator(settings);
    case 'alert':
      return new AlertOperator(settings);
    case 'human':
      return new HumanOperator(io.input, io.output, io.instructions);
  }
}
