/**
 * `BatchNorm2d` in evaluation mode: `y = (x - running_mean) / √(running_var + eps) · weight + bias`,
 * per channel. Lowering folds it into the convolution before it.
 * @module
 */
import { UnsupportedError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { Module } from './module.js';
import { checkBoolean, checkInt, checkNumber, checkOptions } from './options.js';
import { pyFloat } from './repr.js';
import type { TraceValue, Tracer } from './trace.js';

/** Options of {@link BatchNorm2d} (PyTorch's keyword arguments, camelCase). */
export interface BatchNorm2dOptions {
  /** Added to the variance for numerical stability (default 1e-5). */
  eps?: number;
  /** Only kept for the printed form and state portability: inference never updates running statistics (default 0.1). */
  momentum?: number | null;
  /** Must be true (the default): inference applies the learned scale and shift. */
  affine?: boolean;
  /** Must be true (the default): inference normalises with the running statistics. */
  trackRunningStats?: boolean;
}

const batchNormOptionNames = ['eps', 'momentum', 'affine', 'trackRunningStats'] as const;

/** Batch normalisation over `[N, C, H, W]`, `nn.BatchNorm2d`, always in eval mode. */
export class BatchNorm2d extends Module {
  /** Channels normalised. */
  readonly numFeatures: number;
  /** Added to the running variance before the square root. */
  readonly eps: number;
  /** PyTorch's running-average factor; unused at inference, kept for the printed form. */
  readonly momentum: number | null;
  /** Scale γ, `[numFeatures]`, initialised to 1. */
  readonly weight: Tensor<'float32'>;
  /** Shift β, `[numFeatures]`, initialised to 0. */
  readonly bias: Tensor<'float32'>;
  /** `[numFeatures]`, state-dict name `running_mean`, initialised to 0. */
  readonly runningMean: Tensor<'float32'>;
  /** `[numFeatures]`, state-dict name `running_var`, initialised to 1. */
  readonly runningVar: Tensor<'float32'>;
  /** int64 scalar, state-dict name `num_batches_tracked`; kept only so state dicts round-trip. */
  readonly numBatchesTracked: Tensor<'int64'>;

  constructor(numFeatures: number, options?: BatchNorm2dOptions) {
    super();
    const opts = checkOptions(options, batchNormOptionNames, 'BatchNorm2d');
    this.numFeatures = checkInt(numFeatures, 'numFeatures');
    this.eps = checkNumber(opts.eps ?? 1e-5, 'eps', 0);
    this.momentum = opts.momentum === null ? null : checkNumber(opts.momentum ?? 0.1, 'momentum', 0);
    if (!checkBoolean(opts.affine ?? true, 'affine')) {
      throw new UnsupportedError('BatchNorm2d: affine: false is not supported; inference needs the learned weight and bias (a model without them can load weight 1 and bias 0)');
    }
    if (!checkBoolean(opts.trackRunningStats ?? true, 'trackRunningStats')) {
      throw new UnsupportedError('BatchNorm2d: trackRunningStats: false is not supported; inference normalises with the running mean and variance');
    }
    this.weight = this.registerParameter('weight', Tensor.zeros([numFeatures]));
    this.bias = this.registerParameter('bias', Tensor.zeros([numFeatures]));
    this.runningMean = this.registerBuffer('running_mean', Tensor.zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', Tensor.zeros([numFeatures]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', Tensor.zeros([], 'int64'));
    this.weight.data.fill(1);
    this.runningVar.data.fill(1);
  }

  /** State dicts saved before PyTorch 0.4.1 lack `num_batches_tracked`; PyTorch loads them, and so do we. */
  protected override isOptionalStateEntry(name: string): boolean {
    return name === 'num_batches_tracked';
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.batchNorm2d(this, x);
  }

  override extraRepr(): string {
    const momentum = this.momentum === null ? 'None' : pyFloat(this.momentum);
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${momentum}, affine=True, track_running_stats=True`;
  }
}
