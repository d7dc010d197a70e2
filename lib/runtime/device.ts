/**
 * Devices and compute dtypes: parsing what the user wrote (`'cuda:1'`, `'bfloat16'`), resolving `'auto'`
 * against what this machine offers, and the rules that tie the two together (the CPU runs float32 only).
 * This is the {@link PlacementResolver} behind `module.to(...)`, installed by the package entry point.
 *
 * `'auto'` takes `cuda:0` when `backendInfo().backends.cuda.available` (a driver, a device and cuDNN all
 * work) and the CPU otherwise, silently. When it falls back to the CPU it also falls back to `float32`
 * whatever dtype was asked, since the CPU runs nothing else; `module.dtype` reports the dtype really used.
 * @module
 */
import { UnsupportedError, invalidArgument } from '../errors.js';
import {
  computeDTypes, isComputeDType,
  type ComputeDType, type Device, type DeviceSpec, type Placement, type PlacementOptions, type PlacementResolver,
} from '../nn/placement.js';
import { backendInfo } from './engine.js';
import type { BackendName } from './native.js';

export { computeDTypes, type ComputeDType, type Device, type DeviceSpec, type Placement, type PlacementOptions } from '../nn/placement.js';

/** The largest device ordinal the addon accepts (`cuda:1023`). */
export const maxDeviceOrdinal = 1023;

/** A parsed {@link DeviceSpec}, like `torch.device`'s `type` and `index`. */
export type ParsedDevice = { readonly type: 'cpu' } | { readonly type: 'auto' } | { readonly type: 'cuda'; readonly index: number };

const devicePattern = /^cuda:(0|[1-9][0-9]{0,3})$/;

/**
 * Parses a device name. `'cuda'` is `cuda:0`. Ordinals are written without sign or leading zeros.
 * @throws InvalidArgumentError "Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for device but received …".
 */
export function parseDevice(value: unknown, name = 'device'): ParsedDevice {
  if (value === 'cpu' || value === 'auto') return { type: value };
  if (value === 'cuda') return { type: 'cuda', index: 0 };
  const match = typeof value === 'string' ? devicePattern.exec(value) : null;
  const index = match ? Number(match[1]) : NaN;
  if (!(index <= maxDeviceOrdinal)) throw invalidArgument(`'cpu', 'cuda', 'cuda:N' or 'auto'`, name, value);
  return { type: 'cuda', index };
}

/**
 * Checks a compute dtype name.
 * @throws InvalidArgumentError "Expected 'float32', 'tf32', 'float16', 'bfloat16' or 'int8' for dtype but received …".
 */
export function checkComputeDType(value: unknown, name = 'dtype'): ComputeDType {
  if (isComputeDType(value)) return value;
  const choices = computeDTypes.map((d) => `'${d}'`);
  throw invalidArgument(`${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`, name, value);
}

/** True when the CUDA backend is built in and a driver, a device and cuDNN all work here. */
export function cudaAvailable(): boolean {
  return backendInfo().backends.cuda.available;
}

/**
 * The device a spec names on this machine: `'cuda'` → `'cuda:0'`; `'auto'` → `'cuda:0'` when
 * {@link cudaAvailable}, else `'cpu'`.
 */
export function resolveDevice(spec: DeviceSpec, isCudaAvailable: () => boolean = cudaAvailable): Device {
  const parsed = parseDevice(spec);
  if (parsed.type === 'auto') return isCudaAvailable() ? 'cuda:0' : 'cpu';
  return parsed.type === 'cpu' ? 'cpu' : `cuda:${parsed.index}`;
}

/**
 * Validates `request` and resolves it against `current` (what the request leaves out stays as it is).
 * `'auto'` is resolved now, once; when it lands on the CPU the dtype becomes `float32`.
 * Whether an explicitly named GPU works is found out by the first forward (which then rejects with a
 * `BackendUnavailableError`), not here.
 * @throws InvalidArgumentError for a misspelt device, dtype or benchmark flag; UnsupportedError for a
 * dtype other than float32 on the CPU.
 */
export function resolvePlacement(
  request: PlacementOptions,
  current: Placement,
  isCudaAvailable: () => boolean = cudaAvailable,
): Placement {
  let dtype = request.dtype === undefined ? current.dtype : checkComputeDType(request.dtype);
  let benchmark = current.benchmark;
  if (request.benchmark !== undefined) {
    if (typeof request.benchmark !== 'boolean') throw invalidArgument('a boolean', 'benchmark', request.benchmark);
    benchmark = request.benchmark;
  }
  let device = current.device;
  if (request.device !== undefined) {
    const parsed = parseDevice(request.device);
    device = resolveDevice(request.device, isCudaAvailable);
    if (parsed.type === 'auto' && device === 'cpu') dtype = 'float32';
  }
  if (device === 'cpu' && dtype !== 'float32' && dtype !== 'int8') {
    throw new UnsupportedError(
      `dtype '${dtype}' needs a CUDA device: the CPU backend runs float32 and int8 only; use device 'cuda' (or 'auto', which falls back to float32 on the CPU), or dtype 'float32'`,
    );
  }
  return Object.freeze({ device, dtype, benchmark });
}

/** The {@link PlacementResolver} the package entry point installs. @internal */
export const placementResolver: PlacementResolver = { resolve: (request, current) => resolvePlacement(request, current) };

/** What the engine needs to compile for `device`: the backend and, for a GPU, its ordinal. */
export function backendOf(device: Device): { backend: BackendName; device?: number } {
  if (device === 'cpu') return { backend: 'cpu' };
  const parsed = parseDevice(device);
  if (parsed.type !== 'cuda') throw invalidArgument(`'cpu' or 'cuda:N'`, 'device', device);
  return { backend: 'cuda', device: parsed.index };
}
