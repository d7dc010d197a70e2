/**
 * Test-side references for the CUDA backend's int8 plans (native/src/cuda/plan_fp8.h): FP8 E4M3 written from
 * the format's definition, a quantized graph made from a float graph with scales taken from the value ranges
 * of one float run (made-up calibration: this is not quantize()), and an interpreter of an int8 plan that keeps
 * every value in its own array (stored as its storage rounds it: FP16 reals or FP8 codes) and runs each FP8
 * conv from its cuDNN graph alone (tensors bound by role, ops as cuDNN defines them), or, as the independent
 * reference, straight from the graph's weights and scales without the folded epilogue.
 */
import type { Graph } from '../../lib/index.js';
import { quantizeWithRanges } from '../../scripts/gpu-check/int8-graph.mjs';
import { quantizeWeightToGrid } from '../../lib/nn/quantization.js';
import { convolveNhwc, readElements, roundToHalf, type CudaPlan, type PlanStep } from './cuda-plan-reference.js';

/** The value of E4M3 code `code` by the format's definition (S.EEEE.MMM, bias 7, no infinities, S.1111.111 NaN). */
export function e4m3Value(code: number): number {
  const sign = code & 0x80 ? -1 : 1;
  const exponent = (code >> 3) & 0xf;
  const mantissa = code & 7;
  if (exponent === 15 && mantissa === 7) return NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -9;
  return sign * (1 + mantissa / 8) * 2 ** (exponent - 7);
}

/** Every code's value. */
export const E4M3_VALUES = Float64Array.from({ length: 256 }, (_, code) => e4m3Value(code));

/**
 * The code nearest to `x` by search over the positive codes 0…0x7e (ties to the even code, i.e. the even
 * mantissa), |x| ≥ 448 saturating to ±448, NaN to 0x7f: what a saturating round-to-nearest-even conversion gives.
 */
