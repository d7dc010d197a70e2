/**
 * Image decoding and preprocessing on worker threads (piscina), so that the event loop stays free: decoding a
 * photo and resizing it as Pillow does holds a thread 40–150 ms. {@link ImagePipeline} gives the same bits as
 * {@link readImage} and {@link preprocess} on the calling thread, with bounds a server needs: a queue limit
 * that refuses work with {@link QueueFullError} rather than letting it pile up, a work budget per image checked
 * before the work, threads shared fairly between clients, an `AbortSignal` per call, and a `close()` that finishes
 * (or cancels the queued part of) what was accepted. {@link preprocessAsync} runs on a shared pipeline made on
 * first use, whose idle threads neither keep the process alive nor stay around.
 * @module
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import sharp from 'sharp';
import { DisposedError, ImageBudgetError, InvalidFileError, QueueFullError, UnsupportedError, fromNative, invalidArgument } from '../errors.js';
import { Tensor } from '../tensor.js';
import { FairQueue } from './fair-queue.js';
import { defaultMaxPixels } from './image.js';
import { toTask, type ImageTask, type ImageTaskResult, type SampleLayout } from './pipeline-task.js';
import type { PipelineWorkerData } from './pipeline-worker.js';
import { resolvePreprocessOptions, type PreprocessOptions, type ResolvedPreprocessOptions } from './transforms.js';

/** The compiled worker script; absent when this module runs from its TypeScript source. */
const workerUrl = new URL('./pipeline-worker.js', import.meta.url);

/** An image for the pipeline: an encoded image in memory (JPEG, PNG, WebP, …), a path to one, or a decoded uint8 `[3, H, W]` tensor. */
export type ImageInput = Uint8Array | string | Tensor<'uint8'>;

/** Options of an {@link ImagePipeline}. */
export interface ImagePipelineOptions {
  /** Worker threads. Default: half the cores, at least 2 and at most 8. */
  threads?: number;
  /**
   * Images that may wait for a thread, beyond one running on each thread; a call that would exceed it is refused
   * whole with {@link QueueFullError}. Default 256.
   */
  maxQueue?: number;
  /**
   * The pixel limit of every image: the decoder's for encoded images (see {@link ReadImageOptions}), and the
   * preprocessing's for the resize target and the crop (see {@link PreprocessOptions}). Default {@link defaultMaxPixels}.
   */
  maxPixels?: number;
  /**
   * libvips' threads for each decode (`sharp.concurrency`, a process-wide setting that the workers make). Default:
   * sharp's own default (1 where glibc's allocator is detected, whose per-thread arenas would otherwise keep the
   * memory of past decodes; else the cores) and at most the cores divided by `threads`, at least 1, so that the
   * workers' decodes together do not oversubscribe the cores. The workers also turn libvips' operation cache off
   * (`sharp.cache(false)`, process-wide too): each image is decoded once, so the cache would only hold memory.
   */
  vipsThreads?: number;
  /** A thread idle this long exits (the next image starts one). Default 10,000 ms. */
  idleTimeoutMs?: number;
}

/** Options of {@link ImagePipeline.decode}. */
export interface ImageDecodeOptions {
  /** This call's pixel limit, in place of the pipeline's. */
  maxPixels?: number;
  /** Aborting it rejects the call with `signal.reason`: queued work is dropped, running work abandoned. */
  signal?: AbortSignal;
  /**
   * Who the call is for (any value, compared with `===`: a connection, a user id). The threads are shared between
   * clients: each thread that frees takes the next image of the client with the fewest images running, round-robin
   * among equals, so one client's many images cannot hold every thread while another's wait. Default: the call
   * itself (each call a client of its own).
   */
  client?: unknown;
}

/** Options of {@link ImagePipeline.preprocess}: {@link preprocess}'s, and the output's form. */
export interface ImagePreprocessOptions extends PreprocessOptions, ImageDecodeOptions {
  /**
   * `float32` (default): scaled and normalised, equal to {@link preprocess}'s output. `uint8`: the resized and
   * cropped pixels, not normalised (`mean` and `std` are checked but unused), for an engine that normalises in its
   * first kernel (`compileGraph(graph, { normalization })`), at a quarter of the bytes.
   */
  dtype?: 'float32' | 'uint8';
  /** `nchw` (default): `[N, 3, S, S]`. `nhwc`: `[N, S, S, 3]`, marked with `asLayout('nhwc')`. */
  layout?: SampleLayout;
}

