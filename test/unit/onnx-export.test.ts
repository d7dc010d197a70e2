import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError, UnsupportedError } from '../../lib/errors.js';
import { exportOnnx, toOnnxBytes } from '../../lib/io/onnx.js';
import { ModelProto } from '../../lib/io/onnx-schema.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential } from '../../lib/nn/index.js';
import type { Tracer, TraceValue } from '../../lib/nn/trace.js';
import { Tensor } from '../../lib/tensor.js';
import { resnet18 } from '../../lib/models/resnet.js';
import { maxRelativeError, randomizeBatchNorms as randomizeAllBatchNorms, rng, uniform } from '../helpers/helpers.js';

// ---------------------------------------------------------------------------------------------
// float64 reference ops, written plainly from PyTorch's definitions (NCHW, row-major)
// ---------------------------------------------------------------------------------------------

interface Act {
  data: Float64Array;
  shape: number[]; // [N, C, H, W] or [N, F]
}

function conv2d(x: Act, m: Conv2d): Act {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [kh, kw] = m.kernelSize;
  const [sh, sw] = m.stride;
  const [ph, pw] = m.padding;
  const [dh, dw] = m.dilation;
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const o = m.outChannels;
  const cg = c / m.groups;
  const og = o / m.groups;
  const wt = m.weight.data;
  const out = new Float64Array(n * o * oh * ow);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / og);
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let sum = m.bias ? m.bias.data[oc]! : 0;
          for (let ic = 0; ic < cg; ic++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = y * sh - ph + ky * dh;
                const ix = xx * sw - pw + kx * dw;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                sum += x.data[((b * c + g * cg + ic) * h + iy) * w + ix]! * wt[((oc * cg + ic) * kh + ky) * kw + kx]!;
              }
          out[((b * o + oc) * oh + y) * ow + xx] = sum;
        }
    }
  return { data: out, shape: [n, o, oh, ow] };
}

function batchNorm(x: Act, m: BatchNorm2d): Act {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const inv = 1 / Math.sqrt(m.runningVar.data[ch]! + m.eps);
      for (let i = 0; i < h * w; i++) {
        const k = (b * c + ch) * h * w + i;
        out[k] = (x.data[k]! - m.runningMean.data[ch]!) * inv * m.weight.data[ch]! + m.bias.data[ch]!;
      }
    }
  return { data: out, shape: x.shape };
}

const relu = (x: Act): Act => ({ data: x.data.map((v) => Math.max(0, v)), shape: x.shape });
const add = (a: Act, b: Act): Act => ({ data: a.data.map((v, i) => v + b.data[i]!), shape: a.shape });

/** PyTorch's output size: floor or ceil, and with ceil the last window must start inside the input or left padding. */
function poolSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

function maxPool(x: Act, m: MaxPool2d): Act {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [kh, kw] = m.kernelSize;
  const oh = poolSize(h, kh, m.stride[0], m.padding[0], m.dilation[0], m.ceilMode);
  const ow = poolSize(w, kw, m.stride[1], m.padding[1], m.dilation[1], m.ceilMode);
  const out = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++) {
        let best = -Infinity;
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const iy = y * m.stride[0] - m.padding[0] + ky * m.dilation[0];
            const ix = xx * m.stride[1] - m.padding[1] + kx * m.dilation[1];
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) best = Math.max(best, x.data[(p * h + iy) * w + ix]!);
          }
        out[(p * oh + y) * ow + xx] = best;
      }
  return { data: out, shape: [n, c, oh, ow] };
}

function adaptiveAvgPool(x: Act, oh: number, ow: number): Act {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const out = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const [y0, y1] = [Math.floor((i * h) / oh), Math.ceil(((i + 1) * h) / oh)];
        const [x0, x1] = [Math.floor((j * w) / ow), Math.ceil(((j + 1) * w) / ow)];
        let sum = 0;
        for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) sum += x.data[(p * h + y) * w + xx]!;
        out[(p * oh + i) * ow + j] = sum / ((y1 - y0) * (x1 - x0));
      }
  return { data: out, shape: [n, c, oh, ow] };
}

function linear(x: Act, m: Linear): Act {
  const [n] = x.shape as [number];
  const f = x.data.length / n;
  const out = new Float64Array(n * m.outFeatures);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < m.outFeatures; o++) {
      let sum = m.bias ? m.bias.data[o]! : 0;
      for (let i = 0; i < f; i++) sum += x.data[b * f + i]! * m.weight.data[o * f + i]!;
      out[b * m.outFeatures + o] = sum;
    }
  return { data: out, shape: [n, m.outFeatures] };
}

