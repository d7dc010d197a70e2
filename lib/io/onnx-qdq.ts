/**
 * ONNX export of a quantized model as QDQ (QuantizeLinear/DequantizeLinear) nodes, the form onnxruntime
 * runs as an integer model. It writes the lowered graph (`lib/compile/lower.ts`: BatchNorm folded, residual
 * add and ReLU fused into the conv) with the quantization of the contract in `lib/compile/graph.ts`
 * ("Quantized graphs"), so onnxruntime is an independent engine for the same numbers:
 * - the input: `Q → DQ` with the input's scale (or float, with the stem conv, when it stays float);
 * - each conv: its weight as an int8 initializer (the integers of `quantizeWeightToGrid`) through
 *   `DQ(axis 0, per-channel scales, zero point 0)`, its bias as int32 on the scale `s_x · s_w[o]` through a
 *   DQ, then the conv (`+ residual`, `Relu`) and `Q → DQ` of its output (uint8 after a ReLU, int8 otherwise,
 *   zero point 0);
 * - a maxpool reads the dequantized value and is quantized again with the same scale (onnxruntime then
 *   drops the pair and pools the 8-bit values); the average pool, flatten and Gemm run in float.
 *
 * onnxruntime's QDQ transformer turns a `DQ → Conv → [Relu] → Q` group into QLinearConv (u8 activations
 * with s8 weights is the fast x86 path) and `DQ, DQ → Add → [Relu] → Q` into QLinearAdd, but only when the
 * conv's output goes straight to a Q. Our engines add the residual to the conv's accumulator before
 * quantizing; to run that exactly onnxruntime must leave such a conv in float. Given `preResidual` (the
 * range of each residual conv's output before its add), the export quantizes that value too, as
 * onnxruntime's own quantizer and PyTorch's fbgemm models do: every conv and add then fuses, at the
 * price of one more rounding per block.
 * @module
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import { lowerWithPaths } from '../compile/lower.js';
import type { ConvOp, Graph, GraphOp } from '../compile/graph.js';
import type { Module } from '../nn/module.js';
import { roundHalfEven, type ModelQuantization, type ValueQuantization } from '../nn/quantization.js';
import { Tracer } from '../nn/trace.js';
import { littleEndianBytes } from './endian.js';
import { adaptivePoolNode, encodeModel, int, ints, irVersionForOpset, maxPoolAttributes, valueInfo } from './onnx-writer.js';
import type { Attribute, Initializer, Node, Resolved } from './onnx-writer.js';
import { DataType } from './onnx-schema.js';
import { version } from '../version.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type QuantizedGraph = Graph & { values: { shape: readonly number[]; quant?: ValueQuantization }[]; ops: Mutable<GraphOp>[] };

const int32Max = 2 ** 31 - 1;

function checkValueQuantization(q: unknown, what: string): ValueQuantization {
  const v = q as Partial<ValueQuantization> | undefined;
  if (typeof v !== 'object' || v === null || !(typeof v.scale === 'number' && v.scale > 0 && Number.isFinite(v.scale)) || (v.dtype !== 'uint8' && v.dtype !== 'int8')) {
    throw new InvalidArgumentError(`exportOnnx: ${what} must be { scale: a positive finite number, dtype: 'uint8' | 'int8' }, got ${JSON.stringify(q)}`);
  }
  return { scale: v.scale, dtype: v.dtype };
}

/** A lowered graph's conv ops' module paths, in op order (a lone BatchNorm's conv is named by its index). */
function convPathList(graph: Graph, convPaths: ReadonlyMap<ConvOp, string>): string[] {
  return graph.ops.filter((op): op is ConvOp => op.op === 'conv').map((op, i) => convPaths.get(op) ?? `conv_${i}`);
}

