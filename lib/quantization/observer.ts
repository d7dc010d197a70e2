/**
 * Activation observers of post-training calibration: what they keep of every value a conv writes over the
 * calibration batches, and the clipping threshold each {@link CalibrationMethod} picks from it. Every
 * threshold is a magnitude `t` (symmetric quantization, zero point 0): the value is quantized on
 * [−t, t] (`int8`) or [0, t] (`uint8`, after a ReLU).
 *
 * - `minmax`: the largest |x| seen.
 * - `percentile`: the |x| below which `percentile` % of the observed magnitudes fall, read from a
 *   histogram of |x| (the upper edge of the bin where the cumulative count reaches it), at most the largest |x|.
 * - `entropy`: TensorRT's KL-divergence calibration (Migacz, "8-bit Inference with TensorRT", GTC 2017,
 *   as NVIDIA's pytorch-quantization computes it): for each candidate threshold bin i ≥ 128 of the |x|
 *   histogram, the reference distribution is bins [0, i) with everything above added to the last one, the
 *   candidate merges those bins into `levels` equal groups (each group's count spread evenly over its
 *   non-empty bins), and the threshold is the upper edge of the last i with the smallest KL(reference ‖ candidate).
 *   `levels` is 128 for `int8` and 256 for `uint8`. onnxruntime's default "entropy" is not this: with its
 *   default bins it has a single candidate and equals minmax.
 *
 * The histogram has {@link histogramBins} bins over [0, range); range starts just above the first batch's
 * largest |x| and doubles (merging bins in pairs, which keeps every count exact) whenever a later batch goes beyond it.
 * @module
 */
import type { CalibrationMethod } from '../nn/quantization.js';

/** Bins of the |x| histogram (TensorRT's and onnxruntime's default). */
export const histogramBins = 2048;

/** The first candidate bin of the entropy search (TensorRT's `start_bin`). */
export const entropyStartBin = 128;

/** The histogram of |x| over [0, range] in {@link histogramBins} equal bins, and the largest |x| seen. */
export class MagnitudeHistogram {
  readonly counts = new Float64Array(histogramBins);
  /** Upper edge of the last bin; 0 until a non-zero value is seen. */
  range = 0;
  /** The largest |x| seen. */
  absMax = 0;

  /** @param binned false to keep only {@link absMax} (all `minmax` needs). */
  constructor(private readonly binned = true) {}

  /** Adds every element of `data`. @throws RangeError for NaN or ±Infinity (the float model overflowed). */
  observe(data: Float32Array): void {
    let batchMax = 0;
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]!);
      if (a > batchMax) batchMax = a;
      else if (!(a <= batchMax)) throw new RangeError('calibration: the float model produced NaN or infinity');
    }
    if (batchMax === Infinity) throw new RangeError('calibration: the float model produced NaN or infinity');
    if (batchMax > this.absMax) this.absMax = batchMax;
    if (!this.binned) return;
    if (batchMax === 0) {
      this.counts[0]! += data.length;
      return;
    }
    // Every value strictly below the range, so that no bin is clamped and doubling moves each count to
    // the bin a direct histogram over the new range would give it.
    if (this.range === 0) this.range = batchMax * (1 + 2 ** -16);
    while (batchMax >= this.range) this.doubleRange();
    const perUnit = histogramBins / this.range;
    const last = histogramBins - 1;
    for (let i = 0; i < data.length; i++) {
      const bin = Math.floor(Math.abs(data[i]!) * perUnit);
      this.counts[bin > last ? last : bin]! += 1;
    }
  }

  /** Doubles the range: bin k of the result holds old bins 2k and 2k + 1. */
  private doubleRange(): void {
    const half = histogramBins / 2;
    for (let k = 0; k < half; k++) this.counts[k] = this.counts[2 * k]! + this.counts[2 * k + 1]!;
    this.counts.fill(0, half);
    this.range *= 2;
  }

  /** The upper edge of bin `k`. */
  edge(k: number): number {
    return ((k + 1) * this.range) / histogramBins;
  }
}

