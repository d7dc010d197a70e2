/**
 * The quantized-graph contract of lib/compile/graph.ts ("Quantized graphs") in float64, written plainly
 * for the int8 backend tests: a quantized value holds integers q with real = scale · q (round half to
 * even, saturate); a conv with weightScales whose src, dst (and residual) are quantized accumulates
 * Σ q_src · q_w exactly and writes acc · src.scale · weightScales[o] + bias[o] (+ residual) (ReLU)
 * quantized as dst; every other op computes on real numbers and a quantized result is quantized after it.
 */
import type { ConvOp, Graph, GraphOp, Pair } from '../../lib/compile/graph.js';
import { roundHalfEven, type ValueQuantization } from '../../lib/nn/quantization.js';

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** q for real x: round half to even, saturated to the type's range. */
export function quantizeReal(x: number, quant: ValueQuantization): number {
  const [lo, hi] = quant.dtype === 'uint8' ? [0, 255] : [-128, 127];
  return Math.min(hi, Math.max(lo, roundHalfEven(x / quant.scale)));
}

/** Σ src · weight over each conv window (no bias), NCHW in and out. */
export function convSums(x: Float64Array, n: number, shape: readonly number[], op: ConvOp, weight: ArrayLike<number>): { data: Float64Array; shape: number[] } {
  const [c, h, w] = shape as [number, number, number];
  const [kh, kw] = op.kernel;
  const [sh, sw] = op.stride;
  const [ph, pw] = op.padding;
  const [dh, dw] = op.dilation;
  const oc = op.outChannels;
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const icg = c / op.groups;
  const ocg = oc / op.groups;
  const out = new Float64Array(n * oc * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < oc; o++) {
      const g = Math.floor(o / ocg);
      for (let y = 0; y < oh; y++) {
        for (let z = 0; z < ow; z++) {
          let sum = 0;
          for (let i = 0; i < icg; i++) {
            for (let a = 0; a < kh; a++) {
              const iy = y * sh - ph + a * dh;
              if (iy < 0 || iy >= h) continue;
              for (let e = 0; e < kw; e++) {
                const ix = z * sw - pw + e * dw;
                if (ix < 0 || ix >= w) continue;
                sum += x[((b * c + g * icg + i) * h + iy) * w + ix]! * weight[((o * icg + i) * kh + a) * kw + e]!;
              }
            }
          }
          out[((b * oc + o) * oh + y) * ow + z] = sum;
        }
      }
    }
  }
  return { data: out, shape: [oc, oh, ow] };
}

function poolSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

function maxPool(x: Float64Array, n: number, shape: readonly number[], k: Pair, s: Pair, p: Pair, d: Pair, ceil: boolean): Float64Array {
  const [c, h, w] = shape as [number, number, number];
  const oh = poolSize(h, k[0], s[0], p[0], d[0], ceil);
  const ow = poolSize(w, k[1], s[1], p[1], d[1], ceil);
  const out = new Float64Array(n * c * oh * ow);
  for (let plane = 0; plane < n * c; plane++) {
    for (let y = 0; y < oh; y++) {
      for (let z = 0; z < ow; z++) {
        let best = -Infinity;
        for (let a = 0; a < k[0]; a++) {
          const iy = y * s[0] - p[0] + a * d[0];
          if (iy < 0 || iy >= h) continue;
          for (let e = 0; e < k[1]; e++) {
            const ix = z * s[1] - p[1] + e * d[1];
            if (ix >= 0 && ix < w) best = Math.max(best, x[(plane * h + iy) * w + ix]!);
          }
        }
        out[(plane * oh + y) * ow + z] = best;
      }
    }
  }
  return out;
}

/** Global average pooling (the adaptive pool to 1×1). */
function globalAvgPool(x: Float64Array, n: number, shape: readonly number[]): Float64Array {
  const [c, h, w] = shape as [number, number, number];
  const out = new Float64Array(n * c);
  for (let plane = 0; plane < n * c; plane++) {
    let sum = 0;
    for (let i = 0; i < h * w; i++) sum += x[plane * h * w + i]!;
    out[plane] = sum / (h * w);
  }
  return out;
}

/** Real numbers of every value of a graph run, plus the integers of the quantized ones. */
export interface ReferenceRun {
  readonly real: Float64Array[];
  readonly q: (Float64Array | undefined)[];
}

