/**
 * Image decoding and torchvision-equivalent preprocessing, checked against expectations generated
 * with torchvision's PIL path (test/fixtures/images/generate.py): decoded sizes and pixel sums, and
 * for each preprocessing preset the per-channel means, a 16×16 average-pooled thumbnail and sampled
 * pixels of the normalised output. Nearest-neighbour resizing and centre crops larger than the image
 * are checked bit for bit, by SHA-256 of the pixels and of the float32 output
 * (test/fixtures/images/generate_nearest_padding.py).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readImage } from '../../lib/vision/image.js';
import { centerCrop, centerCropOffset, preprocess, resize, resizedSize, type Interpolation } from '../../lib/vision/transforms.js';
import { Tensor } from '../../lib/tensor.js';
import { pngHeader } from '../helpers/png-header.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '..', 'fixtures', 'images');
const photos = dataPath('images');
const havePhotos = dataAbsent('the photo comparisons against torchvision', join(photos, 'dog.jpg'), join(photos, 'grace_hopper.jpg')) === null;

interface PresetExpectation {
  resizeSize: number;
  cropSize: number;
  channelMeans: number[];
  thumbnail16: number[];
  samples: [number, number, number, number][];
}
interface ImageExpectation {
  height: number;
  width: number;
  channelSums: number[];
  presets: Record<string, PresetExpectation>;
}
const expected = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8')) as {
  images: Record<string, ImageExpectation>;
};

/**
 * Bounds on |ours − torchvision| after normalisation. Measured on the full tensors of dog.jpg and
 * grace_hopper.jpg (V1, V2 and bicubic): bit-identical, mean and max abs diff 0. What the fixtures allow
 * is their 5-decimal rounding (≤ 5e-6) plus, for the thumbnail, torch's float32 pooling; measured here:
 * samples ≤ 5.0e-6, thumbnail mean ≈ 2.6e-6 and max ≤ 9.1e-6. One grey level of one pixel moves a sample
 * by 1/255/0.225 ≈ 1.7e-2 and a thumbnail cell by ≈ 8.9e-5, so these bounds fail on any pixel difference.
 */
const bounds = { sampleMax: 6e-6, thumbnailMean: 4e-6, thumbnailMax: 2e-5 };

function thumbnail16(t: Tensor<'float32'>): number[] {
  const size = t.shape[3]!;
  const block = size / 16;
  const out: number[] = [];
  for (let c = 0; c < 3; c++) {
    for (let by = 0; by < 16; by++) {
      for (let bx = 0; bx < 16; bx++) {
        let sum = 0;
        for (let y = by * block; y < (by + 1) * block; y++) {
          for (let x = bx * block; x < (bx + 1) * block; x++) sum += t.data[(c * size + y) * size + x]!;
        }
        out.push(sum / (block * block));
      }
    }
  }
  return out;
}

function channelSums(image: Tensor<'uint8'>): number[] {
  const plane = image.shape[1]! * image.shape[2]!;
  return [0, 1, 2].map((c) => image.data.subarray(c * plane, (c + 1) * plane).reduce((a, v) => a + v, 0));
}

function differences(actual: number[], wanted: number[]): { mean: number; max: number } {
  let sum = 0;
  let max = 0;
  actual.forEach((v, i) => {
    const d = Math.abs(v - wanted[i]!);
    sum += d;
    max = Math.max(max, d);
  });
  return { mean: sum / actual.length, max };
}

