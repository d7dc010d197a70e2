/**
 * The pretrained-weights registry, like torchvision's `weights=` API: `ResNet50_Weights.IMAGENET1K_V2`,
 * `ResNet50_Weights.DEFAULT`, each entry with its URL, the SHA-256 prefix its file name declares, its
 * preprocessing (`transforms()`) and its published metadata.
 *
 * Every number below is torchvision's own, from `torchvision/models/resnet.py`: URLs, `num_params`,
 * `recipe`, `acc@1`/`acc@5` and the `ImageClassification` arguments as in torchvision 0.14.1 (identical in
 * later releases); `_ops` (GFLOPS) and `_file_size` (MB) were added in torchvision 0.15 and are copied
 * from that file. `ImageClassification`'s defaults (resize 256, bilinear, mean/std) are those of
 * `torchvision/transforms/_presets.py`; `antialias=True` is its default from 0.15 on (PIL resizing,
 * which older releases used for images, always antialiases).
 *
 * The files are PyTorch zip checkpoints kept in PyTorch's own cache (see `io/download.ts`).
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, InvalidFileError, UnsupportedError, invalidArgument } from '../errors.js';
import { IMAGENET_CATEGORIES } from '../data/imagenet-classes.js';
import { checkpointsDir, downloadToCache, fileNameOf, hashPrefixOf, type DownloadOptions } from '../io/download.js';
import { extractStateDict, loadStateDictFile, parseCheckpoint } from '../io/torch.js';
import type { StateDict } from '../nn/module.js';

/** Interpolation of the resize step (torchvision's `InterpolationMode`, lower case). */
export type Interpolation = 'nearest' | 'bilinear' | 'bicubic';

/**
 * torchvision's `ImageClassification` preset: resize the shorter side to `resizeSize`, centre-crop
 * `cropSize`, scale to [0, 1], normalise with `mean`/`std` (per RGB channel).
 */
