import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCalibration, type CalibrationInputOptions } from '../../lib/cli/calibration-input.js';
import { Tensor } from '../../lib/tensor.js';
import { serializeSafetensors } from '../../lib/io/safetensors.js';
import { readCifar10 } from '../../lib/io/cifar10.js';
import { readImage } from '../../lib/vision/image.js';
import { preprocess } from '../../lib/vision/transforms.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

const transforms = { resizeSize: 40, cropSize: 32, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const base: CalibrationInputOptions = { limit: 256, batch: 2, transforms };

async function collect(batches: AsyncIterable<Tensor<'float32'>>): Promise<Tensor<'float32'>[]> {
  const out: Tensor<'float32'>[] = [];
  for await (const b of batches) out.push(b);
  return out;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'calibration-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('readCalibration: tensors and refusals', () => {
  it('yields the first `limit` inputs of a safetensors tensor, in batches, unchanged', async () => {
    const data = Float32Array.from({ length: 5 * 3 * 2 * 2 }, (_, i) => i / 7);
    const file = path.join(dir, 'inputs.safetensors');
    await writeFile(file, serializeSafetensors({ x: Tensor.from(data, [5, 3, 2, 2]) }));
    const input = await readCalibration(file, { ...base, limit: 3 });
    expect(input.images).toBe(3);
    const batches = await collect(input.batches);
    expect(batches.map((b) => b.shape)).toEqual([[2, 3, 2, 2], [1, 3, 2, 2]]);
    expect(Array.from(batches[1]!.data)).toEqual(Array.from(data.slice(24, 36)));
  });

  it('refuses a tensor file that is not one float32 [N, 3, H, W]', async () => {
    const file = path.join(dir, 'two.safetensors');
    await writeFile(file, serializeSafetensors({ a: Tensor.zeros([1, 3, 2, 2]), b: Tensor.zeros([1, 3, 2, 2]) }));
    await expect(readCalibration(file, base)).rejects.toThrow('holds 2 tensors: expected one float32 tensor [N, 3, H, W]');
    const gray = path.join(dir, 'gray.safetensors');
    await writeFile(gray, serializeSafetensors({ a: Tensor.zeros([1, 1, 2, 2]) }));
    await expect(readCalibration(gray, base)).rejects.toThrow('holds a float32 tensor of shape [1, 1, 2, 2]');
  });

  it('refuses a missing path, an unknown extension, an empty directory and bad counts, saying what to pass', async () => {
    await expect(readCalibration(path.join(dir, 'nope'), base)).rejects.toThrow('cannot be read (ENOENT): pass a directory of images');
    const text = path.join(dir, 'notes.txt');
    await writeFile(text, 'x');
    await expect(readCalibration(text, base)).rejects.toThrow('has extension ".txt"');
    await expect(readCalibration(dir, base)).rejects.toThrow('holds no image');
    await expect(readCalibration(dir, { ...base, limit: 0 })).rejects.toThrow('--calibration-images must be a positive integer');
    await expect(readCalibration(text, { ...base, limit: 1 })).rejects.toThrow('has extension');
    const cifarLike = path.join(dir, 'data.bin');
    await writeFile(cifarLike, new Uint8Array(3073));
    await expect(readCalibration(cifarLike, base)).rejects.toThrow('only the CIFAR-10 models');
  });
});

const photos = [dataPath('images', 'dog.jpg'), dataPath('images', 'grace_hopper.jpg')];
describe.skipIf(dataAbsent('calibration images', ...photos, dataPath('cifar10', 'test_subset_500.bin')) !== null)('readCalibration: images and CIFAR-10', () => {
  it('preprocesses a directory of images by name order, as preprocess() does', async () => {
    const images = path.join(dir, 'images');
    await rm(images, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(images));
    await copyFile(photos[1]!, path.join(images, 'a.jpg'));
    await copyFile(photos[0]!, path.join(images, 'b.JPG'));
    await writeFile(path.join(images, 'c.txt'), 'not an image');
    const input = await readCalibration(images, { ...base, batch: 8 });
    expect(input.images).toBe(2);
    const [batch] = await collect(input.batches);
    const expected = preprocess([await readImage(photos[1]!), await readImage(photos[0]!)], transforms);
    expect(batch!.shape).toEqual([2, 3, 32, 32]);
    expect(Array.from(batch!.data)).toEqual(Array.from(expected.data));
  });

  it('reads the first `limit` images of a CIFAR-10 file through the given normalisation', async () => {
    const file = dataPath('cifar10', 'test_subset_500.bin');
    const slices: [number, number][] = [];
    const input = await readCalibration(file, {
      ...base,
      limit: 5,
      cifar: {
        read: readCifar10,
        normalize: (pixels, start, count) => {
          slices.push([start, count]);
          return Tensor.from(Float32Array.from(pixels.subarray(start * 3072, (start + count) * 3072)), [count, 3, 32, 32]);
        },
      },
    });
    const batches = await collect(input.batches);
    expect(slices).toEqual([[0, 2], [2, 2], [4, 1]]);
    const { images } = await readCifar10(file);
    expect(Array.from(batches[2]!.data)).toEqual(Array.from((images.data as Uint8Array).subarray(4 * 3072, 5 * 3072)));
  });
});
