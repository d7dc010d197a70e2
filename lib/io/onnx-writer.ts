/**
 * What every ONNX export shares (the float export in `onnx.ts`, the QDQ export in `onnx-qdq.ts`): the
 * options and their checks, the plain-object forms of the ONNX messages, attributes, and the encoding.
 * @module
 * @internal
 */
import { InvalidArgumentError, UnsupportedError, invalidArgument } from '../errors.js';
import { checkBoolean, checkOptions } from '../nn/options.js';
import type { ModelQuantization, ValueQuantization } from '../nn/quantization.js';
import { AttributeType, DataType, ModelProto } from './onnx-schema.js';

/** Options of {@link exportOnnx} and {@link toOnnxBytes}. */
export interface OnnxExportOptions {
  /** ONNX opset version (default 17; 13 to 23 are supported). */
  opset?: number;
  /** Give the batch dimension the symbolic size `'batch'` (default true); false fixes it to 1. */
  dynamicBatch?: boolean;
  /** Per-sample input shape the model is traced at (default `[3, 224, 224]`); H and W are fixed in the file. */
  inputShape?: readonly number[];
  /** Name of the graph input (default `'input'`). */
  inputName?: string;
  /** Name of the graph output (default `'output'`). */
  outputName?: string;
  /** Fold each BatchNorm into the convolution before it (default false: keep BatchNormalization nodes). */
  foldBatchNorm?: boolean;
  /**
   * Export as a quantized QDQ model with these scales (default: the module's own `quantization`, when it
   * has one). BatchNorm is then always folded (see `lib/io/onnx-qdq.ts`).
   */
  quantization?: ModelQuantization;
  /**
   * With `quantization`: the range of each residual conv's output before its add (by conv path), so that
   * onnxruntime fuses the conv and the add into integer kernels (see `lib/io/onnx-qdq.ts`).
   */
  preResidual?: ReadonlyMap<string, ValueQuantization>;
}

/**
 * The IR version that goes with each supported opset: the IR version of the ONNX release that
 * introduced the opset (onnx/helper.py's VERSION_TABLE), the newest a runtime for that opset must read.
 */
export const irVersionForOpset: Readonly<Record<number, number>> = {
  13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11,
};

const optionNames = ['opset', 'dynamicBatch', 'inputShape', 'inputName', 'outputName', 'foldBatchNorm'] as const;

/** {@link OnnxExportOptions} checked, with their defaults. @internal */
export interface Resolved {
  opset: number;
  dynamicBatch: boolean;
  inputShape: number[];
  inputName: string;
  outputName: string;
  foldBatchNorm: boolean;
}

/** Checks the options shared by every export; `extra` names options a caller checks itself. @internal */
export function resolveOptions(options: OnnxExportOptions | undefined, extra: readonly string[] = []): Resolved {
  const o = checkOptions(options, [...optionNames, ...extra], 'exportOnnx') as OnnxExportOptions;
  const opset = o.opset ?? 17;
  if (!Number.isInteger(opset) || !(opset in irVersionForOpset)) {
    const known = Object.keys(irVersionForOpset).map(Number);
    throw invalidArgument(`an opset from ${Math.min(...known)} to ${Math.max(...known)}`, 'opset', opset);
  }
  const inputShape = o.inputShape ?? [3, 224, 224];
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw invalidArgument('a non-empty array of positive integers (the per-sample shape, e.g. [3, 224, 224])', 'inputShape', inputShape);
  }
  const name = (value: unknown, what: string): string => {
    if (typeof value !== 'string' || value === '') throw invalidArgument('a non-empty string', what, value);
    return value;
  };
  const inputName = name(o.inputName ?? 'input', 'inputName');
  const outputName = name(o.outputName ?? 'output', 'outputName');
  if (inputName === outputName) throw new InvalidArgumentError(`exportOnnx: inputName and outputName must differ (both are "${inputName}")`);
  return {
    opset,
    dynamicBatch: checkBoolean(o.dynamicBatch ?? true, 'dynamicBatch'),
    inputShape: [...inputShape],
    inputName,
    outputName,
    foldBatchNorm: checkBoolean(o.foldBatchNorm ?? false, 'foldBatchNorm'),
  };
}

