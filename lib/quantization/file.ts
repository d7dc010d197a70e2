/**
 * Quantized weights files: safetensors holding the model's ordinary state dict (torchvision's keys, float
 * weights, so any reader loads the float model) plus the quantization scales:
 * - `P.weight_scale`: F32 `[O]`, the weight scale of each output channel of the conv at module path `P`;
 * - `P.output_scale`: F32 `[]`, the scale of the value that conv writes (after its fused add and ReLU);
 * - `input_scale`: F32 `[]`, the scale of the model's (normalised) input, absent when the input stays float;
 * - `__metadata__.quantization`: JSON `{"format":1,"method":…,"perChannel":…,"input":"int8"|null,"outputs":{P: "uint8"|"int8"}}`,
 *   the 8-bit type of each quantized value (`input` null: the input and the convs reading it stay float).
 *
 * Weights stay float: the int8 graph puts them on the grid of their scales when it is built, with the one
 * rounding every engine uses (`quantizeWeightToGrid`), so the file is the float model plus a few kilobytes.
 * @module
 */
import { InvalidFileError, StateDictError, invalidArgument } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { Module, StateDict } from '../nn/module.js';
import { Tracer } from '../nn/trace.js';
import { Conv2d } from '../nn/conv.js';
import {
  calibrationMethods, type CalibrationMethod, type ModelQuantization, type QuantizedDType, type ValueQuantization,
} from '../nn/quantization.js';
import { loadSafetensorsFile, saveSafetensors, type SafetensorsContents } from '../io/safetensors.js';

/** The metadata key that marks a quantized file, and the version of its layout. */
export const quantizationMetadataKey = 'quantization';
const formatVersion = 1;
const weightScaleSuffix = '.weight_scale';
const outputScaleSuffix = '.output_scale';
const inputScaleKey = 'input_scale';

/** A weights file's state dict and, for a quantized file, its scales. */
export interface QuantizedWeights {
  /** The ordinary state dict, scales removed. */
  readonly stateDict: StateDict;
  /** The scales, or null for a float file. */
  readonly quantization: ModelQuantization | null;
}

function isScaleKey(key: string): boolean {
  return key === inputScaleKey || key.endsWith(weightScaleSuffix) || key.endsWith(outputScaleSuffix);
}

/** The tensors and metadata of a quantized file for `model` (which must carry a quantization). */
export function quantizedSafetensors(model: Module): SafetensorsContents {
  const q = model?.quantization;
  if (!q) throw invalidArgument('a quantized model (from quantize() or a quantized weights file)', 'model', model);
  const tensors: StateDict = { ...model.stateDict() };
  const scalar = (value: number) => Tensor.from(Float32Array.of(value), []);
  const add = (key: string, t: Tensor) => {
    if (Object.hasOwn(tensors, key)) throw new InvalidFileError(`Cannot save the quantization: the state dict already has a tensor ${key}`);
    tensors[key] = t;
  };
  if (q.input) add(inputScaleKey, scalar(q.input.scale));
  const outputs: Record<string, QuantizedDType> = {};
  for (const [path, value] of q.activations) {
    add(`${path}${outputScaleSuffix}`, scalar(value.scale));
    outputs[path] = value.dtype;
  }
  for (const [path, scales] of q.weightScales) add(`${path}${weightScaleSuffix}`, Tensor.from(Float32Array.from(scales), [scales.length]));
  const metadata = { format: formatVersion, method: q.method, perChannel: q.perChannel, input: q.input?.dtype ?? null, outputs };
  return { tensors, metadata: { [quantizationMetadataKey]: JSON.stringify(metadata) } };
}

/**
 * Writes `model`'s weights and quantization scales to a safetensors file (the format above).
 * @throws InvalidArgumentError for a model without quantization.
 */
export async function saveQuantized(path: string, model: Module): Promise<void> {
  const { tensors, metadata } = quantizedSafetensors(model);
  await saveSafetensors(path, tensors, metadata);
}