export function e4m3CodeOf(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.min(Math.abs(x), 448);
  let lo = 0;
  let hi = 0x7e;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (E4M3_VALUES[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const [dl, dh] = [a - E4M3_VALUES[lo]!, E4M3_VALUES[hi]! - a];
  const code = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
  return sign | code;
}

/** What storing `x` as E4M3 keeps of it. */
export const roundToE4M3 = (x: number): number => E4M3_VALUES[e4m3CodeOf(x)]!;

/** What a value of `storage` keeps of `x` (float32 intermediate first, as the device's float math gives it). */
function roundToStorage(storage: string, x: number): number {
  if (storage === 'float8_e4m3') return roundToE4M3(Math.fround(x));
  if (storage === 'float16') return roundToHalf(x);
  throw new Error(`int8 plans store float16 or float8_e4m3, not ${storage}`);
}

/** The int8 plan's extra fields (testing.cudaPlan). */
export interface Int8PlanValue {
  storage: 'float16' | 'float8_e4m3';
  fp8Scale: number;
}
export interface Int8PlanStep {
  scale: number;
  fp8: boolean;
  scaleOffset: number;
  scaleBytes: number;
  outputScaleOffset: number;
  outputScaleBytes: number;
  fp8Divisor: number;
  outputScale: number;
}
export type Int8Plan = Omit<CudaPlan, 'values' | 'steps'> & {
  values: (CudaPlan['values'][number] & Int8PlanValue)[];
  steps: ((Omit<PlanStep, 'kind'> & { kind: PlanStep['kind'] | 'convert' }) & Int8PlanStep)[];
};

/** A tensor of a conv's cuDNN graph as testing.cudaConvGraphs gives it, with the int8 roles and types. */
export interface Fp8GraphTensor {
  uid: number;
  role: 'input' | 'filter' | 'bias' | 'residual' | 'output' | 'virtual' | 'scale' | 'output_scale';
  type: 'FLOAT' | 'HALF' | 'BFLOAT16' | 'FP8_E4M3';
  dims: number[];
  strides: number[];
  alignment: number;
  virtual: boolean;
}
export interface Fp8ConvGraph {
  step: number;
  tensors: Fp8GraphTensor[];
  conv: { x: number; w: number; y: number; prePadding: number[]; postPadding: number[]; stride: number[]; dilation: number[]; computeType: string; pointwiseType: string };
  pointwise: { mode: 'ADD' | 'MUL' | 'RELU_FWD'; x: number; b: number; y: number }[];
  describe: string;
}

/**
 * `graph` quantized with scales from `ranges` (max |value| per value id): the GPU check's made-up calibration
 * (scripts/gpu-check/int8-graph.mjs), with the library's weight rounding.
 */
export function quantizeForTest(graph: Graph, ranges: readonly number[]): Graph {
  return quantizeWithRanges(graph, ranges, quantizeWeightToGrid);
}

/** How runInt8Plan runs an FP8 conv step. */
export type Fp8ConvMode = { graphs: readonly Fp8ConvGraph[] } | { reference: Graph };

/**
 * Runs an int8 plan on `input` (NCHW float32; the direct stem form only) with every value in its own array,
 * rounded to its storage (FP16 reals, FP8 codes = real / fp8Scale), unless `exact` (then nothing is rounded and
 * no value may be FP8: for the value ranges of a float graph's plan). FP8 convs run from their cuDNN graph
 * (`graphs`) or from the graph's own weights and scales (`reference`). Returns the outputs and every value.
 */
export function runInt8Plan(plan: Int8Plan, input: Float32Array, mode: Fp8ConvMode | undefined, exact = false): { outputs: Float64Array[]; values: Float64Array[] } {
  const values: Float64Array[] = [];
  const round = (id: number) => (x: number): number => (exact ? x : roundToStorage(plan.values[id]!.storage, x));
  const memory = (id: number): Float64Array => values[plan.values[id]!.aliasOf >= 0 ? plan.values[id]!.aliasOf : id]!;
  const outputs: Float64Array[] = [];
  for (const [index, step] of plan.steps.entries()) {
    const dst = step.dst >= 0 ? plan.values[step.dst]! : undefined;
    const store = step.dst >= 0 ? round(step.dst) : (x: number) => x;
    if (dst && dst.aliasOf < 0) values[step.dst] = new Float64Array(dst.n * dst.h * dst.w * dst.storedChannels).fill(NaN);
    const out = step.dst >= 0 ? memory(step.dst) : new Float64Array(0);
    switch (step.kind) {
      case 'input': {
        const [h, w] = plan.input;
        const c = plan.inputChannels;
        if (step.block !== 1) throw new Error('runInt8Plan: the direct stem form only');
        out.fill(0);
        for (let n = 0; n < dst!.n; n++)
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++)
              for (let ch = 0; ch < c; ch++) out[((n * h + y) * w + x) * dst!.storedChannels + ch] = store(input[((n * c + ch) * h + y) * w + x]!);
        break;
      }
      case 'convert': {
        const src = memory(step.src);
        for (let i = 0; i < out.length; i++) out[i] = store(Math.fround(src[i]! * step.scale));
        break;
      }
      case 'conv':
        if (!step.fp8) floatConv(plan, step, memory, out, store);
        else if (mode && 'graphs' in mode) graphConv(plan, index, mode.graphs.find((g) => g.step === index)!, memory, out, store);
        else if (mode && 'reference' in mode) referenceConv(plan, step, mode.reference, memory, out, store);
        else throw new Error(`runInt8Plan: step ${index} is an FP8 conv and no way to run it was given`);
        break;
      case 'maxpool':
      case 'adaptive_avgpool':
        pool(plan, step, memory(step.src), out, store);
        break;
      case 'add':
      case 'relu': {
        const [a, b] = [memory(step.src), step.src2 >= 0 ? memory(step.src2) : undefined];
        for (let i = 0; i < out.length; i++) {
          const sum = a[i]! + (b ? b[i]! : 0);
          out[i] = store(step.relu ? Math.max(sum, 0) : sum);
        }
        break;
      }
      case 'output': {
        const v = plan.values[step.src]!;
        const src = memory(step.src);
        const result = new Float64Array(v.n * v.channels * v.h * v.w);
        for (let n = 0; n < v.n; n++)
          for (let c = 0; c < v.channels; c++)
            for (let y = 0; y < v.h; y++)
              for (let x = 0; x < v.w; x++) result[((n * v.channels + c) * v.h + y) * v.w + x] = src[((n * v.h + y) * v.w + x) * v.storedChannels + c]!;
        outputs[step.outputIndex] = result;
        break;
      }
    }
  }
  return { outputs, values };
}

type Step = Int8Plan['steps'][number];
type Memory = (id: number) => Float64Array;

/** A float conv of the plan (FP16 filter and float bias from the blob, as the float16 plan runs it). */
function floatConv(plan: Int8Plan, step: Step, memory: Memory, out: Float64Array, store: (x: number) => number): void {
  const [xv, yv] = [plan.values[step.src]!, plan.values[step.dst]!];
  const [r, s] = step.kernel;
  const inPerGroup = xv.storedChannels / step.groups;
  const filter = readElements(plan.weightBlob, step.filterOffset, yv.storedChannels * r * s * inPerGroup, 'float16');
  const bias = readElements(plan.weightBlob, step.biasOffset, step.biasBytes / 4, 'float32');
  const residual = step.residual >= 0 ? memory(step.residual) : undefined;
  convolveNhwc(xv, yv, step, memory(step.src), 0, filter, (k, sum, i) => {
    const value = sum + bias[k]! + (residual ? residual[i]! : 0);
    out[i] = store(step.relu ? Math.max(value, 0) : value);
  });
}

/**
 * The independent reference of an FP8 conv: y = relu(Σ x·w + b + r) in reals, with x and r the stored values'
 * reals, w = w_scale[o]·E4M3(q) from the graph op's own weights (the integers FP8 holds), then y / s8 rounded to
 * E4M3 (or y to FP16). No α, β, γ, no blob: what the folded epilogue must equal.
 */
function referenceConv(plan: Int8Plan, step: Step, graph: Graph, memory: Memory, out: Float64Array, store: (x: number) => number): void {
  const op = graph.ops[step.opIndex]!;
  if (op.op !== 'conv' || !op.weightScales) throw new Error(`graph.ops[${step.opIndex}] is not a quantized conv`);
  const [r, s] = step.kernel;
  const c = graph.values[op.src]!.shape[0]!;
  const [xv, yv] = [plan.values[step.src]!, plan.values[step.dst]!];
  // The real weights KRSC over stored channels (zero in padding), from the graph's OIHW weights.
  const filter = new Float64Array(yv.storedChannels * r * s * xv.storedChannels);
  for (let k = 0; k < op.outChannels; k++)
    for (let fy = 0; fy < r; fy++)
      for (let fx = 0; fx < s; fx++)
        for (let ch = 0; ch < c; ch++) {
          const scale = op.weightScales[k]!;
          filter[((k * r + fy) * s + fx) * xv.storedChannels + ch] = scale * roundToE4M3(Math.round(op.weight[((k * c + ch) * r + fy) * s + fx]! / scale));
        }
  // A plan value's graph value (a converted copy's is its conversion's source), and the real value of an element
  // stored in it: FP8 codes times T / 448 from the graph's quant, FP16 as is.
  const graphId = (id: number): number => (id < graph.values.length ? id : plan.steps.find((t) => t.kind === 'convert' && t.dst === id)!.src);
  const real = (id: number, stored: number): number => (plan.values[id]!.storage === 'float8_e4m3' ? stored * fp8ScaleOf(graph, graphId(id)) : stored);
  const x = memory(step.src).map((v) => real(step.src, v));
  const residual = step.residual >= 0 ? memory(step.residual) : undefined;
  const s8 = yv.storage === 'float8_e4m3' ? fp8ScaleOf(graph, step.dst) : 1;
  convolveNhwc(xv, yv, step, x, 0, filter, (k, sum, i) => {
    const bias = k < op.outChannels ? op.bias[k]! : 0;
    const value = sum + bias + (residual ? real(step.residual, residual[i]!) : 0);
    out[i] = store((step.relu ? Math.max(value, 0) : value) / s8);
  });
}

/** T / 448 of graph value `id` (T = 127·scale for int8, 255·scale for uint8), from the graph's quant alone. */
export function fp8ScaleOf(graph: Graph, id: number): number {
  const quant = graph.values[id]?.quant;
  if (!quant) throw new Error(`value ${id} is not quantized`);
  return ((quant.dtype === 'uint8' ? 255 : 127) * quant.scale) / 448;
}

/**
 * An FP8 conv from its cuDNN graph alone: tensors bound by role (input → src, filter → E4M3 codes in the blob,
 * scale/bias/output_scale → floats in the blob, residual → the residual value, output → dst), addressed by their
 * dims and strides (size-1 dims broadcast), the ops as cuDNN defines them over float32 virtual tensors.
 */
function graphConv(plan: Int8Plan, index: number, graph: Fp8ConvGraph, memory: Memory, out: Float64Array, store: (x: number) => number): void {
  const step = plan.steps[index]!;
  const at = (t: Fp8GraphTensor, i: number[]): number => i.reduce((sum, v, d) => sum + (t.dims[d] === 1 ? 0 : v) * t.strides[d]!, 0);
  const count = (t: Fp8GraphTensor): number => t.dims.reduce((a, b) => a * b, 1);
  const floats = (offset: number, n: number): Float64Array => readElements(plan.weightBlob, offset, n, 'float32');
  const bound = (index: number): ((i: number[]) => number) => {
    const t = graph.tensors[index]!;
    switch (t.role) {
      case 'input': return (i) => memory(step.src)[at(t, i)]!;
      case 'residual': return (i) => memory(step.residual)[at(t, i)]!;
      case 'filter': {
        if (t.type !== 'FP8_E4M3') throw new Error('an FP8 conv reads E4M3 filters');
        const codes = plan.weightBlob.subarray(step.filterOffset, step.filterOffset + count(t));
        return (i) => E4M3_VALUES[codes[at(t, i)]!]!;
      }
      case 'scale': { const data = floats(step.scaleOffset, count(t)); return (i) => data[at(t, i)]!; }
      case 'bias': { const data = floats(step.biasOffset, count(t)); return (i) => data[at(t, i)]!; }
      case 'output_scale': { const data = floats(step.outputScaleOffset, 1); return () => data[0]!; }
      default: throw new Error(`tensor ${index} (${t.role}) is not an input`);
    }
  };
  const virtuals = new Map<number, Float64Array>();
  const reader = (index: number): ((i: number[]) => number) => {
    if (!graph.tensors[index]!.virtual) return bound(index);
    const data = virtuals.get(index)!;
    return (i) => data[at(graph.tensors[index]!, i)]!;
  };
  const writer = (index: number): ((i: number[], x: number) => void) => {
    const t = graph.tensors[index]!;
    if (t.role === 'output') return (i, x) => (out[at(t, i)] = store(x));
    if (!t.virtual) throw new Error(`tensor ${index} (${t.role}) cannot be written`);
    const data = new Float64Array(count(t)).fill(NaN);
    virtuals.set(index, data);
    return (i, x) => (data[at(t, i)] = Math.fround(x));
  };
  const each = (dims: number[], f: (i: number[]) => void): void => {
    for (let n = 0; n < dims[0]!; n++) for (let c = 0; c < dims[1]!; c++) for (let h = 0; h < dims[2]!; h++) for (let w = 0; w < dims[3]!; w++) f([n, c, h, w]);
  };
  const { conv } = graph;
  const [xt, wt, yt] = [graph.tensors[conv.x]!, graph.tensors[conv.w]!, graph.tensors[conv.y]!];
  const [x, w, y] = [bound(conv.x), bound(conv.w), writer(conv.y)];
  each(yt.dims, ([n, k, oy, ox]) => {
    let sum = 0;
    for (let c = 0; c < wt.dims[1]!; c++)
      for (let r = 0; r < wt.dims[2]!; r++) {
        const iy = oy! * conv.stride[0]! - conv.prePadding[0]! + r * conv.dilation[0]!;
        if (iy < 0 || iy >= xt.dims[2]!) continue;
        for (let q = 0; q < wt.dims[3]!; q++) {
          const ix = ox! * conv.stride[1]! - conv.prePadding[1]! + q * conv.dilation[1]!;
          if (ix < 0 || ix >= xt.dims[3]!) continue;
          sum += x([n!, c, iy, ix]) * w([k!, c, r, q]);
        }
      }
    y([n!, k!, oy!, ox!], sum);
  });
  for (const op of graph.pointwise) {
    const [a, b, o] = [reader(op.x), op.b >= 0 ? reader(op.b) : undefined, writer(op.y)];
    each(graph.tensors[op.y]!.dims, (i) => {
      const value = op.mode === 'RELU_FWD' ? Math.max(a(i), 0) : op.mode === 'ADD' ? a(i) + b!(i) : op.mode === 'MUL' ? Math.fround(a(i) * b!(i)) : NaN;
      o(i, value);
    });
  }
}

/** Max pool (implicit −inf padding) or PyTorch's adaptive average pool over stored channels. */
function pool(plan: Int8Plan, step: Step, x: Float64Array, out: Float64Array, store: (x: number) => number): void {
  const [xv, yv] = [plan.values[step.src]!, plan.values[step.dst]!];
  for (let n = 0; n < yv.n; n++)
    for (let oy = 0; oy < yv.h; oy++)
      for (let ox = 0; ox < yv.w; ox++)
        for (let c = 0; c < yv.storedChannels; c++) {
          const at = (iy: number, ix: number): number => x[((n * xv.h + iy) * xv.w + ix) * xv.storedChannels + c]!;
          let value: number;
          if (step.kind === 'maxpool') {
            value = -Infinity;
            for (let fy = 0; fy < step.kernel[0]; fy++) {
              const iy = oy * step.stride[0] - step.padding[0] + fy * step.dilation[0];
              if (iy < 0 || iy >= xv.h) continue;
              for (let fx = 0; fx < step.kernel[1]; fx++) {
                const ix = ox * step.stride[1] - step.padding[1] + fx * step.dilation[1];
                if (ix >= 0 && ix < xv.w) value = Math.max(value, at(iy, ix));
              }
            }
          } else {
            const [y0, y1] = [Math.floor((oy * xv.h) / yv.h), Math.ceil(((oy + 1) * xv.h) / yv.h)];
            const [x0, x1] = [Math.floor((ox * xv.w) / yv.w), Math.ceil(((ox + 1) * xv.w) / yv.w)];
            let sum = 0;
            for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) sum += at(iy, ix);
            value = sum / ((y1 - y0) * (x1 - x0));
          }
          out[((n * yv.h + oy) * yv.w + ox) * yv.storedChannels + c] = store(value);
        }
}
