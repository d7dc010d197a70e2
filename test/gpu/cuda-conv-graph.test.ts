/**
 * The cuDNN graph of each conv step (native/src/cuda/conv_graph_plan.h), planned on the CPU through the
 * addon's test-only `testing.cudaConvGraphs`: the tensors' NHWC/KRSC strides, types and unique ids, the op
 * chain (conv → +bias → [+residual] → [relu], bias never an op's first input), and whole plans run by the
 * float64 interpreter with every conv interpreted from its graph alone, against the same plans run from the
 * plan's own conv fields.
 */
import { describe, expect, it } from 'vitest';
import { Linear, Sequential, Flatten, Tracer, lower, manualSeed, resnet18, resnet50, resnext50_32x4d, type Graph, type Module } from '../../lib/index.js';
import { codeOf, randomizeBatchNorms, relativeL2, uniform } from '../helpers/helpers.js';
import { cudaConvGraphs, cudaPlan, simulatePlan, type ConvGraph, type CudaPlan } from '../helpers/cuda-plan-reference.js';

function graphOf(module: Module, sample: number[]): Graph {
  return lower(Tracer.trace(module, sample));
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const TYPE_OF_STORAGE = { float32: 'FLOAT', float16: 'HALF', bfloat16: 'BFLOAT16' } as const;

/** Every structural rule of a conv graph, checked against the plan step it came from. */
function checkGraph(plan: CudaPlan, graph: ConvGraph): void {
  const step = plan.steps[graph.step]!;
  expect(step.kind).toBe('conv');
  const [xv, yv] = [plan.values[step.src]!, plan.values[step.dst]!];
  const io = TYPE_OF_STORAGE[plan.storage];
  const byRole = (role: string) => graph.tensors.filter((t) => t.role === role);
  // Bound tensors: one each (a residual only with one), fixed uids, the storage type, 16-byte aligned.
  const expectedUids = { input: 1, filter: 2, bias: 3, residual: 4, output: 5 } as const;
  for (const [role, uid] of Object.entries(expectedUids)) {
    const tensors = byRole(role);
    expect(tensors.length, role).toBe(role === 'residual' && step.residual < 0 ? 0 : 1);
    for (const t of tensors) {
      expect(t.uid).toBe(uid);
      expect(t.type).toBe(io);
      expect(t.alignment).toBe(16);
      expect(t.virtual).toBe(false);
    }
  }
  expect(new Set(graph.tensors.map((t) => t.uid)).size).toBe(graph.tensors.length);
  for (const t of byRole('virtual')) {
    expect(t.type).toBe('FLOAT');
    expect(t.uid).toBeGreaterThanOrEqual(100);
    expect(t.dims).toEqual([yv.n, yv.storedChannels, yv.h, yv.w]);
  }
  // NHWC activations over logical NCHW dims; the filter KRSC; the bias [1, K, 1, 1].
  const nhwc = (n: number, c: number, h: number, w: number) => ({ dims: [n, c, h, w], strides: [h * w * c, 1, w * c, c] });
  const pick = (t: { dims: number[]; strides: number[] }) => ({ dims: t.dims, strides: t.strides });
  expect(pick(byRole('input')[0]!)).toEqual(nhwc(xv.n, xv.storedChannels, xv.h, xv.w));
  expect(pick(byRole('output')[0]!)).toEqual(nhwc(yv.n, yv.storedChannels, yv.h, yv.w));
  if (step.residual >= 0) expect(pick(byRole('residual')[0]!)).toEqual(nhwc(yv.n, yv.storedChannels, yv.h, yv.w));
  const [r, s] = step.kernel;
  const perGroup = xv.storedChannels / step.groups;
  expect(pick(byRole('filter')[0]!)).toEqual({ dims: [yv.storedChannels, perGroup, r, s], strides: [r * s * perGroup, 1, s * perGroup, perGroup] });
  expect(byRole('bias')[0]!.dims).toEqual([1, yv.storedChannels, 1, 1]);
  // The convolution: geometry from the step, output size by cuDNN's formula, FP32 compute.
  const { conv } = graph;
  expect([graph.tensors[conv.x]!.role, graph.tensors[conv.w]!.role, graph.tensors[conv.y]!.role]).toEqual(['input', 'filter', 'virtual']);
  expect(conv.computeType).toBe('FLOAT');
  expect(conv.prePadding).toEqual(step.padding);
  expect(conv.postPadding).toEqual(step.padding);
  expect(conv.stride).toEqual(step.stride);
  expect(conv.dilation).toEqual(step.dilation);
  for (const d of [0, 1]) {
    const extent = [xv.h, xv.w][d]!;
    const size = Math.floor((extent + conv.prePadding[d]! + conv.postPadding[d]! - conv.dilation[d]! * (step.kernel[d]! - 1) - 1) / conv.stride[d]!) + 1;
    expect(size).toBe([yv.h, yv.w][d]);
  }
  // The chain: +bias, then +residual, then relu; each op reads the previous result first; the last writes y.
  const modes = graph.pointwise.map((op) => `${op.mode}${op.b >= 0 ? `:${graph.tensors[op.b]!.role}` : ''}`);
  expect(modes).toEqual(['ADD:bias', ...(step.residual >= 0 ? ['ADD:residual'] : []), ...(step.relu ? ['RELU_FWD'] : [])]);
  let current = conv.y;
  for (const [i, op] of graph.pointwise.entries()) {
    expect(op.x).toBe(current);
    expect(graph.tensors[op.x]!.dims).not.toContain(undefined);
    expect(graph.tensors[op.y]!.role).toBe(i === graph.pointwise.length - 1 ? 'output' : 'virtual');
    current = op.y;
  }
  expect(graph.describe.trim().split('\n').length).toBe(graph.tensors.length + 1 + graph.pointwise.length);
}

/** The plan of `module` run twice by the interpreter: convs from their graphs, and from the plan's fields. */
function simulateBothWays(module: Module, sample: number[], batch: number, precision: string, stem?: string): { l2: number; graphs: ConvGraph[] } {
  const graph = graphOf(module, sample);
  const plan = cudaPlan(graph, { batch, precision, stem });
  const graphs = cudaConvGraphs(graph, { batch, precision, stem });
  expect(graphs.map((g) => g.step)).toEqual(plan.steps.flatMap((s, i) => (s.kind === 'conv' ? [i] : [])));
  for (const g of graphs) checkGraph(plan, g);
  const x = uniform(batch * product(sample), 11);
  const outputs = simulatePlan(plan, x, { convGraphs: graphs });
  const reference = simulatePlan(plan, x, { storageBias: true });
  let l2 = 0;
  for (const [i, out] of outputs.entries()) {
    expect(out.every(Number.isFinite)).toBe(true);
    l2 = Math.max(l2, relativeL2(out, reference[i]!));
  }
  return { l2, graphs };
}

describe('cuda conv graphs: structure', () => {
  manualSeed(61);

  it('resnet50 at 2×3×64×64 in float16: every conv, with and without residual and relu; identical blocks share a graph', () => {
    const model = resnet50();
    const graph = graphOf(model, [3, 64, 64]);
    const plan = cudaPlan(graph, { batch: 2, precision: 'float16' });
    const graphs = cudaConvGraphs(graph, { batch: 2, precision: 'float16' });
    expect(graphs.length).toBe(54); // 53 convs and the fc as a full-window conv
    for (const g of graphs) checkGraph(plan, g);
    const kinds = new Set(graphs.map((g) => g.pointwise.map((op) => op.mode).join('+')));
    expect(kinds).toEqual(new Set(['ADD', 'ADD+RELU_FWD', 'ADD+ADD+RELU_FWD']));
    // The stem reads 3 channels padded to 8 halves (16 bytes), as runtime fusion needs.
    expect(graphs[0]!.tensors.find((t) => t.role === 'input')!.dims).toEqual([2, 8, 64, 64]);
    // 16 bottleneck blocks, 13 of them identical to the block before: far fewer distinct graphs than convs.
    const distinct = new Set(graphs.map((g) => g.describe));
    expect(distinct.size).toBeLessThan(30);
    expect(distinct.size).toBeGreaterThan(15);
  });

  it('resnext50_32x4d in bfloat16: grouped 3×3 convs keep C/groups input channels per filter', () => {
    const model = resnext50_32x4d();
    const graph = graphOf(model.layer1, [64, 8, 8]);
    const plan = cudaPlan(graph, { batch: 1, precision: 'bfloat16' });
    const graphs = cudaConvGraphs(graph, { batch: 1, precision: 'bfloat16' });
    for (const g of graphs) checkGraph(plan, g);
    const grouped = graphs.filter((g) => plan.steps[g.step]!.groups === 32);
    expect(grouped.length).toBe(3);
    for (const g of grouped) expect(g.tensors.find((t) => t.role === 'filter')!.dims).toEqual([128, 4, 3, 3]);
  });

  it('tf32 and float32 store FLOAT tensors', () => {
    const graph = graphOf(resnet18().layer1, [64, 4, 4]);
    for (const precision of ['float32', 'tf32']) {
      const graphs = cudaConvGraphs(graph, { batch: 1, precision });
      for (const t of graphs.flatMap((g) => g.tensors)) expect(t.type).toBe('FLOAT');
    }
  });

  it('errors are coded like testing.cudaPlan\'s', () => {
    const graph = graphOf(resnet18().layer1, [64, 4, 4]);
    expect(codeOf(() => cudaConvGraphs(graph, { batch: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cudaConvGraphs(graph, { batch: 1, precision: 'float8' }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('cuda conv graphs: interpreted from the graph alone, plans compute what the plan\'s own convs do', () => {
  manualSeed(62);

  it('resnet18 at 2×3×32×32 in float32 and float16 (relative L2 within 1e-6 and 1e-3: the graph rounds its intermediates to float32)', () => {
    const model = resnet18();
    randomizeBatchNorms(model, 63);
    const f32 = simulateBothWays(model, [3, 32, 32], 2, 'float32');
    expect(f32.l2).toBeLessThanOrEqual(1e-6);
    const f16 = simulateBothWays(model, [3, 32, 32], 2, 'float16');
    expect(f16.l2).toBeLessThanOrEqual(1e-3);
  });

  it('the stem laid out as space_to_depth (a 4×4 stride-1 conv over 16 channels) and four_channel, in float16', () => {
    const model = resnet18();
    randomizeBatchNorms(model, 68);
    for (const [stem, kernel, channels] of [['space_to_depth', 4, 16], ['four_channel', 7, 4]] as const) {
      const { l2, graphs } = simulateBothWays(model, [3, 33, 31], 2, 'float16', stem);
      const filter = graphs[0]!.tensors.find((t) => t.role === 'filter')!;
      expect(filter.dims).toEqual([64, channels, kernel, kernel]);
      expect(l2, stem).toBeLessThanOrEqual(1e-3);
    }
  });

  it('grouped, dilated and strided blocks: resnext50 layer1, a dilated resnet50 layer4, resnet50 layer2 in bfloat16', () => {
    const resnext = resnext50_32x4d();
    randomizeBatchNorms(resnext, 64);
    expect(simulateBothWays(resnext.layer1, [64, 5, 5], 2, 'float32').l2).toBeLessThanOrEqual(1e-6);
    const dilated = resnet50({ replaceStrideWithDilation: [false, true, true] });
    randomizeBatchNorms(dilated, 65);
    expect(simulateBothWays(dilated.layer4, [1024, 3, 2], 1, 'float32').l2).toBeLessThanOrEqual(1e-6);
    const model = resnet50();
    randomizeBatchNorms(model, 66);
    expect(simulateBothWays(model.layer2, [256, 6, 6], 1, 'bfloat16').l2).toBeLessThanOrEqual(1e-2);
  });

  it('a linear layer after flatten runs as a full-window conv graph', () => {
    const head = new Sequential(new Flatten(), new Linear(6 * 3 * 2, 5));
    const result = simulateBothWays(head, [6, 3, 2], 3, 'float32');
    expect(result.graphs.length).toBe(1);
    const filter = result.graphs[0]!.tensors.find((t) => t.role === 'filter')!;
    expect(filter.dims).toEqual([8, 8, 3, 2]); // 5 outputs padded to 8, 6 channels padded to 8, the 3×2 window
    expect(result.l2).toBeLessThanOrEqual(1e-6);
  });
});
