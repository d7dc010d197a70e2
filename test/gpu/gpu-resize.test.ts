// The GPU preprocessing (resize with antialias, centre crop, x / 255, normalise) through its plan
// (native/src/cuda/preprocess_plan.h) and the host emulation of its kernel (preprocess_math.h, the very
// per-element code the device runs; `testing.gpuPreprocess`). (a) Against an independent float64 reference of
// PyTorch's antialiased bilinear resize (_upsample_bilinear2d_aa, align_corners=False), written below from the
// formula, for downscaling, upscaling, odd sizes and crops larger than the image; (b) on the two shared photos,
// decoded by sharp (standing in for nvJPEG) and compared with the library's Pillow-exact CPU path, for
// ResNet50_Weights.IMAGENET1K_V1 and V2's transforms: the mean absolute difference of the normalised tensor
// is printed and must stay within 0.03.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ResNet50_Weights } from '../../lib/models/weights.js';
import { loadNative } from '../../lib/runtime/native.js';
import { readImage } from '../../lib/vision/image.js';
import { preprocess } from '../../lib/vision/transforms.js';
import { codeOf, rng } from '../helpers/helpers.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

type Layout = 'nchw' | 'nhwc';
type Output = 'float32' | 'float16' | 'bfloat16' | 'uint8';
interface Source {
  pixels: Uint8Array;
  width: number;
  height: number;
  pitch?: number;
}
interface GpuPreprocess {
  windows(inSize: number, outSize: number, first: number, count: number): { starts: Int32Array; counts: Int32Array; offsets: Int32Array; weights: Float32Array };
  sizes(height: number, width: number, resizeSize: number, cropSize: number): { height: number; width: number; top: number; left: number };
  run(o: { images: Source[]; resizeSize: number; cropSize: number; layout?: Layout; output?: Output; mean?: Float32Array; std?: Float32Array; dstImages?: number; outputIndices?: number[] }): Float32Array | Uint8Array;
  tables(o: Record<string, unknown>): Float32Array | Uint8Array;
}
const testing = (loadNative() as unknown as { testing: { gpuPreprocess: GpuPreprocess; cudaKernels: { toHalf(v: Float32Array): Uint16Array; fromHalf(b: Uint16Array): Float32Array } } }).testing;
const gpu = testing.gpuPreprocess;

// ---- the float64 reference, from PyTorch's formula ----------------------------------------------------------

/** PyTorch's antialiased bilinear taps of output index i: the first input index and normalised weights. */
function referenceTaps(inSize: number, outSize: number, i: number): { first: number; weights: number[] } {
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1; // the triangle filter's half-width (1), widened by the scale when shrinking
  const center = scale * (i + 0.5);
  const first = Math.max(Math.trunc(center - support + 0.5), 0);
  const last = Math.min(Math.trunc(center + support + 0.5), inSize);
  const raw: number[] = [];
  for (let j = first; j < last; j++) raw.push(Math.max(0, 1 - Math.abs((j - center + 0.5) / support)));
  const total = raw.reduce((a, b) => a + b, 0);
  return { first, weights: raw.map((w) => (total !== 0 ? w / total : w)) };
}

/** Python's round (halves to even). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision's shorter-side resize size and the centre crop's first kept index (negative: zero padding). */
function referenceGeometry(height: number, width: number, size: number, crop: number) {
  const [rh, rw] = width <= height ? [Math.trunc((size * height) / width), size] : [size, Math.trunc((size * width) / height)];
  const offset = (length: number) => (crop > length ? 0 - Math.floor((crop - length) / 2) : roundHalfEven((length - crop) / 2));
  return { rh, rw, top: offset(rh), left: offset(rw) };
}

const imagenetMean = [0.485, 0.456, 0.406];
const imagenetStd = [0.229, 0.224, 0.225];

