/**
 * Pillow's nearest-neighbour resize (`Image.resize(size, NEAREST)`), re-implemented for 8-bit planes so
 * that torchvision's `InterpolationMode.NEAREST` on a PIL image is reproduced pixel for pixel.
 *
 * Pillow does not resample here: `_resize` (`_imaging.c`) turns the request into an affine transform
 * with scale `a = inSize / outSize` and no offset, and `ImagingScaleAffine` (`Geometry.c`) samples the
 * source at `xo = a * 0.5`, then `xo += a` per output pixel, taking `(int) xo` (truncation). The
 * position is accumulated, not computed as `(x + 0.5) * a`: the two differ in the last bits, and where
 * a position lands on a whole number that decides which pixel is taken (2 → 7: the fourth position
 * accumulates to 0.9999999999999999, source 0, where `3.5 * 2 / 7` gives 1), so the accumulation is kept.
 * Positions outside the source (never the case for a plain resize) are filled with zero, as Pillow does.
 * @module
 */

/** Pillow's `COORD`: -1 for negative positions, else truncation toward zero. */
function coord(v: number): number {
  return v < 0 ? -1 : Math.trunc(v);
}

/** The source index of each output index along one axis, -1 where Pillow fills with zero. */
function sourceIndices(inSize: number, outSize: number): Int32Array {
  const scale = inSize / outSize;
  const indices = new Int32Array(outSize);
  let position = scale * 0.5;
  for (let i = 0; i < outSize; i++) {
    const index = coord(position);
    indices[i] = index >= 0 && index < inSize ? index : -1;
    position += scale;
  }
  return indices;
}

/**
 * Resizes one 8-bit plane (row-major, `width`×`height`) to `outWidth`×`outHeight` exactly as Pillow's
 * `Image.resize(size, Image.NEAREST)` resizes each band of an 8-bit image.
 * @internal
 */
export function nearestPlane(src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Uint8Array {
  const columns = sourceIndices(width, outWidth);
  const rows = sourceIndices(height, outHeight);
  const out = new Uint8Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const row = rows[y]!;
    if (row < 0) continue;
    const inRow = row * width;
    const outRow = y * outWidth;
    for (let x = 0; x < outWidth; x++) {
      const column = columns[x]!;
      if (column >= 0) out[outRow + x] = src[inRow + column]!;
    }
  }
  return out;
}
