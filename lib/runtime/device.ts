/**
 * Devices and compute dtypes: parsing what the user wrote (`'cuda:1'`, `'bfloat16'`), resolving `'auto'`
 * against what this machine offers, and the rules that tie the two together (the CPU runs float32, int8,
 * and bfloat16 where it has AVX512-BF16 or AMX). This is the {@link PlacementResolver} behind
 * `module.to(...)`, installed by the package entry point.
 *
 * `'auto'` takes `cuda:0` when `backendInfo().backends.cuda.available` (a driver, a device and cuDNN all
 * work) and the CPU otherwise. On the CPU a dtype it cannot run (tf32, float16; bfloat16 without native
 * bfloat16) falls back to `float32`, with a process warning of code {@link dtypeFallbackWarning} that says
 * why; `module.dtype` reports the dtype really used.
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

/** The `code` of the process warning emitted when `'auto'` lands on the CPU and runs float32 instead of the dtype asked. */
export const dtypeFallbackWarning = 'RESNET_DTYPE_FALLBACK';

/** What the CPU backend runs besides float32 and int8, as placement needs it (from `backendInfo().backends.cpu`). */
export interface CpuPrecisionSupport {
  /** oneDNN's effective instruction set, e.g. `avx512_core_bf16`. */
  readonly isa: string;
  /** True when that instruction set computes bfloat16 in hardware (AVX512-BF16 or AMX). */
  readonly bfloat16: boolean;
}

let cpuSupport: CpuPrecisionSupport | undefined;

/**
 * This CPU's {@link CpuPrecisionSupport}, read from the addon once; null when the addon cannot be loaded
 * (compiling then says why, and refuses what the CPU cannot run).
 */
export function cpuPrecisionSupport(): CpuPrecisionSupport | null {
  if (cpuSupport === undefined) {
    try {
      const { isa, bfloat16 } = backendInfo().backends.cpu;
      cpuSupport = { isa, bfloat16 };
    } catch {
      return null;
    }
  }
  return cpuSupport;
}

/** Why this CPU does not run bfloat16: the same words as the CPU backend's refusal to compile it. */
export function cpuBFloat16Refusal(isa: string): string {
  return `bfloat16 on the CPU needs AVX512-BF16 or AMX (this CPU's oneDNN ISA is ${isa}); use dtype 'float32'`;
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
 * `'auto'` is resolved now, once; when it lands on the CPU a dtype the CPU cannot run becomes `float32`,
 * and one process warning (code {@link dtypeFallbackWarning}) says so and why.
 * Whether an explicitly named GPU works is found out by the first forward (which then rejects with a
 * `BackendUnavailableError`), not here.
 * @param cpu what the CPU runs natively; null when unknown (the compile then decides).
 * @throws InvalidArgumentError for a misspelt device, dtype or benchmark flag; UnsupportedError for tf32
 * or float16 on the CPU, and for bfloat16 on a CPU without AVX512-BF16 or AMX.
 */
export function resolvePlacement(
  request: PlacementOptions,
  current: Placement,
  isCudaAvailable: () => boolean = cudaAvailable,
  cpu: () => CpuPrecisionSupport | null = cpuPrecisionSupport,
): Placement {
  let dtype = request.dtype === undefined ? current.dtype : checkComputeDType(request.dtype);
  let benchmark = current.benchmark;
  if (request.benchmark !== undefined) {
    if (typeof request.benchmark !== 'boolean') throw invalidArgument('a boolean', 'benchmark', request.benchmark);
    benchmark = request.benchmark;
  }
  let device = current.device;
  let auto = false;
  if (request.device !== undefined) {
    auto = parseDevice(request.device).type === 'auto';
    device = resolveDevice(request.device, isCudaAvailable);
  }
  if (device === 'cpu') {
    const refusal = cpuRefusal(dtype, cpu);
    if (refusal !== null && auto) {
      process.emitWarning(`device 'auto' runs on the CPU here, in float32 rather than ${dtype}: ${refusal.reason}`, { code: dtypeFallbackWarning });
      dtype = 'float32';
    } else if (refusal !== null) {
      throw new UnsupportedError(refusal.message);
    }
  }
  return Object.freeze({ device, dtype, benchmark });
}

/** Why the CPU cannot run `dtype` (a short reason, and the full message of an explicit request), or null when it can. */
function cpuRefusal(dtype: ComputeDType, cpu: () => CpuPrecisionSupport | null): { reason: string; message: string } | null {
  if (dtype === 'tf32' || dtype === 'float16') {
    return {
      reason: `${dtype} needs a CUDA device, and none works`,
      message: `dtype '${dtype}' needs a CUDA device: the CPU backend runs float32, bfloat16 and int8 only; use device 'cuda' (or 'auto', which falls back to float32 on the CPU), or dtype 'float32'`,
    };
  }
  if (dtype !== 'bfloat16') return null;
  const support = cpu();
  if (support === null || support.bfloat16) return null;
  const message = cpuBFloat16Refusal(support.isa);
  return { reason: message.slice(0, message.indexOf(';')), message };
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
