/**
 * `Conv2d`: PyTorch's 2-D convolution (zero padding), weight `[out, in/groups, kH, kW]`.
 * @module
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import { resolveGenerator } from '../random.js';
import type { Generator } from '../random.js';
import { Tensor } from '../tensor.js';
import { calculateFanInAndFanOut, kaimingUniform_, uniform_ } from './init.js';
import { Module } from './module.js';
import { checkBoolean, checkInt, checkOptions, checkPair } from './options.js';
import type { Pair } from './options.js';
import { pyTuple } from './repr.js';
import type { TraceValue, Tracer } from './trace.js';

/** Options of {@link Conv2d} (PyTorch's keyword arguments, camelCase). */
export interface Conv2dOptions {
  /** Default 1. */
  stride?: number | Pair;
  /** Zero padding on each side; default 0. The strings 'same' and 'valid' are not supported. */
  padding?: number | Pair;
  /** Default 1. */
  dilation?: number | Pair;
  /** Default 1; must divide both channel counts. */
  groups?: number;
  /** Add a learnable bias (default true). */
  bias?: boolean;
  /** Random source of the initial weights (default: the process-wide generator). */
  generator?: Generator;
}

const conv2dOptionNames = ['stride', 'padding', 'dilation', 'groups', 'bias', 'generator'] as const;

/** 2-D convolution, `nn.Conv2d`. */
export class Conv2d extends Module {
  /** Channels of the input. */
  readonly inChannels: number;
  /** Channels of the output. */
  readonly outChannels: number;
  /** `[kH, kW]`. */
  readonly kernelSize: Pair;
  /** `[height, width]`. */
  readonly stride: Pair;
  /** Zero padding on each side, `[height, width]`. */
  readonly padding: Pair;
  /** Spacing between kernel taps, `[height, width]`. */
  readonly dilation: Pair;
  /** Input and output channels are split into this many independent groups. */
  readonly groups: number;
  /** `[outChannels, inChannels / groups, kH, kW]`. */
  readonly weight: Tensor<'float32'>;
  /** `[outChannels]`, or null when built with `bias: false`. */
  readonly bias: Tensor<'float32'> | null;

  /** Initialised as PyTorch: weight kaiming_uniform(a=√5), bias U(-1/√fan_in, 1/√fan_in). */
  constructor(inChannels: number, outChannels: number, kernelSize: number | Pair, options?: Conv2dOptions) {
    super();
    const opts = checkOptions(options, conv2dOptionNames, 'Conv2d');
    this.inChannels = checkInt(inChannels, 'inChannels');
    this.outChannels = checkInt(outChannels, 'outChannels');
    this.kernelSize = checkPair(kernelSize, 'kernelSize');
    this.stride = checkPair(opts.stride ?? 1, 'stride');
    if (typeof opts.padding === 'string') {
      throw new UnsupportedError(`Conv2d: padding "${opts.padding}" is not supported; give the padding as a number or a [height, width] pair`);
    }
    this.padding = checkPair(opts.padding ?? 0, 'padding', 0);
    this.dilation = checkPair(opts.dilation ?? 1, 'dilation');
    this.groups = checkInt(opts.groups ?? 1, 'groups');
    if (inChannels % this.groups !== 0) {
      throw new InvalidArgumentError(`Conv2d: inChannels must be divisible by groups (inChannels ${inChannels}, groups ${this.groups})`);
    }
    if (outChannels % this.groups !== 0) {
      throw new InvalidArgumentError(`Conv2d: outChannels must be divisible by groups (outChannels ${outChannels}, groups ${this.groups})`);
    }
    const hasBias = checkBoolean(opts.bias ?? true, 'bias');
    const generator = resolveGenerator(opts.generator);

    this.weight = this.registerParameter(
      'weight',
      Tensor.zeros([outChannels, inChannels / this.groups, this.kernelSize[0], this.kernelSize[1]]),
    );
    this.bias = hasBias ? this.registerParameter('bias', Tensor.zeros([outChannels])) : null;

    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias) {
      const [fanIn] = calculateFanInAndFanOut(this.weight);
      const bound = 1 / Math.sqrt(fanIn);
      uniform_(this.bias, -bound, bound, generator);
    }
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.conv2d(this, x);
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${pyTuple(this.kernelSize)}, stride=${pyTuple(this.stride)}`;
    if (this.padding.some((p) => p !== 0)) s += `, padding=${pyTuple(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${pyTuple(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ', bias=False';
    return s;
  }
}
