/**
 * bfloat16 on the CPU (oneDNN's native AVX512-BF16 / AMX kernels), against float32 runs of the same
 * weights: torchvision's resnet18 and resnet50 with random weights and statistics (the networks test's
 * cases), and a small graph of every op kind. The CPU's low-precision ISAs in `info()` are checked against
 * /proc/cpuinfo. On a CPU without native bfloat16 the accuracy cases skip and the typed refusal is asserted
 * instead; the refusal is also checked here in child processes whose oneDNN is capped below bfloat16
 * (ONEDNN_MAX_CPU_ISA), which is also what a CPU without it reports.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UnsupportedError, backendInfo, compileGraph, getModel, manualSeed, prepareGraph, Tensor } from '../../lib/index.js';
import type { Graph, GraphOp } from '../../lib/compile/graph.js';
import { cpuBFloat16Refusal, resolvePlacement } from '../../lib/runtime/device.js';
import { defaultPlacement } from '../../lib/nn/placement.js';
import { cpuFlags, cpuHasNativeBFloat16 } from '../helpers/cpu-flags.js';
import { graphBuilders, graphOf } from '../helpers/graph-builders.js';
import { randomizeBatchNorms, relativeL2, rng, uniform } from '../helpers/helpers.js';

const addonPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'resnet_cudnn.node');
const cpu = backendInfo().backends.cpu;
const flags = cpuFlags();
const lowPrecisionNames = ['avx_vnni', 'avx512_vnni', 'avx512_bf16', 'amx_int8', 'amx_bf16'] as const;
if (!cpu.bfloat16) console.warn(`test/native/bfloat16.test.ts: bfloat16 accuracy skipped, oneDNN's ISA here is ${cpu.isa} (no AVX512-BF16 or AMX); the refusal is tested instead`);

/** The index of the largest of `n` logits starting at `offset`. */
function top1(logits: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[offset + i]! > logits[offset + best]!) best = i;
  return best;
}

describe("the CPU's low-precision ISAs", () => {
  it.runIf(flags !== null)('info() lists those /proc/cpuinfo lists, in order, and bfloat16 where oneDNN uses AVX512-BF16', () => {
    expect(cpu.lowPrecisionIsas).toEqual(lowPrecisionNames.filter((name) => flags!.has(name)));
    // oneDNN caps its ISA with ONEDNN_MAX_CPU_ISA; unset, it uses what the CPU has.
    if (!process.env.ONEDNN_MAX_CPU_ISA) expect(cpu.bfloat16).toBe(cpuHasNativeBFloat16(flags!));
    expect(cpu.bfloat16).toBe(cpu.isa === 'avx512_core_bf16' || cpu.isa === 'avx512_core_amx');
  });
});

