/**
 * The CUDA backend's planner (native/src/cuda/cuda_plan.h), run on the CPU through the addon's test-only
 * `testing.cudaPlan`: layouts, steps, the arena (liveness computed here, independently), the packed
 * weights (unpacked here and compared with the graph's OIHW weights), the linear-after-flatten rewrite,
 * whole plans executed by a float64 interpreter in one arena (cuda-plan-reference.ts) against the CPU
 * backend, and the stem's forms (direct, space_to_depth, four_channel): their layouts, rearranged filters
 * (cuda-plan-stem.ts) and whole plans in each form against the direct one.
 */
import { describe, expect, it } from 'vitest';
import {
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  Sequential,
  Tensor,
  Tracer,
  lower,
  manualSeed,
  resnet18,
  resnet20,
  resnet50,
  resnext50_32x4d,
  type Graph,
  type Module,
} from '../../lib/index.js';
import { codeOf, maxRelativeError, randomizeBatchNorms, relativeL2, uniform } from '../helpers/helpers.js';
import {
  cudaPlan,
  elementBytes,
  memoryOf,
  readBias,
  readElements,
  readsOf,
  roundTo,
  roundToBfloat16,
  roundToHalf,
  simulatePlan,
  type CudaPlan,
} from '../helpers/cuda-plan-reference.js';
import { checkStemForm, checkStemWeights, expectedSpaceToDepthSize } from '../helpers/cuda-plan-stem.js';

const ALIGNMENT = 256;

