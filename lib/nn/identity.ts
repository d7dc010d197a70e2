/**
 * `Identity`: returns its input, `nn.Identity()`. The usual way to drop a layer while keeping the
 * structure: `model.fc = new Identity()` makes a ResNet return its pooled features.
 * @module
 */
import { Module } from './module.js';
import type { TraceValue, Tracer } from './trace.js';

/** Passes the input through unchanged, `nn.Identity`. */
export class Identity extends Module {
  override trace(_t: Tracer, x: TraceValue): TraceValue {
    return x;
  }
}