describe.runIf(cpu.bfloat16)('bfloat16 vs float32 on the CPU (random torchvision weights)', () => {
  for (const name of ['resnet18', 'resnet50']) {
    it(`${name} at 224x224, 3 random inputs: relative L2 ≤ 2e-2 per sample and the same top-1`, async () => {
      manualSeed(42);
      const model = getModel(name);
      randomizeBatchNorms(model, 7);
      const batch = 3;
      const shape = [batch, 3, 224, 224];
      const input = Tensor.from(uniform(batch * 3 * 224 * 224, 11), shape);
      const float = (await model.forward(input)).data as Float32Array;
      model.to({ device: 'cpu', dtype: 'bfloat16' });
      expect(model.dtype).toBe('bfloat16');
      const bf16 = (await model.forward(input)).data as Float32Array;
      for (let s = 0; s < batch; s++) {
        const ours = bf16.subarray(s * 1000, (s + 1) * 1000);
        const reference = float.subarray(s * 1000, (s + 1) * 1000);
        const error = relativeL2(ours, reference);
        expect(error, `sample ${s}`).toBeLessThanOrEqual(2e-2);
        // bfloat16 keeps 8 bits of mantissa: a result equal to float32's would mean it was not used.
        expect(error, `sample ${s}`).toBeGreaterThan(1e-5);
        expect(top1(bf16, s * 1000, 1000), `sample ${s}`).toBe(top1(float, s * 1000, 1000));
      }
    });
  }

  it('every op kind (strided conv, max pool, fused and unfused relu and add, residual, both adaptive pools, linear) within 1e-2, weights stored in half the bytes', async () => {
    const graph = opMixGraph();
    const input = uniform(2 * 3 * 40 * 40, 3);
    using float = await compileGraph(graph, { backend: 'cpu', batch: 2 });
    using bf16 = await compileGraph(graph, { backend: 'cpu', batch: 2, precision: 'bfloat16' });
    const expected = await float.run(input);
    const actual = await bf16.run(input);
    expect(actual.map((a) => a.length)).toEqual(expected.map((e) => e.length));
    for (let k = 0; k < expected.length; k++) {
      const error = relativeL2(actual[k]!, expected[k]!);
      expect(error, `output ${k}`).toBeLessThanOrEqual(1e-2);
      expect(error, `output ${k}`).toBeGreaterThan(1e-6);
    }
    // Conv and linear weights in bf16 (2 bytes), biases f32 (4 bytes), both padded to the kernels' blocking.
    expect(bf16.weightBytes).toBeLessThan(0.75 * float.weightBytes);
  });

  it('one prepared graph compiled at float32 and bfloat16 keeps both weight copies apart: each equals its own compile alone', async () => {
    const graph = opMixGraph();
    const input = uniform(2 * 3 * 40 * 40, 4);
    using prepared = prepareGraph(graph);
    // Alternate the precisions so that each finds the other's weights in the prepared graph's cache.
    using floatShared = await compileGraph(prepared, { backend: 'cpu', batch: 2 });
    using bf16Shared = await compileGraph(prepared, { backend: 'cpu', batch: 2, precision: 'bfloat16' });
    using floatAgain = await compileGraph(prepared, { backend: 'cpu', batch: 2 });
    using floatAlone = await compileGraph(graph, { backend: 'cpu', batch: 2 });
    using bf16Alone = await compileGraph(graph, { backend: 'cpu', batch: 2, precision: 'bfloat16' });
    const [floatWant, bf16Want] = [await floatAlone.run(input), await bf16Alone.run(input)];
    expect(await floatShared.run(input)).toEqual(floatWant);
    expect(await floatAgain.run(input)).toEqual(floatWant);
    expect(await bf16Shared.run(input)).toEqual(bf16Want);
    expect(bf16Want).not.toEqual(floatWant);
    // Only the f32 biases are shared between the two precisions; the second float32 compile shares everything.
    expect(bf16Shared.sharedWeightBytes).toBeLessThan(0.2 * bf16Shared.weightBytes);
    expect(floatAgain.sharedWeightBytes).toBe(floatAgain.weightBytes);
  });

  it('runs native bfloat16 kernels, never a reference one (ONEDNN_VERBOSE in a child process)', () => {
    const result = runChild({ ONEDNN_VERBOSE: '1' }, `
      ${childGraphSource}
      addon.compile(graph, { backend: 'cpu', batch: 2, precision: 'bfloat16' })
        .then((executable) => executable.run(input)).then(() => console.log('ran'), (e) => console.log('failed', e.code, e.message));
    `);
    expect(result.stdout).toContain('ran');
    const executions = result.stdout.split('\n').filter((line) => line.startsWith('onednn_verbose,exec,cpu,'));
    const byPrimitive = new Map<string, string[]>();
    for (const line of executions) {
      const [, , , primitive, impl] = line.split(',');
      expect(impl, line).not.toMatch(/^ref/);
      byPrimitive.set(primitive!, [...(byPrimitive.get(primitive!) ?? []), line]);
    }
    for (const primitive of ['convolution', 'pooling_v2', 'eltwise', 'binary', 'inner_product']) {
      const lines = byPrimitive.get(primitive) ?? [];
      expect(lines.length, primitive).toBeGreaterThan(0);
      for (const line of lines) expect(line, primitive).toMatch(/\b(src|src_0|data)_bf16::/);
    }
    for (const line of byPrimitive.get('convolution')!) expect(line).toMatch(/avx512_core_(bf16|amx)/);
  });
});

describe('bfloat16 refused on a CPU without AVX512-BF16 or AMX', () => {
  it.runIf(!cpu.bfloat16)('here: compiling and placing refuse with the ISA named', async () => {
    const message = cpuBFloat16Refusal(cpu.isa);
    const error = await compileGraph(smallGraph(), { backend: 'cpu', batch: 1, precision: 'bfloat16' }).then(() => null, (e: unknown) => e as Error & { code?: string });
    expect(error).toBeInstanceOf(UnsupportedError);
    expect(error!.code).toBe('ERR_UNSUPPORTED');
    expect(error!.message).toBe(message);
    expect(() => resolvePlacement({ device: 'cpu', dtype: 'bfloat16' }, defaultPlacement)).toThrow(message);
  });

  for (const isa of ['AVX512_CORE', 'AVX2']) {
    it(`under ONEDNN_MAX_CPU_ISA=${isa} (child process): info says no bfloat16, compile refuses naming the ISA`, () => {
      const result = runChild({ ONEDNN_MAX_CPU_ISA: isa }, `
        ${childGraphSource}
        const info = addon.info().backends.cpu;
        addon.compile(graph, { backend: 'cpu', batch: 1, precision: 'bfloat16' }).then(
          () => console.log(JSON.stringify({ info, compiled: true })),
          (e) => console.log(JSON.stringify({ info, code: e.code, message: e.message })));
      `);
      const report = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { info: typeof cpu; code?: string; message?: string; compiled?: boolean };
      expect(report.info.bfloat16).toBe(false);
      // The cap lowers oneDNN's ISA to at most the one named (a CPU without it reports a lower one).
      expect(['avx512_core', 'avx2_vnni', 'avx2', 'avx', 'sse41']).toContain(report.info.isa);
      if (isa === 'AVX2') expect(['avx2', 'avx', 'sse41']).toContain(report.info.isa);
      // CPUID still lists what the CPU has: the cap is oneDNN's alone.
      expect(report.info.lowPrecisionIsas).toEqual(cpu.lowPrecisionIsas);
      expect(report.compiled).toBeUndefined();
      expect(report.code).toBe('ERR_UNSUPPORTED');
      expect(report.message).toBe(cpuBFloat16Refusal(report.info.isa));
      expect(report.message).toContain("use dtype 'float32'");
    });
  }
});