async function comparePresets(name: string, source: string) {
  const want = expected.images[name]!;
  const image = await readImage(source);
  expect(image.shape).toEqual([3, want.height, want.width]);
  expect(channelSums(image), `${name} decoded pixel sums`).toEqual(want.channelSums);
  for (const [preset, p] of Object.entries(want.presets)) {
    const out = preprocess([image], { resizeSize: p.resizeSize, cropSize: p.cropSize });
    expect(out.shape).toEqual([1, 3, p.cropSize, p.cropSize]);
    const thumb = differences(thumbnail16(out), p.thumbnail16);
    const samples = differences(p.samples.map(([c, y, x]) => out.data[(c * p.cropSize + y) * p.cropSize + x]!), p.samples.map((s) => s[3]));
    const area = p.cropSize * p.cropSize;
    const means = [0, 1, 2].map((c) => out.data.subarray(c * area, (c + 1) * area).reduce((a, v) => a + v, 0) / area);
    const meanDiff = differences(means, p.channelMeans);
    console.log(`${name} ${preset}: thumbnail mean ${thumb.mean.toExponential(2)} max ${thumb.max.toExponential(2)}, samples max ${samples.max.toExponential(2)}, channel means max ${meanDiff.max.toExponential(2)}`);
    expect(thumb.mean, `${name} ${preset} thumbnail mean abs diff`).toBeLessThanOrEqual(bounds.thumbnailMean);
    expect(thumb.max, `${name} ${preset} thumbnail max abs diff`).toBeLessThanOrEqual(bounds.thumbnailMax);
    expect(samples.max, `${name} ${preset} sampled pixels max abs diff`).toBeLessThanOrEqual(bounds.sampleMax);
    expect(meanDiff.max, `${name} ${preset} channel means`).toBeLessThanOrEqual(bounds.sampleMax);
  }
}

describe('preprocess matches torchvision (synthetic images)', () => {
  for (const name of ['rgba.png', 'grey.png', 'exif6.jpg', 'lossless.webp']) {
    it(name, () => comparePresets(name, join(fixtures, name)));
  }
});

describe.skipIf(!havePhotos)('preprocess matches torchvision (photos)', () => {
  for (const name of ['dog.jpg', 'grace_hopper.jpg']) {
    it(name, () => comparePresets(name, join(photos, name)));
  }
});

interface NearestPaddingExpectation {
  height: number;
  width: number;
  resize: { size: number; height: number; width: number; sha256: string }[];
  crop: { size: number; sha256: string }[];
  preprocess: {
    resizeSize: number;
    cropSize: number;
    interpolation: Interpolation;
    sha256: string;
    channelMeans: number[];
    samples: [number, number, number, number][];
  }[];
}
const nearestPadding = JSON.parse(readFileSync(join(fixtures, 'nearest-padding.json'), 'utf8')) as {
  images: Record<string, NearestPaddingExpectation>;
};

function sha256(data: Uint8Array | Float32Array): string {
  return createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
}

/** Nearest resizes, oversized crops and the whole chain with them, bit for bit against torchvision. */
async function compareNearestPadding(name: string, source: string) {
  const want = nearestPadding.images[name]!;
  const image = await readImage(source);
  expect(image.shape).toEqual([3, want.height, want.width]);
  for (const r of want.resize) {
    const out = resize(image, r.size, 'nearest');
    expect(out.shape, `${name} nearest resize ${r.size}`).toEqual([3, r.height, r.width]);
    expect(sha256(out.data), `${name} nearest resize ${r.size}: pixels`).toBe(r.sha256);
  }
  for (const c of want.crop) {
    expect(sha256(centerCrop(image, c.size).data), `${name} centre crop ${c.size} (padded)`).toBe(c.sha256);
  }
  for (const p of want.preprocess) {
    const label = `${name} preprocess ${p.interpolation} ${p.resizeSize}/${p.cropSize}`;
    const out = preprocess(image, { resizeSize: p.resizeSize, cropSize: p.cropSize, interpolation: p.interpolation });
    // The samples first: on a mismatch they say where, the hash then says whether anything differs at all.
    const samples = p.samples.map(([c, y, x]) => out.data[(c * p.cropSize + y) * p.cropSize + x]!);
    expect(samples, `${label}: sampled values`).toEqual(p.samples.map((s) => s[3]));
    expect(sha256(out.data), `${label}: float32 output`).toBe(p.sha256);
  }
}

