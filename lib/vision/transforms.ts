/**
 * torchvision's `ImageClassification` preprocessing (what `weights.transforms()` returns) for uint8
 * `[3, H, W]` images: resize the shorter side (antialiased, or nearest-neighbour), centre crop (padding
 * with zeros when the crop is larger), scale to [0, 1], normalise with the mean/std, and batch into
 * NCHW float32.
 *
 * The resize reproduces Pillow's exactly (see `resample.ts` and `nearest.ts`), the crop offsets use
 * Python's `round` (half to even) and the padding `F.center_crop`'s split, as torchvision does, and the
 * arithmetic after it is done in float32 in torchvision's order, so for the same decoded pixels the
 * result equals torchvision's PIL path.
 *
 * Every size is checked against a work budget before anything is allocated (see `budget.ts`): the resize target
 * and the crop within `maxPixels`, the aspect ratio within `maxAspectRatio`.
 * @module
 */
import { invalidArgument, ShapeError } from '../errors.js';
import { Tensor, formatShape } from '../tensor.js';
import {
  allocate, checkAspectRatioOption, checkPreprocessBudget, checkResizeTarget, checkSquareWithinLimit, defaultMaxAspectRatio, type PreprocessBudget,
} from './budget.js';
import { defaultMaxPixels } from './image.js';
import { nearestPlane } from './nearest.js';
import { resamplePlane, type ResampleFilter } from './resample.js';

/** Interpolations of the resize, named as torchvision's `InterpolationMode` (lowercase). */
export type Interpolation = 'nearest' | ResampleFilter;

/** The ImageNet channel means torchvision's weights were trained with. */
export const imagenetMean: readonly [number, number, number] = [0.485, 0.456, 0.406];
/** The ImageNet channel standard deviations torchvision's weights were trained with. */
export const imagenetStd: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Options of {@link preprocess}, the fields of torchvision's `ImageClassification`. */
export interface PreprocessOptions {
  /** The shorter side after resizing. Default 256 (`IMAGENET1K_V1`; the V2 weights use 232). */
  resizeSize?: number;
  /** The side of the square centre crop. Default 224; a crop larger than the resized image is padded with zeros. */
  cropSize?: number;
  /** Per-channel means subtracted after scaling to [0, 1]. Default {@link imagenetMean}. */
  mean?: readonly number[];
  /** Per-channel standard deviations divided by. Default {@link imagenetStd}. */
  std?: readonly number[];
  /** The resize's filter (bilinear and bicubic antialiased, as Pillow's). Default `'bilinear'`. */
  interpolation?: Interpolation;
  /**
   * Largest width × height of an image after the resize, and of the crop: the work budget of one image, checked
   * before anything is allocated (an image past it throws {@link ImageBudgetError}; a `resizeSize` or `cropSize`
   * whose square is past it, {@link InvalidArgumentError}). Default {@link defaultMaxPixels} (Pillow's 89 MP);
   * `ImagePipeline` uses its own `maxPixels`, the limit it decodes with.
   */
  maxPixels?: number;
  /**
   * Largest ratio of an image's longer side to its shorter: a thinner image is refused with
   * {@link ImageBudgetError} before it is resized, since its centre crop would see a sliver of it (at 100, under
   * 1% of the resized long side) while the resize grows with the ratio (2000×1 becomes 512,000×256). Default
   * {@link defaultMaxAspectRatio} (100); `Infinity` turns the bound off (the `maxPixels` bound stays).
   */
  maxAspectRatio?: number;
}

/** Throws unless `image` is a uint8 `[3, H, W]` tensor with H, W >= 1. @internal */
export function checkImage(image: unknown, name: string): asserts image is Tensor<'uint8'> {
  if (!(image instanceof Tensor) || image.dtype !== 'uint8') throw invalidArgument('a uint8 Tensor [3, H, W]', name, image);
  const s = image.shape;
  if (s.length !== 3 || s[0] !== 3 || s[1]! < 1 || s[2]! < 1) {
    throw new ShapeError(`Expected an image of shape [3, H, W] with H, W >= 1 for ${name} but received ${formatShape(s)}`);
  }
}

function checkSize(value: unknown, name: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) throw invalidArgument('a positive integer', name, value);
  return value as number;
}

/** The size torchvision's `Resize(size)` gives: shorter side `size`, longer side scaled and truncated. */
export function resizedSize(height: number, width: number, size: number): [number, number] {
  if (width <= height) return [Math.trunc((size * height) / width), size];
  return [size, Math.trunc((size * width) / height)];
}

/** Options of {@link resize} and {@link centerCrop}. */
export interface PixelLimitOptions {
  /** Largest width × height of the result, checked before it is allocated. Default {@link defaultMaxPixels}. */
  maxPixels?: number;
}

function checkMaxPixels(value: unknown): number {
  return checkSize(value ?? defaultMaxPixels, 'maxPixels');
}

