/**
 * Loading the native addon, and its typed interface. The loader sets the OpenMP environment first
 * (libgomp reads it once, when the addon pulls it in), then tries the candidate binaries in order
 * (addon-resolution.ts: the override, the local build, the prebuilt binary) and, when none loads, throws one
 * NativeLoadError that says what was tried, why each failed and the fixes (sharp's habit).
 * The addon's description types are public (see `backendInfo`); the loader and raw handles are internal.
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { packageRootOf } from './package-root.js';
import type { Graph } from '../compile/graph.js';
import type { ComputeDType } from '../nn/placement.js';
import { addonCandidates, currentPlatform, resolveAddon } from './addon-resolution.js';

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
  /**
   * The low-precision instruction sets this CPU has and the OS enabled (CPUID), in Linux's `/proc/cpuinfo`
   * spelling, among `avx_vnni`, `avx512_vnni`, `avx512_bf16`, `amx_int8`, `amx_bf16`, in that order. `isa`
   * may use fewer of them (oneDNN's `ONEDNN_MAX_CPU_ISA` caps it).
   */
  readonly lowPrecisionIsas: readonly LowPrecisionIsa[];
  /** True when `isa` computes bfloat16 in hardware (`avx512_core_bf16` or `avx512_core_amx`): dtype `bfloat16` runs here. */
  readonly bfloat16: boolean;
}

/** A low-precision instruction set as Linux's `/proc/cpuinfo` names it. */
export type LowPrecisionIsa = 'avx_vnni' | 'avx512_vnni' | 'avx512_bf16' | 'amx_int8' | 'amx_bf16';

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

/**
 * The arithmetic of a compiled graph: a {@link ComputeDType}; the CPU backend runs `float32`, `int8`, and
 * `bfloat16` where {@link CpuBackendInfo.bfloat16}.
 */
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
  /**
   * The input dtypes it applies to; default all. A server passes `['uint8']`: pixels are normalised, float
   * tensors are taken as the model's input as they are.
   */
  readonly inputs?: readonly InputDType[];
}

/** Element types a run's input may have. */
export type InputDType = 'float32' | 'float16' | 'uint8';

/** Layouts a run's input may have: `[N, C, H, W]` or `[N, H, W, C]` (what image decoders produce). */
export type InputLayout = 'nchw' | 'nhwc';

/**
 * The CUDA backend's graph-API and verbosity knobs for one compile. What is left out takes the process
 * environment's value, read once (the variable named with each field), or the default. The CPU backend
 * ignores them.
 */
export interface CudnnOptions {
  /**
   * Let convs take cuDNN's graph API (conv, bias, residual and ReLU in one engine) where its plans pass the
   * trial run; false keeps every conv on the legacy API. Default true (`RESNET_CUDNN_GRAPH=0` makes it false).
   */
  readonly graphApi?: boolean;
  /**
   * Graph-API execution plans built per distinct conv graph, 1 to 16. Default 1, or 3 with `benchmark`
   * (`RESNET_CUDNN_GRAPH_CANDIDATES`).
   */
  readonly graphCandidates?: number;
  /**
   * Milliseconds a compile may spend building graph-API plans (NVRTC may compile a kernel for each), after
   * which the convs still without plans stay on the legacy API; 0 for no limit. Default 30000
   * (`RESNET_CUDNN_GRAPH_BUDGET_MS`).
   */
  readonly graphBudgetMs?: number;
  /**
   * Print `describe()` to stderr when compiled, and each failed CUDA-graph capture when it happens.
   * Default false (`RESNET_CUDNN_VERBOSE=1` makes it true).
   */
  readonly verbose?: boolean;
  /**
   * The form of the stem (the first conv, when it alone reads a graph input of at most 4 channels): `'auto'`
   * (the default) times the forms the graph allows, each with the input conversion that feeds it, and keeps
   * the fastest; the others force one. `'direct'`: the input padded to 4 floats or 8 halves; `'space_to_depth'`:
   * a stride-s stem as a stride-1 conv over the s×s space-to-depth of the input; `'four_channel'`: the input
   * padded to 4 channels (16-bit precisions). A form the graph does not allow fails the compile, saying why.
   * `describe()` names the form and the times. No environment variable sets it.
   */
  readonly stem?: StemForm;
}

/** The forms of {@link CudnnOptions.stem}. */
export type StemForm = 'auto' | 'direct' | 'space_to_depth' | 'four_channel';

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
  /** The CUDA backend's knobs over the environment's (ignored by `cpu`). */
  readonly cudnn?: CudnnOptions;
}

/**
 * A compiled graph inside the addon. Errors are plain `Error`s with a `code` (see `fromNative`).
 * @internal
 */
