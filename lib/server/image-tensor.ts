/**
 * Image tensors in a request (the numeric forms of an image input): FP32, FP16 or UINT8, with sample dims
 * `[C, H, W]` or `[H, W, C]`. Their bytes stay where the request carried them — the body or a shared-memory
 * region — and go to the engine as they are, which converts the dtype and layout (and normalises pixels)
 * in its first kernel: nothing here expands pixels to floats on the host. Pure functions; every client
 * mistake is a `badRequest` naming the tensor.
 * @module
 */
import { floatToHalf } from '../tensor.js';
import { badRequest } from './http-error.js';
import { describeValue } from '../describe-value.js';
import { formatShape, littleEndianHost } from './tensor-data.js';
import type { ImageDatatype, InputSignature, TensorLayout } from './types.js';

/** Bytes per element of each image datatype. */
export const imageElementBytes: Readonly<Record<ImageDatatype, number>> = Object.freeze({ FP32: 4, FP16: 2, UINT8: 1 });

/** The engine's names for a datatype and layout. */
export function engineFormat(datatype: ImageDatatype, layout: TensorLayout): { dtype: 'float32' | 'float16' | 'uint8'; layout: 'nchw' | 'nhwc' } {
  return {
    dtype: datatype === 'FP32' ? 'float32' : datatype === 'FP16' ? 'float16' : 'uint8',
    layout: layout === 'NHWC' ? 'nhwc' : 'nchw',
  };
}

/** The sample shape of `image` in `layout`. */
export function sampleShapeOf(image: InputSignature['image'], layout: TensorLayout): number[] {
  const { channels, height, width } = image;
  return layout === 'NHWC' ? [height, width, channels] : [channels, height, width];
}

/**
 * The layout a request's image shape `[N, …]` is in, or null when it matches neither. A shape that reads
 * both ways (a 3×3 image of 3 channels) takes the declared layout.
 */
export function imageLayoutOf(shape: readonly number[], declared: InputSignature): TensorLayout | null {
  if (shape.length !== 4) return null;
  const sample = shape.slice(1);
  const matches = (layout: TensorLayout) => sampleShapeOf(declared.image, layout).every((dim, i) => sample[i] === dim);
  if (matches(declared.layout)) return declared.layout;
  const other: TensorLayout = declared.layout === 'NCHW' ? 'NHWC' : 'NCHW';
  return matches(other) ? other : null;
}

/** What a shape must look like, for messages: `[-1,3,224,224] or [-1,224,224,3]`. */
export function expectedImageShapes(declared: InputSignature): string {
  return [declared.layout, declared.layout === 'NCHW' ? 'NHWC' : 'NCHW']
    .map((layout) => formatShape([-1, ...sampleShapeOf(declared.image, layout as TensorLayout)])).join(' or ');
}

/**
 * `count` elements of `datatype` as little-endian bytes in `chunk`: the chunk itself on a little-endian
 * host (no copy, wherever it sits: the engine reads unaligned input), else a byte-swapped copy.
 */
export function imageDataFromBytes(chunk: Uint8Array, datatype: ImageDatatype, count: number, what: string): Uint8Array {
  const size = imageElementBytes[datatype];
  if (chunk.length !== count * size) {
    throw badRequest(`binary_data_size of ${what} is ${chunk.length}, expected ${count * size} (${count} ${datatype} elements × ${size} byte${size > 1 ? 's' : ''})`);
  }
  if (littleEndianHost || size === 1) return chunk;
  const copy = Buffer.from(chunk);
  return size === 2 ? copy.swap16() : copy.swap32();
}

/**
 * JSON elements of `datatype` as the engine's bytes: FP32 and FP16 numbers whose value is finite in that
 * type (JSON has no NaN or infinities), UINT8 integers 0..255.
 */
export function imageDataFromJson(elements: readonly unknown[], datatype: ImageDatatype, what: string): Uint8Array {
  if (datatype === 'UINT8') {
    const bytes = new Uint8Array(elements.length);
    for (let i = 0; i < elements.length; i++) {
      const element = elements[i];
      if (typeof element !== 'number' || !Number.isInteger(element) || element < 0 || element > 255) {
        throw badRequest(`element ${i} of ${what} must be an integer from 0 to 255 (UINT8), got ${describeValue(element)}`);
      }
      bytes[i] = element;
    }
    return bytes;
  }
  const values = datatype === 'FP32' ? new Float32Array(elements.length) : new Uint16Array(elements.length);
  for (let i = 0; i < elements.length; i++) {
    const element = elements[i];
    if (typeof element !== 'number') throw badRequest(`element ${i} of ${what} must be a number (${datatype}), got ${describeValue(element)}`);
    // 1e39 is a finite double but overflows float32; 70000 overflows float16.
    const fits = datatype === 'FP32' ? Number.isFinite(Math.fround(element)) : Math.abs(element) < 65520;
    if (!fits) {
      // JSON.parse reads a literal beyond the double range (1e999) as ±Infinity; say so rather than print it as JSON's null.
      const value = Number.isFinite(element) ? String(element) : `${element} (a literal beyond even the float64 range, such as 1e999)`;
      throw badRequest(`element ${i} of ${what} is outside the ${datatype} range: ${value}`);
    }
    values[i] = datatype === 'FP32' ? element : floatToHalf(element);
  }
  const bytes = new Uint8Array(values.buffer);
  return littleEndianHost ? bytes : (datatype === 'FP32' ? Buffer.from(bytes).swap32() : Buffer.from(bytes).swap16());
}
