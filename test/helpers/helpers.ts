/**
 * Shared test helpers: seeded random data and error metrics.
 */
import type { Module } from '../../lib/nn/module.js';
import type { BatchNorm2d } from '../../lib/nn/batchnorm.js';

/** The `code` of the error `f` throws, or undefined when it does not throw. */
export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

/** A tiny seeded PRNG (mulberry32), independent of the library's own generator. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** ‖actual − expected‖₂ / ‖expected‖₂ (NaN anywhere counts as infinite error; ‖actual‖₂ when expected is 0). */
export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!;
    diff += d * d;
    norm += expected[i]! * expected[i]!;
  }
  if (Number.isNaN(diff)) return Infinity;
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

/** max |actual − expected| / max |expected|: the error relative to the output's scale. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    const d = Math.abs(actual[i]! - expected[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  return scale === 0 ? diff : diff / scale;
}

/**
 * Gives every BatchNorm of a module non-trivial statistics and affine parameters, so that folding
 * BN into the convs is really exercised (torchvision's init makes BN nearly the identity).
 */
export function randomizeBatchNorms(module: Module, seed: number): void {
  const r = rng(seed);
  for (const [, m] of module.namedModules()) {
    if (m.constructor.name !== 'BatchNorm2d') continue;
    const bn = m as unknown as BatchNorm2d;
    const fill = (t: { data: unknown }, lo: number, hi: number) => {
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * r();
    };
    fill(bn.weight, 0.5, 1.5);
    fill(bn.bias, -0.2, 0.2);
    fill(bn.runningMean, -0.2, 0.2);
    fill(bn.runningVar, 0.5, 2);
  }
  module.markWeightsChanged();
}

/** Index of the largest of `classes` values per row. */
export function argmaxRows(logits: ArrayLike<number>, classes: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < logits.length / classes; r++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[r * classes + k]! > logits[r * classes + best]!) best = k;
    out.push(best);
  }
  return out;
}
