/**
 * The native shared-memory mapping (native/src/shared_memory_region.*, js_shared_memory.*): key and range
 * validation before anything is opened, errors for objects that are missing, too small or not regular
 * files, the in-page offset of a range that does not start on a page, reads and writes that reach the
 * object itself, and close() detaching every view before it unmaps. On Linux a POSIX shared-memory object
 * `/name` is the file `/dev/shm/name`: the tests make and inspect objects with plain file I/O.
 */
import { existsSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DisposedError, InvalidArgumentError } from '../../lib/errors.js';
import { loadNative } from '../../lib/runtime/native.js';
import { mapSharedMemory } from '../../lib/runtime/shared-memory.js';

const shmDir = '/dev/shm';
const hasShm = process.platform === 'linux' && existsSync(shmDir);
const prefix = `resnet-cudnn-mapping-${process.pid}`;
const made: string[] = [];

/** Creates the object `/<prefix>-<name>` holding `bytes`; returns its key. */
function makeObject(name: string, bytes: Uint8Array): string {
  const file = `${prefix}-${name}`;
  writeFileSync(`${shmDir}/${file}`, bytes, { mode: 0o600 });
  made.push(`${shmDir}/${file}`);
  return `/${file}`;
}

/** `n` bytes counting 0, 1, 2, … (mod 251, so no page repeats another's pattern). */
function counting(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i % 251);
}

/** The error the native constructor throws for these arguments (bypassing the TypeScript checks). */
function nativeError(...args: unknown[]): { code: string; message: string } {
  const addon = loadNative();
  try {
    new (addon.NativeSharedMemoryMapping as unknown as new (...a: unknown[]) => unknown)(...args);
  } catch (error) {
    const { code, message } = error as { code: string; message: string };
    return { code, message };
  }
  throw new Error(`no error for ${JSON.stringify(args)}`);
}

afterAll(() => {
  for (const file of made) rmSync(file, { force: true, recursive: true });
});

