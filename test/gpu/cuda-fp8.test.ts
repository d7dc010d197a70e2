/**
 * The CUDA backend's int8 path (FP8 E4M3 convolutions on Hopper, native/src/cuda/plan_fp8.h) on the CPU:
 * - the E4M3 conversions (fp8_math.h) against the format's definition: all 256 codes, every tie, saturation;
 * - the boundary kernel's host emulation (FP16 ↔ FP8 with a scale);
 * - the refusal below compute capability 9.0;
 * - int8 plans of quantized ResNets: which convs run FP8, each value's storage, the conversions, the folded
 *   epilogue's numbers in the weight blob, the arena, and each FP8 conv's cuDNN graph (types, scale tensors,
 *   the op chain);
 * - a whole quantized resnet18 plan run by an interpreter with every FP8 conv interpreted from its cuDNN graph
 *   alone, against the same plan with every FP8 conv computed straight from the graph's weights and scales
 *   (no α, β, γ), and against float.
 * What only a GPU shows: that cuDNN gives these graphs plans, and their speed (scripts/gpu-check.sh).
 */
import { describe, expect, it } from 'vitest';
import { lower, manualSeed, resnet18, resnet50, Tracer, type Graph, type Module } from '../../lib/index.js';
import { loadNative } from '../../lib/runtime/native.js';
import { codeOf, relativeL2, rng, uniform } from '../helpers/helpers.js';
import { cudaConvGraphs, cudaPlan, readElements, roundToHalf } from '../helpers/cuda-plan-reference.js';
import {
  E4M3_VALUES, e4m3CodeOf, e4m3Value, fp8ScaleOf, quantizeForTest, runInt8Plan, type Fp8ConvGraph, type Int8Plan,
} from '../helpers/cuda-fp8-reference.js';

interface Fp8Testing {
  encode(values: Float32Array): Uint8Array;
  decode(codes: Uint8Array): Float32Array;
  scaleConvert(options: { src: Float32Array; from: string; to: string; scale: number }): Float32Array;
  deviceSupport(major: number, minor: number): void;
}
const fp8 = (loadNative() as unknown as { testing: { fp8: Fp8Testing } }).testing.fp8;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The float32 next to `x` towards +∞ (`up`) or −∞, for x > 0. */
function nextFloat(x: number, up: boolean): number {
  f32[0] = x;
  u32[0] = u32[0]! + (up ? 1 : -1);
  return f32[0];
}
const encode = (values: number[]): number[] => Array.from(fp8.encode(Float32Array.from(values)));