function graphOf(module: Module, sample: number[]): Graph {
  return lower(Tracer.trace(module, sample));
}

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;
/** PyTorch's output size of a window (no dilation, floor mode). */
const window = (size: number, k: number, stride: number, padding: number): number => Math.floor((size + 2 * padding - k) / stride) + 1;
const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Per value: the device geometry the planner must give it (cuda_plan.h: flat values keep their origin's). */
function expectedGeometry(graph: Graph): { h: number; w: number; channels: number; aliasOf: number }[] {
  const geometry = graph.values.map(({ shape }) =>
    shape.length === 3 ? { channels: shape[0]!, h: shape[1]!, w: shape[2]!, aliasOf: -1 } : { channels: shape[0]!, h: 1, w: 1, aliasOf: -1 },
  );
  for (const op of graph.ops) {
    const flat = graph.values[op.dst]!.shape.length === 1;
    if (op.op === 'flatten') {
      const root = geometry[op.src]!.aliasOf >= 0 ? geometry[op.src]!.aliasOf : op.src;
      geometry[op.dst] = { ...geometry[op.src]!, aliasOf: root };
    } else if (op.op === 'relu' && flat) {
      geometry[op.dst] = { ...geometry[op.src]!, aliasOf: -1 };
    } else if (op.op === 'add' && flat) {
      geometry[op.dst] = { ...geometry[op.a]!, aliasOf: -1 };
    }
  }
  return geometry;
}

/** Every value: NHWC geometry, channels padded to 16 bytes (except `unpadded`), size, alignment, outputs. */
function checkLayout(graph: Graph, plan: CudaPlan, batch: number, unpadded: ReadonlySet<number> = new Set()): void {
  const size = elementBytes(plan.storage);
  const geometry = expectedGeometry(graph);
  expect(plan.values.length).toBe(graph.values.length);
  plan.values.forEach((v, id) => {
    const g = geometry[id]!;
    const stored = unpadded.has(id) ? g.channels : roundUp(g.channels, 16 / size);
    expect({ id, n: v.n, h: v.h, w: v.w, channels: v.channels, stored: v.storedChannels, aliasOf: v.aliasOf }).toEqual({
      id,
      n: batch,
      h: g.h,
      w: g.w,
      channels: g.channels,
      stored,
      aliasOf: g.aliasOf,
    });
    expect(v.bytes).toBe(batch * g.h * g.w * stored * size);
    expect(v.arenaOffset % ALIGNMENT).toBe(0);
    expect(v.arenaOffset + v.bytes).toBeLessThanOrEqual(plan.arenaBytes);
    if (v.aliasOf >= 0) expect(v.arenaOffset).toBe(plan.values[v.aliasOf]!.arenaOffset);
    expect(v.outputIndex).toBe(graph.outputs.indexOf(id));
  });
}

/** The steps: input, one per op but flatten (linear as a full-window conv), one output per graph output. */
function checkSteps(graph: Graph, plan: CudaPlan): void {
  const steps = plan.steps;
  expect(steps[0]).toMatchObject({ kind: 'input', dst: graph.input, src: -1 });
  let j = 1;
  graph.ops.forEach((op, i) => {
    if (op.op === 'flatten') return;
    const step = steps[j++]!;
    expect(step.opIndex).toBe(i);
    expect(step.dst).toBe(op.dst);
    switch (op.op) {
      case 'conv': {
        const x = plan.values[op.src]!;
        const y = plan.values[op.dst]!;
        const inPerGroup = x.channels / op.groups;
        const outPerGroup = op.outChannels / op.groups;
        // Grouped: whole zero groups appended, or none; the stored groups split both sides exactly.
        const groups = op.groups === 1 ? 1 : x.storedChannels / inPerGroup;
        if (op.groups > 1) {
          expect(x.storedChannels % inPerGroup).toBe(0);
          expect(y.storedChannels % outPerGroup).toBe(0);
          expect(y.storedChannels / outPerGroup).toBe(groups);
        }
        expect(step).toMatchObject({
          kind: 'conv', src: op.src, residual: op.residual, relu: op.relu, groups,
          kernel: [...op.kernel], stride: [...op.stride], padding: [...op.padding], dilation: [...op.dilation],
        });
        break;
      }
      case 'linear': {
        const x = plan.values[op.src]!;
        expect(step).toMatchObject({
          kind: 'conv', src: op.src, residual: -1, relu: false, groups: 1,
          kernel: [x.h, x.w], stride: [1, 1], padding: [0, 0], dilation: [1, 1],
        });
        break;
      }
      case 'maxpool':
        expect(step).toMatchObject({
          kind: 'maxpool', src: op.src, kernel: [...op.kernel], stride: [...op.stride], padding: [...op.padding],
          dilation: [...op.dilation], ceilMode: op.ceilMode,
        });
        break;
      case 'adaptive_avgpool':
        expect(step).toMatchObject({ kind: 'adaptive_avgpool', src: op.src });
        break;
      case 'add':
        expect(step).toMatchObject({ kind: 'add', src: op.a, src2: op.b, relu: op.relu });
        break;
      case 'relu':
        expect(step).toMatchObject({ kind: 'relu', src: op.src, relu: true });
        break;
    }
  });
  graph.outputs.forEach((id, k) => {
    expect(steps[j + k]).toMatchObject({ kind: 'output', src: id, outputIndex: k });
    expect(plan.outputElements[k]).toBe(plan.batch * product(graph.values[id]!.shape));
  });
  expect(steps.length).toBe(j + graph.outputs.length);
}

/**
 * Liveness from the steps alone: a value's memory lives from the step that writes it to the last step
 * that reads it (an output step included). Values live at one step must not overlap, and a fused conv's
 * residual never shares memory with its output.
 */
function checkArena(plan: CudaPlan): { ownedBytes: number } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  plan.steps.forEach((step, i) => {
    for (const id of readsOf(step)) {
      const m = memoryOf(plan, id);
      expect(first.has(m), `step ${i} reads value ${id} before any step writes it`).toBe(true);
      last.set(m, Math.max(last.get(m)!, i));
    }
    if (step.dst >= 0) {
      const m = memoryOf(plan, step.dst);
      expect(first.has(m), `value ${step.dst} written twice`).toBe(false);
      first.set(m, i);
      last.set(m, i);
    }
  });
  const owners = [...first.keys()];
  // The graph input holds room for the largest of the stem's forms (its `bytes` are the form's own).
  const bytesOf = (id: number): number => (plan.steps[0]!.dst === id ? Math.max(plan.values[id]!.bytes, plan.stem.inputArenaBytes) : plan.values[id]!.bytes);
  const range = (id: number): [number, number] => [plan.values[id]!.arenaOffset, plan.values[id]!.arenaOffset + bytesOf(id)];
  const disjoint = (a: number, b: number): boolean => range(a)[1] <= range(b)[0] || range(b)[1] <= range(a)[0];
  let overlaps = 0;
  for (let i = 0; i < owners.length; i++)
    for (let j = i + 1; j < owners.length; j++) {
      const [a, b] = [owners[i]!, owners[j]!];
      const liveTogether = first.get(a)! <= last.get(b)! && first.get(b)! <= last.get(a)!;
      if (liveTogether && !disjoint(a, b)) overlaps++;
    }
  expect(overlaps).toBe(0);
  for (const id of owners) expect(range(id)[1]).toBeLessThanOrEqual(plan.arenaBytes);
  for (const step of plan.steps) {
    if (step.kind === 'conv' && step.residual >= 0) expect(disjoint(memoryOf(plan, step.residual), step.dst)).toBe(true);
  }
  return { ownedBytes: owners.reduce((sum, id) => sum + plan.values[id]!.bytes, 0) };
}

/**
 * Unpacks every conv step's filter and bias and compares them with the graph's weights: KRSC order,
 * linear columns reordered from (c, h, w), padding rows, columns and groups zero, the storage rounding
 * of this file's own reference, entries aligned and apart.
 */
