/**
 * `resnet classify`: the top ImageNet classes of images, with pretrained weights from the registry
 * (downloaded into PyTorch's cache when missing) or from a weights file.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import {
  getModel, getModelWeights, loadPretrained, preprocess, readImage, type DeviceSpec, type ResNet, type Weights,
} from '../index.js';
import { loadWeightsFile, looksLikeStateDictFile } from './convert.js';
import { checkModelName } from './model-names.js';
import { explainDownloadFailure, weightsEntryOf } from './weights-download.js';

/** What the offline message offers instead of the download. */
const weightsFileHint = 'pass it with --weights FILE';

/** Options of {@link runClassify}. */
export interface ClassifyOptions {
  /** A model name of `listModels()`. */
  model: string;
  /** A weights name of the model's family (`IMAGENET1K_V2`, `DEFAULT`) or a `.pth`/`.pt`/`.safetensors` file. */
  weights: string;
  /** How many classes to report per image. */
  topk: number;
  /** Where the model runs; default the CPU. */
  device?: DeviceSpec;
}

/** One reported class. */
export interface ClassScore {
  index: number;
  name: string;
  probability: number;
}

/** The classes reported for one image, most probable first. */
export interface ImageClassification {
  image: string;
  top: ClassScore[];
}

/**
 * The model with its weights and the weights entry whose transforms and categories apply: the named
 * entry, or for a file the model's DEFAULT entry (a file carries neither).
 */
async function modelAndWeights(options: ClassifyOptions, entry: Weights | null): Promise<{ model: ResNet; entry: Weights }> {
  if (entry !== null) {
    try {
      return { model: await loadPretrained(options.model, entry, options.device === undefined ? {} : { device: options.device }), entry };
    } catch (error) {
      throw explainDownloadFailure(error, entry, weightsFileHint);
    }
  }
  const model = getModel(options.model, { weights: null });
  await loadWeightsFile(model, options.model, options.weights);
  if (options.device !== undefined) model.to({ device: options.device });
  return { model, entry: getModelWeights(options.model).DEFAULT };
}

/**
 * The registry entry `--weights` names, null for a file; checked before any image is read or weights downloaded.
 * @throws InvalidArgumentError listing the model's weights names.
 */
export function weightsEntry(options: Pick<ClassifyOptions, 'model' | 'weights'>): Weights | null {
  if (looksLikeStateDictFile(options.weights)) return null;
  return weightsEntryOf(options.model, options.weights, '--weights', 'a weights file (.pth, .pt, .th, .tar, .safetensors)');
}

/**
 * Checks what the command line says before any work: the model, the weights name, the number of classes.
 * @throws InvalidArgumentError naming the valid values.
 */
export function checkClassifyOptions(options: ClassifyOptions): void {
  checkModelName(options.model, ['imagenet']);
  weightsEntry(options);
  const categories = getModelWeights(options.model).DEFAULT.meta.categories;
  if (!Number.isInteger(options.topk) || options.topk < 1 || options.topk > categories.length) {
    throw new InvalidArgumentError(`--topk must be an integer from 1 to ${categories.length} but received ${options.topk}`);
  }
}

/**
 * Classifies each image (read and preprocessed as the weights were evaluated) and resolves to the top
 * `topk` classes per image; every image is decoded before the model is built, so a bad image fails fast.
 * @throws DownloadError saying how to get the weights some other way when the download host cannot be
 *   reached (no network, or a proxy that fails).
 */
export async function runClassify(images: readonly string[], options: ClassifyOptions): Promise<ImageClassification[]> {
  checkClassifyOptions(options);
  const named = weightsEntry(options);
  const pixels = await Promise.all(images.map((path) => readImage(path)));
  const { model, entry } = await modelAndWeights(options, named);
  const { resizeSize, cropSize, interpolation, mean, std } = entry.transforms();
  const results: ImageClassification[] = [];
  // One image per forward: images of any size, and the memory of a single crop.
  for (const [i, image] of pixels.entries()) {
    const input = preprocess(image, { resizeSize, cropSize, interpolation, mean, std });
    const probabilities = (await model.forward(input)).softmax();
    const { values, indices } = probabilities.topk(options.topk);
    results.push({
      image: images[i]!,
      top: indices[0]!.map((index, k) => ({ index, name: entry.meta.categories[index]!, probability: values[0]![k]! })),
    });
  }
  return results;
}

/** The results as text: one block per image, one line per class. */
export function formatClassifications(results: readonly ImageClassification[]): string {
  return results
    .map(({ image, top }) => [image, ...top.map((c) => `  ${(c.probability * 100).toFixed(2).padStart(6)}%  ${c.name} (${c.index})`)].join('\n'))
    .join('\n');
}
