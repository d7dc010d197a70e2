/**
 * Loading the native addon, and its typed interface. The loader sets the OpenMP environment first
 * (libgomp reads it once, when the addon pulls it in), then tries the candidate binaries in order and,
 * when none loads, throws one {@link NativeLoadError} listing the fixes (sharp's habit).
 * The addon's description types are public (see `backendInfo`); the loader and raw handles are internal.
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Graph } from '../compile/graph.js';
import type { ComputeDType } from '../nn/placement.js';
import { NativeLoadError } from '../errors.js';

/** The CPU backend as the addon reports it. */
export interface CpuBackendInfo {
  readonly available: true;
  readonly library: 'oneDNN';
  /** oneDNN's version, e.g. `2.6.3`. */
  readonly version: string;
  /** The instruction set oneDNN's kernels use on this machine, e.g. `avx512_core`, `avx2`. */
  readonly isa: string;
  /** The CPU budget and default thread count: the CPUs this process may use (affinity, capped by a cgroup CPU quota). */
  readonly threads: number;
  readonly runtime: 'OpenMP' | 'TBB' | 'threadpool' | 'sequential' | 'other';
}

/** The CUDA backend as the addon reports it when a driver, a device and cuDNN all work. */
export interface CudaBackendInfo {
  readonly available: true;
  readonly library: 'cuDNN';
  /** cuDNN's version, e.g. `9.1.0`. */
  readonly version: string;
  /** The file cuDNN was loaded from (see the loader's search order in the README). */
  readonly cudnnPath: string;
  /** The CUDA runtime's version (linked statically into the addon), e.g. `13.0`. */
  readonly cudaRuntime: string;
  /** The CUDA version the installed driver supports, e.g. `12.8`. */
  readonly driver: string;
  /** The number of CUDA devices visible to this process. */
  readonly devices: number;
  /** The name of device 0, e.g. `NVIDIA H100 80GB HBM3`. */
  readonly deviceName: string;
  /** Device 0's compute capability, e.g. `9.0`. */
  readonly computeCapability: string;
  /** Device 0's total memory in bytes. */
  readonly memoryBytes: number;
}

/** A backend this build or this machine cannot offer, and why. */
export interface UnavailableBackendInfo {
  readonly available: false;
  readonly reason: string;
}

/**
 * Which decoder the server's image requests get on this machine, best first: nvJPEG with the GPU's hardware
 * JPEG engines (baseline JPEGs; other JPEGs on nvJPEG's GPU backend), nvJPEG's GPU backend, or sharp on
 * worker threads (which also reads PNG and WebP, and every JPEG nvJPEG cannot take).
 */
export interface ImageDecoderInfo {
  readonly decoder: 'nvjpeg-hardware' | 'nvjpeg-gpu' | 'cpu-workers';
  /** The hardware JPEG engines nvJPEG reports (A100: 1, H100: 7); 0 unless `decoder` is `nvjpeg-hardware`. */
  readonly hardwareEngines: number;
  /** Why this decoder: no GPU, nvJPEG not found (with every path tried), no hardware engines, … */
  readonly reason: string;
  /** The libnvjpeg that was loaded, when one was. */
  readonly nvjpegPath?: string;
  /** Its version, e.g. `13.0.2`. */
  readonly nvjpegVersion?: string;
}

/** What `info()` returns. */
export interface NativeInfo {
  readonly addonVersion: string;
  readonly backends: {
    readonly cpu: CpuBackendInfo;
    readonly cuda: CudaBackendInfo | UnavailableBackendInfo;
  };
  /**
   * The image decoder. Probed on first read, once per process: it loads nvJPEG and, on a GPU, makes one nvJPEG
   * handle, which callers of `info()` that never read it do not pay for.
   */
  readonly imageDecoder: ImageDecoderInfo;
}

/** The backends the addon knows. */
export type BackendName = 'cpu' | 'cuda';

/** The arithmetic of a compiled graph: a {@link ComputeDType}; the CPU backend runs `float32` only. */
export type Precision = ComputeDType;

/**
 * Per-channel input normalisation fused into the input conversion: `x' = (x * scale - mean[c]) / std[c]`
 * (torchvision's `ToTensor` then `Normalize` is `scale: 1/255`).
 */
export interface InputNormalization {
  /** Multiplies the raw input first; default 1. */
  readonly scale?: number;
  /** One value per input channel. */
  readonly mean: readonly number[];
  /** One positive value per input channel. */
  readonly std: readonly number[];
}

/**
 * Options of the addon's `compile`.
 * @internal
 */
export interface NativeCompileOptions {
  readonly backend: BackendName;
  readonly batch: number;
  /** Compute threads for this executable's runs; the backend's default when left out. */
  readonly threads?: number;
  /** CUDA device ordinal; 0 when left out. */
  readonly device?: number;
  /** `float32` when left out. */
  readonly precision?: Precision;
  /** Time candidate algorithms when compiling (CUDA). */
  readonly benchmark?: boolean;
  readonly normalization?: InputNormalization;
}

