/**
 * The work of an image request, in a form that crosses a worker boundary: encoded images → the model's
 * pixels (uint8 NCHW, resized and centre-cropped with the weights' transforms; the engine normalises
 * them), or the index and reason of the first element that is not a decodable image. Run on an image
 * worker (`image-worker.ts`) or, where none can start, on the calling thread.
 * @module
 */
import { InvalidFileError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { readImage } from '../vision/image.js';
import { centerCrop, resize } from '../vision/transforms.js';
import type { ImageTransforms } from './model-source.js';

/**
 * Largest image a request may carry, width × height: 24 MP (a 6000 × 4000 camera photo). The decoder's
 * own default (Pillow's 89 MP) would let a few hundred kilobytes of PNG become 270 MB of pixels.
 */
export const maxRequestImagePixels = 24_000_000;

/** What decoding a request's images gave: the NCHW pixels, or the first element the client got wrong. */
export type DecodeResult =
  | { ok: true; data: Uint8Array }
  | { ok: false; element: number; message: string };

/**
 * Decodes every element (in parallel; sharp works off the thread) and resizes and crops each with
 * `transforms`, exactly as `preprocess(readImage(bytes), transforms)` does before it normalises: the same
 * pixels, 4 times smaller than the floats, normalised by the engine in its first kernel.
 * @throws whatever is not the client's fault (anything but an InvalidFileError from decoding).
 */
export async function decodeAndPreprocess(images: readonly Uint8Array[], transforms: ImageTransforms): Promise<DecodeResult> {
  const settled = await Promise.allSettled(images.map((bytes) => readImage(bytes, { maxPixels: maxRequestImagePixels })));
  const pixels: Tensor<'uint8'>[] = [];
  for (const [element, result] of settled.entries()) {
    if (result.status === 'fulfilled') {
      pixels.push(result.value);
      continue;
    }
    const cause: unknown = result.reason;
    if (!(cause instanceof InvalidFileError)) throw cause;
    return { ok: false, element, message: cause.message };
  }
  const { resizeSize, cropSize, interpolation } = transforms;
  const sample = 3 * cropSize * cropSize;
  const data = new Uint8Array(pixels.length * sample);
  pixels.forEach((image, n) => data.set(centerCrop(resize(image, resizeSize, interpolation), cropSize).data, n * sample));
  return { ok: true, data };
}
