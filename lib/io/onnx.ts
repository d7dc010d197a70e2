/**
 * ONNX export: a module's traced forward pass written as an ONNX model that onnxruntime, TensorRT and
 * friends can run. Each traced op becomes the matching ONNX op (Conv, BatchNormalization, Relu, Add,
 * MaxPool, GlobalAveragePool/AveragePool, Flatten, Gemm), so the file reads like the module tree:
 * nodes are named by module path (`layer1.0.conv1`) and initializers by state-dict key
 * (`layer1.0.conv1.weight`), the names torchvision uses.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, UnsupportedError, invalidArgument } from '../errors.js';
import { Module } from '../nn/module.js';
import { Tracer, type Trace, type TraceNode } from '../nn/trace.js';
import type { BatchNorm2d } from '../nn/batchnorm.js';
import type { Conv2d } from '../nn/conv.js';
import type { Tensor } from '../tensor.js';
import { version } from '../version.js';
import { littleEndianBytes } from './endian.js';
import { DataType } from './onnx-schema.js';
import type { ModelQuantization } from '../nn/quantization.js';
import { toQdqOnnxBytes } from './onnx-qdq.js';
import {
  adaptivePoolNode, encodeModel, float, int, ints, irVersionForOpset, maxPoolAttributes, resolveOptions, valueInfo,
  type Attribute, type Initializer, type Node, type OnnxExportOptions, type Resolved,
} from './onnx-writer.js';

export type { OnnxExportOptions } from './onnx-writer.js';

/** Builds the ONNX graph of one trace. Names: nodes by module path, initializers by state-dict key. */
class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  /** Every name in the graph's one value namespace (inputs, outputs, initializers, node outputs). */
  private readonly taken = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly initializerOf = new Map<Tensor, string>();
  private readonly initializerNames = new Set<string>();
  /** State-dict key of every parameter and buffer of the root, by tensor. */
  private readonly keyOf = new Map<Tensor, string>();
  private readonly stateKeys: ReadonlySet<string>;
  private readonly pathOf = new Map<Module, string>();
  private readonly moduleAt = new Map<string, Module>();
  /** ONNX value name of each trace value. */
  readonly valueName: string[] = [];

  constructor(root: Module, trace: Trace, options: Resolved) {
    for (const [key, tensor] of Object.entries(root.stateDict())) if (!this.keyOf.has(tensor)) this.keyOf.set(tensor, key);
    for (const [path, m] of root.namedModules()) {
      this.pathOf.set(m, path);
      this.moduleAt.set(path, m);
    }
    this.stateKeys = new Set(this.keyOf.values());
    for (const key of this.stateKeys) this.taken.add(key);
    this.taken.add(options.inputName);
    this.taken.add(options.outputName);
    this.valueName[trace.input.id] = options.inputName;
    if (trace.output.id !== trace.input.id) this.valueName[trace.output.id] = options.outputName;
  }

  /** `base`, or `base_1`, `base_2`, … : the first that `used` lacks (then marked used). */
  private unique(base: string, used: Set<string>): string {
    let name = base;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  }

  /** The state-dict key of a module's tensor, or (for a module outside the root's tree) a name made from its path. */
  keyFor(tensor: Tensor, modulePath: string, attribute: string): string {
    return this.keyOf.get(tensor) ?? (modulePath ? `${modulePath}.${attribute}` : attribute);
  }

  /** Adds a float32 initializer named `base` (or `base_1`, … should `base` be an initializer already). */
  addInitializer(base: string, dims: readonly number[], data: Float32Array): string {
    let name = base;
    // State-dict keys are reserved for their initializers; any other name must be free.
    const free = (n: string): boolean => !this.initializerNames.has(n) && (!this.taken.has(n) || this.stateKeys.has(n));
    for (let k = 1; !free(name); k++) name = `${base}_${k}`;
    this.initializerNames.add(name);
    this.taken.add(name);
    this.initializers.push({ name, dims: [...dims], data_type: DataType.FLOAT, raw_data: littleEndianBytes(data) });
    return name;
  }

  /** The initializer holding a module's tensor as it is (added on first use, shared after). */
  initializer(tensor: Tensor, modulePath: string, attribute: string): string {
    let name = this.initializerOf.get(tensor);
    if (name === undefined) {
      name = this.addInitializer(this.keyFor(tensor, modulePath, attribute), tensor.shape, tensor.toFloat32().data);
      this.initializerOf.set(tensor, name);
    }
    return name;
  }

  /** The dotted path of the module a node belongs to (its own path for layer ops). */
  modulePath(node: TraceNode): string {
    return 'module' in node ? (this.pathOf.get(node.module) ?? node.path) : node.path;
  }

  /** Emits a node; its output is named after the node unless it is the graph's output. */
  emit(node: TraceNode, opType: string, inputs: string[], attribute: Attribute[], outputValue = node.output): void {
    const path = this.modulePath(node);
    // A leaf module (Conv2d, ReLU, Flatten, …) names its op; an op a container emits itself (the
    // residual add, ResNet's flatten) is named under the container: `layer1.0.add`.
    const emitter = this.moduleAt.get(path);
    const own = 'module' in node || emitter === undefined || emitter.children().length === 0;
    const base = own ? path || opType : path ? `${path}.${node.op}` : node.op;
    const name = this.unique(base, this.nodeNames);
    if (this.valueName[outputValue] === undefined) this.valueName[outputValue] = this.unique(name, this.taken);
    this.nodes.push({ name, op_type: opType, input: inputs, output: [this.valueName[outputValue]!], attribute });
  }

  input(node: TraceNode, index = 0): string {
    return this.valueName[node.inputs[index]!]!;
  }
}

