/**
 * The parts of PromQL that Flagger's and the operators' queries use, evaluated the way the
 * Prometheus the project installs (2.42, see src/cluster/tools.ts) evaluates them
 * (docs/design.md §11). Times are scenario milliseconds, whole like Prometheus' timestamps.
 */

/** One scraped value of a series. */
export interface Sample {
  tMs: number;
  value: number;
}

/**
 * Whether a range selector `[W]` evaluated at `endMs` keeps a sample taken at `tMs`. Prometheus 2.x
 * selects the closed range [end − W, end]; 3.0 made it left-open (end − W, end]. With a scrape
 * interval equal to W, the closed range holds two samples only when the query runs exactly on a
 * scrape.
 */
export function inRange(tMs: number, endMs: number, windowMs: number): boolean {
  return tMs >= endMs - windowMs && tMs <= endMs;
}

/** The samples of a time-ordered series that a range selector keeps. */
export function selectRange(samples: readonly Sample[], endMs: number, windowMs: number): Sample[] {
  const startMs = endMs - windowMs;
  // Binary search for the first sample at or after the range start: series grow by one sample per
  // scrape, and queries only look at the last window.
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (samples[mid]!.tMs < startMs) lo = mid + 1;
    else hi = mid;
  }
  const out: Sample[] = [];
  for (let i = lo; i < samples.length && inRange(samples[i]!.tMs, endMs, windowMs); i++) out.push(samples[i]!);
  return out;
}

/**
 * rate() (per second) or increase() of a counter over the range [startMs, endMs], from the samples
 * the range selected; undefined when fewer than two samples (the series then drops out of the
 * result). As Prometheus 2.42's extrapolatedRate: last − first plus every value before a drop (a
 * counter reset), extrapolated towards each edge of the range, all the way when the sample nearest
 * that edge is within 1.1 average spacings of it, else by half a spacing; at the start never
 * further than where the counter would have been zero. (Prometheus 2.51 moved the zero-point limit
 * after the 1.1-spacing test; the answers differ when the zero point falls between half a spacing
 * and 1.1 spacings before the first sample.)
 */
export function extrapolatedRate(
  samples: readonly Sample[],
  startMs: number,
  endMs: number,
  perSecond: boolean,
): number | undefined {
  if (samples.length < 2) return undefined;
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  let increase = last.value - first.value;
  for (let i = 1; i < samples.length; i++) {
    if (samples[i]!.value < samples[i - 1]!.value) increase += samples[i - 1]!.value;
  }
  let toStartS = (first.tMs - startMs) / 1000;
  const toEndS = (endMs - last.tMs) / 1000;
  const sampledS = (last.tMs - first.tMs) / 1000;
  const spacingS = sampledS / (samples.length - 1);
  if (increase > 0 && first.value >= 0) {
    // A counter is never negative: going back further than its zero point would invent requests.
    const toZeroS = sampledS * (first.value / increase);
    if (toZeroS < toStartS) toStartS = toZeroS;
  }
  const thresholdS = spacingS * 1.1;
  const extendedS =
    sampledS + (toStartS < thresholdS ? toStartS : spacingS / 2) + (toEndS < thresholdS ? toEndS : spacingS / 2);
  const result = increase * (extendedS / sampledS);
  return perSecond ? result / ((endMs - startMs) / 1000) : result;
}

/** One bucket of a classic histogram: its upper bound (`le`) and the count at or below it. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * histogram_quantile over classic buckets, as Prometheus 2.42 computes it: NaN without a +Inf
 * bucket, with fewer than two buckets or no observations; counts made monotonic first (per-bucket
 * rates, extrapolated one by one, need not be); linear interpolation inside the bucket that holds
 * the rank, from 0 for the first bucket; the highest finite bound when the rank falls in +Inf.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  if (sorted.length === 0 || sorted[sorted.length - 1]!.le !== Infinity) return Number.NaN;
  let highest = -Infinity;
  const counts = sorted.map((b) => (highest = Math.max(highest, b.count)));
  if (sorted.length < 2) return Number.NaN;
  const observations = counts[counts.length - 1]!;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  let b = counts.findIndex((c, i) => i < counts.length - 1 && c >= rank);
  if (b < 0) b = counts.length - 1;
  if (b === counts.length - 1) return sorted[counts.length - 2]!.le;
  if (b === 0 && sorted[0]!.le <= 0) return sorted[0]!.le;
  let lower = 0;
  let inBucket = counts[b]!;
  if (b > 0) {
    lower = sorted[b - 1]!.le;
    inBucket -= counts[b - 1]!;
    rank -= counts[b - 1]!;
  }
  return lower + (sorted[b]!.le - lower) * (rank / inBucket);
}
