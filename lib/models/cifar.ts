/**
 * The CIFAR-10 ResNets of He et al. (2016), §4.2, as github.com/akamaster/pytorch_resnet_cifar10 builds
 * them: 6n+2 layers (`resnet20` … `resnet1202`), 16/32/64 channels, `BasicBlock`s with parameter-free
 * "option A" shortcuts. Attribute names are upstream's, so its checkpoints' state dicts (after the
 * `module.` prefix that `DataParallel` adds is stripped) load with `strict`.
 *
 * Option A (`x[:, :, ::2, ::2]` zero-padded with planes/4 channels on each side) is traced as a 1×1
 * stride-2 convolution with fixed 0/1 weights: exact in float arithmetic (x·1 plus zeros), so the engine
 * needs no op of its own and the residual add still fuses into a convolution. Those weights are
 * constants of the architecture, not parameters: they are in no state dict.
 * @module
 */
import { InvalidArgumentError, UnsupportedError, invalidArgument } from '../errors.js';
import { Generator, resolveGenerator } from '../random.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { Conv2d } from '../nn/conv.js';
import { kaimingNormal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import type { ComputeDType, DeviceSpec } from '../nn/placement.js';
import { checkInt, checkOptions } from '../nn/options.js';
import { AdaptiveAvgPool2d } from '../nn/pooling.js';
import { Sequential } from '../nn/sequential.js';
import type { TraceValue, Tracer } from '../nn/trace.js';

/**
 * Upstream's `LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)))`:
 * keeps every second row and column and embeds the channels in the middle of `planes` channels, zeros
 * on either side. Traced as a 1×1 stride-2 convolution whose weight is 1 where output channel
 * `pad + i` reads input channel `i` and 0 elsewhere.
 */
export class OptionAShortcut extends Module {
  /** Channels of the input. */
  readonly inPlanes: number;
  /** Channels of the output. */
  readonly planes: number;
  /** Zero channels added before (and after) the input's channels: `planes / 4` as upstream. */
  readonly pad: number;
  /** The fixed embedding; deliberately not registered, so it is neither a parameter nor in the state dict (a TypeScript private, not `#`: `Module.clone` copies own fields). */
  private readonly embedding: Conv2d;

  constructor(inPlanes: number, planes: number) {
    super();
    this.inPlanes = checkInt(inPlanes, 'inPlanes');
    this.planes = checkInt(planes, 'planes');
    this.pad = Math.floor(this.planes / 4);
    if (this.inPlanes + 2 * this.pad !== this.planes) {
      throw new InvalidArgumentError(
        `OptionAShortcut: padding ${this.inPlanes} channels with planes/4 = ${this.pad} zeros on each side gives ${this.inPlanes + 2 * this.pad} channels, not planes = ${this.planes}`,
      );
    }
    // A private generator: building the constant must not consume the model's random stream.
    this.embedding = new Conv2d(this.inPlanes, this.planes, 1, { stride: 2, bias: false, generator: new Generator(0) });
    const weight = this.embedding.weight.data as Float32Array; // [planes, inPlanes, 1, 1]
    weight.fill(0);
    for (let i = 0; i < this.inPlanes; i++) weight[(this.pad + i) * this.inPlanes + i] = 1;
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.conv2d(this.embedding, x);
  }

  override extraRepr(): string {
    return `option='A', in_planes=${this.inPlanes}, planes=${this.planes}`;
  }
}

/** Upstream's `BasicBlock` (option A): two 3×3 convolutions with BatchNorm, plus the shortcut. */
export class CifarBasicBlock extends Module {
  /** Output channels = planes × expansion. */
  static readonly expansion: number = 1;
  declare conv1: Conv2d;
  declare bn1: BatchNorm2d;
  declare conv2: Conv2d;
  declare bn2: BatchNorm2d;
  /** Identity (an empty `Sequential`, as upstream) or {@link OptionAShortcut} when the shape changes. */
  declare shortcut: Sequential | OptionAShortcut;
  declare relu: ReLU;
  /** The block's stride. */
  readonly stride: number;

  constructor(inPlanes: number, planes: number, stride = 1, generator?: Generator) {
    super();
    checkInt(inPlanes, 'inPlanes');
    checkInt(planes, 'planes');
    this.stride = checkInt(stride, 'stride');
    if (stride !== 1 && stride !== 2) {
      throw new UnsupportedError(`CifarBasicBlock: option-A shortcuts subsample by 2 (x[:, :, ::2, ::2]); stride ${stride} is not supported`);
    }
    const changesShape = stride !== 1 || inPlanes !== planes;
    if (changesShape && stride !== 2) {
      throw new UnsupportedError('CifarBasicBlock: option-A shortcuts always subsample by 2, so a block that changes the channels needs stride 2');
    }
    const gen = resolveGenerator(generator);
    this.conv1 = this.registerModule('conv1', new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false, generator: gen }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { stride: 1, padding: 1, bias: false, generator: gen }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.shortcut = this.registerModule('shortcut', changesShape ? new OptionAShortcut(inPlanes, planes) : new Sequential());
    // Upstream calls F.relu; a module here gives the trace a node path, and holds no state.
    this.relu = this.registerModule('relu', new ReLU());
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    // The shortcut is traced first so that the residual add fuses into conv2 (the operand written last).
    const identity = t.call(this.shortcut, x);
    let out = t.call(this.conv1, x);
    out = t.call(this.bn1, out);
    out = t.call(this.relu, out);
    out = t.call(this.conv2, out);
    out = t.call(this.bn2, out);
    out = t.add(out, identity);
    return t.call(this.relu, out);
  }
}

/** Options of {@link CifarResNet}. */
export interface CifarResNetOptions {
  /** Outputs of the final `linear` layer; default 10. */
  numClasses?: number;
  /** Random source of the initial weights (default: the process-wide generator). */
  generator?: Generator;
}

/** Upstream's `ResNet`: conv 3×3 (16) → 3 stages of n blocks (16, 32, 64 planes) → global average → linear. */
export class CifarResNet extends Module {
  declare conv1: Conv2d;
  declare bn1: BatchNorm2d;
  declare relu: ReLU;
  declare layer1: Sequential<CifarBasicBlock>;
  declare layer2: Sequential<CifarBasicBlock>;
  declare layer3: Sequential<CifarBasicBlock>;
  /** `F.avg_pool2d(out, out.size(3))` upstream: a global average on its square maps. */
  declare avgpool: AdaptiveAvgPool2d;
  declare linear: Linear;
  /** Blocks per stage. */
  readonly n: number;

  /** @param numBlocks Blocks in layer1..layer3 (`[3, 3, 3]` for resnet20). */
  constructor(numBlocks: readonly [number, number, number], options?: CifarResNetOptions) {
    super();
    const opts = checkOptions(options, ['numClasses', 'generator'], 'CifarResNet');
    if (!Array.isArray(numBlocks) || numBlocks.length !== 3) throw invalidArgument('3 block counts', 'numBlocks', numBlocks);
    numBlocks.forEach((n, i) => checkInt(n, `numBlocks[${i}]`));
    const numClasses = checkInt(opts.numClasses ?? 10, 'numClasses');
    const generator = resolveGenerator(opts.generator);
    this.n = numBlocks[0];

    this.conv1 = this.registerModule('conv1', new Conv2d(3, 16, 3, { stride: 1, padding: 1, bias: false, generator }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(16));
    this.relu = this.registerModule('relu', new ReLU());
    let inPlanes = 16;
    const makeLayer = (planes: number, blocks: number, stride: number): Sequential<CifarBasicBlock> => {
      const layer: CifarBasicBlock[] = [];
      for (let i = 0; i < blocks; i++) {
        layer.push(new CifarBasicBlock(inPlanes, planes, i === 0 ? stride : 1, generator));
        inPlanes = planes;
      }
      return new Sequential(...layer);
    };
    this.layer1 = this.registerModule('layer1', makeLayer(16, numBlocks[0], 1));
    this.layer2 = this.registerModule('layer2', makeLayer(32, numBlocks[1], 2));
    this.layer3 = this.registerModule('layer3', makeLayer(64, numBlocks[2], 2));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.linear = this.registerModule('linear', new Linear(64, numClasses, { generator }));

    // Upstream's _weights_init: kaiming_normal_ with PyTorch's defaults (fan_in, leaky_relu with a = 0,
    // i.e. gain √2) on every Conv2d and Linear weight; the Linear bias and BatchNorm keep their defaults.
    for (const m of this.modules()) {
      if (m instanceof Conv2d || m instanceof Linear) kaimingNormal_(m.weight, { generator });
    }
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    let y = t.call(this.conv1, x);
    y = t.call(this.bn1, y);
    y = t.call(this.relu, y);
    y = t.call(this.layer1, y);
    y = t.call(this.layer2, y);
    y = t.call(this.layer3, y);
    y = t.call(this.avgpool, y);
    y = t.flatten(y);
    return t.call(this.linear, y);
  }
}

/**
 * Per-channel input normalisation of upstream's checkpoints (its `trainer.py`): pixels / 255, then the
 * ImageNet mean and std (not CIFAR-10's own statistics). The shape of `compileGraph`'s `normalization`.
 */
export const cifarResNetNormalization = Object.freeze({
  scale: 1 / 255,
  mean: Object.freeze([0.485, 0.456, 0.406]) as readonly number[],
  std: Object.freeze([0.229, 0.224, 0.225]) as readonly number[],
});

/** Options of the CIFAR builders (`resnet20(options)`): {@link CifarResNetOptions} plus weights and placement. */
export interface CifarResNetFactoryOptions extends CifarResNetOptions {
  /** Only null (random initialisation): load upstream's checkpoints with `loadStateDict`. */
  weights?: null;
  /** Where the model runs (see `Module.to`); default `'cpu'`. */
  device?: DeviceSpec;
  /** Compute dtype (see `Module.to`); default `'float32'`. */
  dtype?: ComputeDType;
}

function build(name: string, depth: number, options: CifarResNetFactoryOptions | undefined): CifarResNet {
  const { weights, device, dtype, ...rest } = checkOptions(options, ['weights', 'device', 'dtype', 'numClasses', 'generator'], name);
  if (weights !== undefined && weights !== null) {
    throw new UnsupportedError(
      `${name}: pretrained weights are not in the registry; build with weights: null and load a checkpoint's state dict with model.loadStateDict(...)`,
    );
  }
  const n = (depth - 2) / 6;
  const model = new CifarResNet([n, n, n], rest);
  if (device !== undefined || dtype !== undefined) {
    model.to({ ...(device === undefined ? {} : { device }), ...(dtype === undefined ? {} : { dtype }) });
  }
  return model;
}

/** ResNet-20 for CIFAR-10 (n = 3), 0.27 M parameters; published error 8.75 %. */
export function resnet20(options?: CifarResNetFactoryOptions): CifarResNet {
  return build('resnet20', 20, options);
}

/** ResNet-32 for CIFAR-10 (n = 5), 0.46 M parameters; published error 7.51 %. */
export function resnet32(options?: CifarResNetFactoryOptions): CifarResNet {
  return build('resnet32', 32, options);
}

/** ResNet-44 for CIFAR-10 (n = 7), 0.66 M parameters; published error 7.17 %. */
export function resnet44(options?: CifarResNetFactoryOptions): CifarResNet {
  return build('resnet44', 44, options);
}

/** ResNet-56 for CIFAR-10 (n = 9), 0.85 M parameters; published error 6.97 %. */
export function resnet56(options?: CifarResNetFactoryOptions): CifarResNet {
  return build('resnet56', 56, options);
}

/** ResNet-110 for CIFAR-10 (n = 18), 1.7 M parameters; published error 6.43 %. */
export function resnet110(options?: CifarResNetFactoryOptions): CifarResNet {
  return build('resnet110', 110, options);
}

/** ResNet-1202 for CIFAR-10 (n = 200), 19.4 M parameters; published error 7.93 %. */
export function resnet1202(options?: CifarResNetFactoryOptions): CifarResNet {
  return build('resnet1202', 1202, options);
}

const cifarBuilders = { resnet20, resnet32, resnet44, resnet56, resnet110, resnet1202 } as const;

/** Names accepted by {@link getCifarModel}. */
export type CifarModelName = keyof typeof cifarBuilders;

/** The CIFAR-10 model names, shallowest first. */
export function listCifarModels(): CifarModelName[] {
  return Object.keys(cifarBuilders) as CifarModelName[];
}

/** Builds a CIFAR-10 ResNet by name (`getCifarModel('resnet56')`). */
export function getCifarModel(name: string, options?: CifarResNetFactoryOptions): CifarResNet {
  if (!Object.prototype.hasOwnProperty.call(cifarBuilders, name)) {
    throw invalidArgument(`one of ${listCifarModels().join(', ')}`, 'model name', name);
  }
  return cifarBuilders[name as CifarModelName](options);
}
