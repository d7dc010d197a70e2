// Every op of the native engine against a float64 reference written plainly here, on tiny graphs built
// by hand with seeded random data, at batch 1 and batch 3.
import { describe, expect, it } from 'vitest';
import type { ConvOp, Graph, GraphOp, Pair } from '../../lib/compile/graph.js';
import { compileGraph } from '../../lib/runtime/engine.js';
import { graphBuilders, graphOf, type ConvSpec } from '../helpers/graph-builders.js';
import { maxRelativeError, rng, uniform } from '../helpers/helpers.js';

// ---- data ---------------------------------------------------------------------------------------------

const random = rng(20240611);
const { randomArray, conv } = graphBuilders(random);

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A batch of samples with a per-sample shape, in float64 for the reference. */
interface Batch {
  readonly n: number;
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

const batchOf = (n: number, shape: readonly number[], data: ArrayLike<number>): Batch => ({ n, shape, data: Float64Array.from(data) });

// ---- float64 reference ops ----------------------------------------------------------------------------

function refConv(x: Batch, op: ConvOp): Batch {
  const [c, h, w] = x.shape as [number, number, number];
  const [kh, kw] = op.kernel;
  const [sh, sw] = op.stride;
  const [ph, pw] = op.padding;
  const [dh, dw] = op.dilation;
  const oc = op.outChannels;
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const icg = c / op.groups;
  const ocg = oc / op.groups;
  const out = new Float64Array(x.n * oc * oh * ow);
  for (let n = 0; n < x.n; n++) {
    for (let o = 0; o < oc; o++) {
      const g = Math.floor(o / ocg);
      for (let y = 0; y < oh; y++) {
        for (let z = 0; z < ow; z++) {
          let sum = op.bias[o]!;
          for (let i = 0; i < icg; i++) {
            const ci = g * icg + i;
            for (let a = 0; a < kh; a++) {
              const iy = y * sh - ph + a * dh;
              if (iy < 0 || iy >= h) continue;
              for (let b = 0; b < kw; b++) {
                const ix = z * sw - pw + b * dw;
                if (ix < 0 || ix >= w) continue;
                sum += x.data[((n * c + ci) * h + iy) * w + ix]! * op.weight[((o * icg + i) * kh + a) * kw + b]!;
              }
            }
          }
          out[((n * oc + o) * oh + y) * ow + z] = sum;
        }
      }
    }
  }
  return { n: x.n, shape: [oc, oh, ow], data: out };
}

/** PyTorch's pooling output size (ceil mode: the last window must start inside the input or left padding). */
function poolSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

function refMaxPool(x: Batch, k: Pair, s: Pair, p: Pair, d: Pair, ceil: boolean): Batch {
  const [c, h, w] = x.shape as [number, number, number];
  const oh = poolSize(h, k[0], s[0], p[0], d[0], ceil);
  const ow = poolSize(w, k[1], s[1], p[1], d[1], ceil);
  const out = new Float64Array(x.n * c * oh * ow);
  for (let plane = 0; plane < x.n * c; plane++) {
    for (let y = 0; y < oh; y++) {
      for (let z = 0; z < ow; z++) {
        let best = -Infinity; // PyTorch pads with -inf
        for (let a = 0; a < k[0]; a++) {
          const iy = y * s[0] - p[0] + a * d[0];
          if (iy < 0 || iy >= h) continue;
          for (let b = 0; b < k[1]; b++) {
            const ix = z * s[1] - p[1] + b * d[1];
            if (ix < 0 || ix >= w) continue;
            best = Math.max(best, x.data[(plane * h + iy) * w + ix]!);
          }
        }
        out[(plane * oh + y) * ow + z] = best;
      }
    }
  }
  return { n: x.n, shape: [c, oh, ow], data: out };
}

function refAdaptiveAvgPool(x: Batch, oh: number, ow: number): Batch {
  const [c, h, w] = x.shape as [number, number, number];
  const out = new Float64Array(x.n * c * oh * ow);
  for (let plane = 0; plane < x.n * c; plane++) {
    for (let i = 0; i < oh; i++) {
      const h0 = Math.floor((i * h) / oh);
      const h1 = Math.ceil(((i + 1) * h) / oh);
      for (let j = 0; j < ow; j++) {
        const w0 = Math.floor((j * w) / ow);
        const w1 = Math.ceil(((j + 1) * w) / ow);
        let sum = 0;
        for (let y = h0; y < h1; y++) for (let z = w0; z < w1; z++) sum += x.data[(plane * h + y) * w + z]!;
        out[(plane * oh + i) * ow + j] = sum / ((h1 - h0) * (w1 - w0));
      }
    }
  }
  return { n: x.n, shape: [c, oh, ow], data: out };
}

function refLinear(x: Batch, weight: Float32Array, bias: Float32Array, outFeatures: number): Batch {
  const inFeatures = numel(x.shape);
  const out = new Float64Array(x.n * outFeatures);
  for (let n = 0; n < x.n; n++) {
    for (let o = 0; o < outFeatures; o++) {
      let sum = bias[o]!;
      for (let i = 0; i < inFeatures; i++) sum += x.data[n * inFeatures + i]! * weight[o * inFeatures + i]!;
      out[n * outFeatures + o] = sum;
    }
  }
  return { n: x.n, shape: [outFeatures], data: out };
}

const refRelu = (x: Batch): Batch => ({ ...x, data: x.data.map((v) => Math.max(v, 0)) });
const refAdd = (a: Batch, b: Batch): Batch => ({ ...a, data: a.data.map((v, i) => v + b.data[i]!) });
const refFlatten = (x: Batch): Batch => ({ ...x, shape: [numel(x.shape)] });

// ---- graph building ---------------------------------------------------------------------------------

/**
 * Compiles `graph` for `batch`, runs it on random input, and compares every output with `reference`,
 * which computes the outputs from the same input in float64.
 */
async function check(graph: Graph, batch: number, reference: (x: Batch) => Batch[]): Promise<void> {
  const inputShape = graph.values[graph.input]!.shape;
  const input = randomArray(batch * numel(inputShape));
  using executable = await compileGraph(graph, { backend: 'cpu', batch });
  const got = await executable.run(input);
  const want = reference(batchOf(batch, inputShape, input));
  expect(got).toHaveLength(graph.outputs.length);
  want.forEach((expected, k) => {
    expect(expected.shape).toEqual(graph.values[graph.outputs[k]!]!.shape); // the hand-built graph agrees with the reference
    expect(got[k]).toHaveLength(expected.data.length);
    expect(maxRelativeError(got[k]!, expected.data)).toBeLessThanOrEqual(1e-5);
  });
}

// ---- cases ----------------------------------------------------------------------------------------------

interface Case {
  name: string;
  graph: () => Graph;
  reference: (x: Batch) => Batch[];
}

function convCase(name: string, inShape: [number, number, number], spec: Omit<ConvSpec, 'src' | 'dst' | 'inChannels'>): Case {
  const op = conv({ ...spec, src: 0, dst: 1, inChannels: inShape[0] });
  const outShape = refConv(batchOf(1, inShape, new Float64Array(numel(inShape))), op).shape;
  return {
    name,
    graph: () => graphOf([inShape, outShape], [op], [1]),
    reference: (x) => [spec.relu ? refRelu(refConv(x, op)) : refConv(x, op)],
  };
}

function maxPoolCase(name: string, inShape: [number, number, number], k: Pair, s: Pair, p: Pair, d: Pair, ceilMode: boolean): Case {
  const outShape = refMaxPool(batchOf(1, inShape, new Float64Array(numel(inShape))), k, s, p, d, ceilMode).shape;
  return {
    name,
    graph: () => graphOf([inShape, outShape], [{ op: 'maxpool', src: 0, dst: 1, kernel: k, stride: s, padding: p, dilation: d, ceilMode }], [1]),
    reference: (x) => [refMaxPool(x, k, s, p, d, ceilMode)],
  };
}

function adaptiveCase(inShape: [number, number, number], out: Pair): Case {
  return {
    name: `adaptive avg pool ${inShape[1]}x${inShape[2]} -> ${out[0]}x${out[1]}`,
    graph: () => graphOf([inShape, [inShape[0], out[0], out[1]]], [{ op: 'adaptive_avgpool', src: 0, dst: 1 }], [1]),
    reference: (x) => [refAdaptiveAvgPool(x, out[0], out[1])],
  };
}

const cases: Case[] = [
  convCase('conv 3x3, padding 1, bias', [3, 9, 9], { outChannels: 8, padding: [1, 1] }),
  convCase('conv with stride 2, padding 2, dilation 2 on a non-square input', [5, 11, 13], { outChannels: 6, stride: [2, 2], padding: [2, 2], dilation: [2, 2] }),
  convCase('conv with a 3x1 kernel and per-axis stride and padding', [4, 8, 7], { outChannels: 6, kernel: [3, 1], stride: [2, 1], padding: [1, 0] }),
  convCase('grouped conv (2 groups)', [4, 7, 7], { outChannels: 6, groups: 2, padding: [1, 1] }),
  convCase('depthwise conv with ReLU', [16, 10, 10], { outChannels: 16, groups: 16, padding: [1, 1], relu: true }),
  convCase('1x1 conv at 32 -> 64 channels, stride 2', [32, 8, 8], { outChannels: 64, kernel: [1, 1], stride: [2, 2] }),
  convCase('7x7 stride-2 stem conv with ReLU', [3, 20, 20], { outChannels: 16, kernel: [7, 7], stride: [2, 2], padding: [3, 3], relu: true }),
  (() => {
    // The residual is the graph input itself (not arena memory): copied into dst before the sum.
    const op = conv({ src: 0, dst: 1, inChannels: 8, outChannels: 8, padding: [1, 1], residual: 0, relu: true });
    return { name: 'conv + residual (the input) + ReLU', graph: () => graphOf([[8, 6, 6], [8, 6, 6]], [op], [1]), reference: (x: Batch) => [refRelu(refAdd(refConv(x, op), x))] };
  })(),
  (() => {
    // A ResNet basic block: the residual's last reader is the second conv, which sums into it in place.
    const c1 = conv({ src: 0, dst: 1, inChannels: 16, outChannels: 16, padding: [1, 1], relu: true });
    const c2 = conv({ src: 1, dst: 2, inChannels: 16, outChannels: 16, padding: [1, 1], relu: true });
    const c3 = conv({ src: 2, dst: 3, inChannels: 16, outChannels: 16, padding: [1, 1], residual: 1, relu: true });
    return {
      name: 'chain conv -> conv -> conv with the first as residual (in place)',
      graph: () => graphOf([[16, 8, 8], [16, 8, 8], [16, 8, 8], [16, 8, 8]], [c1, c2, c3], [3]),
      reference: (x: Batch) => {
        const a = refRelu(refConv(x, c1));
        return [refRelu(refAdd(refConv(refRelu(refConv(a, c2)), c3), a))];
      },
    };
  })(),
  (() => {
    // The residual is read again after the conv that sums into it, so it must be copied first.
    const c1 = conv({ src: 0, dst: 1, inChannels: 5, outChannels: 24, padding: [1, 1], relu: true });
    const c2 = conv({ src: 1, dst: 2, inChannels: 24, outChannels: 24, padding: [1, 1], relu: true });
    const c3 = conv({ src: 2, dst: 3, inChannels: 24, outChannels: 24, padding: [1, 1], residual: 1 });
    return {
      name: 'chain conv -> conv -> conv with residual from the first, which a later op reads too (copy)',
      graph: () =>
        graphOf([[5, 7, 7], [24, 7, 7], [24, 7, 7], [24, 7, 7], [24, 7, 7]], [c1, c2, c3, { op: 'add', a: 3, b: 1, dst: 4, relu: false }], [4]),
      reference: (x: Batch) => {
        const a = refRelu(refConv(x, c1));
        const c = refAdd(refConv(refRelu(refConv(a, c2)), c3), a);
        return [refAdd(c, a)];
      },
    };
  })(),
  (() => {
    // conv(a) + a: the residual is also the conv's src, so the conv cannot write over it.
    const c1 = conv({ src: 0, dst: 1, inChannels: 5, outChannels: 24, padding: [1, 1], relu: true });
    const c2 = conv({ src: 1, dst: 2, inChannels: 24, outChannels: 24, padding: [1, 1], residual: 1 });
    return {
      name: 'conv whose residual is its own src, also a graph output',
      graph: () => graphOf([[5, 7, 7], [24, 7, 7], [24, 7, 7]], [c1, c2], [2, 1]),
      reference: (x: Batch) => {
        const a = refRelu(refConv(x, c1));
        return [refAdd(refConv(a, c2), a), a];
      },
    };
  })(),
  maxPoolCase('max pool 3x3 stride 2 padding 1 (ResNet stem)', [8, 9, 9], [3, 3], [2, 2], [1, 1], [1, 1], false),
  maxPoolCase('max pool with dilation 2', [4, 11, 10], [3, 2], [1, 2], [1, 1], [2, 2], false),
  maxPoolCase('max pool in ceil mode (an extra partial window)', [4, 8, 8], [3, 3], [2, 2], [0, 0], [1, 1], true),
  maxPoolCase('max pool in ceil mode with padding', [6, 10, 9], [3, 3], [2, 2], [1, 1], [1, 1], true),
  maxPoolCase('max pool in ceil mode where the last window is dropped', [3, 5, 5], [2, 2], [2, 2], [1, 1], [1, 1], true),
  adaptiveCase([5, 7, 5], [3, 2]),
  adaptiveCase([4, 10, 10], [4, 4]),
  adaptiveCase([32, 7, 7], [1, 1]),
  adaptiveCase([6, 8, 8], [2, 4]),
  adaptiveCase([3, 3, 2], [5, 3]),
  (() => {
    const weight = randomArray(10 * 6 * 3 * 4, 0.2);
    const bias = randomArray(10);
    return {
      name: 'linear on a 4-D value (flattened in C, H, W order)',
      graph: () => graphOf([[6, 3, 4], [10]], [{ op: 'linear', src: 0, dst: 1, outFeatures: 10, weight, bias }], [1]),
      reference: (x: Batch) => [refLinear(x, weight, bias, 10)],
    };
  })(),
  {
    name: 'standalone ReLU',
    graph: () => graphOf([[5, 4, 3], [5, 4, 3]], [{ op: 'relu', src: 0, dst: 1 }], [1]),
    reference: (x) => [refRelu(x)],
  },
  (() => {
    const c1 = conv({ src: 0, dst: 1, inChannels: 4, outChannels: 4, padding: [1, 1] });
    return {
      name: 'standalone add, add + ReLU, and a value added to itself',
      graph: () =>
        graphOf(
          [[4, 5, 5], [4, 5, 5], [4, 5, 5], [4, 5, 5], [4, 5, 5]],
          [c1, { op: 'add', a: 1, b: 0, dst: 2, relu: false }, { op: 'add', a: 2, b: 1, dst: 3, relu: true }, { op: 'add', a: 3, b: 3, dst: 4, relu: false }],
          [2, 4],
        ),
      reference: (x: Batch) => {
        const a = refConv(x, c1);
        const b = refAdd(a, x);
        const c = refRelu(refAdd(b, a));
        return [b, refAdd(c, c)];
      },
    };
  })(),
  (() => {
    const c1 = conv({ src: 0, dst: 1, inChannels: 3, outChannels: 16, padding: [1, 1], relu: true });
    return {
      name: 'flatten as a graph output',
      graph: () => graphOf([[3, 4, 5], [16, 4, 5], [16 * 20]], [c1, { op: 'flatten', src: 1, dst: 2 }], [2]),
      reference: (x: Batch) => [refFlatten(refRelu(refConv(x, c1)))],
    };
  })(),
  (() => {
    // The ResNet tail shape: conv -> max pool -> global pool -> flatten -> linear, and conv -> max pool -> linear.
    const c1 = conv({ src: 0, dst: 1, inChannels: 3, outChannels: 32, kernel: [5, 5], stride: [2, 2], padding: [2, 2], relu: true });
    const fcWeight = randomArray(7 * 32 * 4 * 4, 0.05);
    const fcBias = randomArray(7);
    const fc2Weight = randomArray(5 * 32, 0.2);
    const fc2Bias = randomArray(5);
    return {
      name: 'chain conv -> maxpool -> linear, and -> global pool -> flatten -> linear',
      graph: () =>
        graphOf(
          [[3, 16, 16], [32, 8, 8], [32, 4, 4], [7], [32, 1, 1], [32], [5]],
          [
            c1,
            { op: 'maxpool', src: 1, dst: 2, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false },
            { op: 'linear', src: 2, dst: 3, outFeatures: 7, weight: fcWeight, bias: fcBias },
            { op: 'adaptive_avgpool', src: 2, dst: 4 },
            { op: 'flatten', src: 4, dst: 5 },
            { op: 'linear', src: 5, dst: 6, outFeatures: 5, weight: fc2Weight, bias: fc2Bias },
          ],
          [3, 6],
        ),
      reference: (x: Batch) => {
        const pooled = refMaxPool(refRelu(refConv(x, c1)), [3, 3], [2, 2], [1, 1], [1, 1], false);
        return [refLinear(pooled, fcWeight, fcBias, 7), refLinear(refFlatten(refAdaptiveAvgPool(pooled, 1, 1)), fc2Weight, fc2Bias, 5)];
      },
    };
  })(),
];

describe.each([1, 3])('native ops at batch %i match the float64 reference', (batch) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await check(c.graph(), batch, c.reference);
  });
});

