/**
 * The CUDA (cuDNN) backend against the CPU (oneDNN) backend on the same graphs and inputs: every op alone
 * and resnet18 at 64×64, in every precision (relative L2 error: float32 ≤ 1e-4 with TF32 off, float16
 * ≤ 2e-2, bfloat16 ≤ 6e-2), uint8 input with normalisation, concurrent runs, weights shared across batch
 * sizes, the stem in each of its forms, and coded compile errors. The GPU tests run only where `backendInfo()` says CUDA is available and
 * are skipped elsewhere with the reason printed; one test runs everywhere else: compiling for CUDA there
 * must reject with a coded error (no driver, no device, no cuDNN), not crash.
 */
import { describe, expect, it } from 'vitest';
import type { Graph, GraphOp, Pair } from '../../lib/compile/graph.js';
import { BackendUnavailableError, NoGpuError } from '../../lib/errors.js';
import { lower, manualSeed, resnet18, Tracer } from '../../lib/index.js';
import { backendInfo, compileGraph, prepareGraph, type CompileOptions } from '../../lib/runtime/engine.js';
import type { Precision } from '../../lib/runtime/native.js';
import { graphBuilders, graphOf } from '../helpers/graph-builders.js';
import { randomizeBatchNorms, relativeL2, rng, uniform } from '../helpers/helpers.js';

const cuda = backendInfo().backends.cuda;
const hasCuda = cuda.available;
const devices = cuda.available ? cuda.devices : 0;
const unavailableReason = cuda.available ? '' : cuda.reason;
if (!hasCuda) {
  // Visible in the test output: a skipped GPU suite must say why.
  console.warn(`cuda-backend.test.ts: GPU tests skipped, the CUDA backend is unavailable: ${unavailableReason}`);
}

const precisions: readonly Exclude<Precision, 'int8'>[] = ['float32', 'tf32', 'float16', 'bfloat16'];

/**
 * Relative L2 error bounds against the CPU's float32 (issue 3). TF32 rounds the products' inputs to the
 * same 10-bit mantissa as float16 but keeps activations in float32, so float16's bound holds for it too.
 */
const tolerance: Record<Exclude<Precision, 'int8'>, number> = { float32: 1e-4, tf32: 2e-2, float16: 2e-2, bfloat16: 6e-2 };


// ---- hand-built graphs, one per op shape ---------------------------------------------------------------

const random = rng(20250301);
const { randomArray, conv } = graphBuilders(random);

const maxpool = (src: number, dst: number, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, ceilMode: boolean): GraphOp => ({
  op: 'maxpool', src, dst, kernel, stride, padding, dilation, ceilMode,
});

