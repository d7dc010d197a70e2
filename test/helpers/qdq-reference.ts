/**
 * A float64 reference of the quantized graph contract (lib/compile/graph.ts, "Quantized graphs"), written
 * plainly from its text over a lowered {@link Graph}: a quantized value is `scale · clamp(round-half-even(x /
 * scale))`; a conv whose src, dst (and residual) are quantized and that has weightScales sums integer
 * products, then `acc · s_x · s_w[o] + bias[o] (+ residual) → ReLU → quantize`; a maxpool keeps its source's
 * grid; everything else runs on real values. Run without quantization it is the float network, which is
 * where the tests take their calibration ranges from (max |x| of every value). It extends the int8 backend
 * tests' reference (quantized-reference.ts, whose convolution sums and rounding it uses) with what the QDQ
 * export needs: float runs, the pre-residual rounding and onnxruntime's int32 bias.
 */
import type { ConvOp, Graph, GraphOp } from '../../lib/compile/graph.js';
import { roundHalfEven, type ValueQuantization } from '../../lib/nn/quantization.js';
import { convSums, quantizeReal } from './quantized-reference.js';

interface Act {
  data: Float64Array;
  shape: number[]; // [N, ...per-sample shape]
}

const onGrid = (a: Act, q: ValueQuantization | undefined): Act =>
  q ? { data: a.data.map((x) => q.scale * quantizeReal(x, q)), shape: a.shape } : a;

/** Options of {@link runReference}. */
export interface ReferenceOptions {
  /** Apply the graph's `quant` and `weightScales` (default true); false runs the float network. */
  quantized?: boolean;
  /**
   * By conv op index: quantize the conv's output before its residual add with this (onnxruntime's fused
   * layout, `preResidual` of the QDQ export), instead of adding to the unrounded sum as the contract does.
   */
  preResidual?: ReadonlyMap<number, ValueQuantization>;
  /**
   * Round each integer conv's bias to its accumulator's grid, `round(bias / (s_x · s_w[o]))` (onnxruntime's
   * int32 QLinearConv bias), instead of adding it in float as the contract does.
   */
  int32Bias?: boolean;
}

/** What a reference run saw. */
export interface ReferenceRun {
  /** The graph's first output, `[N, ...shape]` flattened. */
  output: Float64Array;
  /** max |x| of every value (by value id), over the batch. */
  maxAbs: number[];
  /** max |x| of each residual conv's output before its add, by conv op index. */
  preResidualMaxAbs: Map<number, number>;
}

function conv(op: ConvOp, x: Act, quantized: boolean, srcQuant: ValueQuantization | undefined, int32Bias: boolean): Act {
  const [n, ...shape] = x.shape as [number, number, number, number];
  const perChannel = op.weight.length / op.outChannels;
  // Integers: q_src (exact from the grid) and q_w = weight / weightScales[o] (the weight is on its grid).
  const integer = quantized && op.weightScales !== undefined && srcQuant !== undefined;
  const src = integer ? x.data.map((v) => Math.round(v / srcQuant.scale)) : x.data;
  const weight = integer ? Float64Array.from(op.weight, (v, i) => Math.round(v / op.weightScales![Math.floor(i / perChannel)]!)) : op.weight;
  const sums = convSums(src, n, shape, op, weight);
  const plane = sums.data.length / (n * op.outChannels);
  for (let i = 0; i < sums.data.length; i++) {
    const oc = Math.floor(i / plane) % op.outChannels;
    const scale = integer ? srcQuant.scale * op.weightScales![oc]! : 1;
    const bias = integer && int32Bias ? roundHalfEven(op.bias[oc]! / scale) * scale : op.bias[oc]!;
    sums.data[i] = sums.data[i]! * scale + bias;
  }
  return { data: sums.data, shape: [n, ...sums.shape] };
}

