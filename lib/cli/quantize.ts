/**
 * `resnet quantize`: post-training static quantization from the command line. Loads a float model's
 * weights, calibrates it on the user's images with `quantize()`, and writes the quantized safetensors
 * file (`saveQuantized`: the float state dict plus the scales) that `eval-cifar10`, `export`, `bench` and
 * `serve` read with `--weights`.
 * @module
 */
import { extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError } from '../errors.js';
import {
  cifarResNetNormalization, getModelWeights, quantize, saveQuantized, type CalibrationMethod, type Module,
} from '../index.js';
import { readCalibration, type CalibrationInput, type CalibrationTransforms } from './calibration-input.js';
import { loadWeightsFile, stateDictFormatOf } from './convert.js';
import { normalizedSlice, readCifar10Data } from './cifar-data.js';
import { buildNamedModel, checkModelName, type ModelFamily } from './model-names.js';
import { startProgress } from './progress.js';

/** Options of {@link runQuantize}. */
export interface QuantizeCommandOptions {
  /** A torchvision ImageNet ResNet or a CIFAR-10 one. */
  model: string;
  /** The float weights: `.safetensors` or a PyTorch checkpoint (a CIFAR checkpoint's `module.` prefix is stripped). */
  weights: string;
  /** A directory of images, an image, a CIFAR-10 `.bin` file or a `.safetensors` tensor (see calibration-input.ts). */
  calibration: string;
  /** The quantized `.safetensors` file to write. */
  out: string;
  /** Default `quantize()`'s (`'minmax'`). */
  method?: CalibrationMethod;
  /** One weight scale per conv instead of one per output channel. */
  perTensor?: boolean;
  /** Quantize the input too, so that the stem conv runs in integers (default: both stay float). */
  quantizeInput?: boolean;
  /** At most this many calibration images (the first ones); default 256. */
  calibrationImages?: number;
  /** Images per calibration run; default 32. */
  batch?: number;
}

/** What {@link runQuantize} did. */
export interface QuantizeReport {
  model: string;
  weights: string;
  out: string;
  /** Where the calibration images came from ("the first 256 images of …"). */
  calibration: string;
  images: number;
  method: CalibrationMethod;
  perChannel: boolean;
  /** The input's scale, or null when the input and the stem conv stay float. */
  inputScale: number | null;
  seconds: number;
  /** How many convolutions run in integers (each has weight and output scales in the file). */
  quantizedConvs: number;
  /** Each conv's output scale and 8-bit type, by module path, as written to the file. */
  outputs: Record<string, { scale: number; dtype: string }>;
}

/** The strip the CLI applies to a model family's checkpoints: upstream's CIFAR ones were saved from DataParallel. */
export function checkpointPrefix(family: ModelFamily): string | undefined {
  return family === 'cifar10' ? 'module.' : undefined;
}

/**
 * How an image file becomes the input of `model`: the DEFAULT weights' transforms for a torchvision
 * network, a 32×32 resize with the CIFAR normalisation for a CIFAR one.
 */
function transformsOf(model: string, family: ModelFamily): CalibrationTransforms {
  if (family === 'imagenet') {
    const { resizeSize, cropSize, interpolation, mean, std } = getModelWeights(model).DEFAULT.transforms();
    return { resizeSize, cropSize, interpolation, mean, std };
  }
  const { mean, std } = cifarResNetNormalization;
  return { resizeSize: 32, cropSize: 32, interpolation: 'bilinear', mean: [...mean], std: [...std] };
}

/**
 * The calibration input of `model` read from `path` (see calibration-input.ts): a CIFAR-10 `.bin` file
 * is taken by the CIFAR networks, normalised as `eval-cifar10` normalises.
 */
export function modelCalibration(model: string, path: string, limit: number, batch: number): Promise<CalibrationInput> {
  const family = checkModelName(model);
  return readCalibration(path, {
    limit,
    batch,
    transforms: transformsOf(model, family),
    ...(family === 'cifar10' ? { cifar: { read: readCifar10Data, normalize: normalizedSlice } } : {}),
  });
}