function checkWeights(graph: Graph, plan: CudaPlan): void {
  const size = elementBytes(plan.storage);
  let end = 0;
  let mismatches = 0;
  let firstMismatch = '';
  for (const step of plan.steps) {
    if (step.kind !== 'conv') continue;
    const op = graph.ops[step.opIndex]!;
    if (op.op !== 'conv' && op.op !== 'linear') throw new Error(`conv step from a ${op.op}`);
    const x = plan.values[step.src]!;
    const y = plan.values[step.dst]!;
    const [r, s] = step.kernel;
    const inPerGroup = x.storedChannels / step.groups;
    expect(step.filterOffset % ALIGNMENT).toBe(0);
    expect(step.biasOffset % ALIGNMENT).toBe(0);
    expect(step.filterOffset).toBeGreaterThanOrEqual(end);
    expect(step.filterBytes).toBe(y.storedChannels * r * s * inPerGroup * size);
    expect(step.biasOffset).toBeGreaterThanOrEqual(step.filterOffset + step.filterBytes);
    expect(step.biasBytes).toBe(y.storedChannels * 4);
    end = step.biasOffset + step.biasBytes;
    const filter = readElements(plan.weightBlob, step.filterOffset, step.filterBytes / size, plan.storage);
    const logicalIn = op.op === 'conv' ? x.channels / op.groups : x.channels;
    for (let k = 0; k < y.storedChannels; k++)
      for (let fy = 0; fy < r; fy++)
        for (let fx = 0; fx < s; fx++)
          for (let c = 0; c < inPerGroup; c++) {
            let weight = 0;
            if (k < y.channels && c < logicalIn) {
              weight = op.op === 'conv'
                ? op.weight[((k * logicalIn + c) * r + fy) * s + fx]!
                : op.weight[k * x.channels * r * s + (c * r + fy) * s + fx]!;
            }
            const got = filter[((k * r + fy) * s + fx) * inPerGroup + c]!;
            const expected = roundTo(plan.storage, weight);
            if (got !== expected && mismatches++ === 0) {
              firstMismatch = `graph.ops[${step.opIndex}] k=${k} r=${fy} s=${fx} c=${c}: ${got} != ${expected} (${weight} in ${plan.storage})`;
            }
          }
    const bias = readBias(plan, step);
    const expected = Array.from({ length: y.storedChannels }, (_, k) => (k < y.channels ? op.bias[k]! : 0));
    expect(Array.from(bias)).toEqual(expected);
  }
  expect(firstMismatch).toBe('');
  expect(mismatches).toBe(0);
  expect(plan.weightBlobBytes).toBeGreaterThanOrEqual(end);
  expect(plan.weightBlob.length).toBe(plan.weightBlobBytes);
}

function checkPlan(graph: Graph, plan: CudaPlan, batch: number, unpadded?: ReadonlySet<number>): { ownedBytes: number } {
  checkLayout(graph, plan, batch, unpadded);
  checkSteps(graph, plan);
  checkWeights(graph, plan);
  return checkArena(plan);
}

/** The plan of `module` run by the interpreter vs the CPU backend's forward on the same input. */
async function simulateAgainstCpu(
  module: Module,
  sample: number[],
  batch: number,
  precision: string,
  unpadded?: ReadonlySet<number>,
): Promise<{ max: number; l2: number; plan: CudaPlan }> {
  const graph = graphOf(module, sample);
  const plan = cudaPlan(graph, { batch, precision });
  checkPlan(graph, plan, batch, unpadded);
  const shape = [batch, ...sample];
  const x = uniform(product(shape), 7);
  const [ours] = simulatePlan(plan, x);
  const cpu = (await module.forward(Tensor.from(x, shape))).data as Float32Array;
  return { max: maxRelativeError(ours!, cpu), l2: relativeL2(ours!, cpu), plan };
}