// Plain-object forms of the ONNX messages, as protobufjs's `fromObject` takes them.
/** @internal */
export interface Attribute {
  name: string;
  type: number;
  i?: number;
  f?: number;
  ints?: number[];
}
/** @internal */
export interface Node {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: Attribute[];
}
/** @internal */
export interface Initializer {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

/** @internal */
export const ints = (name: string, values: readonly number[]): Attribute => ({ name, type: AttributeType.INTS, ints: [...values] });
/** @internal */
export const int = (name: string, value: number): Attribute => ({ name, type: AttributeType.INT, i: value });
/** @internal */
export const float = (name: string, value: number): Attribute => ({ name, type: AttributeType.FLOAT, f: value });

/**
 * MaxPool's attributes for PyTorch's output size. PyTorch's ceil mode drops a last window that would start
 * in the right padding; ONNX before opset 22 does not (its shape inference then disagrees with runtimes
 * that follow PyTorch). So `ceil_mode` is set only where ceiling really adds a window, which is exactly
 * where the two agree; elsewhere floor mode gives PyTorch's size already. `input` and `output` are
 * per-sample `[C, H, W]` shapes. @internal
 */
export function maxPoolAttributes(
  m: { kernel: readonly number[]; stride: readonly number[]; padding: readonly number[]; dilation: readonly number[] },
  input: readonly number[],
  output: readonly number[],
  where: string,
): Attribute[] {
  const span = (i: number): number => input[i + 1]! + 2 * m.padding[i]! - m.dilation[i]! * (m.kernel[i]! - 1) - 1;
  const floorSize = (i: number): number => Math.floor(span(i) / m.stride[i]!) + 1;
  const ceilSize = (i: number): number => Math.ceil(span(i) / m.stride[i]!) + 1;
  const needsCeil = [0, 1].some((i) => output[i + 1] !== floorSize(i));
  if (needsCeil && [0, 1].some((i) => output[i + 1] !== ceilSize(i))) {
    throw new UnsupportedError(
      `exportOnnx: MaxPool2d at "${where}" with ceilMode adds a last window in one dimension but drops it (as PyTorch does when it would start in the padding) in the other at input size ${input.slice(1).join('x')}, which ONNX's MaxPool cannot express; export with another inputShape`,
    );
  }
  return [
    ints('kernel_shape', m.kernel),
    ints('strides', m.stride),
    ints('pads', [m.padding[0]!, m.padding[1]!, m.padding[0]!, m.padding[1]!]),
    ints('dilations', m.dilation),
    int('ceil_mode', needsCeil ? 1 : 0),
  ];
}

/**
 * The ONNX op for an adaptive average pool from per-sample `[C, H, W]` shapes: global when 1×1, fixed
 * windows when they divide evenly. @internal
 */
export function adaptivePoolNode(input: readonly number[], output: readonly number[], where: string): { opType: string; attributes: Attribute[] } {
  const [, h, w] = input as [number, number, number];
  const [, oh, ow] = output as [number, number, number];
  if (oh === 1 && ow === 1) return { opType: 'GlobalAveragePool', attributes: [] };
  if (h % oh !== 0 || w % ow !== 0) {
    throw new UnsupportedError(
      `exportOnnx: AdaptiveAvgPool2d at "${where}" pools a ${h}x${w} map to ${oh}x${ow}, which does not divide evenly; ` +
        'ONNX has no adaptive pooling, so only 1x1 outputs or sizes that divide the input can be exported. Choose an inputShape whose feature map divides evenly',
    );
  }
  const kernel = [h / oh, w / ow];
  return { opType: 'AveragePool', attributes: [ints('kernel_shape', kernel), ints('strides', kernel)] };
}

/** A graph input/output/value_info entry of a float32 tensor with a leading batch dimension. @internal */
export function valueInfo(name: string, shape: readonly number[], dynamicBatch: boolean): object {
  const batch = dynamicBatch ? { dim_param: 'batch' } : { dim_value: 1 };
  return {
    name,
    type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [batch, ...shape.map((d) => ({ dim_value: d }))] } } },
  };
}

/** The bytes of a ModelProto given as a plain object. @internal */
export function encodeModel(model: object): Uint8Array {
  const encoded = ModelProto.encode(ModelProto.fromObject(model)).finish();
  // protobufjs hands back a Node Buffer, small ones slices of a shared pool: return a plain array of our own.
  const out = new Uint8Array(encoded.length);
  out.set(encoded);
  return out;
}

