/**
 * `Sequential`: children named '0', '1', … called in order (the state-dict keys `downsample.0.weight`,
 * `layer1.1.conv1.weight` come from these names). `seq[1] = block` replaces a child, as in PyTorch.
 * @module
 */
import { invalidArgument } from '../errors.js';
import { Module } from './module.js';
import type { TraceValue, Tracer } from './trace.js';

/** A chain of modules, `nn.Sequential`. */
export class Sequential<M extends Module = Module> extends Module implements Iterable<M> {
  /** The children by index, as registered (`seq[0] = conv` replaces the first, as PyTorch's `__setitem__`). */
  [index: number]: M;
  private readonly count: number;

  /** The modules in call order; of several classes (`new Sequential(conv, bn, relu)`) the chain holds `Module`s. */
  constructor(...modules: M[]);
  constructor(...modules: Module[]);
  constructor(...modules: M[]) {
    super();
    modules.forEach((m, i) => this.registerModule(String(i), m));
    this.count = modules.length;
  }

  /** Number of modules in the chain. */
  get length(): number {
    return this.count;
  }

  /** The module at `index` (negative counts from the end, as in PyTorch and `Array.prototype.at`). */
  at(index: number): M {
    if (!Number.isSafeInteger(index) || index < -this.count || index >= this.count) {
      throw invalidArgument(`an integer index from ${-this.count} to ${this.count - 1}`, 'index', index);
    }
    return this[index < 0 ? this.count + index : index]!;
  }

  /** The modules in order; a slot set to null is skipped. */
  *[Symbol.iterator](): Iterator<M> {
    for (let i = 0; i < this.count; i++) {
      const m = this[i];
      if (m) yield m;
    }
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    let y = x;
    for (let i = 0; i < this.count; i++) y = t.call(this[i] ?? null, y);
    return y;
  }
}
