/**
 * State dicts: their types, and the conversions behind `Module.loadStateDict`: a state dict given as an
 * object or a Map, and each value converted to the dtype of the tensor it fills (PyTorch's `copy_` rules
 * for checkpoints). The types are public (re-exported by the module tree); the conversions are internal.
 * @module
 */
import { StateDictError, invalidArgument, type ShapeMismatch } from '../errors.js';
import { Tensor, formatShape } from '../tensor.js';
import type { DType, TensorData } from '../tensor.js';

/** Parameters and buffers by dotted name, in PyTorch's order. */
export type StateDict = Record<string, Tensor>;

/** What {@link Module.loadStateDict} reports (PyTorch's `_IncompatibleKeys`). */
export interface LoadStateDictResult {
  /** Keys the module expects that the state dict lacks. */
  readonly missingKeys: string[];
  /** Keys of the state dict that the module does not have. */
  readonly unexpectedKeys: string[];
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** Throw when keys are missing or unexpected (default true). Shape mismatches throw either way. */
  strict?: boolean;
}

/** A parameter or buffer of a module tree, by its dotted key. @internal */
export interface StateEntry {
  readonly tensor: Tensor;
  /** The state dict may lack it without its key being reported missing (BatchNorm's `num_batches_tracked`). */
  readonly optional: boolean;
}

/** What {@link planLoad} found: the copies to make (all checked), and the keys reported. @internal */
export interface LoadPlan {
  /** Each target with the values to copy into it, already of its own array type. */
  readonly copies: readonly [Tensor, TensorData][];
  readonly missingKeys: string[];
  readonly unexpectedKeys: string[];
}

/**
 * Matches `given` against the module's `expected` entries as PyTorch's `load_state_dict` does, converting
 * each value to its target's dtype, and copies nothing: the caller copies once everything is known good.
 * @throws StateDictError worded as PyTorch's, for shape or dtype mismatches, and (with `strict`) missing
 *   or unexpected keys.
 * @internal
 */
export function planLoad(expected: ReadonlyMap<string, StateEntry>, given: ReadonlyMap<string, Tensor>, strict: boolean, moduleName: string): LoadPlan {
  const missingKeys: string[] = [];
  const shapeMismatches: ShapeMismatch[] = [];
  const problems: string[] = [];
  const copies: [Tensor, TensorData][] = [];
  for (const [key, entry] of expected) {
    const source = given.get(key);
    if (source === undefined) {
      if (!entry.optional) missingKeys.push(key);
      continue;
    }
    const target = entry.tensor;
    // PyTorch's compatibility rule: a one-element 1-D value may fill a scalar.
    const sameShape =
      (source.ndim === target.ndim && source.shape.every((d, i) => d === target.shape[i])) ||
      (target.ndim === 0 && source.ndim === 1 && source.shape[0] === 1);
    if (!sameShape) {
      shapeMismatches.push({ key, expected: target.shape, received: source.shape });
      problems.push(
        `size mismatch for ${key}: copying a param with shape ${formatShape(source.shape)} from checkpoint, the shape in current model is ${formatShape(target.shape)}.`,
      );
      continue;
    }
    const converted = convertFor(target, source);
    if (typeof converted === 'string') {
      problems.push(`dtype mismatch for ${key}: ${converted}`);
      continue;
    }
    copies.push([target, converted]);
  }
  const unexpectedKeys = [...given.keys()].filter((key) => !expected.has(key));

  const messages = [...problems];
  if (strict && unexpectedKeys.length > 0) {
    messages.unshift(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}. `);
  }
  if (strict && missingKeys.length > 0) {
    messages.unshift(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}. `);
  }
  if (messages.length > 0) {
    throw new StateDictError(
      `Error(s) in loading state_dict for ${moduleName}:\n\t${messages.join('\n\t')}`,
      { missingKeys, unexpectedKeys, shapeMismatches },
    );
  }
  return { copies, missingKeys, unexpectedKeys };
}

/** The entries of a state dict given as an object or a Map, each checked to be a Tensor. @internal */
export function toEntries(stateDict: unknown): Map<string, Tensor> {
  let entries: [string, unknown][];
  if (stateDict instanceof Map) entries = [...(stateDict as Map<string, unknown>)];
  else if (typeof stateDict === 'object' && stateDict !== null && !Array.isArray(stateDict)) entries = Object.entries(stateDict);
  else throw invalidArgument('a state dict (an object or Map of Tensors by name)', 'stateDict', stateDict);
  for (const [key, value] of entries) {
    if (!(value instanceof Tensor)) throw invalidArgument('a Tensor', `stateDict["${key}"]`, value);
  }
  return new Map(entries as [string, Tensor][]);
}

/** Float dtypes a float32 parameter may be loaded from. */
const floatDTypes: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16'];
const intDTypes: readonly DType[] = ['int64', 'int32', 'int16', 'int8', 'uint8'];

/** @internal `source`'s values in `target`'s dtype (a fresh array, or source's own when it needs no conversion), or why not. */
export function convertFor(target: Tensor, source: Tensor): TensorData | string {
  if (target.dtype === 'float32') {
    if (!floatDTypes.includes(source.dtype)) {
      return `copying a param of dtype ${source.dtype} from checkpoint, the param in current model is float32 (a floating-point value is needed).`;
    }
    return source.toFloat32().data;
  }
  if (target.dtype === 'int64') {
    if (intDTypes.includes(source.dtype)) return source.to('int64').data;
    if (floatDTypes.includes(source.dtype) && source.toFloat32().data.every((v) => Number.isInteger(v))) {
      return source.to('int64').data;
    }
    return `copying a param of dtype ${source.dtype} from checkpoint, the param in current model is int64 (integer values are needed).`;
  }
  if (source.dtype === target.dtype) return source.data;
  return `copying a param of dtype ${source.dtype} from checkpoint, the param in current model is ${target.dtype}.`;
}
