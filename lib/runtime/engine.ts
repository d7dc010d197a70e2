/**
 * The typed runtime over the native addon: prepare a {@link Graph} once (its weights cross into native
 * memory), compile it for a backend and a batch size into an {@link Executable}, and run it. Native failures become the typed errors of `errors.ts`, with the
 * caller's stack (captured before the call goes asynchronous).
 * @module
 */
import type { Graph } from '../compile/graph.js';
import { DisposedError, InvalidArgumentError, fromNative, invalidArgument } from '../errors.js';
import { checkOptions as checkKeys } from '../nn/options.js';
import { computeDTypes } from '../nn/placement.js';
import {
  loadNative,
  type BackendName, type CudnnOptions, type InputNormalization, type NativeCompileOptions, type NativeExecutable,
  type NativeInfo, type NativePreparedGraph, type Precision,
} from './native.js';

/** Options of {@link compileGraph}. */
export interface CompileOptions {
  /** Where to run: `cpu` (oneDNN) or `cuda` (cuDNN). */
  readonly backend: BackendName;
  /** The batch size N every run of the executable takes. */
  readonly batch: number;
  /** Compute threads (CPU); by default the CPUs this process may run on. */
  readonly threads?: number;
  /** The CUDA device ordinal (`cuda:N`); default 0. Ignored by the `cpu` backend. */
  readonly device?: number;
  /** The arithmetic; default `float32`. The `cpu` backend rejects anything else with ERR_UNSUPPORTED. */
  readonly precision?: Precision;
  /**
   * Time the candidate algorithms of each convolution when compiling and keep the fastest, like
   * `torch.backends.cudnn.benchmark`; default false (the library's heuristics choose). Ignored by `cpu`.
   */
  readonly benchmark?: boolean;
  /**
   * Normalise every run's input per channel before the first op, fused into the input conversion:
   * `x' = (x * scale - mean[c]) / std[c]`, with one `mean` and `std` value per input channel (checked
   * against the graph when compiling).
   */
  readonly normalization?: InputNormalization;
  /**
   * The CUDA backend's graph-API and verbosity knobs for this compile, over the defaults the environment
   * gives (`RESNET_CUDNN_GRAPH`, `RESNET_CUDNN_GRAPH_CANDIDATES`, `RESNET_CUDNN_GRAPH_BUDGET_MS`,
   * `RESNET_CUDNN_VERBOSE`, read once per process). Ignored by `cpu`.
   */
  readonly cudnn?: CudnnOptions;
}

/** A compiled graph: weights in the backend's layout plus a memory plan for one batch size. */
export class Executable implements Disposable {
  readonly #native: NativeExecutable;
  #lastRunDeviceMs = -1;

  /** @internal Created by {@link compileGraph}. */
  constructor(native: NativeExecutable) {
    this.#native = native;
  }

  /** Bytes of weights this executable uses in the backend's layout, shared ones included. */
  get weightBytes(): number {
    return this.#native.weightBytes;
  }

  /**
   * Of {@link Executable.weightBytes}, the bytes this executable shares with an executable compiled
   * earlier from the same {@link PreparedGraph} (same weights in the same layout) instead of holding its
   * own copy. `weightBytes - sharedWeightBytes` is what compiling it added. 0 when compiled from a plain
   * {@link Graph}, or when no earlier executable of the prepared graph is still alive.
   */
  get sharedWeightBytes(): number {
    return this.#native.sharedWeightBytes;
  }

  /** Bytes of activation memory (arena and scratchpad) of one execution context. */
  get activationBytes(): number {
    return this.#native.activationBytes;
  }

  /**
   * Execution contexts made so far, each with {@link Executable.activationBytes} of its own: one from
   * compiling, and one more for each run that started while all were busy (runs side by side, see
   * {@link Executable.run}). 0 after {@link Executable.dispose}.
   */
  get contextCount(): number {
    return this.#native.contextCount;
  }

  /**
   * What compiling chose, for humans. The CUDA backend lists each conv with the path it takes (the cuDNN
   * graph API's engine, the legacy fused call, or conv + epilogue kernel), why, and with `benchmark: true`
   * what each path measured; whether runs replay a CUDA graph; sizes. The CPU backend reports nothing ('').
   * '' after {@link Executable.dispose}.
   */
  describe(): string {
    return this.#native.describe();
  }