/**
 * The smallest bin upper edge below which at least `percentile` % of the counts lie, at most `absMax`.
 * @param counts the histogram of |x| over [0, range].
 */
export function percentileThreshold(counts: Float64Array, range: number, absMax: number, percentile: number): number {
  let total = 0;
  for (const c of counts) total += c;
  if (total === 0 || range === 0) return absMax;
  const target = (percentile / 100) * total;
  let cumulative = 0;
  for (let k = 0; k < counts.length; k++) {
    cumulative += counts[k]!;
    if (cumulative >= target) return Math.min(absMax, ((k + 1) * range) / counts.length);
  }
  return absMax;
}

/** KL(p ‖ q) of two unnormalised distributions of equal length (natural log, as scipy's `entropy`). */
function klDivergence(p: Float64Array, pTotal: number, q: Float64Array, qTotal: number): number {
  let kl = 0;
  for (let j = 0; j < p.length; j++) {
    const pj = p[j]!;
    if (pj === 0) continue;
    const qj = q[j]!;
    if (qj === 0) return Infinity;
    const pn = pj / pTotal;
    kl += pn * Math.log(pn / (qj / qTotal));
  }
  return kl;
}

/**
 * TensorRT's entropy threshold over a histogram of |x| (see the module notes): the upper edge of the last
 * candidate bin count i (from {@link entropyStartBin} to all bins) with the least KL divergence, at most `absMax`.
 * @param levels quantization levels modelled: 128 for `int8`, 256 for `uint8`.
 */
export function entropyThreshold(histogram: Float64Array, range: number, absMax: number, levels: number): number {
  const n = histogram.length;
  if (range === 0 || n <= entropyStartBin) return absMax;
  const bins = Float64Array.from(histogram);
  bins[0] = bins[1]!; // the zeros of a ReLU would dominate every distribution
  let total = 0;
  for (const c of bins) total += c;
  if (total === 0) return absMax;
  const reference = new Float64Array(n);
  const candidate = new Float64Array(n);
  const groupSum = new Float64Array(levels);
  const groupNonEmpty = new Float64Array(levels);
  let best = Infinity;
  let bestBin = n;
  for (let i = entropyStartBin; i <= n; i++) {
    let outliers = 0;
    for (let j = i; j < n; j++) outliers += bins[j]!;
    const p = reference.subarray(0, i);
    p.set(bins.subarray(0, i));
    p[i - 1]! += outliers;
    groupSum.fill(0);
    groupNonEmpty.fill(0);
    for (let j = 0; j < i; j++) {
      if (bins[j] === 0) continue;
      const g = Math.floor((j * levels) / i);
      groupSum[g]! += bins[j]!;
      groupNonEmpty[g]! += 1;
    }
    const q = candidate.subarray(0, i);
    let qTotal = 0;
    for (let j = 0; j < i; j++) {
      const g = Math.floor((j * levels) / i);
      q[j] = bins[j] === 0 ? 0 : groupSum[g]! / groupNonEmpty[g]!;
      qTotal += q[j]!;
    }
    const kl = klDivergence(p, total, q, qTotal);
    if (kl <= best) {
      best = kl;
      bestBin = i;
    }
  }
  return Math.min(absMax, (bestBin * range) / n);
}

/** The threshold `method` picks from what `observed` kept (`percentile` in %, for that method). */
export function thresholdOf(method: CalibrationMethod, observed: MagnitudeHistogram, levels: number, percentile: number): number {
  switch (method) {
    case 'minmax':
      return observed.absMax;
    case 'percentile':
      return percentileThreshold(observed.counts, observed.range, observed.absMax, percentile);
    case 'entropy':
      return entropyThreshold(observed.counts, observed.range, observed.absMax, levels);
  }
}