/** resize → crop → /255 → normalise in float64, NCHW [3, crop, crop], for an RGB-interleaved image. */
function referencePreprocess(src: Source, size: number, crop: number, mean = imagenetMean, std = imagenetStd): Float64Array {
  const { width, height, pixels } = src;
  const pitch = src.pitch ?? width * 3;
  const { rh, rw, top, left } = referenceGeometry(height, width, size, crop);
  const out = new Float64Array(3 * crop * crop);
  for (let y = 0; y < crop; y++) {
    const ry = y + top;
    for (let x = 0; x < crop; x++) {
      const rx = x + left;
      for (let c = 0; c < 3; c++) {
        let value = 0; // zero padding outside the resized image, as F.center_crop pads
        if (ry >= 0 && ry < rh && rx >= 0 && rx < rw) {
          const rows = referenceTaps(height, rh, ry);
          const cols = referenceTaps(width, rw, rx);
          rows.weights.forEach((wy, a) => {
            cols.weights.forEach((wx, b) => {
              value += wy * wx * pixels[(rows.first + a) * pitch + (cols.first + b) * 3 + c]!;
            });
          });
        }
        out[(c * crop + y) * crop + x] = (value / 255 - mean[c]!) / std[c]!;
      }
    }
  }
  return out;
}

function randomImage(width: number, height: number, seed: number, pitch = width * 3): Source {
  const r = rng(seed);
  const pixels = new Uint8Array(pitch * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(r() * 256);
  return { pixels, width, height, pitch };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

// Float rounding: the normalised values are at most ~2.7 in magnitude, where a float32 ulp is 2.4e-7; the
// emulation's float32 sums (weights rounded to float, a few dozen taps) stay within 16 ulps of the float64
// reference (measured: at most 6.6e-7). Any wrong window or weight costs far more: one tap of weight w moved by
// one pixel changes the value by w · |Δpixel| / (255 · std), about 0.017 · w · |Δpixel|.
const floatTolerance = 4e-6;

describe('antialiased bilinear windows: the plan against PyTorch\'s formula in float64', () => {
  const cases: [number, number][] = [[1546, 256], [600, 232], [37, 16], [23, 7], [9, 20], [7, 13], [5, 5], [1, 3], [3, 1], [1213, 256]];
  it.each(cases)('%i → %i: every window and weight', (inSize, outSize) => {
    const got = gpu.windows(inSize, outSize, 0, outSize);
    for (let i = 0; i < outSize; i++) {
      const ref = referenceTaps(inSize, outSize, i);
      expect(got.starts[i], `start ${i}`).toBe(ref.first);
      expect(got.counts[i], `count ${i}`).toBe(ref.weights.length);
      for (let k = 0; k < ref.weights.length; k++) {
        const w = got.weights[got.offsets[i]! + k]!;
        expect(Math.abs(w - ref.weights[k]!), `weight ${i}.${k}`).toBeLessThanOrEqual(Math.abs(ref.weights[k]!) * 2 ** -23 + 1e-12);
      }
    }
  });

  it('indices outside the resized image (a crop larger than it) get empty windows', () => {
    const got = gpu.windows(10, 4, -2, 8);
    expect(Array.from(got.counts)).toEqual([0, 0, ...[0, 1, 2, 3].map((i) => referenceTaps(10, 4, i).weights.length), 0, 0]);
  });

  it("torchvision's geometry: shorter side to the size, the longer truncated; crop offsets round half to even", () => {
    for (const [h, w, size, crop] of [[1213, 1546, 256, 224], [600, 512, 232, 224], [17, 9, 8, 5], [9, 17, 8, 5], [10, 30, 7, 9], [30, 30, 30, 31]]) {
      const ref = referenceGeometry(h!, w!, size!, crop!);
      expect(gpu.sizes(h!, w!, size!, crop!)).toEqual({ height: ref.rh, width: ref.rw, top: ref.top, left: ref.left });
    }
    // (3 − 2) / 2 = 0.5 → 0 and (5 − 2) / 2 = 1.5 → 2: Python's round, not Math.round.
    expect(gpu.sizes(3, 3, 3, 2).top).toBe(0);
    expect(gpu.sizes(5, 5, 5, 2).top).toBe(2);
  });
});

describe('the preprocessing kernel (host emulation) against the float64 reference', () => {
  const cases: [string, number, number, number, number][] = [
    ['downscale, odd sizes', 37, 23, 16, 12],
    ['upscale', 9, 7, 20, 18],
    ['a crop larger than the resized image (zero padding)', 50, 13, 13, 15],
    ['no resize (the shorter side already the size)', 20, 16, 16, 16],
    ['tall image', 11, 40, 8, 8],
  ];
  it.each(cases)('%s: %i×%i → %i, crop %i', (_name, width, height, size, crop) => {
    const image = randomImage(width, height, width * 100 + height);
    const got = gpu.run({ images: [image], resizeSize: size, cropSize: crop });
    expect(maxAbsDiff(got, referencePreprocess(image, size, crop))).toBeLessThanOrEqual(floatTolerance);
  });

  it('a batch: each image into its output slot (rows padded by a pitch), untouched slots stay zero, NHWC is the transpose', () => {
    const images = [randomImage(31, 17, 1, 31 * 3 + 5), randomImage(12, 29, 2), randomImage(40, 40, 3)];
    const size = 14;
    const crop = 11;
    const nchw = gpu.run({ images, resizeSize: size, cropSize: crop, dstImages: 5, outputIndices: [4, 0, 2] });
    const nhwc = gpu.run({ images, resizeSize: size, cropSize: crop, dstImages: 5, outputIndices: [4, 0, 2], layout: 'nhwc' });
    const area = 3 * crop * crop;
    const slot = (out: ArrayLike<number>, i: number) => Array.from(out).slice(i * area, (i + 1) * area);
    [4, 0, 2].forEach((index, k) => expect(maxAbsDiff(slot(nchw, index), referencePreprocess(images[k]!, size, crop))).toBeLessThanOrEqual(floatTolerance));
    for (const empty of [1, 3]) expect(slot(nchw, empty).every((v) => v === 0)).toBe(true);
    for (let n = 0; n < 5; n++) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < crop; y++) {
          for (let x = 0; x < crop; x++) expect(nhwc[((n * crop + y) * crop + x) * 3 + c]).toBe(nchw[((n * 3 + c) * crop + y) * crop + x]);
        }
      }
    }
  });

  it('float16 and bfloat16 are the float32 result rounded; uint8 is the resized pixel rounded (no normalisation)', () => {
    const image = randomImage(45, 33, 9);
    const options = { images: [image], resizeSize: 21, cropSize: 19 };
    const f32 = gpu.run(options) as Float32Array;
    const f16 = gpu.run({ ...options, output: 'float16' });
    expect(Array.from(f16)).toEqual(Array.from(testing.cudaKernels.fromHalf(testing.cudaKernels.toHalf(f32))));
    const bf16 = gpu.run({ ...options, output: 'bfloat16' });
    expect(maxAbsDiff(bf16, f32)).toBeLessThanOrEqual(2 ** -8 * 3);
    // uint8: the resized value before /255, rounded: with mean 0 and std 1/255 the float path gives that value.
    const raw = gpu.run({ ...options, mean: new Float32Array([0, 0, 0]), std: new Float32Array([1 / 255, 1 / 255, 1 / 255]) }) as Float32Array;
    const u8 = gpu.run({ ...options, output: 'uint8' }) as Uint8Array;
    expect(u8).toBeInstanceOf(Uint8Array);
    let exact = 0;
    raw.forEach((v, i) => {
      expect(Math.abs(u8[i]! - v)).toBeLessThanOrEqual(0.5 + 1e-3);
      if (u8[i] === Math.round(v)) exact++;
    });
    expect(exact).toBeGreaterThan(raw.length * 0.99);
  });

  it('refuses bad plans and hostile tables instead of reading outside the image', () => {
    const image = randomImage(8, 8, 4);
    expect(codeOf(() => gpu.run({ images: [image], resizeSize: 0, cropSize: 4 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => gpu.run({ images: [image], resizeSize: 4, cropSize: 4, std: new Float32Array([1, 0, 1]) }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => gpu.run({ images: [image, image], resizeSize: 4, cropSize: 4, outputIndices: [0, 0] }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => gpu.run({ images: [{ ...image, pixels: image.pixels.subarray(1) }], resizeSize: 4, cropSize: 4 }))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => gpu.run({ images: [{ ...image, width: 9 }], resizeSize: 4, cropSize: 4 }))).toBe('ERR_INVALID_ARGUMENT'); // pitch 24 < 3 · 9
    // Hand-written tables: one valid 1×1 crop of an 8×8 image, then each field pushed out of range.
    const valid = {
      src: image.pixels, crop: 1, dstImages: 1, weights: new Float32Array([1]),
      images: [{ offset: 0, pitch: 24, width: 8, height: 8, output: 0 }],
      rows: new Int32Array([3, 1, 0]), cols: new Int32Array([5, 1, 0]),
      mean: new Float32Array([0, 0, 0]), std: new Float32Array([1 / 255, 1 / 255, 1 / 255]),
    };
    const ok = gpu.tables(valid);
    expect(Array.from(ok).map((v) => Math.round(v))).toEqual([0, 1, 2].map((c) => image.pixels[3 * 24 + 5 * 3 + c]));
    const hostile: Record<string, unknown>[] = [
      { rows: new Int32Array([8, 1, 0]) }, // a row past the image
      { cols: new Int32Array([7, 2, 0]) }, // a window reaching past the last column
      { rows: new Int32Array([-1, 1, 0]) },
      { cols: new Int32Array([0, 1, 1]) }, // weights past the table
      { images: [{ offset: 1, pitch: 24, width: 8, height: 8, output: 0 }] }, // the image past the source's end
      { images: [{ offset: 0, pitch: 20, width: 8, height: 8, output: 0 }] }, // a pitch shorter than a row
      { images: [{ offset: 0, pitch: 24, width: 8, height: 8, output: 1 }] }, // an output slot that does not exist
      { images: [{ offset: -24, pitch: 24, width: 8, height: 8, output: 0 }] },
    ];
    for (const change of hostile) expect(codeOf(() => gpu.tables({ ...valid, ...change })), JSON.stringify(change)).toBe('ERR_INVALID_ARGUMENT');
  });
});

// ---- (b) the shared photos against the CPU path -------------------------------------------------------------

const photos = dataPath('images');
const havePhotos = dataAbsent('the photo comparisons (GPU against CPU preprocessing)', join(photos, 'dog.jpg'), join(photos, 'grace_hopper.jpg')) === null;

describe.runIf(havePhotos)('the shared photos: GPU preprocessing (host emulation) against the Pillow-exact CPU path', () => {
  const presets = [['IMAGENET1K_V1', ResNet50_Weights.IMAGENET1K_V1], ['IMAGENET1K_V2', ResNet50_Weights.IMAGENET1K_V2]] as const;
  for (const file of ['dog.jpg', 'grace_hopper.jpg']) {
    for (const [name, weights] of presets) {
      it(`${file}, ResNet50_Weights.${name}: mean absolute difference of the normalised tensor at most 0.03`, async () => {
        const path = join(photos, file);
        const transforms = weights.transforms();
        // sharp decodes as nvJPEG would: no ICC profile applied, RGB interleaved.
        const { data, info } = await sharp(readFileSync(path), { ignoreIcc: true }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
        expect(info.channels).toBe(3);
        const got = gpu.run({
          images: [{ pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }],
          resizeSize: transforms.resizeSize, cropSize: transforms.cropSize,
          mean: new Float32Array(transforms.mean), std: new Float32Array(transforms.std),
        });
        const cpu = preprocess([await readImage(path)], transforms).data as Float32Array;
        expect(got.length).toBe(cpu.length);
        let sum = 0;
        let worst = 0;
        for (let i = 0; i < cpu.length; i++) {
          const d = Math.abs(got[i]! - cpu[i]!);
          sum += d;
          worst = Math.max(worst, d);
        }
        const mean = sum / cpu.length;
        console.log(`gpu-resize: ${file} ${name} (resize ${transforms.resizeSize}, crop ${transforms.cropSize}): mean |GPU − CPU| = ${mean.toFixed(5)}, max ${worst.toFixed(4)}`);
        expect(mean).toBeLessThanOrEqual(0.03);
      });
    }
  }
});