/** Graphs covering every op kind and the conv variants cuDNN treats differently. Shapes are hand-computed. */
const cases: readonly { name: string; graph: Graph }[] = [
  { name: 'conv 3x3, padding 1, ReLU, 3 input channels (padded on the device)', graph: graphOf([[3, 9, 9], [8, 9, 9]], [conv({ src: 0, dst: 1, inChannels: 3, outChannels: 8, padding: [1, 1], relu: true })], [1]) },
  { name: 'conv without ReLU or residual (identity activation)', graph: graphOf([[8, 6, 6], [16, 6, 6]], [conv({ src: 0, dst: 1, inChannels: 8, outChannels: 16, padding: [1, 1] })], [1]) },
  { name: 'conv with stride 2, padding 2, dilation 2 on a non-square input', graph: graphOf([[5, 11, 13], [6, 6, 7]], [conv({ src: 0, dst: 1, inChannels: 5, outChannels: 6, stride: [2, 2], padding: [2, 2], dilation: [2, 2] })], [1]) },
  { name: 'conv with a 3x1 kernel and per-axis stride and padding', graph: graphOf([[4, 8, 7], [6, 4, 7]], [conv({ src: 0, dst: 1, inChannels: 4, outChannels: 6, kernel: [3, 1], stride: [2, 1], padding: [1, 0] })], [1]) },
  { name: 'grouped conv (2 groups)', graph: graphOf([[4, 7, 7], [6, 7, 7]], [conv({ src: 0, dst: 1, inChannels: 4, outChannels: 6, groups: 2, padding: [1, 1] })], [1]) },
  { name: 'grouped conv (32 groups of 4, ResNeXt-like)', graph: graphOf([[128, 6, 6], [128, 6, 6]], [conv({ src: 0, dst: 1, inChannels: 128, outChannels: 128, groups: 32, padding: [1, 1], relu: true })], [1]) },
  { name: 'depthwise conv with ReLU', graph: graphOf([[16, 10, 10], [16, 10, 10]], [conv({ src: 0, dst: 1, inChannels: 16, outChannels: 16, groups: 16, padding: [1, 1], relu: true })], [1]) },
  { name: '1x1 conv, 32 -> 64 channels, stride 2', graph: graphOf([[32, 8, 8], [64, 4, 4]], [conv({ src: 0, dst: 1, inChannels: 32, outChannels: 64, kernel: [1, 1], stride: [2, 2] })], [1]) },
  { name: '7x7 stride-2 stem conv with ReLU', graph: graphOf([[3, 20, 20], [16, 10, 10]], [conv({ src: 0, dst: 1, inChannels: 3, outChannels: 16, kernel: [7, 7], stride: [2, 2], padding: [3, 3], relu: true })], [1]) },
  { name: 'conv + residual (the graph input) + ReLU', graph: graphOf([[8, 6, 6], [8, 6, 6]], [conv({ src: 0, dst: 1, inChannels: 8, outChannels: 8, padding: [1, 1], residual: 0, relu: true })], [1]) },
  {
    name: 'conv + residual without ReLU, the residual also its src and a graph output',
    graph: graphOf([[5, 7, 7], [24, 7, 7], [24, 7, 7]], [
      conv({ src: 0, dst: 1, inChannels: 5, outChannels: 24, padding: [1, 1], relu: true }),
      conv({ src: 1, dst: 2, inChannels: 24, outChannels: 24, padding: [1, 1], residual: 1 }),
    ], [2, 1]),
  },
  {
    name: 'a basic block: conv, conv + residual + ReLU',
    graph: graphOf([[16, 8, 8], [16, 8, 8], [16, 8, 8], [16, 8, 8]], [
      conv({ src: 0, dst: 1, inChannels: 16, outChannels: 16, padding: [1, 1], relu: true }),
      conv({ src: 1, dst: 2, inChannels: 16, outChannels: 16, padding: [1, 1], relu: true }),
      conv({ src: 2, dst: 3, inChannels: 16, outChannels: 16, padding: [1, 1], residual: 1, relu: true }),
    ], [3]),
  },
  { name: 'max pool 3x3 stride 2 padding 1 (the ResNet stem)', graph: graphOf([[8, 9, 9], [8, 5, 5]], [maxpool(0, 1, [3, 3], [2, 2], [1, 1], [1, 1], false)], [1]) },
  { name: 'max pool with dilation 2', graph: graphOf([[4, 11, 10], [4, 9, 5]], [maxpool(0, 1, [3, 2], [1, 2], [1, 1], [2, 2], false)], [1]) },
  { name: 'max pool in ceil mode with padding', graph: graphOf([[6, 10, 9], [6, 6, 5]], [maxpool(0, 1, [3, 3], [2, 2], [1, 1], [1, 1], true)], [1]) },
  { name: 'adaptive average pool 7x5 -> 3x2 (uneven windows)', graph: graphOf([[5, 7, 5], [5, 3, 2]], [{ op: 'adaptive_avgpool', src: 0, dst: 1 }], [1]) },
  { name: 'global average pool', graph: graphOf([[32, 7, 7], [32, 1, 1]], [{ op: 'adaptive_avgpool', src: 0, dst: 1 }], [1]) },
  {
    name: 'linear on a 4-D value (flattened in C, H, W order)',
    graph: graphOf([[6, 3, 4], [10]], [{ op: 'linear', src: 0, dst: 1, outFeatures: 10, weight: randomArray(10 * 72, 0.2), bias: randomArray(10) }], [1]),
  },
  { name: 'standalone ReLU', graph: graphOf([[5, 4, 3], [5, 4, 3]], [{ op: 'relu', src: 0, dst: 1 }], [1]) },
  {
    name: 'standalone add, add + ReLU, and a value added to itself',
    graph: graphOf([[4, 5, 5], [4, 5, 5], [4, 5, 5], [4, 5, 5], [4, 5, 5]], [
      conv({ src: 0, dst: 1, inChannels: 4, outChannels: 4, padding: [1, 1] }),
      { op: 'add', a: 1, b: 0, dst: 2, relu: false },
      { op: 'add', a: 2, b: 1, dst: 3, relu: true },
      { op: 'add', a: 3, b: 3, dst: 4, relu: false },
    ], [2, 4]),
  },
  {
    name: 'flatten as a graph output',
    graph: graphOf([[3, 4, 5], [16, 4, 5], [320]], [conv({ src: 0, dst: 1, inChannels: 3, outChannels: 16, padding: [1, 1], relu: true }), { op: 'flatten', src: 1, dst: 2 }], [2]),
  },
  {
    name: 'the ResNet tail: conv -> max pool -> global pool -> flatten -> linear',
    graph: graphOf([[3, 16, 16], [32, 8, 8], [32, 4, 4], [32, 1, 1], [32], [5]], [
      conv({ src: 0, dst: 1, inChannels: 3, outChannels: 32, kernel: [5, 5], stride: [2, 2], padding: [2, 2], relu: true }),
      maxpool(1, 2, [3, 3], [2, 2], [1, 1], [1, 1], false),
      { op: 'adaptive_avgpool', src: 2, dst: 3 },
      { op: 'flatten', src: 3, dst: 4 },
      { op: 'linear', src: 4, dst: 5, outFeatures: 5, weight: randomArray(5 * 32, 0.2), bias: randomArray(5) },
    ], [5]),
  },
];

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Runs `graph` on the CPU (float32) and on CUDA at `precision` with the same input; the outputs of both. */
async function runBoth(graph: Graph, batch: number, precision: Precision, input: Float32Array | Uint8Array, extra: Partial<CompileOptions> = {}) {
  using cpu = await compileGraph(graph, { backend: 'cpu', batch, ...extra });
  using gpu = await compileGraph(graph, { backend: 'cuda', batch, precision, ...extra });
  const want = await cpu.run(input);
  const got = await gpu.run(input);
  // CUDA events timed the GPU's part of the run.
  expect(gpu.lastRunDeviceMs).toBeGreaterThan(0);
  expect(cpu.lastRunDeviceMs).toBe(-1);
  return { want, got };
}

