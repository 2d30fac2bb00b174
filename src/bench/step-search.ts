/**
 * The capacity search: run a load step at each rate in ascending order and stop at the first
 * that misses. The figure is the last rate that passed, so it is always a rate that was shown to
 * work, never an interpolation. Bounded in count (the list of rates) and in time (a budget
 * checked before each step), and stoppable through a signal.
 */

export interface Step<T> {
  rate: number;
  result: T;
  pass: boolean;
}

export interface StepSearchResult<T> {
  steps: Step<T>[];
  /** Highest rate that passed before the first miss; undefined when the first step missed. */
  lastPass: number | undefined;
  /** The rate that missed; undefined when every rate passed (the ceiling is above the list). */
  firstMiss: number | undefined;
  /** Why the search stopped early, when it did ('time budget', the signal's reason). */
  stoppedEarly?: string;
}

export interface StepSearchOptions<T> {
  rates: readonly number[];
  runStep: (rate: number) => Promise<T>;
  passes: (result: T, rate: number) => boolean;
  /** Wall ms the whole search may take; a step is not started once it is spent. */
  budgetMs: number;
  signal?: AbortSignal;
  now?: () => number;
}

export async function searchSteps<T>(options: StepSearchOptions<T>): Promise<StepSearchResult<T>> {
  const now = options.now ?? (() => performance.now());
  const deadline = now() + options.budgetMs;
  const rates = [...options.rates].sort((a, b) => a - b);
  const steps: Step<T>[] = [];
  let lastPass: number | undefined;
  for (const rate of rates) {
    options.signal?.throwIfAborted();
    if (now() >= deadline) return { steps, lastPass, firstMiss: undefined, stoppedEarly: 'time budget' };
    const result = await options.runStep(rate);
    const pass = options.passes(result, rate);
    steps.push({ rate, result, pass });
    if (!pass) return { steps, lastPass, firstMiss: rate };
    lastPass = rate;
  }
  return { steps, lastPass, firstMiss: undefined };
}
