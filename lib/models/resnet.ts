/**
 * torchvision's `models/resnet.py`, class for class: `conv3x3`/`conv1x1`, `BasicBlock`, `Bottleneck`
 * (stride on the 3×3, "ResNet v1.5"), `ResNet` and the ten builders. Attribute names are torchvision's,
 * so state-dict keys (`layer1.0.downsample.1.running_var`) and parameter counts match exactly.
 * This file only describes the networks; running them is the runtime's business.
 * @module
 */
import { InvalidArgumentError, UnsupportedError, invalidArgument } from '../errors.js';
import { Generator, resolveGenerator } from '../random.js';
import { Tensor } from '../tensor.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { Conv2d } from '../nn/conv.js';
import { constant_, kaimingNormal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module, type ForwardOptions } from '../nn/module.js';
import type { ComputeDType, DeviceSpec } from '../nn/placement.js';
import { checkBoolean, checkInt, checkOptions } from '../nn/options.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { Sequential } from '../nn/sequential.js';
import type { TraceValue, Tracer } from '../nn/trace.js';
import { getModelWeights, type Weights } from './weights.js';

/** Builds the normalisation layer for a number of channels (torchvision's `norm_layer`; default `BatchNorm2d`). */
export type NormLayer = (numFeatures: number) => Module;

const defaultNormLayer: NormLayer = (numFeatures) => new BatchNorm2d(numFeatures);

function checkNormLayer(normLayer: unknown): NormLayer {
  if (normLayer === undefined || normLayer === null) return defaultNormLayer;
  if (typeof normLayer !== 'function') throw invalidArgument('a function (numFeatures) => Module, or null', 'normLayer', normLayer);
  return normLayer as NormLayer;
}

/** 3×3 convolution with padding (= dilation), no bias. */
export function conv3x3(inPlanes: number, outPlanes: number, stride = 1, groups = 1, dilation = 1, generator?: Generator): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: dilation, groups, bias: false, dilation, generator });
}

/** 1×1 convolution, no bias. */
export function conv1x1(inPlanes: number, outPlanes: number, stride = 1, generator?: Generator): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false, generator });
}

/** Options of a residual block (torchvision's keyword arguments, camelCase). */
export interface BlockOptions {
  /** Stride of the block (on its 3×3 convolution); default 1. */
  stride?: number;
  /** Projection of the shortcut when shapes change (`Sequential(conv1x1, norm)`), or null. */
  downsample?: Module | null;
  /** Groups of the 3×3 convolution (ResNeXt's cardinality); default 1. */
  groups?: number;
  /** Channels per group at 64 planes; default 64. */
  baseWidth?: number;
  /** Dilation of the 3×3 convolution; default 1. */
  dilation?: number;
  /** Default BatchNorm2d. */
  normLayer?: NormLayer | null;
  /** Random source of the initial weights (default: the process-wide generator). */
  generator?: Generator;
}

const blockOptionNames = ['stride', 'downsample', 'groups', 'baseWidth', 'dilation', 'normLayer', 'generator'] as const;

function blockSettings(options: BlockOptions | undefined, where: string) {
  const opts = checkOptions(options, blockOptionNames, where);
  const downsample = opts.downsample ?? null;
  if (downsample !== null && !(downsample instanceof Module)) throw invalidArgument('a Module or null', 'downsample', downsample);
  return {
    stride: checkInt(opts.stride ?? 1, 'stride'),
    downsample,
    groups: checkInt(opts.groups ?? 1, 'groups'),
    baseWidth: checkInt(opts.baseWidth ?? 64, 'baseWidth'),
    dilation: checkInt(opts.dilation ?? 1, 'dilation'),
    normLayer: checkNormLayer(opts.normLayer),
    generator: resolveGenerator(opts.generator),
  };
}

/** A residual block class as `ResNet` uses it: a constructor and the channel `expansion` of its output. */
export interface BlockClass {
  readonly expansion: number;
  new (inplanes: number, planes: number, options?: BlockOptions): Module;
}

/** Two 3×3 convolutions with a shortcut (ResNet-18/34). */
export class BasicBlock extends Module {
  /** Output channels = planes × expansion. */
  static readonly expansion: number = 1;
  declare conv1: Conv2d;
  declare bn1: Module;
  declare relu: ReLU;
  declare conv2: Conv2d;
  declare bn2: Module;
  /** The shortcut's projection, or null when the shortcut is the identity. */
  declare downsample: Module | null;
  /** The block's stride. */
  readonly stride: number;