/**
 * Op `op` of `graph` on the real numbers `real` (by value) for `n` samples: the real numbers it writes, and
 * their integers when its dst is quantized. `exactReal` is its output before quantization (for choosing scales).
 */
export function referenceOp(graph: Graph, op: GraphOp, real: readonly (Float64Array | undefined)[], n: number): { exactReal: Float64Array } {
  const shape = (v: number) => graph.values[v]!.shape;
  const quantOf = (v: number) => graph.values[v]!.quant;
  const src = real[op.op === 'add' ? op.a : op.src]!;
  switch (op.op) {
    case 'conv': {
      const residual = op.residual >= 0 ? real[op.residual]! : undefined;
      const integer = op.weightScales !== undefined && quantOf(op.src) !== undefined && quantOf(op.dst) !== undefined &&
        (op.residual < 0 || quantOf(op.residual) !== undefined);
      const perChannel = op.weight.length / op.outChannels;
      let sums: { data: Float64Array; shape: number[] };
      if (integer) {
        const sx = quantOf(op.src)!.scale;
        const qx = src.map((v) => Math.round(v / sx)); // exact: src holds sx · q
        const qw = op.weight.map((v, i) => roundHalfEven(v / op.weightScales![Math.floor(i / perChannel)]!));
        sums = convSums(qx, n, shape(op.src), op, qw);
        const plane = sums.data.length / n / op.outChannels;
        sums.data.forEach((acc, i) => {
          sums.data[i] = acc * sx * op.weightScales![Math.floor(i / plane) % op.outChannels]!;
        });
      } else {
        sums = convSums(src, n, shape(op.src), op, op.weight);
      }
      const plane = sums.data.length / n / op.outChannels;
      const out = sums.data.map((v, i) => {
        let y = v + op.bias[Math.floor(i / plane) % op.outChannels]!;
        if (residual) y += residual[i]!;
        return op.relu ? Math.max(y, 0) : y;
      });
      return { exactReal: out };
    }
    case 'maxpool':
      return { exactReal: maxPool(src, n, shape(op.src), op.kernel, op.stride, op.padding, op.dilation, op.ceilMode) };
    case 'adaptive_avgpool': {
      if (numel(shape(op.dst)) !== shape(op.dst)[0]) throw new Error('the reference pools globally only');
      return { exactReal: globalAvgPool(src, n, shape(op.src)) };
    }
    case 'linear': {
      const inFeatures = numel(shape(op.src));
      const out = new Float64Array(n * op.outFeatures);
      for (let b = 0; b < n; b++) {
        for (let o = 0; o < op.outFeatures; o++) {
          let sum = op.bias[o]!;
          for (let i = 0; i < inFeatures; i++) sum += src[b * inFeatures + i]! * op.weight[o * inFeatures + i]!;
          out[b * op.outFeatures + o] = sum;
        }
      }
      return { exactReal: out };
    }
    case 'relu':
      return { exactReal: src.map((v) => Math.max(v, 0)) };
    case 'add': {
      const b = real[op.b]!;
      return { exactReal: src.map((v, i) => (op.relu ? Math.max(v + b[i]!, 0) : v + b[i]!)) };
    }
    case 'flatten':
      return { exactReal: src.slice() };
  }
}

/** The value's real numbers as stored: quantized (q and scale · q) when the graph quantizes it. */
export function store(graph: Graph, value: number, exactReal: Float64Array): { real: Float64Array; q?: Float64Array } {
  const quant = graph.values[value]!.quant;
  if (!quant) return { real: exactReal };
  const q = exactReal.map((v) => quantizeReal(v, quant));
  return { real: q.map((v) => v * quant.scale), q };
}

/** Runs a quantized graph on `input` (NCHW, n samples) as the contract says. */
export function referenceRun(graph: Graph, input: ArrayLike<number>, n: number): ReferenceRun {
  const real: (Float64Array | undefined)[] = graph.values.map(() => undefined);
  const q: (Float64Array | undefined)[] = graph.values.map(() => undefined);
  const first = store(graph, graph.input, Float64Array.from(input));
  real[graph.input] = first.real;
  q[graph.input] = first.q;
  for (const op of graph.ops) {
    const stored = store(graph, op.dst, referenceOp(graph, op, real, n).exactReal);
    real[op.dst] = stored.real;
    q[op.dst] = stored.q;
  }
  return { real: real as Float64Array[], q };
}