describe('FP8 E4M3 conversions (fp8_math.h)', () => {
  it('decodes all 256 codes as the format defines them (0x7f and 0xff NaN, ±448 the largest, 2^-9 the smallest)', () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const decoded = fp8.decode(codes);
    for (let code = 0; code < 256; code++) {
      const want = e4m3Value(code);
      if (Number.isNaN(want)) expect(decoded[code], `code ${code}`).toBeNaN();
      else expect(Object.is(decoded[code], want) || decoded[code] === want, `code ${code}: ${decoded[code]} vs ${want}`).toBe(true);
    }
    expect([decoded[0x7e], decoded[0xfe], decoded[0x01], decoded[0x08], decoded[0x80]]).toEqual([448, -448, 2 ** -9, 2 ** -6, -0]);
    expect(Object.is(decoded[0x80], -0)).toBe(true);
  });

  it('encodes every code\'s own value back to the code (both zeros kept apart)', () => {
    const finite = [...Array(256).keys()].filter((c) => !Number.isNaN(E4M3_VALUES[c]!));
    expect(finite).toHaveLength(254);
    expect(encode(finite.map((c) => E4M3_VALUES[c]!))).toEqual(finite);
  });

  it('rounds to nearest, ties to the even code, at every midpoint of neighbouring codes (subnormals and binade edges included)', () => {
    const mids: number[] = [];
    const want: number[] = [];
    for (const sign of [0, 0x80]) {
      for (let c = 0; c < 0x7e; c++) {
        const [lo, hi] = [E4M3_VALUES[c]!, E4M3_VALUES[c + 1]!];
        const mid = (lo + hi) / 2; // 5 significant bits at most: exact in float32
        expect(Math.fround(mid)).toBe(mid);
        const s = sign ? -1 : 1;
        mids.push(s * mid, s * nextFloat(mid, true), s * nextFloat(mid, false));
        want.push(sign | (c % 2 === 0 ? c : c + 1), sign | (c + 1), sign | c);
      }
    }
    expect(encode(mids)).toEqual(want);
    // Spot checks written out: 17 is the tie of 16 and 18 (→ 16, even mantissa), 19 of 18 and 20 (→ 20).
    expect(encode([17, 19, 3 * 2 ** -10, 2 ** -10, nextFloat(2 ** -10, true)]).map((c) => e4m3Value(c))).toEqual([16, 20, 2 ** -8, 0, 2 ** -9]);
  });

  it('saturates: |x| ≥ 448 and ±∞ to ±448, NaN to 0x7f; tiny values to a signed zero', () => {
    expect(encode([448, nextFloat(448, false), 449, 464, 480, 1e30, Infinity, -448, -500, -Infinity, NaN, -NaN])).toEqual([
      0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0xfe, 0xfe, 0xfe, 0x7f, 0x7f,
    ]);
    // The largest float below 448 rounds to 448, not past it; 432 (the tie of 416 and 448) to 448 (even).
    expect(encode([nextFloat(448, false), 432, nextFloat(432, false)])).toEqual([0x7e, 0x7e, 0x7d]);
    expect(encode([1e-30, -1e-30, 0, -0, 2 ** -149])).toEqual([0, 0x80, 0, 0x80, 0]);
  });

  it('matches a nearest-code search on 20,000 random floats over 2^-14 … 2^10, both signs', () => {
    const random = rng(15);
    const values = Array.from({ length: 20000 }, () => Math.fround((random() < 0.5 ? -1 : 1) * 2 ** (random() * 24 - 14)));
    expect(encode(values)).toEqual(values.map((x) => e4m3CodeOf(x)));
  });
});

