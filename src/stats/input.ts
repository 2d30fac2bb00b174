/**
 * Input checks shared by the stats functions. A NaN that slips into a sort or a rank silently
 * reorders everything after it, so a non-finite value is a programming error (for example a
 * censored run's missing MTTR passed as NaN) and is reported with its index instead.
 */
export function assertFiniteValues(fn: string, name: string, values: readonly number[]): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new RangeError(
        `${fn}: ${name}[${i}] is ${String(v)}; every value must be a finite number ` +
          '(filter out runs without a measurement, or use kaplanMeier for censored ones)',
      );
    }
  }
}

/** Validates a confidence level, e.g. 0.95. */
export function assertLevel(fn: string, level: number): void {
  if (!(level > 0 && level < 1)) {
    throw new RangeError(`${fn}: level ${level} must be between 0 and 1 (exclusive), e.g. 0.95`);
  }
}

/** Ascending numeric sort of a copy (Array#sort without a comparator sorts as strings). */
export function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}