// ---------------------------------------------------------------------------------------------
// test models
// ---------------------------------------------------------------------------------------------

/** conv → BN → ReLU → MaxPool(ceil) → AdaptiveAvgPool([2, 2]) → flatten → fc. */
class Net extends Module {
  readonly features: Sequential;
  readonly fc: Linear;
  constructor() {
    super();
    this.features = this.registerModule(
      'features',
      new Sequential<Module>(
        new Conv2d(3, 8, 3, { padding: 1, bias: false }),
        new BatchNorm2d(8),
        new ReLU(),
        new MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
        new AdaptiveAvgPool2d([2, 2]),
      ),
    );
    this.fc = this.registerModule('fc', new Linear(8 * 2 * 2, 5));
  }
  override trace(t: Tracer, x: TraceValue): TraceValue {
    return t.call(this.fc, t.flatten(t.call(this.features, x)));
  }
  reference(x: Act): Act {
    const [conv, bn, , pool] = [...this.features] as [Conv2d, BatchNorm2d, ReLU, MaxPool2d];
    const y = adaptiveAvgPool(maxPool(relu(batchNorm(conv2d(x, conv), bn)), pool), 2, 2);
    return linear(y, this.fc);
  }
}

/** A residual block with a strided, dilated, grouped conv, a biased conv with a non-square kernel and a downsample branch. */
class Block extends Module {
  readonly conv1 = this.registerModule('conv1', new Conv2d(4, 6, 3, { stride: 2, padding: 2, dilation: 2, groups: 2, bias: false }));
  readonly bn1 = this.registerModule('bn1', new BatchNorm2d(6));
  readonly relu = this.registerModule('relu', new ReLU({ inplace: true }));
  readonly conv2 = this.registerModule('conv2', new Conv2d(6, 6, [3, 5], { padding: [1, 2] }));
  readonly bn2 = this.registerModule('bn2', new BatchNorm2d(6));
  readonly downsample = this.registerModule('downsample', new Sequential<Module>(new Conv2d(4, 6, 1, { stride: 2, bias: false }), new BatchNorm2d(6)));
  override trace(t: Tracer, x: TraceValue): TraceValue {
    let out = t.call(this.relu, t.call(this.bn1, t.call(this.conv1, x)));
    out = t.call(this.bn2, t.call(this.conv2, out));
    return t.call(this.relu, t.add(out, t.call(this.downsample, x)));
  }
  reference(x: Act): Act {
    const out = batchNorm(conv2d(relu(batchNorm(conv2d(x, this.conv1), this.bn1)), this.conv2), this.bn2);
    const [dsConv, dsBn] = [...this.downsample] as [Conv2d, BatchNorm2d];
    return relu(add(out, batchNorm(conv2d(x, dsConv), dsBn)));
  }
}

/** Non-trivial BN statistics and affine parameters, set through loadStateDict (torchvision's init leaves BN the identity). */
function randomizeBatchNorms(model: Module, seed: number): void {
  const r = rng(seed);
  const values = (n: number, lo: number, hi: number) => Tensor.from(Float32Array.from({ length: n }, () => lo + (hi - lo) * r()), [n]);
  const sd: Record<string, Tensor> = {};
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    sd[`${path}.weight`] = values(m.numFeatures, 0.5, 1.5);
    sd[`${path}.bias`] = values(m.numFeatures, -0.5, 0.5);
    sd[`${path}.running_mean`] = values(m.numFeatures, -0.5, 0.5);
    sd[`${path}.running_var`] = values(m.numFeatures, 0.25, 2);
  }
  expect(model.loadStateDict(sd, { strict: false }).unexpectedKeys).toEqual([]);
}

async function runOnnx(bytes: Uint8Array, input: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ input: new ort.Tensor('float32', input, shape) });
  const y = out.output!;
  return { data: y.data as Float32Array, dims: y.dims };
}

type Decoded = {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  opset_import: { domain?: string; version: number }[];
  graph: {
    name: string;
    node: { name: string; op_type: string; input: string[]; output: string[]; attribute: { name: string; i?: number; ints?: number[]; f?: number }[] }[];
    initializer: { name: string; dims: number[]; data_type: number; raw_data: Uint8Array }[];
    input: { name: string; type: { tensor_type: { elem_type: number; shape: { dim: { dim_value?: number; dim_param?: string }[] } } } }[];
    output: { name: string; type: { tensor_type: { elem_type: number; shape: { dim: { dim_value?: number; dim_param?: string }[] } } } }[];
  };
};

