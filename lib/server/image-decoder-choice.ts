/**
 * Which decoder a served model's BYTES images get, decided once when the model loads:
 *
 * - **nvJPEG on the GPU** (gpu-images.ts) for a model on a GPU where `info().imageDecoder` finds nvJPEG usable
 *   (the hardware JPEG engines where the GPU has them, else nvJPEG's GPU backend), and whose weights resize
 *   bilinearly (the GPU resize is torchvision's antialiased bilinear one). Decoding where the model runs keeps
 *   the CPU free for the HTTP work and moves 4 bytes per pixel less over PCIe than float input would.
 * - **The CPU workers** (images.ts: sharp, Pillow-exact resize) otherwise, or when the model's `imageDecoder` is
 *   `cpu` (the pixels then equal `preprocess(readImage(…))` exactly; the GPU's differ by about one level in 255,
 *   torchvision's tensor resize against Pillow's).
 *
 * The machine's GPU decoder is reached through a {@link GpuImageDecoderProvider}: the native one, or a fake
 * that tests install with {@link useGpuImageDecoderProvider} to run the whole server path without a GPU.
 * @module
 */
import sharp from 'sharp';
import { fromNative } from '../errors.js';
import type { Device } from '../runtime/device.js';
import { backendOf } from '../runtime/device.js';
import { backendInfo } from '../runtime/engine.js';
import { allocateHostMemory } from '../runtime/host-memory.js';
import { loadNative, type ImageDecoderInfo, type NativeGpuImageDecoderOptions } from '../runtime/native.js';
import { GpuImages, type GpuImageDecodeCall } from './gpu-images.js';
import { maxRequestImagePixels, type ImageDecodeCallOptions } from './image-decode.js';
import { decodeImages } from './images.js';
import type { ImageTransforms, ModelLogger } from './model-source.js';
import type { ModelInput } from './served-model.js';

/** A model's choice: `auto` takes the GPU decoder where one is usable, `cpu` always the CPU workers. */
export type ImageDecoderSetting = 'auto' | 'cpu';

/** Device memory for one batch's decoded RGB pixels (per decode in flight); images past it go to the CPU. */
export const gpuDecodedBytesPerBatch = 512 * 1024 * 1024;

/** A served model's image decoder, as the server uses and reports it. */
export interface ServedImageDecoder {
  /** `info().imageDecoder`'s value for the decoder in use. */
  readonly decoder: ImageDecoderInfo['decoder'];
  /** `resnet info`'s name of it: "nvJPEG hardware (7 engines)", "nvJPEG GPU backend", "CPU workers". */
  readonly name: string;
  /** Why this decoder. */
  readonly reason: string;
  /** One request's encoded images → its input (see gpu-images.ts and images.ts). */
  decode(images: readonly Buffer[], options?: ImageDecodeCallOptions): Promise<ModelInput>;
  /** Lets the GPU decoder go once its calls in flight have finished. */
  dispose(): Promise<void>;
}

/**
 * The machine's GPU image decoder as the server meets it.
 * @internal
 */
export interface GpuImageDecoderProvider {
  /** The decoder images of a model on `device` can have: the CPU workers for `cpu`, else `info().imageDecoder`. */
  info(device: Device): ImageDecoderInfo;
  /** A decoder on `device` (a GPU) for the model's preprocessing; throws when it cannot be made. */
  create(device: Device, options: NativeGpuImageDecoderOptions, maxPixels: number, maxDecodedBytes: number): GpuImageDecodeCall;
  /** Host memory that the decoder writes into and runs on `device` read in place (pinned on a GPU). */
  allocate(bytes: number, device: Device): ArrayBuffer;
}

const nativeProvider: GpuImageDecoderProvider = {
  info(device) {
    if (device === 'cpu') return { decoder: 'cpu-workers', hardwareEngines: 0, reason: 'the model runs on the CPU' };
    return backendInfo().imageDecoder;
  },
  create(device, options, maxPixels, maxDecodedBytes) {
    const { NativeGpuImageDecoder } = loadNative();
    try {
      return new NativeGpuImageDecoder(backendOf(device).device ?? 0, options, maxPixels, maxDecodedBytes);
    } catch (error) {
      throw fromNative(error);
    }
  },
  allocate: (bytes, device) => allocateHostMemory(bytes, backendOf(device)),
};

let provider: GpuImageDecoderProvider = nativeProvider;

/**
 * Replaces the native GPU decoder for the models loaded from now on (tests: a fake that decodes on the CPU);
 * null restores it.
 * @internal
 */