  /**
   * Runs the forward pass off the JS thread. `input` is N·C·H·W values in NCHW order (N the batch the
   * executable was compiled for): floats, or bytes (pixels) that the backend converts to float itself,
   * before the compile's `normalization` if any. It is copied before this returns, so the caller may
   * reuse it at once. Concurrent runs start in call order. On the CPU each run takes the executable's
   * `threads` of the CPUs: runs whose threads add up to at most the CPUs run side by side (two 1-thread
   * executables on 2 CPUs), the others wait; with the default (every CPU) they run one at a time, each
   * with the whole machine.
   * @returns one plain row-major array per graph output, float32 whatever the precision.
   * @throws InvalidArgumentError when `input` is neither a Float32Array nor a Uint8Array; ShapeError when
   * its length is wrong; DisposedError after {@link Executable.dispose}; GpuOutOfMemoryError when a GPU
   * run cannot get memory (the executable stays usable).
   */
  async run(input: Float32Array | Uint8Array): Promise<Float32Array[]> {
    const callSite = new Error();
    try {
      const outputs = await this.#native.run(input);
      this.#lastRunDeviceMs = outputs.deviceMs ?? -1;
      return [...outputs];
    } catch (error) {
      throw fromNative(error, callSite);
    }
  }

  /**
   * Milliseconds the device spent on the forward pass of the run that finished last, from the input on the
   * device to the outputs copied back (CUDA events; the input's host-to-device copy excluded), the span that
   * PyTorch benchmarks time with CUDA events. -1 before the first run and on the CPU backend.
   */
  get lastRunDeviceMs(): number {
    return this.#lastRunDeviceMs;
  }

  /** Frees the weights and activation memory now rather than at garbage collection. Idempotent. */
  dispose(): void {
    this.#native.dispose();
  }

  /** `using executable = await compileGraph(…)` disposes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A graph validated and copied into native memory once, to compile for several batch sizes: the
 * executables compiled from it share their weights wherever the backend places them in the same layout
 * (TensorRT's engine/context split, one level up). Made by {@link prepareGraph}.
 */
export class PreparedGraph implements Disposable {
  #native: NativePreparedGraph | null;

  /** @internal Created by {@link prepareGraph}. */
  constructor(native: NativePreparedGraph) {
    this.#native = native;
  }

  /** @internal The addon's handle; DisposedError after {@link PreparedGraph.dispose}. */
  get native(): NativePreparedGraph {
    if (this.#native === null) throw new DisposedError('This prepared graph was disposed; prepare the graph again to compile it');
    return this.#native;
  }

  /**
   * Frees the native copy of the weights now rather than at garbage collection. Executables already
   * compiled (or being compiled) keep what they use. Idempotent.
   */
  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
  }