  constructor(inplanes: number, planes: number, options?: BlockOptions) {
    super();
    const { stride, downsample, groups, baseWidth, dilation, normLayer, generator } = blockSettings(options, 'BasicBlock');
    if (groups !== 1 || baseWidth !== 64) {
      throw new InvalidArgumentError('BasicBlock only supports groups=1 and base_width=64');
    }
    if (dilation > 1) throw new UnsupportedError('Dilation > 1 not supported in BasicBlock');
    // Both self.conv1 and self.downsample downsample the input when stride != 1.
    this.conv1 = this.registerModule('conv1', conv3x3(inplanes, planes, stride, 1, 1, generator));
    this.bn1 = this.registerModule('bn1', normLayer(planes));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes, 1, 1, 1, generator));
    this.bn2 = this.registerModule('bn2', normLayer(planes));
    this.downsample = this.registerModule('downsample', downsample);
    this.stride = stride;
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    let out = t.call(this.conv1, x);
    out = t.call(this.bn1, out);
    out = t.call(this.relu, out);
    out = t.call(this.conv2, out);
    out = t.call(this.bn2, out);
    const identity = this.downsample ? t.call(this.downsample, x) : x;
    out = t.add(out, identity);
    return t.call(this.relu, out);
  }
}

/**
 * 1×1 reduce, 3×3 (grouped for ResNeXt, with the block's stride: "ResNet v1.5"), 1×1 expand, with a
 * shortcut (ResNet-50/101/152, ResNeXt, Wide ResNet).
 */
export class Bottleneck extends Module {
  /** Output channels = planes × expansion. */
  static readonly expansion: number = 4;
  declare conv1: Conv2d;
  declare bn1: Module;
  declare conv2: Conv2d;
  declare bn2: Module;
  declare conv3: Conv2d;
  declare bn3: Module;
  declare relu: ReLU;
  /** The shortcut's projection, or null when the shortcut is the identity. */
  declare downsample: Module | null;
  /** The block's stride. */
  readonly stride: number;

  constructor(inplanes: number, planes: number, options?: BlockOptions) {
    super();
    const { stride, downsample, groups, baseWidth, dilation, normLayer, generator } = blockSettings(options, 'Bottleneck');
    const width = Math.trunc(planes * (baseWidth / 64)) * groups;
    const outPlanes = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule('conv1', conv1x1(inplanes, width, 1, generator));
    this.bn1 = this.registerModule('bn1', normLayer(width));
    this.conv2 = this.registerModule('conv2', conv3x3(width, width, stride, groups, dilation, generator));
    this.bn2 = this.registerModule('bn2', normLayer(width));
    this.conv3 = this.registerModule('conv3', conv1x1(width, outPlanes, 1, generator));
    this.bn3 = this.registerModule('bn3', normLayer(outPlanes));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.downsample = this.registerModule('downsample', downsample);
    this.stride = stride;
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    let out = t.call(this.conv1, x);
    out = t.call(this.bn1, out);
    out = t.call(this.relu, out);
    out = t.call(this.conv2, out);
    out = t.call(this.bn2, out);
    out = t.call(this.relu, out);
    out = t.call(this.conv3, out);
    out = t.call(this.bn3, out);
    const identity = this.downsample ? t.call(this.downsample, x) : x;
    out = t.add(out, identity);
    return t.call(this.relu, out);
  }
}

/** Options of {@link ResNet} (torchvision's keyword arguments, camelCase). */
export interface ResNetOptions {
  /** Outputs of the final `fc` layer; default 1000. */
  numClasses?: number;
  /**
   * Zero-initialise the last BN of each residual branch, so that every block starts as the identity
   * (https://arxiv.org/abs/1706.02677); default false.
   */
  zeroInitResidual?: boolean;
  /** Groups of every 3×3 convolution (ResNeXt's cardinality); default 1. */
  groups?: number;
  /** Channels per group at 64 planes (ResNeXt's bottleneck width; 128 for Wide ResNet); default 64. */
  widthPerGroup?: number;
  /** For layer2, layer3, layer4: replace the stride 2 with dilation (segmentation backbones); default none. */
  replaceStrideWithDilation?: readonly [boolean, boolean, boolean] | null;
  /** Default BatchNorm2d. */
  normLayer?: NormLayer | null;
  /** Random source of the initial weights (default: the process-wide generator). */
  generator?: Generator;
}

const resNetOptionNames = [
  'numClasses', 'zeroInitResidual', 'groups', 'widthPerGroup', 'replaceStrideWithDilation', 'normLayer', 'generator',
] as const;

