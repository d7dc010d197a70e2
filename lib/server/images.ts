/**
 * Encoded images in a request (the BYTES form of the `input` tensor) → the model's float input: each
 * element decoded (in parallel, off the JS thread) and preprocessed with the weights' transforms, exactly
 * as `preprocess(readImage(bytes), transforms)` would.
 * @module
 */
import { InvalidFileError } from '../errors.js';
import { readImage } from '../vision/image.js';
import { preprocess } from '../vision/transforms.js';
import type { Tensor } from '../tensor.js';
import { badRequest } from './http-error.js';
import type { ImageTransforms } from './model-source.js';
import { tensorNames } from './types.js';

/**
 * Largest image a request may carry, width × height: 24 MP (a 6000 × 4000 camera photo). The decoder's
 * own default (Pillow's 89 MP) would let a few hundred kilobytes of PNG become 270 MB of pixels, and the
 * resize runs on the event loop.
 */
export const maxRequestImagePixels = 24_000_000;

/** Images decoding at once, across every request and model: libuv's default thread-pool size. */
const concurrentDecodes = 4;
let decoding = 0;
const waiting: (() => void)[] = [];

/** Runs `decode` when fewer than {@link concurrentDecodes} decodes run, so a burst of images queues here. */
async function limited<T>(decode: () => Promise<T>): Promise<T> {
  if (decoding >= concurrentDecodes) await new Promise<void>((resolve) => waiting.push(resolve));
  decoding++;
  try {
    return await decode();
  } finally {
    decoding--;
    waiting.shift()?.();
  }
}

/**
 * Decodes and preprocesses one image per element into `N × 3 × cropSize × cropSize` float32 values (NCHW).
 * @param inputName the tensor the elements came from, named in errors.
 * @throws HttpError 400 naming the first element (0-based) that is not a decodable image: not an image
 *   format, truncated or corrupt, or over the decoder's pixel limit (a decompression bomb).
 */
export async function decodeImages(
  images: readonly Buffer[],
  transforms: ImageTransforms,
  inputName: string = tensorNames.input,
): Promise<Float32Array> {
  if (images.length === 0) throw badRequest(`input '${inputName}' has no elements`);
  const settled = await Promise.allSettled(images.map((bytes) => limited(() => readImage(bytes, { maxPixels: maxRequestImagePixels }))));
  const pixels: Tensor<'uint8'>[] = [];
  for (const [index, result] of settled.entries()) {
    if (result.status === 'fulfilled') {
      pixels.push(result.value);
      continue;
    }
    const cause: unknown = result.reason;
    // Anything else is a fault of ours, not of the client's bytes: let it become a 500.
    if (!(cause instanceof InvalidFileError)) throw cause;
    throw badRequest(`input '${inputName}' element ${index} is not a decodable image: ${cause.message}`);
  }
  const { resizeSize, cropSize, interpolation, mean, std } = transforms;
  return preprocess(pixels, { resizeSize, cropSize, interpolation, mean, std }).data;
}
