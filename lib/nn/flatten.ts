/**
 * `Flatten`: every per-sample dimension into one (`nn.Flatten()` with its defaults), for heads built
 * with `Sequential`.
 * @module
 */
import { Module } from './module.js';
import type { TraceValue, Tracer } from './trace.js';

/** `torch.flatten(x, 1)` as a module, `nn.Flatten()`. */
export class Flatten extends Module {
  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.flatten(x);
  }

  override extraRepr(): string {
    return 'start_dim=1, end_dim=-1';
  }
}
