/**
 * The work budget of preprocessing an image, set from sizes alone before any pixel is resized (for an encoded
 * image, before it is decoded). torchvision's `Resize(resizeSize)` makes the shorter side `resizeSize` and scales
 * the longer one with it, so the cost follows the aspect ratio, not the image's own pixels: a 136-byte PNG of
 * 2000×1 becomes 512,000×256 (131 M pixels per channel, seconds of work and most of a gigabyte) for a 224×224
 * crop. The rules:
 *
 * - **Options.** `resizeSize²` and `cropSize²` are at most `maxPixels`: past that no image at all could be
 *   resized or cropped within the limit, so the option itself is refused (`InvalidArgumentError`).
 * - **Aspect ratio.** The longer side is at most `maxAspectRatio` times the shorter (default 100). Past it the
 *   centre crop sees under 1% of the resized image's long side (0.875% for 224 of 256 × 100), a sliver that
 *   says little about the image, so it is refused rather than classified (`ImageBudgetError`).
 * - **Resize target.** Width × height after the resize is at most `maxPixels`, the same limit the decoder puts
 *   on the image itself (`ImageBudgetError`).
 *
 * Those bound every buffer of a preprocessing: the decoded image (the decoder's limit), the resize's output
 * (three planes of the target), its horizontal pass (per plane at most the larger of the source and the target:
 * it keeps the source rows the vertical pass reads, at the target's width), its filter coefficients (a few per
 * pixel of each side) and the crop. Allocations still go through {@link allocate}, so that a limit set too high
 * for this machine gives an `OutOfMemoryError` rather than a `RangeError`.
 * @module
 */
import { ImageBudgetError, InvalidArgumentError, OutOfMemoryError, invalidArgument } from '../errors.js';

/** The default `maxAspectRatio` of preprocessing: longer side over shorter, at most 100. */
export const defaultMaxAspectRatio = 100;

/** What the budget of one image's preprocessing is checked against. @internal */
export interface PreprocessBudget {
  readonly resizeSize: number;
  readonly cropSize: number;
  /** Width × height of the resize target and of the crop, at most. */
  readonly maxPixels: number;
  /** Longer side over shorter, at most (Infinity: no bound). */
  readonly maxAspectRatio: number;
}

/** Throws unless `value` is a number of at least 1 (Infinity allowed: no bound). @internal */
export function checkAspectRatioOption(value: unknown, name: string): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 1) throw invalidArgument('a number of at least 1 (Infinity: no bound)', name, value);
  return value;
}

/**
 * Throws {@link InvalidArgumentError} when `side × side` is over `maxPixels`: a resize to a shorter side of `side`, or
 * a crop of `side`, that no image could fit.
 * @internal
 */
export function checkSquareWithinLimit(side: number, name: string, maxPixels: number): void {
  if (side * side <= maxPixels) return;
  const largest = Math.floor(Math.sqrt(maxPixels));
  throw new InvalidArgumentError(
    `Expected ${name} at most ${largest} but received ${side}: it makes every image at least ${side}x${side} = ${side * side} pixels, ` +
      `more than the limit of ${maxPixels}. Lower ${name}, or raise maxPixels`,
  );
}

/** A ratio for a message: 2000, 137.5. */
function ratio(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/**
 * Throws {@link ImageBudgetError} when an image of `width`×`height` is too thin for the crop (past `maxAspectRatio`)
 * or resizes to `target` (`[height, width]`, what `resizedSize` gives) of more than `maxPixels` pixels.
 * @param what the image as the message names it: `images[3]`, `image buffer (136 bytes)`.
 * @param element its index in a call over several images.
 * @internal
 */
export function checkPreprocessBudget(
  width: number, height: number, target: readonly [number, number], budget: PreprocessBudget, what: string, element?: number,
): void {
  const options = element === undefined ? {} : { element };
  const [outHeight, outWidth] = target;
  const aspect = Math.max(width, height) / Math.min(width, height);
  if (aspect > budget.maxAspectRatio) {
    const seen = (100 * Math.min(1, budget.cropSize / Math.max(outWidth, outHeight))).toPrecision(2);
    throw new ImageBudgetError(
      `${what} is ${width}x${height}, an aspect ratio of ${ratio(aspect)}:1, past the limit of ${ratio(budget.maxAspectRatio)}:1: ` +
        `resized so that its shorter side is ${budget.resizeSize} (${outWidth}x${outHeight}), its ${budget.cropSize}-pixel centre crop ` +
        `would see ${seen}% of its long side. Crop or pad it nearer to square before preprocessing it, or raise maxAspectRatio`,
      options,
    );
  }
  checkResizeTarget(width, height, target, budget.resizeSize, budget.maxPixels, what, element);
}

/**
 * Throws {@link ImageBudgetError} when an image of `width`×`height` resizes to `target` (`[height, width]`) of more
 * than `maxPixels` pixels.
 * @internal
 */
export function checkResizeTarget(
  width: number, height: number, target: readonly [number, number], size: number, maxPixels: number, what: string, element?: number,
): void {
  const [outHeight, outWidth] = target;
  if (outHeight * outWidth <= maxPixels) return;
  throw new ImageBudgetError(
    `${what} is ${width}x${height}: resized so that its shorter side is ${size} it would be ${outWidth}x${outHeight} = ` +
      `${outWidth * outHeight} pixels, more than the limit of ${maxPixels}. Lower the resize size, crop the image nearer to ` +
      'square, or raise maxPixels',
    element === undefined ? {} : { element },
  );
}

/**
 * A zeroed typed array of `length` elements for `what`; {@link OutOfMemoryError} when this process cannot hold it
 * (a limit set beyond what the machine or V8 allows), never a bare `RangeError`.
 * @internal
 */
export function allocate<A extends Uint8Array | Float32Array>(Type: { new(length: number): A; BYTES_PER_ELEMENT: number }, length: number, what: string): A {
  try {
    return new Type(length);
  } catch (cause) {
    if (!(cause instanceof RangeError)) throw cause;
    throw new OutOfMemoryError(
      `Cannot allocate ${length * Type.BYTES_PER_ELEMENT} bytes for ${what} (${cause.message}): lower maxPixels, or the batch`,
      { cause },
    );
  }
}
