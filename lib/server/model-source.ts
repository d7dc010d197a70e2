/**
 * Where a served model comes from: the architecture (a torchvision ResNet or a CIFAR-10 ResNet), its
 * weights (a registry name, a checkpoint file, or none), the class names of its output and the image
 * preprocessing its weights expect. Everything the server decides about a model before compiling it.
 * @module
 */
import { InvalidArgumentError, StateDictError } from '../errors.js';
import { cifar10Classes } from '../io/cifar10.js';
import { cifarResNetNormalization, getCifarModel, listCifarModels, type CifarResNet } from '../models/cifar.js';
import { loadPretrained } from '../models/pretrained.js';
import { getModel, listModels } from '../models/registry.js';
import type { ResNet } from '../models/resnet.js';
import { getModelWeights, type ImageClassificationTransforms, type Weights } from '../models/weights.js';
import type { StateDict } from '../nn/module.js';
import { Generator } from '../random.js';
import { applyWeights, type QuantizedWeights } from '../quantization/file.js';
import type { ResolvedModelOptions } from './types.js';
import { isWeightsFile, readWeightsFile, weightsFileExtensions } from './weights-file.js';

/** Where a served model writes what it does (the server passes its pino logger). */
export interface ModelLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

/**
 * The preprocessing of encoded images: torchvision's `ImageClassification` arguments, every one set
 * (antialiasing is always on: `preprocess` resizes as Pillow does).
 */
export type ImageTransforms = Omit<ImageClassificationTransforms, 'antialias'>;

/** A model built with its weights, and what serving it needs to know about them. */
export interface ModelSource {
  /** The network, weights loaded, on the default placement (the CPU, float32). */
  readonly model: ResNet | CifarResNet;
  /** The submodule whose output is the pooled feature vector the classifier reads. */
  readonly featureModule: string;
  /** Class names of the output, index = class; null when unknown (a file with another class count). */
  readonly labels: readonly string[] | null;
  /** Image preprocessing; `cropSize` is the model's input height and width. */
  readonly transforms: ImageTransforms;
  /** What the weights are, for logs: `ResNet18_Weights.IMAGENET1K_V1`, a file path, or `random`. */
  readonly weightsDescription: string;
}

/** Keys of a state dict carry this prefix when saved from `nn.DataParallel` (upstream's CIFAR checkpoints). */
const dataParallelPrefix = 'module.';

/**
 * The resize that keeps the weights' resize-to-crop ratio at another crop size, truncated to an integer
 * as Python's `int()` truncates in torchvision's size arithmetic (256/224 at 64 → 73).
 */
export function proportionalResize(resizeSize: number, cropSize: number, inputSize: number): number {
  return Math.max(inputSize, Math.trunc((inputSize * resizeSize) / cropSize));
}

/** The transforms of a registry entry, at `inputSize` when one is given. */
function entryTransforms(entry: Weights, inputSize: number | null): ImageTransforms {
  const { resizeSize, cropSize, interpolation, mean, std } = entry.transforms();
  if (inputSize === null) return { resizeSize, cropSize, interpolation, mean, std };
  return { resizeSize: proportionalResize(resizeSize, cropSize, inputSize), cropSize: inputSize, interpolation, mean, std };
}

/** CIFAR-10 images are 32×32 already: resize and crop to the input size, normalised as upstream trained. */
function cifarTransforms(inputSize: number | null): ImageTransforms {
  const size = inputSize ?? 32;
  const { mean, std } = cifarResNetNormalization;
  return { resizeSize: size, cropSize: size, interpolation: 'bilinear', mean: [mean[0]!, mean[1]!, mean[2]!], std: [std[0]!, std[1]!, std[2]!] };
}

/** The class count a state dict's classifier has (`fc.weight` / `linear.weight` is `[classes, features]`). */
function classCountOf(stateDict: StateDict, classifier: string): number | undefined {
  const weight = stateDict[`${classifier}.weight`];
  return weight?.ndim === 2 ? weight.shape[0] : undefined;
}

/**
 * Loads a state dict (and a quantized file's scales) into `model` strictly, naming the file and the first few mismatched keys on one line.
 * @throws StateDictError
 */
function loadInto(model: ResNet | CifarResNet, { stateDict, quantization }: QuantizedWeights, arch: string, path: string): void {
  try {
    applyWeights(model, stateDict, quantization, JSON.stringify(path));
  } catch (error) {
    if (!(error instanceof StateDictError)) throw error;
    const first = (keys: readonly string[]) => keys.slice(0, 3).join(', ') + (keys.length > 3 ? ', …' : '');
    const parts = [
      error.missingKeys.length ? `${error.missingKeys.length} missing keys (${first(error.missingKeys)})` : null,
      error.unexpectedKeys.length ? `${error.unexpectedKeys.length} unexpected keys (${first(error.unexpectedKeys)})` : null,
      error.shapeMismatches.length ? `${error.shapeMismatches.length} shape mismatches (${first(error.shapeMismatches.map((m) => m.key))})` : null,
    ].filter((p) => p !== null);
    throw new StateDictError(`${JSON.stringify(path)} does not fit ${arch}: ${parts.join('; ')}`, error);
  }
}

