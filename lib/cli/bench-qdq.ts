/**
 * The int8 model onnxruntime runs in `resnet bench --dtype int8 --compare onnxruntime`: the QDQ export
 * (`lib/io/onnx-qdq.ts`) of the model, quantized as ours is (its `quantization`), with every conv and
 * residual add fused into onnxruntime's integer kernels (`preResidual`). The ranges the model's
 * quantization lacks (the residual convs' outputs before their add; all of them when the model has no
 * quantization yet) come from a minmax calibration: the float model of the lowered graph run in
 * onnxruntime on the calibration input, max |x| of each conv output.
 * @module
 */
import type { Module } from '../nn/module.js';
import type { ModelQuantization, ValueQuantization } from '../nn/quantization.js';
import { calibrationOnnxBytes, loweredWithConvPaths } from '../io/onnx-qdq.js';
import { toOnnxBytes } from '../io/onnx.js';
import { resolveOptions } from '../io/onnx-writer.js';

type OrtModule = typeof import('onnxruntime-node');

/** A QDQ model for onnxruntime and the quantization it was written with. */
export interface OrtInt8Model {
  bytes: Uint8Array;
  quantization: ModelQuantization;
  preResidual: ReadonlyMap<string, ValueQuantization>;
  /** True when the activation ranges were calibrated here because the model had no quantization of its own. */
  calibratedHere: boolean;
}

const maxAbs = (data: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]!));
  return m;
};

/** Symmetric scale for a range: 255 steps over [0, max] after a ReLU (uint8), 127 either side otherwise (int8). */
const scaleFor = (max: number, dtype: 'uint8' | 'int8'): ValueQuantization => ({ scale: Math.max(max, 1e-8) / (dtype === 'uint8' ? 255 : 127), dtype });

/**
 * Minmax calibration through onnxruntime on `input` (`[batch, ...sample]`): per-channel weight scales of
 * the BatchNorm-folded weights, the input's and every conv output's range, and each residual conv's output
 * before its add.
 */
export async function calibrateWithOnnxRuntime(
  ort: OrtModule,
  model: Module,
  sample: readonly number[],
  input: Float32Array,
  batch: number,
  threads: number,
): Promise<{ quantization: ModelQuantization; preResidual: Map<string, ValueQuantization> }> {
  const o = resolveOptions({ inputShape: [...sample], dynamicBatch: true });
  const { bytes, outputs } = calibrationOnnxBytes(model, o);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  let results: Record<string, { data: unknown }>;
  try {
    results = await session.run({ [o.inputName]: new ort.Tensor('float32', input, [batch, ...sample]) });
  } finally {
    await session.release();
  }
  const { graph, convPaths } = loweredWithConvPaths(model, sample);
  const convs = graph.ops.filter((op) => op.op === 'conv');
  const activations = new Map<string, ValueQuantization>();
  const weightScales = new Map<string, Float32Array>();
  convs.forEach((conv, k) => {
    const path = convPaths[k]!;
    const perChannel = conv.weight.length / conv.outChannels;
    weightScales.set(path, Float32Array.from({ length: conv.outChannels }, (_, c) => Math.max(maxAbs(conv.weight.subarray(c * perChannel, (c + 1) * perChannel)), 1e-12) / 127));
    activations.set(path, scaleFor(maxAbs(results[outputs.activations.get(path)!]!.data as Float32Array), conv.relu ? 'uint8' : 'int8'));
  });
  const preResidual = new Map<string, ValueQuantization>();
  for (const [path, name] of outputs.preResidual) preResidual.set(path, scaleFor(maxAbs(results[name]!.data as Float32Array), 'int8'));
  return {
    quantization: { method: 'minmax', perChannel: true, input: scaleFor(maxAbs(input), 'int8'), activations, weightScales },
    preResidual,
  };
}

/**
 * The QDQ model onnxruntime runs next to our int8 model. The model's own quantization is used when it has
 * one; only the ranges it lacks are calibrated on `calibration`.
 */
export async function ortInt8Model(
  ort: OrtModule,
  model: Module,
  sample: readonly number[],
  calibration: Float32Array,
  batch: number,
  threads: number,
): Promise<OrtInt8Model> {
  const calibrated = await calibrateWithOnnxRuntime(ort, model, sample, calibration, batch, threads);
  const own = (model as { quantization?: ModelQuantization | null }).quantization ?? undefined;
  const quantization = own ?? calibrated.quantization;
  const bytes = toOnnxBytes(model, { inputShape: [...sample], dynamicBatch: true, quantization, preResidual: calibrated.preResidual });
  return { bytes, quantization, preResidual: calibrated.preResidual, calibratedHere: own === undefined };
}
