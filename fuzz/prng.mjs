/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) so that every fuzzing run is reproducible
 * from its seed: the same seed and corpus give the same inputs in the same order.
 * @module
 */

/** Mixes a 32-bit value (splitmix32's finaliser); used to derive independent seeds. */
export function mix32(x) {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Derives a 32-bit seed from a base seed and a label (the target's name), so targets get distinct streams. */
export function deriveSeed(seed, label) {
  let h = mix32(seed >>> 0);
  for (let i = 0; i < label.length; i++) h = mix32(h ^ label.charCodeAt(i));
  return h;
}

/** A seeded random source: `u32()`, `below(n)`, `chance(p)`, `pick(array)`. */
export class Random {
  constructor(seed) {
    this.a = mix32(seed);
    this.b = mix32(this.a);
    this.c = mix32(this.b);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }
  /** A uniform unsigned 32-bit integer (sfc32). */
  u32() {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** A uniform integer in [0, n) for n ≥ 1. */
  below(n) {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }
  /** True with probability p. */
  chance(p) {
    return this.u32() / 0x1_0000_0000 < p;
  }
  /** A uniformly chosen element of a non-empty array. */
  pick(items) {
    return items[this.below(items.length)];
  }
}