describe('cuda plan: layouts, steps, arena and weights of real networks', () => {
  manualSeed(41);

  it('resnet50 at 1×3×64×64, float32: every check, and the arena reuses memory', () => {
    const model = resnet50();
    randomizeBatchNorms(model, 42);
    const graph = graphOf(model, [3, 64, 64]);
    const plan = cudaPlan(graph, { batch: 1, precision: 'float32' });
    expect(plan.storage).toBe('float32');
    const { ownedBytes } = checkPlan(graph, plan, 1);
    // The stem's 3 channels padded to 4 floats; every other ResNet value is a multiple of 64 already.
    expect(plan.values[graph.input]!.storedChannels).toBe(4);
    expect(plan.notes).toEqual([]);
    expect(plan.arenaBytes).toBeLessThan(ownedBytes / 4);
    expect(plan.steps.filter((s) => s.kind === 'conv').length).toBe(graph.ops.filter((o) => o.op === 'conv' || o.op === 'linear').length);
    expect(plan.outputElements).toEqual([1000]);
  });

  it('resnet18 at 2×3×40×40 in float16 and bfloat16 (stem padded to 8 halves), tf32 stored as float', () => {
    const model = resnet18();
    randomizeBatchNorms(model, 43);
    const graph = graphOf(model, [3, 40, 40]);
    for (const [precision, storage] of [['float16', 'float16'], ['bfloat16', 'bfloat16'], ['tf32', 'float32']] as const) {
      const plan = cudaPlan(graph, { batch: 2, precision });
      expect(plan.precision).toBe(precision);
      expect(plan.storage).toBe(storage);
      checkPlan(graph, plan, 2);
      expect(plan.values[graph.input]!.storedChannels).toBe(storage === 'float32' ? 4 : 8);
    }
  });

  it('resnext50_32x4d at 1×3×48×48 in float16: grouped convs need no padding', () => {
    const model = resnext50_32x4d();
    const graph = graphOf(model, [3, 48, 48]);
    const plan = cudaPlan(graph, { batch: 1, precision: 'float16' });
    checkPlan(graph, plan, 1);
    expect(plan.notes).toEqual([]);
    const grouped = plan.steps.filter((s) => s.kind === 'conv' && s.groups > 1);
    expect(grouped.length).toBe(16);
    expect(grouped.every((s) => s.groups === 32)).toBe(true);
  });

  it('a dilated resnet50 (replaceStrideWithDilation [false, true, true]) at 2×3×32×32', () => {
    const model = resnet50({ replaceStrideWithDilation: [false, true, true] });
    const graph = graphOf(model, [3, 32, 32]);
    const plan = cudaPlan(graph, { batch: 2, precision: 'float16' });
    checkPlan(graph, plan, 2);
    expect(plan.steps.some((s) => s.kind === 'conv' && s.dilation[0] === 4)).toBe(true);
  });

  it('submodules: model.layer3 and a lone BatchNorm2d', () => {
    const model = resnet50();
    const layer3 = graphOf(model.layer3, [512, 7, 9]);
    checkPlan(layer3, cudaPlan(layer3, { batch: 3, precision: 'bfloat16' }), 3);
    const bn = graphOf(model.bn1, [64, 5, 7]);
    const plan = cudaPlan(bn, { batch: 2, precision: 'float32' });
    checkPlan(bn, plan, 2);
    expect(plan.steps.map((s) => s.kind)).toEqual(['input', 'conv', 'output']);
    expect(plan.steps[1]!.groups).toBe(64);
  });

  it('describe() has a line per value and per step', () => {
    const graph = graphOf(resnet18(), [3, 32, 32]);
    const plan = cudaPlan(graph, { batch: 1, precision: 'float16' });
    const lines = plan.describe.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('value ')).length).toBe(plan.values.length);
    expect(lines.filter((l) => l.startsWith('step ')).length).toBe(plan.steps.length);
    expect(plan.describe).toContain('value 0: NHWC [1, 32, 32, 3 stored as 8] float16');
  });
});

describe('cuda plan: grouped convolutions pad by whole groups or not at all', () => {
  manualSeed(44);

  it('a lone BatchNorm2d(3) (depthwise) gets zero groups up to the padded channels', async () => {
    const bn = new BatchNorm2d(3);
    randomizeBatchNorms(bn, 45);
    for (const [precision, groups] of [['float32', 4], ['float16', 8]] as const) {
      const { max, l2, plan } = await simulateAgainstCpu(bn, [3, 5, 7], 2, precision);
      expect(plan.steps[1]!.groups).toBe(groups);
      expect(plan.notes).toEqual([]);
      expect(precision === 'float32' ? max : l2).toBeLessThanOrEqual(precision === 'float32' ? 1e-6 : 2e-3);
    }
  });

  it('6 → 3 channels in 3 groups (2 in, 1 out per group) run as 4 groups in float32', async () => {
    const conv = new Conv2d(6, 3, 3, { groups: 3, padding: 1 });
    const { max, plan } = await simulateAgainstCpu(conv, [6, 5, 4], 2, 'float32');
    expect(plan.steps[1]).toMatchObject({ kind: 'conv', groups: 4 });
    expect([plan.values[0]!.storedChannels, plan.values[1]!.storedChannels]).toEqual([8, 4]);
    expect(max).toBeLessThanOrEqual(1e-6);
  });

  it('6 → 6 channels in 2 groups cannot pad by whole groups: stored unpadded, with a note', async () => {
    const conv = new Conv2d(6, 6, 3, { groups: 2, padding: 1 });
    const graph = graphOf(conv, [6, 5, 5]);
    const plan = cudaPlan(graph, { batch: 2, precision: 'float32' });
    checkPlan(graph, plan, 2, new Set([0, 1]));
    expect(plan.steps[1]!.groups).toBe(2);
    expect(plan.notes.length).toBe(1);
    expect(plan.notes[0]).toContain('graph.ops[0]');
    const { max } = await simulateAgainstCpu(conv, [6, 5, 5], 2, 'float32', new Set([0, 1]));
    expect(max).toBeLessThanOrEqual(1e-6);
  });
});

