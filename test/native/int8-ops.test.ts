// Quantized graphs at precision 'int8' on the CPU backend (oneDNN's integer convolutions) against the
// contract of lib/compile/graph.ts in float64 (test/helpers/quantized-reference.ts), on hand-built graphs.
// Every value is made a graph output, so each op is checked on the engine's own inputs: integers must
// match exactly, except at most 1 step where float rounding of acc · scale + bias lands on the other side
// of a half (counted, and required to be rare); float results within 1e-5 of the float64 reference.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ConvOp, Graph, GraphOp } from '../../lib/compile/graph.js';
import { quantizeWeightToGrid, type QuantizedDType, type ValueQuantization } from '../../lib/nn/quantization.js';
import { compileGraph, prepareGraph } from '../../lib/runtime/engine.js';
import { graphBuilders, type ConvSpec } from '../helpers/graph-builders.js';
import { maxRelativeError, rng } from '../helpers/helpers.js';
import { quantizeReal, referenceOp, referenceRun, store } from '../helpers/quantized-reference.js';

const random = rng(20261206);
const { randomArray, conv } = graphBuilders(random);

/** A conv with per-channel weight scales (max |w[o]| / 127) and its weight on that grid. */
function int8Conv(spec: ConvSpec): ConvOp {
  const op = conv(spec);
  const perChannel = op.weight.length / op.outChannels;
  const scales = new Float32Array(op.outChannels);
  for (let o = 0; o < op.outChannels; o++) {
    let max = 0;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) max = Math.max(max, Math.abs(op.weight[i]!));
    scales[o] = max / 127;
  }
  return { ...op, weight: quantizeWeightToGrid(op.weight, scales), weightScales: scales };
}

/**
 * A quantized graph whose value scales are chosen from the reference run on `input` (80% of each value's
 * largest magnitude at the top of its range, so the largest values saturate). `types[v]` quantizes value v;
 * a maxpool's dst takes its src's quantization. Value 0 is the input (quantized with `inputQuant` if given).
 */
function calibrate(shapes: number[][], types: (QuantizedDType | undefined)[], ops: GraphOp[], input: Float32Array, n: number,
  inputQuant?: ValueQuantization): Graph {
  const values: { shape: number[]; quant?: ValueQuantization }[] = shapes.map((shape) => ({ shape }));
  if (inputQuant) values[0]!.quant = inputQuant;
  const graph: Graph = { values, input: 0, outputs: shapes.map((_, i) => i).slice(1), ops };
  const real: Float64Array[] = [];
  real[0] = store(graph, 0, Float64Array.from(input)).real;
  for (const op of ops) {
    const exact = referenceOp(graph, op, real, n).exactReal;
    const type = types[op.dst];
    if (op.op === 'maxpool' && values[op.src]!.quant) values[op.dst]!.quant = values[op.src]!.quant;
    else if (type) {
      const max = exact.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      values[op.dst]!.quant = { scale: Math.fround((0.8 * max) / (type === 'uint8' ? 255 : 127)), dtype: type };
    }
    real[op.dst] = store(graph, op.dst, exact).real;
  }
  return graph;
}

/** How the engine's per-op results compare with the reference from the engine's own inputs. */
interface Comparison {
  integers: number;
  offByOne: number;
  /** Largest difference of a quantized result, in steps of its scale. */
  maxSteps: number;
  /** Largest relative error of a float result. */
  maxFloatError: number;
  /** The first integer more than 1 step off, described. */
  firstMiss?: string;
}

/** Compares each op's result in `got` (the engine's outputs, every value but the input) with the reference. */
function compareOps(graph: Graph, input: Float32Array, n: number, got: readonly Float32Array[]): Comparison {
  const observed: Float64Array[] = [];
  graph.outputs.forEach((value, k) => {
    observed[value] = Float64Array.from(got[k]!);
  });
  observed[graph.input] = store(graph, graph.input, Float64Array.from(input)).real;
  const result: Comparison = { integers: 0, offByOne: 0, maxSteps: 0, maxFloatError: 0 };
  for (const [index, op] of graph.ops.entries()) {
    const expected = referenceOp(graph, op, observed, n).exactReal;
    const actual = observed[op.dst]!;
    const quant = graph.values[op.dst]!.quant;
    const where = `op ${index} (${op.op}) → value ${op.dst}`;
    if (!quant) {
      result.maxFloatError = Math.max(result.maxFloatError, maxRelativeError(actual, expected));
      continue;
    }
    for (let i = 0; i < actual.length; i++) {
      const q = actual[i]! / quant.scale;
      expect(Math.abs(q - Math.round(q)), `${where}[${i}] is not on its grid`).toBeLessThan(1e-3);
      const reference = quantizeReal(expected[i]!, quant);
      const diff = Math.abs(Math.round(q) - reference);
      if (diff > 1 && !result.firstMiss) result.firstMiss = `${where}[${i}]: q ${Math.round(q)}, reference ${reference} (real ${expected[i]})`;
      result.integers++;
      result.maxSteps = Math.max(result.maxSteps, diff);
      if (diff === 1) result.offByOne++;
    }
  }
  return result;
}