/** The module lowered (`lower`, float) and the module path of each of its conv ops, in op order. */
export function loweredWithConvPaths(module: Module, inputShape: readonly number[]): { graph: QuantizedGraph; convPaths: string[] } {
  const { graph, convPaths } = lowerWithPaths(Tracer.trace(module, inputShape));
  return { graph: graph as QuantizedGraph, convPaths: convPathList(graph, convPaths) };
}

/**
 * The module lowered with its quantization laid on by the lowering itself (`lowerWithPaths`, the graph every
 * engine of ours runs): the input (unless it stays float) and each conv's output quantized, each integer
 * conv's weight and bias on their grids, a maxpool keeping its source's quantization. A conv reading a float
 * value (the stem, when the input stays float) is written as a float Conv. Returns the graph and each conv
 * op's module path, in op order.
 */
export function quantizedLowering(module: Module, inputShape: readonly number[], quantization: ModelQuantization): { graph: QuantizedGraph; convPaths: string[] } {
  if (!(quantization?.activations instanceof Map) || !(quantization.weightScales instanceof Map)) {
    throw new InvalidArgumentError('exportOnnx: quantization must be a ModelQuantization (activations and weightScales Maps keyed by conv path), as quantize() returns');
  }
  if (quantization.input !== null) checkValueQuantization(quantization.input, 'quantization.input');
  for (const [path, activation] of quantization.activations) checkValueQuantization(activation, `quantization.activations "${path}"`);
  const { graph, convPaths } = lowerWithPaths(Tracer.trace(module, inputShape), { quantization });
  const paths = convPathList(graph, convPaths);
  graph.ops.filter((op): op is ConvOp => op.op === 'conv').forEach((op, i) => {
    if (graph.values[op.dst]!.quant === undefined) throw new InvalidArgumentError(`exportOnnx: quantization.activations has no entry for conv "${paths[i]}"`);
  });
  return { graph: graph as QuantizedGraph, convPaths: paths };
}

/** Collects nodes and initializers with unique names. */
class QdqWriter {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  private readonly names = new Set<string>();
  private readonly scaleNames = new Map<string, [string, string]>();

  constructor(reserved: readonly string[]) {
    for (const name of reserved) this.names.add(name);
  }

  unique(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  initializer(base: string, dims: readonly number[], dataType: number, data: ArrayBufferView & { BYTES_PER_ELEMENT: number }): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims: [...dims], data_type: dataType, raw_data: littleEndianBytes(data) });
    return name;
  }

  /** Adds a node; its output is `output` when given (a graph output), else a fresh name from the node's. */
  node(base: string, opType: string, inputs: string[], attribute: Attribute[] = [], output?: string): string {
    const name = this.unique(base);
    const out = output ?? this.unique(`${name}_output`);
    this.nodes.push({ name, op_type: opType, input: inputs, output: [out], attribute });
    return out;
  }

  /** Scalar scale and zero-point initializers of a quantization, shared by every Q/DQ that uses the same one. */
  private scaleAndZeroPoint(q: ValueQuantization): [string, string] {
    const key = `${Math.fround(q.scale)}/${q.dtype}`;
    let names = this.scaleNames.get(key);
    if (!names) {
      const base = `quant_${this.scaleNames.size}`;
      names = [
        this.initializer(`${base}.scale`, [], DataType.FLOAT, Float32Array.of(q.scale)),
        q.dtype === 'uint8' ? this.initializer(`${base}.zero_point`, [], DataType.UINT8, Uint8Array.of(0)) : this.initializer(`${base}.zero_point`, [], DataType.INT8, Int8Array.of(0)),
      ];
      this.scaleNames.set(key, names);
    }
    return names;
  }

  /** `Q → DQ` of a float value; returns the dequantized value's name (`output` when given). */
  quantizeDequantize(base: string, real: string, q: ValueQuantization, output?: string): string {
    const [scale, zeroPoint] = this.scaleAndZeroPoint(q);
    const quantized = this.node(`${base}.QuantizeLinear`, 'QuantizeLinear', [real, scale, zeroPoint]);
    return this.node(`${base}.DequantizeLinear`, 'DequantizeLinear', [quantized, scale, zeroPoint], [], output);
  }

  /** A per-output-channel `DQ(axis 0)` of integer data (weight int8 or bias int32) with zero points 0. */
  dequantizePerChannel(base: string, dims: readonly number[], data: Int8Array | Int32Array, scales: Float32Array): string {
    const int8 = data instanceof Int8Array;
    const type = int8 ? DataType.INT8 : DataType.INT32;
    const values = this.initializer(`${base}_quantized`, dims, type, data);
    const scale = this.initializer(`${base}_scale`, [scales.length], DataType.FLOAT, scales);
    const zeroPoint = this.initializer(`${base}_zero_point`, [scales.length], type, int8 ? new Int8Array(scales.length) : new Int32Array(scales.length));
    return this.node(`${base}.DequantizeLinear`, 'DequantizeLinear', [values, scale, zeroPoint], [int('axis', 0)], base);
  }
}

