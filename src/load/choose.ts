import type { Logger } from '../common/logger.ts';
import { BuiltinLoadGenerator, type LoadGenerator } from './builtin-generator.ts';
import { K6LoadGenerator } from './k6-generator.ts';

export const LoadChoices = ['builtin', 'k6', 'auto'] as const;
export type LoadChoice = (typeof LoadChoices)[number];

/** A load generator, and the name every run's journal line gives it. */
export interface ChosenLoad {
  generator: LoadGenerator;
  /** e.g. 'built-in', 'k6 v1.8.1', 'built-in (k6 not installed)'. */
  name: string;
}

/** How every journal names the built-in generator (its name may go on, e.g. '(k6 not installed)'). */
export const BUILTIN_NAME = 'built-in';

/** Whether a journaled generator name is the built-in one, which runs on the harness's event loop. */
export const isBuiltinLoad = (name: string): boolean => name.startsWith(BUILTIN_NAME);

/** The built-in generator (node:http, in the harness's process). */
export function builtinLoad(): ChosenLoad {
  return { generator: new BuiltinLoadGenerator(), name: BUILTIN_NAME };
}

/**
 * Picks the load generator once per experiment. `auto` falls back to the built-in generator when
 * k6 is not installed, and the name written into every run says so.
 */
export async function chooseLoad(choice: LoadChoice, logger: Logger): Promise<ChosenLoad> {
  if (choice === 'builtin') return builtinLoad();
  try {
    const k6 = await K6LoadGenerator.create();
    return { generator: k6, name: k6.describe() };
  } catch (err) {
    if (choice === 'k6') throw err;
    logger.warn(`Load: k6 is not installed (${(err as Error).message.split(';')[0]}); using the built-in generator.`);
    return { generator: new BuiltinLoadGenerator(), name: `${BUILTIN_NAME} (k6 not installed)` };
  }
}
