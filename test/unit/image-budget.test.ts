/**
 * The work budget of preprocessing (lib/vision/budget.ts through transforms.ts): thin images, oversized resize and
 * crop sizes, and resize targets over the pixel limit are refused with typed errors (codes, the image named, what
 * to change) from their sizes alone, where the unbounded code threw `RangeError: Invalid typed array length` or
 * spent seconds and gigabytes. The thin PNGs are made with sharp here; the refused sizes and the limits at their
 * boundaries are worked out by hand from torchvision's resize rule (shorter side to `resizeSize`, the longer one
 * scaled and truncated).
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ImageBudgetError, InvalidArgumentError, OutOfMemoryError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import { defaultMaxAspectRatio } from '../../lib/vision/budget.js';
import { readImage } from '../../lib/vision/image.js';
import { centerCrop, imagenetMean, imagenetStd, preprocess, resize } from '../../lib/vision/transforms.js';

/** A PNG of one colour, `width`×`height`, as sharp writes it. */
function flatPng(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

/** A uint8 `[3, height, width]` image whose channel c is `values[c]` everywhere. */
function flatImage(height: number, width: number, values: [number, number, number]): Tensor<'uint8'> {
  const data = new Uint8Array(3 * height * width);
  values.forEach((v, c) => data.fill(v, c * height * width, (c + 1) * height * width));
  return Tensor.from(data, [3, height, width]);
}

/** The error `f` throws (or the rejection of what it returns). */
async function failure(f: () => unknown): Promise<Error & { code?: string; element?: number }> {
  try {
    await f();
  } catch (error) {
    return error as Error & { code?: string; element?: number };
  }
  throw new Error('expected a failure');
}

describe('thin images', () => {
  it('readImage decodes the 2000x1 and 30000x1 PNGs (their own pixels are few)', async () => {
    const thin = await flatPng(2000, 1, [10, 20, 30]);
    expect(thin.length).toBeLessThan(200); // a request of a few hundred bytes
    const image = await readImage(thin);
    expect(image.shape).toEqual([3, 1, 2000]);
    expect([image.data[0], image.data[2000], image.data[4000]]).toEqual([10, 20, 30]);
    expect((await readImage(await flatPng(30000, 1, [1, 2, 3]))).shape).toEqual([3, 1, 30000]);
  });

  it('preprocess refuses them with ImageBudgetError naming the image, its aspect ratio and what to do', async () => {
    const thin = await readImage(await flatPng(2000, 1, [10, 20, 30]));
    const error = await failure(() => preprocess(thin));
    expect(error).toBeInstanceOf(ImageBudgetError);
    expect(error.code).toBe('ERR_IMAGE_BUDGET');
    expect(error.element).toBe(0);
    // 256 × 2000 / 1 = 512,000; the crop sees 224 / 512,000 = 0.044% of the long side.
    expect(error.message).toBe(
      'images[0] is 2000x1, an aspect ratio of 2000:1, past the limit of 100:1: resized so that its shorter side is 256 (512000x256), ' +
        'its 224-pixel centre crop would see 0.044% of its long side. Crop or pad it nearer to square before preprocessing it, ' +
        'or raise maxAspectRatio',
    );

    const tall = await readImage(await flatPng(1, 30000, [1, 2, 3]));
    const wide = await readImage(await flatPng(30000, 1, [1, 2, 3]));
    const second = await failure(() => preprocess([flatImage(8, 8, [0, 0, 0]), wide, tall]));
    expect(second).toBeInstanceOf(ImageBudgetError);
    expect(second.element).toBe(1); // the first refused, every image checked before any is resized
    expect(second.message).toMatch(/^images\[1\] is 30000x1, an aspect ratio of 30000:1, .*\(7680000x256\)/);
    expect((await failure(() => preprocess(tall))).message).toMatch(/^images\[0\] is 1x30000, .*\(256x7680000\)/);
  });

  it(`accepts an aspect ratio of ${defaultMaxAspectRatio}:1 and refuses ${defaultMaxAspectRatio + 1}:1; maxAspectRatio moves the bound`, () => {
    const values: [number, number, number] = [51, 102, 153];
    const out = preprocess(flatImage(1, 100, values));
    expect(out.shape).toEqual([1, 3, 224, 224]);
    // A constant image stays constant through the resize: each channel is (v / 255 - mean) / std in float32.
    for (let c = 0; c < 3; c++) {
      const expected = Math.fround(Math.fround(Math.fround(values[c]! / 255) - Math.fround(imagenetMean[c]!)) / Math.fround(imagenetStd[c]!));
      const plane = out.data.subarray(c * 224 * 224, (c + 1) * 224 * 224);
      expect(plane.every((v) => v === expected)).toBe(true);
    }
    expect(() => preprocess(flatImage(101, 1, values))).toThrow(/^images\[0\] is 1x101, an aspect ratio of 101:1, past the limit of 100:1/);
    expect(() => preprocess(flatImage(1, 41, values), { maxAspectRatio: 40.5 })).toThrow(/an aspect ratio of 41:1, past the limit of 40.5:1/);
    expect(preprocess(flatImage(1, 150, values), { maxAspectRatio: Infinity }).shape).toEqual([1, 3, 224, 224]);
  });
});

describe('resize targets and sizes over the pixel limit', () => {
  it('resizeSize 100000 and cropSize 100000 are refused as options, saying the largest that fits', () => {
    const image = flatImage(8, 8, [0, 0, 0]);
    for (const name of ['resizeSize', 'cropSize'] as const) {
      const error = (() => {
        try {
          preprocess(image, { [name]: 100_000 });
        } catch (e) {
          return e as InvalidArgumentError;
        }
        throw new Error('expected a failure');
      })();
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      // floor(sqrt(89,478,485)) = 9459
      expect(error.message).toBe(
        `Expected ${name} at most 9459 but received 100000: it makes every image at least 100000x100000 = 10000000000 pixels, ` +
          `more than the limit of 89478485. Lower ${name}, or raise maxPixels`,
      );
    }
    // The server's 24 MP: floor(sqrt(24,000,000)) = 4898.
    expect(() => preprocess(image, { resizeSize: 4899, maxPixels: 24_000_000 })).toThrow('Expected resizeSize at most 4898 but received 4899');
  });

  it('a resize target of exactly maxPixels passes, one pixel more is refused', () => {
    // 50x1 at resizeSize 256: 12800x256 = 3,276,800 pixels.
    const image = flatImage(1, 50, [7, 7, 7]);
    const options = { resizeSize: 256, cropSize: 16, maxAspectRatio: Infinity };
    expect(preprocess(image, { ...options, maxPixels: 3_276_800 }).shape).toEqual([1, 3, 16, 16]);
    const error = (() => {
      try {
        preprocess(image, { ...options, maxPixels: 3_276_799 });
      } catch (e) {
        return e as ImageBudgetError;
      }
      throw new Error('expected a failure');
    })();
    expect(error).toBeInstanceOf(ImageBudgetError);
    expect(error.message).toBe(
      'images[0] is 50x1: resized so that its shorter side is 256 it would be 12800x256 = 3276800 pixels, more than the limit of ' +
        '3276799. Lower the resize size, crop the image nearer to square, or raise maxPixels',
    );
  });

  it('resize and centerCrop check their result against maxPixels before making it', () => {
    const image = flatImage(8, 8, [1, 2, 3]);
    expect(() => resize(image, 100_000)).toThrow(ImageBudgetError);
    expect(() => resize(image, 100_000)).toThrow(/image is 8x8: resized so that its shorter side is 100000 it would be 100000x100000/);
    expect(() => resize(image, 64, 'bilinear', { maxPixels: 4095 })).toThrow(/64x64 = 4096 pixels, more than the limit of 4095/);
    expect(resize(image, 64, 'bilinear', { maxPixels: 4096 }).shape).toEqual([3, 64, 64]);
    expect(() => centerCrop(image, 100_000)).toThrow(InvalidArgumentError);
    expect(() => centerCrop(image, 65, { maxPixels: 4096 })).toThrow('Expected size at most 64 but received 65');
    expect(centerCrop(image, 64, { maxPixels: 4096 }).shape).toEqual([3, 64, 64]);
  });

  it('a limit set beyond what V8 can allocate gives OutOfMemoryError, not a RangeError', () => {
    // 40000 x 40000 x 3 bytes = 4.8 GB, past the 4 GiB a typed array may hold; within a maxPixels of 2e9.
    const error = (() => {
      try {
        preprocess(flatImage(8, 8, [0, 0, 0]), { resizeSize: 40_000, cropSize: 8, maxPixels: 2e9 });
      } catch (e) {
        return e as OutOfMemoryError;
      }
      throw new Error('expected a failure');
    })();
    expect(error).toBeInstanceOf(OutOfMemoryError);
    expect(error.code).toBe('ERR_OUT_OF_MEMORY');
    expect(error.message).toMatch(/^Cannot allocate 4800000000 bytes for a 40000x40000 resize \(.*\): lower maxPixels, or the batch$/);
  });

  it('checks maxPixels and maxAspectRatio', () => {
    const image = flatImage(8, 8, [0, 0, 0]);
    expect(() => preprocess(image, { maxAspectRatio: 0.5 })).toThrow('Expected a number of at least 1 (Infinity: no bound) for maxAspectRatio but received 0.5');
    expect(() => preprocess(image, { maxAspectRatio: NaN })).toThrow(InvalidArgumentError);
    expect(() => preprocess(image, { maxPixels: 0 })).toThrow('Expected a positive integer for maxPixels but received 0');
    expect(() => resize(image, 16, 'bilinear', { maxPixels: 1.5 })).toThrow(InvalidArgumentError);
  });
});
