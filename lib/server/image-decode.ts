/**
 * The CPU work of an image request: encoded images → the model's pixels (uint8 NCHW, resized and centre-cropped
 * with the weights' transforms; the engine normalises them), or the index and reason of the first element that is
 * not a decodable image. On the process's {@link ImagePipeline} (worker threads), or, where none can start
 * (running from TypeScript sources), on the calling thread with the same task function.
 *
 * The work of each image is bounded before it starts: the 24 MP limit applies to the image (from its header), to
 * its resize target and to its crop, and an image more than 100 times longer than wide (or the reverse) is refused
 * (see vision/budget.ts). A request whose client goes away stops its images, waiting or running (`signal`), and the
 * workers are shared fairly between connections (`client`, see vision/fair-queue.ts).
 * @module
 */
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { ImageBudgetError, InvalidFileError, QueueFullError } from '../errors.js';
import { runImageTask } from '../vision/pipeline-task.js';
import { ImagePipeline } from '../vision/pipeline.js';
import { resolvePreprocessOptions } from '../vision/transforms.js';
import { canceled } from './batcher.js';
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

/** What decoding a request's images gave: the NCHW pixels, or the first element the client got wrong and why. */
export type DecodeResult =
  | { ok: true; data: Uint8Array }
  | { ok: false; element: number; message: string; code: 'ERR_INVALID_FILE' | 'ERR_IMAGE_BUDGET' };

/** How one request's decoding is tied to its client. */
export interface ImageDecodeCallOptions {
  /** Aborts when the client goes away: its images are dropped from the queue or stopped, and the call rejects with 499. */
  readonly signal?: AbortSignal;
  /** Its connection: the image workers are shared fairly between clients (default: a client of its own). */
  readonly client?: string;
}

/** The server's transforms with its limits: the 24 MP limit on the resize target and the crop too. */
function serverTransform(transforms: ImageTransforms): ReturnType<typeof resolvePreprocessOptions> {
  return resolvePreprocessOptions({ ...transforms, maxPixels: maxRequestImagePixels });
}

/** The 499 when `error` is `signal`'s abort; else `error` as it is. */
function abortedAs499(error: unknown, signal: AbortSignal | undefined): unknown {
  return signal?.aborted === true && error === signal.reason ? canceled() : error;
}

/**
 * Decodes every element on the calling thread (in parallel; sharp works off the thread, the resize does not) and
 * resizes and crops each with `transforms`, exactly as `preprocess(readImage(bytes), transforms)` does before it
 * normalises: the same pixels, 4 times smaller than the floats, normalised by the engine in its first kernel.
 * `signal` stops each image between its decode and its resize.
 * @throws HttpError 499 once `signal` aborts; whatever is not the client's fault (anything but an InvalidFileError or
 *   ImageBudgetError from decoding).
 */
export async function decodeAndPreprocess(images: readonly Uint8Array[], transforms: ImageTransforms, signal?: AbortSignal): Promise<DecodeResult> {
  const transform = serverTransform(transforms);
  turnVipsCacheOff();
  let results;
  try {
    signal?.throwIfAborted();
    results = await Promise.all(images.map((source) =>
      runImageTask({ source, maxPixels: maxRequestImagePixels, transform, dtype: 'uint8', layout: 'nchw' }, signal)));
  } catch (error) {
    throw abortedAs499(error, signal);
  }
  const sample = 3 * transform.cropSize ** 2;
  const data = new Uint8Array(images.length * sample);
  for (const [element, result] of results.entries()) {
    if (!result.ok) {
      if (result.code !== 'ERR_INVALID_FILE' && result.code !== 'ERR_IMAGE_BUDGET') throw new Error(`decoding images failed: ${result.message}`);
      return { ok: false, element, message: result.message, code: result.code };
    }
    data.set(result.data, element * sample);
  }
  return { ok: true, data };
}

let shared: ImagePipeline | null | undefined;
let vipsCacheOff = false;

/**
 * Turns libvips' operation cache off for the process (the pipeline's workers do it too): each image is decoded once,
 * so the cache would only keep past decodes' memory (50 MB and 20 open files by default).
 */
function turnVipsCacheOff(): void {
  if (vipsCacheOff) return;
  sharp.cache(false);
  vipsCacheOff = true;
}

/**
 * The server's image pipeline (two threads, or half the CPUs up to four; the 24 MP limit), made on first use, or
 * null where none can start (running from TypeScript sources), in which case images are prepared on the calling
 * thread. Shared by the process's models; its idle threads exit and never keep the process alive.
 *
 * What decoding may hold is bounded: libvips' operation cache is off ({@link turnVipsCacheOff}) and its threads per
 * decode are sharp's default (1 with glibc's allocator, whose per-thread arenas otherwise keep what hostile images
 * made them grow to), at most the cores over the pipeline's threads; see ImagePipelineOptions.vipsThreads.
 */
export function serverImagePipeline(): ImagePipeline | null {
  if (shared === undefined) {
    turnVipsCacheOff();
    shared = ImagePipeline.available()
      ? new ImagePipeline({
        threads: Math.min(4, Math.max(2, Math.floor(availableParallelism() / 2))), maxQueue: serverImageQueue, maxPixels: maxRequestImagePixels,
      })
      : null;
  }
  return shared;
}

/**
 * {@link decodeAndPreprocess} on `pipeline`'s threads (every image a task of its own, so one request's photos
 * spread over the threads), shared fairly with the other clients' images, stopped when `signal` aborts.
 * @throws HttpError 503 (Retry-After) when the pipeline's queue is full; 499 once `signal` aborts; whatever else is
 *   not the client's fault.
 */
export async function decodeOnPipeline(
  pipeline: ImagePipeline, images: readonly Uint8Array[], transforms: ImageTransforms, options: ImageDecodeCallOptions = {},
): Promise<DecodeResult> {
  const { signal, client } = options;
  try {
    // The elements are views of a pooled request body: the pipeline copies each image's own bytes to its thread.
    const pixels = await pipeline.preprocess(images, {
      ...transforms, dtype: 'uint8', ...(signal === undefined ? {} : { signal }), ...(client === undefined ? {} : { client }),
    });
    return { ok: true, data: pixels.data };
  } catch (error) {
    if ((error instanceof InvalidFileError || error instanceof ImageBudgetError) && error.element !== undefined) {
      return { ok: false, element: error.element, message: error.message, code: error instanceof ImageBudgetError ? 'ERR_IMAGE_BUDGET' : 'ERR_INVALID_FILE' };
    }
    if (error instanceof QueueFullError) throw unavailable(`the image decoders are busy (${error.message})`, 1);
    throw abortedAs499(error, signal);
  }
}