/** Asserts a comparison: integers exact but for rare single steps, float results within 1e-5. */
function expectExact(comparison: Comparison): void {
  expect(comparison.firstMiss).toBeUndefined();
  expect(comparison.maxFloatError).toBeLessThanOrEqual(1e-5);
  expect(comparison.offByOne, `${comparison.offByOne} of ${comparison.integers} integers one step off`).toBeLessThanOrEqual(comparison.integers / 1000);
}

/**
 * Runs `graph` (every value but the input an output) at int8 here and checks each op against the
 * reference. Returns the comparison and the engine's outputs by value.
 */
async function checkOps(graph: Graph, input: Float32Array, n: number): Promise<{ tally: Comparison; outputs: Float32Array[] }> {
  using executable = await compileGraph(graph, { backend: 'cpu', batch: n, precision: 'int8' });
  const got = await executable.run(input);
  const tally = compareOps(graph, input, n, got);
  expectExact(tally);
  const outputs: Float32Array[] = [];
  graph.outputs.forEach((value, k) => {
    outputs[value] = got[k]!;
  });
  return { tally, outputs };
}

const u8Input = (length: number): Float32Array => randomArray(length).map((v) => Math.abs(v) * 2);

describe('int8 convolutions on the CPU', () => {
  it('u8 source, ReLU, u8 destination (3x3, padded)', async () => {
    const n = 2;
    const input = u8Input(n * 16 * 10 * 10);
    const graph = calibrate([[16, 10, 10], [16, 10, 10], [32, 10, 10]], [undefined, 'uint8', 'uint8'], [
      { op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false },
      int8Conv({ src: 1, dst: 2, inChannels: 16, outChannels: 32, padding: [1, 1], relu: true }),
    ], input, n, { scale: 2 / 255, dtype: 'uint8' });
    const { tally } = await checkOps(graph, input, n);
    expect(tally.integers).toBe(n * (16 + 32) * 100);
  });

  it('s8 source from a quantized graph input (the stem), no ReLU: s8 destination with negatives', async () => {
    const n = 2;
    const input = randomArray(n * 3 * 16 * 16, 2);
    const graph = calibrate([[3, 16, 16], [3, 16, 16], [24, 8, 8]], [undefined, 'int8', 'int8'], [
      { op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false },
      int8Conv({ src: 1, dst: 2, inChannels: 3, outChannels: 24, kernel: [7, 7], stride: [2, 2], padding: [3, 3] }),
    ], input, n, { scale: 2 / 127, dtype: 'int8' });
    const { outputs } = await checkOps(graph, input, n);
    expect(outputs[2]!.some((v) => v < 0)).toBe(true);
  });

  it('an s8 residual (downsample) added into a u8 destination, then an identity u8 residual', async () => {
    const n = 2;
    const input = u8Input(n * 8 * 12 * 12);
    const graph = calibrate([[8, 12, 12], [8, 12, 12], [16, 6, 6], [16, 6, 6], [16, 6, 6], [16, 6, 6]],
      [undefined, 'uint8', 'int8', 'uint8', 'uint8', 'uint8'], [
        { op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false },
        int8Conv({ src: 1, dst: 2, inChannels: 8, outChannels: 16, kernel: [1, 1], stride: [2, 2] }),
        int8Conv({ src: 1, dst: 3, inChannels: 8, outChannels: 16, stride: [2, 2], padding: [1, 1], residual: 2, relu: true }),
        int8Conv({ src: 3, dst: 4, inChannels: 16, outChannels: 16, padding: [1, 1], relu: true }),
        int8Conv({ src: 4, dst: 5, inChannels: 16, outChannels: 16, padding: [1, 1], residual: 3, relu: true }),
      ], input, n, { scale: 2 / 255, dtype: 'uint8' });
    await checkOps(graph, input, n);
  });

  it('strided, dilated and grouped convs; a ReLU-less u8 destination saturates negatives to 0', async () => {
    const n = 3;
    const input = u8Input(n * 12 * 11 * 11);
    const graph = calibrate([[12, 11, 11], [12, 11, 11], [12, 6, 6], [8, 2, 2], [12, 6, 6]], [undefined, 'uint8', 'uint8', 'int8', 'uint8'], [
      { op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false },
      int8Conv({ src: 1, dst: 2, inChannels: 12, outChannels: 12, stride: [2, 2], padding: [1, 1], groups: 3, relu: true }),
      int8Conv({ src: 2, dst: 3, inChannels: 12, outChannels: 8, dilation: [2, 2], stride: [1, 1], groups: 4 }),
      int8Conv({ src: 1, dst: 4, inChannels: 12, outChannels: 12, kernel: [5, 5], stride: [2, 2], padding: [2, 2], groups: 12 }),
    ], input, n, { scale: 2 / 255, dtype: 'uint8' });
    const { outputs } = await checkOps(graph, input, n);
    expect(outputs[4]!.filter((v) => v === 0).length).toBeGreaterThan(outputs[4]!.length / 10); // saturated negatives
  });

  it('max pooling keeps u8 and s8 (padding never wins, even over negatives)', async () => {
    const n = 2;
    const input = randomArray(n * 8 * 9 * 9, 3);
    const graph = calibrate([[8, 9, 9], [8, 9, 9], [8, 5, 5], [8, 9, 9], [8, 5, 5], [8, 5, 5]], [undefined, 'int8', 'int8', 'uint8', 'uint8', undefined], [
      { op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false },
      { op: 'maxpool', src: 1, dst: 2, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false },
      int8Conv({ src: 1, dst: 3, inChannels: 8, outChannels: 8, padding: [1, 1], relu: true }),
      { op: 'maxpool', src: 3, dst: 4, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: true },
      // a maxpool whose dst the graph leaves unquantized: the same integers, read as real numbers
      { op: 'maxpool', src: 1, dst: 5, kernel: [2, 2], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false },
    ], input, n, { scale: 3 / 127, dtype: 'int8' });
    const { outputs } = await checkOps(graph, input, n);
    expect(outputs[2]!.some((v) => v < 0)).toBe(true);
  });
});

