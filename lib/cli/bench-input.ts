/**
 * The benchmark's input: reproducible pixels that every engine gets, written into our input in the dtype and
 * layout asked for.
 * @module
 */
import { floatToHalf, type Tensor } from '../index.js';

/** `length` values in about −1..1 from a fixed LCG seeded with `seed`, without touching the model's generator. */
export function randomInput(length: number, seed: number): Float32Array {
  const data = new Float32Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return data;
}

/**
 * `values` (NCHW, about −1..1) into `x` in its dtype and layout: pixels 0..255 for uint8, halves for float16.
 * Element i of `values` lands at the same image, channel and pixel of `x`.
 */
export function fillInput(x: Tensor, values: Float32Array): void {
  const [n, a, b, c] = x.shape as [number, number, number, number];
  const [channels, height, width] = x.layout === 'nhwc' ? [c, a, b] : [a, b, c];
  const data = x.data as Float32Array | Uint16Array | Uint8Array;
  for (let image = 0; image < n; image++)
    for (let k = 0; k < channels; k++)
      for (let p = 0; p < height * width; p++) {
        const source = (image * channels + k) * height * width + p;
        const target = x.layout === 'nhwc' ? (image * height * width + p) * channels + k : source;
        const v = values[source]!;
        data[target] = x.dtype === 'uint8' ? Math.round((v + 1) * 127.5) : x.dtype === 'float16' ? floatToHalf(v) : v;
      }
}

/** ‖actual − reference‖₂ / ‖reference‖₂ in float64 (0 when both are zero, Infinity when only the reference is). */
export function relativeL2(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  if (actual.length !== reference.length) throw new RangeError(`relativeL2: ${actual.length} values against ${reference.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = actual[i]! - reference[i]!;
    diff += d * d;
    norm += reference[i]! * reference[i]!;
  }
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}
