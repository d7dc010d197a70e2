// The cuDNN graph (backend) API path (native/src/cuda/conv_graph.h) without a GPU: build_conv_graph_plans and
// execute_conv_graph run, through the addon's `testing.cudnnGraph.run`, against a fake libcudnn.so.9 built
// here with g++ from test/fixtures/fake-cudnn-backend.cc. The fake checks every descriptor call the way
// cuDNN's documentation states the rules (attribute types and counts, required attributes, conv_fprop shapes,
// virtual tensors, the variant pack binding exactly the graph's non-virtual tensors) and logs each execute; the
// test decides which engines its heuristics return. What this shows: the calls follow the API's rules as
// documented, engines are filtered and tried in the right order, each uid is bound to its role's buffer, and
// every descriptor is destroyed. What only a GPU shows: that real cuDNN accepts the graphs and computes the
// right thing (scripts/gpu-check.sh, and the trial run's comparison with the legacy path).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { lower, manualSeed, resnet18, Tracer, type Graph } from '../../lib/index.js';
import { graphBuilders, graphOf } from '../helpers/graph-builders.js';
import { rng } from '../helpers/helpers.js';
import { addonPathVariable, loadNative } from '../../lib/runtime/native.js';
import { cudaConvGraphs, cudaPlan } from '../helpers/cuda-plan-reference.js';
import { quantizeForTest, type Int8Plan } from '../helpers/cuda-fp8-reference.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = process.env[addonPathVariable] ? path.resolve(process.env[addonPathVariable]) : path.join(root, 'build', 'Release', 'resnet_cudnn.node');
const hasGxx = spawnSync('g++', ['--version']).status === 0;

interface PlanResult {
  step: number;
  note: string;
  plans: { engine: number; runtimeCompiled: boolean; workspace: number; name: string }[];
  executeStatus?: string;
  addresses?: Record<string, number>;
}

/** The functions of the fake itself; the loader's other functions become stubs. */
const FAKE_FUNCTIONS = new Set([
  'cudnnGetVersion', 'cudnnGetCudartVersion', 'cudnnGetErrorString', 'cudnnGetLastErrorString', 'cudnnBackendCreateDescriptor',
  'cudnnBackendDestroyDescriptor', 'cudnnBackendSetAttribute', 'cudnnBackendGetAttribute', 'cudnnBackendFinalize', 'cudnnBackendExecute',
]);

const scratch = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'resnet-cudnn-graph-')));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let built = false;
function buildFake(): void {
  if (built) return;
  const names = (loadNative() as unknown as { testing: { cudnnLoader: { functionNames(): string[] } } }).testing.cudnnLoader.functionNames();
  const stubs = names.filter((name) => !FAKE_FUNCTIONS.has(name)).map((name) => `extern "C" int ${name}(void) { return 0; }`);
  writeFileSync(path.join(scratch, 'stubs.cc'), `${stubs.join('\n')}\n`);
  execFileSync('g++', ['-std=c++17', '-Wall', '-Werror', '-shared', '-fPIC', '-o', path.join(scratch, 'libcudnn.so.9'), path.join(root, 'test', 'fixtures', 'fake-cudnn-backend.cc'), path.join(scratch, 'stubs.cc')]);
  built = true;
}

/** `graph` as a file a child process reads (weights as plain arrays). */
function graphFile(name: string, graph: Graph): string {
  const file = path.join(scratch, `${name}.json`);
  writeFileSync(file, JSON.stringify(graph, (_key, value: unknown) => (value instanceof Float32Array ? { f32: Array.from(value) } : value)));
  return file;
}
const readGraph = (file: string): Graph => JSON.parse(readFileSync(file, 'utf8'), (_k, v) => (v && v.f32 ? Float32Array.from(v.f32) : v)) as Graph;

/** resnet18's layer2 (a stride-2 block with its 1×1 downsample, then a plain block). */
let layer2Path: string | undefined;
function layer2(): string {
  manualSeed(31);
  layer2Path ??= graphFile('layer2', lower(Tracer.trace(resnet18().layer2, [64, 8, 8])));
  return layer2Path;
}

