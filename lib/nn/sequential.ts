/**
 * `Sequential`: children named '0', '1', … called in order (the state-dict keys `downsample.0.weight`,
 * `layer1.1.conv1.weight` come from these names).
 * @module
 */
import { invalidArgument } from '../errors.js';
import { Module } from './module.js';
import type { TraceValue, Tracer } from './trace.js';

/** A chain of modules, `nn.Sequential`. */
export class Sequential<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[];

  constructor(...modules: M[]) {
    super();
    this.items = modules;
    modules.forEach((m, i) => this.registerModule(String(i), m));
  }

  /** Number of modules in the chain. */
  get length(): number {
    return this.items.length;
  }

  /** The module at `index` (negative counts from the end, as in PyTorch and `Array.prototype.at`). */
  at(index: number): M {
    if (!Number.isSafeInteger(index) || index < -this.items.length || index >= this.items.length) {
      throw invalidArgument(`an integer index from ${-this.items.length} to ${this.items.length - 1}`, 'index', index);
    }
    return this.items.at(index)!;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    let y = x;
    for (const m of this.items) y = t.call(m, y);
    return y;
  }
}