describe('quantize and dequantize around float ops', () => {
  it('the graph input is quantized with round half to even and saturation', async () => {
    const scale = 0.25; // exact in binary: x / scale lands on halves exactly
    const ties = [0.125, 0.375, 0.625, -0.125, -0.375, 31.875, -31.875, 40, -40, 1e9, -1e9, 0.1249, 0.1251, Number.NaN];
    const input = new Float32Array(2 * 4 * 4 * 4);
    input.set(ties.filter((v) => !Number.isNaN(v)));
    for (let i = ties.length; i < input.length; i++) input[i] = (random() * 2 - 1) * 40;
    for (const dtype of ['int8', 'uint8'] as const) {
      const graph: Graph = { values: [{ shape: [4, 4, 4], quant: { scale, dtype } }, { shape: [4, 4, 4], quant: { scale, dtype } }], input: 0,
        outputs: [1], ops: [{ op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false }] };
      using executable = await compileGraph(graph, { backend: 'cpu', batch: 2, precision: 'int8' });
      const [out] = await executable.run(input);
      const expected = Array.from(input, (v) => quantizeReal(v, { scale, dtype }) * scale + 0); // +0: no -0
      expect(Array.from(out!), dtype).toEqual(expected);
    }
  });

  it('linear, average pooling, ReLU, add and flatten read real numbers; a float op’s quantized result is quantized after it', async () => {
    const n = 2;
    const input = u8Input(n * 8 * 6 * 6);
    const graph = calibrate(
      [[8, 6, 6], [8, 6, 6], [8, 6, 6], [8, 1, 1], [8], [10], [8, 6, 6], [8, 6, 6], [8, 6, 6], [12, 6, 6], [12, 1, 1], [12], [10], [8, 6, 6], [8, 6, 6]],
      [undefined, 'uint8', 'int8', undefined, undefined, 'int8', undefined, 'uint8', undefined, 'uint8', 'uint8', undefined, undefined, 'uint8', 'int8'], [
        { op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false },
        int8Conv({ src: 1, dst: 2, inChannels: 8, outChannels: 8, padding: [1, 1] }),
        { op: 'adaptive_avgpool', src: 2, dst: 3 },
        { op: 'flatten', src: 3, dst: 4 },
        { op: 'linear', src: 4, dst: 5, outFeatures: 10, weight: randomArray(80, 0.3), bias: randomArray(10, 0.1) },
        { op: 'relu', src: 2, dst: 6 },
        { op: 'add', a: 2, b: 1, dst: 7, relu: true },
        { op: 'add', a: 6, b: 7, dst: 8, relu: false },
        // a float conv (no weight scales) reading a quantized value, its result quantized after it
        conv({ src: 7, dst: 9, inChannels: 8, outChannels: 12, padding: [1, 1], relu: true }),
        { op: 'adaptive_avgpool', src: 9, dst: 10 },
        { op: 'flatten', src: 10, dst: 11 },
        { op: 'linear', src: 11, dst: 12, outFeatures: 10, weight: randomArray(120, 0.3), bias: randomArray(10, 0.1) },
        // float convs with a quantized residual: from a float source, and (no weight scales) from a quantized one
        conv({ src: 8, dst: 13, inChannels: 8, outChannels: 8, padding: [1, 1], residual: 7, relu: true }),
        conv({ src: 13, dst: 14, inChannels: 8, outChannels: 8, kernel: [1, 1], residual: 2 }),
      ], input, n, { scale: 2 / 255, dtype: 'uint8' });
    await checkOps(graph, input, n);
  });
});

