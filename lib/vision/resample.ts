/**
 * Pillow's resampling (`Image.resize`, `libImaging/Resample.c`), re-implemented for 8-bit RGB so that
 * our preprocessing reproduces torchvision's PIL path pixel for pixel rather than approximately.
 *
 * Why not sharp's resize: libvips shrinks by whole factors with a box filter before its kernel pass and
 * uses other kernel supports, so its output differs from Pillow's by several grey levels; torchvision's
 * published accuracies were measured on Pillow's output.
 *
 * The algorithm, as Pillow does it: separable convolution, horizontal pass first, each pass rounded to
 * 8 bits. The filter's support is widened by the scale factor when shrinking (that is the antialiasing),
 * weights are normalised to sum to one and then turned into 22-bit fixed point; sums start at one half
 * (round to nearest) and are clamped to 0..255.
 * @module
 */

/** The filters Pillow offers for `resize` that torchvision's `InterpolationMode` maps onto. */
export type ResampleFilter = 'bilinear' | 'bicubic';

interface Filter {
  support: number;
  weight(x: number): number;
}

const filters: Record<ResampleFilter, Filter> = {
  bilinear: {
    support: 1,
    weight(x) {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    // Pillow's cubic uses a = -0.5 (Keys), not the -0.75 of OpenCV and torch's tensor path.
    support: 2,
    weight(x) {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

const precisionBits = 32 - 8 - 2;
const fixedOne = 2 ** precisionBits;

/** Per output index: the first input index, the tap count, and fixed-point weights (`ksize` per index). */
interface Coefficients {
  ksize: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/** Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`. */
function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const row = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero; the clamp makes that equal to flooring here.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) / filterScale);
      row[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? row[x]! / total : row[x]!;
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * fixedOne) : Math.trunc(0.5 + w * fixedOne);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, first, count, weights };
}

function clip8(sum: number): number {
  const v = Math.floor(sum / fixedOne);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resizes one 8-bit plane (row-major, `width`×`height`) to `outWidth`×`outHeight` exactly as Pillow's
 * `Image.resize(size, filter)` resizes each band of an 8-bit image.
 * @internal
 */
export function resamplePlane(
  src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, filterName: ResampleFilter,
): Uint8Array {
  const filter = filters[filterName];
  const half = fixedOne / 2;
  const vertical = coefficients(height, outHeight, filter);
  let image = src;
  let rowOffset = 0;

  if (outWidth !== width) {
    // Only the rows that the vertical pass reads are resized horizontally (as Pillow does).
    const firstRow = outHeight !== height ? vertical.first[0]! : 0;
    const endRow = outHeight !== height ? vertical.first[outHeight - 1]! + vertical.count[outHeight - 1]! : height;
    const h = coefficients(width, outWidth, filter);
    const tmp = new Uint8Array(outWidth * (endRow - firstRow));
    for (let y = firstRow; y < endRow; y++) {
      const inRow = y * width;
      const outRow = (y - firstRow) * outWidth;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = inRow + h.first[xx]!;
        const n = h.count[xx]!;
        const k = xx * h.ksize;
        let sum = half;
        for (let x = 0; x < n; x++) sum += src[xmin + x]! * h.weights[k + x]!;
        tmp[outRow + xx] = clip8(sum);
      }
    }
    image = tmp;
    rowOffset = firstRow;
  }

  if (outHeight === height) return image === src ? src.slice() : image;
  const out = new Uint8Array(outWidth * outHeight);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = vertical.first[yy]! - rowOffset;
    const n = vertical.count[yy]!;
    const k = yy * vertical.ksize;
    for (let i = 0; i < outWidth; i++) {
      let sum = half;
      for (let y = 0; y < n; y++) sum += image[(ymin + y) * outWidth + i]! * vertical.weights[k + y]!;
      out[yy * outWidth + i] = clip8(sum);
    }
  }
  return out;
}