/** The int8 weight and int32 bias of a quantized conv: `q_w = round(w / s_w[o])` of the gridded weight, `q_b = round(b / (s_x · s_w[o]))`. */
function integerConvParameters(conv: ConvOp, weightScales: Float32Array, inputScale: number, path: string) {
  const perChannel = conv.weight.length / conv.outChannels;
  const weight = new Int8Array(conv.weight.length);
  for (let o = 0; o < conv.outChannels; o++) {
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) weight[i] = Math.round(conv.weight[i]! / weightScales[o]!);
  }
  // onnxruntime's QLinearConv takes the bias on the scale s_x · s_w[o] it computes in float32.
  const biasScales = weightScales.map((s) => Math.fround(inputScale) * s);
  const bias = new Int32Array(conv.outChannels);
  for (let o = 0; o < conv.outChannels; o++) {
    const q = roundHalfEven(conv.bias[o]! / biasScales[o]!);
    if (Math.abs(q) > int32Max) {
      throw new UnsupportedError(`exportOnnx: conv "${path}" channel ${o}: bias ${conv.bias[o]} is past int32 on the scale ${biasScales[o]} (input scale × weight scale); recalibrate with a larger input range`);
    }
    bias[o] = q;
  }
  return { weight, bias, biasScales };
}

/**
 * The bytes of a quantized model's QDQ ONNX file (see the module comment). `options` are the checked
 * options of `toOnnxBytes`.
 */
export function toQdqOnnxBytes(module: Module, quantization: ModelQuantization, o: Resolved, preResidual?: ReadonlyMap<string, ValueQuantization>): Uint8Array {
  if (preResidual !== undefined && !(preResidual instanceof Map)) throw new InvalidArgumentError('exportOnnx: preResidual must be a Map from conv path to { scale, dtype }');
  const { graph, convPaths } = quantizedLowering(module, o.inputShape, quantization);
  return encodeGraph(module, writeGraph(graph, convPaths, o, preResidual), o, graph, []);
}

/** What a calibration model returns besides the logits: per conv path, the ONNX output names. */
export interface CalibrationOutputs {
  /** Each conv's output (after its residual add and ReLU): what `ModelQuantization.activations` quantizes. */
  readonly activations: ReadonlyMap<string, string>;
  /** Each residual conv's output before its add: what `preResidual` quantizes. */
  readonly preResidual: ReadonlyMap<string, string>;
}

/**
 * The float model of the lowered graph (the network `quantize` calibrates) with every conv's output, and
 * each residual conv's output before its add, as extra graph outputs: run in onnxruntime, their ranges
 * give a minmax calibration. @internal
 */
export function calibrationOnnxBytes(module: Module, o: Resolved): { bytes: Uint8Array; outputs: CalibrationOutputs } {
  const { graph, convPaths } = loweredWithConvPaths(module, o.inputShape);
  const written = writeGraph(graph, convPaths, o, undefined);
  const extra = [...written.activations, ...written.preResidual].map(([, name]) => name);
  return { bytes: encodeGraph(module, written, o, graph, extra), outputs: written };
}

