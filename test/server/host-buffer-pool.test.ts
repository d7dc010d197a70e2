// The pool of per-request pixel buffers the GPU image decoder writes and the engine reads in place
// (lib/server/host-buffer-pool.ts): size classes by image count, reuse only after release, the retained bytes
// bounded, and real engine memory (allocateHostMemory) behind it.
import { describe, expect, it } from 'vitest';
import { allocateHostMemory } from '../../lib/runtime/host-memory.js';
import { loadNative } from '../../lib/runtime/native.js';
import { HostBufferPool, sizeClassOf } from '../../lib/server/host-buffer-pool.js';

/** A pool over plain ArrayBuffers that records every allocation's size. */
function recordingPool(sampleBytes: number, maxRetainedBytes: number): { pool: HostBufferPool; allocated: number[] } {
  const allocated: number[] = [];
  const pool = new HostBufferPool({
    sampleBytes, maxRetainedBytes, allocate: (bytes) => {
      allocated.push(bytes);
      return new ArrayBuffer(bytes);
    },
  });
  return { pool, allocated };
}

describe('HostBufferPool', () => {
  it('rounds a request up to its size class: the next power of two, in samples', () => {
    expect([1, 2, 3, 4, 5, 8, 9, 63, 64, 65].map(sizeClassOf)).toEqual([1, 2, 4, 4, 8, 8, 16, 64, 64, 128]);
    const { pool, allocated } = recordingPool(10, 1 << 20);
    const lease = pool.acquire(5);
    expect(lease.bytes.byteLength).toBe(50);
    expect(lease.bytes.byteOffset).toBe(0);
    expect(lease.bytes.buffer.byteLength).toBe(80);
    expect(allocated).toEqual([80]);
  });

  it('hands a buffer out again only after it was released, to a request of the same class', () => {
    const { pool, allocated } = recordingPool(10, 1 << 20);
    const first = pool.acquire(3);
    const second = pool.acquire(4); // same class, first still leased: a buffer of its own
    expect(second.bytes.buffer).not.toBe(first.bytes.buffer);
    expect(pool.leased).toBe(2);
    first.release();
    expect(pool.leased).toBe(1);
    expect(pool.retainedBytes).toBe(40);
    const other = pool.acquire(8); // another class: not the released one
    expect(other.bytes.buffer).not.toBe(first.bytes.buffer);
    const again = pool.acquire(4);
    expect(again.bytes.buffer).toBe(first.bytes.buffer);
    expect(pool.retainedBytes).toBe(0);
    expect(allocated).toEqual([40, 40, 80]);
    expect(pool.allocations).toBe(3);
  });

  it('gives back a buffer once however often release is called', () => {
    const { pool } = recordingPool(10, 1 << 20);
    const lease = pool.acquire(2);
    lease.release();
    lease.release();
    expect(pool.leased).toBe(0);
    expect(pool.retainedBytes).toBe(20);
    const a = pool.acquire(2);
    const b = pool.acquire(2);
    expect(a.bytes.buffer).toBe(lease.bytes.buffer);
    expect(b.bytes.buffer).not.toBe(lease.bytes.buffer); // a double release did not put it in the pool twice
  });

  it('keeps at most maxRetainedBytes of idle buffers, dropping what comes back past it', () => {
    const { pool } = recordingPool(100, 1000);
    const leases = [pool.acquire(4), pool.acquire(4), pool.acquire(4)]; // 400 bytes each
    for (const lease of leases) lease.release();
    expect(pool.retainedBytes).toBe(800);
    expect(pool.acquire(4).bytes.buffer).toBe(leases[1]!.bytes.buffer); // the last kept, first reused
    expect(pool.acquire(4).bytes.buffer).toBe(leases[0]!.bytes.buffer);
    expect(pool.acquire(4).bytes.buffer).not.toBe(leases[2]!.bytes.buffer);
  });

  it('keeps nothing once closed; leases still work and are dropped when released', () => {
    const { pool, allocated } = recordingPool(10, 1 << 20);
    const held = pool.acquire(1);
    pool.acquire(1).release();
    expect(pool.retainedBytes).toBe(10);
    pool.close();
    expect(pool.retainedBytes).toBe(0);
    held.release();
    expect(pool.retainedBytes).toBe(0);
    pool.acquire(1);
    expect(allocated).toEqual([10, 10, 10]);
  });

  it('refuses sizes that are not positive integers', () => {
    const { pool } = recordingPool(10, 0);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => pool.acquire(bad)).toThrow(/Expected a positive integer for samples/);
    expect(() => new HostBufferPool({ sampleBytes: 0, maxRetainedBytes: 0, allocate: () => new ArrayBuffer(1) })).toThrow(/sampleBytes/);
  });

  it('leases engine memory that runs read in place (registered while the pool holds it)', () => {
    const native = loadNative();
    const before = native.hostMemoryRanges();
    const pool = new HostBufferPool({ sampleBytes: 3 * 32 * 32, maxRetainedBytes: 1 << 20, allocate: (bytes) => allocateHostMemory(bytes, { backend: 'cpu' }) });
    const lease = pool.acquire(3);
    expect(native.hostMemoryRanges()).toBe(before + 1);
    expect(lease.bytes.byteLength).toBe(3 * 3 * 32 * 32);
    lease.release();
    expect(pool.acquire(4).bytes.buffer).toBe(lease.bytes.buffer);
  });
});
