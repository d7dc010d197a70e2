/**
 * The typed runtime over the native addon: compile a {@link Graph} for a backend and a batch size into
 * an {@link Executable}, and run it. Native failures become the typed errors of `errors.ts`, with the
 * caller's stack (captured before the call goes asynchronous).
 * @module
 */
import type { Graph } from '../compile/graph.js';
import { fromNative, invalidArgument } from '../errors.js';
import { loadNative, type BackendName, type NativeExecutable, type NativeInfo } from './native.js';

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

  /** Bytes of weights held in the backend's layout. */
  get weightBytes(): number {
    return this.#native.weightBytes;
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
 * Compiles `graph` for `options.backend` and `options.batch` samples per run. The graph is validated and
 * its weights copied before this returns; the compilation itself (weight reorders, memory plan) runs off
 * the JS thread.
 * @throws InvalidArgumentError, ShapeError or UnsupportedError for a graph the engine cannot run;
 * BackendUnavailableError when the backend is not built in; NativeLoadError when the addon is missing.
 */
export async function compileGraph(graph: Graph, options: CompileOptions): Promise<Executable> {
  const callSite = new Error();
  checkOptions(options);
  const addon = loadNative();
  const nativeOptions = { backend: options.backend, batch: options.batch, ...(options.threads === undefined ? {} : { threads: options.threads }) };
  try {
    return new Executable(await addon.compile(graph, nativeOptions));
  } catch (error) {
    throw fromNative(error, callSite);
  }
}

/** What the addon reports about itself and its backends (versions, ISA, threads, availability). */
export function backendInfo(): NativeInfo {
  return loadNative().info();
}