/** Every op kind once: strided stem conv, max pool, conv, unfused relu, 1x1 conv with residual, unfused add, both adaptive pools, flatten, linear. */
function opMixGraph(): Graph {
  const { conv, randomArray } = graphBuilders(rng(5));
  const ops: GraphOp[] = [
    conv({ src: 0, dst: 1, inChannels: 3, outChannels: 32, kernel: [7, 7], stride: [2, 2], padding: [3, 3], relu: true }),
    { op: 'maxpool', src: 1, dst: 2, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false },
    conv({ src: 2, dst: 3, inChannels: 32, outChannels: 32, padding: [1, 1] }),
    { op: 'relu', src: 3, dst: 4 },
    conv({ src: 4, dst: 5, inChannels: 32, outChannels: 32, kernel: [1, 1], residual: 2, relu: true }),
    { op: 'add', a: 5, b: 4, dst: 6, relu: true },
    { op: 'adaptive_avgpool', src: 6, dst: 7 },
    { op: 'flatten', src: 7, dst: 8 },
    { op: 'linear', src: 8, dst: 9, outFeatures: 10, weight: randomArray(10 * 32, 0.2), bias: randomArray(10, 0.1) },
    { op: 'adaptive_avgpool', src: 6, dst: 10 },
  ];
  return graphOf(
    [[3, 40, 40], [32, 20, 20], [32, 10, 10], [32, 10, 10], [32, 10, 10], [32, 10, 10], [32, 10, 10], [32, 1, 1], [32], [10], [32, 3, 3]],
    ops,
    [9, 10, 6],
  );
}

function smallGraph(): Graph {
  const { conv } = graphBuilders(rng(9));
  return graphOf([[3, 8, 8], [4, 8, 8]], [conv({ src: 0, dst: 1, inChannels: 3, outChannels: 4, padding: [1, 1], relu: true })], [1]);
}

// CommonJS for a child process against the built addon: conv, max pool, relu, add, global pool, flatten,
// linear, so that each primitive kind runs once.
const childGraphSource = `
  const addon = require(process.env.ADDON);
  const wave = (n, f, s) => Float32Array.from({ length: n }, (_, i) => s * Math.sin(i * f));
  const conv = (src, dst, inC, outC, k, pad, extra) => ({ op: 'conv', src, dst, residual: -1, relu: false, outChannels: outC,
    kernel: [k, k], stride: [1, 1], padding: [pad, pad], dilation: [1, 1], groups: 1,
    weight: wave(outC * inC * k * k, 0.37 + dst, 1 / Math.sqrt(inC * k * k)), bias: wave(outC, 0.11, 0.1), ...extra });
  const graph = {
    values: [[3, 16, 16], [32, 16, 16], [32, 8, 8], [32, 8, 8], [32, 8, 8], [32, 8, 8], [32, 1, 1], [32], [10]].map((shape) => ({ shape })),
    input: 0, outputs: [8],
    ops: [
      conv(0, 1, 3, 32, 3, 1, { relu: true }),
      { op: 'maxpool', src: 1, dst: 2, kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false },
      conv(2, 3, 32, 32, 3, 1, {}),
      { op: 'relu', src: 3, dst: 4 },
      { op: 'add', a: 4, b: 2, dst: 5, relu: false },
      { op: 'adaptive_avgpool', src: 5, dst: 6 },
      { op: 'flatten', src: 6, dst: 7 },
      { op: 'linear', src: 7, dst: 8, outFeatures: 10, weight: wave(320, 0.7, 0.1), bias: wave(10, 0.3, 0.1) },
    ],
  };
  const input = wave(2 * 3 * 16 * 16, 0.05, 1);
`;

function runChild(env: Record<string, string>, source: string): { stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['-e', source], { env: { ...process.env, ...env, ADDON: addonPath }, encoding: 'utf8', timeout: 60_000 });
  expect(result.status, result.stderr).toBe(0);
  return { stdout: result.stdout, stderr: result.stderr };
}