export function useGpuImageDecoderProvider(replacement: GpuImageDecoderProvider | null): void {
  provider = replacement ?? nativeProvider;
}

/** `resnet info`'s name of a decoder: "nvJPEG hardware (7 engines)", "nvJPEG GPU backend", "CPU workers". */
export function imageDecoderName(info: Pick<ImageDecoderInfo, 'decoder' | 'hardwareEngines'>): string {
  switch (info.decoder) {
    case 'nvjpeg-hardware': return `nvJPEG hardware (${info.hardwareEngines} engine${info.hardwareEngines === 1 ? '' : 's'})`;
    case 'nvjpeg-gpu': return 'nvJPEG GPU backend';
    case 'cpu-workers': return 'CPU workers';
  }
}

/**
 * Why a model gets the CPU workers rather than the GPU decoder `info` describes, or null when it gets the GPU
 * decoder.
 */
export function cpuDecoderReason(setting: ImageDecoderSetting, transforms: ImageTransforms, info: ImageDecoderInfo): string | null {
  if (setting === 'cpu') return "imageDecoder is 'cpu' (--image-decoder cpu)";
  if (info.decoder === 'cpu-workers') return info.reason;
  if (transforms.interpolation !== 'bilinear') {
    return `the weights resize with ${transforms.interpolation} interpolation; the GPU resize is bilinear only`;
  }
  return null;
}

/** What {@link createImageDecoder} needs of the model. */
export interface ImageDecoderRequest {
  readonly setting: ImageDecoderSetting;
  readonly device: Device;
  readonly transforms: ImageTransforms;
  readonly maxBatchSize: number;
  readonly inputName: string;
  readonly model: string;
  readonly log: ModelLogger;
}

/** The CPU workers as a model's decoder. */
function cpuDecoder(request: ImageDecoderRequest, reason: string): ServedImageDecoder {
  return {
    decoder: 'cpu-workers',
    name: imageDecoderName({ decoder: 'cpu-workers', hardwareEngines: 0 }),
    reason,
    decode: (images, options) => decodeImages(images, request.transforms, request.inputName, options),
    dispose: () => Promise.resolve(),
  };
}

/** A small baseline JPEG (4:2:0, what cameras and browsers send) that warms the GPU decoder up. */
async function warmUpJpeg(): Promise<Buffer> {
  const width = 64;
  const height = 48;
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) & 255;
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer();
}

/**
 * The image decoder of a model: the GPU decoder where {@link cpuDecoderReason} finds none, made and warmed up
 * (one decode per instance, so the first request finds nvJPEG set up), else the CPU workers. A GPU decoder that
 * cannot be made or fails its warm-up (nvJPEG refusing this device) leaves the CPU workers, with a warning.
 */
export async function createImageDecoder(request: ImageDecoderRequest): Promise<ServedImageDecoder> {
  const { device, transforms } = request;
  let info: ImageDecoderInfo;
  try {
    info = provider.info(device);
  } catch (error) {
    // The probe itself failed (out of memory, say): no GPU decoder, and the model still serves.
    return cpuDecoder(request, `probing the image decoder failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const refusal = cpuDecoderReason(request.setting, transforms, info);
  if (refusal !== null) return cpuDecoder(request, refusal);
  let images: GpuImages | null = null;
  try {
    const native = provider.create(device, {
      resizeSize: transforms.resizeSize, cropSize: transforms.cropSize, mean: transforms.mean, std: transforms.std, layout: 'nchw',
    }, maxRequestImagePixels, gpuDecodedBytesPerBatch);
    images = new GpuImages({
      decoder: native, transforms, inputName: request.inputName, maxBatchSize: request.maxBatchSize,
      allocate: (bytes) => provider.allocate(bytes, device), log: request.log, model: request.model,
    });
    await images.warmUp(await warmUpJpeg());
  } catch (error) {
    await images?.dispose();
    const reason = `the GPU image decoder did not work on ${device}: ${error instanceof Error ? error.message : String(error)}`;
    request.log.warn({ model: request.model, err: error }, `model ${request.model}: ${reason}; images are decoded by the CPU workers`);
    return cpuDecoder(request, reason);
  }
  const gpuImages = images;
  return {
    decoder: info.decoder,
    name: imageDecoderName(info),
    reason: info.reason,
    decode: (encoded, options) => gpuImages.decode(encoded, options),
    dispose: () => gpuImages.dispose(),
  };
}
