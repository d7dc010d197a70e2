/**
 * The module tree: naming and order (PyTorch's rules), state dicts (round trip, PyTorch's load errors
 * taken from PyTorch itself, dtype conversion), the version counter, eval-only behaviour, the forward
 * hook, and the layers' argument checks.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Tensor, floatToBfloat16, floatToHalf } from '../../lib/tensor.js';
import { Generator } from '../../lib/random.js';
import { Module, setForwardExecutor } from '../../lib/nn/module.js';
import type { StateDict } from '../../lib/nn/module.js';
import { Conv2d } from '../../lib/nn/conv.js';
import { BatchNorm2d } from '../../lib/nn/batchnorm.js';
import { ReLU } from '../../lib/nn/activation.js';
import { Linear } from '../../lib/nn/linear.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../../lib/nn/pooling.js';
import { Sequential } from '../../lib/nn/sequential.js';
import { Flatten } from '../../lib/nn/flatten.js';
import { Tracer } from '../../lib/nn/trace.js';
import type { TraceValue } from '../../lib/nn/trace.js';
import { resnet18 } from '../../lib/models/resnet.js';
import { codeOf } from '../helpers/helpers.js';

/** PyTorch's own messages and results (test/fixtures/torchvision-resnet.py). */
const torchvision = JSON.parse(readFileSync(new URL('../fixtures/torchvision-resnet.json', import.meta.url), 'utf8')) as {
  loadErrors: Record<'missing' | 'unexpected' | 'sizeMismatch' | 'sizeMismatchNonStrict' | 'all', string>;
  nonStrictResult: { missingKeys: string[]; unexpectedKeys: string[] };
};

/** PyTorch prints shapes as `torch.Size([10, 512])`; TypeScript has no torch.Size, so we print `[10, 512]`. */
function withoutTorchSize(message: string): string {
  return message.replace(/torch\.Size\((\[[^\]]*\])\)/g, '$1');
}

/** A small tree: own parameter and buffer, a conv, a BN, and a Sequential head. */
class Net extends Module {
  readonly scale: Tensor<'float32'>;
  readonly steps: Tensor<'int64'>;
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly head: Sequential;

  constructor(generator = new Generator(1)) {
    super();
    this.scale = this.registerParameter('scale', Tensor.from([1, 2, 3], [3]));
    this.steps = this.registerBuffer('steps', Tensor.zeros([], 'int64'));
    this.conv = this.registerModule('conv', new Conv2d(3, 4, 3, { padding: 1, generator }));
    this.bn = this.registerModule('bn', new BatchNorm2d(4));
    this.head = this.registerModule(
      'head',
      new Sequential(new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 2, { generator })),
    );
  }

  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.call(this.head, t.call(this.bn, t.call(this.conv, x)));
  }
}

function catchError(f: () => unknown): Error & Record<string, unknown> {
  try {
    f();
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error('expected a throw');
}

function values(sd: StateDict): Record<string, number[]> {
  return Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]));
}

/** A copy of a state dict's bytes, by key: cheap to compare for whole networks. */
function bytes(sd: StateDict): Map<string, Buffer> {
  return new Map(Object.entries(sd).map(([k, t]) => [k, Buffer.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))]));
}

/** Keys whose bytes differ between two snapshots (or exist in one only). */
function differingKeys(a: Map<string, Buffer>, b: Map<string, Buffer>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => !(a.has(k) && b.has(k) && a.get(k)!.equals(b.get(k)!)));
}