export interface NativeExecutable {
  /**
   * `input` is N·C·H·W elements of `dtype` (inferred from a Float32Array or Uint8Array when left out) in
   * `layout` (default `nchw`): one typed array, or typed arrays laid end to end. Arrays in host memory lent
   * to runs are read in place; the rest is copied before this returns. Resolves to one plain row-major
   * array per graph output.
   */
  run(input: ArrayBufferView | readonly ArrayBufferView[], dtype?: InputDType, layout?: InputLayout): Promise<Float32Array[] & { deviceMs?: number }>;
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
  /** The batch size it was compiled for. */
  readonly batch: number;
  /** The graph's per-sample input shape, `[C, H, W]`. */
  readonly inputShape: readonly number[];
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
 * One registration of host memory with the engine.
 * @internal
 */
export interface NativeHostRegistration {
  /** Page-locked for DMA (CUDA). */
  readonly pinned: boolean;
  /** Why it is not pinned, where that is worth saying ('' otherwise). */
  readonly note: string;
  readonly bytes: number;
  /** Ends the loan (and the pin) and lets the memory go; idempotent. */
  dispose(): void;
}

/**
 * A byte range of a POSIX shared-memory object mapped read-write (MAP_SHARED). `buffer` starts at the
 * page that holds the range's offset; the range is `byteLength` bytes from `byteOffset` in it. Errors are
 * plain `Error`s with a `code`.
 * @internal
 */
export interface NativeSharedMemoryMapping {
  /** The mapping as an external ArrayBuffer; null once closed. */
  readonly buffer: ArrayBuffer | null;
  readonly byteOffset: number;
  readonly byteLength: number;
  /** The object's size now (fstat); `ERR_DISPOSED` once closed. */
  objectSize(): number;
  /** Detaches `buffer` (every view of it becomes empty), then unmaps; idempotent. */
  close(): void;
}

/**
 * The preprocessing a {@link NativeGpuImageDecoder} applies: torchvision's resize (shorter side to `resizeSize`,
 * bilinear with antialias) and centre crop to `cropSize`, written as uint8 pixels (the engine normalises them;
 * `mean` and `std` are checked and kept for that purpose only). `layout` default `nchw`.
 * @internal
 */
export interface NativeGpuImageDecoderOptions {
  readonly resizeSize: number;
  readonly cropSize: number;
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  readonly layout?: InputLayout;
}

/**
 * What became of each image of a {@link NativeGpuImageDecoder.decode}: its route (`nvJPEG hardware` or
 * `nvJPEG GPU`: decoded into its output; `CPU`: not decoded, its output untouched; `refused`: over the pixel
 * limit) and why, for the last two ('' otherwise).
 * @internal
 */
export interface NativeGpuDecodeReport {
  readonly routes: string[];
  readonly reasons: string[];
}

/**
 * A GPU image decoder (nvJPEG, then the resize and crop on the GPU) for one model on one device. Errors are plain
 * `Error`s with a `code`; a build without CUDA throws `ERR_BACKEND_UNAVAILABLE` from the constructor.
 * @internal
 */
export interface NativeGpuImageDecoder {
  /**
   * Decodes `images` (encoded, read in place: not to be written until this settles) and writes the crop of each
   * image the GPU decoded into `outputs[i]` (`imageBytes` each; pinned host memory from `allocateHostMemory` is
   * copied into by DMA). Rejects only for failures of the whole batch (no GPU, device memory, CUDA).
   */
  decode(images: readonly Uint8Array[], outputs: readonly Uint8Array[]): Promise<NativeGpuDecodeReport>;
  /** Lets the decoders go (batches in flight finish first); idempotent. Later decodes reject `ERR_DISPOSED`. */
  dispose(): void;
  /** Bytes of one image's output: 3 × cropSize² pixels. */
  readonly imageBytes: number;
  /** nvJPEG decoders made so far (one per batch that ran at once with others). */
  readonly decoderCount: number;
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
  /** `bytes` of host memory that runs read in place (pinned on `cuda`), recorded until the buffer is collected. */
  allocateHostMemory(backend: BackendName, device: number, bytes: number): ArrayBuffer;
  /** Lends existing memory (also over a SharedArrayBuffer) to runs, page-locked on `cuda` where the driver agrees. */
  registerHostMemory(backend: BackendName, device: number, memory: ArrayBufferView): NativeHostRegistration;
  /** Ranges of host memory lent to runs now, process-wide. */
  hostMemoryRanges(): number;
  /** A TCP socket bound to a numeric `host` and listening, SO_REUSEPORT set when asked; throws coded errors. */
  openListeningSocket(host: string, port: number, reusePort: boolean, backlog: number): { fd: number; port: number; family: 4 | 6 };
  /** Closes a descriptor that is a socket (ERR_INVALID_ARGUMENT for anything else). */
  closeListeningSocket(fd: number): void;
  readonly NativeExecutable: abstract new () => NativeExecutable;
  readonly NativePreparedGraph: abstract new () => NativePreparedGraph;
  /** Maps `[offset, offset + byteSize)` of the POSIX shared-memory object `key`; throws coded errors. */
  readonly NativeSharedMemoryMapping: new (key: string, offset: number, byteSize: number) => NativeSharedMemoryMapping;
  /** A GPU image decoder on CUDA device `device` (throws coded errors: no GPU, nvJPEG not found, a build without CUDA). */
  readonly NativeGpuImageDecoder: new (device: number, options: NativeGpuImageDecoderOptions, maxPixels: number, maxDecodedBytes: number) => NativeGpuImageDecoder;
}

/** Environment variable naming an addon binary to load instead of the one in this package. */
export { addonPathVariable } from './addon-resolution.js';

/**
 * OpenMP wait policy set before loading, unless the user chose one (OMP_WAIT_POLICY or GOMP_SPINCOUNT):
 * idle OpenMP threads sleep at once instead of spinning, so they leave the cores to the JS thread and to
 * neighbours. The measurements behind the choice are in native/README.md.
 */
export const defaultWaitPolicy = 'PASSIVE';

let cached: NativeAddon | undefined;
let loadedFrom: string | undefined;

/**
 * The file the addon was loaded from, once {@link loadNative} has loaded it (for tests that load it again in a child).
 * @internal
 */
export function loadedAddonFile(): string | undefined {
  return loadedFrom;
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
  const found = addonCandidates(packageRootOf(import.meta.url), process.env, currentPlatform());
  const { addon, candidate } = resolveAddon(found, { exists: existsSync, load: (file) => require(file) as unknown, isAddon: isNativeAddon });
  cached = addon;
  loadedFrom = candidate.file;
  return addon;
}
