/**
 * The calibration images of `resnet quantize` (and `eval-cifar10 --dtype int8`), read from what a user
 * has at hand and preprocessed as the model expects, in batches:
 * - a directory of images (JPEG, PNG, WebP; sorted by name, the first `limit`);
 * - one image file;
 * - a CIFAR-10 binary file (`.bin`), for the CIFAR ResNets;
 * - a `.safetensors` file holding one float32 tensor `[N, 3, H, W]`, already normalised.
 * Images are decoded one batch at a time, so a large directory never sits in memory whole.
 * @module
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { InvalidArgumentError, InvalidFileError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { loadSafetensors } from '../io/safetensors.js';
import { readImage } from '../vision/image.js';
import { preprocess } from '../vision/transforms.js';
import type { Cifar10Batch } from '../io/cifar10.js';

/** File name extensions read as images. */
const imageExtensions = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** How images become the model's input: torchvision's preset (resize, centre crop, normalise). */
export interface CalibrationTransforms {
  resizeSize: number;
  cropSize: number;
  interpolation?: 'nearest' | 'bilinear' | 'bicubic';
  mean: readonly number[];
  std: readonly number[];
}

/** Options of {@link readCalibration}. */
export interface CalibrationInputOptions {
  /** At most this many images (the first ones). */
  limit: number;
  /** Images per batch. */
  batch: number;
  /** How an image file becomes an input. */
  transforms: CalibrationTransforms;
  /** Reads a CIFAR-10 binary file and normalises a slice of it (the CIFAR models' own preprocessing). */
  cifar?: {
    read(path: string): Promise<Cifar10Batch>;
    normalize(pixels: Uint8Array, start: number, count: number): Tensor<'float32'>;
  };
}

/** What {@link readCalibration} found: its batches, and how many images they hold. */
export interface CalibrationInput {
  readonly images: number;
  /** "64 images of dir/" and the like, for the command's report. */
  readonly description: string;
  readonly batches: AsyncIterable<Tensor<'float32'>>;
}

/**
 * Opens `path` as calibration data (see the module notes).
 * @throws InvalidArgumentError for a path that is none of the accepted kinds, or holds no image;
 *   InvalidFileError for a file that cannot be read as its kind.
 */
export async function readCalibration(path: string, options: CalibrationInputOptions): Promise<CalibrationInput> {
  const { limit, batch } = options;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`--calibration-images must be a positive integer but received ${limit}`);
  if (!Number.isInteger(batch) || batch < 1) throw new InvalidArgumentError(`--batch must be a positive integer but received ${batch}`);
  const info = await stat(path).catch((cause: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError(`--calibration ${JSON.stringify(path)} cannot be read (${cause.code ?? cause.message}): pass a directory of images, an image, a CIFAR-10 .bin file or a .safetensors tensor`);
  });
  if (info.isDirectory()) return imageDirectory(path, options);
  const extension = extname(path).toLowerCase();
  if (imageExtensions.has(extension)) return imageFiles([path], JSON.stringify(path), options);
  if (extension === '.bin') return cifarFile(path, options);
  if (extension === '.safetensors') return tensorFile(path, options);
  throw new InvalidArgumentError(
    `--calibration ${JSON.stringify(path)} has extension ${JSON.stringify(extension)}: pass a directory of images, an image (${[...imageExtensions].join(', ')}), a CIFAR-10 .bin file or a .safetensors file holding one float32 [N, 3, H, W] tensor`,
  );
}

async function imageDirectory(dir: string, options: CalibrationInputOptions): Promise<CalibrationInput> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && imageExtensions.has(extname(entry.name).toLowerCase()))
    .map((entry) => entry.name)
    .sort();
  if (names.length === 0) {
    throw new InvalidArgumentError(`--calibration directory ${JSON.stringify(dir)} holds no image (${[...imageExtensions].join(', ')}): put a few hundred typical inputs there`);
  }
  return imageFiles(names.slice(0, options.limit).map((name) => join(dir, name)), `${JSON.stringify(dir)}`, options);
}

function imageFiles(paths: readonly string[], where: string, options: CalibrationInputOptions): CalibrationInput {
  const { batch, transforms } = options;
  return {
    images: paths.length,
    description: `${paths.length} image${paths.length === 1 ? '' : 's'} of ${where}`,
    batches: (async function* () {
      for (let start = 0; start < paths.length; start += batch) {
        const images = await Promise.all(paths.slice(start, start + batch).map((p) => readImage(p)));
        yield preprocess(images, transforms);
      }
    })(),
  };
}

async function cifarFile(path: string, options: CalibrationInputOptions): Promise<CalibrationInput> {
  if (options.cifar === undefined) {
    throw new InvalidArgumentError(`--calibration ${JSON.stringify(path)} is a CIFAR-10 .bin file, which only the CIFAR-10 models (resnet20 … resnet1202) take: pass images for this model`);
  }
  const { images } = await options.cifar.read(path);
  const pixels = images.data as Uint8Array;
  const count = Math.min(options.limit, images.shape[0]!);
  const { batch, cifar } = options;
  return {
    images: count,
    description: `the first ${count} images of ${JSON.stringify(path)}`,
    batches: (async function* () {
      for (let start = 0; start < count; start += batch) yield cifar.normalize(pixels, start, Math.min(batch, count - start));
    })(),
  };
}

async function tensorFile(path: string, options: CalibrationInputOptions): Promise<CalibrationInput> {
  const tensors = Object.entries(await loadSafetensors(path));
  const [name, tensor] = tensors.length === 1 ? tensors[0]! : [undefined, undefined];
  if (tensor === undefined || tensor.dtype !== 'float32' || tensor.ndim !== 4 || tensor.shape[1] !== 3) {
    const found = tensors.length === 1 ? `a ${tensors[0]![1].dtype} tensor of shape [${tensors[0]![1].shape.join(', ')}]` : `${tensors.length} tensors`;
    throw new InvalidFileError(`--calibration ${JSON.stringify(path)} holds ${found}: expected one float32 tensor [N, 3, H, W] of normalised inputs`);
  }
  const [n, c, h, w] = tensor.shape as [number, number, number, number];
  const count = Math.min(options.limit, n);
  const sample = c * h * w;
  const data = tensor.data as Float32Array;
  const { batch } = options;
  return {
    images: count,
    description: `the first ${count} inputs of tensor ${JSON.stringify(name)} in ${JSON.stringify(path)}`,
    batches: (async function* () {
      for (let start = 0; start < count; start += batch) {
        const size = Math.min(batch, count - start);
        yield Tensor.from(data.slice(start * sample, (start + size) * sample), [size, c, h, w]);
      }
    })(),
  };
}
