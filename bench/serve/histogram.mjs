// @ts-check
/**
 * Latencies of a load test as a log-linear histogram (HdrHistogram's layout, written small): whole
 * microseconds, exact below 512 µs, above that 256 buckets per power of two, so a bucket is at most 1/256
 * of its value wide and a percentile read from it is within 0.2 % of the sample's own value (half a
 * bucket). Client processes each fill one and send it to the parent as sparse counts; histograms merge by
 * adding counts, which sorted samples would not do without shipping every sample.
 * @module
 */

/** Sub-buckets per power of two (2^8): the precision. */
const SUB_BUCKETS = 256;
const SUB_BITS = 8;
/** Values up to 2^40 µs (12 days) get their own bucket; longer ones land in the last. */
const MAX_SHIFT = 40 - SUB_BITS - 1;
const BUCKETS = SUB_BUCKETS * (MAX_SHIFT + 2);

/**
 * The bucket of `micros` (a non-negative integer): the value itself below 2·SUB_BUCKETS, else the top
 * SUB_BITS + 1 bits of it, offset by how far it was shifted.
 * @param {number} micros
 */
export function bucketOf(micros) {
  if (micros < 2 * SUB_BUCKETS) return micros;
  const shift = Math.min(Math.floor(Math.log2(micros)) - SUB_BITS, MAX_SHIFT);
  // log2 of a float can round up across a power of two: correct it from the integer side.
  const s = micros / 2 ** shift >= 2 * SUB_BUCKETS ? shift + 1 : shift;
  if (s > MAX_SHIFT) return BUCKETS - 1;
  return SUB_BUCKETS * (s + 1) + (Math.floor(micros / 2 ** s) - SUB_BUCKETS);
}

/**
 * The values a bucket holds, `[low, high)` in microseconds.
 * @param {number} index
 * @returns {[number, number]}
 */
export function bucketRange(index) {
  if (index < 2 * SUB_BUCKETS) return [index, index + 1];
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const low = (SUB_BUCKETS + (index % SUB_BUCKETS)) * 2 ** shift;
  return [low, low + 2 ** shift];
}

/** @typedef {{ count: number; min: number; max: number; sumMs: number; buckets: [number, number][] }} HistogramJson */

/** Request latencies in milliseconds; see the module comment for the precision. */
export class LatencyHistogram {
  constructor() {
    this.counts = new Float64Array(BUCKETS);
    this.count = 0;
    /** Exact extremes and sum, in milliseconds. */
    this.min = Infinity;
    this.max = -Infinity;
    this.sumMs = 0;
  }

  /** @param {number} ms a latency (negative values are clock noise and count as 0) */
  record(ms) {
    const value = Math.max(0, ms);
    this.counts[bucketOf(Math.round(value * 1000))]++;
    this.count++;
    this.sumMs += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** @param {LatencyHistogram} other adds its samples to this one */
  merge(other) {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sumMs += other.sumMs;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    return this;
  }

  /**
   * The q-quantile (0 < q ≤ 1) by nearest rank: the value of the ⌈q·n⌉-th smallest sample, read as the
   * middle of its bucket (clamped to the exact extremes). NaN when empty.
   * @param {number} q
   */
  quantile(q) {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const [low, high] = bucketRange(i);
        const middle = i < 2 * SUB_BUCKETS ? low : (low + high - 1) / 2;
        return Math.min(this.max, Math.max(this.min, middle / 1000));
      }
    }
    return this.max;
  }

  /** The mean in milliseconds (NaN when empty). */
  mean() {
    return this.count === 0 ? NaN : this.sumMs / this.count;
  }

  /** p50, p90, p99, max and mean in milliseconds. */
  summary() {
    return { p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99), max: this.count ? this.max : NaN, mean: this.mean() };
  }

  /** Sparse form for a process message: only the buckets that hold samples. @returns {HistogramJson} */
  toJSON() {
    /** @type {[number, number][]} */
    const buckets = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] > 0) buckets.push([i, this.counts[i]]);
    return { count: this.count, min: this.min, max: this.max, sumMs: this.sumMs, buckets };
  }

  /** @param {HistogramJson} json */
  static fromJSON(json) {
    const h = new LatencyHistogram();
    for (const [i, n] of json.buckets) {
      if (!Number.isInteger(i) || i < 0 || i >= BUCKETS) throw new RangeError(`histogram bucket ${i} is outside 0..${BUCKETS - 1}`);
      h.counts[i] = n;
    }
    h.count = json.count;
    h.sumMs = json.sumMs;
    // JSON has no Infinity: an empty histogram's extremes come back as null.
    h.min = json.min ?? Infinity;
    h.max = json.max ?? -Infinity;
    return h;
  }
}