describe.skipIf(!hasShm)('native shared-memory mapping (skipped: needs Linux with /dev/shm)', () => {
  it('refuses malformed keys before opening anything', () => {
    const cases: [string, RegExp][] = [
      ['a', /must start with '\/'/],
      ['', /must start with '\/'/],
      ['/a/b', /no '\/' after the first/],
      ['/../x', /no '\/' after the first/],
      [`/${'x'.repeat(299)}`, /is 300 bytes; .* at most 255/],
      ['/', /names no shared memory object/],
      ['/..', /names no shared memory object/],
      ['/a\0b', /contains a NUL byte/],
    ];
    for (const [key, message] of cases) {
      const error = nativeError(key, 0, 16);
      expect(error.code, key).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message, key).toMatch(message);
    }
    // 255 bytes is the limit itself: well-formed, so the error is that no such object exists.
    expect(nativeError(`/${'y'.repeat(254)}`, 0, 16).message).toMatch(/no shared memory object/);
  });

  it('refuses offsets and sizes that are not non-negative integers, and empty ranges', () => {
    const key = makeObject('sizes', counting(64));
    for (const [offset, byteSize, message] of [
      [-1, 8, /non-negative integer for offset but received -1/],
      [1.5, 8, /non-negative integer for offset but received 1.5/],
      [Number.NaN, 8, /for offset but received nan/i],
      ['0', 8, /for offset but received a string/],
      [0, -8, /for byteSize but received -8/],
      [0, 2 ** 53, /for byteSize but received 9007199254740992/],
      [0, 0, /byte_size .* is 0/],
    ] as const) {
      const error = nativeError(key, offset, byteSize);
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(message);
    }
    expect(nativeError(42, 0, 8).message).toMatch(/Expected a string/);
  });

  it('says what to do when the object is missing, too small, a link or not a file', () => {
    expect(nativeError(`/${prefix}-missing`, 0, 8)).toEqual({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/no shared memory object .*: the client creates it \(shm_open with O_CREAT/),
    });
    const key = makeObject('small', counting(100));
    expect(nativeError(key, 0, 101).message).toMatch(/has 100 bytes but the region \[0, 101\) ends past it: enlarge the object/);
    expect(nativeError(key, 100, 1).message).toMatch(/\[100, 101\) ends past it/);
    // The largest offsets a JS number carries: their sum is compared without wrapping around.
    expect(nativeError(key, 2 ** 53 - 1, 2 ** 53 - 1).message).toMatch(/\[9007199254740991, 18014398509481982\) ends past it/);

    const link = `${prefix}-link`;
    symlinkSync(`${shmDir}/${key.slice(1)}`, `${shmDir}/${link}`);
    made.push(`${shmDir}/${link}`);
    expect(nativeError(`/${link}`, 0, 8).message).toMatch(/symbolic link/);

    const directory = `${prefix}-directory`;
    mkdirSync(`${shmDir}/${directory}`);
    made.push(`${shmDir}/${directory}`);
    expect(nativeError(`/${directory}`, 0, 8).code).toBe('ERR_INVALID_ARGUMENT');
  });

  it('maps a range that starts inside a page, in place: reads and writes reach the object', () => {
    const pattern = counting(3 * 4096);
    const key = makeObject('pages', pattern);
    using mapping = mapSharedMemory(key, { offset: 4096 + 100, byteSize: 5000 });
    expect(mapping.bytes.length).toBe(5000);
    // The ArrayBuffer starts at the page that holds the offset; the range is 100 bytes into it.
    expect(mapping.bytes.byteOffset).toBe(100);
    expect([...mapping.bytes]).toEqual([...pattern.subarray(4196, 9196)]);

    mapping.bytes.set([7, 8, 9], 10);
    const file = readFileSync(`${shmDir}/${key.slice(1)}`);
    expect([...file.subarray(4206, 4209)]).toEqual([7, 8, 9]);
    // Bytes outside the range, on the same page, are untouched.
    expect(file[4195]).toBe(pattern[4195]);

    writeFileSync(`${shmDir}/${key.slice(1)}`, Buffer.alloc(3 * 4096, 0xab));
    expect(mapping.bytes[0]).toBe(0xab);
    expect(mapping.objectSize()).toBe(3 * 4096);
  });

  it('close() detaches every view before unmapping; later use is a DisposedError', () => {
    const key = makeObject('close', counting(4096));
    const mapping = mapSharedMemory(key, { byteSize: 4096 });
    const view = mapping.bytes;
    const floats = new Float32Array(view.buffer, view.byteOffset, 1024);
    expect(floats.length).toBe(1024);
    mapping.close();
    expect(view.length).toBe(0);
    expect(floats.length).toBe(0);
    expect(view[0]).toBeUndefined();
    expect(mapping.closed).toBe(true);
    expect(() => mapping.bytes).toThrow(DisposedError);
    expect(() => mapping.objectSize()).toThrow(DisposedError);
    mapping.close();  // idempotent
    // The object itself is the client's: closing leaves it as it was.
    expect([...readFileSync(`${shmDir}/${key.slice(1)}`).subarray(0, 4)]).toEqual([0, 1, 2, 3]);
  });

  it('reports a shrunken object through objectSize', () => {
    const key = makeObject('shrink', counting(8192));
    using mapping = mapSharedMemory(key, { byteSize: 8192 });
    truncateSync(`${shmDir}/${key.slice(1)}`, 1000);
    expect(mapping.objectSize()).toBe(1000);
  });

  it('checks its TypeScript arguments with typed errors', () => {
    expect(() => mapSharedMemory(7 as unknown as string, { byteSize: 1 })).toThrow(InvalidArgumentError);
    expect(() => mapSharedMemory('/x', { byteSize: 0 })).toThrow(/byteSize/);
    expect(() => mapSharedMemory('/x', { offset: -1, byteSize: 1 })).toThrow(/offset/);
    expect(() => mapSharedMemory('a', { byteSize: 1 })).toThrow(InvalidArgumentError);
  });
});