/** What an {@link ImagePipeline} is doing. */
export interface ImagePipelineStats {
  /** Worker threads alive. */
  threads: number;
  /** Images accepted and not yet done: running, or waiting for a thread. */
  pending: number;
  /** Images done since the pipeline was made: run to the end on a thread (a result or a refusal), not abandoned. */
  completed: number;
  /** Images whose call's signal aborted before they were done: dropped while waiting, or abandoned while running. */
  cancelled: number;
  /** Clients with images pending. */
  clients: number;
}

/** Options of {@link ImagePipeline.close}. */
export interface ImagePipelineCloseOptions {
  /**
   * Reject the images still waiting for a thread with {@link DisposedError} (those running still finish and
   * deliver). Default false: everything accepted finishes.
   */
  cancelQueued?: boolean;
}

function positiveInteger(value: unknown, name: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) throw invalidArgument('a positive integer', name, value);
  return value as number;
}

function nonNegativeInteger(value: unknown, name: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalidArgument('a non-negative integer', name, value);
  return value as number;
}

/** The default thread count: half the cores, at least 2 and at most 8. */
function defaultThreads(): number {
  return Math.min(8, Math.max(2, Math.floor(availableParallelism() / 2)));
}

/**
 * libvips' threads per decode that sharp chose for this process when it loaded: 1 with glibc's allocator (unless
 * jemalloc or `MALLOC_ARENA_MAX` is in use), to keep its per-thread arenas from holding past decodes' memory; else
 * the cores. Read before any worker sets its own.
 */
const sharpDefaultThreads = sharp.concurrency();

/** The longest timer Node allows: piscina's close gives up after it, and the pipeline's own close waits for its work. */
const longestTimeoutMs = 2 ** 31 - 1;

/** One image of a call, from its admission until it is done. */
interface Job {
  readonly task: ImageTask;
  readonly transferList: ArrayBuffer[];
  readonly signal: AbortSignal | undefined;
  readonly resolve: (result: ImageTaskResult) => void;
  readonly reject: (reason: unknown) => void;
}

/**
 * Decodes and preprocesses images on worker threads (piscina): {@link readImage} and {@link preprocess}, bit for
 * bit, off the event loop. Each image is one task, so a batch spreads over the threads; the results come back
 * in transfer lists (not copied), and a batch is gathered into one tensor.
 *
 * Bounds: at most `threads` images run and `maxQueue` wait; a call that does not fit is refused whole with
 * {@link QueueFullError} (`ERR_QUEUE_FULL`) before any of it starts. Each image's preprocessing is checked against
 * its work budget (`maxPixels` for the resize target and the crop, `maxAspectRatio`) before it is decoded:
 * {@link ImageBudgetError} (`ERR_IMAGE_BUDGET`) otherwise. Waiting images are served fairly between the calls'
 * `client`s (see {@link ImageDecodeOptions.client}). A call's `signal` drops its waiting images and abandons its
 * running ones: the call rejects at once, and each running image finishes on its thread (its cost is bounded by
 * the budget) with its result dropped. Stopping it there would mean terminating the thread inside libvips, which
 * leaks what the decode had allocated: 2.3 MB of resident memory per abandoned 23 MP PNG, never returned. {@link close} (or `await using`) lets what was accepted finish. Idle
 * threads exit after `idleTimeoutMs` and never keep the process alive.
 *
 * Runs from the compiled package (`dist/`): a worker thread needs JavaScript.
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { ImagePipeline, ResNet50_Weights } from 'resnet-cudnn';
 *
 * const jpegBytes = await readFile('cat.jpg');
 * await using pipeline = new ImagePipeline({ threads: 4, maxQueue: 64 });
 * const x = await pipeline.preprocess(['dog.jpg', jpegBytes], ResNet50_Weights.IMAGENET1K_V2.transforms());
 * // x: float32 [2, 3, 224, 224], equal to preprocess([await readImage('dog.jpg'), …], transforms)
 * const pixels = await pipeline.preprocess(jpegBytes, { dtype: 'uint8', layout: 'nhwc', signal: AbortSignal.timeout(1000) });
 * ```
 */
