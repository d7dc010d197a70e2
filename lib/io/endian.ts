/**
 * Little-endian byte views of typed arrays. File formats (safetensors, ONNX `raw_data`) store
 * little-endian data; on the rare big-endian host the bytes are swapped, elsewhere nothing is copied.
 * @module
 * @internal
 */
import { endianness } from 'node:os';

const hostIsLittleEndian = endianness() === 'LE';

/** Reverses each `size`-byte element of `bytes` in place when the host is big-endian (file ↔ host order). */
export function swapToHostOrder(bytes: Uint8Array, size: number): void {
  if (hostIsLittleEndian || size === 1) return;
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

/** The little-endian bytes of a typed array: a view on little-endian hosts, a swapped copy otherwise. */
export function littleEndianBytes(data: ArrayBufferView & { BYTES_PER_ELEMENT: number }): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (hostIsLittleEndian) return view;
  const copy = view.slice();
  swapToHostOrder(copy, data.BYTES_PER_ELEMENT);
  return copy;
}
