/**
 * A seeded uniform source for the injected error draw, so FAULT_ERROR_RATE=0.05 with a given
 * FAULT_SEED fails the same requests in every run. Same algorithm as the harness's
 * src/common/random.ts (mulberry32), kept here so the app bundle depends on nothing outside
 * faulty-app/.
 */
export function createSeededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
