/**
 * The torchvision mirror against torchvision itself: parameter counts (DESIGN.md's table), every
 * state-dict key, shape and dtype in order, the printed module tree, the ops of the forward pass
 * (torch.fx), dilation shapes, torchvision's errors, and the initialisation's distributions.
 * The reference facts come from test/fixtures/torchvision-resnet.py (PyTorch + torchvision).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BasicBlock, Bottleneck, ResNet, conv1x1, conv3x3,
  resnet18, resnet34, resnet50, resnet101, resnet152,
  resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2,
  type ResNetFactoryOptions,
} from '../../lib/models/resnet.js';
import { Generator, manualSeed } from '../../lib/random.js';
import { BatchNorm2d } from '../../lib/nn/batchnorm.js';
import { Conv2d } from '../../lib/nn/conv.js';
import { Linear } from '../../lib/nn/linear.js';
import type { Module, StateDict } from '../../lib/nn/module.js';
import { Tracer } from '../../lib/nn/trace.js';
import { codeOf } from '../helpers/helpers.js';

interface ModelFacts {
  numParameters: number;
  stateDictLength: number;
  stateDictSha256: string;
  children: string[];
  numModules: number;
  stateDict?: [string, number[], string][];
}

const torchvision = JSON.parse(readFileSync(new URL('../fixtures/torchvision-resnet.json', import.meta.url), 'utf8')) as {
  models: Record<string, ModelFacts>;
  repr: Record<'resnet18' | 'resnext50_32x4d' | 'resnet50_dilated_ftt', string>;
  fxResnet50: Record<string, number>;
  resnet50DilatedFttShapes224: Record<string, number[]>;
};

const builders: Record<string, (options?: ResNetFactoryOptions) => ResNet> = {
  resnet18, resnet34, resnet50, resnet101, resnet152,
  resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2,
};

/** DESIGN.md's "numbers that must stay true". */
const designParameterCounts: Record<string, number> = {
  resnet18: 11_689_512,
  resnet34: 21_797_672,
  resnet50: 25_557_032,
  resnet101: 44_549_160,
  resnet152: 60_192_808,
  resnext50_32x4d: 25_028_904,
  resnext101_32x8d: 88_791_336,
  resnext101_64x4d: 83_455_272,
  wide_resnet50_2: 68_883_240,
  wide_resnet101_2: 126_886_696,
};

function entries(sd: StateDict): [string, number[], string][] {
  return Object.entries(sd).map(([k, t]) => [k, [...t.shape], t.dtype]);
}

/** The fixture script's digest: one line "key:d0,d1,...:dtype\n" per entry, SHA-256. */
function digest(items: [string, number[], string][]): string {
  return createHash('sha256').update(items.map(([k, s, d]) => `${k}:${s.join(',')}:${d}\n`).join('')).digest('hex');
}

function opCounts(model: Module, shape: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of Tracer.trace(model, shape).nodes) counts[node.op] = (counts[node.op] ?? 0) + 1;
  return counts;
}

function stats(data: Float32Array): { mean: number; std: number; min: number; max: number } {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / data.length;
  let sq = 0;
  for (const v of data) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / data.length), min, max };
}