/**
 * The ends of a network and a grouped conv: the stem (3 channels, padded to 8 halves / 4 floats, 7×7 stride
 * 2 padding 3) → max pool → a grouped 3×3 conv (4 groups) → global pool → flatten → a linear layer (a
 * full-window conv on the device).
 */
function endsFile(): string {
  const { conv, randomArray } = graphBuilders(rng(32));
  return graphFile('ends', graphOf([[3, 17, 15], [16, 9, 8], [16, 5, 4], [16, 5, 4], [16, 1, 1], [16], [10]], [
    conv({ src: 0, dst: 1, inChannels: 3, outChannels: 16, kernel: [7, 7], stride: [2, 2], padding: [3, 3], relu: true }),
    { op: 'maxpool', src: 1, dst: 2, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false },
    conv({ src: 2, dst: 3, inChannels: 16, outChannels: 16, padding: [1, 1], groups: 4, residual: 2, relu: true }),
    { op: 'adaptive_avgpool', src: 3, dst: 4 },
    { op: 'flatten', src: 4, dst: 5 },
    { op: 'linear', src: 5, dst: 6, outFeatures: 10, weight: randomArray(10 * 16, 0.25), bias: randomArray(10) },
  ], [6]));
}

/**
 * resnet18's layer1 quantized (made-up scales): its first conv reads the graph input (FP16), the other three are FP8,
 * the two with a residual (FP16 in the first block, FP8 in the second) with a final MUL by γ.
 */
let quantizedLayer1Path: string | undefined;
function quantizedLayer1(): string {
  manualSeed(33);
  const graph = lower(Tracer.trace(resnet18().layer1, [64, 8, 8]));
  quantizedLayer1Path ??= graphFile('layer1-int8', quantizeForTest(graph, graph.values.map((_, i) => 1 + i / 4)));
  return quantizedLayer1Path;
}