function checkDilationFlags(value: unknown): [boolean, boolean, boolean] {
  if (value === undefined || value === null) return [false, false, false];
  if (!Array.isArray(value) || value.length !== 3) {
    let shown: string;
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = String(value);
    }
    throw new InvalidArgumentError(`replaceStrideWithDilation should be null or a 3-element array, got ${shown}`);
  }
  return value.map((flag, i) => checkBoolean(flag, `replaceStrideWithDilation[${i}]`)) as [boolean, boolean, boolean];
}

/** The residual network of He et al., as torchvision builds it. */
export class ResNet extends Module {
  declare conv1: Conv2d;
  declare bn1: Module;
  declare relu: ReLU;
  declare maxpool: MaxPool2d;
  declare layer1: Sequential;
  declare layer2: Sequential;
  declare layer3: Sequential;
  declare layer4: Sequential;
  declare avgpool: AdaptiveAvgPool2d;
  declare fc: Linear;
  /** Groups of the blocks' 3×3 convolutions. */
  readonly groups: number;
  /** Channels per group at 64 planes (torchvision's `base_width`). */
  readonly baseWidth: number;
  /** Channels entering the next layer `_makeLayer` builds. */
  protected inplanes = 64;
  /** Dilation reached so far by `_makeLayer` (grows where a stride is replaced). */
  protected dilation = 1;
  private readonly normLayer: NormLayer;
  private readonly generator: Generator;

  /**
   * @param block `BasicBlock` or `Bottleneck` (or a class of the same shape).
   * @param layers Number of blocks in layer1..layer4 (`[3, 4, 6, 3]` for ResNet-50).
   */
  constructor(block: BlockClass, layers: readonly [number, number, number, number], options?: ResNetOptions) {
    super();
    const opts = checkOptions(options, resNetOptionNames, 'ResNet');
    if (typeof block !== 'function' || typeof block.expansion !== 'number') {
      throw invalidArgument('a block class with a static expansion (BasicBlock or Bottleneck)', 'block', block);
    }
    if (!Array.isArray(layers) || layers.length !== 4) throw invalidArgument('4 block counts', 'layers', layers);
    layers.forEach((n, i) => checkInt(n, `layers[${i}]`));
    const numClasses = checkInt(opts.numClasses ?? 1000, 'numClasses');
    const zeroInitResidual = checkBoolean(opts.zeroInitResidual ?? false, 'zeroInitResidual');
    const dilate = checkDilationFlags(opts.replaceStrideWithDilation);
    this.normLayer = checkNormLayer(opts.normLayer);
    this.generator = resolveGenerator(opts.generator);
    this.groups = checkInt(opts.groups ?? 1, 'groups');
    this.baseWidth = checkInt(opts.widthPerGroup ?? 64, 'widthPerGroup');

    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(3, this.inplanes, 7, { stride: 2, padding: 3, bias: false, generator: this.generator }),
    );
    this.bn1 = this.registerModule('bn1', this.normLayer(this.inplanes));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    this.layer1 = this.registerModule('layer1', this._makeLayer(block, 64, layers[0]));
    this.layer2 = this.registerModule('layer2', this._makeLayer(block, 128, layers[1], 2, dilate[0]));
    this.layer3 = this.registerModule('layer3', this._makeLayer(block, 256, layers[2], 2, dilate[1]));
    this.layer4 = this.registerModule('layer4', this._makeLayer(block, 512, layers[3], 2, dilate[2]));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.fc = this.registerModule('fc', new Linear(512 * block.expansion, numClasses, { generator: this.generator }));

    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu', generator: this.generator });
      } else if (m instanceof BatchNorm2d) {
        constant_(m.weight, 1);
        constant_(m.bias, 0);
      }
    }
    if (zeroInitResidual) {
      for (const m of this.modules()) {
        const lastNorm = m instanceof Bottleneck ? m.bn3 : m instanceof BasicBlock ? m.bn2 : null;
        const weight = lastNorm && (lastNorm as { weight?: unknown }).weight;
        if (weight instanceof Tensor) constant_(weight, 0);
      }
    }
  }

  /** torchvision's `_make_layer`: `blocks` blocks of `planes`, the first one striding (or dilating) and projecting. */
  protected _makeLayer(block: BlockClass, planes: number, blocks: number, stride = 1, dilate = false): Sequential {
    const normLayer = this.normLayer;
    const generator = this.generator;
    let downsample: Module | null = null;
    const previousDilation = this.dilation;
    if (dilate) {
      this.dilation *= stride;
      stride = 1;
    }
    if (stride !== 1 || this.inplanes !== planes * block.expansion) {
      downsample = new Sequential(conv1x1(this.inplanes, planes * block.expansion, stride, generator), normLayer(planes * block.expansion));
    }
    const layers: Module[] = [];
    layers.push(
      new block(this.inplanes, planes, {
        stride, downsample, groups: this.groups, baseWidth: this.baseWidth, dilation: previousDilation, normLayer, generator,
      }),
    );
    this.inplanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++) {
      layers.push(
        new block(this.inplanes, planes, { groups: this.groups, baseWidth: this.baseWidth, dilation: this.dilation, normLayer, generator }),
      );
    }
    return new Sequential(...layers);
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    let y = t.call(this.conv1, x);
    y = t.call(this.bn1, y);
    y = t.call(this.relu, y);
    y = t.call(this.maxpool, y);
    y = t.call(this.layer1, y);
    y = t.call(this.layer2, y);
    y = t.call(this.layer3, y);
    y = t.call(this.layer4, y);
    y = t.call(this.avgpool, y);
    y = t.flatten(y);
    return t.call(this.fc, y);
  }

  /**
   * The embedding: the pooled features `fc` reads, `[N, 512·expansion]` (2048 for ResNet-50, 512 for
   * ResNet-18), for image similarity. Runs the network up to `avgpool` only (no `fc`); the same values as
   * `forwardNodes(x, ['avgpool'])` flattened, as torchvision's `torch.flatten(model.avgpool(…), 1)`.
   * `options.signal` cancels it as `forward`'s does.
   */
  async forwardFeatures(x: Tensor, options?: ForwardOptions): Promise<Tensor<'float32'>> {
    const { avgpool } = await this.forwardNodes(x, ['avgpool'], options);
    const [batch, ...sample] = avgpool.shape;
    return Tensor.from(avgpool.data as Float32Array, [batch!, sample.reduce((a, b) => a * b, 1)]);
  }
}

