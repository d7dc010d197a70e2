/**
 * Post-training static quantization: `quantize(model, { calibration })` calibrates a float model and
 * returns a copy that runs its convolutions in 8-bit integers (dtype `'int8'`, on the CPU).
 * @module
 */
import { invalidArgument } from '../errors.js';
import type { Module } from '../nn/module.js';
import { checkBoolean, checkNumber, checkOptions } from '../nn/options.js';
import {
  calibrationMethods, type CalibrationMethod, type ModelQuantization, type QuantizedDType, type ValueQuantization,
} from '../nn/quantization.js';
import type { ConvOp, Graph } from '../compile/graph.js';
import { observe, type CalibrationData } from './calibrate.js';
import { thresholdOf } from './observer.js';

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  /**
   * The calibration images, as the model receives them (float32, normalised, `[N, C, H, W]` or NHWC
   * tensors of one image size): a tensor, an array of tensors, or an (async) iterable of them, read once.
   * A few hundred representative images are enough (torchvision calibrates on 1024).
   */
  calibration: CalibrationData;
  /**
   * How activation ranges are chosen (see `observer.ts`): `'minmax'` (the largest |x|), `'percentile'`
   * (the {@link QuantizeOptions.percentile} of |x|) or `'entropy'` (TensorRT's KL-divergence calibration).
   * Default `'minmax'`, as onnxruntime's `quantize_static`: with per-channel weights and the float stem it kept
   * all four CIFAR-10 checkpoints within 2 of float32's 500 answers, where `entropy` was 3 off on one and
   * `percentile` 3 off on two (README, "INT8 post-training quantization").
   */
  method?: CalibrationMethod;
  /** One weight scale per output channel (default true), or one per conv. */
  perChannel?: boolean;
  /** For `'percentile'`: the percentage of |x| kept unclipped, above 0 and at most 100; default 99.999. */
  percentile?: number;
  /**
   * Quantize the model's input too, so that the stem conv runs in integers (default false: the input stays
   * float32 and the stem conv with it). An int8 step of a normalised input (≈ 2.6/127) is coarser than a
   * pixel's own (1/255 / std ≈ 0.017): measured on the CIFAR-10 checkpoints it costs up to 3 of 500
   * answers, while the float stem costs about a millisecond per 224×224 image here.
   */
  quantizeInput?: boolean;
  /** Stops calibrating (between runs) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The quantization of a value whose magnitudes stay under `threshold`: `'uint8'` after a ReLU, `'int8'` otherwise. */
export function valueQuantization(threshold: number, dtype: QuantizedDType): ValueQuantization {
  const steps = dtype === 'uint8' ? 255 : 127;
  // A value never seen away from 0 gets any positive scale (all its q are 0); onnxruntime takes 1.
  const scale = threshold > 0 && Number.isFinite(threshold) ? Math.fround(threshold / steps) : 1;
  return Object.freeze({ scale: scale > 0 ? scale : 1, dtype });
}

/**
 * The scales of a conv's (BatchNorm-folded) weight: max |w| / 127 per output channel, or with `perChannel`
 * false the largest over the whole conv, repeated. An all-zero channel gets scale 1.
 */
export function weightScalesOf(conv: Pick<ConvOp, 'weight' | 'outChannels'>, perChannel: boolean): Float32Array {
  const perOut = conv.weight.length / conv.outChannels;
  const maxima = new Float64Array(conv.outChannels);
  for (let o = 0; o < conv.outChannels; o++) {
    let m = 0;
    for (let i = o * perOut; i < (o + 1) * perOut; i++) m = Math.max(m, Math.abs(conv.weight[i]!));
    maxima[o] = m;
  }
  if (!perChannel) maxima.fill(Math.max(0, ...maxima));
  return Float32Array.from(maxima, (m) => (m > 0 ? Math.fround(m / 127) || 1 : 1));
}

/**
 * Which conv paths write values that are never negative, so uint8 holds them at twice int8's resolution:
 * a conv with a fused ReLU, or one whose source is never negative and whose (folded) weights, bias and
 * residual are not either (CIFAR's option-A shortcut, a 0/1 embedding of a ReLU output). Decided from the
 * graph's structure, never from what calibration happened to see. A conv called twice must be so in both.
 */
