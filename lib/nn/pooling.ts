/**
 * Pooling: `MaxPool2d` (the stem's 3×3/2) and `AdaptiveAvgPool2d` (the global average before `fc`).
 * @module
 */
import { invalidArgument } from '../errors.js';
import { Module } from './module.js';
import { checkBoolean, checkInt, checkOptions, checkPair } from './options.js';
import type { Pair } from './options.js';
import { pyBool, pyIntOrTuple } from './repr.js';
import type { TraceValue, Tracer } from './trace.js';

/** Options of {@link MaxPool2d} (PyTorch's keyword arguments, camelCase). */
export interface MaxPool2dOptions {
  /** Default: the kernel size. */
  stride?: number | Pair;
  /** Implicit -∞ padding on each side, at most half the kernel (default 0). */
  padding?: number | Pair;
  /** Default 1. */
  dilation?: number | Pair;
  /** Round the output size up instead of down (default false). */
  ceilMode?: boolean;
}

/** Max pooling, `nn.MaxPool2d`. */
export class MaxPool2d extends Module {
  /** `[kH, kW]`. */
  readonly kernelSize: Pair;
  /** `[height, width]`. */
  readonly stride: Pair;
  /** Implicit -∞ padding on each side, `[height, width]`. */
  readonly padding: Pair;
  /** Spacing between window taps, `[height, width]`. */
  readonly dilation: Pair;
  /** Round the output size up instead of down. */
  readonly ceilMode: boolean;
  /** The arguments as given, for the printed form (PyTorch prints them unnormalised). */
  private readonly given: { kernelSize: number | Pair; stride: number | Pair; padding: number | Pair; dilation: number | Pair };

  constructor(kernelSize: number | Pair, options?: MaxPool2dOptions) {
    super();
    const opts = checkOptions(options, ['stride', 'padding', 'dilation', 'ceilMode'], 'MaxPool2d');
    this.kernelSize = checkPair(kernelSize, 'kernelSize');
    this.stride = checkPair(opts.stride ?? kernelSize, 'stride');
    this.padding = checkPair(opts.padding ?? 0, 'padding', 0);
    this.dilation = checkPair(opts.dilation ?? 1, 'dilation');
    this.ceilMode = checkBoolean(opts.ceilMode ?? false, 'ceilMode');
    this.given = { kernelSize, stride: opts.stride ?? kernelSize, padding: opts.padding ?? 0, dilation: opts.dilation ?? 1 };
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.maxPool2d(this, x);
  }

  override extraRepr(): string {
    const g = this.given;
    return `kernel_size=${pyIntOrTuple(g.kernelSize)}, stride=${pyIntOrTuple(g.stride)}, padding=${pyIntOrTuple(g.padding)}, dilation=${pyIntOrTuple(g.dilation)}, ceil_mode=${pyBool(this.ceilMode)}`;
  }
}

/** A target size: one number for both sides, or `[height, width]` where null keeps the input's size. */
export type AdaptiveSize = number | readonly [number | null, number | null];

/** Adaptive average pooling to a fixed output size, `nn.AdaptiveAvgPool2d`. */
export class AdaptiveAvgPool2d extends Module {
  /** `[height, width]`; null keeps that side of the input. */
  readonly outputSize: readonly [number | null, number | null];
  private readonly given: AdaptiveSize;

  constructor(outputSize: AdaptiveSize) {
    super();
    const side = (v: unknown): number | null => (v === null ? null : checkInt(v, 'outputSize'));
    if (typeof outputSize === 'number') {
      const v = checkInt(outputSize, 'outputSize');
      this.outputSize = [v, v];
    } else if (Array.isArray(outputSize) && outputSize.length === 2) {
      this.outputSize = [side(outputSize[0]), side(outputSize[1])];
    } else {
      throw invalidArgument('a positive integer or a [height, width] pair (null keeps that side)', 'outputSize', outputSize);
    }
    this.given = typeof outputSize === 'number' ? outputSize : [...this.outputSize];
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.adaptiveAvgPool2d(this, x);
  }

  override extraRepr(): string {
    return `output_size=${pyIntOrTuple(this.given)}`;
  }
}