describe.runIf(hasCuda)('the CUDA backend matches the CPU backend', () => {
  const batch = 3;
  describe.each(precisions)('at %s', (precision) => {
    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, { graph }) => {
      const input = randomArray(batch * numel(graph.values[graph.input]!.shape));
      const { want, got } = await runBoth(graph, batch, precision, input);
      expect(got).toHaveLength(want.length);
      want.forEach((expected, k) => expect(relativeL2(got[k]!, expected)).toBeLessThanOrEqual(tolerance[precision]));
    });
  });

  describe('resnet18 at 64x64, batch 2', () => {
    // Built on first use: collecting the skipped suite on a machine without a GPU costs nothing.
    let built: Graph | undefined;
    const resnet = (): Graph => {
      if (!built) {
        manualSeed(18);
        const model = resnet18();
        randomizeBatchNorms(model, 19);
        built = lower(Tracer.trace(model, [3, 64, 64]));
      }
      return built;
    };
    const input = uniform(2 * 3 * 64 * 64, 20);

    it.each(precisions)('%s', async (precision) => {
      const { want, got } = await runBoth(resnet(), 2, precision, input);
      expect(got[0]).toHaveLength(2 * 1000);
      expect(relativeL2(got[0]!, want[0]!)).toBeLessThanOrEqual(tolerance[precision]);
    });

    it('shares one copy of the weights across batch sizes and between float32 and tf32', async () => {
      using prepared = prepareGraph(resnet());
      using first = await compileGraph(prepared, { backend: 'cuda', batch: 1 });
      using second = await compileGraph(prepared, { backend: 'cuda', batch: 4 });
      using tf32 = await compileGraph(prepared, { backend: 'cuda', batch: 2, precision: 'tf32' });
      using half = await compileGraph(prepared, { backend: 'cuda', batch: 2, precision: 'float16' });
      // resnet18's 11.7 M parameters as float32 filters and biases, channels padded where needed.
      expect(first.weightBytes).toBeGreaterThanOrEqual(11_689_512 * 4);
      expect(first.sharedWeightBytes).toBe(0);
      expect(second.sharedWeightBytes).toBe(first.weightBytes);
      expect(tf32.sharedWeightBytes).toBe(first.weightBytes);
      expect(half.sharedWeightBytes).toBe(0); // another storage type: its own copy
      expect(half.weightBytes).toBeLessThan(first.weightBytes);
      const x = uniform(4 * 3 * 64 * 64, 21);
      const [alone] = await first.run(x.subarray(0, 3 * 64 * 64));
      const [together] = await second.run(x);
      expect(relativeL2(together!.subarray(0, 1000), alone!)).toBeLessThanOrEqual(1e-5);
    });

    it('runs concurrent forwards on separate contexts, each with its own result', async () => {
      using gpu = await compileGraph(resnet(), { backend: 'cuda', batch: 2 });
      using cpu = await compileGraph(resnet(), { backend: 'cpu', batch: 2 });
      const inputs = Array.from({ length: 8 }, (_, i) => uniform(2 * 3 * 64 * 64, 100 + i));
      const results = await Promise.all(inputs.map((x) => gpu.run(x)));
      for (let i = 0; i < inputs.length; i++) {
        const [want] = await cpu.run(inputs[i]!);
        expect(relativeL2(results[i]![0]!, want!)).toBeLessThanOrEqual(tolerance.float32);
      }
    });
  });

  it.each(precisions)('uint8 input with normalisation fused into the input conversion at %s', async (precision) => {
    const graph = cases[0]!.graph;
    const pixels = new Uint8Array(2 * 3 * 9 * 9).map((_, i) => (i * 37 + 11) % 256);
    const normalization = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    const { want, got } = await runBoth(graph, 2, precision, pixels, { normalization });
    expect(relativeL2(got[0]!, want[0]!)).toBeLessThanOrEqual(tolerance[precision]);
    // The same pixels as floats, normalised by hand, through an executable without normalisation.
    const floats = Float32Array.from(pixels, (p, i) => (p / 255 - normalization.mean[Math.floor(i / 81) % 3]!) / normalization.std[Math.floor(i / 81) % 3]!);
    using plain = await compileGraph(graph, { backend: 'cuda', batch: 2, precision });
    const [byHand] = await plain.run(floats);
    expect(relativeL2(got[0]!, byHand!)).toBeLessThanOrEqual(tolerance[precision]);
  });

  describe('the paths of each conv (graph API, legacy fused, conv + epilogue kernel)', () => {
    const graph = (): Graph => {
      manualSeed(21);
      const model = resnet18();
      randomizeBatchNorms(model, 22);
      return lower(Tracer.trace(model, [3, 32, 32]));
    };
    const input = uniform(2 * 3 * 32 * 32, 23);
    /** The "convs: N (g graph API, f fused, u unfused …)" line of describe(), as numbers. */
    const paths = (text: string) => {
      const match = /convs: (\d+) \((\d+) graph API, (\d+) fused, (\d+) unfused/.exec(text);
      expect(match, text).not.toBeNull();
      const [total, graphApi, fused, unfused] = match!.slice(1).map(Number) as [number, number, number, number];
      expect(graphApi + fused + unfused).toBe(total);
      return { total, graphApi, fused, unfused };
    };

    it.each(precisions)('%s: describe() names every conv\'s path; cudnn.graphApi: false keeps them all on the legacy API, both match the CPU', async (precision) => {
      using cpu = await compileGraph(graph(), { backend: 'cpu', batch: 2 });
      const [want] = await cpu.run(input);
      {
        using legacy = await compileGraph(graph(), { backend: 'cuda', batch: 2, precision, cudnn: { graphApi: false } });
        const described = legacy.describe();
        expect(described).toContain('graph API: off (options.cudnn.graphApi: false)');
        expect(paths(described).graphApi).toBe(0);
        expect(relativeL2((await legacy.run(input))[0]!, want!)).toBeLessThanOrEqual(tolerance[precision]);
      }
      using chosen = await compileGraph(graph(), { backend: 'cuda', batch: 2, precision });
      const described = chosen.describe();
      expect(described).toMatch(/graph API: plans built in \d+ ms/);
      expect(paths(described).total).toBe(21); // resnet18: 20 convs and the fc
      console.log(`resnet18 at ${precision}: ${described.split('\n')[1]}`);
      expect(relativeL2((await chosen.run(input))[0]!, want!)).toBeLessThanOrEqual(tolerance[precision]);
    });

    it('benchmark: true times every path of every conv and keeps the fastest', async () => {
      using tuned = await compileGraph(graph(), { backend: 'cuda', batch: 2, precision: 'float16', benchmark: true });
      const lines = tuned.describe().split('\n').filter((line) => line.startsWith('  conv step'));
      expect(lines).toHaveLength(21);
      for (const line of lines) {
        const timed = /\(timed ms:([^)]*)\)/.exec(line);
        expect(timed, line).not.toBeNull();
        const times = [...timed![1]!.matchAll(/(graph engine -?\d+|fused|unfused) ([\d.e-]+)/g)].map((m) => ({ path: m[1]!, ms: Number(m[2]) }));
        const fastest = times.reduce((a, b) => (b.ms < a.ms ? b : a));
        const path = /; (graph API|fused|unfused),/.exec(line)![1]!;
        // The fastest path is the one kept (a graph plan's time stands for the graph API).
        expect(fastest.path.startsWith('graph') ? 'graph API' : fastest.path, line).toBe(path);
      }
      using cpu = await compileGraph(graph(), { backend: 'cpu', batch: 2 });
      const [want] = await cpu.run(input);
      expect(relativeL2((await tuned.run(input))[0]!, want!)).toBeLessThanOrEqual(tolerance.float16);
    });

    it('cudnn.graphBudgetMs: a budget spent by the first conv graph leaves the other convs on the legacy path, saying which knob', async () => {
      // The budget is checked before each distinct conv graph's plans are built: the first is always built.
      using capped = await compileGraph(graph(), { backend: 'cuda', batch: 2, precision: 'float16', cudnn: { graphBudgetMs: 1e-6 } });
      const described = capped.describe();
      expect(described).toMatch(/graph API: plans built in \d+ ms; \d+ conv\(s\) left on the legacy path: building plans took over 0 ms \(options\.cudnn\.graphBudgetMs\)/);
      expect(described).toContain("not built: the graph plans' time budget (0 ms, options.cudnn.graphBudgetMs) was spent");
      using cpu = await compileGraph(graph(), { backend: 'cpu', batch: 2 });
      const [want] = await cpu.run(input);
      expect(relativeL2((await capped.run(input))[0]!, want!)).toBeLessThanOrEqual(tolerance.float16);
    });
  });

  it('a uint8 input without normalisation is its pixel values as floats', async () => {
    const graph = cases[0]!.graph;
    const pixels = new Uint8Array(2 * 3 * 9 * 9).map((_, i) => (i * 53 + 7) % 256);
    using gpu = await compileGraph(graph, { backend: 'cuda', batch: 2 });
    const [fromBytes] = await gpu.run(pixels);
    const [fromFloats] = await gpu.run(Float32Array.from(pixels));
    expect(relativeL2(fromBytes!, fromFloats!)).toBeLessThanOrEqual(1e-6);
  });

  it('rejects a device ordinal that does not exist with ERR_NO_GPU, and compiles afterwards', async () => {
    const graph = cases[0]!.graph;
    const error = await compileGraph(graph, { backend: 'cuda', batch: 1, device: devices }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoGpuError);
    expect((error as NoGpuError).code).toBe('ERR_NO_GPU');
    expect((error as Error).message).toContain(`CUDA device ${devices} does not exist`);
    using ok = await compileGraph(graph, { backend: 'cuda', batch: 1 });
    const [out] = await ok.run(randomArray(3 * 9 * 9));
    expect(out).toHaveLength(8 * 9 * 9);
  });
});