interface WrittenGraph extends CalibrationOutputs {
  readonly writer: QdqWriter;
  /** Every extra output's per-sample shape, by name. */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
}

function encodeGraph(module: Module, written: WrittenGraph, o: Resolved, graph: Graph, extraOutputs: readonly string[]): Uint8Array {
  return encodeModel({
    ir_version: irVersionForOpset[o.opset]!,
    opset_import: [{ domain: '', version: o.opset }],
    producer_name: 'resnet-cudnn',
    producer_version: version,
    graph: {
      name: `${module.constructor.name}_qdq`,
      node: written.writer.nodes,
      initializer: written.writer.initializers,
      input: [valueInfo(o.inputName, graph.values[graph.input]!.shape, o.dynamicBatch)],
      output: [
        valueInfo(o.outputName, graph.values[graph.outputs[0]!]!.shape, o.dynamicBatch),
        ...extraOutputs.map((name) => valueInfo(name, written.shapes.get(name)!, o.dynamicBatch)),
      ],
    },
  });
}

/** Writes the graph's ops as ONNX nodes (Q/DQ where values are quantized). */
function writeGraph(graph: QuantizedGraph, convPaths: readonly string[], o: Resolved, preResidual: ReadonlyMap<string, ValueQuantization> | undefined): WrittenGraph {
  if (graph.outputs.length !== 1) throw new UnsupportedError('exportOnnx: a quantized export writes one output');
  const w = new QdqWriter([o.inputName, o.outputName]);
  const activations = new Map<string, string>();
  const preResidualNames = new Map<string, string>();
  const shapes = new Map<string, readonly number[]>();
  const output = graph.outputs[0]!;
  /** ONNX name of the float (real) value of each graph value. */
  const real: string[] = [];
  const quantOf = (v: number): ValueQuantization | undefined => graph.values[v]!.quant;
  /** Writes value `v` computed by `emit` (given the name its float result must take, or none), then Q → DQ when `v` is quantized. */
  const produce = (v: number, base: string, emit: (out: string | undefined) => string): void => {
    const q = quantOf(v);
    const final = v === output ? o.outputName : undefined;
    real[v] = q ? w.quantizeDequantize(base, emit(undefined), q, final) : emit(final);
  };
  const inputQuant = quantOf(graph.input);
  real[graph.input] = inputQuant ? w.quantizeDequantize('input', o.inputName, inputQuant) : o.inputName;
  const unusedPreResidual = new Set(preResidual?.keys() ?? []);

  let convIndex = 0;
  graph.ops.forEach((op, opIndex) => {
    switch (op.op) {
      case 'conv': {
        const path = convPaths[convIndex++]!;
        const quantized = op.weightScales !== undefined && quantOf(op.src) && quantOf(op.dst) && (op.residual < 0 || quantOf(op.residual));
        let weight: string;
        let bias: string;
        const dims = [op.outChannels, op.weight.length / (op.outChannels * op.kernel[0] * op.kernel[1]), ...op.kernel];
        if (quantized) {
          const p = integerConvParameters(op, op.weightScales!, quantOf(op.src)!.scale, path);
          weight = w.dequantizePerChannel(w.unique(`${path}.weight`), dims, p.weight, op.weightScales!);
          bias = w.dequantizePerChannel(w.unique(`${path}.bias`), [op.outChannels], p.bias, p.biasScales);
        } else {
          weight = w.initializer(`${path}.weight`, dims, DataType.FLOAT, op.weight);
          bias = w.initializer(`${path}.bias`, [op.outChannels], DataType.FLOAT, op.bias);
        }
        const attributes = [
          ints('kernel_shape', op.kernel), ints('strides', op.stride),
          ints('pads', [op.padding[0], op.padding[1], op.padding[0], op.padding[1]]),
          ints('dilations', op.dilation), int('group', op.groups),
        ];
        produce(op.dst, path, (out) => {
          const last = (rest: boolean): string | undefined => (rest ? undefined : out);
          let x = w.node(path, 'Conv', [real[op.src]!, weight, bias], attributes, last(op.residual >= 0 || op.relu));
          if (op.residual >= 0) {
            const pre = preResidual?.get(path);
            unusedPreResidual.delete(path);
            preResidualNames.set(path, x);
            shapes.set(x, graph.values[op.dst]!.shape);
            if (pre && quantized) x = w.quantizeDequantize(`${path}.pre_residual`, x, checkValueQuantization(pre, `preResidual "${path}"`));
            x = w.node(`${path}.add`, 'Add', [x, real[op.residual]!], [], last(op.relu));
          }
          if (op.relu) x = w.node(`${path}.relu`, 'Relu', [x], [], out);
          return x;
        });
        activations.set(path, real[op.dst]!);
        shapes.set(real[op.dst]!, graph.values[op.dst]!.shape);
        break;
      }
      case 'maxpool':
        produce(op.dst, `maxpool_${opIndex}`, (out) =>
          w.node(`maxpool_${opIndex}`, 'MaxPool', [real[op.src]!], maxPoolAttributes(op, graph.values[op.src]!.shape, graph.values[op.dst]!.shape, `op ${opIndex}`), out),
        );
        break;
      case 'adaptive_avgpool': {
        const { opType, attributes } = adaptivePoolNode(graph.values[op.src]!.shape, graph.values[op.dst]!.shape, `op ${opIndex}`);
        produce(op.dst, `avgpool_${opIndex}`, (out) => w.node(`avgpool_${opIndex}`, opType, [real[op.src]!], attributes, out));
        break;
      }
      case 'linear': {
        const inFeatures = op.weight.length / op.outFeatures;
        const weight = w.initializer(`linear_${opIndex}.weight`, [op.outFeatures, inFeatures], DataType.FLOAT, op.weight);
        const bias = w.initializer(`linear_${opIndex}.bias`, [op.outFeatures], DataType.FLOAT, op.bias);
        produce(op.dst, `linear_${opIndex}`, (out) => {
          // The lowering's linear reads its source flattened in C, H, W order.
          const flat = graph.values[op.src]!.shape.length > 1 ? w.node(`flatten_${opIndex}`, 'Flatten', [real[op.src]!], [int('axis', 1)]) : real[op.src]!;
          return w.node(`linear_${opIndex}`, 'Gemm', [flat, weight, bias], [int('transB', 1)], out);
        });
        break;
      }
      case 'relu':
        produce(op.dst, `relu_${opIndex}`, (out) => w.node(`relu_${opIndex}`, 'Relu', [real[op.src]!], [], out));
        break;
      case 'add':
        produce(op.dst, `add_${opIndex}`, (out) => {
          const sum = w.node(`add_${opIndex}`, 'Add', [real[op.a]!, real[op.b]!], [], op.relu ? undefined : out);
          return op.relu ? w.node(`relu_${opIndex}`, 'Relu', [sum], [], out) : sum;
        });
        break;
      case 'flatten':
        produce(op.dst, `flatten_${opIndex}`, (out) => w.node(`flatten_${opIndex}`, 'Flatten', [real[op.src]!], [int('axis', 1)], out));
        break;
      default: {
        const never: never = op;
        throw new UnsupportedError(`exportOnnx: no QDQ form for op ${(never as GraphOp).op}`);
      }
    }
  });
  if (unusedPreResidual.size > 0) {
    throw new InvalidArgumentError(`exportOnnx: preResidual names ${[...unusedPreResidual].map((p) => `"${p}"`).join(', ')}, which ${unusedPreResidual.size > 1 ? 'are not convs' : 'is not a conv'} with a residual add`);
  }
  if (real[output] !== o.outputName) w.node('output', 'Identity', [real[output]!], [], o.outputName);
  return { writer: w, activations, preResidual: preResidualNames, shapes };
}