describe('cuda plan: a linear layer is a conv over its source feature map', () => {
  manualSeed(46);
  // conv → flatten → linear: the lowering drops the flatten, so the linear reads a [5, 4, 3] value.
  const head = new Sequential(new Conv2d(3, 5, 3, { padding: 1 }), new Flatten(), new Linear(5 * 4 * 3, 7));

  /** flatten→linear on NCHW data in float64, PyTorch's definition. */
  function linearReference(weight: Float32Array, bias: Float32Array, x: Float64Array, batch: number, out: number): Float64Array {
    const features = x.length / batch;
    const y = new Float64Array(batch * out);
    for (let n = 0; n < batch; n++)
      for (let o = 0; o < out; o++) {
        let sum = bias[o]!;
        for (let f = 0; f < features; f++) sum += weight[o * features + f]! * x[n * features + f]!;
        y[n * out + o] = sum;
      }
    return y;
  }

  it('the packed full-window conv on NHWC data equals flatten→linear on NCHW (float32 and padded float16 layouts)', () => {
    const graph = graphOf(head, [3, 4, 3]);
    const linear = graph.ops[1]!;
    if (linear.op !== 'linear') throw new Error('expected the lowering to drop the flatten');
    expect(graph.values[linear.src]!.shape).toEqual([5, 4, 3]);
    for (const precision of ['float32', 'float16'] as const) {
      const batch = 2;
      const plan = cudaPlan(graph, { batch, precision });
      checkPlan(graph, plan, batch);
      const step = plan.steps[2]!;
      expect(step).toMatchObject({ kind: 'conv', kernel: [4, 3], src: linear.src });
      const xv = plan.values[linear.src]!;
      const yv = plan.values[linear.dst]!;
      // Random NCHW data for the linear's input, and the same data NHWC with zero padding channels.
      const nchw = Float64Array.from(uniform(batch * 5 * 4 * 3, 47));
      const nhwc = new Float64Array(batch * 4 * 3 * xv.storedChannels);
      for (let n = 0; n < batch; n++)
        for (let c = 0; c < 5; c++)
          for (let y = 0; y < 4; y++)
            for (let x = 0; x < 3; x++) nhwc[((n * 4 + y) * 3 + x) * xv.storedChannels + c] = nchw[((n * 5 + c) * 4 + y) * 3 + x]!;
      const filter = readElements(plan.weightBlob, step.filterOffset, step.filterBytes / elementBytes(plan.storage), plan.storage);
      const bias = readBias(plan, step);
      const ours = new Float64Array(batch * 7);
      for (let n = 0; n < batch; n++)
        for (let o = 0; o < 7; o++) {
          let sum = bias[o]!;
          for (let i = 0; i < 4 * 3 * xv.storedChannels; i++) sum += filter[o * 4 * 3 * xv.storedChannels + i]! * nhwc[n * 4 * 3 * xv.storedChannels + i]!;
          ours[n * 7 + o] = sum;
        }
      // The reference uses the weights as stored (rounded to the storage type), so the match is exact
      // up to float64 summation order.
      const stored = Float32Array.from(linear.weight, (w) => roundTo(plan.storage, w));
      expect(maxRelativeError(ours, linearReference(stored, linear.bias, nchw, batch, 7))).toBeLessThanOrEqual(1e-12);
      expect(yv.storedChannels).toBe(8);
    }
  });

  it('an explicit flatten (also a graph output) is an alias; relu on it keeps its layout; the plan runs', () => {
    // input [3, 2, 2] → conv 1×1 → [5, 2, 2] → flatten [20] → relu [20] → linear [7]; outputs: flat, relu, linear.
    const weight = uniform(5 * 3, 48);
    const bias = uniform(5, 49);
    const fcWeight = uniform(7 * 20, 50);
    const fcBias = uniform(7, 51);
    const graph: Graph = {
      values: [{ shape: [3, 2, 2] }, { shape: [5, 2, 2] }, { shape: [20] }, { shape: [20] }, { shape: [7] }],
      input: 0,
      outputs: [2, 3, 4],
      ops: [
        { op: 'conv', src: 0, dst: 1, residual: -1, relu: false, outChannels: 5, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, weight, bias },
        { op: 'flatten', src: 1, dst: 2 },
        { op: 'relu', src: 2, dst: 3 },
        { op: 'linear', src: 3, dst: 4, outFeatures: 7, weight: fcWeight, bias: fcBias },
      ],
    };
    const batch = 3;
    const plan = cudaPlan(graph, { batch, precision: 'float32' });
    checkPlan(graph, plan, batch);
    expect(plan.values[2]).toMatchObject({ aliasOf: 1, h: 2, w: 2, channels: 5, storedChannels: 8 });
    expect(plan.values[3]).toMatchObject({ aliasOf: -1, h: 2, w: 2, channels: 5, storedChannels: 8 });
    expect(plan.steps.find((s) => s.opIndex === 3)).toMatchObject({ kind: 'conv', src: 3, kernel: [2, 2] });

    const x = uniform(batch * 12, 52);
    const [flat, relu, logits] = simulatePlan(plan, x);
    // float64 reference in NCHW: conv 1×1, flatten in C, H, W order, relu, linear.
    const conv = new Float64Array(batch * 20);
    for (let n = 0; n < batch; n++)
      for (let o = 0; o < 5; o++)
        for (let p = 0; p < 4; p++) {
          let sum = bias[o]!;
          for (let c = 0; c < 3; c++) sum += weight[o * 3 + c]! * x[(n * 3 + c) * 4 + p]!;
          conv[(n * 5 + o) * 4 + p] = sum;
        }
    const relued = conv.map((v) => Math.max(v, 0));
    expect(maxRelativeError(flat!, conv)).toBeLessThanOrEqual(1e-6);
    expect(maxRelativeError(relu!, relued)).toBeLessThanOrEqual(1e-6);
    expect(maxRelativeError(logits!, linearReference(fcWeight, fcBias, relued, batch, 7))).toBeLessThanOrEqual(1e-6);
  });
});