/**
 * Resizes a uint8 `[3, H, W]` image so that its shorter side is `size` (torchvision's `Resize(size)` on a
 * PIL image: bilinear and bicubic antialiased, nearest taking Pillow's source pixel).
 *
 * @throws ImageBudgetError when the result would have more than `maxPixels` pixels (checked before it is made).
 * @throws InvalidArgumentError for a bad `size`, `interpolation` or `maxPixels`; ShapeError when the image is not `[3, H, W]`.
 */
export function resize(image: Tensor<'uint8'>, size: number, interpolation: Interpolation = 'bilinear', options: PixelLimitOptions = {}): Tensor<'uint8'> {
  checkImage(image, 'image');
  checkSize(size, 'size');
  checkInterpolation(interpolation);
  const maxPixels = checkMaxPixels(options.maxPixels);
  const [, h, w] = image.shape as [number, number, number];
  const target = resizedSize(h, w, size);
  checkResizeTarget(w, h, target, size, maxPixels, 'image');
  const [outH, outW] = target;
  if (outH === h && outW === w) return Tensor.from(image.data.slice(), [3, h, w]);
  const out = allocate(Uint8Array, 3 * outH * outW, `a ${outW}x${outH} resize`);
  for (let c = 0; c < 3; c++) {
    const plane = image.data.subarray(c * h * w, (c + 1) * h * w);
    const resized = interpolation === 'nearest'
      ? nearestPlane(plane, w, h, outW, outH)
      : resamplePlane(plane, w, h, outW, outH, interpolation);
    out.set(resized, c * outH * outW);
  }
  return Tensor.from(out, [3, outH, outW]);
}

/** Python 3's `round`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The top-left corner of torchvision's `CenterCrop(size)` along one axis: `int(round((H - size) / 2))`,
 * or, for a crop larger than the image, minus the zero padding `F.center_crop` puts before the image
 * (`(size - H) // 2`; the odd pixel of padding goes after it).
 */
export function centerCropOffset(length: number, size: number): number {
  if (size > length) return -Math.floor((size - length) / 2);
  return roundHalfEven((length - size) / 2);
}

/**
 * torchvision's `CenterCrop(size)` of a uint8 `[3, H, W]` image: the centred `size`×`size` square, with
 * zeros where the crop reaches beyond the image (as `F.center_crop` pads before cropping).
 *
 * @throws InvalidArgumentError when `size` is not a positive integer, or `size²` is over `maxPixels`.
 * @throws ShapeError when the image is not `[3, H, W]`.
 */
export function centerCrop(image: Tensor<'uint8'>, size: number, options: PixelLimitOptions = {}): Tensor<'uint8'> {
  checkImage(image, 'image');
  checkSize(size, 'size');
  checkSquareWithinLimit(size, 'size', checkMaxPixels(options.maxPixels));
  const [, h, w] = image.shape as [number, number, number];
  const top = centerCropOffset(h, size);
  const left = centerCropOffset(w, size);
  // Only the part of the crop that overlaps the image is copied; the rest stays zero.
  const y0 = Math.max(0, -top);
  const y1 = Math.min(size, h - top);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(size, w - left);
  const out = allocate(Uint8Array, 3 * size * size, `a ${size}x${size} crop`);
  for (let c = 0; c < 3; c++) {
    for (let y = y0; y < y1; y++) {
      const src = (c * h + top + y) * w + left;
      out.set(image.data.subarray(src + x0, src + x1), (c * size + y) * size + x0);
    }
  }
  return Tensor.from(out, [3, size, size]);
}

const interpolations: readonly Interpolation[] = ['nearest', 'bilinear', 'bicubic'];

function checkInterpolation(value: unknown): asserts value is Interpolation {
  if (!interpolations.includes(value as Interpolation)) throw invalidArgument("'nearest', 'bilinear' or 'bicubic'", 'interpolation', value);
}

function checkChannelValues(value: unknown, name: string, positive: boolean): readonly number[] {
  if (
    !Array.isArray(value) || value.length !== 3 ||
    value.some((v) => typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0))
  ) {
    throw invalidArgument(`an array of 3 ${positive ? 'positive' : 'finite'} numbers`, name, value);
  }
  return value as readonly number[];
}

/** {@link PreprocessOptions} checked, with the defaults filled in and mean/std rounded to float32. @internal */
export interface ResolvedPreprocessOptions extends PreprocessBudget {
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly interpolation: Interpolation;
}

/**
 * Checks `options` as {@link preprocess} does and fills in its defaults, so that another thread can run the same
 * transform from a plain object.
 * @throws InvalidArgumentError for a bad option, and for a `resizeSize` or `cropSize` whose square is over `maxPixels`.
 * @internal
 */
