/**
 * The compile cache: one lowered graph per (module, weights version, per-sample input shape) and one
 * compiled executable per (that, batch size, backend options). Entries hold promises, so concurrent
 * first calls share one compilation. Changing weights (a new `version`) drops the module's entries.
 * @module
 */

/** A small LRU map of promises whose evicted values are handed to `onEvict` once they settle. */
export class PromiseLru<V> {
  private readonly entries = new Map<string, Promise<V>>();
  constructor(
    private readonly capacity: number,
    private readonly onEvict: (value: V) => void,
  ) {}

  /** Returns the cached promise for `key` or creates it; a rejected creation is not kept. */
  get(key: string, create: () => Promise<V>): Promise<V> {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry;
    }
    entry = create();
    this.entries.set(key, entry);
    entry.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    while (this.entries.size > this.capacity) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Promise<V>];
      this.entries.delete(oldestKey);
      oldest.then(this.onEvict, () => undefined);
    }
    return entry;
  }

  /** True when `key` has an entry (settled or still being created). */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Drops every entry (their values go to `onEvict`). */
  clear(): void {
    for (const entry of this.entries.values()) entry.then(this.onEvict, () => undefined);
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