/**
 * Calibrates `model` on `input` with a progress line on stderr; resolves to the quantized copy and the
 * seconds it took.
 * @throws InvalidArgumentError when the input holds no image.
 */
export async function calibrate<M extends Module>(
  model: M,
  input: CalibrationInput,
  options: { method?: CalibrationMethod | undefined; perChannel: boolean; quantizeInput?: boolean | undefined; label: string },
): Promise<{ quantized: M; seconds: number }> {
  if (input.images === 0) throw new InvalidArgumentError(`The calibration input (${input.description}) holds no image: give a few hundred typical inputs`);
  const progress = startProgress(input.images, `${options.label}: calibrating on ${input.description}`);
  let seen = 0;
  const counted = (async function* () {
    for await (const batch of input.batches) {
      yield batch;
      seen += batch.shape[0]!;
      progress.update(seen);
    }
  })();
  const started = performance.now();
  try {
    const quantized = await quantize(model, {
      calibration: counted,
      perChannel: options.perChannel,
      ...(options.method === undefined ? {} : { method: options.method }),
      ...(options.quantizeInput === undefined ? {} : { quantizeInput: options.quantizeInput }),
    });
    return { quantized, seconds: (performance.now() - started) / 1000 };
  } finally {
    progress.stop();
  }
}

/**
 * Checks the command line before any file is read: the model, the weights' and the output's extensions.
 * @throws InvalidArgumentError naming what to pass instead.
 */
export function checkQuantizeOptions(options: QuantizeCommandOptions): void {
  checkModelName(options.model);
  stateDictFormatOf(options.weights, '--weights');
  if (extname(options.out).toLowerCase() !== '.safetensors') {
    throw new InvalidArgumentError(`--out ${JSON.stringify(options.out)} must be a .safetensors file: the quantized weights are written as safetensors with their scales`);
  }
}

/** Loads the float weights, calibrates, quantizes and writes `options.out`; resolves to what it did. */
export async function runQuantize(options: QuantizeCommandOptions): Promise<QuantizeReport> {
  checkQuantizeOptions(options);
  const family = checkModelName(options.model);
  const perChannel = !options.perTensor;
  // The calibration input first: opening it is cheap, and a wrong path should not wait for a large checkpoint.
  const input = await modelCalibration(options.model, options.calibration, options.calibrationImages ?? 256, options.batch ?? 32);
  const model = buildNamedModel(options.model);
  await loadWeightsFile(model, options.model, options.weights, checkpointPrefix(family));
  // A quantized file's own scales are replaced: calibration starts from its float weights.
  model.quantization = null;
  const { quantized, seconds } = await calibrate(model, input, { method: options.method, perChannel, quantizeInput: options.quantizeInput, label: options.model });
  await saveQuantized(options.out, quantized);
  const quantization = quantized.quantization!;
  const outputs: QuantizeReport['outputs'] = {};
  for (const [path, { scale, dtype }] of quantization.activations) outputs[path] = { scale, dtype };
  return {
    model: options.model,
    weights: options.weights,
    out: options.out,
    calibration: input.description,
    images: input.images,
    method: quantization.method,
    perChannel,
    inputScale: quantization.input?.scale ?? null,
    seconds,
    quantizedConvs: quantization.weightScales.size,
    outputs,
  };
}

/** A few lines: what was calibrated on, how, how long, and what was written. */
export function formatQuantizeReport(report: QuantizeReport): string {
  return [
    `${report.model}: calibrated on ${report.calibration} (${report.method}, ${report.perChannel ? 'per-channel' : 'per-tensor'} weight scales) in ${report.seconds.toFixed(1)} s`,
    `wrote ${report.out}: ${report.quantizedConvs} int8 convolutions${report.inputScale === null ? ' (the input and the stem conv stay float)' : ` (the input too, scale ${report.inputScale})`}, their scales beside the float weights of ${report.weights}`,
  ].join('\n');
}