describe('cuda plan: whole plans run by a float64 interpreter in one arena match the CPU backend', () => {
  manualSeed(53);

  it('resnet18 at 2×3×32×32: float32 within 1e-4; float16 and bfloat16 storage within the GPU targets', async () => {
    const model = resnet18();
    randomizeBatchNorms(model, 54);
    const f32 = await simulateAgainstCpu(model, [3, 32, 32], 2, 'float32');
    expect(f32.max).toBeLessThanOrEqual(1e-4);
    const f16 = await simulateAgainstCpu(model, [3, 32, 32], 2, 'float16');
    expect(f16.l2).toBeLessThanOrEqual(2e-2);
    const bf16 = await simulateAgainstCpu(model, [3, 32, 32], 2, 'bfloat16');
    expect(bf16.l2).toBeLessThanOrEqual(6e-2);
  });

  it('residual-heavy submodules: resnet50 layer2, resnext50 layer1, a dilated layer4', async () => {
    const model = resnet50();
    randomizeBatchNorms(model, 55);
    expect((await simulateAgainstCpu(model.layer2, [256, 6, 6], 2, 'float32')).max).toBeLessThanOrEqual(1e-4);
    const resnext = resnext50_32x4d();
    randomizeBatchNorms(resnext, 56);
    expect((await simulateAgainstCpu(resnext.layer1, [64, 5, 5], 2, 'float32')).max).toBeLessThanOrEqual(1e-4);
    const dilated = resnet50({ replaceStrideWithDilation: [false, true, true] });
    randomizeBatchNorms(dilated, 57);
    expect((await simulateAgainstCpu(dilated.layer4, [1024, 3, 2], 1, 'float32')).max).toBeLessThanOrEqual(1e-4);
  });
});

