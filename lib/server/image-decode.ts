/**
 * The work of an image request, in a form that crosses a worker boundary: encoded images → the model's
 * float input, or the index and reason of the first element that is not a decodable image. Run on an
 * image worker (`image-worker.ts`) or, where none can start, on the calling thread.
 * @module
 */
import { InvalidFileError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { readImage } from '../vision/image.js';
import { preprocess } from '../vision/transforms.js';
import type { ImageTransforms } from './model-source.js';

/**
 * Largest image a request may carry, width × height: 24 MP (a 6000 × 4000 camera photo). The decoder's
 * own default (Pillow's 89 MP) would let a few hundred kilobytes of PNG become 270 MB of pixels.
 */
export const maxRequestImagePixels = 24_000_000;

/** What decoding a request's images gave: the NCHW floats, or the first element the client got wrong. */
export type DecodeResult =
  | { ok: true; data: Float32Array }
  | { ok: false; element: number; message: string };

/**
 * Decodes every element (in parallel; sharp works off the thread) and preprocesses them together with
 * `transforms`, exactly as `preprocess(readImage(bytes), transforms)`.
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
  const { resizeSize, cropSize, interpolation, mean, std } = transforms;
  return { ok: true, data: preprocess(pixels, { resizeSize, cropSize, interpolation, mean, std }).data as Float32Array };
}
