// Executables compiled from one prepared graph share their weights: for batch 1, 2 and 5 they match
// separately compiled executables bit for bit and a float64 reference, the later batch sizes add no
// weight bytes where the layouts match, and the prepared graph may be disposed or collected while its
// executables run. prepare() rejects hostile graphs like compile().
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { ConvOp, Graph, LinearOp } from '../../lib/compile/graph.js';
import { DisposedError, InvalidArgumentError, ShapeError } from '../../lib/errors.js';
import { compileGraph, prepareGraph, type Executable } from '../../lib/runtime/engine.js';
import { maxRelativeError, uniform } from '../helpers/helpers.js';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

// [4, 6, 6] -conv 3x3+ReLU-> [8, 6, 6] -conv 1x1 + residual + ReLU-> [8, 6, 6] -global pool-> [8, 1, 1]
// -flatten-> [8] -linear-> [5]: both weighted op kinds, a residual, and a batch-dependent tail.
const conv1: ConvOp = {
  op: 'conv', src: 0, dst: 1, residual: -1, relu: true, outChannels: 8, kernel: [3, 3], stride: [1, 1], padding: [1, 1],
  dilation: [1, 1], groups: 1, weight: uniform(8 * 4 * 9, 1, -1 / 6, 1 / 6), bias: uniform(8, 2, -0.5, 0.5),
};
const conv2: ConvOp = {
  op: 'conv', src: 1, dst: 2, residual: 1, relu: true, outChannels: 8, kernel: [1, 1], stride: [1, 1], padding: [0, 0],
  dilation: [1, 1], groups: 1, weight: uniform(8 * 8, 3, -0.35, 0.35), bias: uniform(8, 4, -0.5, 0.5),
};
const fc: LinearOp = { op: 'linear', src: 4, dst: 5, outFeatures: 5, weight: uniform(5 * 8, 5, -0.35, 0.35), bias: uniform(5, 6) };

function graph(): Graph {
  return {
    values: [{ shape: [4, 6, 6] }, { shape: [8, 6, 6] }, { shape: [8, 6, 6] }, { shape: [8, 1, 1] }, { shape: [8] }, { shape: [5] }],
    input: 0,
    outputs: [5],
    ops: [conv1, conv2, { op: 'adaptive_avgpool', src: 2, dst: 3 }, { op: 'flatten', src: 3, dst: 4 }, fc],
  };
}

/** The graph in float64, one sample at a time. */
function reference(input: Float32Array, batch: number): Float64Array {
  const hw = 36;
  const out = new Float64Array(batch * 5);
  for (let n = 0; n < batch; n++) {
    const x = input.subarray(n * 4 * hw, (n + 1) * 4 * hw);
    const a = new Float64Array(8 * hw);
    for (let o = 0; o < 8; o++) {
      for (let y = 0; y < 6; y++) {
        for (let z = 0; z < 6; z++) {
          let sum = conv1.bias[o]!;
          for (let i = 0; i < 4; i++) {
            for (let p = 0; p < 3; p++) {
              for (let q = 0; q < 3; q++) {
                const iy = y + p - 1;
                const ix = z + q - 1;
                if (iy >= 0 && iy < 6 && ix >= 0 && ix < 6) sum += x[i * hw + iy * 6 + ix]! * conv1.weight[((o * 4 + i) * 3 + p) * 3 + q]!;
              }
            }
          }
          a[o * hw + y * 6 + z] = Math.max(sum, 0);
        }
      }
    }
    const pooled = new Float64Array(8);
    for (let o = 0; o < 8; o++) {
      for (let s = 0; s < hw; s++) {
        let sum = conv2.bias[o]! + a[o * hw + s]!;
        for (let i = 0; i < 8; i++) sum += a[i * hw + s]! * conv2.weight[o * 8 + i]!;
        pooled[o]! += Math.max(sum, 0) / hw;
      }
    }
    for (let k = 0; k < 5; k++) {
      let sum = fc.bias[k]!;
      for (let i = 0; i < 8; i++) sum += pooled[i]! * fc.weight[k * 8 + i]!;
      out[n * 5 + k] = sum;
    }
  }
  return out;
}

const batches = [1, 2, 5] as const;
const inputOf = (batch: number): Float32Array => uniform(batch * 4 * 36, 100 + batch);

