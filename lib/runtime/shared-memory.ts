/**
 * POSIX shared memory mapped into this process: a byte range of an object that another process created
 * (`shm_open` + `ftruncate`), read and written in place. The server's system shared-memory extension maps
 * each region a client registers with {@link mapSharedMemory}.
 *
 * The mapping is MAP_SHARED and read-write: what the other process writes is what {@link
 * SharedMemoryMapping.bytes} reads, and the other way round. {@link SharedMemoryMapping.close} detaches
 * the memory from JavaScript before unmapping it, so a view kept past `close` reads as empty instead of
 * touching unmapped memory. The object must not shrink while it is mapped: a process that truncates it
 * makes any access past the new end fatal (SIGBUS), so users of a long-lived mapping check
 * {@link SharedMemoryMapping.objectSize} before each use.
 * @module
 */
import { DisposedError, UnsupportedError, fromNative, invalidArgument } from '../errors.js';
import { loadNative, type NativeSharedMemoryMapping } from './native.js';

/** Which bytes of the object to map. */
export interface SharedMemoryRange {
  /** Byte offset into the object where the range starts; default 0. */
  offset?: number;
  /** Bytes to map, at least 1; `offset + byteSize` must not exceed the object's size. */
  byteSize: number;
}

/** A mapped byte range of a shared-memory object. Made by {@link mapSharedMemory}. */
export class SharedMemoryMapping implements Disposable {
  /** The object's POSIX name (`/my_region`). */
  readonly key: string;
  /** Where the range starts in the object. */
  readonly offset: number;
  /** Bytes in the range. */
  readonly byteSize: number;
  #native: NativeSharedMemoryMapping | null;
  #bytes: Uint8Array | null;

  /** @internal Created by {@link mapSharedMemory}. */
  constructor(native: NativeSharedMemoryMapping, key: string, offset: number) {
    this.#native = native;
    this.key = key;
    this.offset = offset;
    this.byteSize = native.byteLength;
    // The ArrayBuffer starts at the page that holds `offset`, so alignment in it is alignment in memory.
    this.#bytes = new Uint8Array(native.buffer!, native.byteOffset, native.byteLength);
  }

  /** The range's bytes, in place (no copy). DisposedError after {@link SharedMemoryMapping.close}. */
  get bytes(): Uint8Array {
    if (this.#bytes === null) throw new DisposedError(`the mapping of shared memory object ${JSON.stringify(this.key)} was closed`);
    return this.#bytes;
  }

  /** Whether {@link SharedMemoryMapping.close} has run. */
  get closed(): boolean {
    return this.#native === null;
  }

  /**
   * The object's size now, in bytes (another process may have resized it since it was mapped).
   * @throws DisposedError after {@link SharedMemoryMapping.close}.
   */
  objectSize(): number {
    if (this.#native === null) throw new DisposedError(`the mapping of shared memory object ${JSON.stringify(this.key)} was closed`);
    try {
      return this.#native.objectSize();
    } catch (error) {
      throw fromNative(error);
    }
  }

  /**
   * Detaches every view of the memory (they read as empty from now on), then unmaps it and closes the
   * object. Idempotent. Without it the memory is unmapped once the mapping and its views are collected.
   */
  close(): void {
    this.#native?.close();
    this.#native = null;
    this.#bytes = null;
  }

  /** `using mapping = mapSharedMemory(…)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function checkByteCount(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(min === 0 ? 'a non-negative integer' : `an integer ≥ ${min}`, name, value);
  }
  return value;
}

/**
 * Maps `[offset, offset + byteSize)` of the POSIX shared-memory object `key`, read-write. The object is
 * never created: the other process makes it first.
 * @param key - the object's POSIX name: `/` then up to 254 bytes with no other `/` (`/my_region`).
 * @throws InvalidArgumentError for a malformed key or range, an object that does not exist, cannot be
 * opened for reading and writing, or is smaller than `offset + byteSize`; OutOfMemoryError when the
 * address space has no room; NativeLoadError when the addon is missing.
 */
export function mapSharedMemory(key: string, range: SharedMemoryRange): SharedMemoryMapping {
  if (typeof key !== 'string') throw invalidArgument('a POSIX shared-memory name ("/my_region")', 'key', key);
  if (typeof range !== 'object' || range === null) throw invalidArgument('{ offset?, byteSize }', 'range', range);
  const offset = checkByteCount(range.offset ?? 0, 'offset', 0);
  const byteSize = checkByteCount(range.byteSize, 'byteSize', 1);
  const addon = loadNative();
  if (typeof addon.NativeSharedMemoryMapping !== 'function') {
    throw new UnsupportedError('this build of the native addon cannot map shared memory (it predates it): rebuild it with npm run build:native');
  }
  let native: NativeSharedMemoryMapping;
  try {
    native = new addon.NativeSharedMemoryMapping(key, offset, byteSize);
  } catch (error) {
    throw fromNative(error);
  }
  return new SharedMemoryMapping(native, key, offset);
}
