/**
 * Lowering: a traced module ({@link Trace}) → the fused op list the native engine runs ({@link Graph}).
 *
 * Fusions, each legal only when the intermediate value has exactly one reader and is not an output:
 * - BatchNorm after a conv is folded into the conv's weights and bias
 *   (w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β);
 * - a residual `add` is fused into the conv that produced its later operand (the earlier operand is then
 *   already computed), becoming `conv + bias + residual`;
 * - ReLU after a conv (or after a fused add) becomes the conv's ReLU;
 * - `flatten` feeding a linear layer disappears (the linear op flattens in C, H, W order itself).
 * Whatever cannot fuse stays a standalone op (a lone BatchNorm becomes a 1×1 depthwise conv).
 * Nodes that no requested output depends on are dropped first (features without the classifier).
 *
 * With a {@link ModelQuantization} the fused graph is then annotated for precision `'int8'` (see
 * `graph.ts`, "Quantized graphs"): the input value and each conv's dst carry their quantization, each conv
 * that reads a quantized value its weight scales with its (folded) weight put on their grid and its bias
 * on the accumulator's grid, and a maxpool's dst its src's quantization.
 * @module
 */
import type { Trace, TraceNode } from '../nn/trace.js';
import type { BatchNorm2d } from '../nn/batchnorm.js';
import { quantizeWeightToGrid, roundHalfEven, type ModelQuantization, type ValueQuantization } from '../nn/quantization.js';
import type { Graph, GraphOp, ConvOp, AddOp, Pair } from './graph.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Per-channel affine form of an inference-mode BatchNorm: y = x·scale + shift, computed in float64. */
export function batchNormAffine(bn: BatchNorm2d): { scale: Float64Array; shift: Float64Array } {
  const c = bn.numFeatures;
  const gamma = bn.weight.data as Float32Array;
  const beta = bn.bias.data as Float32Array;
  const mean = bn.runningMean.data as Float32Array;
  const variance = bn.runningVar.data as Float32Array;
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = gamma[i]! / Math.sqrt(variance[i]! + bn.eps);
    shift[i] = beta[i]! - mean[i]! * scale[i]!;
  }
  return { scale, shift };
}

/** Options of {@link lower}. */
export interface LowerOptions {
  /**
   * Trace values to return, in order (default: the trace's output). Ops that none of them needs are
   * pruned, so asking for `avgpool`'s value lowers no `fc`.
   */
  outputs?: readonly number[];
  /**
   * Annotate the graph for precision `'int8'` with these scales (keys: conv module paths of the traced
   * module). A conv without scales stays float.
   * @throws Error when a conv's weight scales do not have its output channel count.
   */
  quantization?: ModelQuantization;
}

/** A lowered graph and the module path of each conv op that came from a `Conv2d` (lone BatchNorms have none). */
export interface LoweredGraph {
  readonly graph: Graph;
  readonly convPaths: ReadonlyMap<ConvOp, string>;
}

/** The nodes some output depends on, in trace order (a backward sweep: the trace is topologically sorted). */
function liveNodes(trace: Trace, outputs: readonly number[]): TraceNode[] {
  const needed = new Set(outputs);
  const live: TraceNode[] = [];
  for (let i = trace.nodes.length - 1; i >= 0; i--) {
    const node = trace.nodes[i]!;
    if (!needed.has(node.output)) continue;
    live.push(node);
    for (const input of node.inputs) needed.add(input);
  }
  return live.reverse();
}

/** Lowers a trace to a fused graph. Weights are copied: later edits to the module do not leak in. */
export function lower(trace: Trace, options: LowerOptions = {}): Graph {
  return lowerWithPaths(trace, options).graph;
}