describe('executables of one prepared graph', () => {
  it('match separately compiled executables bit for bit, and the float64 reference', async () => {
    using prepared = prepareGraph(graph());
    const shared: Executable[] = [];
    try {
      for (const batch of batches) shared.push(await compileGraph(prepared, { backend: 'cpu', batch }));
      for (const [k, batch] of batches.entries()) {
        using alone = await compileGraph(graph(), { backend: 'cpu', batch });
        const input = inputOf(batch);
        const [got] = await shared[k]!.run(input);
        const [want] = await alone.run(input);
        expect(got).toEqual(want);
        expect(maxRelativeError(got!, reference(input, batch))).toBeLessThanOrEqual(1e-5);
        expect(alone.sharedWeightBytes).toBe(0);
      }
    } finally {
      for (const executable of shared) executable.dispose();
    }
  });

  it('share the weights: a later batch size adds no weight bytes where the layouts match', async () => {
    using prepared = prepareGraph(graph());
    const plainBytes = 4 * (conv1.weight.length + conv1.bias.length + conv2.weight.length + conv2.bias.length + fc.weight.length + fc.bias.length);
    using first = await compileGraph(prepared, { backend: 'cpu', batch: 1 });
    expect(first.weightBytes).toBeGreaterThanOrEqual(plainBytes);
    expect(first.sharedWeightBytes).toBe(0);
    using again = await compileGraph(prepared, { backend: 'cpu', batch: 1 });
    expect(again.sharedWeightBytes).toBe(again.weightBytes); // the same batch: the same layouts, all shared
    using second = await compileGraph(prepared, { backend: 'cpu', batch: 2 });
    expect(second.sharedWeightBytes).toBeGreaterThan(0);
    expect(second.sharedWeightBytes).toBeLessThanOrEqual(second.weightBytes);
  });

  it("describe(): the CPU backend reports nothing (''), and nothing after dispose", async () => {
    const executable = await compileGraph(graph(), { backend: 'cpu', batch: 1 });
    expect(executable.describe()).toBe('');
    executable.dispose();
    expect(executable.describe()).toBe('');
  });

  it('forget weights once no executable uses them', async () => {
    using prepared = prepareGraph(graph());
    const first = await compileGraph(prepared, { backend: 'cpu', batch: 1 });
    first.dispose();
    using second = await compileGraph(prepared, { backend: 'cpu', batch: 1 });
    expect(second.sharedWeightBytes).toBe(0);
  });

  it('run after the prepared graph is disposed, even mid-run, and later compiles reject', async () => {
    const prepared = prepareGraph(graph());
    using executable = await compileGraph(prepared, { backend: 'cpu', batch: 2 });
    const compiling = compileGraph(prepared, { backend: 'cpu', batch: 5 });
    const input = inputOf(2);
    const running = executable.run(input);
    prepared.dispose();
    prepared.dispose(); // idempotent
    const [got] = await running;
    expect(maxRelativeError(got!, reference(input, 2))).toBeLessThanOrEqual(1e-5);
    using late = await compiling; // queued before the disposal: it keeps the graph it needs
    const [late5] = await late.run(inputOf(5));
    expect(maxRelativeError(late5!, reference(inputOf(5), 5))).toBeLessThanOrEqual(1e-5);
    await expect(compileGraph(prepared, { backend: 'cpu', batch: 1 })).rejects.toBeInstanceOf(DisposedError);
  });

  it('run after the prepared graph is garbage-collected', async () => {
    let prepared: ReturnType<typeof prepareGraph> | undefined = prepareGraph(graph());
    let collected = false;
    const registry = new FinalizationRegistry<void>(() => (collected = true));
    registry.register(prepared, undefined);
    using executable = await compileGraph(prepared, { backend: 'cpu', batch: 5 });
    // Drops the last reference, so that the prepared graph can be collected while the run holds its weights.
    // eslint-disable-next-line no-useless-assignment
    prepared = undefined;
    const input = inputOf(5);
    const running = executable.run(input);
    for (let i = 0; i < 50 && !collected; i++) {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(collected).toBe(true);
    for (let i = 0; i < 5; i++) collectGarbage();
    const [got] = await running;
    const [again] = await executable.run(input);
    expect(again).toEqual(got);
    expect(maxRelativeError(got!, reference(input, 5))).toBeLessThanOrEqual(1e-5);
  });
});

describe('prepareGraph', () => {
  it('rejects hostile and invalid graphs as compile does', async () => {
    const bad: [Graph, typeof InvalidArgumentError | typeof ShapeError][] = [
      [null as unknown as Graph, InvalidArgumentError],
      [{ ...graph(), input: 9 }, InvalidArgumentError],
      [{ ...graph(), ops: [{ ...conv1, weight: new Float32Array(3) }, ...graph().ops.slice(1)] }, ShapeError],
      [{ ...graph(), values: [{ shape: [2 ** 30, 2 ** 30, 2 ** 30] }, ...graph().values.slice(1)] }, ShapeError],
      [{ ...graph(), ops: [{ ...conv1, weight: new Float64Array(8 * 4 * 9) as unknown as Float32Array }, ...graph().ops.slice(1)] }, InvalidArgumentError],
    ];
    for (const [hostile, type] of bad) {
      expect(() => prepareGraph(hostile)).toThrow(type);
      await expect(compileGraph(hostile, { backend: 'cpu', batch: 1 })).rejects.toBeInstanceOf(type);
    }
    const getter = { ...graph(), get ops(): never { throw new Error('getter says no'); } };
    expect(() => prepareGraph(getter)).toThrow('getter says no');
  });

  it('refuses a NativePreparedGraph constructed from JavaScript, and a graph too large for the batch at compile', async () => {
    const { loadNative } = await import('../../lib/runtime/native.js');
    const Construct = loadNative().NativePreparedGraph as unknown as new () => unknown;
    expect(() => new Construct()).toThrow(/come from prepare/);
    const big: Graph = { values: [{ shape: [2 ** 15, 2 ** 15, 2 ** 10] }, { shape: [2 ** 15, 2 ** 15, 2 ** 10] }], input: 0, outputs: [1], ops: [{ op: 'relu', src: 0, dst: 1 }] };
    using prepared = prepareGraph(big);
    await expect(compileGraph(prepared, { backend: 'cpu', batch: 2 ** 10 })).rejects.toThrow(/too large at batch 1024/);
  });
});