export function resolvePreprocessOptions(options: PreprocessOptions = {}): ResolvedPreprocessOptions {
  const resizeSize = checkSize(options.resizeSize ?? 256, 'resizeSize');
  const cropSize = checkSize(options.cropSize ?? 224, 'cropSize');
  const mean = checkChannelValues(options.mean ?? imagenetMean, 'mean', false).map(Math.fround);
  const std = checkChannelValues(options.std ?? imagenetStd, 'std', true).map(Math.fround);
  const interpolation = options.interpolation ?? 'bilinear';
  checkInterpolation(interpolation);
  const maxPixels = checkMaxPixels(options.maxPixels);
  const maxAspectRatio = checkAspectRatioOption(options.maxAspectRatio ?? defaultMaxAspectRatio, 'maxAspectRatio');
  checkSquareWithinLimit(resizeSize, 'resizeSize', maxPixels);
  checkSquareWithinLimit(cropSize, 'cropSize', maxPixels);
  return { resizeSize, cropSize, mean, std, interpolation, maxPixels, maxAspectRatio };
}

/**
 * Throws {@link ImageBudgetError} when an image of `width`×`height` cannot be preprocessed with `options` within its
 * budget (see `budget.ts`): too thin for the crop, or a resize target over `maxPixels`.
 * @param what the image as the message names it; `element` its index in a call over several images.
 * @internal
 */
export function checkImageBudget(width: number, height: number, options: ResolvedPreprocessOptions, what: string, element?: number): void {
  checkPreprocessBudget(width, height, resizedSize(height, width, options.resizeSize), options, what, element);
}

/** One image resized and centre cropped: uint8 planes `[3, cropSize, cropSize]`, not yet scaled. @internal */
export function cropPixels(image: Tensor<'uint8'>, options: ResolvedPreprocessOptions, what = 'image', element?: number): Uint8Array {
  const [, height, width] = image.shape as [number, number, number];
  checkImageBudget(width, height, options, what, element);
  const limit = { maxPixels: options.maxPixels };
  return centerCrop(resize(image, options.resizeSize, options.interpolation, limit), options.cropSize, limit).data;
}

/**
 * Scales cropped uint8 planes `[3, S, S]` to [0, 1] and normalises them into `out` from element `offset`: float32
 * in torchvision's order (`ToTensor` divides by 255, `Normalize` subtracts, then divides).
 * @internal
 */
export function normalizeInto(cropped: Uint8Array, options: ResolvedPreprocessOptions, out: Float32Array, offset: number): void {
  const area = options.cropSize * options.cropSize;
  for (let c = 0; c < 3; c++) {
    const base = offset + c * area;
    const mean = options.mean[c]!;
    const std = options.std[c]!;
    for (let i = 0; i < area; i++) {
      const scaled = Math.fround(cropped[c * area + i]! / 255);
      out[base + i] = Math.fround(scaled - mean) / std;
    }
  }
}

/**
 * torchvision's `ImageClassification` transform over a batch: each uint8 `[3, H, W]` image (from
 * {@link readImage}) is resized, centre cropped, scaled to [0, 1] and normalised; the result is one float32
 * tensor `[N, 3, cropSize, cropSize]`, ready for `model.forward`. `ImagePipeline.preprocess` and
 * `preprocessAsync` do the same on worker threads.
 *
 * @throws InvalidArgumentError for a bad option (non-integer sizes, mean/std not 3 finite numbers, std not
 *   positive, unknown interpolation), a `resizeSize` or `cropSize` whose square is over `maxPixels`, or an empty batch.
 * @throws ShapeError when an image is not `[3, H, W]`.
 * @throws ImageBudgetError naming the first image (`element`) too thin for the crop (past `maxAspectRatio`) or whose
 *   resize would exceed `maxPixels`; every image is checked before any is resized.
 * @example
 * ```ts
 * import { preprocess, readImage, ResNet50_Weights } from 'resnet-cudnn';
 * const images = [await readImage('dog.jpg'), await readImage('cat.png')];
 * const x = preprocess(images, ResNet50_Weights.IMAGENET1K_V2.transforms());   // [2, 3, 224, 224]: resize 232, crop 224
 * const small = preprocess(images, { resizeSize: 128, cropSize: 112, interpolation: 'bicubic' });
 * ```
 */
export function preprocess(images: Tensor<'uint8'> | readonly Tensor<'uint8'>[], options: PreprocessOptions = {}): Tensor<'float32'> {
  const list = images instanceof Tensor ? [images] : images;
  if (!Array.isArray(list) || list.length === 0) throw invalidArgument('a uint8 Tensor or a non-empty array of them', 'images', images);
  list.forEach((image, i) => checkImage(image, `images[${i}]`));
  const resolved = resolvePreprocessOptions(options);
  list.forEach((image, n) => checkImageBudget(image.shape[2]!, image.shape[1]!, resolved, `images[${n}]`, n));
  const sample = 3 * resolved.cropSize * resolved.cropSize;
  const out = allocate(Float32Array, list.length * sample, `a batch of ${list.length} images`);
  list.forEach((image, n) => normalizeInto(cropPixels(image, resolved, `images[${n}]`, n), resolved, out, n * sample));
  return Tensor.from(out, [list.length, 3, resolved.cropSize, resolved.cropSize]);
}
