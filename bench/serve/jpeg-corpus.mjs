// @ts-check
/**
 * The JPEG inputs of a load test: ImageNet-sized images (about 500×375, the validation set's typical
 * size) cut from a few photos, made once per run with sharp. Crops differ in scale and position, some are
 * portrait, some mirrored, and the quality varies, so the server decodes many different files rather than
 * one it might have cached, and their sizes spread as real uploads do.
 * @module
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

/** The landscape output size; portrait variants swap it. */
export const imagenetSize = { width: 500, height: 375 };

/** Crop scales, as a fraction of the largest crop of the output's aspect that fits the photo. */
const scales = [1, 0.8, 0.62, 0.5];
/** Where the crop sits: fractions of the slack along x and y. */
const anchors = [[0.5, 0.5], [0, 0], [1, 1], [1, 0], [0, 1], [0.25, 0.75]];
const qualities = [90, 75, 85, 95, 80];

/**
 * @typedef {object} JpegVariant
 * @property {number} photo  index of the source photo
 * @property {{ left: number; top: number; width: number; height: number }} crop  pixels of the photo
 * @property {number} width   output size
 * @property {number} height
 * @property {number} quality JPEG quality, 1..100
 * @property {boolean} mirror flipped left to right
 */

/**
 * `count` distinct variants over the photos, round robin: variant k takes photo k mod P, and scale,
 * anchor, quality and orientation from k / P in a mixed order, so neighbours differ in every respect.
 * @param {readonly { width: number; height: number }[]} photos source sizes
 * @param {number} count
 * @returns {JpegVariant[]}
 */
export function planJpegVariants(photos, count) {
  if (photos.length === 0) throw new RangeError('planJpegVariants needs at least one photo');
  /** @type {JpegVariant[]} */
  const variants = [];
  const seen = new Set();
  for (let k = 0; variants.length < count; k++) {
    if (k > count * 64) throw new RangeError(`only ${variants.length} distinct variants exist of ${photos.length} photo(s); asked for ${count}`);
    const photo = k % photos.length;
    const round = Math.floor(k / photos.length);
    const { width: pw, height: ph } = photos[photo] ?? { width: 0, height: 0 };
    const portrait = round % 4 === 3;
    const width = portrait ? imagenetSize.height : imagenetSize.width;
    const height = portrait ? imagenetSize.width : imagenetSize.height;
    const scale = scales[round % scales.length] ?? 1;
    const [ax, ay] = anchors[Math.floor(round / scales.length) % anchors.length] ?? [0.5, 0.5];
    const quality = qualities[(round * 3) % qualities.length] ?? 85;
    const mirror = Math.floor(round / 2) % 2 === 1;
    // The largest crop of the output's aspect inside the photo, scaled, placed by the anchor.
    const fit = Math.min(pw / width, ph / height) * scale;
    const cw = Math.max(1, Math.min(pw, Math.round(width * fit)));
    const ch = Math.max(1, Math.min(ph, Math.round(height * fit)));
    const crop = { left: Math.round((pw - cw) * ax), top: Math.round((ph - ch) * ay), width: cw, height: ch };
    const key = JSON.stringify([photo, crop, width, quality, mirror]);
    if (seen.has(key)) continue;
    seen.add(key);
    variants.push({ photo, crop, width, height, quality, mirror });
  }
  return variants;
}

/**
 * The photos in `dir` (JPEG, PNG or WebP files), sorted by name.
 * @param {string} dir
 * @returns {string[]}
 * @throws Error saying the folder is missing or holds no photo (bench:serve then skips its JPEG input)
 */
export function findPhotos(dir) {
  let names;
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a folder');
    names = readdirSync(dir);
  } catch (error) {
    throw new Error(`no photos for the JPEG input: cannot read ${dir} (${error instanceof Error ? error.message : String(error)}); pass --photos DIR with a few .jpg files`, { cause: error });
  }
  const photos = names.filter((name) => /\.(jpe?g|png|webp)$/i.test(name)).sort().map((name) => path.join(dir, name));
  if (photos.length === 0) throw new Error(`no photos for the JPEG input: ${dir} holds no .jpg, .png or .webp file; pass --photos DIR with a few`);
  return photos;
}

/**
 * Encodes the variants of {@link planJpegVariants} from the photo files: baseline JPEGs (no progressive
 * scan, 4:2:0 chroma, as cameras and most uploads write them).
 * @param {readonly string[]} photoPaths
 * @param {number} count
 * @returns {Promise<Buffer[]>}
 */
export async function makeJpegCorpus(photoPaths, count) {
  const sizes = await Promise.all(photoPaths.map(async (file) => {
    // Orientation applied first (rotate()), so the sizes are the upright photo's.
    const { info } = await sharp(file).rotate().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height };
  }));
  const variants = planJpegVariants(sizes, count);
  return Promise.all(variants.map(async (v) => {
    let image = sharp(photoPaths[v.photo]).rotate().extract(v.crop).resize(v.width, v.height, { fit: 'fill' });
    if (v.mirror) image = image.flop();
    return image.jpeg({ quality: v.quality, progressive: false, chromaSubsampling: '4:2:0' }).toBuffer();
  }));
}