/** {@link lower}, also saying which conv module each conv op runs (calibration observes them by path). */
export function lowerWithPaths(trace: Trace, options: LowerOptions = {}): LoweredGraph {
  const outputs = options.outputs ?? [trace.output.id];
  for (const out of outputs) {
    if (!Number.isInteger(out) || out < 0 || out >= trace.values.length) throw new Error(`lower: no trace value ${out}`);
  }
  const nodes = liveNodes(trace, outputs);
  // Readers among the live nodes only: a pruned reader must not block a fusion.
  const readers = new Array<number>(trace.values.length).fill(0);
  for (const node of nodes) for (const input of node.inputs) readers[input]!++;
  for (const out of outputs) readers[out]! += 1; // an output is read by the caller: never fuse it away

  const values: { shape: readonly number[]; quant?: ValueQuantization }[] = [];
  const ops: Mutable<GraphOp>[] = [];
  const convPaths = new Map<ConvOp, string>();
  /** Trace value id → graph value id. */
  const valueOf = new Map<number, number>();
  /** Graph value id → index of the op that writes it. */
  const producer = new Map<number, number>();

  const newValue = (shape: readonly number[]): number => values.push({ shape: [...shape] }) - 1;
  const input = newValue(trace.input.shape);
  valueOf.set(trace.input.id, input);
  const graphValue = (traceId: number): number => {
    const v = valueOf.get(traceId);
    if (v === undefined) throw new Error(`lower: trace value ${traceId} read before it was written`);
    return v;
  };
  /** The op producing the node's (single) input when that value has no other reader. */
  const soleProducer = (node: TraceNode, index = 0): Mutable<GraphOp> | undefined => {
    const traceInput = node.inputs[index]!;
    if (readers[traceInput] !== 1) return undefined;
    const opIndex = producer.get(graphValue(traceInput));
    return opIndex === undefined ? undefined : ops[opIndex];
  };
  const emit = (op: Mutable<GraphOp>, node: TraceNode): void => {
    producer.set(op.dst, ops.length);
    ops.push(op);
    valueOf.set(node.output, op.dst);
  };
  const alias = (node: TraceNode, graphId: number): void => {
    valueOf.set(node.output, graphId);
  };
  const outShape = (node: TraceNode): readonly number[] => trace.values[node.output]!.shape;
  /** A conv reading the node's input and writing a new value, with no residual or ReLU (yet). */
  const conv = (node: TraceNode, fields: Omit<ConvOp, 'op' | 'src' | 'dst' | 'residual' | 'relu'>): Mutable<ConvOp> => ({
    op: 'conv',
    src: graphValue(node.inputs[0]!),
    dst: newValue(outShape(node)),
    residual: -1,
    relu: false,
    ...fields,
  });

  for (const node of nodes) {
    switch (node.op) {
      case 'conv2d': {
        const m = node.module;
        const bias = new Float32Array(m.outChannels);
        if (m.bias) bias.set(m.bias.data as Float32Array);
        const op = conv(node, {
          outChannels: m.outChannels,
          kernel: pair(m.kernelSize),
          stride: pair(m.stride),
          padding: pair(m.padding),
          dilation: pair(m.dilation),
          groups: m.groups,
          weight: Float32Array.from(m.weight.data as Float32Array),
          bias,
        });
        convPaths.set(op, node.path);
        emit(op, node);
        break;
      }
      case 'batch_norm2d': {
        const { scale, shift } = batchNormAffine(node.module);
        const writer = soleProducer(node);
        if (writer?.op === 'conv' && writer.residual < 0 && !writer.relu) {
          foldIntoConv(writer, scale, shift);
          alias(node, writer.dst);
        } else {
          // A BatchNorm with nothing to fold into: a per-channel affine map is a depthwise 1×1 conv.
          const c = node.module.numFeatures;
          const one: Pair = [1, 1];
          emit(
            conv(node, {
              outChannels: c,
              kernel: one,
              stride: one,
              padding: [0, 0],
              dilation: one,
              groups: c,
              weight: Float32Array.from(scale),
              bias: Float32Array.from(shift),
            }),
            node,
          );
        }
        break;
      }
      case 'relu': {
        const op = soleProducer(node);
        if ((op?.op === 'conv' || op?.op === 'add') && !op.relu) {
          op.relu = true;
          alias(node, op.dst);
        } else {
          emit({ op: 'relu', src: graphValue(node.inputs[0]!), dst: newValue(outShape(node)) }, node);
        }
        break;
      }
      case 'add': {
        const [a, b] = [graphValue(node.inputs[0]!), graphValue(node.inputs[1]!)];
        // The operand written last: the other one is already computed when its conv runs.
        const later = (producer.get(a) ?? -1) > (producer.get(b) ?? -1) ? 0 : 1;
        const writer = soleProducer(node, later);
        const other = later === 0 ? b : a;
        if (writer?.op === 'conv' && writer.residual < 0 && !writer.relu && other !== writer.dst) {
          writer.residual = other;
          alias(node, writer.dst);
        } else {
          const add: Mutable<AddOp> = { op: 'add', a, b, dst: newValue(outShape(node)), relu: false };
          emit(add, node);
        }
        break;
      }
      case 'max_pool2d': {
        const m = node.module;
        emit(
          {
            op: 'maxpool',
            src: graphValue(node.inputs[0]!),
            dst: newValue(outShape(node)),
            kernel: pair(m.kernelSize),
            stride: pair(m.stride),
            padding: pair(m.padding),
            dilation: pair(m.dilation),
            ceilMode: m.ceilMode,
          },
          node,
        );
        break;
      }
      case 'adaptive_avg_pool2d':
        emit({ op: 'adaptive_avgpool', src: graphValue(node.inputs[0]!), dst: newValue(outShape(node)) }, node);
        break;
      case 'flatten': {
        // Fed only to a linear layer, flatten is free: the linear op reads its input in C, H, W order.
        const onlyReader = readers[node.output] === 1 ? nodes.find((n) => n.inputs.includes(node.output)) : undefined;
        if (onlyReader?.op === 'linear') alias(node, graphValue(node.inputs[0]!));
        else emit({ op: 'flatten', src: graphValue(node.inputs[0]!), dst: newValue(outShape(node)) }, node);
        break;
      }
      case 'linear': {
        const m = node.module;
        const bias = new Float32Array(m.outFeatures);
        if (m.bias) bias.set(m.bias.data as Float32Array);
        emit(
          {
            op: 'linear',
            src: graphValue(node.inputs[0]!),
            dst: newValue(outShape(node)),
            outFeatures: m.outFeatures,
            weight: Float32Array.from(m.weight.data as Float32Array),
            bias,
          },
          node,
        );
        break;
      }
      default: {
        const never: never = node;
        throw new Error(`lower: unknown op ${(never as TraceNode).op}`);
      }
    }
  }
  const graph: Graph = { values, input, outputs: outputs.map(graphValue), ops };
  if (options.quantization) annotateQuantization(graph, values, convPaths, options.quantization);
  return { graph, convPaths };
}

