/**
 * `ReLU`. Lowering fuses it into the convolution (or residual add) before it.
 * @module
 */
import { Module } from './module.js';
import { checkBoolean, checkOptions } from './options.js';
import type { TraceValue, Tracer } from './trace.js';

/** Options of {@link ReLU}. */
export interface ReLUOptions {
  /** Accepted for torchvision parity; every op here writes a fresh value (default false). */
  inplace?: boolean;
}

/** `max(0, x)`, `nn.ReLU`. */
export class ReLU extends Module {
  /** As given; only shown in the printed form. */
  readonly inplace: boolean;

  constructor(options?: ReLUOptions) {
    super();
    const opts = checkOptions(options, ['inplace'], 'ReLU');
    this.inplace = checkBoolean(opts.inplace ?? false, 'inplace');
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.relu(x);
  }

  override extraRepr(): string {
    return this.inplace ? 'inplace=True' : '';
  }
}
