// Error metrics and timing statistics of the GPU check: plain functions over arrays, no I/O, so the unit
// tests import them directly (test/gpu/gpu-check.test.ts).

/**
 * ‖actual − expected‖₂ / ‖expected‖₂ in float64. NaN when either side holds a NaN or an infinity (so a
 * `≤ tolerance` test fails), 0 when both are all zeros, Infinity when only `expected` is.
 * @param {ArrayLike<number>} actual
 * @param {ArrayLike<number>} expected
 * @returns {number}
 */
export function relativeL2(actual, expected) {
  if (actual.length !== expected.length) {
    throw new RangeError(`relativeL2: ${actual.length} values compared with ${expected.length}`);
  }
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const d = actual[i] - e;
    diff += d * d;
    norm += e * e;
  }
  if (!Number.isFinite(diff) || !Number.isFinite(norm)) return NaN;
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}

/**
 * max |actual − expected| / max |expected|: the worst single element against the output's scale.
 * NaN when either side holds a non-finite value.
 * @param {ArrayLike<number>} actual
 * @param {ArrayLike<number>} expected
 * @returns {number}
 */
export function maxRelativeError(actual, expected) {
  if (actual.length !== expected.length) {
    throw new RangeError(`maxRelativeError: ${actual.length} values compared with ${expected.length}`);
  }
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!Number.isFinite(d)) return NaN;
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, d);
  }
  if (scale === 0) return worst === 0 ? 0 : Infinity;
  return worst / scale;
}

/**
 * The p-th percentile (0 ≤ p ≤ 100) by linear interpolation between closest ranks (numpy's default).
 * @param {readonly number[]} values
 * @param {number} p
 * @returns {number} NaN for an empty list
 */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (Math.min(Math.max(p, 0), 100) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/**
 * @param {readonly number[]} values
 * @returns {number}
 */
export function median(values) {
  return percentile(values, 50);
}

/**
 * Summary of per-iteration times in milliseconds.
 * @param {readonly number[]} times
 * @returns {{ iterations: number, medianMs: number, p90Ms: number, minMs: number, meanMs: number }}
 */
export function summarizeTimes(times) {
  const mean = times.length === 0 ? NaN : times.reduce((a, b) => a + b, 0) / times.length;
  return {
    iterations: times.length,
    medianMs: median(times),
    p90Ms: percentile(times, 90),
    minMs: times.length === 0 ? NaN : Math.min(...times),
    meanMs: mean,
  };
}

/**
 * Images per second at `batch` images per run taking `ms` milliseconds.
 * @param {number} batch
 * @param {number} ms
 * @returns {number}
 */
export function imagesPerSecond(batch, ms) {
  return ms > 0 ? (batch * 1000) / ms : NaN;
}
