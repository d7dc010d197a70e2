/**
 * One image's work in an {@link ImagePipeline}, in a form that crosses a worker boundary: an encoded image (bytes
 * or a path) or decoded planar pixels in, the decoded image or its preprocessed sample out, or the stable code
 * and message of the error that refused it. The same function runs on the pipeline's worker threads and, in the
 * server when no worker can start (running from TypeScript sources), on the calling thread, so both give the
 * same bits.
 * @module
 * @internal
 */
import { ResnetError, invalidArgument, type ErrorCode } from '../errors.js';
import { Tensor } from '../tensor.js';
import { decodeImage } from './image.js';
import { checkImage, checkImageBudget, cropPixels, normalizeInto, type ResolvedPreprocessOptions } from './transforms.js';

/** A decoded image, planar RGB `[3, height, width]` uint8, as {@link readImage} gives it. */
export interface PlanarPixels {
  readonly pixels: Uint8Array;
  readonly height: number;
  readonly width: number;
}

/** The layouts of a preprocessed sample: planes `[3, S, S]`, or interleaved `[S, S, 3]`. */
export type SampleLayout = 'nchw' | 'nhwc';

/** One image's work. */
export interface ImageTask {
  /** An encoded image in memory, a path to one, or pixels decoded already. */
  readonly source: Uint8Array | string | PlanarPixels;
  /** The decoder's pixel limit (see `ReadImageOptions.maxPixels`). */
  readonly maxPixels: number;
  /** The transform, or null to decode only. */
  readonly transform: ResolvedPreprocessOptions | null;
  /** float32: scaled and normalised as `preprocess`; uint8: the resized, cropped pixels as they are. */
  readonly dtype: 'float32' | 'uint8';
  readonly layout: SampleLayout;
}

/** What a task gave: the data and its shape, or the typed error that refused the image. */
export type ImageTaskResult =
  | { readonly ok: true; readonly data: Float32Array | Uint8Array; readonly shape: readonly number[] }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

/**
 * One image of a pipeline call, ready to post: the task and the buffers it hands over. A tensor is checked here,
 * its budget included, so that a call with a bad one is refused before it is admitted.
 * @throws InvalidArgumentError, ShapeError or ImageBudgetError naming the image.
 */
export function toTask(input: unknown, element: number, name: string, maxPixels: number, transform: ResolvedPreprocessOptions | null,
  dtype: 'float32' | 'uint8', layout: SampleLayout): { task: ImageTask; transferList: ArrayBuffer[] } {
  if (typeof input === 'string') return { task: { source: input, maxPixels, transform, dtype, layout }, transferList: [] };
  if (input instanceof Tensor) {
    checkImage(input, name);
    const [, height, width] = input.shape as [number, number, number];
    // Its size is known here: a tensor too thin for the crop is refused before the call is admitted.
    if (transform !== null) checkImageBudget(width, height, transform, name, element);
    // Copied: the caller's tensor stays usable, and only its own bytes travel (not a larger buffer it views).
    const pixels = new Uint8Array(input.data);
    return { task: { source: { pixels, height, width }, maxPixels, transform, dtype, layout }, transferList: [pixels.buffer] };
  }
  if (input instanceof Uint8Array) {
    const bytes = new Uint8Array(input);
    return { task: { source: bytes, maxPixels, transform, dtype, layout }, transferList: [bytes.buffer] };
  }
  throw invalidArgument('an encoded image (Uint8Array), a file path or a uint8 Tensor [3, H, W]', name, input);
}

/** Planes `[3, S, S]` → interleaved `[S, S, 3]`. */
function interleave<A extends Float32Array | Uint8Array>(planes: A, out: A): A {
  const area = planes.length / 3;
  for (let i = 0; i < area; i++) {
    out[3 * i] = planes[i]!;
    out[3 * i + 1] = planes[area + i]!;
    out[3 * i + 2] = planes[2 * area + i]!;
  }
  return out;
}

/** The sample of one decoded image. */
function transformed(image: Tensor<'uint8'>, task: ImageTask, transform: ResolvedPreprocessOptions): ImageTaskResult {
  const size = transform.cropSize;
  const shape = task.layout === 'nhwc' ? [size, size, 3] : [3, size, size];
  const cropped = cropPixels(image, transform);
  if (task.dtype === 'uint8') {
    return { ok: true, data: task.layout === 'nhwc' ? interleave(cropped, new Uint8Array(cropped.length)) : cropped, shape };
  }
  const planes = new Float32Array(cropped.length);
  normalizeInto(cropped, transform, planes, 0);
  return { ok: true, data: task.layout === 'nhwc' ? interleave(planes, new Float32Array(planes.length)) : planes, shape };
}

/**
 * Runs `task`. A {@link ResnetError} (a file that is no image, over the pixel limit, too thin for the crop, …)
 * becomes a failed result with its code and message, which the pipeline turns back into the same typed error on
 * the calling thread. An encoded image is checked against the transform's budget from its header, before it is
 * decoded. `signal` (the calling thread's path) stops the work between the decode and the resize.
 * @throws whatever else fails (not the input's fault), and `signal.reason` once it aborts.
 */
export async function runImageTask(task: ImageTask, signal?: AbortSignal): Promise<ImageTaskResult> {
  try {
    const { source, transform } = task;
    const image = typeof source === 'string' || source instanceof Uint8Array
      ? await decodeImage(source, { maxPixels: task.maxPixels }, transform === null ? undefined : (width, height, what) => {
        checkImageBudget(width, height, transform, what);
      })
      : Tensor.from(source.pixels, [3, source.height, source.width]);
    signal?.throwIfAborted();
    if (transform === null) return { ok: true, data: image.data, shape: image.shape };
    return transformed(image, task, transform);
  } catch (error) {
    if (error instanceof ResnetError) return { ok: false, code: error.code, message: error.message };
    throw error;
  }
}
