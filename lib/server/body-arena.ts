/**
 * A first-fit allocator over one SharedArrayBuffer: the registered memory request bodies are read into
 * (see body-pool.ts). Blocks are exact sizes rounded up to {@link arenaAlignment} bytes, carved from the
 * lowest free range that holds them, and merged with their free neighbours when they come back, so mixed
 * sizes (JSON, one image, a batch of images) share the arena without size classes holding memory apart.
 *
 * Why first fit: live blocks are few (one per request whose body is in use, a few hundred at most), so a
 * sorted list of free ranges is short and each operation is a short scan; taking the lowest range keeps
 * the touched pages at the bottom of the arena, so its resident memory follows the peak load. Pure logic
 * over offsets: the bytes themselves are views the pool makes.
 * @module
 */

/** Blocks start and end on this boundary: whole cache lines, and wide vector loads never straddle a block. */
export const arenaAlignment = 64;

/** A free range `[offset, offset + bytes)`. */
interface FreeRange {
  offset: number;
  bytes: number;
}

/** Offsets of blocks in an arena of a fixed size; see the module's notes. */
export class ArenaAllocator {
  /** The arena's size in bytes (a multiple of {@link arenaAlignment}). */
  readonly capacity: number;
  /** Free ranges, by offset, none adjacent to another (they are merged). */
  readonly #free: FreeRange[];
  /** Sizes of the blocks handed out, by offset. */
  readonly #used = new Map<number, number>();
  #usedBytes = 0;

  /** An arena of `capacity` bytes, rounded down to the alignment. */
  constructor(capacity: number) {
    this.capacity = Math.max(0, Math.floor(capacity / arenaAlignment) * arenaAlignment);
    this.#free = this.capacity > 0 ? [{ offset: 0, bytes: this.capacity }] : [];
  }

  /** The offset of a new block of at least `bytes` (at least 1), or null when no free range holds it. */
  allocate(bytes: number): number | null {
    const size = Math.max(arenaAlignment, Math.ceil(bytes / arenaAlignment) * arenaAlignment);
    for (let i = 0; i < this.#free.length; i++) {
      const range = this.#free[i]!;
      if (range.bytes < size) continue;
      const offset = range.offset;
      if (range.bytes === size) this.#free.splice(i, 1);
      else {
        range.offset += size;
        range.bytes -= size;
      }
      this.#used.set(offset, size);
      this.#usedBytes += size;
      return offset;
    }
    return null;
  }

  /**
   * Returns the block at `offset` and merges it with free neighbours.
   * @throws Error for an offset that is not a block handed out (a double free is a bug of the caller).
   */
  free(offset: number): void {
    const size = this.#used.get(offset);
    if (size === undefined) throw new Error(`ArenaAllocator.free: no block at offset ${offset}`);
    this.#used.delete(offset);
    this.#usedBytes -= size;
    // The first free range after the block; the one before it (if any) is at index - 1.
    let index = 0;
    while (index < this.#free.length && this.#free[index]!.offset < offset) index++;
    const before = this.#free[index - 1];
    const after = this.#free[index];
    const joinsBefore = before !== undefined && before.offset + before.bytes === offset;
    const joinsAfter = after !== undefined && offset + size === after.offset;
    if (joinsBefore && joinsAfter) {
      before.bytes += size + after.bytes;
      this.#free.splice(index, 1);
    } else if (joinsBefore) {
      before.bytes += size;
    } else if (joinsAfter) {
      after.offset = offset;
      after.bytes += size;
    } else {
      this.#free.splice(index, 0, { offset, bytes: size });
    }
  }

  /** Bytes in blocks handed out now (alignment included). */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Blocks handed out now. */
  get blocks(): number {
    return this.#used.size;
  }

  /** The free ranges, by offset (for tests and diagnostics). */
  freeRanges(): { offset: number; bytes: number }[] {
    return this.#free.map((range) => ({ ...range }));
  }
}
