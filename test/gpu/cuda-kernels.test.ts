// The CUDA backend's custom kernels, through their host emulation (`testing.cudaKernels`, which runs the
// very per-element functions the device runs): half and bfloat16 conversions against references written
// from the formats' definitions, and every kernel against a plain TS reference that repeats its float32
// arithmetic (Math.fround after every operation) on seeded random shapes. Each kernel result is compared
// exactly: the emulation and the reference do the same IEEE operations in the same order.
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../lib/runtime/native.js';
import { codeOf, rng } from '../helpers/helpers.js';

type Storage = 'float32' | 'float16' | 'bfloat16';
const storages: readonly Storage[] = ['float32', 'float16', 'bfloat16'];
type Pair = [number, number];

/** `testing.cudaKernels` (native/src/cuda/js_kernel_testing.cc). Data crosses as float32. */
interface CudaKernels {
  toHalf(values: Float32Array): Uint16Array;
  fromHalf(bits: Uint16Array): Float32Array;
  toBFloat16(values: Float32Array): Uint16Array;
  fromBFloat16(bits: Uint16Array): Float32Array;
  inputConvert(o: {
    src: Float32Array | Uint16Array | Uint8Array;
    layout?: 'nchw' | 'nhwc';
    n: number;
    c: number;
    h: number;
    w: number;
    storedChannels: number;
    storage: Storage;
    scale?: number;
    mean?: Float32Array;
    std?: Float32Array;
    /** The stem form's layout: space-to-depth cells, zero rows/columns before the input, the output's size. */
    block?: number;
    padding?: Pair;
    outH?: number;
    outW?: number;
  }): Float32Array;
  outputConvert(o: { src: Float32Array; n: number; c: number; h: number; w: number; storedChannels: number; storage: Storage }): Float32Array;
  epilogue(o: { y: Float32Array; bias: Float32Array; residual?: Float32Array; storedChannels: number; relu?: boolean; storage: Storage }): Float32Array;
  elementwise(o: { a: Float32Array; b?: Float32Array; relu?: boolean; storage: Storage }): Float32Array;
  maxpool(o: {
    src: Float32Array;
    n: number;
    c: number;
    h: number;
    w: number;
    kernel: Pair;
    stride?: Pair;
    padding?: Pair;
    dilation?: Pair;
    ceilMode?: boolean;
    storage: Storage;
  }): Float32Array;
  adaptiveAvgPool(o: { src: Float32Array; n: number; c: number; h: number; w: number; outH: number; outW: number; storage: Storage }): Float32Array;
}

const kernels = (loadNative() as unknown as { testing: { cudaKernels: CudaKernels } }).testing.cudaKernels;

// ---- references: the formats, from their definitions ------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number): number => ((f32[0] = x), u32[0]!);
const floatOf = (bits: number): number => ((u32[0] = bits >>> 0), f32[0]!);

/** e with 2^e ≤ a < 2^(e+1), for finite a > 0. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return e;
}

/** a / quantum rounded to the nearest integer, ties to even (a / quantum is exact: quantum is 2^k). */
function roundToEven(a: number, quantum: number): number {
  const r = a / quantum;
  const f = Math.floor(r);
  const rest = r - f;
  return rest > 0.5 || (rest === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/** The value of a half bit pattern: (−1)^s · 2^(e−15) · 1.m, subnormals 2^−24 · m. */
function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (e - 15) * (1 + m / 1024);
}

/** float → half bits, round to nearest even, for non-NaN x: the value on the half grid, then encoded. */
function halfBits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  if (a === Infinity) return sign | 0x7c00;
  // Below 2^−14 the grid step is 2^−24 (subnormals); above it 2^(e−10).
  const quantum = a < 2 ** -14 ? 2 ** -24 : 2 ** (exponentOf(a) - 10);
  const value = roundToEven(a, quantum) * quantum;
  if (value >= 65536) return sign | 0x7c00;
  if (value < 2 ** -14) return sign | (value / 2 ** -24);
  const e = exponentOf(value);
  return sign | ((e + 15) << 10) | (value / 2 ** e - 1) * 1024;
}

/** float → bfloat16 bits, round to nearest even, for non-NaN x: 8 significant bits, float's exponent range. */
function bfloat16Bits(x: number): number {
  const a = Math.abs(x);
  const signBits = bitsOf(x) & 0x80000000;
  if (a === 0 || a === Infinity) return bitsOf(x) >>> 16;
  const quantum = a < 2 ** -126 ? 2 ** -133 : 2 ** (exponentOf(a) - 7);
  const value = roundToEven(a, quantum) * quantum;
  const bits = value >= 2 ** 128 ? 0x7f800000 : bitsOf(value);
  if ((bits & 0xffff) !== 0) throw new Error(`reference: ${value} is not a bfloat16`);
  return ((signBits | bits) >>> 16) & 0xffff;
}

/** `x` as stored in `storage` and read back. */
function rounded(storage: Storage, x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (storage === 'float16') return halfValue(halfBits(Math.fround(x)));
  if (storage === 'bfloat16') return floatOf(bfloat16Bits(Math.fround(x)) << 16);
  return Math.fround(x);
}
const roundedAll = (storage: Storage, xs: ArrayLike<number>): number[] => Array.from(xs, (x) => rounded(storage, x));