function bad(what: string): InvalidFileError {
  return new InvalidFileError(`quantized safetensors file: ${what}; write it with saveQuantized (or resnet quantize)`);
}

function positiveScales(key: string, t: Tensor | undefined, shape: 'scalar' | 'vector'): Float32Array {
  if (!t) throw bad(`${key} is missing`);
  if (t.dtype !== 'float32' || (shape === 'scalar' ? t.ndim !== 0 : t.ndim !== 1)) {
    throw bad(`${key} must be F32 ${shape === 'scalar' ? '[]' : '[channels]'} but is ${t.dtype} [${t.shape.join(', ')}]`);
  }
  const data = t.data as Float32Array;
  if (!data.every((s) => s > 0 && Number.isFinite(s))) throw bad(`${key} holds a scale that is not positive and finite`);
  return data;
}

function quantizedDType(value: unknown, where: string): QuantizedDType {
  if (value !== 'uint8' && value !== 'int8') throw bad(`${where} must be "uint8" or "int8" but is ${JSON.stringify(value)}`);
  return value;
}

/**
 * Separates a safetensors file's scales from its state dict. A file without `__metadata__.quantization`
 * is a float file (its state dict as is).
 * @throws InvalidFileError for malformed quantization metadata, a scale it does not describe, or one it
 *   describes that is missing or not positive.
 */
