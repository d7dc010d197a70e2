/**
 * The typed runtime over the native addon: prepare a {@link Graph} once (its weights cross into native
 * memory), compile it for a backend and a batch size into an {@link Executable}, and run it. Native failures become the typed errors of `errors.ts`, with the
 * caller's stack (captured before the call goes asynchronous).
 * @module
 */
import type { Graph } from '../compile/graph.js';
import { DisposedError, fromNative, invalidArgument } from '../errors.js';
import { loadNative, type BackendName, type NativeExecutable, type NativeInfo, type NativePreparedGraph } from './native.js';

/** Options of {@link compileGraph}. */
export interface CompileOptions {
  /** Where to run: `cpu` (oneDNN) or `cuda` (cuDNN). */
  readonly backend: BackendName;
  /** The batch size N every run of the executable takes. */
  readonly batch: number;
  /** Compute threads (CPU); by default the CPUs this process may run on. */
  readonly threads?: number;
}

/** A compiled graph: weights in the backend's layout plus a memory plan for one batch size. */
export class Executable implements Disposable {
  readonly #native: NativeExecutable;

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

  /** Bytes of activation memory (arena and scratchpad) the executable keeps for its runs. */
  get activationBytes(): number {
    return this.#native.activationBytes;
  }

  /**
   * Runs the forward pass off the JS thread. `input` is N·C·H·W floats in NCHW order (N the batch the
   * executable was compiled for); it is copied before this returns, so the caller may reuse it at once.
   * Concurrent runs queue and each gets the whole machine in turn.
   * @returns one plain row-major array per graph output.
   * @throws InvalidArgumentError when `input` is not a Float32Array; ShapeError when its length is wrong;
   * DisposedError after {@link Executable.dispose}.
   */
  async run(input: Float32Array): Promise<Float32Array[]> {
    const callSite = new Error();
    try {
      return await this.#native.run(input);
    } catch (error) {
      throw fromNative(error, callSite);
    }
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
}

/**
 * Compiles `graph` for `options.backend` and `options.batch` samples per run. A plain {@link Graph} is
 * validated and its weights copied before this returns, for this executable alone; a {@link PreparedGraph}
 * was already, and executables compiled from it share weight memory. The compilation itself (weight
 * reorders, memory plan) runs off the JS thread.
 * @throws InvalidArgumentError, ShapeError or UnsupportedError for a graph the engine cannot run;
 * BackendUnavailableError when the backend is not built in; DisposedError for a disposed PreparedGraph;
 * NativeLoadError when the addon is missing.
 */
export async function compileGraph(graph: Graph | PreparedGraph, options: CompileOptions): Promise<Executable> {
  const callSite = new Error();
  checkOptions(options);
  const addon = loadNative();
  const nativeOptions = { backend: options.backend, batch: options.batch, ...(options.threads === undefined ? {} : { threads: options.threads }) };
  try {
    const source = graph instanceof PreparedGraph ? graph.native : graph;
    return new Executable(await addon.compile(source, nativeOptions));
  } catch (error) {
    throw fromNative(error, callSite);
  }
}

/** What the addon reports about itself and its backends (versions, ISA, threads, availability). */
export function backendInfo(): NativeInfo {
  return loadNative().info();
}