const isHalfNaN = (bits: number): boolean => (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
const isBFloat16NaN = (bits: number): boolean => (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;

// ---- data ------------------------------------------------------------------------------------------------

const random = rng(20250301);
const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
function randomFloats(length: number, scale = 4): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}
/** Random float32 bit patterns over the whole encoding: every exponent, subnormals, inf and NaN. */
function randomBitPatterns(length: number): Float32Array {
  const bits = new Uint32Array(length);
  for (let i = 0; i < length; i++) bits[i] = Math.floor(random() * 2 ** 32);
  return new Float32Array(bits.buffer);
}
/** Random float32s whose magnitudes span the half range and beyond (2^−30 … 2^18). */
function randomHalfRange(length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (random() < 0.5 ? -1 : 1) * 2 ** (-30 + 48 * random());
  return out;
}
/** The float32 neighbours of x: one ulp below and above (x > 0, finite). */
const nextDown = (x: number): number => floatOf(bitsOf(x) - 1);
const nextUp = (x: number): number => floatOf(bitsOf(x) + 1);

type Source = 'float32' | 'float16' | 'uint8';

/**
 * A random input conversion source of `count` elements: uint8 pixels, float16 bits or float32 values, the
 * scale its type gets (1/255 for pixels), per-channel mean and std, and the inputConvert options that pass
 * them (mean and std only when normalising).
 */
function randomInput(source: Source, count: number, channels: number, normalise: boolean) {
  const src = source === 'uint8' ? Uint8Array.from({ length: count }, () => int(0, 255))
    : source === 'float16' ? kernels.toHalf(randomFloats(count, 3))
      : randomFloats(count, 3);
  const scale = source === 'uint8' ? Math.fround(1 / 255) : 1;
  const mean = Float32Array.from({ length: channels }, () => random());
  const std = Float32Array.from({ length: channels }, () => 0.1 + random());
  const options = { src, ...(source === 'uint8' ? { scale } : {}), ...(normalise ? { mean, std } : {}) };
  return { src, scale, mean, std, options };
}

/** Source element `i` as a number (float16: the half's value, from its bits). */
const sourceValueOf = (source: Source, src: Float32Array | Uint16Array | Uint8Array, i: number): number =>
  source === 'float16' ? halfValue(src[i]!) : src[i]!;

// ---- storage conversions -----------------------------------------------------------------------------------

describe('half conversion', () => {
  const allHalves = new Uint16Array(65536).map((_, i) => i);

  it('reads every one of the 65536 half bit patterns as the format defines it', () => {
    const values = kernels.fromHalf(allHalves);
    for (let bits = 0; bits < 65536; bits++) {
      const expected = halfValue(bits);
      if (Number.isNaN(expected)) expect(Number.isNaN(values[bits]), `bits ${bits.toString(16)}`).toBe(true);
      else if (!Object.is(values[bits], expected)) expect(values[bits], `bits ${bits.toString(16)}`).toBe(expected);
    }
  });

  it('round-trips every half bit pattern, NaN payloads included (half → float → half)', () => {
    const back = kernels.toHalf(kernels.fromHalf(allHalves));
    const mismatches = allHalves.filter((bits) => back[bits] !== bits);
    expect(Array.from(mismatches.slice(0, 5))).toEqual([]);
  });

  it('converts known values', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [1 / 3, 0x3555],
      [65504, 0x7bff], // the largest half
      [65519, 0x7bff], // below the midpoint to 2^16: stays finite
      [65520, 0x7c00], // the midpoint: ties to even, which is inf
      [1e6, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [6.103515625e-5, 0x0400], // 2^−14, the smallest normal
      [6.1e-5, 0x03ff], // just below it: the largest subnormal
      [2 ** -24, 0x0001], // the smallest subnormal
      [2 ** -25, 0x0000], // half of it: a tie, to even (zero)
      [-(2 ** -25), 0x8000],
      [3 * 2 ** -25, 0x0002], // a tie between 1 and 2 subnormal steps: to even
      [1e-8, 0x0000],
      [1 + 2 ** -11, 0x3c00], // a tie at 1: to even
      [1 + 3 * 2 ** -11, 0x3c02],
    ];
    const bits = kernels.toHalf(Float32Array.from(cases, ([x]) => x));
    expect(Array.from(bits, (b) => b.toString(16))).toEqual(cases.map(([, b]) => b.toString(16)));
    expect(Array.from(cases, ([x]) => halfBits(Math.fround(x)).toString(16))).toEqual(cases.map(([, b]) => b.toString(16)));
    expect(kernels.toHalf(Float32Array.of(nextUp(2 ** -25)))[0]).toBe(1); // just above the tie: rounds up
  });

  it('keeps NaN a NaN, whatever its payload and sign', () => {
    const nans = new Float32Array(new Uint32Array([0x7fc00000, 0xffc00000, 0x7f800001, 0x7f801fff, 0xff800001, 0x7fffffff, 0x7fa00000]).buffer);
    for (const bits of kernels.toHalf(nans)) expect(isHalfNaN(bits), bits.toString(16)).toBe(true);
    expect(kernels.toHalf(nans)[1]! & 0x8000).toBe(0x8000);
    expect(Array.from(kernels.fromHalf(Uint16Array.of(0x7e00, 0xfc01, 0x7c01)), Number.isNaN)).toEqual([true, true, true]);
  });

  it('rounds every tie between neighbouring halves to the even one, and one ulp off a tie to the nearer', () => {
    // Every positive finite half and its successor: the midpoint has 12 significant bits, so it is a float32.
    const lows: number[] = [];
    for (let bits = 0; bits < 0x7bff; bits++) lows.push(bits);
    const mids = Float32Array.from(lows, (b) => (halfValue(b) + halfValue(b + 1)) / 2);
    expect(lows.filter((b, i) => mids[i] !== (halfValue(b) + halfValue(b + 1)) / 2)).toEqual([]); // exact in float32
    const even = (b: number): number => (b % 2 === 0 ? b : b + 1);
    const atTie = kernels.toHalf(mids);
    const below = kernels.toHalf(mids.map(nextDown));
    const above = kernels.toHalf(mids.map(nextUp));
    const wrong = lows.filter((b, i) => atTie[i] !== even(b) || below[i] !== b || above[i] !== b + 1);
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('matches the reference on random float32 values over the whole encoding and over the half range', () => {
    for (const values of [randomBitPatterns(100_000), randomHalfRange(100_000)]) {
      const bits = kernels.toHalf(values);
      const wrong: string[] = [];
      values.forEach((x, i) => {
        const ok = Number.isNaN(x) ? isHalfNaN(bits[i]!) : bits[i] === halfBits(x);
        if (!ok && wrong.length < 5) wrong.push(`${x} → ${bits[i]!.toString(16)}, expected ${halfBits(x).toString(16)}`);
      });
      expect(wrong).toEqual([]);
    }
  });

  it('rejects anything but the typed array it converts', () => {
    expect(codeOf(() => kernels.toHalf([1, 2] as unknown as Float32Array))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => kernels.fromHalf(new Float32Array(2) as unknown as Uint16Array))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => (kernels.toHalf as () => unknown)())).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('bfloat16 conversion', () => {
  const allPatterns = new Uint16Array(65536).map((_, i) => i);

  it('reads every bfloat16 bit pattern as the high half of a float32, and round-trips it', () => {
    const values = kernels.fromBFloat16(allPatterns);
    const back = kernels.toBFloat16(values);
    const wrong = allPatterns.filter((b) => {
      const expected = floatOf(b << 16);
      const read = Number.isNaN(expected) ? Number.isNaN(values[b]) : Object.is(values[b], expected);
      return !read || back[b] !== b;
    });
    expect(Array.from(wrong.slice(0, 5))).toEqual([]);
  });

  it('converts known values', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-0, 0x8000],
      [Math.PI, 0x4049],
      [1 + 2 ** -8, 0x3f80], // a tie at 1: to even
      [1 + 3 * 2 ** -8, 0x3f82],
      [floatOf(0x7f7fffff), 0x7f80], // the largest float rounds up to inf
      [floatOf(0x7f7f7fff), 0x7f7f],
      [-Infinity, 0xff80],
      [floatOf(0x00000001), 0x0000], // the smallest float subnormal: to zero
      [floatOf(0x00018000), 0x0002], // a subnormal tie: to even
    ];
    const bits = kernels.toBFloat16(Float32Array.from(cases, ([x]) => x));
    expect(Array.from(bits, (b) => b.toString(16))).toEqual(cases.map(([, b]) => b.toString(16)));
  });

  it('keeps NaN a NaN, including payloads that live only in the low 16 bits', () => {
    const nans = new Float32Array(new Uint32Array([0x7fc00000, 0xff800001, 0x7f80ffff, 0x7fffffff]).buffer);
    for (const bits of kernels.toBFloat16(nans)) expect(isBFloat16NaN(bits), bits.toString(16)).toBe(true);
  });

  it('matches the reference on random float32 values and on exact ties', () => {
    const values = randomBitPatterns(100_000);
    const ties = new Float32Array(new Uint32Array(Array.from({ length: 20_000 }, () => ((Math.floor(random() * 0xff00) << 16) | 0x8000) >>> 0)).buffer);
    for (const set of [values, ties]) {
      const bits = kernels.toBFloat16(set);
      const wrong: string[] = [];
      set.forEach((x, i) => {
        const ok = Number.isNaN(x) ? isBFloat16NaN(bits[i]!) : bits[i] === bfloat16Bits(x);
        if (!ok && wrong.length < 5) wrong.push(`${bitsOf(x).toString(16)} → ${bits[i]!.toString(16)}`);
      });
      expect(wrong).toEqual([]);
    }
  });
});

// ---- kernels -----------------------------------------------------------------------------------------------

describe('input conversion (NCHW or NHWC float32/float16/uint8 → NHWC storage, padding channels, normalisation)', () => {
  interface Case {
    n: number;
    c: number;
    h: number;
    w: number;
    storedChannels: number;
    storage: Storage;
    source: Source;
    nhwc: boolean;
    normalise: boolean;
  }

  function reference(k: Case, src: Float32Array | Uint16Array | Uint8Array, scale: number, mean: Float32Array, std: Float32Array): number[] {
    const out: number[] = [];
    for (let b = 0; b < k.n; b++)
      for (let y = 0; y < k.h; y++)
        for (let x = 0; x < k.w; x++)
          for (let c = 0; c < k.storedChannels; c++) {
            if (c >= k.c) {
              out.push(0);
              continue;
            }
            const index = k.nhwc ? ((b * k.h + y) * k.w + x) * k.c + c : ((b * k.c + c) * k.h + y) * k.w + x;
            let v = Math.fround(sourceValueOf(k.source, src, index) * scale);
            if (k.normalise) v = Math.fround(Math.fround(v - mean[c]!) * Math.fround(1 / std[c]!));
            out.push(rounded(k.storage, v));
          }
    return out;
  }

  function run(k: Case): void {
    const { src, scale, mean, std, options } = randomInput(k.source, k.n * k.c * k.h * k.w, k.c, k.normalise);
    const result = kernels.inputConvert({
      ...options, n: k.n, c: k.c, h: k.h, w: k.w, storedChannels: k.storedChannels, storage: k.storage, layout: k.nhwc ? 'nhwc' : 'nchw',
    });
    expect(result.length).toBe(k.n * k.h * k.w * k.storedChannels);
    expect(Array.from(result)).toEqual(reference(k, src, scale, mean, std));
  }

  for (const storage of storages)
    for (const storedChannels of [3, 4, 8])
      for (const source of ['float32', 'float16', 'uint8'] as const)
        for (const nhwc of [false, true])
          for (const normalise of [false, true]) {
            it(`3 → ${storedChannels} channels, ${source} ${nhwc ? 'NHWC' : 'NCHW'} → ${storage}${normalise ? ', normalised' : ''}`, () => {
              // h ≠ w in general: a swapped height and width would read the wrong pixels.
              for (let trial = 0; trial < 3; trial++) run({ n: int(1, 3), c: 3, h: int(1, 9), w: int(1, 9), storedChannels, storage, source, nhwc, normalise });
            });
          }

  it('applies torchvision’s ImageNet normalisation to pixels (ToTensor then Normalize)', () => {
    const mean = Float32Array.of(0.485, 0.456, 0.406);
    const std = Float32Array.of(0.229, 0.224, 0.225);
    const pixels = Uint8Array.of(0, 128, 255); // one pixel per channel, 1×1 image
    const out = kernels.inputConvert({ src: pixels, n: 1, c: 3, h: 1, w: 1, storedChannels: 4, storage: 'float32', scale: 1 / 255, mean, std });
    const expected = [0, 128, 255].map((p, c) => (p / 255 - mean[c]!) / std[c]!);
    expected.forEach((e, c) => expect(out[c]).toBeCloseTo(e, 5));
    expect(out[3]).toBe(0);
  });

  it('rejects bad arguments with coded errors', () => {
    const ok = { src: new Float32Array(12), n: 1, c: 3, h: 2, w: 2, storedChannels: 4, storage: 'float16' as Storage };
    expect(kernels.inputConvert(ok).length).toBe(16);
    const bad: [string, unknown, string][] = [
      ['a short src', { ...ok, src: new Float32Array(11) }, 'ERR_INVALID_SHAPE'],
      ['an Int8Array src', { ...ok, src: new Int8Array(12) }, 'ERR_INVALID_ARGUMENT'],
      ['an unknown layout', { ...ok, layout: 'chw' }, 'ERR_INVALID_ARGUMENT'],
      ['fewer stored channels than channels', { ...ok, storedChannels: 2 }, 'ERR_INVALID_ARGUMENT'],
      ['a negative size', { ...ok, n: -1 }, 'ERR_INVALID_ARGUMENT'],
      ['a fractional size', { ...ok, h: 1.5 }, 'ERR_INVALID_ARGUMENT'],
      ['an unknown storage', { ...ok, storage: 'float64' }, 'ERR_INVALID_ARGUMENT'],
      ['mean without std', { ...ok, mean: new Float32Array(3) }, 'ERR_INVALID_ARGUMENT'],
      ['a mean of the wrong length', { ...ok, mean: new Float32Array(2), std: new Float32Array(2).fill(1) }, 'ERR_INVALID_SHAPE'],
      ['a zero std', { ...ok, mean: new Float32Array(3), std: new Float32Array(3) }, 'ERR_INVALID_ARGUMENT'],
      ['a huge output', { ...ok, storedChannels: 2 ** 30 }, 'ERR_INVALID_ARGUMENT'],
      ['no options', undefined, 'ERR_INVALID_ARGUMENT'],
    ];
    for (const [what, options, code] of bad) expect(codeOf(() => kernels.inputConvert(options as typeof ok)), what).toBe(code);
  });
});

describe('input conversion into the stem\'s space-to-depth form (cells of the zero-padded input as channels)', () => {
  interface Case {
    n: number;
    c: number;
    h: number;
    w: number;
    block: number;
    padding: Pair;
    outH: number;
    outW: number;
    storedChannels: number;
    storage: Storage;
    source: Source;
    nhwc: boolean;
    normalise: boolean;
  }

  /**
   * Plain space-to-depth, in three passes written from the definition: the input as an NCHW image of float32
   * values (read from either layout, scaled and normalised), that image padded with `padding` zero rows and
   * columns in front (and zeros past its end), then cut into block×block cells whose pixels become channels in
   * (row in cell, column in cell, channel) order, the channels past C·block² zero.
   */
  function spaceToDepth(k: Case, src: Float32Array | Uint16Array | Uint8Array, scale: number, mean: Float32Array, std: Float32Array): number[] {
    const image = new Float64Array(k.n * k.c * k.h * k.w);
    for (let b = 0; b < k.n; b++)
      for (let c = 0; c < k.c; c++)
        for (let y = 0; y < k.h; y++)
          for (let x = 0; x < k.w; x++) {
            const i = k.nhwc ? ((b * k.h + y) * k.w + x) * k.c + c : ((b * k.c + c) * k.h + y) * k.w + x;
            let v = Math.fround(sourceValueOf(k.source, src, i) * scale);
            if (k.normalise) v = Math.fround(Math.fround(v - mean[c]!) * Math.fround(1 / std[c]!));
            image[((b * k.c + c) * k.h + y) * k.w + x] = v;
          }
    const padded = (b: number, c: number, y: number, x: number): number => {
      const [iy, ix] = [y - k.padding[0], x - k.padding[1]];
      return iy >= 0 && iy < k.h && ix >= 0 && ix < k.w ? image[((b * k.c + c) * k.h + iy) * k.w + ix]! : 0;
    };
    const out: number[] = [];
    for (let b = 0; b < k.n; b++)
      for (let y = 0; y < k.outH; y++)
        for (let x = 0; x < k.outW; x++) {
          const pixel: number[] = [];
          for (let dy = 0; dy < k.block; dy++)
            for (let dx = 0; dx < k.block; dx++)
              for (let c = 0; c < k.c; c++) pixel.push(padded(b, c, y * k.block + dy, x * k.block + dx));
          while (pixel.length < k.storedChannels) pixel.push(0);
          out.push(...pixel.map((v) => rounded(k.storage, v)));
        }
    return out;
  }

  function run(k: Case): void {
    const { src, scale, mean, std, options } = randomInput(k.source, k.n * k.c * k.h * k.w, k.c, k.normalise);
    const result = kernels.inputConvert({
      ...options, n: k.n, c: k.c, h: k.h, w: k.w, storedChannels: k.storedChannels, storage: k.storage,
      layout: k.nhwc ? 'nhwc' : 'nchw', block: k.block, padding: k.padding, outH: k.outH, outW: k.outW,
    });
    expect(result.length).toBe(k.n * k.outH * k.outW * k.storedChannels);
    expect(Array.from(result)).toEqual(spaceToDepth(k, src, scale, mean, std));
  }

  const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;
  for (const storage of storages)
    for (const source of ['float32', 'float16', 'uint8'] as const)
      for (const nhwc of [false, true])
        for (const normalise of [false, true]) {
          it(`${source} ${nhwc ? 'NHWC' : 'NCHW'} → ${storage}${normalise ? ', normalised' : ''}: random cells, paddings and odd sizes`, () => {
            for (let trial = 0; trial < 3; trial++) {
              const [c, block, h, w] = [int(1, 4), int(2, 4), int(1, 11), int(1, 11)];
              const padding: Pair = [int(0, 2 * block), int(0, 2 * block)];
              // Output sizes that cover the padded input, fall short of it, or reach past it (zeros there).
              const outH = Math.max(1, Math.ceil((h + padding[0]) / block) + int(-1, 2));
              const outW = Math.max(1, Math.ceil((w + padding[1]) / block) + int(-1, 2));
              const storedChannels = c * block * block + (random() < 0.5 ? 0 : roundUp(c * block * block, 8) - c * block * block + 8 * int(0, 1));
              run({ n: int(1, 2), c, h, w, block, padding, outH, outW, storedChannels, storage, source, nhwc, normalise });
            }
          });
        }

  it('ResNet-50\'s stem: a 224×224 uint8 NHWC image, normalised, as 115×115 cells of 2×2 (12 of 16 channels) in float16', () => {
    run({ n: 1, c: 3, h: 224, w: 224, block: 2, padding: [3, 3], outH: 115, outW: 115, storedChannels: 16, storage: 'float16', source: 'uint8', nhwc: true, normalise: true });
  });

  it('a cell of 1 without padding is the plain conversion', () => {
    const src = randomFloats(2 * 3 * 5 * 4);
    const plain = kernels.inputConvert({ src, n: 2, c: 3, h: 5, w: 4, storedChannels: 8, storage: 'float16' });
    expect(kernels.inputConvert({ src, n: 2, c: 3, h: 5, w: 4, storedChannels: 8, storage: 'float16', block: 1, padding: [0, 0], outH: 5, outW: 4 })).toEqual(plain);
  });

  it('rejects cells and paddings it cannot lay out', () => {
    const ok = { src: new Float32Array(3 * 5 * 5), n: 1, c: 3, h: 5, w: 5, storedChannels: 16, storage: 'float16' as Storage, block: 2, padding: [3, 3] as Pair, outH: 4, outW: 4 };
    expect(kernels.inputConvert(ok).length).toBe(4 * 4 * 16);
    const bad: [string, unknown][] = [
      ['a cell of 0', { ...ok, block: 0 }],
      ['a cell of 17', { ...ok, block: 17 }],
      ['a negative padding', { ...ok, padding: [-1, 0] }],
      ['fewer stored channels than the cell holds', { ...ok, storedChannels: 11 }],
    ];
    for (const [what, options] of bad) expect(codeOf(() => kernels.inputConvert(options as typeof ok)), what).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('output conversion (NHWC storage → NCHW float32)', () => {
  for (const storage of storages)
    for (const [c, storedChannels] of [
      [3, 4],
      [5, 8],
      [8, 8],
      [1000, 1000],
    ] as const) {
      it(`${c} of ${storedChannels} stored channels from ${storage}, padding dropped`, () => {
        const [n, h, w] = c === 1000 ? [2, 1, 1] : [int(1, 3), int(1, 7), int(1, 7)];
        // Padding channels hold garbage here: the conversion must never read them into the output.
        const src = randomFloats(n * h * w * storedChannels);
        const out = kernels.outputConvert({ src, n, c, h, w, storedChannels, storage });
        const expected: number[] = [];
        for (let b = 0; b < n; b++)
          for (let ch = 0; ch < c; ch++)
            for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) expected.push(rounded(storage, src[((b * h + y) * w + x) * storedChannels + ch]!));
        expect(Array.from(out)).toEqual(expected);
      });
    }

  it('rejects a source of the wrong length', () => {
    expect(codeOf(() => kernels.outputConvert({ src: new Float32Array(7), n: 1, c: 3, h: 2, w: 1, storedChannels: 4, storage: 'float32' }))).toBe('ERR_INVALID_SHAPE');
  });
});

describe('epilogue (y = [relu]((y + bias[c]) + residual), in place)', () => {
  for (const storage of storages)
    for (const withResidual of [false, true])
      for (const relu of [false, true]) {
        it(`${storage}${withResidual ? ', residual' : ''}${relu ? ', relu' : ''}`, () => {
          const storedChannels = [4, 8, 16, 24][int(0, 3)]!;
          const count = int(1, 40) * storedChannels;
          const y = randomFloats(count);
          const bias = randomFloats(storedChannels, 1);
          const residual = randomFloats(count);
          const out = kernels.epilogue({ y, bias, storedChannels, relu, storage, ...(withResidual ? { residual } : {}) });
          const expected = Array.from(y, (v, i) => {
            let s = Math.fround(rounded(storage, v) + bias[i % storedChannels]!);
            if (withResidual) s = Math.fround(s + rounded(storage, residual[i]!));
            return rounded(storage, relu && s < 0 ? 0 : s);
          });
          expect(Array.from(out)).toEqual(expected);
          if (relu) expect(out.every((v) => v >= 0)).toBe(true);
        });
      }

  it('keeps zero padding channels zero and lets NaN through the ReLU', () => {
    // 2 real channels of 4 stored: the planner gives padding channels zero bias, and y and residual hold zeros there.
    const y = Float32Array.of(1, NaN, 0, 0, -3, 2, 0, 0);
    const out = kernels.epilogue({ y, bias: Float32Array.of(0.5, 1, 0, 0), residual: Float32Array.of(1, 1, 0, 0, 1, 1, 0, 0), storedChannels: 4, relu: true, storage: 'float16' });
    expect(Array.from(out)).toEqual([2.5, NaN, 0, 0, 0, 4, 0, 0]);
  });

  it('rejects a y that is not whole pixels and a bias of the wrong length', () => {
    expect(codeOf(() => kernels.epilogue({ y: new Float32Array(6), bias: new Float32Array(4), storedChannels: 4, storage: 'float32' }))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => kernels.epilogue({ y: new Float32Array(8), bias: new Float32Array(3), storedChannels: 4, storage: 'float32' }))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => kernels.epilogue({ y: new Float32Array(8), bias: new Float32Array(4), residual: new Float32Array(4), storedChannels: 4, storage: 'float32' }))).toBe('ERR_INVALID_SHAPE');
  });
});

describe('elementwise ([relu](a + b), [relu](a))', () => {
  for (const storage of storages)
    for (const withB of [false, true])
      for (const relu of [false, true]) {
        it(`${storage}: ${relu ? 'relu(' : ''}a${withB ? ' + b' : ''}${relu ? ')' : ''}`, () => {
          const count = int(1, 500);
          const a = randomFloats(count);
          const b = randomFloats(count);
          const out = kernels.elementwise({ a, relu, storage, ...(withB ? { b } : {}) });
          const expected = Array.from(a, (v, i) => {
            const s = withB ? Math.fround(rounded(storage, v) + rounded(storage, b[i]!)) : rounded(storage, v);
            return rounded(storage, relu && s < 0 ? 0 : s);
          });
          expect(Array.from(out)).toEqual(expected);
        });
      }

  it('rounds a sum once, to the storage type', () => {
    // 1 + 2^-11 is a tie in half (to 1) and exact in float32.
    expect(kernels.elementwise({ a: Float32Array.of(1), b: Float32Array.of(2 ** -11), storage: 'float16' })[0]).toBe(1);
    expect(kernels.elementwise({ a: Float32Array.of(1), b: Float32Array.of(2 ** -11), storage: 'float32' })[0]).toBe(1 + 2 ** -11);
    expect(kernels.elementwise({ a: Float32Array.of(60000), b: Float32Array.of(10000), storage: 'float16' })[0]).toBe(Infinity);
  });

  it('rejects b of another length', () => {
    expect(codeOf(() => kernels.elementwise({ a: new Float32Array(4), b: new Float32Array(5), storage: 'bfloat16' }))).toBe('ERR_INVALID_SHAPE');
  });
});

describe('NaN bit patterns (as an H200 gave them)', () => {
  const nanBits = (values: Float32Array): number[] => Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
  const payloadNaN = new Float32Array(new Uint32Array([0x7fc00001]).buffer);

  it('gives the GPU’s canonical NaN 0x7fffffff for every arithmetic NaN, not x86’s', () => {
    // inf − inf makes 0xffc00000 on x86; NaN + x passes the payload on. The device gives 0x7fffffff for both.
    const a = Float32Array.of(Infinity, payloadNaN[0]!);
    const b = Float32Array.of(-Infinity, 1);
    expect(nanBits(kernels.elementwise({ a, b, storage: 'float32' }))).toEqual([0x7fffffff, 0x7fffffff]);
    expect(nanBits(kernels.epilogue({ y: payloadNaN, bias: Float32Array.of(0), storedChannels: 1, storage: 'float32' }))).toEqual([0x7fffffff]);
  });

  it('passes a NaN through unchanged where no arithmetic touches it (max pool)', () => {
    expect(nanBits(kernels.maxpool({ src: payloadNaN, n: 1, c: 1, h: 1, w: 1, kernel: [1, 1], storage: 'float32' }))).toEqual([0x7fc00001]);
  });
});

describe('max pool (PyTorch semantics, NHWC)', () => {
  interface Window {
    kernel: Pair;
    stride: Pair;
    padding: Pair;
    dilation: Pair;
    ceilMode: boolean;
  }

  /** PyTorch's output size, ceil mode's rule included. */
  function outputSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
    const span = size + 2 * p - d * (k - 1) - 1;
    let out = Math.floor((span + (ceil ? s - 1 : 0)) / s) + 1;
    if (ceil && (out - 1) * s >= size + p) out--;
    return out;
  }

  /** PyTorch's CPU loop: taps outside the input are skipped, `val > max || isnan(val)`. */
  function reference(src: ArrayLike<number>, n: number, c: number, h: number, w: number, win: Window): { out: number[]; oh: number; ow: number } {
    const oh = outputSize(h, win.kernel[0], win.stride[0], win.padding[0], win.dilation[0], win.ceilMode);
    const ow = outputSize(w, win.kernel[1], win.stride[1], win.padding[1], win.dilation[1], win.ceilMode);
    const out: number[] = [];
    for (let b = 0; b < n; b++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++)
          for (let ch = 0; ch < c; ch++) {
            let max = -Infinity;
            for (let ky = 0; ky < win.kernel[0]; ky++)
              for (let kx = 0; kx < win.kernel[1]; kx++) {
                const y = oy * win.stride[0] - win.padding[0] + ky * win.dilation[0];
                const x = ox * win.stride[1] - win.padding[1] + kx * win.dilation[1];
                if (y < 0 || y >= h || x < 0 || x >= w) continue;
                const v = src[((b * h + y) * w + x) * c + ch]!;
                if (v > max || Number.isNaN(v)) max = v;
              }
            out.push(max);
          }
    return { out, oh, ow };
  }

  function check(storage: Storage, n: number, c: number, h: number, w: number, win: Window, src = randomFloats(n * h * w * c)): void {
    const out = kernels.maxpool({ src, n, c, h, w, storage, ...win });
    const expected = reference(roundedAll(storage, src), n, c, h, w, win);
    expect(out.length, `output ${expected.oh}×${expected.ow}`).toBe(n * expected.oh * expected.ow * c);
    expect(Array.from(out)).toEqual(expected.out);
  }

  const stem: Window = { kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false };

  for (const storage of storages) {
    it(`ResNet's stem (kernel 3, stride 2, padding 1) on odd and even sizes, ${storage}`, () => {
      for (const [h, w] of [
        [7, 7],
        [9, 11],
        [8, 5],
        [1, 1],
        [2, 3],
        [112, 112],
      ] as const) {
        check(storage, h === 112 ? 1 : int(1, 3), h === 112 ? 8 : int(1, 8), h, w, stem);
      }
    });

    it(`ceil mode, dilation, asymmetric windows on random shapes, ${storage}`, () => {
      for (let trial = 0; trial < 30; trial++) {
        const kernel: Pair = [int(1, 4), int(1, 4)];
        const dilation: Pair = [int(1, 3), int(1, 3)];
        const win: Window = {
          kernel,
          stride: [int(1, 3), int(1, 3)],
          padding: [int(0, Math.floor(kernel[0] / 2)), int(0, Math.floor(kernel[1] / 2))],
          dilation,
          ceilMode: random() < 0.5,
        };
        const h = int((kernel[0] - 1) * dilation[0] + 1, 12);
        const w = int((kernel[1] - 1) * dilation[1] + 1, 12);
        check(storage, int(1, 2), int(1, 9), h, w, win);
      }
    });
  }

  it('takes the clipped last window in ceil mode (5 → 3 with kernel 2, stride 2)', () => {
    const src = Float32Array.of(1, 5, 2, 4, 3); // 1×5, one channel
    const out = kernels.maxpool({ src, n: 1, c: 1, h: 1, w: 5, kernel: [1, 2], stride: [1, 2], ceilMode: true, storage: 'float32' });
    expect(Array.from(out)).toEqual([5, 4, 3]);
    const floor = kernels.maxpool({ src, n: 1, c: 1, h: 1, w: 5, kernel: [1, 2], stride: [1, 2], storage: 'float32' });
    expect(Array.from(floor)).toEqual([5, 4]);
  });

  it('drops a ceil-mode window that would start in the right padding (PyTorch’s rule)', () => {
    // in 5, kernel 2, stride 2, padding 1: ceil's formula gives 4 windows, but the 4th would start at 5 ≥ 5 − 1 + 1,
    // wholly in the padding; PyTorch keeps 3: [−1, 0], [1, 2], [3, 4].
    const out = kernels.maxpool({ src: Float32Array.of(1, 2, 3, 4, 5), n: 1, c: 1, h: 1, w: 5, kernel: [1, 2], stride: [1, 2], padding: [0, 1], ceilMode: true, storage: 'float32' });
    expect(Array.from(out)).toEqual([1, 3, 5]);
  });

  it('pads with −inf, not zero', () => {
    const src = new Float32Array(2 * 3 * 3).fill(-5);
    for (const storage of storages) expect(Array.from(kernels.maxpool({ src, n: 1, c: 2, h: 3, w: 3, ...stem, storage }))).toEqual(new Array(8).fill(-5));
  });

  it('propagates NaN from any tap of a window, wherever it sits in the window', () => {
    for (const storage of storages) {
      // 3×3 input, one NaN at (1, 1): a 2×2 window with stride 1 covers it from all four outputs.
      const src = Float32Array.of(1, 2, 3, 4, NaN, 6, 7, 8, 9);
      const out = kernels.maxpool({ src, n: 1, c: 1, h: 3, w: 3, kernel: [2, 2], stride: [1, 1], storage });
      expect(Array.from(out, Number.isNaN)).toEqual([true, true, true, true]);
      // NaN first, then larger values; and larger values first, then NaN.
      const row = Float32Array.of(NaN, 10, 10, NaN);
      expect(Array.from(kernels.maxpool({ src: row, n: 1, c: 1, h: 1, w: 4, kernel: [1, 2], stride: [1, 2], storage }), Number.isNaN)).toEqual([true, true]);
      check(storage, 2, 3, 6, 7, stem, randomFloats(2 * 6 * 7 * 3).map((v) => (random() < 0.05 ? NaN : v)));
    }
  });

  it('keeps zero padding channels zero', () => {
    const c = 8;
    const src = randomFloats(5 * 5 * c).map((v, i) => (i % c >= 3 ? 0 : v));
    const out = kernels.maxpool({ src, n: 1, c, h: 5, w: 5, ...stem, storage: 'float16' });
    expect(Array.from(out).filter((_, i) => i % c >= 3 && out[i] !== 0)).toEqual([]);
  });

  it('rejects windows PyTorch rejects and sources of the wrong length', () => {
    const ok = { src: new Float32Array(9), n: 1, c: 1, h: 3, w: 3, kernel: [2, 2] as Pair, storage: 'float32' as Storage };
    expect(kernels.maxpool(ok).length).toBe(1);
    expect(codeOf(() => kernels.maxpool({ ...ok, padding: [2, 0] }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => kernels.maxpool({ ...ok, stride: [0, 1] }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => kernels.maxpool({ ...ok, kernel: [4, 4] }))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => kernels.maxpool({ ...ok, kernel: undefined as unknown as Pair }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => kernels.maxpool({ ...ok, dilation: [1] as unknown as Pair }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => kernels.maxpool({ ...ok, src: new Float32Array(8) }))).toBe('ERR_INVALID_SHAPE');
  });
});

describe('adaptive average pool (PyTorch windows, float sums)', () => {
  /** Windows [⌊i·in/out⌋, ⌈(i+1)·in/out⌉); the sum in float32, rows then columns, divided by the size. */
  function reference(src: ArrayLike<number>, n: number, c: number, h: number, w: number, oh: number, ow: number): number[] {
    const out: number[] = [];
    for (let b = 0; b < n; b++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++)
          for (let ch = 0; ch < c; ch++) {
            const [y0, y1] = [Math.floor((oy * h) / oh), Math.ceil(((oy + 1) * h) / oh)];
            const [x0, x1] = [Math.floor((ox * w) / ow), Math.ceil(((ox + 1) * w) / ow)];
            let sum = 0;
            for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum = Math.fround(sum + src[((b * h + y) * w + x) * c + ch]!);
            out.push(Math.fround(sum / ((y1 - y0) * (x1 - x0))));
          }
    return out;
  }

  function check(storage: Storage, n: number, c: number, h: number, w: number, outH: number, outW: number): void {
    const src = randomFloats(n * h * w * c);
    const out = kernels.adaptiveAvgPool({ src, n, c, h, w, outH, outW, storage });
    expect(Array.from(out)).toEqual(roundedAll(storage, reference(roundedAll(storage, src), n, c, h, w, outH, outW)));
  }

  for (const storage of storages) {
    it(`non-divisible and global windows, ${storage}`, () => {
      for (const [h, w, outH, outW] of [
        [7, 7, 3, 3],
        [5, 5, 2, 2],
        [7, 5, 3, 2],
        [7, 7, 1, 1],
        [224, 224, 1, 1],
        [3, 4, 5, 7], // more outputs than inputs: windows overlap
        [10, 1, 4, 1],
      ] as const) {
        check(storage, h === 224 ? 1 : int(1, 3), h === 224 ? 2 : int(1, 8), h, w, outH, outW);
      }
    });

    it(`random shapes, ${storage}`, () => {
      for (let trial = 0; trial < 20; trial++) check(storage, int(1, 2), int(1, 16), int(1, 15), int(1, 15), int(1, 6), int(1, 6));
    });
  }

  it('averages the windows PyTorch averages (7 → 3: rows 0–2, 2–4, 4–6)', () => {
    const src = Float32Array.from({ length: 7 }, (_, i) => i); // 1×7 row: 0..6
    const out = kernels.adaptiveAvgPool({ src, n: 1, c: 1, h: 1, w: 7, outH: 1, outW: 3, storage: 'float32' });
    expect(Array.from(out)).toEqual([1, 3, 5]);
  });

  it('rejects an empty output size and a source of the wrong length', () => {
    const ok = { src: new Float32Array(12), n: 1, c: 3, h: 2, w: 2, outH: 1, outW: 1, storage: 'float32' as Storage };
    expect(kernels.adaptiveAvgPool(ok).length).toBe(3);
    expect(codeOf(() => kernels.adaptiveAvgPool({ ...ok, outH: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => kernels.adaptiveAvgPool({ ...ok, src: new Float32Array(11) }))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => kernels.adaptiveAvgPool({ ...ok, storage: undefined as unknown as Storage }))).toBe('ERR_INVALID_ARGUMENT');
  });
});