export function splitQuantized(contents: SafetensorsContents): QuantizedWeights {
  const json = contents.metadata[quantizationMetadataKey];
  if (json === undefined) return { stateDict: contents.tensors, quantization: null };
  let meta: { format?: unknown; method?: unknown; perChannel?: unknown; input?: unknown; outputs?: unknown };
  try {
    meta = JSON.parse(json);
  } catch (cause) {
    throw new InvalidFileError(`quantized safetensors file: __metadata__.${quantizationMetadataKey} is not JSON (${(cause as Error).message})`, { cause });
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw bad(`__metadata__.${quantizationMetadataKey} must be a JSON object`);
  if (meta.format !== formatVersion) throw bad(`format ${JSON.stringify(meta.format)} is not ${formatVersion}, the one this version reads`);
  if (!calibrationMethods.includes(meta.method as CalibrationMethod)) throw bad(`method ${JSON.stringify(meta.method)} is not one of ${calibrationMethods.join(', ')}`);
  if (typeof meta.perChannel !== 'boolean') throw bad('perChannel must be true or false');
  const outputs = meta.outputs;
  if (outputs === null || typeof outputs !== 'object' || Array.isArray(outputs)) throw bad('outputs must map conv paths to "uint8" or "int8"');

  const stateDict: StateDict = {};
  const scales = new Map<string, Tensor>();
  for (const [key, t] of Object.entries(contents.tensors)) {
    if (isScaleKey(key)) scales.set(key, t);
    else stateDict[key] = t;
  }
  const take = (key: string): Tensor | undefined => {
    const t = scales.get(key);
    scales.delete(key);
    return t;
  };
  const input: ValueQuantization | null =
    meta.input === null ? null : { scale: positiveScales(inputScaleKey, take(inputScaleKey), 'scalar')[0]!, dtype: quantizedDType(meta.input, 'input') };
  const activations = new Map<string, ValueQuantization>();
  for (const [path, dtype] of Object.entries(outputs as Record<string, unknown>)) {
    const key = `${path}${outputScaleSuffix}`;
    activations.set(path, Object.freeze({ scale: positiveScales(key, take(key), 'scalar')[0]!, dtype: quantizedDType(dtype, `outputs["${path}"]`) }));
  }
  const weightScales = new Map<string, Float32Array>();
  for (const key of [...scales.keys()]) {
    if (!key.endsWith(weightScaleSuffix)) continue;
    weightScales.set(key.slice(0, -weightScaleSuffix.length), positiveScales(key, take(key), 'vector'));
  }
  if (scales.size > 0) throw bad(`${[...scales.keys()].join(', ')} ${scales.size === 1 ? 'is' : 'are'} not described by its outputs`);
  const quantization: ModelQuantization = Object.freeze({
    method: meta.method as CalibrationMethod, perChannel: meta.perChannel, input: input && Object.freeze(input), activations, weightScales,
  });
  return { stateDict, quantization };
}

/** Each traced conv's module path and output channel count (a conv called twice appears once). */
function convChannels(model: Module): Map<string, number> {
  const first = model.modules().find((m): m is Conv2d => m instanceof Conv2d);
  const trace = Tracer.trace(model, [first?.inChannels ?? 3, 224, 224]);
  const convs = new Map<string, number>();
  for (const node of trace.nodes) if (node.op === 'conv2d') convs.set(node.path, node.module.outChannels);
  return convs;
}

/**
 * Checks that `quantization` describes `model`'s convolutions (traced at 224×224) exactly: an output scale
 * and a weight scale per output channel for each conv, and nothing for a conv the model does not have.
 * @throws StateDictError naming `source` and the first few mismatches.
 */
export function checkQuantizationFits(model: Module, quantization: ModelQuantization, source: string): void {
  const convs = convChannels(model);
  const missingKeys: string[] = [];
  const unexpectedKeys: string[] = [];
  const shapeMismatches: { key: string; expected: number[]; received: number[] }[] = [];
  for (const [path, channels] of convs) {
    if (!quantization.activations.has(path)) missingKeys.push(`${path}${outputScaleSuffix}`);
    const w = quantization.weightScales.get(path);
    if (!w) missingKeys.push(`${path}${weightScaleSuffix}`);
    else if (w.length !== channels) shapeMismatches.push({ key: `${path}${weightScaleSuffix}`, expected: [channels], received: [w.length] });
  }
  for (const path of quantization.activations.keys()) if (!convs.has(path)) unexpectedKeys.push(`${path}${outputScaleSuffix}`);
  for (const path of quantization.weightScales.keys()) if (!convs.has(path)) unexpectedKeys.push(`${path}${weightScaleSuffix}`);
  const problems = [
    ...missingKeys.map((k) => `missing ${k}`),
    ...unexpectedKeys.map((k) => `${k} for a convolution ${model.constructor.name} does not have`),
    ...shapeMismatches.map((m) => `${m.key} has ${m.received[0]} scales for ${m.expected[0]} output channels`),
  ];
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');
    throw new StateDictError(
      `The quantization scales of ${source} do not fit ${model.constructor.name}: ${shown}; quantize this model again (quantize(model, { calibration }))`,
      { missingKeys, unexpectedKeys, shapeMismatches },
    );
  }
}

/**
 * Loads a weights file into `model` in place: strictly, as `loadStateDict`, and for a quantized file its
 * scales into {@link Module.quantization} (checked against the model's convolutions); a float file sets it
 * to null. Resolves to the model. The placement is left as it is: run `model.to('int8')` for int8.
 * @throws InvalidFileError for an unreadable or malformed file; StateDictError for weights or scales that
 *   do not fit the model.
 */
export async function loadQuantized<M extends Module>(model: M, pathOrBytes: string | Uint8Array): Promise<M> {
  const source = typeof pathOrBytes === 'string' ? JSON.stringify(pathOrBytes) : 'the file';
  const { stateDict, quantization } = splitQuantized(await loadSafetensorsFile(pathOrBytes));
  applyWeights(model, stateDict, quantization, source);
  return model;
}

/**
 * Loads a state dict and its quantization (or null) into `model`: the scales are checked first, so a
 * refusal changes nothing.
 * @throws StateDictError as `loadStateDict` does, or for scales that do not fit.
 */
export function applyWeights(model: Module, stateDict: StateDict, quantization: ModelQuantization | null, source: string): void {
  if (quantization) checkQuantizationFits(model, quantization, source);
  model.loadStateDict(stateDict);
  model.quantization = quantization;
}