describe('nearest resize and oversized centre crops match torchvision bit for bit (synthetic images)', () => {
  for (const name of ['rgba.png', 'grey.png', 'exif6.jpg', 'lossless.webp']) {
    it(name, () => compareNearestPadding(name, join(fixtures, name)));
  }
});

describe.skipIf(!havePhotos)('nearest resize and oversized centre crops match torchvision bit for bit (photos)', () => {
  for (const name of ['dog.jpg', 'grace_hopper.jpg']) {
    it(name, () => compareNearestPadding(name, join(photos, name)));
  }
});

describe('readImage', () => {
  it('applies EXIF orientation: the stored 240x160 JPEG with orientation 6 is 160 wide, 240 high', async () => {
    expect((await readImage(join(fixtures, 'exif6.jpg'))).shape).toEqual([3, 240, 160]);
  });

  it('replicates greyscale into three equal channels and accepts a buffer', async () => {
    const image = await readImage(readFileSync(join(fixtures, 'grey.png')));
    const plane = image.shape[1]! * image.shape[2]!;
    expect(image.data.subarray(0, plane)).toEqual(image.data.subarray(plane, 2 * plane));
    expect(image.data.subarray(0, plane)).toEqual(image.data.subarray(2 * plane));
  });

  const bad: [string, () => Uint8Array | string, RegExp][] = [
    ['bytes that are no image', () => Buffer.from('this is not an image at all, just text'), /Cannot decode image buffer \(38 bytes\): .*unsupported image format/],
    ['an empty buffer', () => new Uint8Array(0), /it is empty/],
    ['a truncated JPEG', () => readFileSync(join(fixtures, 'exif6.jpg')).subarray(0, 4000), /Cannot decode image buffer \(4000 bytes\)/],
    ['a truncated PNG', () => readFileSync(join(fixtures, 'rgba.png')).subarray(0, 2000), /Cannot decode image buffer \(2000 bytes\)/],
    ['a 100000x100000 PNG (decompression bomb)', () => pngHeader(100_000, 100_000), /100000x100000 is 10000000000 pixels, more than the limit of 89478485/],
    ['a missing file', () => join(fixtures, 'no-such-image.png'), /Cannot read image file ".*no-such-image.png": ENOENT/],
  ];
  for (const [what, make, message] of bad) {
    it(`refuses ${what} with InvalidFileError`, async () => {
      const error = await readImage(make()).then(() => undefined, (e: unknown) => e as { code?: string; message: string });
      expect(error?.code).toBe('ERR_INVALID_FILE');
      expect(error?.message).toMatch(message);
    });
  }

  it('honours a lower maxPixels and rejects bad arguments', async () => {
    await expect(readImage(join(fixtures, 'grey.png'), { maxPixels: 1000 })).rejects.toMatchObject({ code: 'ERR_INVALID_FILE' });
    await expect(readImage(42 as unknown as string)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(readImage(join(fixtures, 'grey.png'), { maxPixels: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('transforms', () => {
  it("computes torchvision's resize size and centre-crop offsets (Python's half-to-even round)", () => {
    expect(resizedSize(1213, 1546, 256)).toEqual([256, 326]); // int(256 * 1546 / 1213) = 326
    expect(resizedSize(600, 512, 232)).toEqual([271, 232]);
    expect(centerCropOffset(256, 224)).toBe(16);
    expect(centerCropOffset(225, 224)).toBe(0); // round(0.5) = 0
    expect(centerCropOffset(227, 224)).toBe(2); // round(1.5) = 2
    expect(centerCropOffset(229, 224)).toBe(2); // round(2.5) = 2
    // Larger crops: minus the padding before the image, (crop - H) // 2; the odd row goes after it.
    expect(centerCropOffset(224, 224)).toBe(0);
    expect(centerCropOffset(201, 224)).toBe(-11); // 23 rows of padding: 11 before, 12 after
    expect(centerCropOffset(200, 224)).toBe(-12);
  });

  it('pads an oversized centre crop with zeros, the odd row and column after the image', () => {
    // A 2x3 image of ones in a 5x5 crop: rows 1..2 (3 rows of padding: 1 before, 2 after), columns 1..3.
    const ones = Tensor.from(new Uint8Array(3 * 2 * 3).fill(1), [3, 2, 3]);
    const plane = Array.from(centerCrop(ones, 5).data.subarray(0, 25));
    expect(plane).toEqual([
      0, 0, 0, 0, 0,
      0, 1, 1, 1, 0,
      0, 1, 1, 1, 0,
      0, 0, 0, 0, 0,
      0, 0, 0, 0, 0,
    ]);
  });

  it("takes Pillow's nearest source pixel: accumulated position (x + 0.5) * scale, truncated", () => {
    // 5x10 -> 3x6: scale 5/3 down the rows (positions 0.83, 2.5, 4.17 -> rows 0, 2, 4) and 10/6 across
    // (0.83, 2.5, 4.17, 5.83, 7.5, 9.17 -> columns 0, 2, 4, 5, 7, 9).
    const grid = Tensor.from(Uint8Array.from({ length: 3 * 5 * 10 }, (_, i) => 10 * (Math.floor(i / 10) % 5) + (i % 10)), [3, 5, 10]);
    expect(Array.from(resize(grid, 3, 'nearest').data.subarray(0, 18))).toEqual([
      0, 2, 4, 5, 7, 9,
      20, 22, 24, 25, 27, 29,
      40, 42, 44, 45, 47, 49,
    ]);
    // 2x2 -> 7x7: the fourth position accumulates to 0.9999999999999999 (source 0) where (3 + 0.5) * 2/7
    // computed directly gives 1; Pillow (checked: Image.resize((7, 7), NEAREST)) takes source 0.
    const tiny = Tensor.from(Uint8Array.from({ length: 3 * 4 }, (_, i) => i % 4), [3, 2, 2]);
    expect(Array.from(resize(tiny, 7, 'nearest').data.subarray(21, 35))).toEqual([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]);
    // 3 -> 6 (upscaling by 2): each source pixel twice.
    const small = Tensor.from(Uint8Array.from({ length: 3 * 3 * 3 }, (_, i) => (i % 9) % 3), [3, 3, 3]);
    expect(Array.from(resize(small, 6, 'nearest').data.subarray(0, 6))).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('keeps a constant image constant and batches in order', () => {
    const grey = Tensor.from(new Uint8Array(3 * 300 * 400).fill(128), [3, 300, 400]);
    const white = Tensor.from(new Uint8Array(3 * 250 * 250).fill(255), [3, 250, 250]);
    expect(resize(grey, 100).data.every((v) => v === 128)).toBe(true);
    const out = preprocess([grey, white], { resizeSize: 64, cropSize: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    expect(out.shape).toEqual([2, 3, 32, 32]);
    expect(out.data[0]).toBeCloseTo((128 / 255 - 0.5) / 0.5, 6);
    expect(out.data[3 * 32 * 32]).toBeCloseTo(1, 6);
  });

  it('rejects bad options and shapes', () => {
    const image = Tensor.from(new Uint8Array(3 * 8 * 8), [3, 8, 8]);
    expect(() => preprocess([image], { std: [1, 0, 1] })).toThrow(/Expected an array of 3 positive numbers for std/);
    expect(() => preprocess([image], { interpolation: 'area' as 'bilinear' })).toThrow(/'nearest', 'bilinear' or 'bicubic'.*interpolation/);
    expect(() => preprocess([])).toThrow(/non-empty array/);
    expect(() => preprocess([Tensor.from(new Uint8Array(8 * 8), [1, 8, 8])])).toThrow(/\[3, H, W\].*\[1, 8, 8\]/);
  });
});
