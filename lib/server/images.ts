/**
 * Encoded images in a request (the BYTES form of the `input` tensor) → the model's pixels: each element
 * decoded, resized and centre-cropped with the weights' transforms, exactly as
 * `preprocess(readImage(bytes), transforms)` does before normalising (the engine normalises), on the
 * process's image workers (off the event loop; on the calling thread only where no worker can start, as
 * when running from TypeScript sources).
 * @module
 */
import { badRequest } from './http-error.js';
import { decodeAndPreprocess } from './image-decode.js';
import { sharedImageWorkers } from './image-workers.js';
import type { ImageTransforms } from './model-source.js';
import type { ModelInput } from './served-model.js';
import { tensorNames } from './types.js';

/**
 * Decodes, resizes and crops one image per element into `N × 3 × cropSize × cropSize` uint8 pixels (NCHW).
 * @param inputName the tensor the elements came from, named in errors.
 * @throws HttpError 400 naming the first element (0-based) that is not a decodable image: not an image
 *   format, truncated or corrupt, or over the decoder's pixel limit (a decompression bomb).
 */
export async function decodeImages(
  images: readonly Buffer[],
  transforms: ImageTransforms,
  inputName: string = tensorNames.input,
): Promise<ModelInput> {
  if (images.length === 0) throw badRequest(`input '${inputName}' has no elements`);
  const workers = sharedImageWorkers();
  const result = workers === null ? await decodeAndPreprocess(images, transforms) : await workers.run(images, transforms);
  if (!result.ok) throw badRequest(`input '${inputName}' element ${result.element} is not a decodable image: ${result.message}`);
  return { dtype: 'uint8', layout: 'nchw', samples: images.length, segments: [result.data] };
}
