/**
 * The CIFAR-10 binary files of the CLI (`eval-cifar10`, and the calibration input of `quantize` for the
 * CIFAR networks): read with file errors as InvalidFileError, normalised as the checkpoints were trained.
 * @module
 */
import { InvalidFileError, ResnetError } from '../errors.js';
import { Tensor, cifarResNetNormalization, readCifar10, type Cifar10Batch } from '../index.js';

/**
 * The pixels of images `[start, start + count)` as float32, normalised as the checkpoints were trained:
 * `/255`, then the per-channel mean and std, in float32 as torchvision's `ToTensor` + `Normalize`.
 * Also the calibration input of the CIFAR models (`resnet quantize`, `eval-cifar10 --dtype int8`).
 */
export function normalizedSlice(pixels: Uint8Array, start: number, count: number): Tensor<'float32'> {
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
export async function readCifar10Data(path: string): Promise<Cifar10Batch> {
  try {
    return await readCifar10(path);
  } catch (cause) {
    if (cause instanceof ResnetError) throw cause;
    throw new InvalidFileError(`Cannot read CIFAR-10 data ${JSON.stringify(path)}: ${(cause as Error).message}`, { cause });
  }
}