/** Writes `quantization` into the fused graph (after every fusion: the scales describe the fused values). */
function annotateQuantization(
  graph: Graph,
  values: { quant?: ValueQuantization }[],
  convPaths: ReadonlyMap<ConvOp, string>,
  quantization: ModelQuantization,
): void {
  if (quantization.input) values[graph.input]!.quant = quantization.input;
  for (const op of graph.ops as Mutable<GraphOp>[]) {
    if (op.op === 'maxpool') {
      const quant = values[op.src]!.quant;
      if (quant) values[op.dst]!.quant = quant;
      continue;
    }
    const path = op.op === 'conv' ? convPaths.get(op) : undefined;
    if (op.op !== 'conv' || path === undefined) continue;
    const activation = quantization.activations.get(path);
    if (activation) values[op.dst]!.quant = activation;
    const scales = quantization.weightScales.get(path);
    // A conv reading a float value (the stem, when the input stays float) runs in float with its weights.
    const source = values[op.src]!.quant;
    if (!scales || !source) continue;
    if (scales.length !== op.outChannels) {
      throw new Error(`lower: ${path} has ${op.outChannels} output channels but its quantization has ${scales.length} weight scales`);
    }
    op.weightScales = Float32Array.from(scales);
    quantizeWeightToGrid(op.weight as Float32Array, op.weightScales);
    biasToAccumulatorGrid(op.bias as Float32Array, source.scale, op.weightScales);
  }
}

const int32Max = 2 ** 31 - 1;

/**
 * Puts an integer conv's bias on its accumulator's grid, `s_x · s_w[o] · q` with q an int32 (ties to
 * even), the scale computed in float32: the bias ONNX's QLinearConv (and so onnxruntime) adds, so that
 * every engine adds the same integers.
 */
function biasToAccumulatorGrid(bias: Float32Array, inputScale: number, weightScales: Float32Array): void {
  for (let o = 0; o < bias.length; o++) {
    const step = Math.fround(Math.fround(inputScale) * weightScales[o]!);
    const q = Math.min(int32Max, Math.max(-int32Max, roundHalfEven(bias[o]! / step)));
    bias[o] = q * step;
  }
}

function pair(p: readonly number[]): Pair {
  return [p[0]!, p[1]!];
}

/** Folds a per-output-channel affine map into a conv's weights and bias (float64 arithmetic). */
function foldIntoConv(conv: Mutable<ConvOp>, scale: Float64Array, shift: Float64Array): void {
  const perChannel = conv.weight.length / conv.outChannels;
  const weight = conv.weight as Float32Array;
  const bias = conv.bias as Float32Array;
  for (let o = 0; o < conv.outChannels; o++) {
    const s = scale[o]!;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) weight[i] = weight[i]! * s;
    bias[o] = bias[o]! * s + shift[o]!;
  }
}