/** For each BatchNorm node that can fold into its conv: conv node → BN node. Legal only when the conv's output has no other reader. */
function foldablePairs(trace: Trace): Map<TraceNode, TraceNode & { op: 'batch_norm2d' }> {
  const readers = new Array<number>(trace.values.length).fill(0);
  for (const node of trace.nodes) for (const v of node.inputs) readers[v]!++;
  readers[trace.output.id]!++;
  const producer = new Map<number, TraceNode>();
  for (const node of trace.nodes) producer.set(node.output, node);
  const pairs = new Map<TraceNode, TraceNode & { op: 'batch_norm2d' }>();
  for (const node of trace.nodes) {
    if (node.op !== 'batch_norm2d') continue;
    const conv = producer.get(node.inputs[0]!);
    if (conv?.op === 'conv2d' && readers[conv.output] === 1) pairs.set(conv, node);
  }
  return pairs;
}

/** Conv weights and bias with an inference BatchNorm folded in, computed in float64. */
function foldBatchNorm(conv: Conv2d, bn: BatchNorm2d): { weight: Float32Array; bias: Float32Array } {
  const w = conv.weight.toFloat32().data;
  const convBias = conv.bias?.toFloat32().data;
  const gamma = bn.weight.toFloat32().data;
  const beta = bn.bias.toFloat32().data;
  const mean = bn.runningMean.toFloat32().data;
  const variance = bn.runningVar.toFloat32().data;
  const outChannels = conv.outChannels;
  const perChannel = w.length / outChannels;
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const scale = gamma[o]! / Math.sqrt(variance[o]! + bn.eps);
    for (let k = o * perChannel; k < (o + 1) * perChannel; k++) weight[k] = w[k]! * scale;
    bias[o] = ((convBias?.[o] ?? 0) - mean[o]!) * scale + beta[o]!;
  }
  return { weight, bias };
}

function buildGraph(root: Module, trace: Trace, options: Resolved): GraphBuilder {
  const b = new GraphBuilder(root, trace, options);
  const folds = options.foldBatchNorm ? foldablePairs(trace) : new Map<TraceNode, TraceNode & { op: 'batch_norm2d' }>();
  const folded = new Set<TraceNode>(folds.values());
  for (const node of trace.nodes) {
    if (folded.has(node)) continue;
    const path = b.modulePath(node);
    switch (node.op) {
      case 'conv2d': {
        const m = node.module;
        const attributes = [
          ints('kernel_shape', m.kernelSize),
          ints('strides', m.stride),
          ints('pads', [m.padding[0], m.padding[1], m.padding[0], m.padding[1]]),
          ints('dilations', m.dilation),
          int('group', m.groups),
        ];
        const bn = folds.get(node);
        if (bn) {
          const { weight, bias } = foldBatchNorm(m, bn.module);
          // The folded values replace the conv's own, under its state-dict names (the bias named as the conv's would be).
          const weightKey = b.keyFor(m.weight, path, 'weight');
          const biasKey = m.bias ? b.keyFor(m.bias, path, 'bias') : weightKey.replace(/(^|\.)weight$/, '$1bias');
          const weightName = b.addInitializer(weightKey, m.weight.shape, weight);
          const biasName = b.addInitializer(biasKey, [m.outChannels], bias);
          b.emit(node, 'Conv', [b.input(node), weightName, biasName], attributes, bn.output);
        } else {
          const inputs = [b.input(node), b.initializer(m.weight, path, 'weight')];
          if (m.bias) inputs.push(b.initializer(m.bias, path, 'bias'));
          b.emit(node, 'Conv', inputs, attributes);
        }
        break;
      }
      case 'batch_norm2d': {
        const m = node.module;
        const inputs = [
          b.input(node),
          b.initializer(m.weight, path, 'weight'),
          b.initializer(m.bias, path, 'bias'),
          b.initializer(m.runningMean, path, 'running_mean'),
          b.initializer(m.runningVar, path, 'running_var'),
        ];
        b.emit(node, 'BatchNormalization', inputs, [float('epsilon', m.eps)]);
        break;
      }
      case 'relu':
        b.emit(node, 'Relu', [b.input(node)], []);
        break;
      case 'add':
        b.emit(node, 'Add', [b.input(node, 0), b.input(node, 1)], []);
        break;
      case 'max_pool2d': {
        const m = node.module;
        const shapes = [trace.values[node.inputs[0]!]!.shape, trace.values[node.output]!.shape] as const;
        const pool = { kernel: m.kernelSize, stride: m.stride, padding: m.padding, dilation: m.dilation };
        b.emit(node, 'MaxPool', [b.input(node)], maxPoolAttributes(pool, ...shapes, path));
        break;
      }
      case 'adaptive_avg_pool2d': {
        const { opType, attributes } = adaptivePoolNode(trace.values[node.inputs[0]!]!.shape, trace.values[node.output]!.shape, path);
        b.emit(node, opType, [b.input(node)], attributes);
        break;
      }
      case 'flatten':
        b.emit(node, 'Flatten', [b.input(node)], [int('axis', 1)]);
        break;
      case 'linear': {
        const m = node.module;
        const inputs = [b.input(node), b.initializer(m.weight, path, 'weight')];
        if (m.bias) inputs.push(b.initializer(m.bias, path, 'bias'));
        b.emit(node, 'Gemm', inputs, [int('transB', 1)]);
        break;
      }
      default: {
        const unknown: never = node;
        throw new UnsupportedError(`exportOnnx: no ONNX form for traced op "${(unknown as TraceNode).op}"`);
      }
    }
  }
  return b;
}