describe('Winograd 3x3 convs', () => {
  it('RESNET_CPU_WINOGRAD=0 switches them to direct convs; both stay within 1e-5 of the float64 reference', async () => {
    const shapes = [[32, 14, 14], [32, 14, 14], [32, 14, 14]];
    const ops = [
      conv({ src: 0, dst: 1, inChannels: 32, outChannels: 32, padding: [1, 1], relu: true }),
      conv({ src: 1, dst: 2, inChannels: 32, outChannels: 32, padding: [1, 1], residual: 0, relu: true }),
    ];
    const batch = 2;
    const input = uniform(batch * 32 * 14 * 14, 7);
    const x = batchOf(batch, [32, 14, 14], input);
    // conv2 adds its residual (the input) before its ReLU, as the native op does.
    const expectedRelu = refRelu(refAdd(refConv(refRelu(refConv(x, ops[0]!)), ops[1]!), x));
    const outputs: Float32Array[] = [];
    for (const setting of [undefined, '0']) {
      if (setting === undefined) delete process.env.RESNET_CPU_WINOGRAD;
      else process.env.RESNET_CPU_WINOGRAD = setting;
      using executable = await compileGraph(graphOf(shapes, ops, [2]), { backend: 'cpu', batch });
      const [out] = await executable.run(input);
      expect(executable.lastRunDeviceMs).toBe(-1); // the CPU backend measures no device time
      expect(maxRelativeError(out!, expectedRelu.data)).toBeLessThan(1e-5);
      outputs.push(out!);
    }
    delete process.env.RESNET_CPU_WINOGRAD;
    // Different algorithms round differently: identical outputs would mean the switch did nothing.
    expect(outputs[0]!.some((v, i) => v !== outputs[1]![i])).toBe(true);
  });
});

describe('memory plan', () => {
  it('reuses activation memory across a long chain instead of giving every value its own buffer', async () => {
    const shapes: number[][] = [[16, 16, 16]];
    const ops: GraphOp[] = [];
    for (let i = 0; i < 10; i++) {
      // 1x1 convs: a 3x3 one would take oneDNN's Winograd kernel, whose scratchpad (counted in
      // activationBytes too) is not what this test is about.
      ops.push(conv({ src: i, dst: i + 1, inChannels: 16, outChannels: 16, kernel: [1, 1], relu: true }));
      shapes.push([16, 16, 16]);
    }
    using executable = await compileGraph(graphOf(shapes, ops, [10]), { backend: 'cpu', batch: 2 });
    const valueBytes = 2 * 16 * 16 * 16 * 4;
    // Ten values of this size are written; two live at a time (a conv's src and dst).
    expect(executable.activationBytes).toBeGreaterThanOrEqual(2 * valueBytes);
    expect(executable.activationBytes).toBeLessThan(4 * valueBytes);
    expect(executable.weightBytes).toBeGreaterThanOrEqual(10 * (16 * 16 + 16) * 4);
  });
});
