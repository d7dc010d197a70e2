/**
 * Encoded images in a request (the BYTES form of the `input` tensor) → the model's pixels: each element
 * decoded, resized and centre-cropped with the weights' transforms, exactly as
 * `preprocess(readImage(bytes), transforms)` does before normalising (the engine normalises), on the
 * process's image pipeline (worker threads, off the event loop; on the calling thread only where no thread can
 * start, as when running from TypeScript sources). The GPU decoder (gpu-images.ts) falls back to the same
 * pipeline for the images it does not take, and words its errors the same way ({@link notDecodable}).
 * @module
 */
import { badRequest, type HttpError } from './http-error.js';
import { decodeAndPreprocess, decodeOnPipeline, serverImagePipeline, type DecodeResult } from './image-decode.js';
import type { ImageTransforms } from './model-source.js';
import type { ModelInput } from './served-model.js';
import { tensorNames } from './types.js';

/** The 400 for a request whose `inputName` has no elements. */
export function noElements(inputName: string): HttpError {
  return badRequest(`input '${inputName}' has no elements`);
}

/** The 400 for element `element` (0-based) of `inputName` that is not a decodable image, saying why. */
export function notDecodable(inputName: string, element: number, message: string): HttpError {
  return badRequest(`input '${inputName}' element ${element} is not a decodable image: ${message}`);
}

/**
 * Decodes, resizes and crops `images` on the image pipeline (on this thread where none can start) into
 * `N × 3 × cropSize × cropSize` uint8 pixels (NCHW), or says which element (0-based) is not a decodable image.
 * @throws HttpError 503 when the pipeline's queue is full; whatever else is not the client's fault.
 */
export function decodeOnCpu(images: readonly Uint8Array[], transforms: ImageTransforms): Promise<DecodeResult> {
  const pipeline = serverImagePipeline();
  return pipeline === null ? decodeAndPreprocess(images, transforms) : decodeOnPipeline(pipeline, images, transforms);
}

/**
 * Decodes, resizes and crops one image per element into `N × 3 × cropSize × cropSize` uint8 pixels (NCHW).
 * @param inputName the tensor the elements came from, named in errors.
 * @throws HttpError 400 naming the first element (0-based) that is not a decodable image: not an image
 *   format, truncated or corrupt, or over the decoder's pixel limit (a decompression bomb); 503 when the image
 *   pipeline's queue is full.
 */
export async function decodeImages(
  images: readonly Buffer[],
  transforms: ImageTransforms,
  inputName: string = tensorNames.input,
): Promise<ModelInput> {
  if (images.length === 0) throw noElements(inputName);
  const result = await decodeOnCpu(images, transforms);
  if (!result.ok) throw notDecodable(inputName, result.element, result.message);
  return { dtype: 'uint8', layout: 'nchw', samples: images.length, segments: [result.data] };
}
