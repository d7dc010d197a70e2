/**
 * `Linear`: `y = x·Wᵀ + b`, weight `[out, in]`.
 * @module
 */
import { resolveGenerator } from '../random.js';
import type { Generator } from '../random.js';
import { Tensor } from '../tensor.js';
import { kaimingUniform_, uniform_ } from './init.js';
import { Module } from './module.js';
import { checkBoolean, checkInt, checkOptions } from './options.js';
import { pyBool } from './repr.js';
import type { TraceValue, Tracer } from './trace.js';

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Add a learnable bias (default true). */
  bias?: boolean;
  /** Random source of the initial weights (default: the process-wide generator). */
  generator?: Generator;
}

/** Fully connected layer, `nn.Linear`. */
export class Linear extends Module {
  /** Features of each input row. */
  readonly inFeatures: number;
  /** Features of each output row. */
  readonly outFeatures: number;
  /** `[outFeatures, inFeatures]`. */
  readonly weight: Tensor<'float32'>;
  /** `[outFeatures]`, or null when built with `bias: false`. */
  readonly bias: Tensor<'float32'> | null;

  /** Initialised as PyTorch: weight kaiming_uniform(a=√5), i.e. U(-1/√in, 1/√in); bias U(-1/√in, 1/√in). */
  constructor(inFeatures: number, outFeatures: number, options?: LinearOptions) {
    super();
    const opts = checkOptions(options, ['bias', 'generator'], 'Linear');
    this.inFeatures = checkInt(inFeatures, 'inFeatures');
    this.outFeatures = checkInt(outFeatures, 'outFeatures');
    const hasBias = checkBoolean(opts.bias ?? true, 'bias');
    const generator = resolveGenerator(opts.generator);
    this.weight = this.registerParameter('weight', Tensor.zeros([outFeatures, inFeatures]));
    this.bias = hasBias ? this.registerParameter('bias', Tensor.zeros([outFeatures])) : null;
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias) {
      const bound = 1 / Math.sqrt(inFeatures);
      uniform_(this.bias, -bound, bound, generator);
    }
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.linear(this, x);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}
