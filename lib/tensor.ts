/**
 * Host tensors: a shape, a dtype and a flat, row-major (C-contiguous) typed array. Inputs are float32,
 * float16 or uint8, NCHW or NHWC ({@link Tensor.layout}); outputs are float32. Half-precision dtypes exist so that state
 * dicts read from files keep their dtype until they are loaded into a model.
 * @module
 */
import { DTypeError, InvalidArgumentError, invalidArgument, ShapeError } from './errors.js';

/** The element types a {@link Tensor} can hold. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The typed array that backs each dtype (float16 and bfloat16 keep their raw bits in a Uint16Array). */
export interface DTypeArrays {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** The order of a 4-D image batch's dims: `[N, C, H, W]` or `[N, H, W, C]` ({@link Tensor.layout}). */
export type TensorLayout = 'nchw' | 'nhwc';

/** Any typed array a tensor can hold. */
export type TensorData = DTypeArrays[DType];

/** The typed-array constructor of each dtype. @internal */
export const arrayTypes = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const;

/** Bytes per element of each dtype. */
export const dtypeSize: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/** True when `value` names a dtype. */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(arrayTypes, value);
}

function checkShape(shape: readonly number[], name = 'shape'): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw invalidArgument('an array of non-negative integers', name, shape);
  }
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Human-readable shape, as PyTorch prints it: `[8, 3, 224, 224]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** IEEE half bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** number → IEEE half bits, round to nearest even. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** bfloat16 bits → number. */
export function bfloat16ToFloat(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}

/** number → bfloat16 bits, round to nearest even (NaN stays NaN). */
export function floatToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * A host tensor. Data is row-major; `shape` is frozen. Tensors are cheap views: `Tensor.from`
 * does not copy a typed array of the right type.
 */
export class Tensor<D extends DType = DType> {
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly data: DTypeArrays[D];
  /**
   * What the dims of a 4-D image batch mean to `Module.forward`: `nchw` (`[N, C, H, W]`, PyTorch's order and
   * the default) or `nhwc` (`[N, H, W, C]`, the order image decoders produce: sharp's `raw()` pixels, one
   * image after another). The data is row-major in `shape` either way; see {@link Tensor.asLayout}.
   */
  readonly layout: TensorLayout;

  private constructor(data: DTypeArrays[D], shape: readonly number[], dtype: D, layout: TensorLayout = 'nchw') {
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.layout = layout;
  }

  /**
   * The same data (no copy) with its dims read as `layout` by `Module.forward`: `t.asLayout('nhwc')` on a
   * `[N, H, W, 3]` uint8 tensor of decoded pixels feeds them to a model as they are, the transpose (and
   * the conversion to float, and the weights' normalisation where the model applies one) done by the
   * engine in its first kernel.
   * @throws ShapeError when the tensor is not 4-D; InvalidArgumentError for another layout name.
   */
  asLayout(layout: TensorLayout): Tensor<D> {
    if (layout !== 'nchw' && layout !== 'nhwc') throw invalidArgument('"nchw" or "nhwc"', 'layout', layout);
    if (this.shape.length !== 4) throw new ShapeError(`asLayout: a layout names the dims of a 4-D tensor, but this one has shape ${formatShape(this.shape)}`);
    return new Tensor(this.data, this.shape, this.dtype, layout);
  }

  /**
   * Wraps data in a tensor of the given shape. A typed array of the dtype's own type is used as is
   * (no copy): for float16 and bfloat16 that is a Uint16Array of raw bits. Anything else (a plain
   * array, another typed array) is copied and its values converted: to float16/bfloat16 with
   * round-to-nearest-even, to integers by truncation toward zero, to bool as "non-zero".
   * The length must equal the product of the shape.
   * The dtype defaults from the array type (Float32Array → float32, Uint8Array → uint8, BigInt64Array
   * or an array of bigints → int64, a plain array of numbers → float32, …).
   * @example
   * ```ts
   * import { Tensor } from 'resnet-cudnn';
   * const x = Tensor.from(new Float32Array(8 * 3 * 224 * 224), [8, 3, 224, 224]);   // float32 NCHW, no copy
   * const pixels = Tensor.from(new Uint8Array(224 * 224 * 3), [1, 224, 224, 3]).asLayout('nhwc');   // uint8 NHWC
   * const halves = Tensor.from([0.5, 1, 2], [3], 'float16');   // converted, round to nearest even
   * ```
   */
  static from(data: Float32Array | readonly number[], shape: readonly number[]): Tensor<'float32'>;
  static from(data: Float64Array, shape: readonly number[]): Tensor<'float64'>;
  static from(data: Uint8Array | Uint8ClampedArray, shape: readonly number[]): Tensor<'uint8'>;
  static from(data: Int8Array, shape: readonly number[]): Tensor<'int8'>;
  static from(data: Int16Array, shape: readonly number[]): Tensor<'int16'>;
  static from(data: Int32Array, shape: readonly number[]): Tensor<'int32'>;
  static from(data: BigInt64Array | readonly bigint[], shape: readonly number[]): Tensor<'int64'>;
  static from<D extends DType>(data: DTypeArrays[D] | ArrayLike<number> | ArrayLike<bigint>, shape: readonly number[], dtype: D): Tensor<D>;
  static from<D extends DType = 'float32'>(
    data: DTypeArrays[D] | ArrayLike<number> | ArrayLike<bigint>,
    shape: readonly number[],
    dtype?: D,
  ): Tensor<D>;
  static from<D extends DType = 'float32'>(
    data: DTypeArrays[D] | ArrayLike<number> | ArrayLike<bigint>,
    shape: readonly number[],
    dtype?: D,
  ): Tensor<D> {
    checkShape(shape);
    if (dtype !== undefined && !isDType(dtype)) {
      throw invalidArgument(`one of ${Object.keys(arrayTypes).join(', ')}`, 'dtype', dtype);
    }
    const resolved = (dtype ?? inferDType(data)) as D;
    let array: DTypeArrays[D];
    if (data instanceof (arrayTypes[resolved] as unknown as typeof Float32Array)) {
      array = data as DTypeArrays[D];
    } else if (Array.isArray(data) || (ArrayBuffer.isView(data) && !(data instanceof DataView))) {
      array = convertValues(data as ArrayLike<number | bigint>, resolved);
    } else {
      throw invalidArgument('a typed array or an array of numbers', 'data', typeof data);
    }
    const numel = numelOf(shape);
    if (array.length !== numel) {
      throw new ShapeError(
        `Tensor.from: data has ${array.length} elements but shape ${formatShape(shape)} needs ${numel}`,
      );
    }
    return new Tensor(array, shape, resolved);
  }

  /** A tensor of zeros. */
  static zeros<D extends DType = 'float32'>(shape: readonly number[], dtype: D = 'float32' as D): Tensor<D> {
    checkShape(shape);
    if (!isDType(dtype)) throw invalidArgument(`one of ${Object.keys(arrayTypes).join(', ')}`, 'dtype', dtype);
    const Ctor = arrayTypes[dtype] as unknown as { new (n: number): DTypeArrays[D] };
    return new Tensor(new Ctor(numelOf(shape)), shape, dtype);
  }

  /** Number of elements. */
  get numel(): number {
    return this.data.length;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** The same data with another shape of equal element count (no copy). */
  reshape(shape: readonly number[]): Tensor<D> {
    checkShape(shape);
    if (numelOf(shape) !== this.numel) {
      throw new ShapeError(`reshape: shape ${formatShape(shape)} is invalid for input of size ${this.numel}`);
    }
    return new Tensor(this.data, shape, this.dtype);
  }

  /** A float32 copy (or this tensor itself when it is float32 already). int64 values convert exactly up to 2^53. */
  toFloat32(): Tensor<'float32'> {
    if (this.dtype === 'float32') return this as unknown as Tensor<'float32'>;
    const out = new Float32Array(this.numel);
    const src = this.data;
    switch (this.dtype) {
      case 'float16':
        for (let i = 0; i < out.length; i++) out[i] = halfToFloat((src as Uint16Array)[i]!);
        break;
      case 'bfloat16':
        for (let i = 0; i < out.length; i++) out[i] = bfloat16ToFloat((src as Uint16Array)[i]!);
        break;
      case 'int64':
        for (let i = 0; i < out.length; i++) out[i] = Number((src as BigInt64Array)[i]!);
        break;
      default:
        out.set(src as Exclude<TensorData, BigInt64Array>);
    }
    return new Tensor(out, this.shape, 'float32', this.layout);
  }

  /**
   * This tensor's data converted to `dtype` (a new tensor, or this one when the dtype is already
   * `dtype`). Values pass through float64, so integers up to 2^53 convert exactly; float → integer
   * truncates toward zero (and wraps, as typed arrays do); → bool is "non-zero".
   */
  to<T extends DType>(dtype: T): Tensor<T> {
    if (!isDType(dtype)) throw invalidArgument(`one of ${Object.keys(arrayTypes).join(', ')}`, 'dtype', dtype);
    if ((dtype as DType) === this.dtype) return this as unknown as Tensor<T>;
    if (dtype === 'float32') return this.toFloat32() as unknown as Tensor<T>;
    return new Tensor(convertValues(this.toFloat64Values(), dtype), this.shape, dtype, this.layout);
  }

  /** The values as float64 numbers (half-precision bits decoded, int64 rounded beyond 2^53). */
  private toFloat64Values(): Float64Array {
    const src = this.data;
    switch (this.dtype) {
      case 'float16':
        return Float64Array.from(src as Uint16Array, halfToFloat);
      case 'bfloat16':
        return Float64Array.from(src as Uint16Array, bfloat16ToFloat);
      case 'int64':
        return Float64Array.from(src as BigInt64Array, Number);
      default:
        return new Float64Array(src as Exclude<TensorData, BigInt64Array>);
    }
  }

  private rows(op: string): { rows: number; cols: number; values: Float32Array } {
    if (this.ndim < 1) throw new ShapeError(`${op}: expected a tensor with at least 1 dimension but received a scalar`);
    const cols = this.shape[this.ndim - 1]!;
    if (cols === 0) throw new ShapeError(`${op}: the last dimension is empty`);
    if (this.dtype === 'bool') throw new DTypeError(`${op}: expected a numeric tensor but received dtype bool`);
    return { rows: this.numel / cols, cols, values: this.toFloat32().data };
  }

  /** Index of the largest value along the last dimension, for each row (the first one on ties; NaN wins, as in PyTorch). */
  argmax(): number[] {
    const { rows, cols, values } = this.rows('argmax');
    const out: number[] = [];
    for (let r = 0; r < rows; r++) {
      let best = 0;
      let bestValue = values[r * cols]!;
      for (let c = 1; c < cols && !Number.isNaN(bestValue); c++) {
        const v = values[r * cols + c]!;
        if (v > bestValue || Number.isNaN(v)) {
          best = c;
          bestValue = v;
        }
      }
      out.push(best);
    }
    return out;
  }

  /** Softmax along the last dimension (numerically stable), as a new float32 tensor of the same shape. */
  softmax(): Tensor<'float32'> {
    const { rows, cols, values } = this.rows('softmax');
    const out = new Float32Array(values.length);
    for (let r = 0; r < rows; r++) {
      let max = -Infinity;
      for (let c = 0; c < cols; c++) max = Math.max(max, values[r * cols + c]!);
      let sum = 0;
      for (let c = 0; c < cols; c++) {
        const e = Math.exp(values[r * cols + c]! - max);
        out[r * cols + c] = e;
        sum += e;
      }
      for (let c = 0; c < cols; c++) out[r * cols + c] = out[r * cols + c]! / sum;
    }
    return new Tensor(out, this.shape, 'float32');
  }

  /** The `k` largest values along the last dimension and their indices, for each row, largest first. */
  topk(k: number): { values: number[][]; indices: number[][] } {
    const { rows, cols, values } = this.rows('topk');
    if (!Number.isInteger(k) || k < 1 || k > cols) throw invalidArgument(`an integer from 1 to ${cols}`, 'k', k);
    const outValues: number[][] = [];
    const outIndices: number[][] = [];
    for (let r = 0; r < rows; r++) {
      const order = Array.from({ length: cols }, (_, c) => c);
      const row = values.subarray(r * cols, (r + 1) * cols);
      order.sort((a, b) => {
        const va = row[a]!;
        const vb = row[b]!;
        if (Number.isNaN(va) !== Number.isNaN(vb)) return Number.isNaN(va) ? -1 : 1;
        return vb - va || a - b;
      });
      const top = order.slice(0, k);
      outIndices.push(top);
      outValues.push(top.map((c) => row[c]!));
    }
    return { values: outValues, indices: outIndices };
  }

  /** Nested arrays, for printing and tests. */
  toArray(): unknown {
    const flat = Array.from(this.data as ArrayLike<number | bigint>);
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.ndim) return flat[offset];
      const stride = numelOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }
}

/** number → int64, truncating toward zero as PyTorch's casts do. */
function toInt64(v: number | bigint): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isFinite(v)) throw new InvalidArgumentError(`Cannot convert ${v} to int64: expected finite values`);
  return BigInt(Math.trunc(v));
}

/** A fresh typed array of `dtype` holding `source`'s values converted (not its bits reinterpreted). */
function convertValues<D extends DType>(source: ArrayLike<number | bigint>, dtype: D): DTypeArrays[D] {
  const n = source.length;
  const number = (i: number): number => Number(source[i]!);
  let out: TensorData;
  switch (dtype) {
    case 'int64':
      out = BigInt64Array.from(source, toInt64);
      break;
    case 'float16':
      out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = floatToHalf(number(i));
      break;
    case 'bfloat16':
      out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = floatToBfloat16(number(i));
      break;
    case 'bool':
      out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = number(i) !== 0 ? 1 : 0;
      break;
    default: {
      const Ctor = arrayTypes[dtype] as unknown as {
        new (n: number | ArrayLike<number>): Exclude<TensorData, BigInt64Array>;
      };
      if (ArrayBuffer.isView(source) && !(source instanceof BigInt64Array) && !(source instanceof BigUint64Array)) {
        out = new Ctor(source as ArrayLike<number>);
        break;
      }
      out = new Ctor(n);
      // Typed-array stores do the rest: truncation and wrapping for integers, rounding for floats.
      for (let i = 0; i < n; i++) out[i] = number(i);
    }
  }
  return out as DTypeArrays[D];
}

function inferDType(data: unknown): DType {
  if (Array.isArray(data) && data.length > 0 && data.every((v) => typeof v === 'bigint')) return 'int64';
  if (data instanceof Float32Array || Array.isArray(data)) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint16Array) throw new DTypeError('Tensor.from: a Uint16Array is ambiguous; pass dtype "float16" or "bfloat16"');
  throw invalidArgument('a typed array or an array of numbers', 'data', Object.prototype.toString.call(data));
}