describe('the ten architectures match torchvision', () => {
  for (const [name, build] of Object.entries(builders)) {
    it(`${name}: parameter count, state-dict keys/shapes/dtypes in order, children, module count`, () => {
      const facts = torchvision.models[name]!;
      const model = build({ generator: new Generator(0) });
      expect(model.numParameters()).toBe(designParameterCounts[name]);
      expect(facts.numParameters).toBe(designParameterCounts[name]);
      const items = entries(model.stateDict());
      expect(items).toHaveLength(facts.stateDictLength);
      if (facts.stateDict) expect(items).toEqual(facts.stateDict);
      expect(digest(items)).toBe(facts.stateDictSha256);
      expect(model.namedChildren().map(([n]) => n)).toEqual(facts.children);
      expect(model.modules()).toHaveLength(facts.numModules);
    });
  }

  it('resnet18 has 122 entries and resnet50 320, starting and ending as torchvision’s', () => {
    const shapes = (sd: StateDict) => Object.entries(sd).map(([k, t]) => `${k} [${t.shape.join(',')}]`);
    const r18 = shapes(resnet18().stateDict());
    expect(r18).toHaveLength(122);
    expect(r18.slice(0, 7)).toEqual([
      'conv1.weight [64,3,7,7]', 'bn1.weight [64]', 'bn1.bias [64]', 'bn1.running_mean [64]', 'bn1.running_var [64]',
      'bn1.num_batches_tracked []', 'layer1.0.conv1.weight [64,64,3,3]',
    ]);
    expect(r18).toContain('layer2.0.downsample.0.weight [128,64,1,1]');
    expect(r18.slice(-3)).toEqual(['layer4.1.bn2.num_batches_tracked []', 'fc.weight [1000,512]', 'fc.bias [1000]']);

    const r50 = shapes(resnet50().stateDict());
    expect(r50).toHaveLength(320);
    expect(r50.slice(0, 6)).toEqual([
      'conv1.weight [64,3,7,7]', 'bn1.weight [64]', 'bn1.bias [64]', 'bn1.running_mean [64]', 'bn1.running_var [64]',
      'bn1.num_batches_tracked []',
    ]);
    expect(r50).toContain('layer1.0.downsample.0.weight [256,64,1,1]');
    expect(r50).toContain('layer1.0.downsample.1.running_var [256]');
    expect(r50.slice(-3)).toEqual(['layer4.2.bn3.num_batches_tracked []', 'fc.weight [1000,2048]', 'fc.bias [1000]']);
  });

  it('ResNeXt groups its 3×3 convs, Wide ResNet doubles their width', () => {
    expect(resnext50_32x4d().stateDict()['layer1.0.conv2.weight']!.shape).toEqual([128, 4, 3, 3]);
    expect(wide_resnet50_2().stateDict()['layer1.0.conv2.weight']!.shape).toEqual([128, 128, 3, 3]);
  });

  it('prints as torchvision’s repr', () => {
    expect(resnet18().toString()).toBe(torchvision.repr.resnet18);
    expect(resnext50_32x4d().toString()).toBe(torchvision.repr.resnext50_32x4d);
    expect(resnet50({ replaceStrideWithDilation: [false, true, true] }).toString()).toBe(torchvision.repr.resnet50_dilated_ftt);
  });

  it('numClasses sizes fc', () => {
    const model = resnet50({ numClasses: 10 });
    expect(model.fc.weight.shape).toEqual([10, 2048]);
    expect(model.fc.bias!.shape).toEqual([10]);
    expect(Tracer.trace(model, [3, 64, 64]).output.shape).toEqual([10]);
  });
});