/**
 * Encodes a module as an ONNX model (the bytes of an `.onnx` file). The module is traced at
 * `inputShape`; weights are read as they are now.
 * @throws InvalidArgumentError for bad options (an opset outside 13–23, a bad shape or name).
 * @throws ShapeError when the module cannot run on `inputShape`.
 * @throws UnsupportedError for an adaptive average pool whose windows are not all equal (ONNX has no adaptive pooling).
 */
export function toOnnxBytes(module: Module, options?: OnnxExportOptions): Uint8Array {
  if (!(module instanceof Module)) throw invalidArgument('a Module', 'module', module === null ? null : typeof module);
  const o = resolveOptions(options, ['quantization', 'preResidual']);
  // A module's own quantization is null (or absent) until quantize() or a quantized weights file sets it.
  const quantization = options?.quantization ?? (module as { quantization?: ModelQuantization | null }).quantization;
  if (quantization != null) return toQdqOnnxBytes(module, quantization, o, options?.preResidual);
  if (options?.preResidual !== undefined) throw new InvalidArgumentError('exportOnnx: preResidual goes with a quantized export: give quantization too (or a quantized model)');
  const trace = Tracer.trace(module, o.inputShape);
  const b = buildGraph(module, trace, o);
  if (trace.output.id === trace.input.id) {
    b.nodes.push({ name: 'Identity', op_type: 'Identity', input: [o.inputName], output: [o.outputName], attribute: [] });
  }
  const internal = trace.values.filter((v) => v.id !== trace.input.id && v.id !== trace.output.id && b.valueName[v.id] !== undefined);
  const model = {
    ir_version: irVersionForOpset[o.opset]!,
    opset_import: [{ domain: '', version: o.opset }],
    producer_name: 'resnet-cudnn',
    producer_version: version,
    graph: {
      name: module.constructor.name,
      node: b.nodes,
      initializer: b.initializers,
      input: [valueInfo(o.inputName, trace.input.shape, o.dynamicBatch)],
      output: [valueInfo(o.outputName, trace.output.shape, o.dynamicBatch)],
      value_info: internal.map((v) => valueInfo(b.valueName[v.id]!, v.shape, o.dynamicBatch)),
    },
  };
  return encodeModel(model);
}

/**
 * Writes a module as an ONNX file (see {@link toOnnxBytes} for what is written and what throws).
 * @example
 * ```ts
 * import { exportOnnx, resnet50 } from 'resnet-cudnn';
 * await exportOnnx(resnet50({ weights: 'DEFAULT' }), 'resnet50.onnx', { opset: 17, dynamicBatch: true });
 * ```
 */
export async function exportOnnx(module: Module, file: string, options?: OnnxExportOptions): Promise<void> {
  if (typeof file !== 'string' || file === '') throw invalidArgument('a file path', 'file', file);
  await writeFile(file, toOnnxBytes(module, options));
}
