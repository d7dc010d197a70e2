/**
 * Tensor payloads of the Open Inference Protocol (protocol §7–§9): JSON `data` (flat or nested), FP32
 * outputs as little-endian bytes, BYTES elements (base64 strings in JSON, 4-byte little-endian length +
 * bytes in binary), and shapes (image inputs are read by image-tensor.ts). Pure functions; every client mistake is a `badRequest` whose
 * message names the tensor (`what`, e.g. `input 'input'`).
 * @module
 */
import { endianness } from 'node:os';
import { badRequest } from './http-error.js';
import { describeValue } from '../describe-value.js';

/** The tensors' bytes are little-endian on the wire; the engine reads them as the host's. */
export const littleEndianHost = endianness() === 'LE';

/** Bytes of the length prefix of one binary BYTES element (protocol §8). */
const bytesLengthPrefix = 4;

/** Shapes longer than this are shown abbreviated in messages, so a hostile shape cannot bloat an error. */
const shownDims = 8;

/** `[1,3,32,32]`, as Triton prints shapes; long or odd shapes abbreviated. */
export function formatShape(shape: readonly unknown[]): string {
  const dims = shape.slice(0, shownDims).map((dim) => (typeof dim === 'number' ? String(dim) : describeValue(dim, 16)));
  return `[${dims.join(',')}${shape.length > shownDims ? `,… (${shape.length} dims)` : ''}]`;
}

/** A shape dimension the protocol allows: a non-negative safe integer. */
export function isDimension(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Elements of a shape whose dimensions are {@link isDimension} (`[]`: a scalar, one element). */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

/**
 * The elements of a JSON `data` array in row-major order. `data` is either flat (exactly
 * `elementCount(shape)` scalars) or nested exactly as `shape` (every level an array of the dimension's
 * length, scalars only at the innermost level); anything ragged or mixed is a 400. The walk follows
 * `shape`, so its depth is bounded by the shape's rank whatever the client nested.
 */
export function flattenJsonData(data: unknown, shape: readonly number[], what: string): unknown[] {
  if (!Array.isArray(data)) throw badRequest(`'data' of ${what} must be an array, got ${describeValue(data)}`);
  const count = elementCount(shape);
  const nested = shape.length > 1 && data.length > 0 && Array.isArray(data[0]);
  if (!nested) {
    if (data.length !== count) {
      throw badRequest(`${what} has ${data.length} elements in 'data' but its shape ${formatShape(shape)} needs ${count}`);
    }
    return data;
  }
  const flat: unknown[] = [];
  const walk = (level: unknown, depth: number, path: string): void => {
    const expected = shape[depth] as number;
    if (!Array.isArray(level) || level.length !== expected) {
      const got = Array.isArray(level) ? `${level.length} elements` : describeValue(level);
      throw badRequest(`nested 'data' of ${what} does not match its shape ${formatShape(shape)}: expected ${expected} elements at data${path}, got ${got}`);
    }
    if (depth === shape.length - 1) {
      for (let i = 0; i < level.length; i++) {
        if (Array.isArray(level[i])) throw badRequest(`nested 'data' of ${what} is deeper than its shape ${formatShape(shape)} at data${path}[${i}]`);
        flat.push(level[i]);
      }
      return;
    }
    for (let i = 0; i < level.length; i++) walk(level[i], depth + 1, `${path}[${i}]`);
  };
  walk(data, 0, '');
  return flat;
}

/** FP32 values as little-endian bytes (a copy). */
export function float32ToBinary(values: Float32Array): Buffer {
  const bytes = Buffer.from(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  if (!littleEndianHost) bytes.swap32();
  return bytes;
}

/**
 * Writes `values` as little-endian FP32 at the start of `into` (at least `values.byteLength` bytes, any
 * alignment) and returns the bytes written.
 */
export function float32IntoBytes(values: Float32Array, into: Uint8Array): number {
  if (littleEndianHost) {
    into.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  } else {
    const view = new DataView(into.buffer, into.byteOffset, into.byteLength);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  }
  return values.byteLength;
}

/**
 * BYTES elements from a binary chunk: `count` times a 4-byte little-endian length then that many bytes,
 * filling the chunk exactly. The elements are views on the chunk, not copies.
 */
export function bytesFromBinary(chunk: Buffer, count: number, what: string): Buffer[] {
  const elements: Buffer[] = [];
  let offset = 0;
  while (offset < chunk.length) {
    if (elements.length === count) {
      throw badRequest(`binary data of ${what} has ${chunk.length - offset} bytes after its ${count} BYTES elements`);
    }
    if (chunk.length - offset < bytesLengthPrefix) {
      throw badRequest(`binary data of ${what} ends inside the 4-byte length of BYTES element ${elements.length}`);
    }
    const length = chunk.readUInt32LE(offset);
    offset += bytesLengthPrefix;
    if (length > chunk.length - offset) {
      throw badRequest(`BYTES element ${elements.length} of ${what} declares ${length} bytes but only ${chunk.length - offset} remain in its binary_data_size`);
    }
    elements.push(chunk.subarray(offset, offset + length));
    offset += length;
  }
  if (elements.length !== count) {
    throw badRequest(`binary data of ${what} holds ${elements.length} BYTES elements but its shape needs ${count}`);
  }
  return elements;
}

/** BYTES elements in binary form: each a 4-byte little-endian length then its bytes. */
export function bytesToBinary(elements: readonly (Buffer | string)[]): Buffer {
  const buffers = elements.map((element) => (typeof element === 'string' ? Buffer.from(element, 'utf8') : element));
  const total = buffers.reduce((sum, buffer) => sum + bytesLengthPrefix + buffer.length, 0);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const buffer of buffers) {
    out.writeUInt32LE(buffer.length, offset);
    offset += bytesLengthPrefix;
    offset += buffer.copy(out, offset);
  }
  return out;
}

/** BYTES elements from JSON: each a strict base64 string (RFC 4648 §4, padded, no whitespace). */
export function bytesFromJson(elements: readonly unknown[], what: string): Buffer[] {
  return elements.map((element, i) => {
    if (typeof element !== 'string') throw badRequest(`element ${i} of ${what} must be a base64 string (BYTES), got ${describeValue(element)}`);
    const decoded = decodeBase64Strict(element);
    if (decoded === null) throw badRequest(`element ${i} of ${what} is not valid base64: ${describeValue(element)}`);
    return decoded;
  });
}

const base64Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const nonBase64Character = /[^A-Za-z0-9+/]/;

/**
 * The bytes of a canonical base64 string, or null. Node's own decoder skips any character it does not
 * know, so it would turn garbage into bytes; this accepts only the standard alphabet, `=` padding to a
 * multiple of four, and zero unused bits in the last character (so each byte string has one spelling).
 */
export function decodeBase64Strict(text: string): Buffer | null {
  if (text.length % 4 !== 0) return null;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const body = text.slice(0, text.length - padding);
  // A character-class test, not an anchored repetition: linear on multi-megabyte images, no backtracking.
  if (nonBase64Character.test(body)) return null;
  if (padding > 0) {
    const lastValue = base64Alphabet.indexOf(body[body.length - 1] as string);
    const unusedBits = padding === 2 ? 0b1111 : 0b11;
    if ((lastValue & unusedBits) !== 0) return null;
  }
  return Buffer.from(text, 'base64');
}
