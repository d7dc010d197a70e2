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
import { allocateInputArray, type InputArrays } from './host-memory.js';
import {
  loadNative,
  type BackendName, type CudnnOptions, type InputDType, type InputLayout, type InputNormalization, type NativeCompileOptions,
  type NativeExecutable, type NativeInfo, type NativePreparedGraph, type Precision,
} from './native.js';

export type { InputArrays } from './host-memory.js';

/**
 * A run's input with its element type and layout spelled out, for what a bare Float32Array or Uint8Array
 * (NCHW) cannot say: float16 bits, NHWC pixels, or a batch given as several arrays laid end to end.
 */
export interface RunInput {
  /**
   * The elements: one typed array, or several laid end to end (each a whole number of elements): a server
   * passes its requests' bodies as they are rather than assembling the batch. Each array is a Uint8Array
   * (bytes) or the dtype's own array type.
   */
  readonly data: ArrayBufferView | readonly ArrayBufferView[];
  readonly dtype: InputDType;
  /** `nchw` (default) or `nhwc` (`[N, H, W, C]`). */
  readonly layout?: InputLayout;
}

/** Options of {@link Executable.allocateInput}. */
export interface AllocateInputOptions {
  /** Default `float32`. */
  readonly dtype?: InputDType;
  /** Default `nchw`. Only the order of the elements; the size is the executable's. */
  readonly layout?: InputLayout;
}

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
  readonly #backend: BackendName;
  readonly #device: number;
  #lastRunDeviceMs = -1;

  /** @internal Created by {@link compileGraph}. */
  constructor(native: NativeExecutable, backend: BackendName = 'cpu', device = 0) {
    this.#native = native;
    this.#backend = backend;
    this.#device = device;
  }

  /** The batch size every run takes. */
  get batch(): number {
    return this.#native.batch;
  }

  /** The per-sample input shape `[C, H, W]` of the graph. */
  get inputShape(): readonly number[] {
    return this.#native.inputShape;
  }

  /**
   * A zeroed input array for one run, in memory that runs read in place (pinned on a GPU, so the GPU
   * reads it by DMA with no host copy at all): fill it, then pass it to {@link Executable.run} (bare for
   * float32/uint8 NCHW, else as `{ data, dtype, layout }`). Reuse it for the next run once the previous
   * run's promise has settled: a run reads it while in flight. Freed when garbage-collected.
   * @throws InvalidArgumentError for an unknown dtype or layout; OutOfMemoryError; the
   *   BackendUnavailableError family on `cuda` without a usable GPU.
   */
  allocateInput<D extends InputDType = 'float32'>(options: AllocateInputOptions & { dtype?: D } = {}): InputArrays[D] {
    if (options.layout !== undefined && options.layout !== 'nchw' && options.layout !== 'nhwc') {
      throw invalidArgument('"nchw" or "nhwc"', 'options.layout', options.layout);
    }
    const elements = this.batch * this.inputShape.reduce((a, b) => a * b, 1);
    return allocateInputArray(elements, (options.dtype ?? 'float32') as D, { backend: this.#backend, device: this.#device }, 'options.dtype');
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
   * Runs the forward pass off the JS thread. `input` is N·C·H·W values (N the batch the executable was
   * compiled for): a Float32Array or Uint8Array in NCHW order, or a {@link RunInput} that names its dtype
   * (float32, float16 bits, uint8) and layout (NCHW or NHWC) and may be several arrays laid end to end.
   * Bytes (pixels) and halves are converted by the backend itself, before the compile's `normalization`
   * where it applies to that dtype. The input is copied before this returns, so the caller may reuse it at
   * once — except memory the engine lent to runs ({@link Executable.allocateInput}, `registerHostMemory`),
   * which is read in place while the run is in flight. Concurrent runs start in call order. On the CPU
   * each run takes the executable's `threads` of the CPUs: runs whose threads add up to at most the CPUs
   * run side by side (two 1-thread executables on 2 CPUs), the others wait; with the default (every CPU)
   * they run one at a time, each with the whole machine. On a GPU several runs are in flight at once, each
   * on its own execution context and stream, so one run's copies overlap another's kernels.
   * @returns one plain row-major array per graph output, float32 whatever the precision.
   * @throws InvalidArgumentError for an input of the wrong type or dtype; ShapeError when its length is
   * wrong; DisposedError after {@link Executable.dispose}; GpuOutOfMemoryError when a GPU run cannot get
   * memory (the executable stays usable).
   * @example
   * ```ts
   * const executable = await compileGraph(graph, {
   *   backend: 'cuda', batch: 8, precision: 'float16',
   *   normalization: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], inputs: ['uint8'] },
   * });
   * const input = executable.allocateInput({ dtype: 'uint8', layout: 'nhwc' });   // pinned: read in place
   * input.set(pixels);                                           // 8 × 224 × 224 × 3 bytes from a decoder
   * const [logits] = await executable.run({ data: input, dtype: 'uint8', layout: 'nhwc' });
   * ```
   */
  async run(input: Float32Array | Uint8Array | RunInput): Promise<Float32Array[]> {
    const callSite = new Error();
    try {
      // A RunInput is unpacked here; anything else goes to the addon as it is, which says what is wrong.
      const outputs = isRunInput(input)
        ? await this.#native.run(input.data, input.dtype, input.layout)
        : await this.#native.run(input);
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

/** An object (not an array or a typed array) with `data`: a {@link RunInput}. */
function isRunInput(input: unknown): input is RunInput {
  return typeof input === 'object' && input !== null && !Array.isArray(input) && !ArrayBuffer.isView(input) && 'data' in input;
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
    throw invalidArgument('"float32", "tf32", "float16", "bfloat16" or "int8"', 'options.precision', options.precision);
  }
  if (options.benchmark !== undefined && typeof options.benchmark !== 'boolean') {
    throw invalidArgument('a boolean', 'options.benchmark', options.benchmark);
  }
  if (options.normalization !== undefined) checkNormalization(options.normalization);
  if (options.cudnn !== undefined) checkCudnn(options.cudnn);
}

const cudnnKeys = ['graphApi', 'graphCandidates', 'graphBudgetMs', 'verbose', 'stem'] as const;
const stemForms: readonly string[] = ['auto', 'direct', 'space_to_depth', 'four_channel'];

/** The native side checks the same. */
function checkCudnn(cudnn: CudnnOptions): void {
  const name = 'options.cudnn';
  if (typeof cudnn !== 'object' || cudnn === null || Array.isArray(cudnn)) {
    throw invalidArgument('an object { graphApi?, graphCandidates?, graphBudgetMs?, verbose?, stem? }', name, cudnn);
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
  const { stem } = cudnn;
  if (stem !== undefined && !stemForms.includes(stem)) {
    throw invalidArgument('"auto", "direct", "space_to_depth" or "four_channel"', `${name}.stem`, stem);
  }
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
  const { inputs } = normalization;
  if (inputs !== undefined) {
    if (!Array.isArray(inputs) || inputs.length > 3 || !inputs.every((d) => d === 'float32' || d === 'float16' || d === 'uint8')) {
      throw invalidArgument('an array of "float32", "float16", "uint8"', `${name}.inputs`, inputs);
    }
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
      : {
        normalization: {
          ...(normalization.scale === undefined ? {} : { scale: normalization.scale }),
          mean: [...normalization.mean],
          std: [...normalization.std],
          ...(normalization.inputs === undefined ? {} : { inputs: [...normalization.inputs] }),
        },
      }),
    ...(cudnn === undefined ? {} : { cudnn: { ...cudnn } }),
  };
}

/**
 * Compiles `graph` for `options.backend` and `options.batch` samples per run. A plain {@link Graph} is
 * validated and its weights copied before this returns, for this executable alone; a {@link PreparedGraph}
 * was already, and executables compiled from it share weight memory. The compilation itself (weight
 * reorders, memory plan) runs off the JS thread.
 * @throws InvalidArgumentError, ShapeError or UnsupportedError for a graph or options the engine cannot
 * run (tf32 or float16 on the CPU, bfloat16 on a CPU without AVX512-BF16 or AMX, int8 on a graph not
 * quantized, a normalisation whose length is not the input's
 * channel count); BackendUnavailableError when the backend is not built in, or for CUDA one of its
 * subclasses: NoGpuError (no driver, no device, no such ordinal), CudnnNotFoundError, CudnnVersionError;
 * GpuOutOfMemoryError; DisposedError for a disposed PreparedGraph; NativeLoadError when the addon is missing.
 * @example
 * ```ts
 * import { compileGraph, lower, resnet18, Tracer } from 'resnet-cudnn';
 * const graph = lower(Tracer.trace(resnet18(), [3, 224, 224]));   // BatchNorm folded, ReLU and add fused
 * const executable = await compileGraph(graph, { backend: 'cpu', batch: 4 });
 * const [logits] = await executable.run(new Float32Array(4 * 3 * 224 * 224));   // Float32Array of 4 × 1000
 * executable.dispose();
 * ```
 */
export async function compileGraph(graph: Graph | PreparedGraph, options: CompileOptions): Promise<Executable> {
  const callSite = new Error();
  checkOptions(options);
  const addon = loadNative();
  try {
    const source = graph instanceof PreparedGraph ? graph.native : graph;
    return new Executable(await addon.compile(source, nativeOptions(options)), options.backend, options.device ?? 0);
  } catch (error) {
    throw fromNative(error, callSite);
  }
}

/** What the addon reports about itself and its backends (versions, ISA, threads, availability). */
export function backendInfo(): NativeInfo {
  return loadNative().info();
}