describe.runIf(hasCuda)('the stem in each of its forms (cudnn.stem), and the form compiling chooses', () => {
  // 65×57: odd sizes, so the space-to-depth cells reach past the image on two sides.
  let built: Graph | undefined;
  const resnet = (): Graph => {
    if (!built) {
      manualSeed(23);
      const model = resnet18();
      randomizeBatchNorms(model, 24);
      built = lower(Tracer.trace(model, [3, 65, 57]));
    }
    return built;
  };
  const forms = { float32: ['direct', 'space_to_depth'], float16: ['direct', 'space_to_depth', 'four_channel'] } as const;
  const pixels = new Uint8Array(2 * 65 * 57 * 3).map((_, i) => (i * 53 + 7) % 256); // NHWC
  const normalization = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

  it.each(['float32', 'float16'] as const)('every form at %s gives the CPU backend\'s logits from uint8 NHWC pixels', async (precision) => {
    using cpu = await compileGraph(resnet(), { backend: 'cpu', batch: 2, normalization });
    const [want] = await cpu.run({ data: pixels, dtype: 'uint8', layout: 'nhwc' });
    for (const stem of forms[precision]) {
      using gpu = await compileGraph(resnet(), { backend: 'cuda', batch: 2, precision, normalization, cudnn: { stem } });
      expect(gpu.describe()).toContain(`stem: ${stem} (forced by options.cudnn.stem)`);
      const [got] = await gpu.run({ data: pixels, dtype: 'uint8', layout: 'nhwc' });
      expect(relativeL2(got!, want!), stem).toBeLessThanOrEqual(tolerance[precision]);
    }
  });

  it('times every form by default and names the choice; a form the graph does not allow fails the compile', async () => {
    using gpu = await compileGraph(resnet(), { backend: 'cuda', batch: 2, precision: 'float16' });
    const line = /^stem: (\w+) \(timed, input conversion \+ conv, ms per call: (.*)\)$/m.exec(gpu.describe());
    expect(line, gpu.describe()).not.toBeNull();
    expect(forms.float16).toContain(line![1]);
    for (const form of forms.float16) expect(line![2]).toContain(form);
    await expect(compileGraph(resnet(), { backend: 'cuda', batch: 2, precision: 'float32', cudnn: { stem: 'four_channel' } }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining("The stem form 'four_channel' is not available") });
  });
});

describe.runIf(!hasCuda)('without a usable GPU', () => {
  it('compiling for CUDA rejects with a coded error that says why, as info() does', async () => {
    const graph = cases[0]!.graph;
    const error = await compileGraph(graph, { backend: 'cuda', batch: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    // No driver or device, no cuDNN, a cuDNN of another major version, or a build without CUDA at all.
    expect(['ERR_NO_GPU', 'ERR_CUDNN_NOT_FOUND', 'ERR_CUDNN_VERSION', 'ERR_BACKEND_UNAVAILABLE']).toContain((error as BackendUnavailableError).code);
    expect((error as Error).message).toBe(unavailableReason);
    // The CPU still works in the same process.
    using cpu = await compileGraph(graph, { backend: 'cpu', batch: 1 });
    expect((await cpu.run(randomArray(3 * 9 * 9)))[0]).toHaveLength(8 * 9 * 9);
  });
});
