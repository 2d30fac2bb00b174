/**
 * The standard normal distribution, to double precision.
 *
 * simple-statistics has `cumulativeStdNormalProbability` (a table rounded to 4 digits, z in steps
 * of 0.01) and `errorFunction` (absolute error ~1e-7, so 1 − erf loses every digit in the tails).
 * Neither gives a p-value like 1.2e-4 to the digits R prints, so this file computes Φ from its
 * Taylor series near 0 and from the Laplace continued fraction of the Mills ratio in the tails;
 * both are exact expansions with no fitted coefficients to get wrong.
 */
import { probit } from 'simple-statistics';

const INV_SQRT_2PI = 0.3989422804014327; // 1 / sqrt(2π)

/** Standard normal density φ(z). */
export function normalDensity(z: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
}

// Below this |z| the series is used; above it the continued fraction. At 3 the series sum is
// ~110 and its terms never exceed it by much (no cancellation), and the continued fraction
// converges within ~100 terms.
const SERIES_LIMIT = 3;

/** Φ(z) − 1/2 = φ(z) · Σ z^(2k+1) / (2k+1)!!  (Abramowitz & Stegun 26.2.11). */
function centralPart(z: number): number {
  const z2 = z * z;
  let term = z;
  let sum = z;
  for (let k = 1; k < 200; k++) {
    term *= z2 / (2 * k + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return normalDensity(z) * sum;
}

/**
 * Upper tail Q(x) = 1 − Φ(x) for x > 0, by the continued fraction
 * Q(x) = φ(x) / (x + 1/(x + 2/(x + 3/(x + …)))) (A&S 26.2.14), evaluated backwards.
 */
function upperTailFraction(x: number): number {
  let f = x;
  for (let k = 300; k >= 1; k--) f = x + k / f;
  return normalDensity(x) / f;
}

/** Φ(z) = P(Z ≤ z), accurate to ~1e-15 relative even far into the lower tail. */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (z === Infinity) return 1;
  if (z === -Infinity) return 0;
  if (Math.abs(z) < SERIES_LIMIT) return 0.5 + centralPart(z);
  return z < 0 ? upperTailFraction(-z) : 1 - upperTailFraction(z);
}

/** 1 − Φ(z) = P(Z > z), computed without the cancellation of `1 - normalCdf(z)`. */
export function normalUpperTail(z: number): number {
  return normalCdf(-z);
}

/**
 * The standard normal quantile Φ⁻¹(p), e.g. 1.959963984540054 for p = 0.975.
 * Starts from simple-statistics' `probit` (an approximation good to ~1e-3) and polishes it with
 * Newton steps on the accurate Φ above. Returns ∓Infinity at p = 0 / 1 and NaN outside [0, 1].
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return Number.NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (p === 0.5) return 0;
  // Solve in the lower tail and mirror, so Φ(z) − p never suffers cancellation near p = 1.
  const lower = Math.min(p, 1 - p);
  let z = probit(lower);
  if (!Number.isFinite(z) || z > 0) z = -1;
  for (let i = 0; i < 50; i++) {
    const step = (normalCdf(z) - lower) / normalDensity(z);
    z -= step;
    if (Math.abs(step) <= 1e-15 * Math.max(1, Math.abs(z))) break;
  }
  return p < 0.5 ? z : -z;
}