function maxPool(op: GraphOp & { op: 'maxpool' }, x: Act, outShape: readonly number[]): Act {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, oh, ow] = outShape as [number, number, number];
  const out = new Float64Array(n * c * oh * ow).fill(-Infinity);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let m = -Infinity;
          for (let ky = 0; ky < op.kernel[0]; ky++)
            for (let kx = 0; kx < op.kernel[1]; kx++) {
              const iy = y * op.stride[0] - op.padding[0] + ky * op.dilation[0];
              const ix = xx * op.stride[1] - op.padding[1] + kx * op.dilation[1];
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) m = Math.max(m, x.data[((b * c + ch) * h + iy) * w + ix]!);
            }
          out[((b * c + ch) * oh + y) * ow + xx] = m;
        }
  return { data: out, shape: [n, c, oh, ow] };
}

function adaptiveAvgPool(x: Act, outShape: readonly number[]): Act {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, oh, ow] = outShape as [number, number, number];
  const out = new Float64Array(n * c * oh * ow);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          const [y0, y1] = [Math.floor((y * h) / oh), Math.ceil(((y + 1) * h) / oh)];
          const [x0, x1] = [Math.floor((xx * w) / ow), Math.ceil(((xx + 1) * w) / ow)];
          let s = 0;
          for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) s += x.data[((b * c + ch) * h + iy) * w + ix]!;
          out[((b * c + ch) * oh + y) * ow + xx] = s / ((y1 - y0) * (x1 - x0));
        }
  return { data: out, shape: [n, c, oh, ow] };
}

function linear(op: GraphOp & { op: 'linear' }, x: Act): Act {
  const n = x.shape[0]!;
  const f = x.data.length / n;
  const out = new Float64Array(n * op.outFeatures);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < op.outFeatures; o++) {
      let s = op.bias[o]!;
      for (let k = 0; k < f; k++) s += x.data[b * f + k]! * op.weight[o * f + k]!;
      out[b * op.outFeatures + o] = s;
    }
  return { data: out, shape: [n, op.outFeatures] };
}

const relu = (a: Act): Act => ({ data: a.data.map((v) => Math.max(0, v)), shape: a.shape });
const add = (a: Act, b: Act): Act => ({ data: a.data.map((v, i) => v + b.data[i]!), shape: a.shape });
const maxAbsOf = (a: Act): number => a.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Runs a lowered graph on a batch (`[N, ...input shape]` flattened). */
export function runReference(graph: Graph, input: Float32Array | Float64Array, batch: number, options: ReferenceOptions = {}): ReferenceRun {
  const quantized = options.quantized ?? true;
  const quantOf = (v: number): ValueQuantization | undefined => (quantized ? graph.values[v]!.quant : undefined);
  const values: Act[] = [];
  const maxAbs: number[] = [];
  const preResidualMaxAbs = new Map<number, number>();
  const set = (v: number, a: Act): void => {
    maxAbs[v] = maxAbsOf(a);
    values[v] = onGrid(a, quantOf(v));
  };
  set(graph.input, { data: Float64Array.from(input), shape: [batch, ...graph.values[graph.input]!.shape] });
  graph.ops.forEach((op, index) => {
    switch (op.op) {
      case 'conv': {
        let y = conv(op, values[op.src]!, quantized, quantOf(op.src), options.int32Bias ?? false);
        if (op.residual >= 0) {
          preResidualMaxAbs.set(index, maxAbsOf(y));
          const pre = quantized ? options.preResidual?.get(index) : undefined;
          y = add(onGrid(y, pre), values[op.residual]!);
        }
        set(op.dst, op.relu ? relu(y) : y);
        break;
      }
      case 'maxpool':
        set(op.dst, maxPool(op, values[op.src]!, graph.values[op.dst]!.shape));
        break;
      case 'adaptive_avgpool':
        set(op.dst, adaptiveAvgPool(values[op.src]!, graph.values[op.dst]!.shape));
        break;
      case 'linear':
        set(op.dst, linear(op, values[op.src]!));
        break;
      case 'relu':
        set(op.dst, relu(values[op.src]!));
        break;
      case 'add': {
        const sum = add(values[op.a]!, values[op.b]!);
        set(op.dst, op.relu ? relu(sum) : sum);
        break;
      }
      case 'flatten': {
        const x = values[op.src]!;
        set(op.dst, { data: x.data, shape: [x.shape[0]!, x.data.length / x.shape[0]!] });
        break;
      }
    }
  });
  return { output: values[graph.outputs[0]!]!.data, maxAbs, preResidualMaxAbs };
}
