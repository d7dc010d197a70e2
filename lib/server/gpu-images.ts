/**
 * Encoded images of BYTES requests decoded on the GPU (nvJPEG, then the resize and centre crop on the GPU) into
 * the model's uint8 pixels, with the CPU image workers as the fallback:
 *
 * - **Batched across requests.** A {@link DynamicBatcher} whose entries are requests' image lists: while
 *   {@link gpuDecodeInstances} decode calls are in flight, the requests that arrive wait and leave together,
 *   up to {@link gpuDecodeBatchImages} images, in one native call (nvJPEG's hardware engines decode a batch at
 *   once). A lone request is not delayed (no batching delay, as the model's own batcher).
 * - **Memory.** Each request's pixels go into a buffer of the model's host memory pool (pinned on a GPU), image
 *   i into slot i: the native decoder copies its crops there by DMA, the CPU workers' crops are copied in, and
 *   the engine reads the buffer in place. It goes back to the pool through the input's `release`, which the
 *   model's batcher calls once the run reading it has settled (never earlier: the engine reads it in place).
 * - **Fallback.** Images the decoder sends to the CPU (PNG, WebP, CMYK, EXIF-rotated, progressive JPEGs where
 *   nvJPEG cannot, over the pixel limit, or those nvJPEG failed on), and every image of a batch whose native
 *   call failed as a whole, are decoded by the CPU workers into the same request's slots. Errors name the
 *   element as the CPU path does: every image the GPU did not decode goes through the CPU path's own checks.
 * - A request of more images than a decode batch holds goes to the CPU path whole (the model's batcher refuses
 *   it anyway when it exceeds the model's batch size).
 * @module
 * @internal
 */
import { DynamicBatcher } from './batcher.js';
import { HostBufferPool } from './host-buffer-pool.js';
import type { ImageDecodeCallOptions } from './image-decode.js';
import { decodeImages, decodeOnCpu, noElements, refusedElement } from './images.js';
import type { ImageTransforms, ModelLogger } from './model-source.js';
import type { ModelInput } from './served-model.js';
import type { NativeGpuDecodeReport } from '../runtime/native.js';

/** Images of one native decode call at most (unless a model's batch is larger: then that many). */
export const gpuDecodeBatchImages = 64;
/** Native decode calls in flight at once: one decodes while the next batch forms. */
export const gpuDecodeInstances = 2;
/** Idle pixel buffers the pool keeps, in bytes. */
export const gpuImageBufferBytes = 64 * 1024 * 1024;

/** The routes of images the GPU decoded (the rest: `CPU`, `refused`). */
const gpuRoutes: ReadonlySet<string> = new Set(['nvJPEG hardware', 'nvJPEG GPU']);

/** What {@link GpuImages} needs of a GPU decoder: the native class (`NativeGpuImageDecoder`), or a fake in tests. */
export interface GpuImageDecodeCall {
  decode(images: readonly Uint8Array[], outputs: readonly Uint8Array[]): Promise<NativeGpuDecodeReport>;
  dispose(): void;
}

/** Options of {@link GpuImages}. */
export interface GpuImagesOptions {
  readonly decoder: GpuImageDecodeCall;
  readonly transforms: ImageTransforms;
  /** The tensor the elements came from, named in errors. */
  readonly inputName: string;
  /** The model's largest batch: a decode batch holds at least that many images. */
  readonly maxBatchSize: number;
  /** Host memory for the pixels (pinned for the model's device). */
  readonly allocate: (bytes: number) => ArrayBuffer;
  readonly log: ModelLogger;
  readonly model: string;
}

/** Images decoded so far, by where. */
export interface GpuImageCounts {
  /** Decoded on the GPU. */
  gpu: number;
  /** Decoded by the CPU workers (routed there, or the GPU failed on them). */
  cpu: number;
  /** Native decode calls. */
  calls: number;
}

interface DecodeEntry {
  images: readonly Uint8Array[];
  outputs: Uint8Array[];
}

/** The routes and reasons of `count` images from `first` of a batch's report. */
function sliceReport(report: NativeGpuDecodeReport, first: number, count: number): NativeGpuDecodeReport {
  return { routes: report.routes.slice(first, first + count), reasons: report.reasons.slice(first, first + count) };
}

/** A model's GPU image decoding; see the module's notes. */
export class GpuImages {
  readonly #decoder: GpuImageDecodeCall;
  readonly #transforms: ImageTransforms;
  readonly #inputName: string;
  readonly #sampleBytes: number;
  readonly #maxImages: number;
  readonly #pool: HostBufferPool;
  readonly #batcher: DynamicBatcher<DecodeEntry, NativeGpuDecodeReport>;
  readonly #log: ModelLogger;
  readonly #model: string;
  readonly #counts: GpuImageCounts = { gpu: 0, cpu: 0, calls: 0 };
  #disposed = false;