/** A resnet-shaped quantized graph: s8 stem, u8 max pool, an identity block, a downsample block, float head. */
function resnetShaped(input: Float32Array, n: number): Graph {
  return calibrate(
    [[3, 32, 32], [16, 16, 16], [16, 8, 8], [16, 8, 8], [16, 8, 8], [32, 4, 4], [32, 4, 4], [32, 4, 4], [32, 1, 1], [32], [10]],
    [undefined, 'uint8', 'uint8', 'uint8', 'uint8', 'int8', 'uint8', 'uint8', undefined, undefined, undefined], [
      int8Conv({ src: 0, dst: 1, inChannels: 3, outChannels: 16, kernel: [7, 7], stride: [2, 2], padding: [3, 3], relu: true }),
      { op: 'maxpool', src: 1, dst: 2, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false },
      int8Conv({ src: 2, dst: 3, inChannels: 16, outChannels: 16, padding: [1, 1], relu: true }),
      int8Conv({ src: 3, dst: 4, inChannels: 16, outChannels: 16, padding: [1, 1], residual: 2, relu: true }),
      int8Conv({ src: 4, dst: 5, inChannels: 16, outChannels: 32, kernel: [1, 1], stride: [2, 2] }),
      int8Conv({ src: 4, dst: 6, inChannels: 16, outChannels: 32, stride: [2, 2], padding: [1, 1], relu: true }),
      int8Conv({ src: 6, dst: 7, inChannels: 32, outChannels: 32, padding: [1, 1], residual: 5, relu: true }),
      { op: 'adaptive_avgpool', src: 7, dst: 8 },
      { op: 'flatten', src: 8, dst: 9 },
      { op: 'linear', src: 9, dst: 10, outFeatures: 10, weight: randomArray(320, 0.3), bias: randomArray(10, 0.1) },
    ], input, n, { scale: 2 / 127, dtype: 'int8' });
}

