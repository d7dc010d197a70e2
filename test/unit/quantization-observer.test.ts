/**
 * The calibration observers: the |x| histogram (exact counts, exact re-binning when the range doubles) and
 * the thresholds of minmax, percentile and entropy, against values worked out by hand and, for entropy,
 * against a plain float64 re-implementation of TensorRT's `_compute_amax_entropy` written here.
 */
import { describe, expect, it } from 'vitest';
import { MagnitudeHistogram, entropyThreshold, histogramBins, percentileThreshold, thresholdOf, valueQuantization, weightScalesOf } from '../../lib/index.js';
import { rng } from '../helpers/helpers.js';

/** TensorRT's entropy calibration as pytorch-quantization writes it (numpy steps spelled out), float64. */
function referenceEntropyAmax(hist: readonly number[], edges: readonly number[], levels: number, startBin = 128): number {
  const bins = [...hist];
  bins[0] = bins[1]!;
  const divergences: number[] = [];
  const args: number[] = [];
  for (let i = startBin; i <= bins.length; i++) {
    // space = linspace(0, i, levels + 1); digitize(range(i), space) - 1, with integer edges g·i/levels.
    const group = (j: number) => {
      let g = 0;
      while (g + 1 <= levels && (g + 1) * i <= j * levels) g++;
      return g;
    };
    const digitized = Array.from({ length: i }, (_, j) => (bins[j] === 0 ? -1 : group(j)));
    const counts = new Array<number>(levels).fill(0);
    const members = new Array<number>(levels).fill(0);
    digitized.forEach((g, j) => {
      if (g >= 0) {
        counts[g]! += bins[j]!;
        members[g]! += 1;
      }
    });
    const candidate = digitized.map((g) => (g >= 0 ? counts[g]! / members[g]! : 0));
    const reference = bins.slice(0, i);
    reference[i - 1]! += bins.slice(i).reduce((a, b) => a + b, 0);
    const norm = (a: number[]) => {
      const s = a.reduce((x, y) => x + y, 0);
      return a.map((v) => v / s);
    };
    const p = norm(reference);
    const q = norm(candidate);
    let kl = 0;
    for (let j = 0; j < i; j++) {
      if (p[j] === 0) continue;
      kl = q[j] === 0 ? Infinity : kl + p[j]! * Math.log(p[j]! / q[j]!);
    }
    divergences.push(kl);
    args.push(i);
  }
  // Last argmin: numpy's argmin over the reversed array.
  let best = divergences.length - 1;
  for (let k = divergences.length - 1; k >= 0; k--) if (divergences[k]! < divergences[best]!) best = k;
  return edges[args[best]!]!;
}

describe('MagnitudeHistogram', () => {
  it('minmax keeps the exact largest |x| over batches', () => {
    const h = new MagnitudeHistogram(false);
    h.observe(Float32Array.of(0.5, -3.25, 2));
    h.observe(Float32Array.of(-1, 3));
    expect(h.absMax).toBe(3.25);
    expect(thresholdOf('minmax', h, 128, 99.99)).toBe(3.25);
    expect(h.counts.every((c) => c === 0)).toBe(true);
  });

  it('bins |x| over [0, just above the first batch max) and doubles the range by merging pairs, keeping every count exact', () => {
    const h = new MagnitudeHistogram();
    h.observe(Float32Array.of(-1, 0.25, 0.5, 0));
    expect(h.range).toBe(1 + 2 ** -16);
    expect(h.counts[histogramBins - 1]).toBe(1); // |−1|: the last bin
    expect(h.counts[511]).toBe(1); // 0.25·2048/(1 + 2⁻¹⁶) = 511.99…
    expect(h.counts[1023]).toBe(1);
    expect(h.counts[0]).toBe(1);
    h.observe(Float32Array.of(3, -2.5, 1.5));
    expect(h.range).toBe(4 * (1 + 2 ** -16));
    expect(h.absMax).toBe(3);
    // Each value now sits where a direct histogram over the final range puts it.
    const direct = new Float64Array(histogramBins);
    for (const v of [1, 0.25, 0.5, 0, 3, 2.5, 1.5]) direct[Math.floor((v * histogramBins) / h.range)]! += 1;
    expect([...h.counts]).toEqual([...direct]);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(7);
  });

  it('refuses NaN and infinity', () => {
    expect(() => new MagnitudeHistogram().observe(Float32Array.of(1, NaN))).toThrow(RangeError);
    expect(() => new MagnitudeHistogram().observe(Float32Array.of(Infinity))).toThrow(RangeError);
  });
});

