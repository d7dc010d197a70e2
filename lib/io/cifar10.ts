/**
 * CIFAR-10's "binary version" files (`test_batch.bin`, `data_batch_N.bin`): a plain sequence of
 * 3073-byte records, no header; each record is one label byte (0..9) and 3072 pixel bytes, the red,
 * green and blue 32×32 planes in turn, rows top to bottom. The pixels are already CHW, so a file maps
 * straight onto an NCHW uint8 batch (what `forward` and a compiled normalisation take).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { InvalidFileError, invalidArgument } from '../errors.js';
import { Tensor } from '../tensor.js';

/** Side of a CIFAR-10 image in pixels. */
export const CIFAR10_IMAGE_SIZE = 32;
/** Bytes of one record: the label byte and 3 × 32 × 32 pixels. */
export const CIFAR10_RECORD_BYTES = 1 + 3 * CIFAR10_IMAGE_SIZE * CIFAR10_IMAGE_SIZE;

/** Class names in label order (the dataset's `batches.meta`). */
export const cifar10Classes: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);

/** The records of a CIFAR-10 binary file. */
export interface Cifar10Batch {
  /** `[N, 3, 32, 32]` RGB pixels, 0..255 (torchvision's `ToTensor` layout before the division by 255). */
  readonly images: Tensor<'uint8'>;
  /** `N` labels, 0..9 (see {@link cifar10Classes}). */
  readonly labels: Uint8Array;
}

/**
 * Splits the bytes of a CIFAR-10 binary file into images and labels (copies; `bytes` is not kept).
 * @param source Named in error messages (a file path).
 * @throws InvalidFileError when the size is not a whole positive number of records, or a label is above 9.
 */
export function parseCifar10(bytes: Uint8Array, source = 'CIFAR-10 data'): Cifar10Batch {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument('a Uint8Array', 'bytes', bytes);
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new InvalidFileError(
      `${source}: ${bytes.length} bytes is not a whole positive number of ${CIFAR10_RECORD_BYTES}-byte CIFAR-10 records (1 label byte + 3072 pixel bytes each); is it the "binary version" of the dataset, not the Python pickles?`,
    );
  }
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  const pixelsPerImage = CIFAR10_RECORD_BYTES - 1;
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * pixelsPerImage);
  for (let i = 0; i < count; i++) {
    const start = i * CIFAR10_RECORD_BYTES;
    const label = bytes[start]!;
    if (label >= cifar10Classes.length) {
      throw new InvalidFileError(
        `${source}: record ${i} (byte offset ${start}) has label ${label}, but CIFAR-10 labels are 0..9; the file is corrupt or not a CIFAR-10 binary file`,
      );
    }
    labels[i] = label;
    pixels.set(bytes.subarray(start + 1, start + CIFAR10_RECORD_BYTES), i * pixelsPerImage);
  }
  return { images: Tensor.from(pixels, [count, 3, CIFAR10_IMAGE_SIZE, CIFAR10_IMAGE_SIZE]), labels };
}

/**
 * Reads a CIFAR-10 binary file (see {@link parseCifar10}).
 * @throws InvalidFileError for a malformed file; the file system's error when it cannot be read.
 */
export async function readCifar10(path: string): Promise<Cifar10Batch> {
  if (typeof path !== 'string' || path === '') throw invalidArgument('a file path', 'path', path);
  return parseCifar10(await readFile(path), path);
}
