/**
 * Where request bodies are read into: blocks of a registered arena first, so that the engine reads a
 * tensor sent in a body where it lies (on a GPU by DMA from pinned memory: the body's one copy on the host
 * is the socket's chunks into the block), and beyond the arena SharedArrayBuffer-backed buffers that are
 * not registered (the engine then copies them once into its own staging). Every buffer is shared memory,
 * so an HTTP thread can hand a parsed tensor to the main thread as a view, without a copy.
 *
 * - **Arena.** Set with {@link BodyPool.useArena} once the server knows its device (the memory must be
 *   registered by then, see body-memory.ts); blocks are exact sizes, first fit ({@link ArenaAllocator}).
 * - **Beyond it.** Buffers of power-of-two size classes from 64 KiB, at most `maxRetainedBytes` of them
 *   kept while unused: V8 answers every new multi-hundred-kilobyte buffer with old-space garbage
 *   collections (at 100 images/s, a mark-compact every 130 ms, 15 % of the event loop, measured with
 *   --trace-gc). Smaller bodies get a buffer of their own.
 * - **When memory comes back.** A body is lent to its request (the owner, `request.raw`) with one hold, the
 *   response's ({@link BodyPool.release} when the response closes); whoever hands its bytes on takes
 *   another ({@link BodyPool.retain}: the infer route, until the batcher says the batch that reads them has
 *   finished). The memory is reused only once every hold is released: a client that disconnects while its
 *   batch runs closes its response, but the engine may still be reading its body in place.
 *
 * One pool per thread; nothing here is thread-safe, and nothing needs to be: each thread lends its own
 * arena, and only the holds cross threads (as messages).
 * @module
 */
import { ArenaAllocator } from './body-arena.js';

/** Bodies below this beyond the arena get a buffer of their own: pooling them gains nothing. */
const smallestPooled = 64 * 1024;

/** What a request was lent and who still holds it. */
interface Loan {
  holds: number;
  /** The arena block's offset, or -1 for a buffer beyond the arena. */
  readonly offset: number;
  readonly buffer: SharedArrayBuffer;
  /** The response's hold was released. */
  responseReleased: boolean;
}

/** Counts of a pool, for tests and diagnostics. */
export interface BodyPoolStats {
  /** Bytes of the arena lent now (alignment included). */
  arenaBytesInUse: number;
  /** Arena blocks lent now. */
  arenaBlocks: number;
  /** The arena's size; 0 without one. */
  arenaBytes: number;
  /** Bytes beyond the arena kept for reuse. */
  retainedBytes: number;
}

/** Body buffers lent to requests; see the module's notes. */
export class BodyPool {
  readonly #free = new Map<number, SharedArrayBuffer[]>();
  readonly #loans = new WeakMap<object, Loan>();
  /** Owners whose response closed before they were lent anything: they get memory of their own. */
  readonly #closedOwners = new WeakSet<object>();
  readonly #maxRetainedBytes: number;
  #retainedBytes = 0;
  #arena: SharedArrayBuffer | null = null;
  #allocator: ArenaAllocator | null = null;

  /** @param maxRetainedBytes unused buffers beyond the arena kept for reuse, in bytes. */
  constructor(maxRetainedBytes = 64 * 1024 * 1024) {
    this.#maxRetainedBytes = maxRetainedBytes;
  }

  /** Reads bodies into `arena` from now on (null: none). Blocks lent from an earlier arena still come back to it. */
  useArena(arena: SharedArrayBuffer | null): void {
    this.#arena = arena;
    this.#allocator = arena === null ? null : new ArenaAllocator(arena.byteLength);
  }

  /** A buffer of exactly `bytes` for `owner` (a request), lent with the response's hold; see the module's notes. */
  acquire(owner: object, bytes: number): Buffer {
    if (bytes === 0) return Buffer.alloc(0);
    if (this.#closedOwners.has(owner)) return Buffer.from(new SharedArrayBuffer(bytes));
    const arena = this.#arena;
    const offset = this.#allocator?.allocate(bytes) ?? null;
    if (arena !== null && offset !== null) {
      this.#loans.set(owner, { holds: 1, offset, buffer: arena, responseReleased: false });
      return Buffer.from(arena, offset, bytes);
    }
    if (bytes < smallestPooled) return Buffer.from(new SharedArrayBuffer(bytes));
    const capacity = 2 ** Math.ceil(Math.log2(bytes));
    const reused = this.#free.get(capacity)?.pop();
    if (reused !== undefined) this.#retainedBytes -= capacity;
    const buffer = reused ?? new SharedArrayBuffer(capacity);
    this.#loans.set(owner, { holds: 1, offset: -1, buffer, responseReleased: false });
    return Buffer.from(buffer, 0, bytes);
  }

  /**
   * Another hold on what `owner` was lent, released by calling the function returned (once; later calls do
   * nothing). A no-op function when `owner` holds nothing of the pool.
   */
  retain(owner: object): () => void {
    const loan = this.#loans.get(owner);
    if (loan === undefined) return () => {};
    loan.holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#drop(owner, loan);
    };
  }

  /** The response of `owner` has closed: its hold goes (idempotent). */
  release(owner: object): void {
    const loan = this.#loans.get(owner);
    if (loan === undefined) {
      this.#closedOwners.add(owner);
      return;
    }
    if (loan.responseReleased) return;
    loan.responseReleased = true;
    this.#drop(owner, loan);
  }

  /** Bytes beyond the arena held for reuse now. */
  get retainedBytes(): number {
    return this.#retainedBytes;
  }

  /** Counts of the pool now. */
  stats(): BodyPoolStats {
    return {
      arenaBytesInUse: this.#allocator?.usedBytes ?? 0,
      arenaBlocks: this.#allocator?.blocks ?? 0,
      arenaBytes: this.#allocator?.capacity ?? 0,
      retainedBytes: this.#retainedBytes,
    };
  }

  #drop(owner: object, loan: Loan): void {
    loan.holds--;
    if (loan.holds > 0) return;
    this.#loans.delete(owner);
    if (loan.offset >= 0) {
      // A block of an arena replaced since (useArena) goes with it.
      if (loan.buffer === this.#arena) this.#allocator!.free(loan.offset);
      return;
    }
    const capacity = loan.buffer.byteLength;
    if (this.#retainedBytes + capacity > this.#maxRetainedBytes) return;
    this.#retainedBytes += capacity;
    const list = this.#free.get(capacity);
    if (list === undefined) this.#free.set(capacity, [loan.buffer]);
    else list.push(loan.buffer);
  }
}