describe('naming and order', () => {
  it('namedParameters: own parameters first, then children depth first, dotted', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      'scale', 'conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'head.2.weight', 'head.2.bias',
    ]);
    expect(net.namedBuffers().map(([n]) => n)).toEqual([
      'steps', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked',
    ]);
    expect(net.numParameters()).toBe(3 + 4 * 3 * 9 + 4 + 4 + 4 + 8 + 2);
  });

  it('stateDict interleaves each module’s parameters then buffers, then its children', () => {
    const net = new Net();
    const sd = net.stateDict();
    expect(Object.keys(sd)).toEqual([
      'scale', 'steps', 'conv.weight', 'conv.bias',
      'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked',
      'head.2.weight', 'head.2.bias',
    ]);
    expect(sd['bn.num_batches_tracked']!.dtype).toBe('int64');
    expect(sd['bn.num_batches_tracked']!.shape).toEqual([]);
    // The tensors are the module's own, as in PyTorch.
    expect(sd['conv.weight']).toBe(net.conv.weight);
  });

  it('modules, children, childName and getSubmodule', () => {
    const net = new Net();
    expect(net.namedModules().map(([n, m]) => `${n}:${m.constructor.name}`)).toEqual([
      ':Net', 'conv:Conv2d', 'bn:BatchNorm2d', 'head:Sequential', 'head.0:AdaptiveAvgPool2d', 'head.1:Flatten', 'head.2:Linear',
    ]);
    expect(net.children()).toEqual([net.conv, net.bn, net.head]);
    expect(net.namedChildren().map(([n]) => n)).toEqual(['conv', 'bn', 'head']);
    expect(net.childName(net.bn)).toBe('bn');
    expect(net.childName(net.head.at(0))).toBeUndefined();
    expect(net.getSubmodule('')).toBe(net);
    expect(net.getSubmodule('head.2')).toBe(net.head.at(2));
    expect(() => net.getSubmodule('head.7')).toThrow('Sequential has no attribute `7` (looking up "head.7")');
    expect(codeOf(() => net.getSubmodule('conv.weight'))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('Sequential: children named 0, 1, …; length, at (negative from the end), iteration', () => {
    const a = new ReLU();
    const b = new MaxPool2d(2);
    const c = new Flatten();
    const s = new Sequential(a, b, c);
    expect(s.namedChildren()).toEqual([['0', a], ['1', b], ['2', c]]);
    expect(s.length).toBe(3);
    expect(s.at(0)).toBe(a);
    expect(s.at(-1)).toBe(c);
    expect([...s]).toEqual([a, b, c]);
    expect(codeOf(() => s.at(3))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => s.at(-4))).toBe('ERR_INVALID_ARGUMENT');
    expect(new Sequential().length).toBe(0);
  });

  it('a module registered twice: listed once by modules()/parameters(), under both names in stateDict (as PyTorch)', () => {
    class Shared extends Module {
      constructor(readonly inner = new Linear(2, 2)) {
        super();
        this.registerModule('a', inner);
        this.registerModule('b', inner);
      }
      override trace(_t: Tracer, x: TraceValue): TraceValue {
        return x;
      }
    }
    const m = new Shared();
    expect(m.modules()).toHaveLength(2);
    expect(m.namedParameters().map(([n]) => n)).toEqual(['a.weight', 'a.bias']);
    expect(m.numParameters()).toBe(6);
    expect(Object.keys(m.stateDict())).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
  });

  it('a child under two names and a tensor shared by two modules are listed once (PyTorch remove_duplicate), stateDict keeps every key', () => {
    const shared = Tensor.from([1, 2], [2]);
    const count = Tensor.from([7], [1]).to('int64');
    class Holder extends Module {
      constructor() {
        super();
        this.registerParameter('w', shared);
        this.registerBuffer('n', count);
      }
      override trace(_t: Tracer, x: TraceValue): TraceValue {
        return x;
      }
    }
    class Tied extends Module {
      constructor() {
        super();
        const p = new Holder();
        this.registerModule('p', p);
        this.registerModule('alias', p);
        this.registerModule('q', new Holder());
      }
      override trace(_t: Tracer, x: TraceValue): TraceValue {
        return x;
      }
    }
    const m = new Tied();
    expect(m.namedChildren().map(([n]) => n)).toEqual(['p', 'q']);
    expect(m.namedModules().map(([n]) => n)).toEqual(['', 'p', 'q']);
    expect(m.namedParameters().map(([n, t]) => [n, t === shared])).toEqual([['p.w', true]]);
    expect(m.namedBuffers().map(([n, t]) => [n, t === count])).toEqual([['p.n', true]]);
    expect(Object.keys(m.stateDict())).toEqual(['p.w', 'p.n', 'alias.w', 'alias.n', 'q.w', 'q.n']);
  });

  it('rejects names with dots, empty names and a name taken by another kind of attribute', () => {
    class Bad extends Module {
      constructor(what: 'dot' | 'empty' | 'clash') {
        super();
        if (what === 'dot') this.registerModule('a.b', new ReLU());
        if (what === 'empty') this.registerParameter('', Tensor.zeros([1]));
        if (what === 'clash') {
          this.registerParameter('w', Tensor.zeros([1]));
          this.registerBuffer('w', Tensor.zeros([1]));
        }
      }
      override trace(_t: Tracer, x: TraceValue): TraceValue {
        return x;
      }
    }
    expect(codeOf(() => new Bad('dot'))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new Bad('empty'))).toBe('ERR_INVALID_ARGUMENT');
    expect(() => new Bad('clash')).toThrow('Bad: attribute "w" already exists');
  });
});