/**
 * A compiled graph inside the addon. Errors are plain `Error`s with a `code` (see `fromNative`).
 * @internal
 */
export interface NativeExecutable {
  /** `input` is N·C·H·W floats or bytes (NCHW); resolves to one plain row-major array per graph output. */
  run(input: Float32Array | Uint8Array): Promise<Float32Array[] & { deviceMs?: number }>;
  /** Frees the weights and activation memory; idempotent. Later runs reject with `ERR_DISPOSED`. */
  dispose(): void;
  /** Bytes of weights in the backend's layout, shared ones included. */
  readonly weightBytes: number;
  /** Of `weightBytes`, those shared with an earlier executable of the same prepared graph. */
  readonly sharedWeightBytes: number;
  /** Bytes of activation memory (arena and scratchpad) of one execution context. */
  readonly activationBytes: number;
  /** Execution contexts made so far (0 once disposed). */
  readonly contextCount: number;
  /** What compiling chose, for humans; '' where the backend reports nothing, or once disposed. */
  describe(): string;
}

/**
 * A validated graph whose weights were copied into the addon once; executables compiled from it share
 * weight memory.
 * @internal
 */
export interface NativePreparedGraph {
  /** Drops this handle's reference to the weights; idempotent. Later compiles reject with `ERR_DISPOSED`. */
  dispose(): void;
}

/**
 * The addon's exports.
 * @internal
 */
export interface NativeAddon {
  /** Validates `graph` and copies its weights, synchronously; throws coded errors like `compile`. */
  prepare(graph: Graph): NativePreparedGraph;
  compile(graph: Graph | NativePreparedGraph, options: NativeCompileOptions): Promise<NativeExecutable>;
  info(): NativeInfo;
  readonly NativeExecutable: abstract new () => NativeExecutable;
  readonly NativePreparedGraph: abstract new () => NativePreparedGraph;
}

/** Environment variable naming an addon binary to load instead of the one built in this package. */
export const addonPathVariable = 'RESNET_CUDNN_ADDON';

/**
 * OpenMP wait policy set before loading, unless the user chose one (OMP_WAIT_POLICY or GOMP_SPINCOUNT):
 * idle OpenMP threads sleep at once instead of spinning, so they leave the cores to the JS thread and to
 * neighbours. The measurements behind the choice are in native/README.md.
 */
export const defaultWaitPolicy = 'PASSIVE';

let cached: NativeAddon | undefined;

/** The package root: this file is `lib/runtime/native.ts` (tests) or `dist/runtime/native.js`. */
function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** The binaries to try, in order: the user's override first (an override that loses is none), then ours. */
function candidates(): string[] {
  const list: string[] = [];
  const override = process.env[addonPathVariable];
  if (override) list.push(path.resolve(override));
  list.push(path.join(packageRoot(), 'build', 'Release', 'resnet_cudnn.node'));
  return list;
}

function isNativeAddon(value: unknown): value is NativeAddon {
  const addon = value as Partial<NativeAddon> | null;
  return typeof addon?.compile === 'function' && typeof addon.prepare === 'function' && typeof addon.info === 'function' && typeof addon.NativeExecutable === 'function';
}

/**
 * Loads the addon once per process (per worker) and returns it.
 * @internal
 * @throws NativeLoadError when no candidate binary loads, with the fixes.
 */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  // libgomp reads these once, when the addon loads it; GOMP_SPINCOUNT would override the policy's spinning.
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
    process.env.OMP_WAIT_POLICY = defaultWaitPolicy;
  }
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const file of candidates()) {
    if (!existsSync(file)) {
      failures.push(`${file}: not found`);
      continue;
    }
    try {
      const addon: unknown = require(file);
      if (!isNativeAddon(addon)) {
        failures.push(`${file}: not a resnet-cudnn addon (compile, info or NativeExecutable missing)`);
        continue;
      }
      cached = addon;
      return addon;
    } catch (error) {
      failures.push(`${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const missingDnnl = failures.some((line) => line.includes('libdnnl'));
  throw new NativeLoadError(
    [
      'Could not load the resnet-cudnn native addon.',
      ...failures.map((line) => `  tried ${line}`),
      'Possible fixes:',
      '  - build it: npm run build:native (needs cmake >= 3.19, a C++17 compiler and oneDNN)',
      `  - install oneDNN: apt-get install libdnnl-dev (Debian/Ubuntu)${missingDnnl ? '  <- libdnnl could not be loaded' : ''}`,
      `  - or point ${addonPathVariable} at a built resnet_cudnn.node`,
      '  - use Node.js 20 or later (Node-API 8)',
    ].join('\n'),
  );
}
