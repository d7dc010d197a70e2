/**
 * `loadPretrained`: the asynchronous way to get a model with pretrained weights, downloading the
 * checkpoint into PyTorch's cache when it is not there. The model factories themselves are synchronous
 * (as torchvision's), and Node cannot download synchronously: `resnet50({ weights })` reads a checkpoint
 * that is already cached and otherwise names this function.
 *
 * ```ts
 * const model = await loadPretrained('resnet50', 'IMAGENET1K_V2', { device: 'auto' });
 * const again = resnet50({ weights: 'IMAGENET1K_V2' });   // now cached: synchronous
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { checkOptions } from '../nn/options.js';
import { getModel } from './registry.js';
import type { ResNet, ResNetFactoryOptions } from './resnet.js';
import { Weights, getModelWeights, type GetStateDictOptions } from './weights.js';

/** Options of {@link loadPretrained}: the factory's options (less `weights`) and the download's. */
export interface LoadPretrainedOptions extends Omit<ResNetFactoryOptions, 'weights'>, GetStateDictOptions {}

const downloadOptionNames = ['dir', 'progress', 'retries', 'retryDelayMs', 'maxRedirects', 'timeoutMs', 'maxBytes', 'signal', 'dispatcher'] as const;
const factoryOptionNames = [
  'numClasses', 'zeroInitResidual', 'groups', 'widthPerGroup', 'replaceStrideWithDilation', 'normLayer', 'generator',
  'device', 'dtype',
] as const;

/**
 * Builds `modelName` (`'resnet50'`, any name of `listModels()`) with pretrained `weights` (an entry of
 * the model's family, or its name: `'IMAGENET1K_V2'`, `'DEFAULT'` (the default), `'ResNet50_Weights.IMAGENET1K_V2'`),
 * downloading the checkpoint into PyTorch's cache first when it is not there (hash-checked; a progress
 * bar on stderr when it is a terminal or `progress: true`). The weights may be left out:
 * `loadPretrained('resnet50', { signal })` takes the DEFAULT ones.
 *
 * `signal` cancels the download: the promise rejects with the signal's reason (an `AbortError` by
 * default), and the bytes received so far are kept for the next call to resume.
 * @throws InvalidArgumentError for an unknown model, or weights that are not of the model's family.
 * @throws DownloadError / InvalidFileError when the download fails or its hash is wrong.
 * @example
 * ```ts
 * import { loadPretrained } from 'resnet-cudnn';
 * const model = await loadPretrained('resnet50', 'IMAGENET1K_V2', { device: 'auto' });   // downloads once
 * const other = await loadPretrained('resnet18');   // the DEFAULT weights
 * ```
 */
export async function loadPretrained(modelName: string, options?: LoadPretrainedOptions): Promise<ResNet>;
export async function loadPretrained(modelName: string, weights?: Weights | string, options?: LoadPretrainedOptions): Promise<ResNet>;
export async function loadPretrained(
  modelName: string,
  weightsOrOptions: Weights | string | LoadPretrainedOptions = 'DEFAULT',
  options: LoadPretrainedOptions = {},
): Promise<ResNet> {
  let weights = weightsOrOptions as Weights | string;
  if (weightsOrOptions !== null && typeof weightsOrOptions === 'object' && !(weightsOrOptions instanceof Weights)) {
    weights = 'DEFAULT';
    options = weightsOrOptions;
  }
  const family = getModelWeights(modelName);
  const entry = family.verify(weights);
  if (entry === null) throw new InvalidArgumentError(`loadPretrained needs weights (an entry of ${family.enumName} or its name), got ${String(weights)}`);
  const all = checkOptions(options, [...factoryOptionNames, ...downloadOptionNames], 'loadPretrained');
  const download: GetStateDictOptions = {};
  const factory: ResNetFactoryOptions = {};
  for (const [key, value] of Object.entries(all)) {
    if ((downloadOptionNames as readonly string[]).includes(key)) (download as Record<string, unknown>)[key] = value;
    else (factory as Record<string, unknown>)[key] = value;
  }
  const stateDict = await entry.getStateDict(download);
  const { device, dtype, ...architecture } = factory;
  // torchvision's _resnet: the weights fix num_classes to their number of categories.
  const numClasses = entry.meta.categories.length;
  if (architecture.numClasses !== undefined && architecture.numClasses !== numClasses) {
    throw new InvalidArgumentError(`The parameter 'numClasses' expected value ${numClasses} but got ${String(architecture.numClasses)} instead.`);
  }
  architecture.numClasses = numClasses;
  const model = getModel(modelName, { ...architecture, weights: null });
  model.loadStateDict(stateDict);
  if (device !== undefined || dtype !== undefined) {
    model.to({ ...(device === undefined ? {} : { device }), ...(dtype === undefined ? {} : { dtype }) });
  }
  return model;
}