describe('loadStateDict', () => {
  it('round trip: values copied, not aliased, and every entry restored', () => {
    const a = new Net(new Generator(1));
    const b = new Net(new Generator(2));
    a.bn.runningMean.data.fill(0.25);
    a.bn.numBatchesTracked.data[0] = 12n;
    expect(values(b.stateDict())).not.toEqual(values(a.stateDict()));
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(values(b.stateDict())).toEqual(values(a.stateDict()));
    expect(b.bn.numBatchesTracked.data[0]).toBe(12n);
    a.conv.weight.data[0] = 99;
    expect(b.conv.weight.data[0]).not.toBe(99);
    // The loaded module keeps its own tensor objects.
    expect(b.stateDict()['conv.weight']).toBe(b.conv.weight);
  });

  it('accepts a Map', () => {
    const a = new Net(new Generator(3));
    const b = new Net(new Generator(4));
    b.loadStateDict(new Map(Object.entries(a.stateDict())));
    expect(values(b.stateDict())).toEqual(values(a.stateDict()));
  });

  const sd18 = () => resnet18({ generator: new Generator(11) }).stateDict();
  const without = (sd: StateDict, ...keys: string[]) => Object.fromEntries(Object.entries(sd).filter(([k]) => !keys.includes(k)));

  it('missing keys: PyTorch’s message and missingKeys', () => {
    const e = catchError(() => resnet18().loadStateDict(without(sd18(), 'fc.weight', 'fc.bias')));
    expect(e.code).toBe('ERR_STATE_DICT');
    expect(e.message).toBe(torchvision.loadErrors.missing);
    expect(e.missingKeys).toEqual(['fc.weight', 'fc.bias']);
    expect(e.unexpectedKeys).toEqual([]);
  });

  it('unexpected keys: PyTorch’s message and unexpectedKeys', () => {
    const sd = { ...sd18(), 'layer5.0.conv1.weight': Tensor.zeros([1]), 'head.bias': Tensor.zeros([2]) };
    const e = catchError(() => resnet18().loadStateDict(sd));
    expect(e.message).toBe(torchvision.loadErrors.unexpected);
    expect(e.unexpectedKeys).toEqual(['layer5.0.conv1.weight', 'head.bias']);
  });

  it('size mismatches: PyTorch’s message, strict or not, and nothing is loaded', () => {
    const sd = { ...sd18(), 'fc.weight': Tensor.zeros([10, 512]), 'fc.bias': Tensor.zeros([10]) };
    const model = resnet18({ generator: new Generator(12) });
    const before = bytes(model.stateDict());
    const e = catchError(() => model.loadStateDict(sd));
    expect(e.message).toBe(withoutTorchSize(torchvision.loadErrors.sizeMismatch));
    expect(e.shapeMismatches).toEqual([
      { key: 'fc.weight', expected: [1000, 512], received: [10, 512] },
      { key: 'fc.bias', expected: [1000], received: [10] },
    ]);
    const loose = catchError(() => model.loadStateDict(sd, { strict: false }));
    expect(loose.message).toBe(withoutTorchSize(torchvision.loadErrors.sizeMismatchNonStrict));
    expect(differingKeys(bytes(model.stateDict()), before)).toEqual([]);
  });

  it('all three at once: missing, then unexpected, then size mismatches', () => {
    const sd: StateDict = { ...without(sd18(), 'bn1.running_mean'), 'fc.weight': Tensor.zeros([10, 512]), 'fc.bias': Tensor.zeros([10]) };
    sd.extra = Tensor.zeros([1]);
    expect(() => resnet18().loadStateDict(sd)).toThrow(withoutTorchSize(torchvision.loadErrors.all));
  });

  it('non-strict returns the missing and unexpected keys and loads the rest', () => {
    const source = sd18();
    const sd: StateDict = { ...without(source, 'bn1.running_mean'), extra: Tensor.zeros([1]) };
    const model = resnet18({ generator: new Generator(13) });
    const kept = (model.getSubmodule('bn1') as BatchNorm2d).runningMean.data.fill(7);
    const result = model.loadStateDict(sd, { strict: false });
    expect(result).toEqual(torchvision.nonStrictResult);
    expect(differingKeys(bytes(model.stateDict()), bytes(source))).toEqual(['bn1.running_mean']);
    expect(kept.every((v) => v === 7)).toBe(true);
  });

  it('converts float16, bfloat16 and float64 to float32, and integer counters to int64', () => {
    const net = new Net();
    // Multiples of 1/64 below 4 are exact in float16 and bfloat16, so the loaded values are known exactly.
    const exact = (n: number, offset: number) => Array.from({ length: n }, (_, i) => ((i * 7 + offset) % 256) / 64 - 2);
    const source = new Net(new Generator(5)).stateDict();
    const expected: Record<string, number[]> = {};
    const sd: StateDict = {};
    const dtypes = ['float16', 'bfloat16', 'float64'] as const;
    Object.entries(source).forEach(([key, t], i) => {
      if (t.dtype === 'int64') {
        sd[key] = Tensor.from(Int32Array.from([41 + i]), t.shape);
        expected[key] = [41 + i];
        return;
      }
      const v = exact(t.numel, i);
      expected[key] = v;
      const dtype = dtypes[i % 3]!;
      const bits =
        dtype === 'float16' ? Uint16Array.from(v, floatToHalf) : dtype === 'bfloat16' ? Uint16Array.from(v, floatToBfloat16) : Float64Array.from(v);
      sd[key] = Tensor.from(bits, t.shape, dtype);
    });
    net.loadStateDict(sd);
    expect(values(net.stateDict())).toEqual(expected);
    for (const [, t] of Object.entries(net.stateDict())) expect(['float32', 'int64']).toContain(t.dtype);
  });

  it('rejects a float param loaded from integers, and non-tensors', () => {
    const net = new Net();
    const sd = { ...net.stateDict(), 'conv.bias': Tensor.from(BigInt64Array.from([1n, 2n, 3n, 4n]), [4]) };
    expect(() => net.loadStateDict(sd)).toThrow(/dtype mismatch for conv\.bias: copying a param of dtype int64/);
    expect(codeOf(() => net.loadStateDict({ ...net.stateDict(), scale: [1, 2, 3] as unknown as Tensor }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => net.loadStateDict(net.stateDict(), { strickt: true } as never))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('accepts state dicts without num_batches_tracked (PyTorch < 0.4.1) and a [1] value for a scalar', () => {
    const net = new Net();
    const sd = without(new Net(new Generator(9)).stateDict(), 'bn.num_batches_tracked');
    expect(net.loadStateDict(sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    net.loadStateDict({ ...sd, steps: Tensor.from(BigInt64Array.from([5n]), [1]) });
    expect(net.steps.data[0]).toBe(5n);
    expect(net.steps.shape).toEqual([]);
  });
});

describe('version', () => {
  it('changes on loadStateDict and markWeightsChanged, up and down the tree, and only then', () => {
    const net = new Net();
    const other = new Net();
    const v0 = net.version;
    const c0 = net.conv.version;
    expect(net.version).toBe(v0);
    net.bn.markWeightsChanged();
    const v1 = net.version;
    expect(v1).not.toBe(v0);
    expect(net.conv.version).toBe(c0);
    net.markWeightsChanged();
    expect(net.conv.version).not.toBe(c0);
    const v2 = net.version;
    expect(v2).not.toBe(v1);
    const otherVersion = other.version;
    net.loadStateDict(other.stateDict());
    expect(net.version).not.toBe(v2);
    expect(net.head.at(2).version).toBe(net.version);
    expect(other.version).toBe(otherVersion);
  });

  it('a failed load leaves the version alone', () => {
    const net = new Net();
    const v = net.version;
    expect(() => net.loadStateDict({})).toThrow();
    expect(net.version).toBe(v);
  });
});

describe('inference only', () => {
  it('train() throws ERR_NOT_TRAINABLE; train(false) and eval() return the module; training is false', () => {
    const net = new Net();
    expect(() => net.train()).toThrow(/inference library: modules always behave as in eval\(\)/);
    expect(codeOf(() => net.train(true))).toBe('ERR_NOT_TRAINABLE');
    expect(net.train(false)).toBe(net);
    expect(net.eval()).toBe(net);
    expect(net.training).toBe(false);
  });
});

describe('forward', () => {
  afterEach(() => setForwardExecutor(null));

  it('rejects with ERR_UNSUPPORTED when no runtime is installed', async () => {
    setForwardExecutor(null);
    await expect(new Net().forward(Tensor.zeros([1, 3, 8, 8]))).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED',
      message: expect.stringContaining("import the models from 'resnet-cudnn'"),
    });
  });

  it('delegates to the installed executor with the module and the input', async () => {
    const net = new Net();
    const x = Tensor.zeros([1, 3, 8, 8]);
    const seen: unknown[] = [];
    setForwardExecutor({
      forward: async (module, input) => {
        seen.push(module, input);
        return Tensor.zeros([1, 2]);
      },
    });
    const y = await net.forward(x);
    expect(y.shape).toEqual([1, 2]);
    expect(seen).toEqual([net, x]);
    expect(codeOf(() => setForwardExecutor({} as never))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('layers', () => {
  it('Conv2d: fields, pairs, weight shape and PyTorch’s argument errors', () => {
    const c = new Conv2d(8, 16, [3, 5], { stride: 2, padding: [1, 2], dilation: 1, groups: 4, bias: false });
    expect([c.kernelSize, c.stride, c.padding, c.dilation, c.groups]).toEqual([[3, 5], [2, 2], [1, 2], [1, 1], 4]);
    expect(c.weight.shape).toEqual([16, 2, 3, 5]);
    expect(c.bias).toBeNull();
    expect(Object.keys(c.stateDict())).toEqual(['weight']);
    expect(() => new Conv2d(6, 16, 3, { groups: 4 })).toThrow('inChannels must be divisible by groups');
    expect(() => new Conv2d(8, 6, 3, { groups: 4 })).toThrow('outChannels must be divisible by groups');
    expect(() => new Conv2d(8, 8, 3, { groups: 0 })).toThrow('Expected a positive integer for groups but received 0');
    expect(codeOf(() => new Conv2d(8, 8, 3, { padding: 'same' as never }))).toBe('ERR_UNSUPPORTED');
    expect(codeOf(() => new Conv2d(8, 8, 3, { padding: -1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new Conv2d(8, 8, 0))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new Conv2d(8, 8, [3, 3, 3] as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(() => new Conv2d(8, 8, 3, { padding_mode: 'zeros' } as never)).toThrow('Conv2d: unknown option "padding_mode"');
  });

  it('BatchNorm2d: fields, initial state, state-dict names; affine/trackRunningStats false unsupported', () => {
    const bn = new BatchNorm2d(3, { eps: 1e-3, momentum: null });
    expect([bn.numFeatures, bn.eps, bn.momentum]).toEqual([3, 1e-3, null]);
    expect(values(bn.stateDict())).toEqual({
      weight: [1, 1, 1], bias: [0, 0, 0], running_mean: [0, 0, 0], running_var: [1, 1, 1], num_batches_tracked: [0],
    });
    expect(codeOf(() => new BatchNorm2d(3, { affine: false }))).toBe('ERR_UNSUPPORTED');
    expect(codeOf(() => new BatchNorm2d(3, { trackRunningStats: false }))).toBe('ERR_UNSUPPORTED');
    expect(codeOf(() => new BatchNorm2d(0))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('MaxPool2d (stride defaults to the kernel), AdaptiveAvgPool2d (null keeps a side), Linear, ReLU', () => {
    const p = new MaxPool2d(3, { padding: 1 });
    expect([p.kernelSize, p.stride, p.padding, p.dilation, p.ceilMode]).toEqual([[3, 3], [3, 3], [1, 1], [1, 1], false]);
    expect(new AdaptiveAvgPool2d([null, 7]).outputSize).toEqual([null, 7]);
    expect(new AdaptiveAvgPool2d(1).outputSize).toEqual([1, 1]);
    expect(codeOf(() => new AdaptiveAvgPool2d([0, 1]))).toBe('ERR_INVALID_ARGUMENT');
    const l = new Linear(5, 3, { bias: false });
    expect([l.inFeatures, l.outFeatures, l.weight.shape, l.bias]).toEqual([5, 3, [3, 5], null]);
    expect(new ReLU({ inplace: true }).inplace).toBe(true);
    expect(codeOf(() => new ReLU({ inplace: 1 } as never))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('each layer traces as its op, with PyTorch’s output shapes', () => {
    const trace = Tracer.trace(new Net(), [3, 10, 12]);
    expect(trace.nodes.map((n) => `${n.path}:${n.op}:[${trace.values[n.output]!.shape.join(',')}]`)).toEqual([
      'conv:conv2d:[4,10,12]',
      'bn:batch_norm2d:[4,10,12]',
      'head.0:adaptive_avg_pool2d:[4,1,1]',
      'head.1:flatten:[4]',
      'head.2:linear:[2]',
    ]);
  });
});