describe('percentile', () => {
  it('is the upper edge of the bin where the cumulative count reaches the percentile, at most the max', () => {
    const h = new MagnitudeHistogram();
    h.observe(Float32Array.from({ length: 1000 }, (_, i) => (i % 2 ? -1 : 1) * (i + 1))); // |x| = 1..1000
    const range = 1000 * (1 + 2 ** -16);
    expect(h.range).toBe(range);
    // 99% = 990 values; 990 lies in bin floor(990·2048/range) = 2027, whose upper edge is 2028·range/2048.
    expect(percentileThreshold(h.counts, h.range, h.absMax, 99)).toBe((2028 * range) / 2048);
    expect(thresholdOf('percentile', h, 128, 99)).toBe((2028 * range) / 2048);
    // 100% (and anything whose bin is the last) is the largest |x| itself.
    expect(percentileThreshold(h.counts, h.range, h.absMax, 100)).toBe(1000);
    // 50%: 500 lies in bin 1023 (500·2048/range = 1023.98), upper edge 1024·range/2048.
    expect(percentileThreshold(h.counts, h.range, h.absMax, 50)).toBe((1024 * range) / 2048);
    // On a plain array whose bins are known: 3 values in bin 0, 1 in bin 2047.
    const counts = new Float64Array(2048);
    counts[0] = 3;
    counts[2047] = 1;
    expect(percentileThreshold(counts, 2048, 2047.5, 75)).toBe(1);
    expect(percentileThreshold(counts, 2048, 2047.5, 75.1)).toBe(2047.5);
  });
});

describe('entropy (TensorRT-style KL)', () => {
  /** A histogram with a Gaussian-like body and a sparse long tail, as post-ReLU activations have. */
  function syntheticHistogram(seed: number, bins: number): number[] {
    const random = rng(seed);
    const hist = new Array<number>(bins).fill(0);
    for (let k = 0; k < bins; k++) hist[k] = Math.round(4000 * Math.exp(-((k / (bins / 8)) ** 2)) + (random() < 0.02 ? 3 : 0));
    hist[0] = 90000; // the zeros of a ReLU
    hist[bins - 1] = 1;
    return hist;
  }

  for (const [seed, levels, bins] of [[1, 128, 2048], [2, 256, 2048], [3, 128, 700]] as const) {
    it(`matches a float64 re-implementation (${levels} levels, ${bins} bins)`, () => {
      const hist = syntheticHistogram(seed, bins);
      const range = 12.5;
      const edges = Array.from({ length: bins + 1 }, (_, k) => (k * range) / bins);
      const want = referenceEntropyAmax(hist, edges, levels);
      const got = entropyThreshold(Float64Array.from(hist), range, range, levels);
      expect(got).toBe(want);
      // It clips the sparse tail: the threshold is inside the range, beyond the body.
      expect(got).toBeLessThan(range);
      expect(got).toBeGreaterThan(range / 8);
    });
  }

  it('never exceeds the largest |x| and needs a histogram to search', () => {
    const hist = Float64Array.from({ length: 2048 }, (_, k) => (k < 1000 ? 10 : 0));
    expect(entropyThreshold(hist, 8, 3, 128)).toBeLessThanOrEqual(3);
    expect(entropyThreshold(new Float64Array(2048), 0, 0, 128)).toBe(0);
  });
});

describe('scales', () => {
  it('activation scales are threshold/255 for uint8 and threshold/127 for int8, rounded to float32', () => {
    expect(valueQuantization(6, 'uint8')).toEqual({ scale: Math.fround(6 / 255), dtype: 'uint8' });
    expect(valueQuantization(6, 'int8')).toEqual({ scale: Math.fround(6 / 127), dtype: 'int8' });
    // Never seen away from zero: any positive scale will do, 1 as onnxruntime.
    expect(valueQuantization(0, 'int8').scale).toBe(1);
  });

  it('weight scales are max|w|/127 per output channel, or the largest repeated', () => {
    const weight = Float32Array.of(1, -2, 0.5, 0.25, 0, 0, -127, 3);
    expect([...weightScalesOf({ weight, outChannels: 4 }, true)]).toEqual([2 / 127, 0.5 / 127, 1, 1].map(Math.fround));
    expect([...weightScalesOf({ weight, outChannels: 4 }, false)]).toEqual([1, 1, 1, 1]);
    expect([...weightScalesOf({ weight: Float32Array.of(1, -2, 0.5, 0.25), outChannels: 2 }, false)]).toEqual([2 / 127, 2 / 127].map(Math.fround));
  });
});
