// Seeded data for the GPU check's inputs and weights (mulberry32): the same numbers on every machine, and
// independent of the library's own generator.

/**
 * A generator of uniform numbers in [0, 1).
 * @param {number} seed
 * @returns {() => number}
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` uniform float32 values in [lo, hi).
 * @param {number} n
 * @param {() => number} random
 * @param {number} [lo]
 * @param {number} [hi]
 * @returns {Float32Array}
 */
export function uniformArray(n, random, lo = -1, hi = 1) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * random();
  return out;
}
