/**
 * A fixed-size histogram of non-negative durations in milliseconds, cheap enough to record every
 * request's send lag at thousands per second: one Math.log and one array increment per sample,
 * and a constant 3.2 KB of memory however long the run.
 *
 * Buckets are geometric (each 5% wider than the one before, from 10 µs up to about 47 minutes),
 * so a quantile is reported as the upper edge of its bucket: at most 5% above the true value, and
 * never above the largest sample seen.
 */
export class LagHistogram {
  private static readonly minMs = 0.01;
  private static readonly ratio = 1.05;
  private static readonly logRatio = Math.log(LagHistogram.ratio);
  private static readonly bucketCount = 400;

  private readonly counts = new Float64Array(LagHistogram.bucketCount);
  private total = 0;
  private sumMs = 0;
  private largestMs = 0;

  /** Records one sample; negative values (a clock read a hair early) count as 0. */
  record(ms: number): void {
    const v = Math.max(ms, 0);
    this.total++;
    this.sumMs += v;
    if (v > this.largestMs) this.largestMs = v;
    this.counts[LagHistogram.bucketOf(v)]! += 1;
  }

  get count(): number {
    return this.total;
  }

  get maxMs(): number {
    return this.largestMs;
  }

  get meanMs(): number {
    return this.total === 0 ? 0 : this.sumMs / this.total;
  }

  /** The q-quantile (0 < q ≤ 1), or 0 when nothing was recorded. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(LagHistogram.upperEdgeOf(i), this.largestMs);
    }
    return this.largestMs;
  }

  private static bucketOf(v: number): number {
    if (v <= LagHistogram.minMs) return 0;
    const i = Math.ceil(Math.log(v / LagHistogram.minMs) / LagHistogram.logRatio);
    return i < LagHistogram.bucketCount ? i : LagHistogram.bucketCount - 1;
  }

  private static upperEdgeOf(bucket: number): number {
    return bucket === LagHistogram.bucketCount - 1
      ? Number.POSITIVE_INFINITY
      : LagHistogram.minMs * LagHistogram.ratio ** bucket;
  }
}
