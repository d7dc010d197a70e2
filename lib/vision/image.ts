/**
 * Image decoding with sharp (libvips): JPEG, PNG, WebP (and the other formats sharp's prebuilt libvips
 * reads) into a uint8 `[3, H, W]` {@link Tensor}, the shape torchvision's `read_image(mode=RGB)` returns.
 *
 * The pixels are meant to equal Pillow's: EXIF orientation applied (`ImageOps.exif_transpose`), then
 * `convert('RGB')`, which replicates grey into three channels and drops alpha without compositing.
 * Embedded ICC profiles are ignored, as Pillow and torchvision ignore them.
 * @module
 */
import { readFile } from 'node:fs/promises';
import sharp, { type OutputInfo } from 'sharp';
import { InvalidFileError, invalidArgument } from '../errors.js';
import { Tensor } from '../tensor.js';
import { allocate } from './budget.js';

/** Options of {@link readImage}. */
export interface ReadImageOptions {
  /**
   * Largest accepted width × height, checked from the header before any pixel is decoded
   * (a decompression-bomb guard, as Pillow's `MAX_IMAGE_PIXELS`). Default 89,478,485, Pillow's value.
   */
  maxPixels?: number;
}

/** Pillow's `Image.MAX_IMAGE_PIXELS`: images above it are refused as possible decompression bombs. */
export const defaultMaxPixels = 89_478_485;

function describe(source: string | Uint8Array): string {
  return typeof source === 'string' ? `image file ${JSON.stringify(source)}` : `image buffer (${source.byteLength} bytes)`;
}

/**
 * Decodes an image file or an encoded image in memory into a uint8 tensor `[3, H, W]` (RGB, row-major
 * planes), with EXIF orientation applied, greyscale replicated into three channels and alpha dropped.
 *
 * @throws InvalidFileError when the input is not a readable image: unknown format, truncated or corrupt
 *   data, zero width or height, or more than `maxPixels` pixels.
 * @throws InvalidArgumentError when `source` is neither a path nor a byte array, or `maxPixels` is not
 *   a positive integer.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { readImage } from 'resnet-cudnn';
 * const image = await readImage('dog.jpg');                  // Tensor<'uint8'> [3, H, W], RGB
 * const [, height, width] = image.shape;
 * const fromBytes = await readImage(await readFile('photo.webp'), { maxPixels: 4096 * 4096 });
 * ```
 */
export function readImage(source: string | Uint8Array, options: ReadImageOptions = {}): Promise<Tensor<'uint8'>> {
  return decodeImage(source, options);
}

/**
 * Checks an image's size, from its header, before any pixel is decoded: throws to refuse it. `what` names the image
 * as readImage's errors do.
 * @internal
 */
export type HeaderCheck = (width: number, height: number, what: string) => void;

/**
 * {@link readImage}, with `beforeDecode` called on the header's size (as coded, before EXIF orientation) once it has
 * passed `maxPixels` and before anything is decoded: the preprocessing's own budget is checked there.
 * @internal
 */
export async function decodeImage(source: string | Uint8Array, options: ReadImageOptions, beforeDecode?: HeaderCheck): Promise<Tensor<'uint8'>> {
  if (typeof source !== 'string' && !(source instanceof Uint8Array)) {
    throw invalidArgument('a file path or a Uint8Array', 'source', source);
  }
  const maxPixels = options.maxPixels ?? defaultMaxPixels;
  if (!Number.isSafeInteger(maxPixels) || maxPixels <= 0) throw invalidArgument('a positive integer', 'maxPixels', maxPixels);
  const what = describe(source);

  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      bytes = await readFile(source);
    } catch (cause) {
      throw new InvalidFileError(`Cannot read ${what}: ${(cause as Error).message}`, { cause });
    }
  } else {
    bytes = source;
  }
  if (bytes.byteLength === 0) throw new InvalidFileError(`Cannot decode ${what}: it is empty`);

  const input = { failOn: 'truncated' as const, limitInputPixels: false as const, ignoreIcc: true };
  let width: number;
  let height: number;
  try {
    // The header alone gives the size, so a decompression bomb is refused before it is decoded.
    const meta = await sharp(bytes, input).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch (cause) {
    throw new InvalidFileError(`Cannot decode ${what}: ${(cause as Error).message}`, { cause });
  }
  if (width <= 0 || height <= 0) throw new InvalidFileError(`Cannot decode ${what}: it has zero width or height`);
  if (width * height > maxPixels) {
    throw new InvalidFileError(
      `Cannot decode ${what}: ${width}x${height} is ${width * height} pixels, more than the limit of ${maxPixels} ` +
        '(a possible decompression bomb; raise maxPixels to accept it)',
    );
  }
  beforeDecode?.(width, height, what);

  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(bytes, { ...input, limitInputPixels: maxPixels })
      .autoOrient()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (cause) {
    throw new InvalidFileError(`Cannot decode ${what}: ${(cause as Error).message}`, { cause });
  }
  return toPlanarRgb(data, info.width, info.height, info.channels);
}

/** Interleaved pixels with 1 to 4 channels → planar RGB, as Pillow's `convert('RGB')`: grey replicated, alpha dropped. */
function toPlanarRgb(data: Uint8Array, width: number, height: number, channels: number): Tensor<'uint8'> {
  const plane = width * height;
  if (data.byteLength !== plane * channels || channels < 1 || channels > 4) {
    throw new InvalidFileError(`Cannot decode image: the decoder returned ${channels} channels and ${data.byteLength} bytes for ${width}x${height}`);
  }
  const out = allocate(Uint8Array, 3 * plane, `a decoded ${width}x${height} image`);
  const colour = channels >= 3;
  for (let i = 0; i < plane; i++) {
    const p = i * channels;
    out[i] = data[p]!;
    out[plane + i] = data[colour ? p + 1 : p]!;
    out[2 * plane + i] = data[colour ? p + 2 : p]!;
  }
  return Tensor.from(out, [3, height, width]);
}
