/**
 * The graph handed to the native engine: a flat list of fused ops over numbered values, with the
 * weights they own. This is the one contract between TypeScript and every backend; the native side
 * validates it on entry (`native/src/graph.h` mirrors these types field by field).
 *
 * Conventions:
 * - Shapes are per sample (`[C, H, W]` or `[F]`); the batch size is given when compiling.
 * - Every float array is float32, row-major; conv weights are OIHW (`[O, I/groups, kH, kW]`),
 *   linear weights `[O, I]`, as in PyTorch.
 * - Value 0..n-1 are indexed by `values`; `input` and `outputs` name the graph's input and outputs.
 *   The input arrives as NCHW float32; outputs leave as plain row-major float32 (NCHW or [N, F]).
 * - Ops come in execution order; each op writes exactly one new value.
 *
 * Quantized graphs (compiled with precision `'int8'`; any other precision ignores the fields below):
 * - A value with `quant` is held as 8-bit integers q with `real = quant.scale · q` (symmetric, zero point 0;
 *   q ∈ [0, 255] for `'uint8'`, [−128, 127] for `'int8'`). Writing it rounds half to even and saturates.
 * - A conv with `weightScales` whose `src` and `dst` (and `residual`, when it has one) are quantized runs in
 *   integers: its `weight` is already on the grid (`weight[o,…] = weightScales[o] · q`, q ∈ [−127, 127]),
 *   `acc = Σ q_src · q_w` in int32, then `y = acc · src.scale · weightScales[o] + bias[o] (+ residual's real
 *   value)`, ReLU, and y is written as `dst` is quantized.
 * - A maxpool keeps its source's quantization: its dst carries the same `quant` (or none).
 * - An op that reads a quantized value and does not run in integers reads its real value; a quantized
 *   value written by such an op (the graph input included) is quantized after it. Outputs leave as float32.
 * @module
 */

/** 2-D integer pair `[height, width]`. */
export type Pair = readonly [number, number];

import type { ValueQuantization } from '../nn/quantization.js';

export type { QuantizedDType, ValueQuantization } from '../nn/quantization.js';

/**
 * Convolution with its bias, optionally followed by the residual add (`dst = conv(src) + bias +
 * values[residual]`) and then ReLU. BatchNorm has already been folded into `weight` and `bias`.
 */
export interface ConvOp {
  readonly op: 'conv';
  readonly src: number;
  readonly dst: number;
  /** Value added after the bias, or -1. */
  readonly residual: number;
  readonly relu: boolean;
  readonly outChannels: number;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly groups: number;
  /** OIHW, length outChannels * (inChannels / groups) * kH * kW. */
  readonly weight: Float32Array;
  /** Length outChannels (zeros when the conv had no bias and no BatchNorm). */
  readonly bias: Float32Array;
  /**
   * Quantized graphs: the scale of each output channel's weights (length outChannels, positive), with
   * `weight` already rounded to `weightScales[o] · q`, q ∈ [−127, 127].
   */
  readonly weightScales?: Float32Array;
}

/** Max pooling with PyTorch's semantics (implicit -inf padding, `ceilMode`). */
export interface MaxPoolOp {
  readonly op: 'maxpool';
  readonly src: number;
  readonly dst: number;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly ceilMode: boolean;
}

/**
 * Adaptive average pooling to the dst value's spatial size, PyTorch's windows:
 * start = floor(i * in / out), end = ceil((i + 1) * in / out).
 */
export interface AdaptiveAvgPoolOp {
  readonly op: 'adaptive_avgpool';
  readonly src: number;
  readonly dst: number;
}

/** `dst = src_flat · weightᵀ + bias`, with src flattened per sample in C, H, W order. */
export interface LinearOp {
  readonly op: 'linear';
  readonly src: number;
  readonly dst: number;
  readonly outFeatures: number;
  /** `[outFeatures, inFeatures]` row-major. */
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** Elementwise ReLU (only where it could not be fused into a conv). */
export interface ReluOp {
  readonly op: 'relu';
  readonly src: number;
  readonly dst: number;
}

/** Elementwise `a + b`, optionally followed by ReLU (only where it could not be fused into a conv). */
export interface AddOp {
  readonly op: 'add';
  readonly a: number;
  readonly b: number;
  readonly dst: number;
  readonly relu: boolean;
}

/** `torch.flatten(x, 1)`: the same numbers, per sample in C, H, W order, as a `[F]` value. */
export interface FlattenOp {
  readonly op: 'flatten';
  readonly src: number;
  readonly dst: number;
}

/** Any op of a {@link Graph}. */
export type GraphOp = ConvOp | MaxPoolOp | AdaptiveAvgPoolOp | LinearOp | ReluOp | AddOp | FlattenOp;

/** A lowered, fused network ready for `Engine.compile`. */
export interface Graph {
  /** Per-sample shape of every value, by id. */
  readonly values: ReadonlyArray<{ readonly shape: readonly number[]; readonly quant?: ValueQuantization }>;
  readonly input: number;
  /** Values returned by a run, in this order (usually one: the logits). */
  readonly outputs: readonly number[];
  readonly ops: readonly GraphOp[];
}
