/**
 * Encoded images in a request (the BYTES form of the `input` tensor) → the model's pixels: each element
 * decoded, resized and centre-cropped with the weights' transforms, exactly as
 * `preprocess(readImage(bytes), transforms)` does before normalising (the engine normalises), on the
 * process's image pipeline (worker threads, off the event loop; on the calling thread only where no thread can
 * start, as when running from TypeScript sources). The GPU decoder (gpu-images.ts) falls back to the same
 * pipeline for the images it does not take, and words its errors the same way ({@link refusedElement}).
 * @module
 */
import { badRequest, type HttpError } from './http-error.js';
import { decodeAndPreprocess, decodeOnPipeline, serverImagePipeline, type DecodeResult, type ImageDecodeCallOptions } from './image-decode.js';
import type { ImageTransforms } from './model-source.js';
import type { ModelInput } from './served-model.js';
import { tensorNames } from './types.js';

/** The 400 for a request whose `inputName` has no elements. */
export function noElements(inputName: string): HttpError {
  return badRequest(`input '${inputName}' has no elements`);
}

/**
 * The 400 for element `element` (0-based) of `inputName` that the decoder refused, saying why: not a decodable
 * image (`ERR_INVALID_FILE`), or one whose preprocessing would exceed its work budget (`ERR_IMAGE_BUDGET`: too thin
 * for the crop, or a resize over the pixel limit).
 */
export function refusedElement(inputName: string, element: number, refusal: Pick<Extract<DecodeResult, { ok: false }>, 'message' | 'code'>): HttpError {
  const what = refusal.code === 'ERR_IMAGE_BUDGET' ? 'cannot be preprocessed within the limits' : 'is not a decodable image';
  return badRequest(`input '${inputName}' element ${element} ${what}: ${refusal.message}`);
}

/**
 * Decodes, resizes and crops `images` on the image pipeline (on this thread where none can start) into
 * `N × 3 × cropSize × cropSize` uint8 pixels (NCHW), or says which element (0-based) the client got wrong.
 * @throws HttpError 503 when the pipeline's queue is full; 499 once `options.signal` aborts; whatever else is not
 *   the client's fault.
 */
export function decodeOnCpu(images: readonly Uint8Array[], transforms: ImageTransforms, options: ImageDecodeCallOptions = {}): Promise<DecodeResult> {
  const pipeline = serverImagePipeline();
  return pipeline === null ? decodeAndPreprocess(images, transforms, options.signal) : decodeOnPipeline(pipeline, images, transforms, options);
}

/**
 * Decodes, resizes and crops one image per element into `N × 3 × cropSize × cropSize` uint8 pixels (NCHW).
 * @param inputName the tensor the elements came from, named in errors.
 * @param options the client's signal (its images stop when it goes away) and connection (for fair sharing).
 * @throws HttpError 400 naming the first element (0-based) that is not a decodable image (not an image format,
 *   truncated or corrupt, or over the decoder's pixel limit: a decompression bomb) or whose preprocessing would
 *   exceed its work budget (too thin for the crop, or a resize over the pixel limit); 503 when the image pipeline's
 *   queue is full; 499 once the signal aborts.
 */
export async function decodeImages(
  images: readonly Buffer[],
  transforms: ImageTransforms,
  inputName: string = tensorNames.input,
  options: ImageDecodeCallOptions = {},
): Promise<ModelInput> {
  if (images.length === 0) throw noElements(inputName);
  const result = await decodeOnCpu(images, transforms, options);
  if (!result.ok) throw refusedElement(inputName, result.element, result);
  return { dtype: 'uint8', layout: 'nchw', samples: images.length, segments: [result.data] };
}