describe('cuda plan: the stem in its forms (direct, space_to_depth, four_channel)', () => {
  manualSeed(60);
  const forms = ['direct', 'space_to_depth', 'four_channel'] as const;

  /** The plan of `graph` for every form it offers, each checked against the direct one. */
  function formPlans(graph: Graph, batch: number, precision: string): Map<string, CudaPlan> {
    const direct = cudaPlan(graph, { batch, precision });
    checkStemWeights(graph, direct);
    const plans = new Map<string, CudaPlan>([['direct', direct]]);
    for (const { form } of direct.stem.forms.slice(1)) {
      const laid = cudaPlan(graph, { batch, precision, stem: form });
      checkStemForm(direct, laid, form);
      checkArena(laid);
      plans.set(form, laid);
    }
    return plans;
  }

  it('resnet50 in float16 at 64×64 and 65×57: three forms, space_to_depth a 4×4 stride-1 conv over 16 channels', () => {
    const model = resnet50();
    for (const [h, w] of [[64, 64], [65, 57]] as const) {
      const graph = graphOf(model, [3, h, w]);
      const direct = formPlans(graph, 1, 'float16').get('direct')!;
      const { stem } = direct;
      expect(stem.step).toBe(1);
      expect(stem.forms.map((f) => f.form)).toEqual([...forms]);
      const out = direct.values[direct.steps[1]!.dst]!;
      expect([out.h, out.w]).toEqual([Math.floor((h - 1) / 2) + 1, Math.floor((w - 1) / 2) + 1]);
      const [, s2d, four] = stem.forms;
      expect(s2d).toMatchObject({
        h: expectedSpaceToDepthSize(out.h, 7, 2), w: expectedSpaceToDepthSize(out.w, 7, 2), channels: 12, storedChannels: 16,
        block: 2, inputPadding: [3, 3], kernel: [4, 4], stride: [1, 1], padding: [0, 0],
      });
      expect(four).toMatchObject({ h, w, channels: 3, storedChannels: 4, block: 1, inputPadding: [0, 0], kernel: [7, 7], stride: [2, 2], padding: [3, 3] });
      expect(stem.inputArenaBytes).toBe(Math.max(...stem.forms.map((f) => f.bytes)));
      expect(stem.unavailable).toEqual([]);
    }
  });

  it('float32 has no four_channel form (direct stores 4 floats already); other strided stems; where there is no stem', () => {
    const r50 = graphOf(resnet50(), [3, 33, 31]);
    const f32 = formPlans(r50, 1, 'float32').get('direct')!;
    expect(f32.stem.forms.map((f) => [f.form, f.storedChannels])).toEqual([['direct', 4], ['space_to_depth', 12]]);
    expect(f32.stem.unavailable).toEqual([expect.stringContaining('four_channel: direct already stores the input as 4 channels')]);
    // Kernels that are not a multiple of the stride, and a patchify stem (kernel = stride) on one channel.
    for (const [c, k, stride, padding, h, w, expected] of [
      [3, 3, 2, 1, 9, 6, { kernel: [2, 2], channels: 12, storedChannels: 16 }],
      [2, 5, 2, 2, 7, 8, { kernel: [3, 3], channels: 8, storedChannels: 8 }],
      [1, 4, 4, 0, 12, 9, { kernel: [1, 1], channels: 16, storedChannels: 16 }],
    ] as const) {
      const graph = graphOf(new Conv2d(c, 8, k, { stride, padding }), [c, h, w]);
      const s2d = formPlans(graph, 2, 'float16').get('direct')!.stem.forms[1]!;
      const out = window(h, k, stride, padding);
      expect(s2d).toMatchObject({ form: 'space_to_depth', block: stride, inputPadding: [padding, padding], ...expected });
      expect([s2d.h, s2d.w]).toEqual([expectedSpaceToDepthSize(out, k, stride), expectedSpaceToDepthSize(window(w, k, stride, padding), k, stride)]);
    }
    // CIFAR's 3×3 stride-1 stem: no space-to-depth, which the plan says; asking for it is a coded error.
    const cifar = graphOf(resnet20(), [3, 32, 32]);
    const plan = formPlans(cifar, 2, 'float16').get('direct')!;
    expect(plan.stem.forms.map((f) => f.form)).toEqual(['direct', 'four_channel']);
    expect(plan.stem.unavailable).toEqual([expect.stringContaining('space_to_depth: the stem (graph.ops[0]) does not qualify: its stride is 1x1')]);
    expect(codeOf(() => cudaPlan(cifar, { batch: 1, precision: 'float16', stem: 'space_to_depth' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cudaPlan(r50, { batch: 1, precision: 'float32', stem: 'four_channel' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cudaPlan(r50, { batch: 1, stem: 'auto' }))).toBe('ERR_INVALID_ARGUMENT');
    // An input read by two ops, or with many channels, or that is an output, has no stem.
    const twoReaders: Graph = {
      values: [{ shape: [3, 4, 4] }, { shape: [4, 2, 2] }, { shape: [3, 2, 2] }],
      input: 0,
      outputs: [1, 2],
      ops: [
        { op: 'conv', src: 0, dst: 1, residual: -1, relu: false, outChannels: 4, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1, weight: uniform(4 * 27, 61), bias: uniform(4, 62) },
        { op: 'maxpool', src: 0, dst: 2, kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false },
      ],
    };
    const wide = graphOf(new Conv2d(5, 8, 4, { stride: 2 }), [5, 8, 8]);
    for (const [graph, why] of [[twoReaders, 'read by 2 ops'], [wide, 'has 5 channels, more than 4']] as const) {
      const none = cudaPlan(graph, { batch: 1, precision: 'float16' });
      expect(none.stem).toMatchObject({ step: -1, forms: [], inputArenaBytes: 0 });
      expect(none.stem.unavailable).toEqual([expect.stringContaining(why)]);
      expect(none.describe).toContain(`stem: no stem forms: `);
      expect(codeOf(() => cudaPlan(graph, { batch: 1, precision: 'float16', stem: 'four_channel' }))).toBe('ERR_INVALID_ARGUMENT');
    }
  });

  it('describe() names the form the plan is laid out for, and every form offered', () => {
    const graph = graphOf(resnet18(), [3, 32, 32]);
    const plan = cudaPlan(graph, { batch: 1, precision: 'float16', stem: 'space_to_depth' });
    expect(plan.describe).toContain('stem: step 1 as space_to_depth');
    expect(plan.describe).toContain('step 0 input: host input -> value 0, space-to-depth 2x2 after padding 3x3');
    expect(plan.describe).toContain('value 0: NHWC [1, 19, 19, 12 stored as 16] float16');
    expect(plan.describe).toContain('stem form: four_channel (input 32x32x3 stored as 4');
  });

  /** `ours` within `tolerance` (max error relative to the output's scale) of `reference`, per output. */
  function expectClose(ours: Float64Array[], reference: Float64Array[], tolerance: number, what: string): void {
    expect(ours.length).toBe(reference.length);
    ours.forEach((o, i) => expect(maxRelativeError(o, reference[i]!), what).toBeLessThanOrEqual(tolerance));
  }

  it('resnet18 and resnet50 at 64×64 and 65×57: every form gives direct\'s outputs in float64 (1e-12)', () => {
    for (const [name, model, batch] of [['resnet18', resnet18(), 2], ['resnet50', resnet50(), 1]] as const) {
      randomizeBatchNorms(model, 63);
      for (const [h, w] of [[64, 64], [65, 57]] as const) {
        const graph = graphOf(model, [3, h, w]);
        const x = uniform(batch * 3 * h * w, 64);
        const plans = formPlans(graph, batch, 'float16');
        expect([...plans.keys()]).toEqual([...forms]);
        const direct = simulatePlan(plans.get('direct')!, x, { exact: true });
        for (const form of forms.slice(1)) {
          expectClose(simulatePlan(plans.get(form)!, x, { exact: true }), direct, 1e-12, `${name} ${h}×${w} ${form}`);
        }
      }
    }
  });

  it('in float16 storage every form of resnet18 at 2×3×65×57 matches the CPU backend as direct does (2e-2)', async () => {
    const model = resnet18();
    randomizeBatchNorms(model, 65);
    const graph = graphOf(model, [3, 65, 57]);
    const x = uniform(2 * 3 * 65 * 57, 66);
    const cpu = (await model.forward(Tensor.from(x, [2, 3, 65, 57]))).data as Float32Array;
    for (const [form, plan] of formPlans(graph, 2, 'float16')) {
      const [ours] = simulatePlan(plan, x);
      expect(relativeL2(ours!, cpu), form).toBeLessThanOrEqual(2e-2);
    }
  });

  it('a space_to_depth stem of float32 storage matches the CPU backend (1e-5) at odd sizes, other strides included', async () => {
    for (const [c, k, stride, padding, h, w] of [[3, 7, 2, 3, 13, 11], [3, 3, 2, 1, 9, 6], [2, 5, 2, 2, 7, 8], [1, 4, 4, 0, 12, 9], [3, 6, 3, 2, 10, 14]] as const) {
      const conv = new Conv2d(c, 8, k, { stride, padding });
      const graph = graphOf(conv, [c, h, w]);
      const plan = formPlans(graph, 2, 'float32').get('space_to_depth')!;
      const x = uniform(2 * c * h * w, 67);
      const [ours] = simulatePlan(plan, x);
      const cpu = (await conv.forward(Tensor.from(x, [2, c, h, w]))).data as Float32Array;
      expect(maxRelativeError(ours!, cpu), `${k}x${k} stride ${stride} on ${h}x${w}`).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('cuda plan: weights at the storage formats\' edges', () => {
  it('pack to nearest even (ties, subnormals, overflow) in float16 and bfloat16, as this file\'s reference', () => {
    const ulp16 = 2 ** -24; // the smallest half subnormal
    const ulpBf = 2 ** -133; // the smallest bfloat16 subnormal
    const edges = [
      1 + 2 ** -11, 1 + 3 * 2 ** -11, -0.009815216064453125, 65519, 65520, -70000,
      2 ** -25, 3 * 2 ** -26, 1.5 * ulp16, 2.5 * ulp16, -3.5 * ulp16, 1023.5 * ulp16, 1e-10,
      1 + 2 ** -8, 1 + 3 * 2 ** -8, 2.5 * ulpBf, 3.5 * ulpBf, -3.4e38, 3.39e38, 0,
    ];
    const weight = Float32Array.from(edges);
    const graph: Graph = {
      values: [{ shape: [1, 1, 1] }, { shape: [edges.length, 1, 1] }],
      input: 0,
      outputs: [1],
      ops: [{ op: 'conv', src: 0, dst: 1, residual: -1, relu: false, outChannels: edges.length, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, weight, bias: new Float32Array(edges.length) }],
    };
    for (const precision of ['float16', 'bfloat16'] as const) checkWeights(graph, cudaPlan(graph, { batch: 1, precision }));
  });
});

describe('cuda plan: the reference rounding itself', () => {
  it('rounds to nearest even at the formats\' edges', () => {
    expect(roundToHalf(1 + 2 ** -11)).toBe(1); // tie, even stays
    expect(roundToHalf(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9); // tie, odd rounds up
    expect(roundToHalf(65519)).toBe(65504);
    expect(roundToHalf(65520)).toBe(Infinity);
    expect(roundToHalf(2 ** -25)).toBe(0);
    expect(roundToHalf(3 * 2 ** -26)).toBe(2 ** -24);
    expect(roundToBfloat16(1 + 2 ** -8)).toBe(1);
    expect(roundToBfloat16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(roundToBfloat16(-3.4e38)).toBe(-Infinity);
    expect(roundToBfloat16(3.39e38)).toBe((2 - 2 ** -7) * 2 ** 127);
  });
});

describe('cuda plan: errors are coded', () => {
  const graph = graphOf(new Conv2d(3, 4, 1), [3, 2, 2]);

  it('unknown precision, bad batch, bad options', () => {
    expect(codeOf(() => cudaPlan(graph, { batch: 1, precision: 'fp8' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cudaPlan(graph, { batch: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cudaPlan(graph, { batch: 1.5 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cudaPlan(graph, null))).toBe('ERR_INVALID_ARGUMENT');
    expect(cudaPlan(graph, { batch: 1 }).precision).toBe('float32');
  });

  it('graphs that fail validation or parsing', () => {
    expect(codeOf(() => cudaPlan({ ...graph, outputs: [7] }, { batch: 1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cudaPlan({ ...graph, values: [{ shape: [3, 2, 2] }, { shape: [4, 3, 3] }] }, { batch: 1 }))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => cudaPlan(42, { batch: 1 }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('adding a flattened feature map to a linear output is unsupported', () => {
    const g: Graph = {
      values: [{ shape: [2, 2, 2] }, { shape: [8] }, { shape: [8] }, { shape: [8] }],
      input: 0,
      outputs: [3],
      ops: [
        { op: 'flatten', src: 0, dst: 1 },
        { op: 'linear', src: 1, dst: 2, outFeatures: 8, weight: uniform(64, 1), bias: uniform(8, 2) },
        { op: 'add', a: 1, b: 2, dst: 3, relu: false },
      ],
    };
    expect(codeOf(() => cudaPlan(g, { batch: 1 }))).toBe('ERR_UNSUPPORTED');
  });
});
