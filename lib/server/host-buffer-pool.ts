/**
 * Per-request buffers of model input that the GPU image decoder writes and the engine then reads in place:
 * host memory lent to runs (pinned on a GPU: `allocateHostMemory`), which is costly to allocate (page-locking,
 * tens of microseconds to milliseconds) and so is reused. A request of `n` images leases a buffer of the
 * smallest size class that holds them (powers of two, in images) and gives it back once nothing reads or
 * writes it any more: for a request's input, once the model run that reads it has settled, never earlier.
 * Buffers given back are kept for the next request of their class while the pool holds at most
 * `maxRetainedBytes` of them; past that a returned buffer is dropped (freed when collected).
 * @module
 * @internal
 */
import { invalidArgument } from '../errors.js';

/** A leased buffer: `bytes` is its first `samples × sampleBytes` bytes. */
export interface HostBufferLease {
  readonly bytes: Uint8Array;
  /** Gives the buffer back to the pool. Call once nothing reads or writes it; later calls do nothing. */
  release(): void;
}

/** Options of {@link HostBufferPool}. */
export interface HostBufferPoolOptions {
  /** Bytes of one sample (one image's pixels). */
  readonly sampleBytes: number;
  /** Bytes of idle buffers the pool may keep. */
  readonly maxRetainedBytes: number;
  /** Allocates `bytes` of host memory (pinned for the model's device, in the server). */
  readonly allocate: (bytes: number) => ArrayBuffer;
}

/** The size class of `samples`: the smallest power of two that holds them. */
export function sizeClassOf(samples: number): number {
  return 2 ** Math.ceil(Math.log2(samples));
}

/** Buffers by size class; see the module's notes. */
export class HostBufferPool {
  readonly #sampleBytes: number;
  readonly #maxRetainedBytes: number;
  readonly #allocate: (bytes: number) => ArrayBuffer;
  /** Idle buffers by size class (in samples). */
  readonly #idle = new Map<number, ArrayBuffer[]>();
  #retainedBytes = 0;
  #allocations = 0;
  #leased = 0;
  #closed = false;

  constructor(options: HostBufferPoolOptions) {
    const { sampleBytes, maxRetainedBytes } = options;
    if (!Number.isSafeInteger(sampleBytes) || sampleBytes < 1) throw invalidArgument('a positive integer', 'sampleBytes', sampleBytes);
    if (!Number.isSafeInteger(maxRetainedBytes) || maxRetainedBytes < 0) throw invalidArgument('an integer ≥ 0', 'maxRetainedBytes', maxRetainedBytes);
    this.#sampleBytes = sampleBytes;
    this.#maxRetainedBytes = maxRetainedBytes;
    this.#allocate = options.allocate;
  }

  /** A buffer for `samples` samples: an idle one of its size class, else a new one. */
  acquire(samples: number): HostBufferLease {
    if (!Number.isSafeInteger(samples) || samples < 1) throw invalidArgument('a positive integer', 'samples', samples);
    const capacity = sizeClassOf(samples);
    const idle = this.#idle.get(capacity);
    let buffer = idle?.pop();
    if (buffer !== undefined) {
      this.#retainedBytes -= buffer.byteLength;
    } else {
      buffer = this.#allocate(capacity * this.#sampleBytes);
      this.#allocations++;
    }
    this.#leased++;
    const leased = buffer;
    let released = false;
    return {
      bytes: new Uint8Array(leased, 0, samples * this.#sampleBytes),
      release: () => {
        if (released) return;
        released = true;
        this.#leased--;
        this.#giveBack(capacity, leased);
      },
    };
  }

  /** Bytes of idle buffers kept now. */
  get retainedBytes(): number {
    return this.#retainedBytes;
  }

  /** Buffers allocated so far (reused ones count once). */
  get allocations(): number {
    return this.#allocations;
  }

  /** Buffers leased and not yet released. */
  get leased(): number {
    return this.#leased;
  }

  /**
   * Drops every idle buffer (freed when collected) and keeps none from now on: leased ones are dropped when
   * released. Acquiring still works (for requests already under way), without reuse.
   */
  close(): void {
    this.#closed = true;
    this.#idle.clear();
    this.#retainedBytes = 0;
  }

  #giveBack(capacity: number, buffer: ArrayBuffer): void {
    if (this.#closed || this.#retainedBytes + buffer.byteLength > this.#maxRetainedBytes) return;
    const idle = this.#idle.get(capacity) ?? [];
    idle.push(buffer);
    this.#idle.set(capacity, idle);
    this.#retainedBytes += buffer.byteLength;
  }
}