export class ImagePipeline implements AsyncDisposable {
  /** Worker threads at most. */
  readonly threads: number;
  /** Images that may wait for a thread. */
  readonly maxQueue: number;
  /** The decoder's pixel limit for encoded images. */
  readonly maxPixels: number;
  readonly #pool: Piscina;
  /** The images admitted and not yet posted to a thread; at most `threads` are posted at once. */
  readonly #queue: FairQueue<Job>;
  readonly #settled = new Set<Promise<unknown>>();
  #pending = 0;
  #completed = 0;
  #cancelled = 0;
  #closing: Promise<void> | null = null;

  /**
   * @throws InvalidArgumentError for a bad option.
   * @throws UnsupportedError when the worker script is missing (running from TypeScript sources).
   */
  constructor(options: ImagePipelineOptions = {}) {
    this.threads = positiveInteger(options.threads ?? defaultThreads(), 'threads');
    this.maxQueue = nonNegativeInteger(options.maxQueue ?? 256, 'maxQueue');
    this.maxPixels = positiveInteger(options.maxPixels ?? defaultMaxPixels, 'maxPixels');
    const vipsThreads = positiveInteger(
      options.vipsThreads ?? Math.min(sharpDefaultThreads, Math.max(1, Math.floor(availableParallelism() / this.threads))), 'vipsThreads',
    );
    const idleTimeout = nonNegativeInteger(options.idleTimeoutMs ?? 10_000, 'idleTimeoutMs');
    if (!ImagePipeline.available()) {
      throw new UnsupportedError(`ImagePipeline needs its worker script ${fileURLToPath(workerUrl)}, which is missing: run from the compiled package (npm run build:ts)`);
    }
    const workerData: PipelineWorkerData = { vipsThreads };
    this.#queue = new FairQueue(this.threads);
    this.#pool = new Piscina({
      filename: workerUrl.href, minThreads: 0, maxThreads: this.threads, idleTimeout, workerData,
      // The pipeline queues its images itself (a call is admitted whole or not at all; clients are served fairly) and
      // posts at most one per thread, and it waits for its own work on close.
      maxQueue: Infinity, closeTimeout: longestTimeoutMs, atomics: 'disabled',
    });
    // A thread that fails while it has no task has nothing to report to (piscina replaces it); without a listener
    // the event would throw.
    this.#pool.on('error', () => {});
  }

  /** Whether worker threads can start here (the compiled worker script is next to this module). */
  static available(): boolean {
    return workerUrl.protocol === 'file:' && existsSync(fileURLToPath(workerUrl));
  }

  /** Threads alive, images pending, done and cancelled, clients waiting. */
  get stats(): ImagePipelineStats {
    return {
      threads: this.#pool.threads.length, pending: this.#pending, completed: this.#completed, cancelled: this.#cancelled,
      clients: this.#queue.clients,
    };
  }

  /**
   * Decodes one image on a worker: {@link readImage}'s uint8 `[3, H, W]` tensor.
   * @throws InvalidFileError (`ERR_INVALID_FILE`) when it is no readable image or exceeds the pixel limit.
   * @throws QueueFullError when the queue is full; DisposedError once the pipeline is closing.
   */
  async decode(source: Uint8Array | string, options: ImageDecodeOptions = {}): Promise<Tensor<'uint8'>> {
    if ((source as unknown) instanceof Tensor) throw invalidArgument('an encoded image (Uint8Array) or a file path', 'source', source);
    const [result] = await this.#run([source], () => 'source', null, 'uint8', 'nchw', options);
    return Tensor.from(result!.data as Uint8Array, result!.shape);
  }

  /**
   * {@link preprocess} on workers, decoding encoded images first: one image or a list → `[N, 3, S, S]` float32
   * (or the `dtype` and `layout` asked for).
   * @throws InvalidFileError naming the refused image's index in `element`; ImageBudgetError (with `element`) for an
   *   image too thin for the crop or whose resize would exceed `maxPixels`, checked before it is decoded;
   *   InvalidArgumentError or ShapeError as {@link preprocess} for bad options or tensors; QueueFullError;
   *   DisposedError once the pipeline is closing; `signal.reason` once `signal` aborts.
   */
  preprocess(input: ImageInput | readonly ImageInput[], options: ImagePreprocessOptions & { dtype: 'uint8' }): Promise<Tensor<'uint8'>>;
  preprocess(input: ImageInput | readonly ImageInput[], options?: ImagePreprocessOptions & { dtype?: 'float32' }): Promise<Tensor<'float32'>>;
  preprocess(input: ImageInput | readonly ImageInput[], options?: ImagePreprocessOptions): Promise<Tensor<'float32'> | Tensor<'uint8'>>;
  async preprocess(input: ImageInput | readonly ImageInput[], options: ImagePreprocessOptions = {}): Promise<Tensor<'float32'> | Tensor<'uint8'>> {
    const list: readonly unknown[] = Array.isArray(input) ? input : [input];
    if (list.length === 0) throw invalidArgument('an image or a non-empty array of them', 'images', input);
    // The pipeline's pixel limit is the preprocessing's too, unless the call sets its own.
    const transform = resolvePreprocessOptions({ ...options, maxPixels: options.maxPixels ?? this.maxPixels });
    const dtype = options.dtype ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'uint8') throw invalidArgument("'float32' or 'uint8'", 'dtype', dtype);
    const layout = options.layout ?? 'nchw';
    if (layout !== 'nchw' && layout !== 'nhwc') throw invalidArgument("'nchw' or 'nhwc'", 'layout', layout);
    const results = await this.#run(list, (i) => `images[${i}]`, transform, dtype, layout, options);
    const sampleShape = results[0]!.shape;
    const data = results.length === 1 ? results[0]!.data : gather(results.map((r) => r.data), dtype);
    const tensor = dtype === 'uint8'
      ? Tensor.from(data as Uint8Array, [results.length, ...sampleShape])
      : Tensor.from(data as Float32Array, [results.length, ...sampleShape]);
    return layout === 'nhwc' ? tensor.asLayout('nhwc') : tensor;
  }

  /**
   * Refuses new calls ({@link DisposedError}), lets the images accepted finish (or, with `cancelQueued`, rejects
   * those still waiting for a thread) and stops the threads. Idempotent: later calls wait for the same close.
   */
  close(options: ImagePipelineCloseOptions = {}): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    if (options.cancelQueued === true) {
      for (const job of this.#queue.drain()) job.reject(new DisposedError('This image was still queued when the ImagePipeline was closed with cancelQueued'));
    }
    this.#closing = (async () => {
      // The images still queued are posted as threads free; the pool closes once everything is done.
      while (this.#settled.size > 0) await Promise.allSettled([...this.#settled]);
      await this.#pool.close();
    })();
    return this.#closing;
  }

  /** {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Posts one task per image, admitted all together or refused; resolves when all are done, in order. */
  async #run(list: readonly unknown[], nameOf: (i: number) => string, transform: ResolvedPreprocessOptions | null, dtype: 'float32' | 'uint8',
    layout: SampleLayout, options: ImageDecodeOptions): Promise<Extract<ImageTaskResult, { ok: true }>[]> {
    const callSite = new Error('ImagePipeline call site');
    if (this.#closing !== null) throw new DisposedError('This ImagePipeline is closed: make a new one');
    const { signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument('an AbortSignal', 'signal', signal);
    signal?.throwIfAborted();
    const maxPixels = positiveInteger(options.maxPixels ?? this.maxPixels, 'maxPixels');
    const tasks = list.map((image, i) => toTask(image, i, nameOf(i), maxPixels, transform, dtype, layout));
    const capacity = this.threads + this.maxQueue - this.#pending;
    if (tasks.length > capacity) {
      throw new QueueFullError(
        `The ImagePipeline's queue is full: ${tasks.length} image${tasks.length === 1 ? '' : 's'} asked for, room for ${Math.max(0, capacity)} ` +
        `(${this.#pending} pending, ${this.threads} threads + maxQueue ${this.maxQueue}). Wait for pending work to finish, ` +
        'or raise maxQueue (new ImagePipeline({ maxQueue }))',
      );
    }
    // Each call is a client of its own unless it names one.
    const client = options.client === undefined ? {} : options.client;
    this.#pending += tasks.length;
    const jobs: Job[] = [];
    const runs = tasks.map(({ task, transferList }) => {
      const run = new Promise<ImageTaskResult>((resolve, reject) => {
        const job: Job = { task, transferList, signal, resolve, reject };
        jobs.push(job);
        this.#queue.push(client, job);
      }).finally(() => {
        this.#pending--;
        this.#settled.delete(run);
      });
      this.#settled.add(run);
      return run;
    });
    // An abort drops the call's images still waiting here; those posted to a thread are abandoned in #startWaiting.
    const dropWaiting = (): void => {
      for (const job of jobs) {
        if (!this.#queue.remove(client, job)) continue;
        this.#cancelled++;
        job.reject(signal!.reason);
      }
    };
    signal?.addEventListener('abort', dropWaiting, { once: true });
    this.#startWaiting();
    const settled = await Promise.allSettled(runs);
    signal?.removeEventListener('abort', dropWaiting);
    // An abort that came after every image was done loses nothing: the results stand.
    if (signal?.aborted && settled.some((outcome) => outcome.status === 'rejected')) throw signal.reason;
    return settled.map((outcome, element) => {
      if (outcome.status === 'rejected') throw outcome.reason;
      const result = outcome.value;
      if (result.ok) return result;
      if (result.code === 'ERR_INVALID_FILE' || result.code === 'ERR_IMAGE_BUDGET') {
        const error = result.code === 'ERR_INVALID_FILE'
          ? new InvalidFileError(result.message, { element })
          : new ImageBudgetError(result.message, { element });
        error.stack = `${error.name}: ${result.message}\n${callSite.stack!.split('\n').slice(1).join('\n')}`;
        throw error;
      }
      throw fromNative(Object.assign(new Error(result.message), { code: result.code }), callSite);
    });
  }

  /** Posts waiting images to the threads, one per free thread, in the fair queue's order. */
  #startWaiting(): void {
    for (let next = this.#queue.next(); next !== undefined; next = this.#queue.next()) {
      const { client, job } = next;
      // No signal to piscina: it would terminate the thread mid-decode (see the class comment). An abort rejects the
      // job now; the thread stays taken until its image is done, so the abandoned work still counts against it.
      let abandoned = false;
      const abandon = (): void => {
        abandoned = true;
        this.#cancelled++;
        job.reject(job.signal!.reason);
      };
      if (job.signal?.aborted === true) abandon();
      else job.signal?.addEventListener('abort', abandon, { once: true });
      (this.#pool.run(job.task, { transferList: job.transferList }) as Promise<ImageTaskResult>)
        .then((result) => {
          if (abandoned) return;
          this.#completed++;
          job.resolve(result);
        }, (reason: unknown) => {
          if (abandoned) return;
          this.#completed++;
          job.reject(reason);
        })
        .finally(() => {
          job.signal?.removeEventListener('abort', abandon);
          this.#queue.done(client);
          this.#startWaiting();
        });
    }
  }
}

/** Samples laid end to end in one array. */
function gather(samples: readonly (Float32Array | Uint8Array)[], dtype: 'float32' | 'uint8'): Float32Array | Uint8Array {
  const size = samples[0]!.length;
  const out = dtype === 'uint8' ? new Uint8Array(samples.length * size) : new Float32Array(samples.length * size);
  samples.forEach((sample, n) => out.set(sample, n * size));
  return out;
}

let shared: ImagePipeline | null = null;

/**
 * {@link preprocess} off the event loop, on a pipeline shared by the process (made on first use with the default
 * {@link ImagePipelineOptions}; its idle threads exit and never keep the process alive). Takes tensors as
 * {@link preprocess} does, and encoded images or paths, which it decodes as {@link readImage} does.
 *
 * @example
 * ```ts
 * import { preprocessAsync, resnet50, ResNet50_Weights } from 'resnet-cudnn';
 * const model = resnet50({ weights: 'IMAGENET1K_V2' });
 * const x = await preprocessAsync(['dog.jpg', 'cat.png'], ResNet50_Weights.IMAGENET1K_V2.transforms());
 * const logits = await model.forward(x);   // x equals preprocess([await readImage('dog.jpg'), …], …) bit for bit
 * ```
 * @throws as {@link ImagePipeline.preprocess}.
 */
export function preprocessAsync(input: ImageInput | readonly ImageInput[], options: ImagePreprocessOptions & { dtype: 'uint8' }): Promise<Tensor<'uint8'>>;
export function preprocessAsync(input: ImageInput | readonly ImageInput[], options?: ImagePreprocessOptions & { dtype?: 'float32' }): Promise<Tensor<'float32'>>;
export async function preprocessAsync(input: ImageInput | readonly ImageInput[], options: ImagePreprocessOptions = {}): Promise<Tensor<'float32'> | Tensor<'uint8'>> {
  shared ??= new ImagePipeline();
  return shared.preprocess(input, options);
}