  constructor(options: GpuImagesOptions) {
    this.#decoder = options.decoder;
    this.#transforms = options.transforms;
    this.#inputName = options.inputName;
    this.#sampleBytes = 3 * options.transforms.cropSize ** 2;
    this.#maxImages = Math.max(gpuDecodeBatchImages, options.maxBatchSize);
    this.#pool = new HostBufferPool({ sampleBytes: this.#sampleBytes, maxRetainedBytes: gpuImageBufferBytes, allocate: options.allocate });
    this.#log = options.log;
    this.#model = options.model;
    this.#batcher = new DynamicBatcher<DecodeEntry, NativeGpuDecodeReport>(
      {
        maxBatchSize: this.#maxImages, preferredBatchSizes: [], maxQueueDelayMicroseconds: 0, maxQueueSize: 0,
        instanceCount: gpuDecodeInstances, defaultTimeoutMicroseconds: 0,
      },
      (entries) => this.#decodeBatch(entries),
    );
  }

  /** Images decoded so far, by where, and the native calls made. */
  get counts(): Readonly<GpuImageCounts> {
    return { ...this.#counts };
  }

  /** The pixel buffers: leased now, and allocated so far. */
  get buffers(): { leased: number; allocations: number } {
    return { leased: this.#pool.leased, allocations: this.#pool.allocations };
  }

  /**
   * One request's images → its input: uint8 NCHW pixels in a pooled buffer, which goes back to the pool
   * through the input's `release` (call it once nothing reads the input any more).
   * `options` go to the CPU workers' share of the images (the GPU's native call, short and running on hardware
   * engines, is not stopped midway).
   * @throws HttpError 400 for no elements, or naming the first element that is not a decodable image (the CPU
   *   path's words); 499 once `options.signal` aborts.
   */
  async decode(images: readonly Buffer[], options: ImageDecodeCallOptions = {}): Promise<ModelInput> {
    if (images.length === 0) throw noElements(this.#inputName);
    if (this.#disposed || images.length > this.#maxImages) return decodeImages(images, this.#transforms, this.#inputName, options);
    const lease = this.#pool.acquire(images.length);
    try {
      const outputs = images.map((_, i) => lease.bytes.subarray(i * this.#sampleBytes, (i + 1) * this.#sampleBytes));
      let report: NativeGpuDecodeReport;
      try {
        ({ output: report } = await this.#batcher.submit({ images, outputs }, images.length));
      } catch (error) {
        // The whole native call failed (device memory, CUDA): its images go to the CPU, and the server says so.
        this.#log.warn({ model: this.#model, err: error }, `model ${this.#model}: decoding images on the GPU failed; decoding them on the CPU workers`);
        report = { routes: images.map(() => 'CPU'), reasons: images.map(() => 'the GPU decode failed') };
      }
      const onCpu = report.routes.flatMap((route, i) => (gpuRoutes.has(route) ? [] : [i]));
      this.#counts.gpu += images.length - onCpu.length;
      if (onCpu.length > 0) {
        const result = await decodeOnCpu(onCpu.map((i) => images[i]!), this.#transforms, options);
        if (!result.ok) throw refusedElement(this.#inputName, onCpu[result.element]!, result);
        onCpu.forEach((image, k) => {
          lease.bytes.set(result.data.subarray(k * this.#sampleBytes, (k + 1) * this.#sampleBytes), image * this.#sampleBytes);
        });
        this.#counts.cpu += onCpu.length;
      }
      return { dtype: 'uint8', layout: 'nchw', samples: images.length, segments: [lease.bytes], release: lease.release };
    } catch (error) {
      lease.release(); // the native call has settled (or never started): nothing writes the buffer any more
      throw error;
    }
  }

  /**
   * Decodes `jpeg` (a small baseline JPEG) once on each decode instance at the same time, so that every nvJPEG
   * decoder a request would make exists before the first request, and checks that the GPU decoded it.
   * @throws Error saying what went wrong when the native decoder failed, or sent the image to the CPU.
   */
  async warmUp(jpeg: Uint8Array): Promise<void> {
    const leases = Array.from({ length: gpuDecodeInstances }, () => this.#pool.acquire(1));
    try {
      const reports = await Promise.all(leases.map((lease) => this.#batcher.submit({ images: [jpeg], outputs: [lease.bytes] }, 1)));
      for (const { output: report } of reports) {
        if (!gpuRoutes.has(report.routes[0]!)) throw new Error(`a baseline JPEG went to the ${report.routes[0]} route: ${report.reasons[0]}`);
      }
    } finally {
      for (const lease of leases) lease.release();
    }
  }

  /**
   * Refuses new GPU decodes (later requests take the CPU path), and lets the native decoder go once the calls
   * in flight have finished; buffers still leased are dropped when released.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#batcher.close();
    await this.#batcher.drain();
    this.#decoder.dispose();
    this.#pool.close();
  }

  async #decodeBatch(entries: readonly { input: DecodeEntry; size: number }[]): Promise<NativeGpuDecodeReport[]> {
    this.#counts.calls++;
    const images = entries.flatMap((entry) => entry.input.images);
    const report = await this.#decoder.decode(images, entries.flatMap((entry) => entry.input.outputs));
    if (report.routes.length !== images.length || report.reasons.length !== images.length) {
      throw new Error(`the GPU decoder reported ${report.routes.length} routes for ${images.length} images`);
    }
    let first = 0;
    return entries.map((entry) => {
      const part = sliceReport(report, first, entry.size);
      first += entry.size;
      return part;
    });
  }
}
