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
  const settled = await Promise.allSettled(images.map((bytes) => readImage(bytes)));
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
