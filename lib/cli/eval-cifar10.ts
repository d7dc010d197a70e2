/**
 * `resnet eval-cifar10`: top-1 accuracy of a CIFAR-10 ResNet checkpoint on a CIFAR-10 binary file, in any
 * compute dtype. With `--dtype int8` the model is quantized first (calibrated on the first images of
 * `--calibration`, default the data file itself) unless `--weights` is a quantized file, and the float
 * model's count on the same images is given beside the int8 one: what quantization costs.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { getCifarModel, type CalibrationMethod, type CifarResNet, type ComputeDType, type DeviceSpec } from '../index.js';
import { normalizedSlice, readCifar10Data } from './cifar-data.js';
import { loadWeightsFile } from './convert.js';
import { checkModelName } from './model-names.js';
import { UsageError } from './outcome.js';
import { startProgress } from './progress.js';
import { calibrate, modelCalibration } from './quantize.js';

/** Options of {@link runEvalCifar10}. */
export interface EvalCifar10Options {
  /** A CIFAR ResNet name (`resnet20` … `resnet1202`). */
  model: string;
  /** The checkpoint (`.th`/`.pth`/`.pt`, `module.` prefixes stripped), a `.safetensors` file, or a quantized one (`resnet quantize`). */
  weights: string;
  /** The CIFAR-10 binary file (`test_batch.bin` or a slice of it). */
  data: string;
  /** Images per forward pass (and per calibration run). */
  batch: number;
  /** Where the model runs; default the CPU. */
  device?: DeviceSpec;
  /** The compute dtype; default float32. */
  dtype?: ComputeDType;
  /** With `int8` and float weights: the calibration input (see calibration-input.ts); default {@link EvalCifar10Options.data}. */
  calibration?: string;
  /** With `int8` and float weights: calibrate on at most this many images (the first ones); default 256. */
  calibrationImages?: number;
  /** With `int8` and float weights: how activation ranges are chosen; default `quantize()`'s. */
  method?: CalibrationMethod;
  /** With `int8` and float weights: quantize the input too (the stem conv in integers). */
  quantizeInput?: boolean;
}

/** How the int8 model of {@link runEvalCifar10} got its scales. */
export interface EvalQuantization {
  /** `'file'`: the quantized weights file's; `'calibrated'`: calibrated here. */
  source: 'file' | 'calibrated';
  method: CalibrationMethod;
  /** Where the calibration images came from (calibrated here only). */
  calibration?: string;
  /** How many calibration images (calibrated here only). */
  images?: number;
  /** Seconds the calibration took (calibrated here only). */
  seconds?: number;
}

/** What {@link runEvalCifar10} measured. */
export interface Cifar10Accuracy {
  model: string;
  /** The dtype the model ran in. */
  dtype: ComputeDType;
  images: number;
  correct: number;
  /** `correct / images`. */
  accuracy: number;
  /** With int8: the float32 model on the same images. */
  float32?: { correct: number; accuracy: number };
  /** With int8: where its scales came from. */
  quantization?: EvalQuantization;
}

const calibrationOptions = ['calibration', 'calibrationImages', 'method', 'quantizeInput'] as const;

/**
 * The model at `options.dtype`, and with int8 the float model beside it. The int8 model is the file's when
 * it is quantized, else calibrated here.
 * @throws UsageError for calibration options without int8, or with a file that is already quantized.
 */
