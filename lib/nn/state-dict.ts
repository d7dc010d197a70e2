/**
 * The state-dict conversions behind `Module.loadStateDict`: a state dict given as an object or a Map,
 * and each value converted to the dtype of the tensor it fills (PyTorch's `copy_` rules for checkpoints).
 * @internal
 * @module
 */
import { invalidArgument } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { DType, TensorData } from '../tensor.js';

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