export function nonNegativeConvs(graph: Graph, convPaths: ReadonlyMap<ConvOp, string>): Map<string, boolean> {
  const nonNegativeValue = new Array<boolean>(graph.values.length).fill(false);
  const byPath = new Map<string, boolean>();
  for (const op of graph.ops) {
    if (op.op === 'maxpool') nonNegativeValue[op.dst] = nonNegativeValue[op.src]!;
    else if (op.op === 'relu') nonNegativeValue[op.dst] = true;
    else if (op.op === 'add') nonNegativeValue[op.dst] = op.relu || (nonNegativeValue[op.a]! && nonNegativeValue[op.b]!);
    else if (op.op === 'conv') {
      const never =
        op.relu ||
        (nonNegativeValue[op.src]! && op.weight.every((w: number) => w >= 0) && op.bias.every((b: number) => b >= 0) && (op.residual < 0 || nonNegativeValue[op.residual]!));
      nonNegativeValue[op.dst] = never;
      const path = convPaths.get(op);
      if (path !== undefined) byPath.set(path, (byPath.get(path) ?? true) && never);
    }
  }
  return byPath;
}

/**
 * Calibrates `model` on `options.calibration` and returns a copy of it that runs its convolutions in 8-bit
 * integers: s8 weights per output channel (BatchNorm folded first), u8 activations after a ReLU and s8
 * elsewhere (the input included), residual adds and ReLUs fused into the convs as the float graph fuses
 * them. The copy (see `Module.clone`) is placed on the CPU at dtype `'int8'` and carries the scales in
 * {@link Module.quantization}; `copy.to('float32')` runs its float weights again. `model` is not changed.
 *
 * Calibration runs the float model on the CPU through the same lowering as a forward, observing every
 * conv's output after fusion. Save the result with `saveQuantized` and load it back with `loadQuantized`.
 * @example
 * ```ts
 * import { ResNet50_Weights, preprocess, quantize, readImage, resnet50, saveQuantized } from 'resnet-cudnn';
 * const weights = ResNet50_Weights.DEFAULT;
 * const model = await resnet50({ weights });
 * const images = await Promise.all(['a.jpg', 'b.jpg'].map((file) => readImage(file)));
 * const calibration = preprocess(images, weights.transforms());
 * const q = await quantize(model, { calibration });
 * const logits = await q.forward(calibration);   // int8 convolutions on the CPU
 * await saveQuantized('resnet50-int8.safetensors', q);
 * ```
 * @throws (rejects with) InvalidArgumentError for bad options or an empty calibration; DTypeError and
 *   ShapeError for calibration batches that are not float32 `[N, C, H, W]` of one size; `signal.reason`
 *   when aborted; RangeError when the float model produces NaN or infinity.
 */
export async function quantize<M extends Module>(model: M, options: QuantizeOptions): Promise<M> {
  if (typeof (model as Partial<Module> | null)?.clone !== 'function') throw invalidArgument('a Module (resnet50(), …)', 'model', model);
  const opts = checkOptions(options, ['calibration', 'method', 'perChannel', 'percentile', 'quantizeInput', 'signal'], 'quantize');
  if (opts.calibration === undefined) throw invalidArgument('calibration images (a Tensor or an iterable of them)', 'options.calibration', undefined);
  const method = opts.method ?? 'minmax';
  if (!calibrationMethods.includes(method)) throw invalidArgument(`one of ${calibrationMethods.map((m) => `'${m}'`).join(', ')}`, 'options.method', method);
  const perChannel = opts.perChannel === undefined ? true : checkBoolean(opts.perChannel, 'perChannel');
  const quantizeInput = opts.quantizeInput === undefined ? false : checkBoolean(opts.quantizeInput, 'quantizeInput');
  const percentile = opts.percentile === undefined ? 99.999 : checkNumber(opts.percentile, 'percentile', 0);
  if (percentile <= 0 || percentile > 100) throw invalidArgument('a percentage above 0 and at most 100', 'options.percentile', percentile);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalidArgument('an AbortSignal', 'options.signal', opts.signal);

  const observations = await observe(model, opts.calibration, method !== 'minmax', opts.signal);
  const activations = new Map<string, ValueQuantization>();
  const nonNegative = nonNegativeConvs(observations.graph, observations.convPaths);
  for (const [path, { observed }] of observations.activations) {
    const dtype: QuantizedDType = nonNegative.get(path) ? 'uint8' : 'int8';
    activations.set(path, valueQuantization(thresholdOf(method, observed, dtype === 'uint8' ? 256 : 128, percentile), dtype));
  }
  const weightScales = new Map<string, Float32Array>();
  for (const [op, path] of observations.convPaths) if (!weightScales.has(path)) weightScales.set(path, weightScalesOf(op, perChannel));
  const quantization: ModelQuantization = Object.freeze({
    method,
    perChannel,
    input: quantizeInput ? valueQuantization(thresholdOf(method, observations.input, 128, percentile), 'int8') : null,
    activations,
    weightScales,
  });
  const quantized = model.clone();
  quantized.quantization = quantization;
  quantized.to({ device: 'cpu', dtype: 'int8' });
  return quantized;
}