describe('forward description (trace)', () => {
  it('resnet50 on [3, 224, 224]: output [1000] and torch.fx’s op counts', () => {
    const trace = Tracer.trace(resnet50(), [3, 224, 224]);
    expect(trace.output.shape).toEqual([1000]);
    const fx = torchvision.fxResnet50;
    // 53 convs = stem 1 + 16 bottlenecks × 3 + 4 downsample projections; a BN after each;
    // 49 ReLUs = stem 1 + 16 × 3; 16 residual adds; then maxpool, avgpool, flatten, fc.
    expect(opCounts(resnet50(), [3, 224, 224])).toEqual({
      conv2d: fx.Conv2d, batch_norm2d: fx.BatchNorm2d, relu: fx.ReLU, add: fx.add, max_pool2d: fx.MaxPool2d,
      adaptive_avg_pool2d: fx.AdaptiveAvgPool2d, flatten: fx.flatten, linear: fx.Linear,
    });
    expect([fx.Conv2d, fx.BatchNorm2d, fx.ReLU, fx.add]).toEqual([53, 53, 49, 16]);
    expect(trace.moduleOutputs.has('layer3.5.bn3')).toBe(true);
  });

  it('resnet18: 20 convs (1 + 8 blocks × 2 + 3 projections), 17 ReLUs (1 + 8 × 2), 8 adds', () => {
    expect(opCounts(resnet18(), [3, 224, 224])).toEqual({
      conv2d: 20, batch_norm2d: 20, relu: 17, add: 8, max_pool2d: 1, adaptive_avg_pool2d: 1, flatten: 1, linear: 1,
    });
  });

  it('a block adds the projected shortcut to the residual branch, then applies ReLU', () => {
    const block = resnet50().layer2.at(0) as Bottleneck;
    const nodes = Tracer.trace(block, [256, 56, 56]).nodes.map((n) => `${n.path}:${n.op}`);
    expect(nodes).toEqual([
      'conv1:conv2d', 'bn1:batch_norm2d', 'relu:relu', 'conv2:conv2d', 'bn2:batch_norm2d', 'relu:relu',
      'conv3:conv2d', 'bn3:batch_norm2d', 'downsample.0:conv2d', 'downsample.1:batch_norm2d', ':add', 'relu:relu',
    ]);
  });

  it('replaceStrideWithDilation keeps layer3/layer4 at stride 8: layer shapes as PyTorch on 224', () => {
    const trace = Tracer.trace(resnet50({ replaceStrideWithDilation: [false, true, true] }), [3, 224, 224]);
    const shapes = Object.fromEntries(
      ['layer1', 'layer2', 'layer3', 'layer4'].map((l) => [l, trace.values[trace.moduleOutputs.get(l)!]!.shape]),
    );
    expect(shapes).toEqual(torchvision.resnet50DilatedFttShapes224);
    expect(shapes.layer4).toEqual([2048, 28, 28]);
    expect(trace.output.shape).toEqual([1000]);
  });
});