/**
 * Options of the model builders (`resnet50(options)`): {@link ResNetOptions} plus `weights` and the
 * placement (`device`, `dtype`, applied with `model.to(...)`).
 */
export interface ResNetFactoryOptions extends ResNetOptions {
  /**
   * Pretrained weights (torchvision's `weights=`): an entry of the model's family
   * (`ResNet50_Weights.IMAGENET1K_V2`), its name (`'IMAGENET1K_V2'`, `'DEFAULT'`,
   * `'ResNet50_Weights.IMAGENET1K_V2'`), or null/undefined for random initialisation. `numClasses`
   * becomes the number of categories. The factory is synchronous, so the checkpoint must already be in
   * PyTorch's cache (`$TORCH_HOME/hub/checkpoints`, where PyTorch itself puts it); otherwise it throws
   * an `UnsupportedError` naming the call that downloads it: `await loadPretrained('resnet50', 'IMAGENET1K_V2')`.
   */
  weights?: Weights | string | null;
  /**
   * Where the model runs: `'cpu'` (default), `'cuda'`, `'cuda:N'` or `'auto'` (the GPU when one works,
   * else the CPU in float32; `model.device` says which). See `Module.to`.
   */
  device?: DeviceSpec;
  /** Compute dtype: `'float32'` (default), `'tf32'`, `'float16'` or `'bfloat16'` (the last three on a GPU). */
  dtype?: ComputeDType;
}

const factoryOptionNames = ['weights', 'device', 'dtype', ...resNetOptionNames] as const;

/** torchvision's `_ovewrite_named_param`: a variant's fixed setting may be repeated but not changed. */
function fixed(options: ResNetFactoryOptions, name: 'groups' | 'widthPerGroup' | 'numClasses', value: number): void {
  const given = options[name];
  if (given !== undefined && given !== value) {
    throw new InvalidArgumentError(`The parameter '${name}' expected value ${value} but got ${String(given)} instead.`);
  }
}

