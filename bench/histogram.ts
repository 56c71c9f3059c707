// Latency histogram: log-linear buckets (64 per power of two) over microseconds,
// so every percentile is within ~1.6% of the true value at any scale, in constant
// memory, however many samples a run records.

const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** Up to 2^40 µs (~12 days): nothing a bench run waits for is longer. */
const MAGNITUDES = 40;

export interface Percentiles {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

export class Histogram {
  private readonly counts = new Float64Array((MAGNITUDES + 1) * SUB_BUCKETS);
  private total = 0;
  private sumUs = 0;
  private maxUs = 0;

  recordUs(us: number): void {
    const v = Math.max(0, Math.round(us));
    this.counts[bucketOf(v)]!++;
    this.total++;
    this.sumUs += v;
    if (v > this.maxUs) this.maxUs = v;
  }

  count(): number {
    return this.total;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sumUs += other.sumUs;
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  /** The value at quantile q (0..1), in µs: the upper edge of the bucket that holds it, capped by the maximum. */
  quantileUs(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdgeOf(i), this.maxUs);
    }
    return this.maxUs;
  }

  percentiles(): Percentiles {
    const ms = (us: number): number => Math.round(us) / 1000;
    return {
      count: this.total,
      p50Ms: ms(this.quantileUs(0.5)),
      p90Ms: ms(this.quantileUs(0.9)),
      p99Ms: ms(this.quantileUs(0.99)),
      p999Ms: ms(this.quantileUs(0.999)),
      maxMs: ms(this.maxUs),
      meanMs: this.total === 0 ? 0 : ms(this.sumUs / this.total),
    };
  }
}

/** Values below 64 µs have a bucket each; above, 64 buckets per power of two. */
function bucketOf(v: number): number {
  if (v < SUB_BUCKETS) return v;
  const magnitude = Math.min(MAGNITUDES, Math.floor(Math.log2(v)) - SUB_BUCKET_BITS + 1);
  const sub = Math.floor(v / 2 ** (magnitude - 1)) - SUB_BUCKETS;
  return magnitude * SUB_BUCKETS + Math.min(SUB_BUCKETS - 1, sub);
}

function upperEdgeOf(bucket: number): number {
  const magnitude = Math.floor(bucket / SUB_BUCKETS);
  const sub = bucket % SUB_BUCKETS;
  if (magnitude === 0) return sub;
  return (SUB_BUCKETS + sub + 1) * 2 ** (magnitude - 1) - 1;
}