describe('a resnet-shaped quantized graph', () => {
  const n = 2;
  const input = randomArray(n * 3 * 32 * 32, 2);
  const graph = resnetShaped(input, n);

  it('matches the contract op by op, and the logits alone (residuals written in place) are the same numbers', async () => {
    const { outputs } = await checkOps(graph, input, n);
    using logitsOnly = await compileGraph({ ...graph, outputs: [10] }, { backend: 'cpu', batch: n, precision: 'int8' });
    const [logits] = await logitsOnly.run(input);
    expect(Array.from(logits!)).toEqual(Array.from(outputs[10]!));
  });

  it('float32 ignores the quantization: the same numbers as the graph without it', async () => {
    const plain: Graph = { ...graph, values: graph.values.map(({ shape }) => ({ shape })), ops: graph.ops.map((op) => (op.op === 'conv' ? { ...op, weightScales: undefined } : op)) };
    using quantized = await compileGraph(graph, { backend: 'cpu', batch: n, precision: 'float32' });
    using float = await compileGraph(plain, { backend: 'cpu', batch: n, precision: 'float32' });
    const [a, b] = [await quantized.run(input), await float.run(input)];
    expect(a.map((x) => Array.from(x))).toEqual(b.map((x) => Array.from(x)));
  });

  it('one prepared graph compiled at float32 and int8 keeps both sets of weights apart', async () => {
    using prepared = prepareGraph(graph);
    using float = await compileGraph(prepared, { backend: 'cpu', batch: n, precision: 'float32' });
    using int8 = await compileGraph(prepared, { backend: 'cpu', batch: n, precision: 'int8' });
    using floatAgain = await compileGraph(prepared, { backend: 'cpu', batch: n, precision: 'float32' });
    using int8Alone = await compileGraph(graph, { backend: 'cpu', batch: n, precision: 'int8' });
    using floatAlone = await compileGraph(graph, { backend: 'cpu', batch: n, precision: 'float32' });
    const [floatOut] = await floatAlone.run(input);
    const [int8Out] = await int8Alone.run(input);
    expect(Array.from((await float.run(input))[0]!)).toEqual(Array.from(floatOut!));
    expect(Array.from((await floatAgain.run(input))[0]!)).toEqual(Array.from(floatOut!));
    expect(Array.from((await int8.run(input))[0]!)).toEqual(Array.from(int8Out!));
    expect(Array.from(int8Out!)).not.toEqual(Array.from(floatOut!));
  });
});

describe('int8 refusals', () => {
  const rejection = async (promise: Promise<unknown>): Promise<Error & { code?: string }> => {
    try {
      await promise;
    } catch (error) {
      return error as Error & { code?: string };
    }
    throw new Error('expected a rejection');
  };

  it('int8 on a float graph says to quantize the model first', async () => {
    const graph: Graph = { values: [{ shape: [3, 5, 5] }, { shape: [4, 5, 5] }], input: 0, outputs: [1], ops: [conv({ src: 0, dst: 1, inChannels: 3, outChannels: 4, padding: [1, 1] })] };
    const error = await rejection(compileGraph(graph, { backend: 'cpu', batch: 1, precision: 'int8' }));
    expect(error.constructor.name).toBe('UnsupportedError');
    expect(error.code).toBe('ERR_UNSUPPORTED');
    expect(error.message).toContain('precision int8 needs a quantized graph: quantize the model first (quantize(model, { calibration }))');
  });

  it('bad scales and weights off their grid are invalid arguments', async () => {
    const op = int8Conv({ src: 0, dst: 1, inChannels: 3, outChannels: 4, padding: [1, 1] });
    const u8 = { scale: 0.1, dtype: 'uint8' } as const;
    const cases: [Graph, RegExp][] = [
      [{ values: [{ shape: [3, 5, 5], quant: { scale: -1, dtype: 'uint8' } }, { shape: [4, 5, 5], quant: u8 }], input: 0, outputs: [1], ops: [op] }, /scale -1: it must be positive and finite/],
      [{ values: [{ shape: [3, 5, 5], quant: u8 }, { shape: [4, 5, 5], quant: { scale: Number.NaN, dtype: 'uint8' } }], input: 0, outputs: [1], ops: [op] }, /must be positive and finite/],
      [{ values: [{ shape: [3, 5, 5], quant: u8 }, { shape: [4, 5, 5], quant: u8 }], input: 0, outputs: [1], ops: [{ ...op, weightScales: op.weightScales!.map((s) => s / 2) }] }, /more than 127 steps of weightScales\[0\].*quantize the weights with these scales first/],
    ];
    for (const [graph, message] of cases) {
      const error = await rejection(compileGraph(graph, { backend: 'cpu', batch: 1, precision: 'int8' }));
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(message);
    }
  });
});

// Without VNNI, oneDNN's u8 × s8 kernels add pairs of products in saturating 16-bit arithmetic (VPMADDUBSW):
// 255 · 127 · 2 overflows, so full-range u8 activations give wrong integers there, while activations
// kept to [0, 127] cannot overflow. Its s8 × s8 path halves the weights, so the backend runs s8-source convs
// as float convs there. Each case runs in a child process with oneDNN's ISA capped.
const addonPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'resnet_cudnn.node');
const childSource = `
  const addon = require(process.env.ADDON);
  const spec = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  const f32 = (a) => Float32Array.from(a);
  const ops = spec.graph.ops.map((op) => {
    const out = { ...op };
    for (const key of ['weight', 'bias', 'weightScales']) if (op[key]) out[key] = f32(op[key]);
    return out;
  });
  const isa = JSON.stringify(addon.info()).match(/"isa":"(\\w+)"/)[1];
  addon.compile({ ...spec.graph, ops }, { backend: 'cpu', batch: spec.n, precision: 'int8' })
    .then((e) => e.run(f32(spec.input)))
    .then((outputs) => process.stdout.write(JSON.stringify({ isa, outputs: outputs.map((o) => Array.from(o)) })));
`;

