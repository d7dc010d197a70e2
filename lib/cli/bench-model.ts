/**
 * The model `resnet bench` times as ours: its weights (random, seeded, or a file) and placement, and at
 * `int8` its scales (a quantized file's, or `quantize()` on a few random inputs like the timed ones).
 * @module
 */
import { Tensor, manualSeed } from '../index.js';
import { UnsupportedError } from '../errors.js';
import type { ModelQuantization } from '../nn/quantization.js';
import { quantize } from '../quantization/quantize.js';
import { randomInput } from './bench-input.js';
import type { BenchOptions } from './bench.js';
import { loadWeightsFile } from './convert.js';
import { buildNamedModel, checkModelName } from './model-names.js';
import { checkpointPrefix } from './quantize.js';

/** How many random inputs calibrate our int8 model when no quantized weights file is given. */
export const int8CalibrationImages = 8;

/**
 * Our model, placed: random weights (seeded) or `options.weights`; at int8 quantized with `quantize()` on
 * {@link int8CalibrationImages} random inputs of the bench (`randomInput` seeded as the fixed input, so
 * it comes first) unless the weights file is quantized. `scales` says where an int8 model's scales came from.
 */
export async function benchModel(options: BenchOptions, family: ReturnType<typeof checkModelName>, sample: readonly number[]): Promise<{ model: ReturnType<typeof buildNamedModel>; scales?: string }> {
  const placement = { device: options.device ?? 'cpu', dtype: options.dtype ?? 'float32' };
  manualSeed(0);
  let model = buildNamedModel(options.model);
  if (options.weights !== undefined) await loadWeightsFile(model, options.model, options.weights, checkpointPrefix(family));
  let scales: string | undefined;
  if (placement.dtype === 'int8') {
    if (model.quantization) {
      scales = `the scales of ${options.weights} (${model.quantization.method})`;
    } else {
      const images = int8CalibrationImages;
      const length = sample.reduce((a, b) => a * b, 1);
      const calibration = Tensor.from(randomInput(images * length, options.batches[0]!), [images, ...sample]);
      model = await quantize(model, { calibration });
      scales = `quantize() (${model.quantization!.method}, per-channel, float stem) on ${images} random inputs like the timed ones (-1..1, the fixed input first)${options.weights === undefined ? '' : ` with the float weights of ${options.weights}`}`;
    }
  } else {
    // A quantized file's scales would make the onnxruntime export QDQ: the float dtypes compare float models.
    model.quantization = null;
  }
  model.to(placement);
  return scales === undefined ? { model } : { model, scales };
}

/** Why our model cannot run (int8 without a quantization, or a backend that refuses), or undefined when it can. */
export async function whyOursCannotRun(model: ReturnType<typeof buildNamedModel>, sample: readonly number[]): Promise<string | undefined> {
  if (model.dtype !== 'int8') return undefined;
  if ((model as { quantization?: ModelQuantization | null }).quantization == null) {
    return 'int8 runs a quantized model: quantize() it with calibration data, or pass a quantized --weights file (resnet quantize)';
  }
  try {
    await model.forward(Tensor.from(new Float32Array(sample.reduce((a, b) => a * b, 1)), [1, ...sample]));
    return undefined;
  } catch (error) {
    if (error instanceof UnsupportedError || (error as { code?: string }).code === 'ERR_UNSUPPORTED') return (error as Error).message;
    throw error;
  }
}
