/**
 * Where a module runs and in which arithmetic: the vocabulary of `module.to(...)`. Model code only
 * stores a {@link Placement}; turning a request (`'auto'`, `'cuda'`) into one needs to know the machine,
 * which is the runtime's business, reached through an installed {@link PlacementResolver} (the same seam
 * as `ForwardExecutor`), so that model code never imports the runtime.
 * @module
 */
import { UnsupportedError, invalidArgument } from '../errors.js';
import { checkOptions } from './options.js';

/**
 * A device as the user may name it: `'cpu'`, `'cuda'` (= `'cuda:0'`), `'cuda:N'` (the N-th GPU) or
 * `'auto'` (the first GPU when one works, the CPU otherwise).
 */
export type DeviceSpec = 'cpu' | 'cuda' | `cuda:${number}` | 'auto';

/** A device a module is actually placed on: `'cpu'` or `'cuda:N'` (never `'auto'` or a bare `'cuda'`). */
export type Device = 'cpu' | `cuda:${number}`;

/**
 * The arithmetic of a compiled forward. `float32`: float storage and math (on a GPU with TF32 off);
 * `tf32`: float storage, TF32 tensor-core math; `float16`, `bfloat16`: half-width storage of weights and
 * activations, float32 accumulation; `int8`: the convolutions of a quantized model (see `quantize`) in
 * 8-bit integers with its scales. Inputs and outputs stay float32 (or uint8 input) on the host whatever
 * the compute dtype.
 */
export type ComputeDType = 'float32' | 'tf32' | 'float16' | 'bfloat16' | 'int8';

/** Every {@link ComputeDType}, in order of width. */
export const computeDTypes: readonly ComputeDType[] = ['float32', 'tf32', 'float16', 'bfloat16', 'int8'];

/** True when `value` names a {@link ComputeDType}. */
export function isComputeDType(value: unknown): value is ComputeDType {
  return typeof value === 'string' && (computeDTypes as readonly string[]).includes(value);
}

/** Where a module runs, as resolved by `module.to(...)`. */
export interface Placement {
  readonly device: Device;
  /** The dtype really used (after `'auto'` fell back to the CPU, `float32`). */
  readonly dtype: ComputeDType;
  /** Time the candidate cuDNN algorithms when compiling and keep the fastest (ignored on the CPU). */
  readonly benchmark: boolean;
}

/** The options of `module.to({...})`; what is left out keeps its current value. */
export interface PlacementOptions {
  device?: DeviceSpec;
  dtype?: ComputeDType;
  /**
   * Time the candidate algorithms of each convolution when compiling and keep the fastest, like
   * `torch.backends.cudnn.benchmark` (slower first forward per batch size; ignored on the CPU). Default false.
   */
  benchmark?: boolean;
}

/** Where every module starts, as in PyTorch: the CPU, float32. */
export const defaultPlacement: Placement = Object.freeze({ device: 'cpu', dtype: 'float32', benchmark: false });

/**
 * Validates a placement request and resolves it against the module's current placement. The runtime
 * installs one (it knows whether a GPU works); model code never imports the runtime.
 */
export interface PlacementResolver {
  /** @throws InvalidArgumentError for a misspelt request; UnsupportedError for a combination no backend runs. */
  resolve(request: PlacementOptions, current: Placement): Placement;
}

let resolver: PlacementResolver | null = null;

/** Installs (or, with null, removes) the process-wide resolver behind `module.to(...)`. @internal */
export function setPlacementResolver(next: PlacementResolver | null): void {
  if (next !== null && typeof next?.resolve !== 'function') {
    throw invalidArgument('an object with a resolve(request, current) method, or null', 'resolver', next);
  }
  resolver = next;
}

/** The installed resolver, or null when the runtime is not loaded. @internal */
export function placementResolver(): PlacementResolver | null {
  return resolver;
}

/**
 * What `module.to(target)` asks for, resolved against the module's `current` placement by the installed
 * resolver: `target` is a device name, a dtype name or an options object; `owner` names the module in errors.
 * @throws InvalidArgumentError for a target of none of those forms or an unknown option; UnsupportedError
 *   when the runtime is not loaded (so no resolver is installed); the resolver's errors.
 * @internal
 */
export function resolvePlacement(owner: string, target: DeviceSpec | ComputeDType | PlacementOptions, current: Placement): Placement {
  let request: PlacementOptions;
  if (typeof target === 'string') request = isComputeDType(target) ? { dtype: target } : { device: target };
  else if (typeof target === 'object' && target !== null && !Array.isArray(target)) {
    request = checkOptions(target, ['device', 'dtype', 'benchmark'], 'to');
  } else {
    throw invalidArgument(`a device ('cpu', 'cuda', 'cuda:N', 'auto'), a dtype or an options object`, 'to', target);
  }
  if (resolver === null) {
    throw new UnsupportedError(
      `${owner}.to needs the runtime, which is installed by the package entry point: import the models from 'resnet-cudnn' rather than from a file inside the package`,
    );
  }
  return resolver.resolve(request, current);
}
