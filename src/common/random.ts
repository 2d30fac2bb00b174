/**
 * Seeded randomness. Every random choice in a run (operator reaction times, Flagger's ticker
 * phase, bootstrap resamples) draws from a Random made from the run's seed, so a run is
 * reproducible from the seed written into runs.csv.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
}

/** mulberry32: small, fast, and good enough for simulation draws (not for cryptography). */
export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** Derives an independent seed for a named stream, so adding a stream does not shift the others. */
export function deriveSeed(seed: number, stream: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < stream.length; i++) {
    h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/** Standard normal draw (Box–Muller). */
export function normal(random: Random): number {
  let u = 0;
  while (u === 0) u = random.next();
  const v = random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Lognormal given its median and 90th percentile, the way people state reaction times
 * ("usually 45 s, rarely over 2 min"). sigma = ln(p90/median) / z(0.9).
 */
export function lognormalFromMedianP90(random: Random, median: number, p90: number): number {
  const Z90 = 1.2815515655446004;
  const sigma = Math.log(p90 / median) / Z90;
  return median * Math.exp(sigma * normal(random));
}

/** 0..n−1 in a random order (Fisher–Yates), drawn from `random`. */
export function shuffled(n: number, random: Random): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