/** The generator of a model without weights (seeded, or the process-wide one), after the warning that says so. */
function randomInitialisation(options: ResolvedModelOptions, seed: number | null, log: ModelLogger): { generator?: Generator } {
  const how = seed === null ? 'unseeded (--seed N makes it reproducible)' : `seed ${seed}`;
  log.warn(
    { model: options.name, arch: options.arch, seed },
    `model ${options.name}: no weights given, random initialisation, ${how}; its outputs are meaningless (fine for load tests)`,
  );
  return seed === null ? {} : { generator: new Generator(seed) };
}

/** A torchvision ResNet (`resnet50`, …) with registry weights, a file, or none. */
async function imagenetSource(options: ResolvedModelOptions, log: ModelLogger, seed: number | null): Promise<ModelSource> {
  const { arch, weights, inputSize } = options;
  const family = getModelWeights(arch);
  const featureModule = 'avgpool';
  if (weights !== null && !isWeightsFile(weights)) {
    const entry = family.verify(weights)!;
    // The checkpoint is downloaded into PyTorch's cache when it is not there yet.
    const model = await loadPretrained(arch, entry);
    return { model, featureModule, labels: entry.meta.categories, transforms: entryTransforms(entry, inputSize), weightsDescription: String(entry) };
  }
  const transforms = entryTransforms(family.DEFAULT, inputSize);
  const imagenetLabels = family.DEFAULT.meta.categories;
  if (weights === null) {
    const model = getModel(arch, { weights: null, ...randomInitialisation(options, seed, log) });
    return { model, featureModule, labels: imagenetLabels, transforms, weightsDescription: 'random' };
  }
  const file = await readWeightsFile(weights, dataParallelPrefix);
  // A fine-tuned checkpoint has its own class count; its class names are then unknown.
  const numClasses = classCountOf(file.stateDict, 'fc') ?? imagenetLabels.length;
  const model = getModel(arch, { weights: null, numClasses });
  loadInto(model, file, arch, weights);
  const labels = numClasses === imagenetLabels.length ? imagenetLabels : null;
  return { model, featureModule, labels, transforms, weightsDescription: weights };
}

/** A CIFAR-10 ResNet (`resnet20`, …): upstream's checkpoints are files; there is no registry. */
async function cifarSource(options: ResolvedModelOptions, log: ModelLogger, seed: number | null): Promise<ModelSource> {
  const { arch, weights, inputSize } = options;
  const transforms = cifarTransforms(inputSize);
  const featureModule = 'avgpool';
  if (weights === null) {
    return { model: getCifarModel(arch, randomInitialisation(options, seed, log)), featureModule, labels: cifar10Classes, transforms, weightsDescription: 'random' };
  }
  if (!isWeightsFile(weights)) {
    throw new InvalidArgumentError(
      `Expected a checkpoint file (${weightsFileExtensions.join(', ')}) for the weights of ${arch} but received ${JSON.stringify(weights)}: the CIFAR-10 models have no registry weights`,
    );
  }
  const file = await readWeightsFile(weights, dataParallelPrefix);
  const numClasses = classCountOf(file.stateDict, 'linear') ?? cifar10Classes.length;
  const model = getCifarModel(arch, { numClasses });
  loadInto(model, file, arch, weights);
  const labels = numClasses === cifar10Classes.length ? cifar10Classes : null;
  return { model, featureModule, labels, transforms, weightsDescription: weights };
}

/**
 * Builds the model `options.arch` names with its weights, and says how its inputs are preprocessed and
 * what its outputs mean. Registry weights are downloaded into PyTorch's cache when missing; a file's
 * `module.` key prefixes (DataParallel) are stripped; no weights: random initialisation, with a warning,
 * from `new Generator(seed)` when a seed is given, else from the process-wide generator.
 * @throws InvalidArgumentError for an unknown architecture (listing both families) or weights name;
 *   InvalidFileError / StateDictError for a file that cannot be read or does not fit.
 */
export async function loadModelSource(options: ResolvedModelOptions, log: ModelLogger, seed: number | null = null): Promise<ModelSource> {
  const { arch } = options;
  if ((listModels() as string[]).includes(arch)) return imagenetSource(options, log, seed);
  if ((listCifarModels() as string[]).includes(arch)) return cifarSource(options, log, seed);
  throw new InvalidArgumentError(
    `Expected an architecture, one of ${listModels().join(', ')} (ImageNet) or ${listCifarModels().join(', ')} (CIFAR-10), for model ${JSON.stringify(options.name)} but received ${JSON.stringify(arch)}`,
  );
}
