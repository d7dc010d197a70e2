/**
 * Test-side references for the CUDA planner (`testing.cudaPlan`, native/src/cuda/cuda_plan.h): the plan's
 * JS shape, float → half/bfloat16 rounding written from the formats' definitions, reading the packed
 * weight blob, and a float64 interpreter that runs a plan step by step in ONE arena buffer at the planned
 * offsets, as the GPU would (so overlapping live values or a wrong packing corrupt its result).
 */
import type { Graph } from '../../lib/index.js';
import { loadNative } from '../../lib/runtime/native.js';

/** A device value as the planner lays it out (NHWC). */
export interface PlanValue {
  n: number;
  h: number;
  w: number;
  channels: number;
  storedChannels: number;
  bytes: number;
  arenaOffset: number;
  aliasOf: number;
  outputIndex: number;
}

/** One step of a planned run. */
export interface PlanStep {
  kind: 'input' | 'conv' | 'maxpool' | 'adaptive_avgpool' | 'add' | 'relu' | 'output';
  src: number;
  src2: number;
  residual: number;
  dst: number;
  relu: boolean;
  groups: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  ceilMode: boolean;
  /** The input step: the space-to-depth cell (1: plain NHWC); `padding` is then the zero rows/columns before the input. */
  block: number;
  filterOffset: number;
  filterBytes: number;
  biasOffset: number;
  biasBytes: number;
  opIndex: number;
  outputIndex: number;
}

export type Storage = 'float32' | 'float16' | 'bfloat16';

/** The stem's forms (native/src/cuda/cuda_plan.h, StemForm). */
export type StemFormName = 'direct' | 'space_to_depth' | 'four_channel';

/** One form of the stem: the input value it reads and its conv. */
export interface StemOption {
  form: StemFormName;
  h: number;
  w: number;
  channels: number;
  storedChannels: number;
  bytes: number;
  block: number;
  inputPadding: [number, number];
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  filterOffset: number;
  filterBytes: number;
}

/** The stem's forms and the one the plan is laid out for. */
export interface StemPlan {
  step: number;
  chosen: StemFormName;
  inputArenaBytes: number;
  forms: StemOption[];
  unavailable: string[];
}

/** What `testing.cudaPlan` returns. */
export interface CudaPlan {
  batch: number;
  precision: string;
  storage: Storage;
  input: [number, number];
  inputChannels: number;
  values: PlanValue[];
  steps: PlanStep[];
  arenaBytes: number;
  weightBlobBytes: number;
  outputElements: number[];
  notes: string[];
  stem: StemPlan;
  describe: string;
  weightBlob: Uint8Array;
}

/** Plans `graph` with the addon's test-only export. */
export function cudaPlan(graph: Graph | unknown, options: unknown): CudaPlan {
  const addon = loadNative() as unknown as { testing: { cudaPlan(graph: unknown, options: unknown): CudaPlan } };
  return addon.testing.cudaPlan(graph, options);
}

