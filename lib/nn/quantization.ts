/**
 * What a quantized model carries: the scales of post-training static quantization (see `quantize`),
 * stored with the weights in a quantized safetensors file and read by every consumer the same way: the
 * lowering (a quantized graph, `lib/compile/graph.ts`), ONNX export (QDQ nodes) and the backends.
 *
 * Quantization is symmetric (zero point 0) throughout: `real = scale · q`.
 * - Activations: q ∈ [0, 255] (`uint8`) for values after a ReLU, [−128, 127] (`int8`) otherwise.
 * - Weights: per output channel (or one scale repeated), q ∈ [−127, 127], taken from the conv's weights
 *   with its BatchNorm folded in (the lowering's fold, `lib/compile/lower.ts`).
 * - Biases of integer convs: on the accumulator's grid, `s_x · s_w[o] · q` with q an int32 (the lowering
 *   rounds them), as ONNX's QLinearConv and onnxruntime take them.
 * @module
 */

/** 8-bit storage of a quantized value: `'uint8'` for values that are never negative (after a ReLU). */
export type QuantizedDType = 'uint8' | 'int8';

/** Symmetric 8-bit quantization of a value: `real = scale · q`. */
export interface ValueQuantization {
  /** Positive and finite. */
  readonly scale: number;
  readonly dtype: QuantizedDType;
}

/** How activation ranges were chosen from the calibration data. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

/** Every {@link CalibrationMethod}. */
export const calibrationMethods: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

/** The quantization of a whole model. Keys are conv module paths (`layer1.0.conv1`, `conv1`, `layer2.0.downsample.0`). */
export interface ModelQuantization {
  readonly method: CalibrationMethod;
  /** False when every conv has one weight scale (repeated per channel in `weightScales`). */
  readonly perChannel: boolean;
  /**
   * The model's input (after normalisation), as the first conv reads it; null keeps the input in float32,
   * and with it the convs that read it (the stem), whose output is quantized as usual. `quantize` leaves
   * it null unless asked: 8 bits of a normalised input are coarser than its pixels' own steps.
   */
  readonly input: ValueQuantization | null;
  /**
   * The value each conv writes: after its folded BatchNorm and, where the lowering fuses them, the
   * residual add and the ReLU that follow it (so `layer1.0.conv3` names the block's output).
   */
  readonly activations: ReadonlyMap<string, ValueQuantization>;
  /** Per output channel, the scale of each conv's BatchNorm-folded weight. */
  readonly weightScales: ReadonlyMap<string, Float32Array>;
}

/** Rounds to the nearest integer, ties to even (ONNX QuantizeLinear's and oneDNN's rounding). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Puts a conv weight (OIHW, float32) on its per-channel grids: each element becomes `scale[o] · q` with
 * q = clamp(roundHalfEven(w / scale[o]), −127, 127), in place. The graph and the ONNX export both use this,
 * so every engine sees the same integers.
 */
export function quantizeWeightToGrid(weight: Float32Array, scales: Float32Array): Float32Array {
  const perChannel = weight.length / scales.length;
  if (!Number.isInteger(perChannel)) throw new Error(`quantizeWeightToGrid: ${weight.length} weights for ${scales.length} channels`);
  for (let o = 0; o < scales.length; o++) {
    const s = scales[o]!;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) {
      weight[i] = s * Math.min(127, Math.max(-127, roundHalfEven(weight[i]! / s)));
    }
  }
  return weight;
}
