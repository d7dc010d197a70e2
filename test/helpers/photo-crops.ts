/**
 * ImageNet-sized inputs made from the shared photos: each one the photo resized (shorter side 232 to 384),
 * a 224×224 crop at a random offset, flipped or not, normalised with ImageNet's mean and std. Deterministic
 * for a seed, so a test's inputs are the same on every run.
 */
import { Tensor, imagenetMean, imagenetStd, readImage, resize } from '../../lib/index.js';
import { rng } from './helpers.js';
import { dataPath } from './test-data.js';

/** The photos the crops come from. */
export const photoFiles = [dataPath('images', 'dog.jpg'), dataPath('images', 'grace_hopper.jpg')];

/** `count` normalised float32 inputs `[count, 3, 224, 224]`. */
export async function photoCrops(count: number, seed: number): Promise<Tensor<'float32'>> {
  const random = rng(seed);
  const photos = await Promise.all(photoFiles.map((f) => readImage(f)));
  const sizes = [232, 256, 288, 320, 384];
  const resized = new Map<string, Tensor<'uint8'>>();
  const crop = 224;
  const plane = crop * crop;
  const out = new Float32Array(count * 3 * plane);
  for (let n = 0; n < count; n++) {
    const p = Math.floor(random() * photos.length);
    const size = sizes[Math.floor(random() * sizes.length)]!;
    const key = `${p}/${size}`;
    if (!resized.has(key)) resized.set(key, resize(photos[p]!, size));
    const image = resized.get(key)!;
    const [, h, w] = image.shape as [number, number, number];
    const top = Math.floor(random() * (h - crop + 1));
    const left = Math.floor(random() * (w - crop + 1));
    const flip = random() < 0.5;
    const pixels = image.data as Uint8Array;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < crop; y++) {
        for (let x = 0; x < crop; x++) {
          const sx = left + (flip ? crop - 1 - x : x);
          const v = pixels[(c * h + top + y) * w + sx]! / 255;
          out[((n * 3 + c) * crop + y) * crop + x] = (v - imagenetMean[c]!) / imagenetStd[c]!;
        }
      }
    }
  }
  return Tensor.from(out, [count, 3, crop, crop]);
}