export function elementBytes(storage: Storage): number {
  return storage === 'float32' ? 4 : 2;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** 2^k for the exponents these formats reach (a table: `**` is slow in the weight checks' inner loop). */
const POW2 = Array.from({ length: 401 }, (_, i) => Math.pow(2, i - 200));
const pow2 = (k: number): number => POW2[k + 200]!;

/**
 * The binary exponent e of a float32 |x| (2^e ≤ |x| < 2^(e+1)), read from its bits; -127 for subnormals.
 * For a float64 x it is that of x rounded to float32, one too high only just below a power of two, where
 * rounding to 10 or 7 mantissa bits gives that power of two either way.
 */
function exponentOf(a: number): number {
  scratch[0] = a;
  return ((scratchBits[0]! >>> 23) & 0xff) - 127;
}

/** Rounds |x|/ulp to the nearest integer, ties to even, and scales back with x's sign. */
function roundToUlp(x: number, ulp: number): number {
  const q = Math.abs(x) / ulp;
  let f = Math.floor(q);
  const d = q - f;
  if (d > 0.5 || (d === 0.5 && f % 2 === 1)) f++;
  return Math.sign(x) * f * ulp;
}

/**
 * The value of float32 `x` rounded to a binary format with `mantissa` stored bits, smallest normal
 * exponent `minExponent` and largest exponent `maxExponent` (round to nearest even; at or past the midpoint
 * between the largest finite value and the next power of two, infinity).
 */
function roundToFormat(x: number, mantissa: number, minExponent: number, maxExponent: number): number {
  if (Number.isNaN(x) || x === 0 || !Number.isFinite(x)) return x;
  const overflow = pow2(maxExponent + 1) - pow2(maxExponent - mantissa - 1);
  if (Math.abs(x) >= overflow) return Math.sign(x) * Infinity;
  const e = Math.max(exponentOf(x), minExponent);
  return roundToUlp(x, pow2(e - mantissa));
}

/** float32 → IEEE binary16 (10 mantissa bits, exponents -14..15: max 65504), as a number. */
export function roundToHalf(x: number): number {
  return roundToFormat(x, 10, -14, 15);
}

/** float32 → bfloat16 (7 mantissa bits, float32's exponents -126..127), as a number. */
export function roundToBfloat16(x: number): number {
  return roundToFormat(x, 7, -126, 127);
}

/** What storing `x` in `storage` keeps of it. */
export function roundTo(storage: Storage, x: number): number {
  if (storage === 'float32') return Math.fround(x);
  return storage === 'float16' ? roundToHalf(x) : roundToBfloat16(x);
}

/** Decodes IEEE binary16 bits from the format's definition. */
function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** bfloat16 bits are a float32's upper half. */
function bfloat16Value(bits: number): number {
  scratchBits[0] = bits << 16;
  return scratch[0]!;
}

/** Every 16-bit pattern decoded once (the weight blobs have millions of elements). */
const HALF_VALUES = Float64Array.from({ length: 65536 }, (_, bits) => halfValue(bits));
const BFLOAT16_VALUES = Float64Array.from({ length: 65536 }, (_, bits) => bfloat16Value(bits));

/** `count` elements of `storage` starting at byte `offset` of `blob`, as numbers. */
export function readElements(blob: Uint8Array, offset: number, count: number, storage: Storage): Float64Array {
  // Little-endian hosts only (as the device): typed-array views read the bytes as the GPU will.
  const start = blob.byteOffset + offset;
  if (storage === 'float32') return Float64Array.from(new Float32Array(blob.buffer.slice(start, start + 4 * count)));
  const bits = new Uint16Array(blob.buffer.slice(start, start + 2 * count));
  const table = storage === 'float16' ? HALF_VALUES : BFLOAT16_VALUES;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = table[bits[i]!]!;
  return out;
}

/** The float32 bias of a conv step. */
export function readBias(plan: CudaPlan, step: PlanStep): Float64Array {
  return readElements(plan.weightBlob, step.biasOffset, step.biasBytes / 4, 'float32');
}

/** The value whose memory `id` uses. */
export function memoryOf(plan: CudaPlan, id: number): number {
  return plan.values[id]!.aliasOf >= 0 ? plan.values[id]!.aliasOf : id;
}

/** Values a step reads, in argument order. */
export function readsOf(step: PlanStep): number[] {
  return [step.src, step.src2, step.residual].filter((id) => id >= 0);
}

/**
 * Runs `plan` on `input` (NCHW float32, the graph input's shape at the plan's batch) in float64,
 * rounding every stored value to the plan's storage type (unless `exact`), in one arena of plan.arenaBytes
 * bytes filled with NaN first, and each step's output filled with NaN before the step runs (a read of memory
 * nobody wrote, or of the output being written, poisons the result). The stem runs in whatever form the plan
 * is laid out for: the input step writes that form's layout, the stem conv reads it with its own filter.
 * Returns one NCHW (or [N, F]) array per graph output.
 */
export function simulatePlan(plan: CudaPlan, input: Float32Array, options: SimulateOptions = {}): Float64Array[] {
  const size = elementBytes(plan.storage);
  const arena = new Float64Array(plan.arenaBytes / size).fill(NaN);
  const base = (id: number): number => plan.values[id]!.arenaOffset / size;
  const store = options.exact
    ? (index: number, x: number): void => {
        arena[index] = x;
      }
    : (index: number, x: number): void => {
        arena[index] = roundTo(plan.storage, x);
      };
  const outputs: Float64Array[] = [];
  for (const step of plan.steps) {
    if (step.dst >= 0) {
      // A device step may write its output in any order: its memory holds nothing readable until the step
      // ends, so an input sharing that memory (a residual aliasing the conv's output) reads poison here.
      const v = plan.values[step.dst]!;
      arena.fill(NaN, base(step.dst), base(step.dst) + v.n * v.h * v.w * v.storedChannels);
    }
    switch (step.kind) {
      case 'input':
        runInput(plan, step, base(step.dst), input, store);
        break;
      case 'conv': {
        const graph = options.convGraphs?.find((g) => g.step === plan.steps.indexOf(step));
        if (graph) runConvGraph(plan, step, graph, arena, base, store);
        else runConv(plan, step, arena, base, store, options.storageBias ?? false);
        break;
      }
      case 'maxpool':
        runMaxPool(plan, step, arena, base, store);
        break;
      case 'adaptive_avgpool':
        runAdaptiveAvgPool(plan, step, arena, base, store);
        break;
      case 'add':
      case 'relu': {
        const v = plan.values[step.dst]!;
        const count = v.n * v.h * v.w * v.storedChannels;
        const [a, b, d] = [base(step.src), step.src2 >= 0 ? base(step.src2) : -1, base(step.dst)];
        for (let i = 0; i < count; i++) {
          const sum = arena[a + i]! + (b >= 0 ? arena[b + i]! : 0);
          store(d + i, step.relu ? Math.max(sum, 0) : sum);
        }
        break;
      }
      case 'output': {
        const v = plan.values[step.src]!;
        const out = new Float64Array(v.n * v.channels * v.h * v.w);
        const from = base(step.src);
        for (let n = 0; n < v.n; n++)
          for (let c = 0; c < v.channels; c++)
            for (let y = 0; y < v.h; y++)
              for (let x = 0; x < v.w; x++) {
                out[((n * v.channels + c) * v.h + y) * v.w + x] = arena[from + ((n * v.h + y) * v.w + x) * v.storedChannels + c]!;
              }
        outputs[step.outputIndex] = out;
        break;
      }
    }
  }
  return outputs;
}

type Store = (index: number, x: number) => void;

/** How simulatePlan runs conv steps. */
export interface SimulateOptions {
  /** Conv steps with a graph here run by interpreting it (runConvGraph) instead of the plan's own fields. */
  convGraphs?: readonly ConvGraph[];
  /** The other conv steps round their bias to the storage type first (as the fused calls see it). */
  storageBias?: boolean;
  /** Keep every value in float64 instead of rounding it to the storage type (weights stay as stored). */
  exact?: boolean;
}

/** A tensor of a conv step's cuDNN graph (native/src/cuda/conv_graph_plan.h). */
export interface ConvGraphTensor {
  uid: number;
  role: 'input' | 'filter' | 'bias' | 'residual' | 'output' | 'virtual';
  type: 'FLOAT' | 'HALF' | 'BFLOAT16';
  /** N, C, H, W (K, C/groups, R, S for the filter). */
  dims: number[];
  strides: number[];
  alignment: number;
  virtual: boolean;
}

/** What `testing.cudaConvGraphs` returns per conv step. */
export interface ConvGraph {
  step: number;
  tensors: ConvGraphTensor[];
  conv: { x: number; w: number; y: number; prePadding: number[]; postPadding: number[]; stride: number[]; dilation: number[]; computeType: string };
  pointwise: { mode: 'ADD' | 'MUL' | 'IDENTITY' | 'RELU_FWD'; x: number; b: number; y: number }[];
  describe: string;
}

/** The conv graphs of `graph`'s plan with the addon's test-only export. */
export function cudaConvGraphs(graph: Graph | unknown, options: unknown): ConvGraph[] {
  const addon = loadNative() as unknown as { testing: { cudaConvGraphs(graph: unknown, options: unknown): ConvGraph[] } };
  return addon.testing.cudaConvGraphs(graph, options);
}

const STORAGE_OF_TYPE: Record<ConvGraphTensor['type'], Storage> = { FLOAT: 'float32', HALF: 'float16', BFLOAT16: 'bfloat16' };

/**
 * Runs a conv step by interpreting its cuDNN graph as cuDNN defines the ops, knowing nothing of the plan's
 * own conv fields: each tensor is addressed by its dims and strides, bound by its role (input → the step's
 * src, filter → the packed filter, bias → the bias in the tensor's type, residual, output → dst), the
 * convolution takes its geometry from the graph, and the pointwise ops run in order over virtual tensors
 * held in float32 (with broadcasting of size-1 dims). A wrong stride, uid role, padding or op order shows as
 * a different result from runConv.
 */
function runConvGraph(plan: CudaPlan, step: PlanStep, graph: ConvGraph, arena: Float64Array, base: (id: number) => number, store: Store): void {
  const count = (t: ConvGraphTensor): number => t.dims.reduce((a, b) => a * b, 1);
  const offset = (t: ConvGraphTensor, i: number[]): number => i.reduce((sum, v, d) => sum + (t.dims[d] === 1 ? 0 : v) * t.strides[d]!, 0);
  const virtuals = new Map<number, Float64Array>();
  type Access = { read: (i: number[]) => number; write: (i: number[], x: number) => void };
  const access = (index: number): Access => {
    const t = graph.tensors[index]!;
    const fail = (): never => {
      throw new Error(`tensor ${index} (${t.role}) cannot be written`);
    };
    switch (t.role) {
      case 'input':
        return { read: (i) => arena[base(step.src) + offset(t, i)]!, write: fail };
      case 'residual':
        return { read: (i) => arena[base(step.residual) + offset(t, i)]!, write: fail };
      case 'output':
        return { read: (i) => arena[base(step.dst) + offset(t, i)]!, write: (i, x) => store(base(step.dst) + offset(t, i), x) };
      case 'filter': {
        const filter = readElements(plan.weightBlob, step.filterOffset, count(t), STORAGE_OF_TYPE[t.type]);
        return { read: (i) => filter[offset(t, i)]!, write: fail };
      }
      case 'bias': {
        const bias = readBias(plan, step).map((b) => roundTo(STORAGE_OF_TYPE[t.type], b));
        return { read: (i) => bias[offset(t, i)]!, write: fail };
      }
      case 'virtual': {
        if (!virtuals.has(index)) virtuals.set(index, new Float64Array(count(t)).fill(NaN));
        const data = virtuals.get(index)!;
        return { read: (i) => data[offset(t, i)]!, write: (i, x) => (data[offset(t, i)] = Math.fround(x)) };
      }
    }
  };
  const each = (dims: number[], f: (i: number[]) => void): void => {
    for (let n = 0; n < dims[0]!; n++)
      for (let c = 0; c < dims[1]!; c++)
        for (let h = 0; h < dims[2]!; h++) for (let w = 0; w < dims[3]!; w++) f([n, c, h, w]);
  };

  const { conv } = graph;
  const [xt, wt, yt] = [graph.tensors[conv.x]!, graph.tensors[conv.w]!, graph.tensors[conv.y]!];
  const [x, w, y] = [access(conv.x), access(conv.w), access(conv.y)];
  const groups = xt.dims[1]! / wt.dims[1]!;
  const outPerGroup = yt.dims[1]! / groups;
  each(yt.dims, ([n, k, oy, ox]) => {
    const group = Math.floor(k! / outPerGroup);
    let sum = 0;
    for (let c = 0; c < wt.dims[1]!; c++)
      for (let r = 0; r < wt.dims[2]!; r++) {
        const iy = oy! * conv.stride[0]! - conv.prePadding[0]! + r * conv.dilation[0]!;
        if (iy < 0 || iy >= xt.dims[2]!) continue;
        for (let q = 0; q < wt.dims[3]!; q++) {
          const ix = ox! * conv.stride[1]! - conv.prePadding[1]! + q * conv.dilation[1]!;
          if (ix < 0 || ix >= xt.dims[3]!) continue;
          sum += x.read([n!, group * wt.dims[1]! + c, iy, ix]) * w.read([k!, c, r, q]);
        }
      }
    y.write([n!, k!, oy!, ox!], sum);
  });
  for (const op of graph.pointwise) {
    const [a, b, out] = [access(op.x), op.b >= 0 ? access(op.b) : undefined, access(op.y)];
    each(graph.tensors[op.y]!.dims, (i) => {
      const value = op.mode === 'RELU_FWD' ? Math.max(a.read(i), 0) : op.mode === 'ADD' ? a.read(i) + b!.read(i) : NaN;
      out.write(i, value);
    });
  }
}

/**
 * The input step: NCHW [n, C, H, W] → the value's NHWC layout. With block b and padding (pt, pl) the value is
 * the space-to-depth of the padded input: pixel (y, x), cell position (dy, dx), input channel c lands in channel
 * (dy·b + dx)·C + c and reads input row y·b + dy − pt, column x·b + dx − pl (zero outside the input); the
 * channels past C·b² are zero. b = 1 without padding is the plain copy.
 */
function runInput(plan: CudaPlan, step: PlanStep, at: number, input: Float32Array, store: Store): void {
  const v = plan.values[step.dst]!;
  const [h, w] = plan.input;
  const channels = plan.inputChannels;
  const b = step.block;
  const [top, left] = step.padding;
  for (let n = 0; n < v.n; n++)
    for (let y = 0; y < v.h; y++)
      for (let x = 0; x < v.w; x++)
        for (let dy = 0; dy < b; dy++)
          for (let dx = 0; dx < b; dx++)
            for (let c = 0; c < channels; c++) {
              const [iy, ix] = [y * b + dy - top, x * b + dx - left];
              const inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
              const value = inside ? input[((n * channels + c) * h + iy) * w + ix]! : 0;
              store(at + ((n * v.h + y) * v.w + x) * v.storedChannels + (dy * b + dx) * channels + c, value);
            }
  // Padding channels: zero.
  for (let p = 0; p < v.n * v.h * v.w; p++)
    for (let c = channels * b * b; c < v.storedChannels; c++) store(at + p * v.storedChannels + c, 0);
}

/**
 * Conv over stored channels with the packed filter: padding channels are computed, not skipped. With
 * `storageBias`, the bias is first rounded to the storage type, as the fused calls take it.
 */
function runConv(plan: CudaPlan, step: PlanStep, arena: Float64Array, base: (id: number) => number, store: Store, storageBias: boolean): void {
  const xv = plan.values[step.src]!;
  const yv = plan.values[step.dst]!;
  const [r, s] = step.kernel;
  const inPerGroup = xv.storedChannels / step.groups;
  const filter = readElements(plan.weightBlob, step.filterOffset, yv.storedChannels * r * s * inPerGroup, plan.storage);
  const bias = storageBias ? readBias(plan, step).map((b) => roundTo(plan.storage, b)) : readBias(plan, step);
  const [yb, zb] = [base(step.dst), step.residual >= 0 ? base(step.residual) : -1];
  convolveNhwc(xv, yv, step, arena, base(step.src), filter, (k, sum, yi) => {
    let value = sum + bias[k]!;
    if (zb >= 0) value += arena[zb + yi]!;
    store(yb + yi, step.relu ? Math.max(value, 0) : value);
  });
}

/**
 * The sums of a conv step over stored channels: x NHWC at `x[xBase…]`, `filter` KRSC [K, R, S, C/groups]; calls
 * `epilogue(k, sum, yi)` once per output element, yi its NHWC index within y.
 */
export function convolveNhwc(
  xv: Pick<PlanValue, 'h' | 'w' | 'storedChannels'>,
  yv: Pick<PlanValue, 'n' | 'h' | 'w' | 'storedChannels'>,
  step: Pick<PlanStep, 'kernel' | 'stride' | 'padding' | 'dilation' | 'groups'>,
  x: Float64Array,
  xBase: number,
  filter: ArrayLike<number>,
  epilogue: (k: number, sum: number, yi: number) => void,
): void {
  const [r, s] = step.kernel;
  const inPerGroup = xv.storedChannels / step.groups;
  const outPerGroup = yv.storedChannels / step.groups;
  for (let n = 0; n < yv.n; n++)
    for (let oy = 0; oy < yv.h; oy++)
      for (let ox = 0; ox < yv.w; ox++)
        for (let k = 0; k < yv.storedChannels; k++) {
          const group = Math.floor(k / outPerGroup);
          let sum = 0;
          for (let fy = 0; fy < r; fy++) {
            const iy = oy * step.stride[0] - step.padding[0] + fy * step.dilation[0];
            if (iy < 0 || iy >= xv.h) continue;
            for (let fx = 0; fx < s; fx++) {
              const ix = ox * step.stride[1] - step.padding[1] + fx * step.dilation[1];
              if (ix < 0 || ix >= xv.w) continue;
              const xi = xBase + ((n * xv.h + iy) * xv.w + ix) * xv.storedChannels + group * inPerGroup;
              const fi = ((k * r + fy) * s + fx) * inPerGroup;
              for (let c = 0; c < inPerGroup; c++) sum += x[xi + c]! * filter[fi + c]!;
            }
          }
          epilogue(k, sum, ((n * yv.h + oy) * yv.w + ox) * yv.storedChannels + k);
        }
}

/** PyTorch's max pool (implicit −inf padding, ceil mode windows clipped to the input). */
function runMaxPool(plan: CudaPlan, step: PlanStep, arena: Float64Array, base: (id: number) => number, store: Store): void {
  const xv = plan.values[step.src]!;
  const yv = plan.values[step.dst]!;
  const [xb, yb] = [base(step.src), base(step.dst)];
  for (let n = 0; n < yv.n; n++)
    for (let oy = 0; oy < yv.h; oy++)
      for (let ox = 0; ox < yv.w; ox++)
        for (let c = 0; c < yv.storedChannels; c++) {
          let best = -Infinity;
          for (let fy = 0; fy < step.kernel[0]; fy++) {
            const iy = oy * step.stride[0] - step.padding[0] + fy * step.dilation[0];
            if (iy < 0 || iy >= xv.h) continue;
            for (let fx = 0; fx < step.kernel[1]; fx++) {
              const ix = ox * step.stride[1] - step.padding[1] + fx * step.dilation[1];
              if (ix < 0 || ix >= xv.w) continue;
              best = Math.max(best, arena[xb + ((n * xv.h + iy) * xv.w + ix) * xv.storedChannels + c]!);
            }
          }
          store(yb + ((n * yv.h + oy) * yv.w + ox) * yv.storedChannels + c, best);
        }
}

/** PyTorch's adaptive average pool windows: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉). */
function runAdaptiveAvgPool(plan: CudaPlan, step: PlanStep, arena: Float64Array, base: (id: number) => number, store: Store): void {
  const xv = plan.values[step.src]!;
  const yv = plan.values[step.dst]!;
  const [xb, yb] = [base(step.src), base(step.dst)];
  for (let n = 0; n < yv.n; n++)
    for (let oy = 0; oy < yv.h; oy++)
      for (let ox = 0; ox < yv.w; ox++) {
        const [y0, y1] = [Math.floor((oy * xv.h) / yv.h), Math.ceil(((oy + 1) * xv.h) / yv.h)];
        const [x0, x1] = [Math.floor((ox * xv.w) / yv.w), Math.ceil(((ox + 1) * xv.w) / yv.w)];
        for (let c = 0; c < yv.storedChannels; c++) {
          let sum = 0;
          for (let iy = y0; iy < y1; iy++)
            for (let ix = x0; ix < x1; ix++) sum += arena[xb + ((n * xv.h + iy) * xv.w + ix) * xv.storedChannels + c]!;
          store(yb + ((n * yv.h + oy) * yv.w + ox) * yv.storedChannels + c, sum / ((y1 - y0) * (x1 - x0)));
        }
      }
}