let runs = 0;
/** One child process (cuDNN loads once per process) with the fake and its engines: the results and the log. */
function run(options: { precision: string; limit?: number; workspaceCap?: number }, engines: string, fallback = '', graphPath = layer2()): { results: PlanResult[]; log: string[] } {
  buildFake();
  const log = path.join(scratch, `log-${runs++}.txt`);
  const script = `const addon = require(${JSON.stringify(addonPath)});
const graph = JSON.parse(require('fs').readFileSync(${JSON.stringify(graphPath)}, 'utf8'), (k, v) => (v && v.f32 ? Float32Array.from(v.f32) : v));
process.stdout.write(JSON.stringify(addon.testing.cudnnGraph.run(graph, ${JSON.stringify({ batch: 2, ...options })})));`;
  const base = { ...process.env };
  for (const name of ['RESNET_CUDNN_PATH', 'FAKE_CUDNN_ENGINES', 'FAKE_CUDNN_FALLBACK', 'FAKE_CUDNN_LOG']) delete base[name];
  const output = execFileSync(process.execPath, ['-e', script], {
    env: { ...base, RESNET_CUDNN_PATH: scratch, FAKE_CUDNN_ENGINES: engines, FAKE_CUDNN_FALLBACK: fallback, FAKE_CUDNN_LOG: log },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { results: JSON.parse(output) as PlanResult[], log: readFileSync(log, 'utf8').trim().split('\n') };
}

const engineList = (r: PlanResult): number[] => r.plans.map((p) => p.engine);
const hex = (n: number): string => `0x${n.toString(16)}`;

describe.runIf(hasGxx)('the graph API path against a fake cuDNN that checks the calls', () => {
  it('float16, resnet18 layer2: a plan per conv, each uid bound to its role\'s buffer, no rule broken, nothing leaked', () => {
    const { results, log } = run({ precision: 'float16' }, '12:rc,7');
    expect(log.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(log.at(-1)).toBe('live 0');
    // 5 convs: the block's two 3×3 and its 1×1 downsample, the plain block's two 3×3.
    expect(results).toHaveLength(5);
    const graphs = cudaConvGraphs(readGraph(layer2()), { batch: 2, precision: 'float16' });
    const executes = log.filter((line) => line.startsWith('execute '));
    expect(executes).toHaveLength(5);
    for (const [i, result] of results.entries()) {
      expect(result.plans).toEqual([{ engine: 12, runtimeCompiled: true, workspace: 0, name: 'engine 12 (runtime compiled), workspace 0' }]);
      expect(result.note).toBe('');
      expect(result.executeStatus).toBe('CUDNN_STATUS_SUCCESS');
      // The fake logs "uid=address" for what was bound; the graph says which uid is which role.
      const bound = Object.fromEntries([...executes[i]!.matchAll(/ (\d+)=(0x[0-9a-f]+)/g)].map((m) => [Number(m[1]), m[2]]));
      const byRole = Object.fromEntries(graphs[i]!.tensors.filter((t) => !t.virtual).map((t) => [t.uid, hex(result.addresses![t.role]!)]));
      expect(bound).toEqual(byRole);
      expect(executes[i]).toContain(`handle=0x600d workspace=${hex(result.addresses!.workspace!)}`);
      expect(executes[i]).toMatch(/^execute engine=12 /);
    }
    // The residual is bound exactly where the step has one (the blocks' second convs).
    expect(results.map((r) => 'residual' in r.addresses!)).toEqual(graphs.map((g) => g.tensors.some((t) => t.role === 'residual')));
    expect(results.filter((r) => 'residual' in r.addresses!)).toHaveLength(2);
  });

  it.each(['float16', 'float32'])('%s: the stem (padded channels, 7×7 stride 2), a grouped conv with a residual, a linear layer as a full-window conv', (precision) => {
    const file = endsFile();
    const { results, log } = run({ precision }, '12:rc', '', file);
    expect(log.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(log.at(-1)).toBe('live 0');
    const graphs = cudaConvGraphs(readGraph(file), { batch: 2, precision });
    expect(results.map((r) => r.step)).toEqual(graphs.map((g) => g.step));
    expect(results.every((r) => r.executeStatus === 'CUDNN_STATUS_SUCCESS' && engineList(r).join() === '12')).toBe(true);
    const dims = (i: number, role: string) => graphs[i]!.tensors.find((t) => t.role === role)!.dims;
    expect(dims(0, 'input')).toEqual([2, precision === 'float16' ? 8 : 4, 17, 15]);
    expect(dims(1, 'filter')).toEqual([16, 4, 3, 3]);
    // 10 outputs padded to 16 bytes' worth (16 halves, 12 floats), over the 1×1 pooled map.
    expect(dims(2, 'filter')).toEqual([precision === 'float16' ? 16 : 12, 16, 1, 1]);
    expect(log.filter((line) => line.startsWith('execute '))).toHaveLength(3);
  });

  it('float32 skips tensor-core engines (TF32 is off there); every precision skips down-converted inputs and reduced-precision reduction', () => {
    const engines = '5:tc,6:dci,7:rpr,8:strict:native,9';
    const f32 = run({ precision: 'float32', limit: 3 }, engines);
    expect(f32.log.filter((line) => line.startsWith('error:'))).toEqual([]);
    for (const r of f32.results) {
      expect(engineList(r)).toEqual([8, 9]); // notes resnet-cudnn does not know (STRICT_NAN_PROP, …) do not matter
      expect(r.note).toBe('3 excluded for float32 (first: engine 5: tensor cores (TF32))');
    }
    const f16 = run({ precision: 'float16', limit: 3 }, engines);
    for (const r of f16.results) {
      expect(engineList(r)).toEqual([5, 8, 9]);
      expect(r.note).toBe('2 excluded for float16 (first: engine 6: down-converted inputs)');
    }
    const tf32 = run({ precision: 'tf32', limit: 1 }, engines);
    for (const r of tf32.results) expect(engineList(r)).toEqual([5]);
    expect(tf32.log.at(-1)).toBe('live 0');
  });

  it('int8: FP8 conv graphs keep engines noted for reduced-precision reduction (FP16 ones do not); α and γ bound to their buffers', () => {
    const file = quantizedLayer1();
    const int8 = run({ precision: 'int8', limit: 2 }, '6:dci,7:rpr,12:rc', '', file);
    expect(int8.log.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(int8.log.at(-1)).toBe('live 0');
    const plan = cudaPlan(readGraph(file), { batch: 2, precision: 'int8' }) as unknown as Int8Plan;
    const graphs = cudaConvGraphs(readGraph(file), { batch: 2, precision: 'int8' });
    expect(int8.results.map((r) => plan.steps[r.step]!.fp8)).toEqual([false, true, true, true]);
    const executes = int8.log.filter((line) => line.startsWith('execute '));
    for (const [i, r] of int8.results.entries()) {
      const fp8 = plan.steps[r.step]!.fp8;
      expect(engineList(r)).toEqual(fp8 ? [7, 12] : [12]);
      expect(r.note).toBe(fp8 ? '1 excluded for int8 (first: engine 6: down-converted inputs)' : '2 excluded for int8 (first: engine 6: down-converted inputs)');
      const bound = Object.fromEntries([...executes[i]!.matchAll(/ (\d+)=(0x[0-9a-f]+)/g)].map((m) => [Number(m[1]), m[2]]));
      const byRole = Object.fromEntries(graphs[i]!.tensors.filter((t) => !t.virtual).map((t) => [t.uid, hex(r.addresses![t.role]!)]));
      expect(bound).toEqual(byRole);
      expect('scale' in r.addresses!).toBe(fp8);
    }
    // γ where the chain has it: the blocks' second convs (d / o: the residual's divisor over the output's).
    expect(int8.results.map((r) => 'output_scale' in r.addresses!)).toEqual([false, true, false, true]);
    expect(int8.results.map((r) => plan.steps[r.step]!.residual >= 0)).toEqual([false, true, false, true]);
  });

  it('an engine that refuses, or wants more workspace than the cap, is passed over for the next; `limit` caps the list', () => {
    const { results, log } = run({ precision: 'bfloat16', limit: 2, workspaceCap: 1 << 20 }, '3:refuse,4:ws=2000000,9:ws=4096,10,11');
    expect(log.filter((line) => line.startsWith('error:'))).toEqual([]);
    for (const r of results) {
      expect(r.plans.map((p) => [p.engine, p.workspace])).toEqual([[9, 4096], [10, 0]]);
      expect(r.note).toMatch(/^1 configuration\(s\) refused at finalize \(first: engine 3: finalizing the plan: FAKE_CUDNN_STATUS \(3000\): engine 3 does not support this graph\); 1 over the workspace cap$/);
    }
    // The first plan ran, with the workspace it asked for.
    expect(log.filter((line) => line.startsWith('execute engine=9 '))).toHaveLength(5);
    expect(log.at(-1)).toBe('live 0');
  });

  it('the fallback list is asked only when the instant heuristics give nothing usable', () => {
    const refused = run({ precision: 'float16' }, '3:refuse', '21,22');
    for (const r of refused.results) expect(engineList(r)).toEqual([21]);
    const usable = run({ precision: 'float16' }, '4', '21');
    for (const r of usable.results) expect(engineList(r)).toEqual([4]);
    expect([...refused.log, ...usable.log].filter((line) => line.startsWith('error:'))).toEqual([]);
  });

  it('no engine at all: no plans, a note that says so, nothing executed, nothing leaked', () => {
    const { results, log } = run({ precision: 'float16' }, '', '');
    for (const r of results) {
      expect(r.plans).toEqual([]);
      expect(r.note).toBe("cuDNN's heuristics returned no engine");
      expect(r.executeStatus).toBeUndefined();
    }
    expect(log).toEqual(['live 0']);
  });
});

describe.skipIf(hasGxx)('the graph API path against a fake cuDNN', () => {
  it.skip('needs g++ on PATH to build the fake libcudnn.so.9', () => {});
});