function runCapped(isa: string, graph: Graph, input: Float32Array, n: number): { isa: string; outputs: Float32Array[] } {
  const json = JSON.stringify({ graph, input, n }, (_, v: unknown) => (v instanceof Float32Array ? Array.from(v) : v));
  const child = spawnSync(process.execPath, ['-e', childSource], { input: json, encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 28,
    env: { ...process.env, ADDON: addonPath, ONEDNN_MAX_CPU_ISA: isa } });
  expect(child.status, child.stderr).toBe(0);
  const result = JSON.parse(child.stdout) as { isa: string; outputs: number[][] };
  return { isa: result.isa, outputs: result.outputs.map((o) => Float32Array.from(o)) };
}

/** Two u8 → u8 convs whose activations (the input included) reach q = `top` at their largest. */
function u8Chain(top: number, input: Float32Array, n: number): Graph {
  const graph = calibrate([[32, 10, 10], [32, 10, 10], [32, 10, 10], [32, 10, 10]], [undefined, 'uint8', 'uint8', 'uint8'], [
    { op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false },
    int8Conv({ src: 1, dst: 2, inChannels: 32, outChannels: 32, padding: [1, 1], relu: true }),
    int8Conv({ src: 2, dst: 3, inChannels: 32, outChannels: 32, kernel: [1, 1], relu: true }),
  ], input, n, { scale: 2 / 255, dtype: 'uint8' });
  const { real } = referenceRun(graph, input, n);
  const values = graph.values.map((v, i) => (v.quant ? { ...v, quant: { ...v.quant, scale: Math.fround(real[i]!.reduce((m, x) => Math.max(m, x), 0) / top) } } : v));
  return { ...graph, values };
}

describe('int8 without VNNI (oneDNN capped to avx512_core and avx2)', () => {
  const n = 2;
  const input = u8Input(n * 32 * 10 * 10);

  for (const isa of ['avx512_core', 'avx2']) {
    it(`${isa}: u8 activations kept to [0, 127] are exact, full-range u8 is not; an s8 source (the stem) is exact`, (context) => {
      const narrow = u8Chain(112, input, n); // margin: rescaling the input moves later maxima a little
      const capped = runCapped(isa, narrow, input, n);
      if (capped.isa !== isa) context.skip(`this CPU's oneDNN ISA capped to ${isa} is ${capped.isa}`);
      expectExact(compareOps(narrow, input, n, capped.outputs));

      const full = u8Chain(255, input, n);
      const wide = compareOps(full, input, n, runCapped(isa, full, input, n).outputs);
      // The 16-bit saturation: many steps off (the research measured 10-20 steps on such convs).
      expect(wide.maxSteps).toBeGreaterThan(1);

      const stemInput = randomArray(n * 3 * 16 * 16, 2);
      const stem = calibrate([[3, 16, 16], [3, 16, 16], [24, 8, 8], [24, 8, 8]], [undefined, 'int8', 'uint8', 'uint8'], [
        { op: 'maxpool', src: 0, dst: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false },
        int8Conv({ src: 1, dst: 2, inChannels: 3, outChannels: 24, kernel: [7, 7], stride: [2, 2], padding: [3, 3], relu: true }),
        int8Conv({ src: 2, dst: 3, inChannels: 24, outChannels: 24, padding: [1, 1], relu: true }),
      ], stemInput, n, { scale: 2 / 127, dtype: 'int8' });
      // u8 values to [0, 127]: calibrate put 80 % of the largest at 255, so the largest at about 122
      const narrowStem = { ...stem, values: stem.values.map((v, i) => (i >= 2 ? { ...v, quant: { ...v.quant!, scale: Math.fround(v.quant!.scale * 2.6) } } : v)) };
      expectExact(compareOps(narrowStem, stemInput, n, runCapped(isa, narrowStem, stemInput, n).outputs));
    });
  }
});
