/**
 * The CPU work of an image request: encoded images → the model's pixels (uint8 NCHW, resized and centre-cropped
 * with the weights' transforms; the engine normalises them), or the index and reason of the first element that is
 * not a decodable image. On the process's {@link ImagePipeline} (worker threads), or, where none can start
 * (running from TypeScript sources), on the calling thread with the same task function.
 * @module
 */
import { availableParallelism } from 'node:os';
import { InvalidFileError, QueueFullError } from '../errors.js';
import { runImageTask } from '../vision/pipeline-task.js';
import { ImagePipeline } from '../vision/pipeline.js';
import { resolvePreprocessOptions } from '../vision/transforms.js';
import { unavailable } from './http-error.js';
import type { ImageTransforms } from './model-source.js';

/**
 * Largest image a request may carry, width × height: 24 MP (a 6000 × 4000 camera photo). The decoder's
 * own default (Pillow's 89 MP) would let a few hundred kilobytes of PNG become 270 MB of pixels.
 */
export const maxRequestImagePixels = 24_000_000;

/**
 * Images the server's pipeline lets wait for a thread. Past it an image request gets 503 with `Retry-After`, as a
 * full model queue does: a burst of photos is refused rather than held in memory without limit.
 */
export const serverImageQueue = 1024;

/** What decoding a request's images gave: the NCHW pixels, or the first element the client got wrong. */
export type DecodeResult =
  | { ok: true; data: Uint8Array }
  | { ok: false; element: number; message: string };

/**
 * Decodes every element on the calling thread (in parallel; sharp works off the thread, the resize does not) and
 * resizes and crops each with `transforms`, exactly as `preprocess(readImage(bytes), transforms)` does before it
 * normalises: the same pixels, 4 times smaller than the floats, normalised by the engine in its first kernel.
 * @throws whatever is not the client's fault (anything but an InvalidFileError from decoding).
 */
export async function decodeAndPreprocess(images: readonly Uint8Array[], transforms: ImageTransforms): Promise<DecodeResult> {
  const transform = resolvePreprocessOptions(transforms);
  const results = await Promise.all(images.map((source) =>
    runImageTask({ source, maxPixels: maxRequestImagePixels, transform, dtype: 'uint8', layout: 'nchw' })));
  const sample = 3 * transform.cropSize ** 2;
  const data = new Uint8Array(images.length * sample);
  for (const [element, result] of results.entries()) {
    if (!result.ok) {
      if (result.code !== 'ERR_INVALID_FILE') throw new Error(`decoding images failed: ${result.message}`);
      return { ok: false, element, message: result.message };
    }
    data.set(result.data, element * sample);
  }
  return { ok: true, data };
}

let shared: ImagePipeline | null | undefined;

/**
 * The server's image pipeline (two threads, or half the CPUs up to four; the 24 MP limit), made on first use, or
 * null where none can start (running from TypeScript sources), in which case images are prepared on the calling
 * thread. Shared by the process's models; its idle threads exit and never keep the process alive.
 */
export function serverImagePipeline(): ImagePipeline | null {
  shared ??= ImagePipeline.available()
    ? new ImagePipeline({
      threads: Math.min(4, Math.max(2, Math.floor(availableParallelism() / 2))), maxQueue: serverImageQueue, maxPixels: maxRequestImagePixels,
    })
    : null;
  return shared;
}

/**
 * {@link decodeAndPreprocess} on `pipeline`'s threads (every image a task of its own, so one request's photos
 * spread over the threads).
 * @throws HttpError 503 (Retry-After) when the pipeline's queue is full; whatever else is not the client's fault.
 */
export async function decodeOnPipeline(pipeline: ImagePipeline, images: readonly Uint8Array[], transforms: ImageTransforms): Promise<DecodeResult> {
  try {
    // The elements are views of a pooled request body: the pipeline copies each image's own bytes to its thread.
    const pixels = await pipeline.preprocess(images, { ...transforms, dtype: 'uint8' });
    return { ok: true, data: pixels.data };
  } catch (error) {
    if (error instanceof InvalidFileError && error.element !== undefined) return { ok: false, element: error.element, message: error.message };
    if (error instanceof QueueFullError) throw unavailable(`the image decoders are busy (${error.message})`, 1);
    throw error;
  }
}