describe('the boundary kernel (scale_convert_element, host emulation)', () => {
  it('FP16 reals → FP8 codes: round(x · scale) to E4M3, saturating, exactly as float32 math then the conversion give it', () => {
    const random = rng(16);
    const src = Float32Array.from({ length: 4096 }, (_, i) => (i < 8 ? [0, -0, 1000, -1000, 65504, 3, 1e-7, -2][i]! : roundToHalf((random() * 2 - 1) * 40)));
    const scale = Math.fround(448 / (127 * 0.093));
    const got = fp8.scaleConvert({ src, from: 'float16', to: 'float8_e4m3', scale });
    const want = Array.from(src, (x) => e4m3Value(e4m3CodeOf(Math.fround(roundToHalf(x) * scale))));
    expect(Array.from(got)).toEqual(want);
    expect([got[2], got[3], got[4]]).toEqual([448, -448, 448]);
  });

  it('FP8 codes → FP16 reals: code · scale rounded to half', () => {
    const src = Float32Array.from(E4M3_VALUES.filter((v) => !Number.isNaN(v)));
    const scale = Math.fround((255 * 0.0371) / 448);
    const got = fp8.scaleConvert({ src, from: 'float8_e4m3', to: 'float16', scale });
    expect(Array.from(got)).toEqual(Array.from(src, (x) => roundToHalf(Math.fround(x * scale))));
  });

  it('refuses a scale that is not positive and finite', () => {
    for (const scale of [0, -1, NaN, Infinity]) {
      expect(codeOf(() => fp8.scaleConvert({ src: new Float32Array(4), from: 'float16', to: 'float8_e4m3', scale }))).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('int8 on the GPU needs FP8 (Hopper)', () => {
  it('compute capability 9.0 and newer run it; below, a typed ERR_UNSUPPORTED saying what to use instead', () => {
    for (const [major, minor] of [[9, 0], [10, 0], [12, 1]] as const) expect(() => fp8.deviceSupport(major, minor)).not.toThrow();
    for (const [major, minor] of [[8, 9], [8, 0], [7, 5]] as const) {
      let error: (Error & { code?: string }) | undefined;
      try {
        fp8.deviceSupport(major, minor);
      } catch (e) {
        error = e as Error & { code?: string };
      }
      expect(error?.code).toBe('ERR_UNSUPPORTED');
      expect(error?.message).toContain(`compute capability ${major}.${minor}`);
      expect(error?.message).toMatch(/Hopper/);
      expect(error?.message).toMatch(/'float16' on this GPU, or 'int8' on the CPU/);
    }
  });
});

// ---- int8 plans -----------------------------------------------------------------------------------------

const graphOf = (module: Module, sample: number[]): Graph => lower(Tracer.trace(module, sample));
const int8Plan = (graph: Graph, batch: number): Int8Plan => cudaPlan(graph, { batch, precision: 'int8' }) as unknown as Int8Plan;
const int8Graphs = (graph: Graph, batch: number): Fp8ConvGraph[] => cudaConvGraphs(graph, { batch, precision: 'int8' }) as unknown as Fp8ConvGraph[];

/** The max |value| of every value of `graph` over one exact float run of its plan. */
function rangesOf(graph: Graph, input: Float32Array, batch: number): number[] {
  const { values } = runInt8Plan(int8Plan(graph, batch), input, undefined, true);
  return graph.values.map((_, id) => (values[id] ? values[id]!.reduce((m, v) => Math.max(m, Math.abs(v)), 0) : 1));
}

/** Every structural rule of an int8 plan, against the graph it came from. */
function checkInt8Plan(graph: Graph, plan: Int8Plan): void {
  const isStem = (i: number) => { const op = graph.ops[i]!; return op.op === 'conv' && op.src === graph.input; };
  const convSteps = plan.steps.filter((s) => s.kind === 'conv');
  for (const step of convSteps) {
    const op = graph.ops[step.opIndex]!;
    // FP8: every conv but the stem (the graphs here quantize everything and have channels of 16s); never a linear.
    expect(step.fp8, `step of graph.ops[${step.opIndex}]`).toBe(op.op === 'conv' && !isStem(step.opIndex));
    const x = plan.values[step.src]!;
    const y = plan.values[step.dst]!;
    expect(x.storage).toBe(step.fp8 ? 'float8_e4m3' : 'float16');
    if (!step.fp8) {
      expect(y.storage).toBe('float16');
      if (step.residual >= 0) expect(plan.values[step.residual]!.storage).toBe('float16');
      continue;
    }
    // The folded epilogue's numbers: o, d, γ = d / o.
    const o = y.storage === 'float8_e4m3' ? y.fp8Scale : 1;
    const d = step.residual < 0 ? o : plan.values[step.residual]!.storage === 'float8_e4m3' ? plan.values[step.residual]!.fp8Scale : 1;
    expect(step.fp8Divisor).toBe(d);
    expect(step.outputScale).toBe(Math.fround(d / o));
    expect(step.outputScaleBytes).toBe(step.outputScale === 1 ? 0 : 4);
    // The blob: α = s8x·w[k] / d, β = b[k] / d, γ; filter codes E4M3(q), KRSC.
    if (op.op !== 'conv' || !op.weightScales) throw new Error('an FP8 step from a quantized conv');
    const k = y.storedChannels;
    const alpha = readElements(plan.weightBlob, step.scaleOffset, k, 'float32');
    const beta = readElements(plan.weightBlob, step.biasOffset, k, 'float32');
    const sx = fp8ScaleOf(graph, op.src);
    for (let o2 = 0; o2 < k; o2++) {
      expect(Math.abs(alpha[o2]! - (o2 < op.outChannels ? (sx * op.weightScales[o2]!) / d : 0))).toBeLessThanOrEqual(1e-6 * Math.abs(alpha[o2]!));
      expect(Math.abs(beta[o2]! - (o2 < op.outChannels ? op.bias[o2]! / d : 0))).toBeLessThanOrEqual(1e-6 * Math.abs(beta[o2]!) + 1e-30);
    }
    if (step.outputScaleBytes) expect(readElements(plan.weightBlob, step.outputScaleOffset, 1, 'float32')[0]).toBe(step.outputScale);
    const [r, s] = step.kernel;
    const c = x.storedChannels;
    expect(step.filterBytes).toBe(k * r * s * c);
    const codes = plan.weightBlob.subarray(step.filterOffset, step.filterOffset + step.filterBytes);
    for (let i = 0; i < codes.length; i += 97) {
      const [ko, rest] = [Math.floor(i / (r * s * c)), i % (r * s * c)];
      const [fy, fx, ch] = [Math.floor(rest / (s * c)), Math.floor(rest / c) % s, rest % c];
      const w = op.weight[((ko * c + ch) * r + fy) * s + fx]!;
      expect(codes[i], `filter byte ${i}`).toBe(e4m3CodeOf(Math.round(w / op.weightScales[ko]!)));
    }
  }
  for (const [id, v] of plan.values.entries()) {
    expect(v.bytes).toBe(v.n * v.h * v.w * v.storedChannels * (v.storage === 'float8_e4m3' ? 1 : 2));
    if (v.storage === 'float8_e4m3') {
      const source = id < graph.values.length ? id : plan.steps.find((s) => s.kind === 'convert' && s.dst === id)!.src;
      expect(Math.abs(v.fp8Scale - fp8ScaleOf(graph, source))).toBeLessThanOrEqual(1e-6 * v.fp8Scale);
    } else {
      expect(v.fp8Scale).toBe(0);
    }
  }
  // Conversions: FP16 → FP8 at scale 1/s8, FP8 → FP16 at s8; each right after the step that writes its source.
  for (const [i, step] of plan.steps.entries()) {
    if (step.kind !== 'convert') continue;
    const [from, to] = [plan.values[step.src]!, plan.values[step.dst]!];
    expect(from.storage).not.toBe(to.storage);
    const s8 = Math.fround(fp8ScaleOf(graph, step.src));
    expect(Math.abs(step.scale - (to.storage === 'float8_e4m3' ? 1 / s8 : s8))).toBeLessThanOrEqual(1e-6 * step.scale);
    expect(plan.steps[i - 1]!.dst).toBe(step.src);
    expect([from.n, from.h, from.w, from.storedChannels]).toEqual([to.n, to.h, to.w, to.storedChannels]);
  }
  // The arena: values alive at one step never share bytes, whatever their element sizes.
  const life = new Map<number, [number, number]>();
  const memoryOf = (id: number) => (plan.values[id]!.aliasOf >= 0 ? plan.values[id]!.aliasOf : id);
  for (const [i, step] of plan.steps.entries()) {
    for (const id of [step.src, step.src2, step.residual, step.dst].filter((v) => v >= 0).map(memoryOf)) {
      const [first, last] = life.get(id) ?? [i, i];
      life.set(id, [Math.min(first, i), Math.max(last, i)]);
    }
  }
  const entries = [...life.entries()];
  for (const [a, [fa, la]] of entries)
    for (const [b, [fb, lb]] of entries) {
      if (a >= b || la < fb || lb < fa) continue;
      const [va, vb] = [plan.values[a]!, plan.values[b]!];
      expect(va.arenaOffset + va.bytes <= vb.arenaOffset || vb.arenaOffset + vb.bytes <= va.arenaOffset, `values ${a} and ${b}`).toBe(true);
    }
}

/** Every FP8 conv graph's tensors and chain, against its plan step. */
function checkFp8Graph(plan: Int8Plan, graph: Fp8ConvGraph): void {
  const step = plan.steps[graph.step]!;
  const [x, y] = [plan.values[step.src]!, plan.values[step.dst]!];
  const type = (storage: string) => (storage === 'float8_e4m3' ? 'FP8_E4M3' : 'HALF');
  const role = (name: string) => graph.tensors.filter((t) => t.role === name);
  const K = y.storedChannels;
  expect(role('input')[0]).toMatchObject({ uid: 1, type: 'FP8_E4M3', dims: [x.n, x.storedChannels, x.h, x.w], alignment: 16 });
  expect(role('filter')[0]).toMatchObject({ uid: 2, type: 'FP8_E4M3', dims: [K, x.storedChannels, ...step.kernel] });
  expect(role('scale')).toEqual([expect.objectContaining({ uid: 7, type: 'FLOAT', dims: [1, K, 1, 1], strides: [K, 1, K, K], virtual: false })]);
  expect(role('bias')).toEqual([expect.objectContaining({ uid: 3, type: 'FLOAT', dims: [1, K, 1, 1], strides: [K, 1, K, K] })]);
  expect(role('output')[0]).toMatchObject({ uid: 5, type: type(y.storage), dims: [y.n, K, y.h, y.w], strides: [y.h * y.w * K, 1, y.w * K, K] });
  if (step.residual >= 0) expect(role('residual')[0]).toMatchObject({ uid: 4, type: type(plan.values[step.residual]!.storage), dims: [y.n, K, y.h, y.w] });
  else expect(role('residual')).toEqual([]);
  if (step.outputScaleBytes) expect(role('output_scale')).toEqual([expect.objectContaining({ uid: 8, type: 'FLOAT', dims: [1, 1, 1, 1], strides: [1, 1, 1, 1] })]);
  else expect(role('output_scale')).toEqual([]);
  for (const t of role('virtual')) expect(t).toMatchObject({ type: 'FLOAT', dims: [y.n, K, y.h, y.w] });
  expect(new Set(graph.tensors.map((t) => t.uid)).size).toBe(graph.tensors.length);
  expect(graph.conv.computeType).toBe('FLOAT');
  expect(graph.conv.pointwiseType).toBe('FLOAT');
  const chain = graph.pointwise.map((op) => `${op.mode}${op.b >= 0 ? `:${graph.tensors[op.b]!.role}` : ''}`);
  expect(chain).toEqual(['MUL:scale', 'ADD:bias', ...(step.residual >= 0 ? ['ADD:residual'] : []), ...(step.relu ? ['RELU_FWD'] : []), ...(step.outputScaleBytes ? ['MUL:output_scale'] : [])]);
  let current = graph.conv.y;
  for (const [i, op] of graph.pointwise.entries()) {
    expect(op.x).toBe(current);
    expect(graph.tensors[op.y]!.role).toBe(i === graph.pointwise.length - 1 ? 'output' : 'virtual');
    current = op.y;
  }
}

describe('int8 plans: FP8 convs, storages, conversions (plan_fp8.h)', () => {
  manualSeed(151);
  const batch = 2;
  const sample = [3, 32, 32];
  const floatGraph = graphOf(resnet18(), sample);
  const input = uniform(batch * 3 * 32 * 32, 152);
  const quantized = quantizeForTest(floatGraph, rangesOf(floatGraph, input, batch));

  it('resnet18: every conv but the stem in FP8, one conversion (the max pool into FP8), the last block writing FP16 for the pool', () => {
    const plan = int8Plan(quantized, batch);
    checkInt8Plan(quantized, plan);
    const convs = plan.steps.filter((s) => s.kind === 'conv');
    expect(convs).toHaveLength(21);
    expect(convs.filter((s) => s.fp8)).toHaveLength(19);
    const converts = plan.steps.filter((s) => s.kind === 'convert');
    expect(converts).toHaveLength(1);
    const maxpool = plan.steps.find((s) => s.kind === 'maxpool')!;
    expect(converts[0]!.src).toBe(maxpool.dst);
    expect(plan.values[converts[0]!.dst]!.storage).toBe('float8_e4m3');
    expect(plan.values[maxpool.dst]!.storage).toBe('float16');
    const pool = plan.steps.find((s) => s.kind === 'adaptive_avgpool')!;
    expect(plan.values[pool.src]!.storage).toBe('float16');
    // Residuals are read as stored: layer1.0's is the FP16 max pool output, later ones FP8 block outputs.
    const residuals = convs.filter((s) => s.residual >= 0).map((s) => plan.values[s.residual]!.storage);
    expect(residuals).toEqual(['float16', ...Array(7).fill('float8_e4m3')]);
    expect(plan.notes).toContain('conv graph.ops[0] runs in float16: it reads the graph input (the stem: cuDNN has no FP8 plan for 3 channels)');
    expect(plan.describe).toMatch(/step \d+ convert: value \d+ -> value \d+, scale /);
    // Against the float16 plan of the same graph (which ignores the quantization): FP8 halves the bytes of the
    // values between FP8 convs and of their filters (the blob gains α, 4 bytes per channel).
    const half = cudaPlan(quantized, { batch, precision: 'float16' }) as unknown as Int8Plan;
    expect(half.steps.some((s) => s.kind === 'convert' || s.fp8)).toBe(false);
    expect(half.values.every((v) => v.storage === 'float16')).toBe(true);
    const fp8Values = plan.values.flatMap((v, id) => (v.storage === 'float8_e4m3' && id < quantized.values.length ? [id] : []));
    expect(fp8Values.length).toBeGreaterThan(15);
    for (const id of fp8Values) expect(plan.values[id]!.bytes * 2).toBe(half.values[id]!.bytes);
    expect(plan.weightBlobBytes / half.weightBlobBytes).toBeLessThan(0.55);
  });

  it('resnet18: each FP8 conv\'s cuDNN graph (FP8 x and w, FLOAT α and β [1,K,1,1], residual and y as stored, γ where ≠ 1)', () => {
    const plan = int8Plan(quantized, batch);
    const graphs = int8Graphs(quantized, batch);
    expect(graphs.map((g) => g.step)).toEqual(plan.steps.flatMap((s, i) => (s.kind === 'conv' ? [i] : [])));
    for (const g of graphs) {
      if (plan.steps[g.step]!.fp8) checkFp8Graph(plan, g);
      else expect(g.tensors.filter((t) => !t.virtual).map((t) => t.type)).toEqual(['HALF', 'HALF', 'HALF', 'HALF']);
    }
    // The chains ResNet needs: no residual (FP8 out, γ folded away; a downsample without ReLU), a residual (FP16
    // from the max pool in layer1.0, FP8 later: γ = d / o ≠ 1) into FP8, and the last block's into FP16 (o = 1).
    const chains = new Set(graphs.filter((g) => plan.steps[g.step]!.fp8).map((g) => `${g.pointwise.map((p) => p.mode).join('+')} -> ${g.tensors.find((t) => t.role === 'output')!.type}`));
    expect(chains).toEqual(new Set(['MUL+ADD+RELU_FWD -> FP8_E4M3', 'MUL+ADD -> FP8_E4M3', 'MUL+ADD+ADD+RELU_FWD+MUL -> FP8_E4M3', 'MUL+ADD+ADD+RELU_FWD+MUL -> HALF']));
    const layer1Block0 = graphs.find((g) => plan.steps[g.step]!.fp8 && g.tensors.some((t) => t.role === 'residual'))!;
    expect(layer1Block0.tensors.find((t) => t.role === 'residual')!.type).toBe('HALF');
  });

  it('resnet18 run by the interpreter: FP8 convs from their cuDNN graphs equal the same convs computed without the folding, and stay near float', () => {
    const plan = int8Plan(quantized, batch);
    const graphs = int8Graphs(quantized, batch);
    const [fromGraphs] = runInt8Plan(plan, input, { graphs }).outputs;
    const [reference] = runInt8Plan(plan, input, { reference: quantized }).outputs;
    const [float] = runInt8Plan(int8Plan(floatGraph, batch), input, undefined, true).outputs;
    // Same math up to float32 rounding of α·acc (an FP8 rounding may rarely land on the other side of a tie).
    const folding = relativeL2(fromGraphs!, reference!);
    expect(folding).toBeLessThan(1e-3);
    const quantization = relativeL2(fromGraphs!, float!);
    console.log(`resnet18 int8 plan (FP8 E4M3) at ${batch}×3×32×32: relative L2 to the unfolded reference ${folding.toExponential(2)}, to float ${quantization.toExponential(2)}`);
    expect(quantization).toBeLessThan(0.15);
    const top1 = (out: Float64Array, n: number) => out.subarray(n * 1000, (n + 1) * 1000).reduce((best, v, i, a) => (v > a[best]! ? i : best), 0);
    for (let n = 0; n < batch; n++) expect(top1(fromGraphs!, n)).toBe(top1(float!, n));
  });

  it('resnet50 at 2×3×64×64: 52 FP8 convs (the stem and the fc not), one conversion, every FP8 graph well formed', () => {
    manualSeed(153);
    const graph = graphOf(resnet50(), [3, 64, 64]);
    const q = quantizeForTest(graph, graph.values.map((_, i) => 1 + (i % 7)));
    const plan = int8Plan(q, 2);
    checkInt8Plan(q, plan);
    expect(plan.steps.filter((s) => s.fp8)).toHaveLength(52);
    expect(plan.steps.filter((s) => s.kind === 'convert')).toHaveLength(1);
    const graphs = int8Graphs(q, 2);
    for (const g of graphs) if (plan.steps[g.step]!.fp8) checkFp8Graph(plan, g);
  });

  it('a float graph at int8, or a conv whose channels are not multiples of 16: FP16, and the plan says why', () => {
    const plain = int8Plan(floatGraph, 1);
    expect(plain.steps.some((s) => s.fp8 || s.kind === 'convert')).toBe(false);
    expect(plain.values.every((v) => v.storage === 'float16')).toBe(true);
    // Channels 24 → 40: quantized, but not FP8's 16-channel vectors.
    const { conv } = (() => {
      const random = rng(154);
      const w = (n: number) => Float32Array.from({ length: n }, () => random() - 0.5);
      return { conv: (src: number, dst: number, c: number, k: number) => ({ op: 'conv' as const, src, dst, residual: -1, relu: true, outChannels: k, kernel: [3, 3] as const, stride: [1, 1] as const, padding: [1, 1] as const, dilation: [1, 1] as const, groups: 1, weight: w(k * c * 9), bias: w(k) }) };
    })();
    const small: Graph = { values: [{ shape: [16, 8, 8] }, { shape: [24, 8, 8] }, { shape: [40, 8, 8] }, { shape: [32, 8, 8] }], input: 0, outputs: [3], ops: [conv(0, 1, 16, 24), conv(1, 2, 24, 40), conv(2, 3, 40, 32)] };
    const q = quantizeForTest(small, [1, 1, 1, 1]);
    const plan = int8Plan(q, 1);
    expect(plan.steps.filter((s) => s.kind === 'conv').map((s) => s.fp8)).toEqual([false, false, false]);
    expect(plan.notes).toEqual([
      'conv graph.ops[0] runs in float16: it reads the graph input (the stem: cuDNN has no FP8 plan for 3 channels)',
      'conv graph.ops[1] runs in float16: its channels (24 in, 40 out) are not multiples of 16',
      'conv graph.ops[2] runs in float16: its channels (40 in, 32 out) are not multiples of 16',
    ]);
  });
});
