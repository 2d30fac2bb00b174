import { describe, expect, it } from 'vitest';
import { assertFiniteValues, assertLevel, sortedCopy } from './input.ts';

describe('input checks', () => {
  it('names the function, the array, the index and the value of a non-finite entry', () => {
    expect(() => assertFiniteValues('summarize', 'values', [1, 2, -Infinity])).toThrow(
      'summarize: values[2] is -Infinity; every value must be a finite number',
    );
    expect(() => assertFiniteValues('f', 'x', [undefined as unknown as number])).toThrow('f: x[0] is undefined');
    expect(() => assertFiniteValues('f', 'x', [])).not.toThrow();
  });

  it('accepts levels strictly between 0 and 1', () => {
    expect(() => assertLevel('f', 0.95)).not.toThrow();
    for (const bad of [0, 1, 95, Number.NaN]) expect(() => assertLevel('f', bad)).toThrow(RangeError);
  });

  it('sorts numerically, not as strings, without touching the input', () => {
    const values = [10, 9, 100, -1];
    expect(sortedCopy(values)).toEqual([-1, 9, 10, 100]);
    expect(values).toEqual([10, 9, 100, -1]);
  });
});