function decode(bytes: Uint8Array): Decoded {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false }) as Decoded;
}

async function expectMatchesReference(model: Net | Block, inputShape: number[], foldBatchNorm: boolean): Promise<void> {
  const bytes = toOnnxBytes(model, { inputShape, foldBatchNorm });
  for (const batch of [2, 3]) {
    const shape = [batch, ...inputShape];
    const x = uniform(shape.reduce((a, b) => a * b, 1), 100 + batch);
    const expected = model.reference({ data: Float64Array.from(x), shape });
    const actual = await runOnnx(bytes, x, shape);
    expect(actual.dims).toEqual(expected.shape);
    expect(maxRelativeError(actual.data, expected.data)).toBeLessThanOrEqual(1e-5);
  }
}

describe('ONNX export runs in onnxruntime and matches a float64 reference', () => {
  for (const foldBatchNorm of [false, true]) {
    it(`conv → BN → ReLU → MaxPool(ceil) → AdaptiveAvgPool → flatten → Linear (foldBatchNorm: ${foldBatchNorm})`, async () => {
      const net = new Net();
      randomizeBatchNorms(net, 1);
      await expectMatchesReference(net, [3, 10, 10], foldBatchNorm);
    });

    it(`a residual block with a downsample branch (foldBatchNorm: ${foldBatchNorm})`, async () => {
      const block = new Block();
      randomizeBatchNorms(block, 2);
      await expectMatchesReference(block, [4, 9, 9], foldBatchNorm);
    });
  }

  it('MaxPool where PyTorch drops the ceil-mode window that starts in the padding', async () => {
    const pool = new MaxPool2d(2, { stride: 2, padding: 1, ceilMode: true });
    const model = new Sequential(pool);
    const bytes = toOnnxBytes(model, { inputShape: [2, 5, 7] });
    const x = uniform(2 * 2 * 5 * 7, 5);
    const expected = maxPool({ data: Float64Array.from(x), shape: [2, 2, 5, 7] }, pool);
    expect(expected.shape).toEqual([2, 2, 3, 4]); // ceil would give 4 x 5
    const actual = await runOnnx(bytes, x, [2, 2, 5, 7]);
    expect(actual.dims).toEqual(expected.shape);
    expect(maxRelativeError(actual.data, expected.data)).toBe(0);
    // Floor mode gives PyTorch's size here; ceil_mode would not in ONNX's own shape rules.
    const node = decode(bytes).graph.node[0]!;
    expect(node.attribute.find((a) => a.name === 'ceil_mode')?.i ?? 0).toBe(0);
  });

  it('writes ceil_mode where ceiling adds a window', () => {
    const nodes = decode(toOnnxBytes(new Net(), { inputShape: [3, 10, 10] })).graph.node;
    const pool = nodes.find((n) => n.op_type === 'MaxPool')!;
    expect(pool.attribute.find((a) => a.name === 'ceil_mode')!.i).toBe(1);
    expect(pool.attribute.find((a) => a.name === 'pads')!.ints).toEqual([1, 1, 1, 1]);
  });

  it('every supported opset (13–23) loads and gives the same output', async () => {
    const net = new Net();
    randomizeBatchNorms(net, 3);
    const x = uniform(2 * 3 * 10 * 10, 9);
    const expected = net.reference({ data: Float64Array.from(x), shape: [2, 3, 10, 10] });
    for (let opset = 13; opset <= 23; opset++) {
      const bytes = toOnnxBytes(net, { inputShape: [3, 10, 10], opset });
      const { ir_version, opset_import } = decode(bytes);
      expect(opset_import).toEqual([{ domain: '', version: opset }]);
      expect(ir_version).toBe(({ 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11 } as Record<number, number>)[opset]);
      const actual = await runOnnx(bytes, x, [2, 3, 10, 10]);
      expect(maxRelativeError(actual.data, expected.data), `opset ${opset}`).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('ONNX export of torchvision resnet18', () => {
  it('loads in onnxruntime, returns [2, 10] finite logits, and keeps torchvision names', async () => {
    const model = resnet18({ numClasses: 10 });
    randomizeAllBatchNorms(model, 4);
    const x = uniform(2 * 3 * 64 * 64, 11);
    const plain = toOnnxBytes(model, { inputShape: [3, 64, 64] });
    const y = await runOnnx(plain, x, [2, 3, 64, 64]);
    expect(y.dims).toEqual([2, 10]);
    expect(y.data.every(Number.isFinite)).toBe(true);
    expect(new Set(y.data).size).toBeGreaterThan(1);

    const graph = decode(plain).graph;
    const keys = Object.keys(model.stateDict()).filter((k) => !k.endsWith('num_batches_tracked'));
    expect(graph.initializer.map((i) => i.name).sort()).toEqual(keys.sort());
    expect(graph.node.slice(0, 5).map((n) => n.name)).toEqual(['conv1', 'bn1', 'relu', 'maxpool', 'layer1.0.conv1']);
    expect(graph.node.filter((n) => n.name.startsWith('layer1.0.')).map((n) => n.name)).toEqual([
      'layer1.0.conv1', 'layer1.0.bn1', 'layer1.0.relu', 'layer1.0.conv2', 'layer1.0.bn2', 'layer1.0.add', 'layer1.0.relu_1',
    ]);
    expect(graph.node.slice(-3).map((n) => [n.name, n.op_type])).toEqual([['avgpool', 'GlobalAveragePool'], ['flatten', 'Flatten'], ['fc', 'Gemm']]);

    // The folded export computes the same function.
    const folded = toOnnxBytes(model, { inputShape: [3, 64, 64], foldBatchNorm: true });
    expect(decode(folded).graph.node.some((n) => n.op_type === 'BatchNormalization')).toBe(false);
    const z = await runOnnx(folded, x, [2, 3, 64, 64]);
    expect(maxRelativeError(z.data, y.data)).toBeLessThanOrEqual(1e-5);
  });
});

describe('ONNX export: names, shapes and metadata', () => {
  it('names initializers by state-dict key and nodes by module path', () => {
    const net = new Net();
    const model = decode(toOnnxBytes(net, { inputShape: [3, 10, 10] }));
    const keys = Object.keys(net.stateDict()).filter((k) => !k.endsWith('num_batches_tracked'));
    expect(model.graph.initializer.map((i) => i.name).sort()).toEqual(keys.sort());
    expect(model.graph.node.map((n) => [n.name, n.op_type])).toEqual([
      ['features.0', 'Conv'],
      ['features.1', 'BatchNormalization'],
      ['features.2', 'Relu'],
      ['features.3', 'MaxPool'],
      ['features.4', 'AveragePool'],
      ['flatten', 'Flatten'],
      ['fc', 'Gemm'],
    ]);
    // Initializer data is the module's float32 data, little-endian.
    const w = model.graph.initializer.find((i) => i.name === 'fc.weight')!;
    expect(w.dims).toEqual([5, 32]);
    expect(w.data_type).toBe(1);
    const bytes = Buffer.from(w.raw_data);
    expect(Array.from({ length: 160 }, (_, k) => bytes.readFloatLE(4 * k))).toEqual(Array.from(net.fc.weight.data));
    const gemm = model.graph.node.at(-1)!;
    expect(gemm.input).toEqual(['flatten', 'fc.weight', 'fc.bias']);
    expect(gemm.output).toEqual(['output']);
    expect(gemm.attribute).toEqual([{ name: 'transB', type: 2, i: 1 }]);
    expect(model.graph.node[0]!.input).toEqual(['input', 'features.0.weight']);
  });

  it('folds BatchNorm into the conv under the conv’s own names', () => {
    const block = new Block();
    const model = decode(toOnnxBytes(block, { inputShape: [4, 9, 9], foldBatchNorm: true }));
    expect(model.graph.node.map((n) => [n.name, n.op_type])).toEqual([
      ['conv1', 'Conv'],
      ['relu', 'Relu'],
      ['conv2', 'Conv'],
      ['downsample.0', 'Conv'],
      ['add', 'Add'],
      ['relu_1', 'Relu'],
    ]);
    expect(model.graph.initializer.map((i) => i.name).sort()).toEqual(
      ['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'downsample.0.weight', 'downsample.0.bias'].sort(),
    );
    expect(model.graph.node[1]!.input).toEqual(['conv1']);
  });

  it('reuses one initializer for a module called twice', () => {
    class Twice extends Module {
      readonly conv = this.registerModule('conv', new Conv2d(2, 2, 1));
      override trace(t: Tracer, x: TraceValue): TraceValue {
        return t.call(this.conv, t.call(this.conv, x));
      }
    }
    const model = decode(toOnnxBytes(new Twice(), { inputShape: [2, 3, 3] }));
    expect(model.graph.initializer.map((i) => i.name)).toEqual(['conv.weight', 'conv.bias']);
    expect(model.graph.node.map((n) => [n.name, n.input[0], n.output[0]])).toEqual([
      ['conv', 'input', 'conv'],
      ['conv_1', 'conv', 'output'],
    ]);
  });

  it('names an op a container emits itself under the container; exports an identity', async () => {
    class Head extends Module {
      readonly pool = this.registerModule('pool', new AdaptiveAvgPool2d(1));
      readonly flat = this.registerModule('flat', new Flatten());
      override trace(t: Tracer, x: TraceValue): TraceValue {
        return t.relu(t.call(this.flat, t.call(this.pool, x)));
      }
    }
    const bytes = toOnnxBytes(new Sequential<Module>(new Head()), { inputShape: [2, 2, 3] });
    expect(decode(bytes).graph.node.map((n) => [n.name, n.op_type])).toEqual([
      ['0.pool', 'GlobalAveragePool'],
      ['0.flat', 'Flatten'],
      ['0.relu', 'Relu'],
    ]);
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6]);
    const y = await runOnnx(bytes, x, [2, 2, 2, 3]);
    expect(y.dims).toEqual([2, 2]);
    expect(Array.from(y.data)).toEqual([3.5, 0, 1, 6]);

    const identity = toOnnxBytes(new Sequential(), { inputShape: [2, 2, 3] });
    expect(decode(identity).graph.node.map((n) => n.op_type)).toEqual(['Identity']);
    expect(Array.from((await runOnnx(identity, x, [2, 2, 2, 3])).data)).toEqual(Array.from(x));
  });

  it('declares a symbolic batch, or a batch of 1 without dynamicBatch', async () => {
    const net = new Net();
    const dynamic = decode(toOnnxBytes(net, { inputShape: [3, 10, 10], inputName: 'pixels', outputName: 'logits' }));
    expect(dynamic.graph.input.map((v) => v.name)).toEqual(['pixels']);
    expect(dynamic.graph.output.map((v) => v.name)).toEqual(['logits']);
    expect(dynamic.graph.input[0]!.type.tensor_type).toEqual({
      elem_type: 1,
      shape: { dim: [{ dim_param: 'batch' }, { dim_value: 3 }, { dim_value: 10 }, { dim_value: 10 }] },
    });
    expect(dynamic.graph.output[0]!.type.tensor_type.shape.dim).toEqual([{ dim_param: 'batch' }, { dim_value: 5 }]);

    const bytes = toOnnxBytes(net, { inputShape: [3, 10, 10], dynamicBatch: false });
    const fixed = decode(bytes);
    expect(fixed.graph.input[0]!.type.tensor_type.shape.dim[0]).toEqual({ dim_value: 1 });
    expect(fixed.graph.output[0]!.type.tensor_type.shape.dim).toEqual([{ dim_value: 1 }, { dim_value: 5 }]);
    expect((await runOnnx(bytes, uniform(300, 1), [1, 3, 10, 10])).dims).toEqual([1, 5]);
    await expect(runOnnx(bytes, uniform(600, 1), [2, 3, 10, 10])).rejects.toThrow(/dimension|Got: 2/i);
  });

  it('writes the model header fields at their onnx.proto field numbers (read with a bare wire-format reader)', async () => {
    const bytes = toOnnxBytes(new Net(), { inputShape: [3, 10, 10], opset: 17 });
    const fields = readWire(bytes);
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(fields.get(1)).toEqual([8n]); // ir_version = 1
    expect(fields.get(2)!.map(text)).toEqual(['resnet-cudnn']); // producer_name = 2
    expect(fields.get(3)!.map(text)).toEqual([pkg.version]); // producer_version = 3
    expect(fields.get(7)).toHaveLength(1); // graph = 7
    const opset = readWire(fields.get(8)![0] as Uint8Array); // opset_import = 8
    expect(opset.get(2)).toEqual([17n]); // OperatorSetIdProto.version = 2
    const graph = readWire(fields.get(7)![0] as Uint8Array);
    expect(graph.get(2)!.map(text)).toEqual(['Net']); // GraphProto.name = 2
    expect(graph.get(1)).toHaveLength(7); // node = 1
    expect(graph.get(5)).toHaveLength(7); // initializer = 5
    expect(readWire(graph.get(11)![0] as Uint8Array).get(1)!.map(text)).toEqual(['input']); // input = 11, ValueInfoProto.name = 1
    const conv = readWire(graph.get(1)![0] as Uint8Array);
    expect(conv.get(4)!.map(text)).toEqual(['Conv']); // NodeProto.op_type = 4
    expect(conv.get(3)!.map(text)).toEqual(['features.0']); // NodeProto.name = 3
    const init = readWire(graph.get(5)![0] as Uint8Array);
    expect(init.get(1)).toEqual([8n, 3n, 3n, 3n]); // TensorProto.dims = 1 (int64, unpacked in proto2)
    expect(init.get(2)).toEqual([1n]); // data_type = 2: FLOAT
    expect(init.get(8)!.map(text)).toEqual(['features.0.weight']); // name = 8
    expect((init.get(9)![0] as Uint8Array).length).toBe(8 * 27 * 4); // raw_data = 9
  });

  it('exportOnnx writes the same bytes to a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'onnx-'));
    try {
      const net = new Net();
      const file = join(dir, 'net.onnx');
      await exportOnnx(net, file, { inputShape: [3, 10, 10] });
      const bytes = toOnnxBytes(net, { inputShape: [3, 10, 10] });
      expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype);
      expect(bytes.byteOffset).toBe(0);
      expect(bytes.buffer.byteLength).toBe(bytes.length);
      expect(Buffer.compare(await readFile(file), bytes)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ONNX export: errors', () => {
  it('rejects an adaptive pool whose windows differ in size', () => {
    const model = new Sequential(new AdaptiveAvgPool2d([3, 3]));
    expect(() => toOnnxBytes(model, { inputShape: [2, 8, 8] })).toThrow(UnsupportedError);
    expect(() => toOnnxBytes(model, { inputShape: [2, 8, 8] })).toThrow(/AdaptiveAvgPool2d at "0" pools a 8x8 map to 3x3, which does not divide evenly/);
    // Divisible and global forms export.
    expect(decode(toOnnxBytes(model, { inputShape: [2, 9, 9] })).graph.node[0]!.op_type).toBe('AveragePool');
    expect(decode(toOnnxBytes(new Sequential(new AdaptiveAvgPool2d(1)), { inputShape: [2, 7, 5] })).graph.node[0]!.op_type).toBe('GlobalAveragePool');
  });

  it('rejects bad options', () => {
    const net = new Net();
    for (const opset of [12, 24, 17.5, '17']) {
      expect(() => toOnnxBytes(net, { opset: opset as number, inputShape: [3, 10, 10] })).toThrow(InvalidArgumentError);
    }
    expect(() => toOnnxBytes(net, { opset: 12 })).toThrow('Expected an opset from 13 to 23 for opset but received 12');
    expect(() => toOnnxBytes(net, { inputShape: [3, 0, 10] })).toThrow(InvalidArgumentError);
    expect(() => toOnnxBytes(net, { inputName: 'x', outputName: 'x' })).toThrow(/must differ/);
    expect(() => toOnnxBytes(net, { inputName: '' })).toThrow(InvalidArgumentError);
    expect(() => toOnnxBytes(net, { opSet: 17 } as never)).toThrow(/unknown option "opSet" \(did you mean "opset"\?\)/);
    expect(() => toOnnxBytes({} as Module)).toThrow(InvalidArgumentError);
    expect(() => toOnnxBytes(net, { inputShape: [4, 10, 10] })).toThrow(ShapeError);
  });
});

// ---------------------------------------------------------------------------------------------
// a bare protobuf wire-format reader (no schema), to check field numbers independently of protobufjs
// ---------------------------------------------------------------------------------------------

function text(v: bigint | Uint8Array): string {
  return Buffer.from(v as Uint8Array).toString('utf8');
}

/** Field number → values (varints as bigint, length-delimited as bytes). Only wire types 0 and 2 occur here. */
function readWire(bytes: Uint8Array): Map<number, (bigint | Uint8Array)[]> {
  const out = new Map<number, (bigint | Uint8Array)[]>();
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = bytes[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
    }
  };
  while (pos < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wireType = key & 7;
    let value: bigint | Uint8Array;
    if (wireType === 0) value = varint();
    else if (wireType === 2) {
      const len = Number(varint());
      value = bytes.subarray(pos, pos + len);
      pos += len;
    } else if (wireType === 5) {
      value = BigInt(new DataView(bytes.buffer, bytes.byteOffset + pos, 4).getUint32(0, true));
      pos += 4;
    } else throw new Error(`unexpected wire type ${wireType}`);
    if (!out.has(field)) out.set(field, []);
    out.get(field)!.push(value);
  }
  return out;
}