export interface ImageClassificationTransforms {
  readonly resizeSize: number;
  readonly cropSize: number;
  readonly interpolation: Interpolation;
  readonly antialias: boolean;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** Published metrics of one dataset (torchvision's `_metrics[dataset]`), in percent. */
export interface WeightsMetrics {
  readonly 'acc@1': number;
  readonly 'acc@5': number;
}

/** What torchvision publishes about a set of weights (its `meta`, camelCase, `_` dropped). */
export interface WeightsMeta {
  /** Number of parameters of the model the weights fit. */
  readonly numParams: number;
  /** Class names, index = output index (ImageNet's 1000 here). */
  readonly categories: readonly string[];
  /** Smallest input height and width the model accepts. */
  readonly minSize: readonly [number, number];
  /** Accuracy as published, per dataset (`'ImageNet-1K'`). */
  readonly metrics: Readonly<Record<string, WeightsMetrics>>;
  /** GFLOPS of one forward pass at the crop size (torchvision's `_ops`). */
  readonly ops: number;
  /** Size of the checkpoint file in MB (torchvision's `_file_size`). */
  readonly fileSize: number;
  /** How the weights were trained. */
  readonly recipe: string;
}

/** What {@link Weights} is built from. */
export interface WeightsInit {
  /** Where the checkpoint is downloaded from (http or https). */
  url: string;
  /** The family the entry belongs to (`'ResNet50_Weights'`); a factory accepts entries of its own family. */
  enumName: string;
  /** The entry's name in its family (`'IMAGENET1K_V2'`). */
  name: string;
  /** The model builder the weights fit (`'resnet50'`), named in messages. */
  modelName: string;
  /** torchvision's `ImageClassification` arguments; `cropSize` is required, the rest have its defaults. */
  transforms: Partial<ImageClassificationTransforms> & { cropSize: number };
  meta: WeightsMeta;
  /** Name in the cache folder; default the URL's last path part (as torch.hub). */
  fileName?: string;
  /** Expected SHA-256 prefix; default the one the file name declares; null: no check. */
  hashPrefix?: string | null;
}

/** Options of {@link Weights.getStateDict}: where and how to download (see {@link DownloadOptions}). */
export type GetStateDictOptions = Omit<DownloadOptions, 'fileName' | 'hashPrefix'>;

/** One set of pretrained weights (torchvision's `Weights` / a `WeightsEnum` member). */
export class Weights {
  readonly url: string;
  readonly enumName: string;
  readonly name: string;
  readonly modelName: string;
  readonly meta: WeightsMeta;
  /** The file's name in the cache folder. */
  readonly fileName: string;
  /** The SHA-256 prefix a download must have, or null when none is checked. */
  readonly hashPrefix: string | null;
  private readonly preset: ImageClassificationTransforms;

  constructor(init: WeightsInit) {
    if (init === null || typeof init !== 'object') throw invalidArgument('a WeightsInit object', 'init', init);
    for (const key of ['url', 'enumName', 'name', 'modelName'] as const) {
      if (typeof init[key] !== 'string' || init[key] === '') throw invalidArgument('a non-empty string', key, init[key]);
    }
    this.url = init.url;
    this.enumName = init.enumName;
    this.name = init.name;
    this.modelName = init.modelName;
    this.meta = Object.freeze({ ...init.meta });
    this.fileName = init.fileName ?? fileNameOf(init.url);
    this.hashPrefix = init.hashPrefix === undefined ? hashPrefixOf(this.fileName) ?? null : init.hashPrefix;
    // torchvision/transforms/_presets.py, ImageClassification.__init__ defaults.
    this.preset = Object.freeze({
      resizeSize: 256,
      interpolation: 'bilinear',
      antialias: true,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      ...init.transforms,
    } as ImageClassificationTransforms);
    Object.freeze(this);
  }

  /** The preprocessing these weights were evaluated with (torchvision's `weights.transforms()`). */
  transforms(): ImageClassificationTransforms {
    return this.preset;
  }

  /** `'ResNet50_Weights.IMAGENET1K_V2'`, torchvision's `repr`. */
  toString(): string {
    return `${this.enumName}.${this.name}`;
  }

  /** Where the file is (or will be) in the cache: `dir` (default PyTorch's) joined with {@link fileName}. */
  cachedPath(dir: string = checkpointsDir()): string {
    return join(dir, this.fileName);
  }

  /** Downloads the checkpoint into the cache unless it is there already; resolves to its path. */
  async download(options: GetStateDictOptions = {}): Promise<string> {
    return downloadToCache(this.url, { ...options, fileName: this.fileName, hashPrefix: this.hashPrefix });
  }

  /** The weights' state dict, downloading the file first when it is not cached (torchvision's `get_state_dict`). */
  async getStateDict(options: GetStateDictOptions = {}): Promise<StateDict> {
    const path = await this.download(options);
    try {
      return await loadStateDictFile(path);
    } catch (cause) {
      throw this.unreadable(path, cause);
    }
  }

  /**
   * The state dict read synchronously from the cache, for the synchronous model factories.
   * @throws UnsupportedError when the file is not cached (a download cannot be synchronous); the
   *   message names the asynchronous call that downloads it.
   */
  getCachedStateDict(dir: string = checkpointsDir()): StateDict {
    const path = this.cachedPath(dir);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw this.unreadable(path, cause);
      throw new UnsupportedError(
        `${this} is not in the cache (${path}) and ${this.modelName}() cannot download synchronously: ` +
          `use await loadPretrained('${this.modelName}', '${this.name}') (downloads, checks the hash, caches), ` +
          `or await ${this}.download() before building the model`,
        { cause },
      );
    }
    try {
      return extractStateDict(parseCheckpoint(bytes));
    } catch (cause) {
      throw this.unreadable(path, cause);
    }
  }

  private unreadable(path: string, cause: unknown): InvalidFileError {
    return new InvalidFileError(
      `Cannot read the checkpoint of ${this} at ${path}: ${(cause as Error).message} (delete the file to download it again)`,
      { cause },
    );
  }
}

/** A family of weights for one model (torchvision's `WeightsEnum` subclass), e.g. `ResNet50_Weights`. */
export type WeightsEnum<K extends string = never> = { readonly [P in K]: Weights } & WeightsEnumMethods;

/** What every weights family offers besides its members. */
export interface WeightsEnumMethods {
  /** The family's name, `'ResNet50_Weights'`. */
  readonly enumName: string;
  /** The model builder the family fits, `'resnet50'`. */
  readonly modelName: string;
  /** The recommended entry (torchvision's `DEFAULT` alias). */
  readonly DEFAULT: Weights;
  /** The entries, without the `DEFAULT` alias, in publication order. */
  members(): Weights[];
  /** The entry of that name (`'IMAGENET1K_V2'` or `'DEFAULT'`); torchvision's `from_str`. */
  fromStr(name: string): Weights;
  /**
   * torchvision's `verify`: null/undefined → null; a name (`'IMAGENET1K_V2'`, `'DEFAULT'`,
   * `'ResNet50_Weights.IMAGENET1K_V2'`) → its entry; a {@link Weights} of this family → itself.
   */
  verify(weights: unknown): Weights | null;
}

function defineWeights<K extends string>(
  enumName: string,
  modelName: string,
  defaultName: NoInfer<K>,
  entries: Record<K, Omit<WeightsInit, 'enumName' | 'name' | 'modelName'>>,
): WeightsEnum<K> {
  const members = new Map<string, Weights>();
  for (const [name, init] of Object.entries(entries) as [K, Omit<WeightsInit, 'enumName' | 'name' | 'modelName'>][]) {
    members.set(name, new Weights({ ...init, enumName, name, modelName }));
  }
  const fromStr = (name: string): Weights => {
    const found = name === 'DEFAULT' ? members.get(defaultName) : members.get(name);
    // torchvision's StrEnumMeta.from_str wording.
    if (!found) throw new InvalidArgumentError(`Unknown value '${name}' for ${enumName}.`);
    return found;
  };
  const family: WeightsEnumMethods = {
    enumName,
    modelName,
    DEFAULT: members.get(defaultName)!,
    members: () => [...members.values()],
    fromStr,
    verify(weights: unknown): Weights | null {
      if (weights === null || weights === undefined) return null;
      if (typeof weights === 'string') return fromStr(weights.replace(`${enumName}.`, ''));
      if (weights instanceof Weights && weights.enumName === enumName) return weights;
      const received = weights instanceof Weights ? weights.enumName : (weights as object).constructor?.name ?? typeof weights;
      // torchvision's WeightsEnum.verify wording.
      throw new InvalidArgumentError(`Invalid Weight class provided; expected ${enumName} but received ${received}.`);
    },
  };
  return Object.freeze(Object.assign(family, Object.fromEntries(members))) as unknown as WeightsEnum<K>;
}

// Shared by every entry (torchvision's _COMMON_META).
const common = { minSize: [1, 1] as const, categories: IMAGENET_CATEGORIES };
const recipeV1Resnet = 'https://github.com/pytorch/vision/tree/main/references/classification#resnet';
const recipeV1Resnext = 'https://github.com/pytorch/vision/tree/main/references/classification#resnext';
const recipeWide = 'https://github.com/pytorch/vision/pull/912#issue-445437439';
const recipeNew = 'https://github.com/pytorch/vision/issues/3995#new-recipe';
const recipeNewFixres = 'https://github.com/pytorch/vision/issues/3995#new-recipe-with-fixres';
// V1: ImageClassification(crop_size=224); V2 (TorchVision's new training recipe): resize_size=232.
const v1 = { cropSize: 224 };
const v2 = { cropSize: 224, resizeSize: 232 };
const imagenet = (acc1: number, acc5: number) => ({ 'ImageNet-1K': { 'acc@1': acc1, 'acc@5': acc5 } });
const base = 'https://download.pytorch.org/models/';

/** ResNet-18 weights. */
export const ResNet18_Weights = defineWeights('ResNet18_Weights', 'resnet18', 'IMAGENET1K_V1', {
  IMAGENET1K_V1: {
    url: `${base}resnet18-f37072fd.pth`, transforms: v1,
    meta: { ...common, numParams: 11689512, recipe: recipeV1Resnet, metrics: imagenet(69.758, 89.078), ops: 1.814, fileSize: 44.661 },
  },
});

/** ResNet-34 weights. */
export const ResNet34_Weights = defineWeights('ResNet34_Weights', 'resnet34', 'IMAGENET1K_V1', {
  IMAGENET1K_V1: {
    url: `${base}resnet34-b627a593.pth`, transforms: v1,
    meta: { ...common, numParams: 21797672, recipe: recipeV1Resnet, metrics: imagenet(73.314, 91.42), ops: 3.664, fileSize: 83.275 },
  },
});

/** ResNet-50 weights; DEFAULT is IMAGENET1K_V2. */
export const ResNet50_Weights = defineWeights('ResNet50_Weights', 'resnet50', 'IMAGENET1K_V2', {
  IMAGENET1K_V1: {
    url: `${base}resnet50-0676ba61.pth`, transforms: v1,
    meta: { ...common, numParams: 25557032, recipe: recipeV1Resnet, metrics: imagenet(76.13, 92.862), ops: 4.089, fileSize: 97.781 },
  },
  IMAGENET1K_V2: {
    url: `${base}resnet50-11ad3fa6.pth`, transforms: v2,
    meta: {
      ...common, numParams: 25557032, recipe: 'https://github.com/pytorch/vision/issues/3995#issuecomment-1013906621',
      metrics: imagenet(80.858, 95.434), ops: 4.089, fileSize: 97.79,
    },
  },
});

/** ResNet-101 weights; DEFAULT is IMAGENET1K_V2. */
export const ResNet101_Weights = defineWeights('ResNet101_Weights', 'resnet101', 'IMAGENET1K_V2', {
  IMAGENET1K_V1: {
    url: `${base}resnet101-63fe2227.pth`, transforms: v1,
    meta: { ...common, numParams: 44549160, recipe: recipeV1Resnet, metrics: imagenet(77.374, 93.546), ops: 7.801, fileSize: 170.511 },
  },
  IMAGENET1K_V2: {
    url: `${base}resnet101-cd907fc2.pth`, transforms: v2,
    meta: { ...common, numParams: 44549160, recipe: recipeNew, metrics: imagenet(81.886, 95.78), ops: 7.801, fileSize: 170.53 },
  },
});

/** ResNet-152 weights; DEFAULT is IMAGENET1K_V2. */
export const ResNet152_Weights = defineWeights('ResNet152_Weights', 'resnet152', 'IMAGENET1K_V2', {
  IMAGENET1K_V1: {
    url: `${base}resnet152-394f9c45.pth`, transforms: v1,
    meta: { ...common, numParams: 60192808, recipe: recipeV1Resnet, metrics: imagenet(78.312, 94.046), ops: 11.514, fileSize: 230.434 },
  },
  IMAGENET1K_V2: {
    url: `${base}resnet152-f82ba261.pth`, transforms: v2,
    meta: { ...common, numParams: 60192808, recipe: recipeNew, metrics: imagenet(82.284, 96.002), ops: 11.514, fileSize: 230.474 },
  },
});

/** ResNeXt-50 32×4d weights; DEFAULT is IMAGENET1K_V2. */
export const ResNeXt50_32X4D_Weights = defineWeights('ResNeXt50_32X4D_Weights', 'resnext50_32x4d', 'IMAGENET1K_V2', {
  IMAGENET1K_V1: {
    url: `${base}resnext50_32x4d-7cdf4587.pth`, transforms: v1,
    meta: { ...common, numParams: 25028904, recipe: recipeV1Resnext, metrics: imagenet(77.618, 93.698), ops: 4.23, fileSize: 95.789 },
  },
  IMAGENET1K_V2: {
    url: `${base}resnext50_32x4d-1a0047aa.pth`, transforms: v2,
    meta: { ...common, numParams: 25028904, recipe: recipeNew, metrics: imagenet(81.198, 95.34), ops: 4.23, fileSize: 95.833 },
  },
});

/** ResNeXt-101 32×8d weights; DEFAULT is IMAGENET1K_V2. */
export const ResNeXt101_32X8D_Weights = defineWeights('ResNeXt101_32X8D_Weights', 'resnext101_32x8d', 'IMAGENET1K_V2', {
  IMAGENET1K_V1: {
    url: `${base}resnext101_32x8d-8ba56ff5.pth`, transforms: v1,
    meta: { ...common, numParams: 88791336, recipe: recipeV1Resnext, metrics: imagenet(79.312, 94.526), ops: 16.414, fileSize: 339.586 },
  },
  IMAGENET1K_V2: {
    url: `${base}resnext101_32x8d-110c445d.pth`, transforms: v2,
    meta: { ...common, numParams: 88791336, recipe: recipeNewFixres, metrics: imagenet(82.834, 96.228), ops: 16.414, fileSize: 339.673 },
  },
});

/** ResNeXt-101 64×4d weights (one set, trained with the new recipe, so resize 232). */
export const ResNeXt101_64X4D_Weights = defineWeights('ResNeXt101_64X4D_Weights', 'resnext101_64x4d', 'IMAGENET1K_V1', {
  IMAGENET1K_V1: {
    url: `${base}resnext101_64x4d-173b62eb.pth`, transforms: v2,
    meta: {
      ...common, numParams: 83455272, recipe: 'https://github.com/pytorch/vision/pull/5935',
      metrics: imagenet(83.246, 96.454), ops: 15.46, fileSize: 319.318,
    },
  },
});

/** Wide ResNet-50-2 weights; DEFAULT is IMAGENET1K_V2. */
export const Wide_ResNet50_2_Weights = defineWeights('Wide_ResNet50_2_Weights', 'wide_resnet50_2', 'IMAGENET1K_V2', {
  IMAGENET1K_V1: {
    url: `${base}wide_resnet50_2-95faca4d.pth`, transforms: v1,
    meta: { ...common, numParams: 68883240, recipe: recipeWide, metrics: imagenet(78.468, 94.086), ops: 11.398, fileSize: 131.82 },
  },
  IMAGENET1K_V2: {
    url: `${base}wide_resnet50_2-9ba9bcbe.pth`, transforms: v2,
    meta: { ...common, numParams: 68883240, recipe: recipeNewFixres, metrics: imagenet(81.602, 95.758), ops: 11.398, fileSize: 263.124 },
  },
});

/** Wide ResNet-101-2 weights; DEFAULT is IMAGENET1K_V2. */
export const Wide_ResNet101_2_Weights = defineWeights('Wide_ResNet101_2_Weights', 'wide_resnet101_2', 'IMAGENET1K_V2', {
  IMAGENET1K_V1: {
    url: `${base}wide_resnet101_2-32ee1156.pth`, transforms: v1,
    meta: { ...common, numParams: 126886696, recipe: recipeWide, metrics: imagenet(78.848, 94.284), ops: 22.753, fileSize: 242.896 },
  },
  IMAGENET1K_V2: {
    url: `${base}wide_resnet101_2-d733dc28.pth`, transforms: v2,
    meta: { ...common, numParams: 126886696, recipe: recipeNew, metrics: imagenet(82.51, 96.02), ops: 22.753, fileSize: 484.747 },
  },
});

/** Each model builder's weights family (torchvision's `get_model_weights`). */
export const modelWeights: Readonly<Record<string, WeightsEnum>> = Object.freeze({
  resnet18: ResNet18_Weights,
  resnet34: ResNet34_Weights,
  resnet50: ResNet50_Weights,
  resnet101: ResNet101_Weights,
  resnet152: ResNet152_Weights,
  resnext50_32x4d: ResNeXt50_32X4D_Weights,
  resnext101_32x8d: ResNeXt101_32X8D_Weights,
  resnext101_64x4d: ResNeXt101_64X4D_Weights,
  wide_resnet50_2: Wide_ResNet50_2_Weights,
  wide_resnet101_2: Wide_ResNet101_2_Weights,
});

/** The weights family of a model builder (`getModelWeights('resnet50') === ResNet50_Weights`). */
export function getModelWeights(modelName: string): WeightsEnum {
  if (typeof modelName !== 'string' || !Object.prototype.hasOwnProperty.call(modelWeights, modelName)) {
    // torchvision's get_model_builder wording.
    throw new InvalidArgumentError(`Unknown model ${String(modelName)}`);
  }
  return modelWeights[modelName]!;
}

/** An entry by its full name, `'ResNet50_Weights.IMAGENET1K_V2'` (torchvision's `get_weight`). */
export function getWeight(name: string): Weights {
  const parts = typeof name === 'string' ? name.split('.') : [];
  if (parts.length !== 2) throw new InvalidArgumentError(`Invalid weight name provided: '${String(name)}'.`);
  const family = Object.values(modelWeights).find((f) => f.enumName === parts[0]);
  if (!family) throw new InvalidArgumentError(`The weight enum '${parts[0]}' for the specific method couldn't be retrieved.`);
  return family.fromStr(parts[1]!);
}
