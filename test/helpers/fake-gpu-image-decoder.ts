/**
 * A stand-in for the native GPU image decoder (NativeGpuImageDecoder), for the server tests that run without a
 * GPU. Installed with `useGpuImageDecoderProvider`, it routes each image as the real decoder's own plan does
 * (`testing.imageDecode.planBatch`, the plan the native decoder runs: hardware engines, GPU backend, CPU with a
 * reason, refused over the pixel limit) and "decodes" the GPU-routed ones with sharp (standing in for nvJPEG:
 * interleaved RGB, grey replicated, no EXIF orientation) and the host emulation of the GPU preprocessing kernel
 * (`testing.gpuPreprocess.run`, the per-element code the device runs) into each image's output, as uint8 NCHW.
 * So the server's results are real pixels. It records every call, can hold calls at a gate, fail a whole call,
 * or "fail" chosen images as nvJPEG would (route CPU, with a reason).
 */
import sharp from 'sharp';
import { allocateHostMemory } from '../../lib/runtime/host-memory.js';
import { loadNative, type NativeGpuDecodeReport, type NativeGpuImageDecoderOptions } from '../../lib/runtime/native.js';
import type { GpuImageDecodeCall } from '../../lib/server/gpu-images.js';
import type { GpuImageDecoderProvider } from '../../lib/server/image-decoder-choice.js';
import { decode as imageDecode } from './jpeg-files.js';

interface GpuPreprocess {
  run(o: { images: { pixels: Uint8Array; width: number; height: number }[]; resizeSize: number; cropSize: number; layout: 'nchw'; output: 'uint8' }): Uint8Array;
}
const gpuPreprocess = (loadNative() as unknown as { testing: { gpuPreprocess: GpuPreprocess } }).testing.gpuPreprocess;

/** The engines the fake claims: routes as on an H100. */
export const fakeEngines = 7;

/** One decode call as the fake saw it. */
export interface FakeCall {
  /** The encoded images, in order (views: do not keep past the call). */
  images: readonly Uint8Array[];
  /** The ArrayBuffer under each output: which pooled buffer the server lent. */
  buffers: ArrayBufferLike[];
  /** Each image's route as the plan gave it (before any failure the fake was told to make). */
  planned: string[];
}

/** What the GPU would write for one encoded image: sharp's RGB through the kernel's host emulation (uint8 NCHW). */
export async function fakeGpuPixels(image: Uint8Array, resizeSize: number, cropSize: number): Promise<Uint8Array> {
  const { data, info } = await sharp(image, { failOn: 'truncated', ignoreIcc: true })
    .toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const plane = info.width * info.height;
  let rgb: Uint8Array = data;
  if (info.channels === 1) {
    rgb = new Uint8Array(3 * plane);
    for (let i = 0; i < plane; i++) rgb.fill(data[i]!, 3 * i, 3 * i + 3);
  }
  return gpuPreprocess.run({ images: [{ pixels: rgb, width: info.width, height: info.height }], resizeSize, cropSize, layout: 'nchw', output: 'uint8' });
}

/** The fake and what tests steer it with. */
export class FakeGpuImageDecoder implements GpuImageDecodeCall {
  readonly calls: FakeCall[] = [];
  /** Images the fake reports as failed by nvJPEG (route CPU, with a reason): those this says yes to. */
  failWhen: ((image: Uint8Array) => boolean) | null = null;
  /** When set, each call waits for it after being recorded. */
  gate: Promise<void> | null = null;
  /** When set, calls reject with it (a failure of the whole batch). */
  failure: Error | null = null;
  disposed = false;
  readonly #options: NativeGpuImageDecoderOptions;
  readonly #maxPixels: number;

  constructor(options: NativeGpuImageDecoderOptions, maxPixels: number) {
    this.#options = options;
    this.#maxPixels = maxPixels;
  }

  async decode(images: readonly Uint8Array[], outputs: readonly Uint8Array[]): Promise<NativeGpuDecodeReport> {
    const plan = imageDecode.planBatch([...images], { hardwareEngines: fakeEngines, gpuBackend: true, maxPixels: this.#maxPixels });
    const planned = plan.images.map((image) => image.route);
    this.calls.push({ images, buffers: outputs.map((output) => output.buffer), planned });
    if (this.gate !== null) await this.gate;
    if (this.failure !== null) throw this.failure;
    const routes = [...planned];
    const reasons = plan.images.map((image) => image.reason);
    for (const [i, image] of images.entries()) {
      if (routes[i] !== 'nvJPEG hardware' && routes[i] !== 'nvJPEG GPU') continue;
      if (this.failWhen?.(image) === true) {
        routes[i] = 'CPU';
        reasons[i] = 'nvJPEG could not decode it (fake failure)';
        continue;
      }
      reasons[i] = '';
      outputs[i]!.set(await fakeGpuPixels(image, this.#options.resizeSize, this.#options.cropSize));
    }
    return { routes, reasons };
  }

  dispose(): void {
    this.disposed = true;
  }
}

/** A provider whose decoders are fakes (the last one made is `decoders.at(-1)`), on any device. */
export function fakeProvider(): GpuImageDecoderProvider & { decoders: FakeGpuImageDecoder[] } {
  const decoders: FakeGpuImageDecoder[] = [];
  return {
    decoders,
    info: () => ({ decoder: 'nvjpeg-hardware', hardwareEngines: fakeEngines, reason: 'a fake nvJPEG (tests)' }),
    create(_device, options, maxPixels) {
      const decoder = new FakeGpuImageDecoder(options, maxPixels);
      decoders.push(decoder);
      return decoder;
    },
    // The CPU backend's engine memory: registered, so runs read it in place as they read pinned memory on a GPU.
    allocate: (bytes) => allocateHostMemory(bytes, { backend: 'cpu' }),
  };
}