describe('torchvision’s errors', () => {
  it('replaceStrideWithDilation must be null or three flags', () => {
    expect(() => resnet50({ replaceStrideWithDilation: [true] as never })).toThrow(
      'replaceStrideWithDilation should be null or a 3-element array, got [true]',
    );
    expect(codeOf(() => resnet50({ replaceStrideWithDilation: [1, 0, 0] as never }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('BasicBlock: only groups=1 and base_width=64; no dilation', () => {
    expect(() => resnet18({ groups: 2 })).toThrow('BasicBlock only supports groups=1 and base_width=64');
    expect(() => resnet34({ widthPerGroup: 128 })).toThrow('BasicBlock only supports groups=1 and base_width=64');
    const e = (() => {
      try {
        resnet18({ replaceStrideWithDilation: [false, false, true] });
      } catch (error) {
        return error as Error & { code: string };
      }
    })();
    expect(e?.message).toBe('Dilation > 1 not supported in BasicBlock');
    expect(e?.code).toBe('ERR_UNSUPPORTED');
  });

  it('a variant’s fixed groups/width may be repeated but not changed', () => {
    expect(() => resnext50_32x4d({ groups: 16 })).toThrow("The parameter 'groups' expected value 32 but got 16 instead.");
    expect(() => wide_resnet50_2({ widthPerGroup: 64 })).toThrow("The parameter 'widthPerGroup' expected value 128 but got 64 instead.");
    expect(resnext50_32x4d({ groups: 32, widthPerGroup: 4 }).numParameters()).toBe(25_028_904);
  });

  it('unknown option names are reported, with the likely intended spelling', () => {
    expect(() => resnet50({ numclasses: 10 } as never)).toThrow('resnet50: unknown option "numclasses" (did you mean "numClasses"?)');
    expect(() => resnet18({ zero_init_residual: true } as never)).toThrow('did you mean "zeroInitResidual"?');
    expect(codeOf(() => resnet18({ pretrained: true } as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new ResNet(BasicBlock, [2, 2, 2, 2], { weights: null } as never))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('named weights that are not in the cache: the sync factory names the async loader', () => {
    const saved = process.env.TORCH_HOME;
    process.env.TORCH_HOME = mkdtempSync(path.join(tmpdir(), 'torch-home-'));
    try {
      expect(() => resnet50({ weights: 'DEFAULT' })).toThrow(/loadPretrained\('resnet50', 'IMAGENET1K_V2'\)/);
      expect(codeOf(() => resnet50({ weights: 'DEFAULT' }))).toBe('ERR_UNSUPPORTED');
    } finally {
      if (saved === undefined) delete process.env.TORCH_HOME;
      else process.env.TORCH_HOME = saved;
    }
    expect(resnet18({ weights: null }).numParameters()).toBe(11_689_512);
  });

  it('bad values are argument errors', () => {
    expect(() => resnet18({ numClasses: 0 })).toThrow('Expected a positive integer for numClasses but received 0');
    expect(codeOf(() => resnet18({ generator: 42 as never }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new ResNet(BasicBlock, [2, 2, 2] as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => resnet18({ normLayer: 'bn' as never }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('train() throws ERR_NOT_TRAINABLE; eval() returns the model', () => {
    const model = resnet18();
    expect(codeOf(() => model.train())).toBe('ERR_NOT_TRAINABLE');
    expect(model.eval()).toBe(model);
  });
});

describe('building blocks', () => {
  it('conv3x3 and conv1x1 as torchvision’s', () => {
    const c3 = conv3x3(64, 128, 2, 4, 2);
    expect([c3.kernelSize, c3.stride, c3.padding, c3.dilation, c3.groups, c3.bias]).toEqual([[3, 3], [2, 2], [2, 2], [2, 2], 4, null]);
    const c1 = conv1x1(64, 256, 2);
    expect([c1.kernelSize, c1.stride, c1.padding, c1.bias]).toEqual([[1, 1], [2, 2], [0, 0], null]);
  });

  it('expansion and Bottleneck width = floor(planes · baseWidth / 64) · groups, stride on the 3×3', () => {
    expect([BasicBlock.expansion, Bottleneck.expansion]).toEqual([1, 4]);
    const b = new Bottleneck(256, 64, { stride: 2, groups: 32, baseWidth: 4 });
    expect([b.conv1.outChannels, b.conv2.groups, b.conv2.stride, b.conv1.stride, b.conv3.outChannels]).toEqual([128, 32, [2, 2], [1, 1], 256]);
    expect(b.downsample).toBeNull();
  });

  it('a custom normLayer is used for every normalisation', () => {
    const made: number[] = [];
    const model = resnet18({ normLayer: (n) => (made.push(n), new BatchNorm2d(n, { eps: 1e-3 })) });
    expect(made).toHaveLength(20);
    expect((model.bn1 as BatchNorm2d).eps).toBe(1e-3);
  });
});

describe('initialisation (PyTorch’s and torchvision’s)', () => {
  it('convs: kaiming_normal(fan_out, relu), std = √(2 / (out·kH·kW)) within 5 %, grouped convs not divided by groups', () => {
    const model = resnext50_32x4d({ generator: new Generator(21) });
    const cases: [Conv2d, number][] = [
      [model.conv1, 64 * 7 * 7],
      [model.getSubmodule('layer3.0.conv2') as Conv2d, 512 * 3 * 3],
      [model.getSubmodule('layer4.0.downsample.0') as Conv2d, 2048],
    ];
    for (const [conv, fanOut] of cases) {
      const s = stats(conv.weight.data);
      const std = Math.sqrt(2 / fanOut);
      expect(Math.abs(s.std / std - 1)).toBeLessThan(0.05);
      expect(Math.abs(s.mean)).toBeLessThan(0.05 * std);
    }
  });

  it('fc keeps Linear’s default: weight and bias in ±1/√fan_in, weight std = bound/√3', () => {
    const model = resnet50({ generator: new Generator(22) });
    const bound = 1 / Math.sqrt(2048);
    const w = stats(model.fc.weight.data);
    expect(w.min).toBeGreaterThanOrEqual(-bound);
    expect(w.max).toBeLessThanOrEqual(bound);
    expect(w.max).toBeGreaterThan(0.99 * bound);
    expect(Math.abs(w.std / (bound / Math.sqrt(3)) - 1)).toBeLessThan(0.01);
    const b = stats(model.fc.bias!.data);
    expect(b.min).toBeGreaterThanOrEqual(-bound);
    expect(b.max).toBeLessThanOrEqual(bound);
    expect(b.std).toBeGreaterThan(0.4 * bound);
  });

  it('standalone Conv2d and Linear: kaiming_uniform(a=√5) weights and bias in ±1/√fan_in', () => {
    const g = new Generator(23);
    const conv = new Conv2d(32, 64, 3, { generator: g });
    const fanIn = 32 * 9;
    const bound = 1 / Math.sqrt(fanIn);
    const w = stats(conv.weight.data);
    expect(w.min).toBeGreaterThanOrEqual(-bound);
    expect(w.max).toBeLessThanOrEqual(bound);
    expect(Math.abs(w.std / (bound / Math.sqrt(3)) - 1)).toBeLessThan(0.03);
    const cb = stats(conv.bias!.data);
    expect(Math.max(-cb.min, cb.max)).toBeLessThanOrEqual(bound);
    const lin = new Linear(100, 50, { generator: g });
    expect(Math.max(...Array.from(lin.weight.data, Math.abs))).toBeLessThanOrEqual(0.1);
    expect(Math.max(...Array.from(lin.bias!.data, Math.abs))).toBeLessThanOrEqual(0.1);
  });

  it('BatchNorm: weight 1, bias 0, running mean 0, running var 1, counter 0', () => {
    const model = resnet18();
    const bns = model.modules().filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
    expect(bns).toHaveLength(20);
    for (const bn of bns) {
      expect(bn.weight.data.every((v) => v === 1)).toBe(true);
      expect(bn.bias.data.every((v) => v === 0)).toBe(true);
      expect(bn.runningMean.data.every((v) => v === 0)).toBe(true);
      expect(bn.runningVar.data.every((v) => v === 1)).toBe(true);
      expect(bn.numBatchesTracked.data[0]).toBe(0n);
    }
  });

  it('zeroInitResidual zeros the last BN weight of every block (bn3 in Bottleneck, bn2 in BasicBlock) and nothing else', () => {
    const r50 = resnet50({ zeroInitResidual: true });
    for (const [name, m] of r50.namedModules()) {
      if (!(m instanceof BatchNorm2d)) continue;
      const zero = /^layer\d\.\d+\.bn3$/.test(name);
      expect(m.weight.data.every((v) => v === (zero ? 0 : 1)), name).toBe(true);
    }
    const r18 = resnet18({ zeroInitResidual: true });
    expect((r18.getSubmodule('layer2.1.bn2') as BatchNorm2d).weight.data.every((v) => v === 0)).toBe(true);
    expect((r18.getSubmodule('layer2.1.bn1') as BatchNorm2d).weight.data.every((v) => v === 1)).toBe(true);
    expect((r18.getSubmodule('layer2.0.downsample.1') as BatchNorm2d).weight.data.every((v) => v === 1)).toBe(true);
  });

  it('seeded generators reproduce a model; other seeds do not', () => {
    const digestOf = (model: Module) => {
      const h = createHash('sha256');
      for (const t of Object.values(model.stateDict())) h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      return h.digest('hex');
    };
    const a = digestOf(resnet18({ generator: new Generator(5) }));
    expect(digestOf(resnet18({ generator: new Generator(5) }))).toBe(a);
    expect(digestOf(resnet18({ generator: new Generator(6) }))).not.toBe(a);
    manualSeed(5);
    const viaDefault = digestOf(resnet18());
    manualSeed(5);
    expect(digestOf(resnet18())).toBe(viaDefault);
    expect(viaDefault).toBe(a);
  });
});