async function placedModels(options: EvalCifar10Options): Promise<{ model: CifarResNet; float?: CifarResNet; quantization?: EvalQuantization }> {
  const loaded = getCifarModel(options.model);
  // Upstream's checkpoints were saved from DataParallel, hence the prefix; keys without it are kept.
  await loadWeightsFile(loaded, options.model, options.weights, 'module.');
  const given = calibrationOptions.filter((k) => options[k] !== undefined).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  const place = (m: CifarResNet, dtype?: ComputeDType): CifarResNet => {
    if (options.device !== undefined || dtype !== undefined) m.to({ ...(options.device === undefined ? {} : { device: options.device }), ...(dtype === undefined ? {} : { dtype }) });
    return m;
  };
  if (options.dtype !== 'int8') {
    if (given.length > 0) throw new UsageError(`${given.join(', ')} go${given.length === 1 ? 'es' : ''} with --dtype int8: add it, or leave ${given.length === 1 ? 'it' : 'them'} out`);
    return { model: place(loaded, options.dtype) };
  }
  const own = loaded.quantization;
  if (own !== null) {
    if (given.length > 0) {
      throw new UsageError(`${JSON.stringify(options.weights)} is already quantized (${own.method}), so ${given.join(', ')} would not be used: leave ${given.length === 1 ? 'it' : 'them'} out, or pass the float weights to calibrate again`);
    }
    const float = loaded.clone();
    float.quantization = null;
    return { model: place(loaded, 'int8'), float: place(float, 'float32'), quantization: { source: 'file', method: own.method } };
  }
  const input = await modelCalibration(options.model, options.calibration ?? options.data, options.calibrationImages ?? 256, options.batch);
  const { quantized, seconds } = await calibrate(loaded, input, { method: options.method, perChannel: true, quantizeInput: options.quantizeInput, label: options.model });
  return {
    model: place(quantized, 'int8'),
    float: place(loaded, 'float32'),
    quantization: { source: 'calibrated', method: quantized.quantization!.method, calibration: input.description, images: input.images, seconds },
  };
}

/** Loads the model and the data, classifies every image (a progress bar on stderr) and counts the right ones. */
export async function runEvalCifar10(options: EvalCifar10Options): Promise<Cifar10Accuracy> {
  if (!Number.isInteger(options.batch) || options.batch < 1) {
    throw new InvalidArgumentError(`--batch must be a positive integer but received ${options.batch}`);
  }
  checkModelName(options.model, ['cifar10']);
  const { model, float, quantization } = await placedModels(options);
  const { images, labels } = await readCifar10Data(options.data);
  const pixels = images.data as Uint8Array;
  const total = labels.length;
  let correct = 0;
  let floatCorrect = 0;
  const count = (predictions: number[], start: number): number => predictions.filter((p, i) => p === labels[start + i]).length;
  const progress = startProgress(total, `${options.model}: 0/${total} images`);
  try {
    for (let start = 0; start < total; start += options.batch) {
      const size = Math.min(options.batch, total - start);
      const x = normalizedSlice(pixels, start, size);
      correct += count((await model.forward(x)).argmax(), start);
      if (float) floatCorrect += count((await float.forward(x)).argmax(), start);
      progress.update(start + size, `${options.model}: ${start + size}/${total} images`);
    }
  } finally {
    progress.stop();
  }
  return {
    model: options.model,
    dtype: model.dtype,
    images: total,
    correct,
    accuracy: correct / total,
    ...(float ? { float32: { correct: floatCorrect, accuracy: floatCorrect / total } } : {}),
    ...(quantization ? { quantization } : {}),
  };
}

/** `resnet20: 20/20 correct, accuracy 100.00%`; with int8 the float32 count and where the scales came from. */
export function formatAccuracy(result: Cifar10Accuracy): string {
  const percent = (a: number) => `${(a * 100).toFixed(2)}%`;
  const line = `${result.model}${result.dtype === 'float32' ? '' : ` ${result.dtype}`}: ${result.correct}/${result.images} correct, accuracy ${percent(result.accuracy)}`;
  if (!result.float32 || !result.quantization) return line;
  const q = result.quantization;
  const scales = q.source === 'file' ? `scales of the weights file (${q.method})` : `calibrated on ${q.calibration} (${q.method}, ${q.seconds!.toFixed(1)} s)`;
  return `${line}\n${result.model} float32: ${result.float32.correct}/${result.images} correct, accuracy ${percent(result.float32.accuracy)}\nint8 ${scales}`;
}