function build(
  name: string,
  block: BlockClass,
  layers: readonly [number, number, number, number],
  options: ResNetFactoryOptions | undefined,
  preset: { groups?: number; widthPerGroup?: number } = {},
): ResNet {
  const { weights, device, dtype, ...rest } = checkOptions(options, factoryOptionNames, name);
  const pretrained = getModelWeights(name).verify(weights);
  // torchvision's _resnet: the weights fix num_classes to their number of categories.
  if (pretrained) fixed(rest, 'numClasses', pretrained.meta.categories.length);
  if (preset.groups !== undefined) fixed(rest, 'groups', preset.groups);
  if (preset.widthPerGroup !== undefined) fixed(rest, 'widthPerGroup', preset.widthPerGroup);
  const model = new ResNet(block, layers, { ...rest, ...preset });
  if (pretrained) model.loadStateDict(pretrained.getCachedStateDict());
  // Left out, the placement stays the default without asking the runtime (as for a bare `new ResNet`).
  if (device !== undefined || dtype !== undefined) {
    model.to({ ...(device === undefined ? {} : { device }), ...(dtype === undefined ? {} : { dtype }) });
  }
  return model;
}

/**
 * ResNet-18 (He et al., 2016): BasicBlock × [2, 2, 2, 2], 11.7 M parameters.
 * @example
 * ```ts
 * import { resnet18, Tensor } from 'resnet-cudnn';
 * const model = resnet18();                                  // torchvision's random initialisation, on the CPU
 * const logits = await model.forward(Tensor.zeros([2, 3, 224, 224]));   // Tensor [2, 1000]
 * ```
 */
export function resnet18(options?: ResNetFactoryOptions): ResNet {
  return build('resnet18', BasicBlock, [2, 2, 2, 2], options);
}

/** ResNet-34: BasicBlock × [3, 4, 6, 3], 21.8 M parameters. */
export function resnet34(options?: ResNetFactoryOptions): ResNet {
  return build('resnet34', BasicBlock, [3, 4, 6, 3], options);
}

/**
 * ResNet-50 (v1.5: stride on the 3×3): Bottleneck × [3, 4, 6, 3], 25.6 M parameters.
 * @example
 * ```ts
 * import { resnet50, loadSafetensors } from 'resnet-cudnn';
 * const model = resnet50({ device: 'auto', dtype: 'float16' });   // the GPU when one works, else the CPU (float32)
 * model.loadStateDict(await loadSafetensors('resnet50.safetensors'));   // torchvision's keys, strict
 * const cached = resnet50({ weights: 'IMAGENET1K_V2' });   // when loadPretrained has downloaded them before
 * ```
 */
export function resnet50(options?: ResNetFactoryOptions): ResNet {
  return build('resnet50', Bottleneck, [3, 4, 6, 3], options);
}

/** ResNet-101: Bottleneck × [3, 4, 23, 3], 44.5 M parameters. */
export function resnet101(options?: ResNetFactoryOptions): ResNet {
  return build('resnet101', Bottleneck, [3, 4, 23, 3], options);
}

/** ResNet-152: Bottleneck × [3, 8, 36, 3], 60.2 M parameters. */
export function resnet152(options?: ResNetFactoryOptions): ResNet {
  return build('resnet152', Bottleneck, [3, 8, 36, 3], options);
}

/** ResNeXt-50 32×4d (Xie et al., 2017): 32 groups of width 4, 25.0 M parameters. */
export function resnext50_32x4d(options?: ResNetFactoryOptions): ResNet {
  return build('resnext50_32x4d', Bottleneck, [3, 4, 6, 3], options, { groups: 32, widthPerGroup: 4 });
}

/** ResNeXt-101 32×8d: 32 groups of width 8, 88.8 M parameters. */
export function resnext101_32x8d(options?: ResNetFactoryOptions): ResNet {
  return build('resnext101_32x8d', Bottleneck, [3, 4, 23, 3], options, { groups: 32, widthPerGroup: 8 });
}

/** ResNeXt-101 64×4d: 64 groups of width 4, 83.5 M parameters. */
export function resnext101_64x4d(options?: ResNetFactoryOptions): ResNet {
  return build('resnext101_64x4d', Bottleneck, [3, 4, 23, 3], options, { groups: 64, widthPerGroup: 4 });
}

/** Wide ResNet-50-2 (Zagoruyko & Komodakis, 2016): bottlenecks twice as wide, 68.9 M parameters. */
export function wide_resnet50_2(options?: ResNetFactoryOptions): ResNet {
  return build('wide_resnet50_2', Bottleneck, [3, 4, 6, 3], options, { widthPerGroup: 64 * 2 });
}

/** Wide ResNet-101-2: bottlenecks twice as wide, 126.9 M parameters. */
export function wide_resnet101_2(options?: ResNetFactoryOptions): ResNet {
  return build('wide_resnet101_2', Bottleneck, [3, 4, 23, 3], options, { widthPerGroup: 64 * 2 });
}
