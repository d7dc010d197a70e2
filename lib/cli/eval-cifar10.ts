/**
 * `resnet eval-cifar10`: top-1 accuracy of a CIFAR-10 ResNet checkpoint on a CIFAR-10 binary file.
 * @module
 */
import { InvalidArgumentError, InvalidFileError, ResnetError } from '../errors.js';
import { Tensor, cifarResNetNormalization, getCifarModel, readCifar10, type Cifar10Batch, type DeviceSpec } from '../index.js';
import { loadWeightsFile } from './convert.js';
import { checkModelName } from './model-names.js';
import { startProgress } from './progress.js';

/** Options of {@link runEvalCifar10}. */
export interface EvalCifar10Options {
  /** A CIFAR ResNet name (`resnet20` … `resnet1202`). */
  model: string;
  /** The checkpoint (`.th`/`.pth`/`.pt`, `module.` prefixes stripped) or a `.safetensors` file. */
  weights: string;
  /** The CIFAR-10 binary file (`test_batch.bin` or a slice of it). */
  data: string;
  /** Images per forward pass. */
  batch: number;
  /** Where the model runs; default the CPU. */
  device?: DeviceSpec;
}

/** What {@link runEvalCifar10} measured. */
export interface Cifar10Accuracy {
  model: string;
  images: number;
  correct: number;
  /** `correct / images`. */
  accuracy: number;
}

/**
 * The pixels of images `[start, start + count)` as float32, normalised as the checkpoints were trained:
 * `/255`, then the per-channel mean and std, in float32 as torchvision's `ToTensor` + `Normalize`.
 */
function normalizedSlice(pixels: Uint8Array, start: number, count: number): Tensor<'float32'> {
  const plane = 32 * 32;
  const { mean, std } = cifarResNetNormalization;
  const out = new Float32Array(count * 3 * plane);
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < 3; c++) {
      const base = (n * 3 + c) * plane;
      const source = ((start + n) * 3 + c) * plane;
      for (let p = 0; p < plane; p++) {
        out[base + p] = Math.fround(Math.fround(pixels[source + p]! / 255) - mean[c]!) / std[c]!;
      }
    }
  }
  return Tensor.from(out, [count, 3, 32, 32]);
}

/** {@link readCifar10}, with the file system's errors (a missing file) as InvalidFileError. */
async function readData(path: string): Promise<Cifar10Batch> {
  try {
    return await readCifar10(path);
  } catch (cause) {
    if (cause instanceof ResnetError) throw cause;
    throw new InvalidFileError(`Cannot read CIFAR-10 data ${JSON.stringify(path)}: ${(cause as Error).message}`, { cause });
  }
}

/** Loads the model and the data, classifies every image (a progress bar on stderr) and counts the right ones. */
export async function runEvalCifar10(options: EvalCifar10Options): Promise<Cifar10Accuracy> {
  if (!Number.isInteger(options.batch) || options.batch < 1) {
    throw new InvalidArgumentError(`--batch must be a positive integer but received ${options.batch}`);
  }
  checkModelName(options.model, ['cifar10']);
  const model = getCifarModel(options.model);
  // Upstream's checkpoints were saved from DataParallel, hence the prefix; keys without it are kept.
  await loadWeightsFile(model, options.model, options.weights, 'module.');
  if (options.device !== undefined) model.to({ device: options.device });
  const { images, labels } = await readData(options.data);
  const pixels = images.data as Uint8Array;
  const total = labels.length;
  let correct = 0;
  const progress = startProgress(total, `${options.model}: 0/${total} images`);
  try {
    for (let start = 0; start < total; start += options.batch) {
      const count = Math.min(options.batch, total - start);
      const predictions = (await model.forward(normalizedSlice(pixels, start, count))).argmax();
      predictions.forEach((p, i) => {
        if (p === labels[start + i]) correct++;
      });
      progress.update(start + count, `${options.model}: ${start + count}/${total} images`);
    }
  } finally {
    progress.stop();
  }
  return { model: options.model, images: total, correct, accuracy: correct / total };
}

/** `resnet20: 20/20 correct, accuracy 100.00%`. */
export function formatAccuracy(result: Cifar10Accuracy): string {
  return `${result.model}: ${result.correct}/${result.images} correct, accuracy ${(result.accuracy * 100).toFixed(2)}%`;
}
