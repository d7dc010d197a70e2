/**
 * Seedable random numbers for parameter initialisation: xoshiro128** 1.1 (Blackman & Vigna), its
 * 128-bit state filled from the seed by splitmix64, as its authors recommend. Normal samples come from
 * the Box–Muller transform.
 *
 * The streams are not PyTorch's (no JavaScript library reproduces torch's generator bit for bit); what
 * matters is that the distributions are PyTorch's and that a seed makes a model reproducible.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { invalidArgument } from './errors.js';

const MASK64 = (1n << 64n) - 1n;
const TWO_POW_53 = 9007199254740992;

/** A seed: a non-negative safe integer, or a bigint up to 2^64 - 1. */
export type Seed = number | bigint;

function toSeed(seed: unknown): bigint {
  if (typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) return BigInt(seed);
  if (typeof seed === 'bigint' && seed >= 0n && seed <= MASK64) return seed;
  throw invalidArgument('a non-negative safe integer or a bigint below 2^64', 'seed', seed);
}

function randomSeed(): bigint {
  return randomBytes(8).readBigUInt64LE();
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A random number generator (PyTorch's `torch.Generator`). Pass one as the `generator` option of a
 * layer or model factory to make its initialisation reproducible independently of other code.
 */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private seedValue = 0n;
  /** Box–Muller yields normals in pairs; the second waits here (NaN when none is waiting). */
  private spareNormal = NaN;
  /** Raw draws for the bulk fills. */
  private readonly scratch = new Uint32Array(8192);

  /** A generator seeded with `seed`, or from the operating system's entropy when it is omitted. */
  constructor(seed?: Seed) {
    this.manualSeed(seed === undefined ? randomSeed() : seed);
  }

  /** Restarts the stream from `seed` (PyTorch's `manual_seed`). Returns this generator. */
  manualSeed(seed: Seed): this {
    const value = toSeed(seed);
    let x = value;
    const splitmix64 = (): bigint => {
      x = (x + 0x9e3779b97f4a7c15n) & MASK64;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
      return z ^ (z >> 31n);
    };
    const a = splitmix64();
    const b = splitmix64();
    this.s0 = Number(a & 0xffffffffn) | 0;
    this.s1 = Number(a >> 32n) | 0;
    this.s2 = Number(b & 0xffffffffn) | 0;
    this.s3 = Number(b >> 32n) | 0;
    this.seedValue = value;
    this.spareNormal = NaN;
    return this;
  }

  /** The seed this stream started from (PyTorch's `initial_seed`). */
  initialSeed(): bigint {
    return this.seedValue;
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 = s1 ^ this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  random(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / TWO_POW_53;
  }

  /** A uniform double in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /** A normal sample with the given mean and standard deviation. */
  normal(mean = 0, std = 1): number {
    let z = this.spareNormal;
    if (Number.isNaN(z)) {
      const pair = this.normalPair();
      z = pair[0];
      this.spareNormal = pair[1];
    } else {
      this.spareNormal = NaN;
    }
    return mean + std * z;
  }

  /**
   * Fills `out` with uniform samples in [low, high) and returns it (PyTorch's `uniform_`): the same
   * values, in order, as that many calls of {@link Generator.uniform}.
   */
  fillUniform(out: Float32Array, low: number, high: number): Float32Array {
    const span = high - low;
    const bits = this.scratch;
    for (let start = 0; start < out.length; start += bits.length / 2) {
      const count = Math.min(bits.length / 2, out.length - start);
      this.fillBits(bits, 2 * count);
      for (let i = 0; i < count; i++) {
        out[start + i] = low + span * (((bits[2 * i]! >>> 5) * 67108864 + (bits[2 * i + 1]! >>> 6)) / TWO_POW_53);
      }
    }
    return out;
  }

  /**
   * Fills `out` with normal samples and returns it (PyTorch's `normal_`). Samples are made in pairs,
   * as {@link Generator.normal} makes them, but a bulk fill neither uses nor keeps the spare one that
   * `normal()` holds back: an even-length fill gives the values of that many `normal()` calls made
   * from a generator with none waiting.
   */
  fillNormal(out: Float32Array, mean: number, std: number): Float32Array {
    const bits = this.scratch;
    const pairs = Math.floor(out.length / 2);
    // Each pair takes two 53-bit uniforms, four 32-bit draws.
    for (let start = 0; start < pairs; start += bits.length / 4) {
      const count = Math.min(bits.length / 4, pairs - start);
      this.fillBits(bits, 4 * count);
      for (let i = 0; i < count; i++) {
        const u1 = ((bits[4 * i]! >>> 5) * 67108864 + (bits[4 * i + 1]! >>> 6)) / TWO_POW_53;
        const u2 = ((bits[4 * i + 2]! >>> 5) * 67108864 + (bits[4 * i + 3]! >>> 6)) / TWO_POW_53;
        const radius = Math.sqrt(-2 * Math.log(1 - u1));
        const angle = 2 * Math.PI * u2;
        out[2 * (start + i)] = mean + std * (radius * Math.cos(angle));
        out[2 * (start + i) + 1] = mean + std * (radius * Math.sin(angle));
      }
    }
    if (out.length % 2 === 1) out[out.length - 1] = mean + std * this.normalPair()[0];
    return out;
  }

  /** The next `count` outputs of {@link Generator.nextUint32} into `out`, with the state kept in locals (fast). */
  private fillBits(out: Uint32Array, count: number): void {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let i = 0; i < count; i++) {
      out[i] = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  private normalPair(): [number, number] {
    // 1 - random() lies in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.random()));
    const angle = 2 * Math.PI * this.random();
    return [radius * Math.cos(angle), radius * Math.sin(angle)];
  }
}

let processGenerator: Generator | undefined;

/** The process-wide generator used when no `generator` option is given; seeded from entropy until {@link manualSeed}. */
export function defaultGenerator(): Generator {
  processGenerator ??= new Generator();
  return processGenerator;
}

/** Seeds the process-wide generator (PyTorch's `torch.manual_seed`) and returns it. */
export function manualSeed(seed: Seed): Generator {
  return defaultGenerator().manualSeed(seed);
}

/** The generator to use: the one given, or the process-wide one. Rejects anything else. @internal */
export function resolveGenerator(generator: unknown, name = 'generator'): Generator {
  if (generator === undefined || generator === null) return defaultGenerator();
  if (!(generator instanceof Generator)) throw invalidArgument('a Generator', name, generator);
  return generator;
}