  /** `using prepared = prepareGraph(…)` disposes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Validates `graph` and copies its weights into native memory, on the JS thread, so that the caller can
 * drop `graph` and compile the result for any number of batch sizes with {@link compileGraph}.
 * @throws InvalidArgumentError, ShapeError for a graph the engine cannot run (as {@link compileGraph});
 * NativeLoadError when the addon is missing.
 */
export function prepareGraph(graph: Graph): PreparedGraph {
  const addon = loadNative();
  try {
    return new PreparedGraph(addon.prepare(graph));
  } catch (error) {
    throw fromNative(error);
  }
}

function checkOptions(options: CompileOptions): void {
  if (typeof options !== 'object' || options === null) throw invalidArgument('an options object', 'options', options);
  if (options.backend !== 'cpu' && options.backend !== 'cuda') {
    throw invalidArgument('"cpu" or "cuda"', 'options.backend', options.backend);
  }
  if (!Number.isSafeInteger(options.batch) || options.batch < 1 || options.batch > 2 ** 31 - 1) {
    throw invalidArgument('a positive integer', 'options.batch', options.batch);
  }
  if (options.threads !== undefined && (!Number.isSafeInteger(options.threads) || options.threads < 1 || options.threads > 1024)) {
    throw invalidArgument('an integer between 1 and 1024', 'options.threads', options.threads);
  }
  if (options.device !== undefined && (!Number.isSafeInteger(options.device) || options.device < 0 || options.device > 1023)) {
    throw invalidArgument('an integer between 0 and 1023', 'options.device', options.device);
  }
  if (options.precision !== undefined && !(computeDTypes as readonly unknown[]).includes(options.precision)) {
    throw invalidArgument('"float32", "tf32", "float16" or "bfloat16"', 'options.precision', options.precision);
  }
  if (options.benchmark !== undefined && typeof options.benchmark !== 'boolean') {
    throw invalidArgument('a boolean', 'options.benchmark', options.benchmark);
  }
  if (options.normalization !== undefined) checkNormalization(options.normalization);
  if (options.cudnn !== undefined) checkCudnn(options.cudnn);
}

const cudnnKeys = ['graphApi', 'graphCandidates', 'graphBudgetMs', 'verbose'] as const;

/** The native side checks the same. */
function checkCudnn(cudnn: CudnnOptions): void {
  const name = 'options.cudnn';
  if (typeof cudnn !== 'object' || cudnn === null || Array.isArray(cudnn)) {
    throw invalidArgument('an object { graphApi?, graphCandidates?, graphBudgetMs?, verbose? }', name, cudnn);
  }
  checkKeys(cudnn, cudnnKeys, name);
  const { graphApi, graphCandidates, graphBudgetMs, verbose } = cudnn;
  if (graphApi !== undefined && typeof graphApi !== 'boolean') throw invalidArgument('a boolean', `${name}.graphApi`, graphApi);
  if (graphCandidates !== undefined && (!Number.isSafeInteger(graphCandidates) || graphCandidates < 1 || graphCandidates > 16)) {
    throw invalidArgument('an integer between 1 and 16', `${name}.graphCandidates`, graphCandidates);
  }
  if (graphBudgetMs !== undefined && (typeof graphBudgetMs !== 'number' || !Number.isFinite(graphBudgetMs) || graphBudgetMs < 0)) {
    throw invalidArgument('a finite number >= 0 (0 for no limit)', `${name}.graphBudgetMs`, graphBudgetMs);
  }
  if (verbose !== undefined && typeof verbose !== 'boolean') throw invalidArgument('a boolean', `${name}.verbose`, verbose);
}

/** The native side checks the same (and the channel count against the graph); here the caller's stack is at hand. */
function checkNormalization(normalization: InputNormalization): void {
  const name = 'options.normalization';
  if (typeof normalization !== 'object' || normalization === null || Array.isArray(normalization)) {
    throw invalidArgument('an object { scale?, mean, std }', name, normalization);
  }
  const { scale, mean, std } = normalization;
  if (scale !== undefined && (typeof scale !== 'number' || !Number.isFinite(scale))) {
    throw invalidArgument('a finite number', `${name}.scale`, scale);
  }
  for (const [field, values, positive] of [['mean', mean, false], ['std', std, true]] as const) {
    if (!Array.isArray(values)) throw invalidArgument('an array of numbers', `${name}.${field}`, values);
    if (values.length < 1 || values.length > 4096) {
      throw invalidArgument('1 to 4096 numbers', `${name}.${field}`, values);
    }
    values.forEach((v: unknown, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) {
        throw invalidArgument(`a finite${positive ? ' positive' : ''} number`, `${name}.${field}[${i}]`, v);
      }
    });
  }
  if (mean.length !== std.length) {
    throw new InvalidArgumentError(`Expected as many numbers in ${name}.std as in .mean (${mean.length}) but received ${std.length}`);
  }
}

/** The options as the addon takes them: only what was given, so the addon's defaults stay its own. */
function nativeOptions(options: CompileOptions): NativeCompileOptions {
  const { backend, batch, threads, device, precision, benchmark, normalization, cudnn } = options;
  return {
    backend,
    batch,
    ...(threads === undefined ? {} : { threads }),
    ...(device === undefined ? {} : { device }),
    ...(precision === undefined ? {} : { precision }),
    ...(benchmark === undefined ? {} : { benchmark }),
    ...(normalization === undefined
      ? {}
      : { normalization: { ...(normalization.scale === undefined ? {} : { scale: normalization.scale }), mean: [...normalization.mean], std: [...normalization.std] } }),
    ...(cudnn === undefined ? {} : { cudnn: { ...cudnn } }),
  };
}

/**
 * Compiles `graph` for `options.backend` and `options.batch` samples per run. A plain {@link Graph} is
 * validated and its weights copied before this returns, for this executable alone; a {@link PreparedGraph}
 * was already, and executables compiled from it share weight memory. The compilation itself (weight
 * reorders, memory plan) runs off the JS thread.
 * @throws InvalidArgumentError, ShapeError or UnsupportedError for a graph or options the engine cannot
 * run (a precision other than float32 on the CPU, a normalisation whose length is not the input's
 * channel count); BackendUnavailableError when the backend is not built in, or for CUDA one of its
 * subclasses: NoGpuError (no driver, no device, no such ordinal), CudnnNotFoundError, CudnnVersionError;
 * GpuOutOfMemoryError; DisposedError for a disposed PreparedGraph; NativeLoadError when the addon is missing.
 */
export async function compileGraph(graph: Graph | PreparedGraph, options: CompileOptions): Promise<Executable> {
  const callSite = new Error();
  checkOptions(options);
  const addon = loadNative();
  try {
    const source = graph instanceof PreparedGraph ? graph.native : graph;
    return new Executable(await addon.compile(source, nativeOptions(options)));
  } catch (error) {
    throw fromNative(error, callSite);
  }
}

/** What the addon reports about itself and its backends (versions, ISA, threads, availability). */
export function backendInfo(): NativeInfo {
  return loadNative().info();
}
