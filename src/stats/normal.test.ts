import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalCdf, normalDensity, normalQuantile, normalUpperTail } from './normal.ts';

/** |actual − expected| ≤ tolerance · |expected|. */
function expectRelative(actual: number, expected: number, tolerance = 1e-12): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * Math.abs(expected));
}

describe('normalCdf', () => {
  // Reference values: R 4.x `print(pnorm(z), digits = 15)`; they agree with Abramowitz & Stegun
  // (1964) table 26.1 to the digits printed there.
  it.each([
    [0, 0.5],
    [-1, 0.158655253931457],
    [-1.959963984540054, 0.025],
    [-3, 0.00134989803163009],
    [-5, 2.86651571879194e-7],
    [-10, 7.61985302416047e-24],
    [1, 0.841344746068543],
  ])('Φ(%s) = %s', (z, expected) => {
    expectRelative(normalCdf(z), expected, 1e-13);
  });

  it('keeps full relative precision in the upper tail', () => {
    expectRelative(normalUpperTail(5), 2.86651571879194e-7, 1e-13);
    expectRelative(normalUpperTail(8), 6.22096057427178e-16, 1e-12);
  });

  it('agrees with a numerical integral of the density on both sides of the series/fraction switch', () => {
    const simpson = (a: number, b: number, steps: number) => {
      const h = (b - a) / steps;
      let sum = 0;
      for (let i = 0; i <= steps; i++) {
        const w = i === 0 || i === steps ? 1 : i % 2 ? 4 : 2;
        sum += w * normalDensity(a + i * h);
      }
      return (sum * h) / 3;
    };
    for (const z of [-2.999, -3, -3.001, -4.5]) expectRelative(normalCdf(z), simpson(-40, z, 200_000), 1e-10);
  });

  it('handles infinities and NaN', () => {
    expect(normalCdf(Infinity)).toBe(1);
    expect(normalCdf(-Infinity)).toBe(0);
    expect(normalCdf(Number.NaN)).toBeNaN();
  });

  it('is monotone and symmetric (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -30, max: 30, noNaN: true }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        (z, dz) => {
          expect(normalCdf(z + dz)).toBeGreaterThanOrEqual(normalCdf(z));
          expect(normalCdf(z) + normalCdf(-z)).toBeCloseTo(1, 14);
        },
      ),
    );
  });
});

describe('normalQuantile', () => {
  // R: qnorm(0.975), qnorm(0.95), qnorm(0.5), qnorm(1e-10)
  it.each([
    [0.975, 1.95996398454005],
    [0.025, -1.95996398454005],
    [0.95, 1.64485362695147],
    [1e-10, -6.36134090240406],
  ])('Φ⁻¹(%s) = %s', (p, expected) => {
    expectRelative(normalQuantile(p), expected, 1e-13);
  });

  it('returns 0, ±Infinity and NaN at the edges', () => {
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(1.5)).toBeNaN();
  });

  it('inverts normalCdf (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-12, max: 1 - 1e-12, noNaN: true }), (p) => {
        const z = normalQuantile(p);
        const back = p < 0.5 ? normalCdf(z) : normalUpperTail(z);
        expectRelative(back, p < 0.5 ? p : 1 - p, 1e-9);
      }),
    );
  });
});
