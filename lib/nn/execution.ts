/**
 * What a {@link Module} asks of the runtime, and the options it passes on: the {@link ForwardExecutor}
 * seam (installed by the package entry point with `setForwardExecutor`, so model code never imports the
 * runtime) and the options of `forward`, `forwardNodes`, `warmup` and `allocateInput`, checked here so that
 * every executor receives them valid.
 * @module
 */
import { InvalidArgumentError, UnsupportedError, invalidArgument } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { Module } from './module.js';
import { checkOptions } from './options.js';

/** Options of `Module.forward` (and `forwardNodes`, `forwardFeatures`). */
export interface ForwardOptions {
  /**
   * Cancels the forward, as `fetch`'s: an aborted signal rejects the promise with `signal.reason` (a
   * `DOMException` named `AbortError` for a bare `controller.abort()`). Already aborted: rejects at once and
   * nothing is compiled or run. Aborted while compiling: rejects at once and the run never starts (the
   * compile finishes and is kept for later forwards). Aborted while the native run is in flight: rejects at
   * once; the run finishes in the background, reading its input until then, and its result is dropped.
   */
  signal?: AbortSignal;
}

/** Options of `Module.allocateInput`. */
export interface AllocateInputOptions {
  /** `float32` (default), `float16` (bits in a Uint16Array) or `uint8` (pixels). */
  dtype?: 'float32' | 'float16' | 'uint8';
  /** `nchw` (default: shape `[N, C, H, W]`) or `nhwc` (shape `[N, H, W, C]`, as decoders write pixels). */
  layout?: 'nchw' | 'nhwc';
  /** The image size, `H = W` or `[H, W]`; default 224 (ImageNet). */
  size?: number | readonly [number, number];
  /** Channels; default 3. */
  channels?: number;
}

/**
 * Options of `Module.warmup`: the batch sizes, the input as forwards will give it (the vocabulary of
 * `allocateInput`), how many runs and a signal.
 */
export interface WarmupOptions extends AllocateInputOptions, ForwardOptions {
  /** The batch sizes to compile, each an integer from 1 to 65536; at most `maxWarmBatchSizes` (8). */
  batchSizes: readonly number[];
  /**
   * Runs of each batch size on a zeroed input of `dtype` and `layout` after compiling (default 1): on a
   * GPU the first run of each input dtype and layout captures the CUDA graph that later runs replay, so
   * a warm-up run takes that cost too. 0 only compiles.
   */
  runs?: number;
}

/** {@link WarmupOptions} checked, with defaults filled in, as an executor receives them. */
export interface WarmupSpec {
  readonly batchSizes: readonly number[];
  readonly dtype: 'float32' | 'float16' | 'uint8';
  readonly layout: 'nchw' | 'nhwc';
  /** The per-sample input shape `[C, H, W]`. */
  readonly sampleShape: readonly [number, number, number];
  readonly runs: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * How many batch sizes one module keeps compiled at once (the compile cache's size per module): a warm-up
 * of more would evict its own first executables.
 */
export const maxWarmBatchSizes = 8;

/** Runs a module's forward pass. The runtime installs one; model code never imports the runtime. */
export interface ForwardExecutor {
  /** `options` was checked by `checkForwardOptions`; its signal, when given, is not aborted yet. */
  forward(module: Module, x: Tensor, options?: ForwardOptions): Promise<Tensor>;
  /**
   * The outputs of the named submodules (dotted paths, distinct) of `module` on `x`, in that order, from
   * one run. Optional: `Module.forwardNodes` reports an executor without it as unsupported.
   */
  forwardNodes?(module: Module, x: Tensor, nodes: readonly string[], options?: ForwardOptions): Promise<Tensor[]>;
  /** A zeroed input tensor in host memory that runs read in place (see `Module.allocateInput`). */
  allocateInput?(module: Module, batch: number, options: Required<AllocateInputOptions>): Tensor;
  /** Compiles (and runs) `module` ahead of its forwards (see `Module.warmup`). */
  warmup?(module: Module, spec: WarmupSpec): Promise<void>;
  /**
   * Called by `Module.to` for each module whose placement changed, and by `Module.dispose`: frees what was
   * compiled for the module (device memory included) once the runs using it have finished.
   */
  release?(module: Module): void;
}

let forwardExecutor: ForwardExecutor | null = null;

/** Installs (or, with null, removes) the process-wide executor behind {@link Module.forward}. @internal */
export function setForwardExecutor(executor: ForwardExecutor | null): void {
  if (executor !== null && (typeof executor?.forward !== 'function' || (executor.release !== undefined && typeof executor.release !== 'function'))) {
    throw invalidArgument('an object with a forward(module, x, options) method (and optionally release(module)), or null', 'executor', executor);
  }
  forwardExecutor = executor;
}

/** The installed executor, or the error that says how to get one (import from the package entry point). */
function requireExecutor(module: Module, method: string): ForwardExecutor {
  if (forwardExecutor === null) {
    throw new UnsupportedError(
      `${module.constructor.name}.${method} needs the runtime, which is installed by the package entry point: import the models from 'resnet-cudnn' rather than from a file inside the package`,
    );
  }
  return forwardExecutor;
}

/** Frees what was compiled for each of `modules`, when the installed executor can (see `ForwardExecutor.release`). @internal */
export function releaseCompiled(modules: Iterable<Module>): void {
  const release = forwardExecutor?.release;
  if (release === undefined) return;
  for (const m of modules) release.call(forwardExecutor, m);
}

/** {@link Module.forward}: the options checked, then the installed executor's forward. @internal */
export function runForward(module: Module, x: Tensor, options: ForwardOptions | undefined): Promise<Tensor> {
  const opts = checkForwardOptions(options, 'forward');
  const executor = requireExecutor(module, 'forward');
  opts.signal?.throwIfAborted();
  return executor.forward(module, x, opts);
}

/** {@link Module.forwardNodes}: the names and options checked, then one run of the executor, by name. @internal */
export async function runForwardNodes<K extends string>(module: Module, x: Tensor, returnNodes: readonly K[], options: ForwardOptions | undefined): Promise<Record<K, Tensor>> {
  if (!Array.isArray(returnNodes) || returnNodes.length === 0 || returnNodes.some((n) => typeof n !== 'string')) {
    throw invalidArgument('a non-empty array of submodule names', 'returnNodes', returnNodes);
  }
  const repeated = returnNodes.find((n, i) => returnNodes.indexOf(n) !== i);
  if (repeated !== undefined) throw invalidArgument('distinct submodule names', 'returnNodes', returnNodes);
  const opts = checkForwardOptions(options, 'forwardNodes');
  const executor = requireExecutor(module, 'forwardNodes');
  if (executor.forwardNodes === undefined) throw new UnsupportedError(`${module.constructor.name}.forwardNodes: the installed executor cannot return submodule outputs`);
  opts.signal?.throwIfAborted();
  const outputs = await executor.forwardNodes(module, x, returnNodes, opts);
  return Object.fromEntries(returnNodes.map((name, i) => [name, outputs[i]!])) as Record<K, Tensor>;
}

/** {@link Module.warmup}: the options checked and completed, then the executor's warm-up. @internal */
export async function runWarmup(module: Module, options: WarmupOptions): Promise<void> {
  const spec = checkWarmupOptions(options, 'warmup');
  const executor = requireExecutor(module, 'warmup');
  spec.signal?.throwIfAborted();
  if (executor.warmup === undefined) throw new UnsupportedError(`${module.constructor.name}.warmup: the installed executor cannot compile ahead of time`);
  await executor.warmup(module, spec);
}

/** {@link Module.allocateInput}: the batch and input form checked, then the executor's allocation. @internal */
export function allocateInputFor(module: Module, batch: number, options: AllocateInputOptions): Tensor {
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > 65536) throw invalidArgument('an integer from 1 to 65536', 'batch', batch);
  const form = checkInputForm(options);
  const executor = requireExecutor(module, 'allocateInput');
  if (executor.allocateInput === undefined) throw new UnsupportedError(`${module.constructor.name}.allocateInput: the installed executor cannot allocate inputs`);
  return executor.allocateInput(module, batch, form);
}

/** True for an AbortSignal (also one from another realm: it is recognised by its shape). */
function isAbortSignal(value: unknown): value is AbortSignal {
  return (
    value instanceof AbortSignal ||
    (typeof value === 'object' && value !== null && typeof (value as AbortSignal).aborted === 'boolean' &&
      typeof (value as AbortSignal).addEventListener === 'function' && typeof (value as AbortSignal).removeEventListener === 'function')
  );
}

/**
 * `options` of a forward, checked: unknown keys and a `signal` that is not an AbortSignal throw.
 * @throws InvalidArgumentError
 * @internal
 */
export function checkForwardOptions(options: ForwardOptions | undefined, where: string): ForwardOptions {
  const opts = checkOptions(options, ['signal'], where);
  checkSignal(opts.signal, where);
  return opts;
}

function checkSignal(signal: unknown, where: string): AbortSignal | undefined {
  if (signal !== undefined && !isAbortSignal(signal)) throw invalidArgument('an AbortSignal', `${where} options.signal`, signal);
  return signal;
}

/** The input form options shared by `allocateInput` and `warmup`, checked, with their defaults. @internal */
export function checkInputForm(options: AllocateInputOptions): Required<AllocateInputOptions> & { size: readonly [number, number] } {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'uint8') throw invalidArgument('"float32", "float16" or "uint8"', 'options.dtype', dtype);
  const layout = options.layout ?? 'nchw';
  if (layout !== 'nchw' && layout !== 'nhwc') throw invalidArgument('"nchw" or "nhwc"', 'options.layout', layout);
  const size = options.size ?? 224;
  const [height, width] = typeof size === 'number' ? [size, size] : Array.isArray(size) && size.length === 2 ? size : [NaN, NaN];
  const channels = options.channels ?? 3;
  for (const [name, value] of [['options.size', height], ['options.size', width], ['options.channels', channels]] as const) {
    if (!Number.isSafeInteger(value) || value < 1 || value > 65536) throw invalidArgument('an integer from 1 to 65536 (or [H, W] for size)', name, name === 'options.size' ? size : value);
  }
  return { dtype, layout, size: [height!, width!], channels };
}

/**
 * `Module.warmup`'s options, checked and completed. Batch sizes given twice are compiled once.
 * @throws InvalidArgumentError naming the bad option (and, for an unknown key, the valid ones).
 * @internal
 */
export function checkWarmupOptions(options: WarmupOptions, where: string): WarmupSpec {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument('an options object { batchSizes, size?, channels?, dtype?, layout?, runs?, signal? }', `${where} options`, options);
  }
  checkOptions(options, ['batchSizes', 'size', 'channels', 'dtype', 'layout', 'runs', 'signal'], where);
  const signal = checkSignal(options.signal, where);
  const { batchSizes } = options;
  if (!Array.isArray(batchSizes) || batchSizes.length === 0) {
    throw invalidArgument('a non-empty array of batch sizes', `${where} options.batchSizes`, batchSizes);
  }
  batchSizes.forEach((batch: unknown, i) => {
    if (typeof batch !== 'number' || !Number.isSafeInteger(batch) || batch < 1 || batch > 65536) {
      throw invalidArgument('an integer from 1 to 65536', `${where} options.batchSizes[${i}]`, batch);
    }
  });
  const distinct = [...new Set(batchSizes as number[])];
  if (distinct.length > maxWarmBatchSizes) {
    throw new InvalidArgumentError(
      `${where}: ${distinct.length} batch sizes given, but a module keeps at most ${maxWarmBatchSizes} compiled at once (more would evict the first ones); warm up the ${maxWarmBatchSizes} sizes the forwards will use most`,
    );
  }
  const runs = options.runs ?? 1;
  if (typeof runs !== 'number' || !Number.isSafeInteger(runs) || runs < 0 || runs > 100) {
    throw invalidArgument('an integer from 0 to 100', `${where} options.runs`, runs);
  }
  const { dtype, layout, size, channels } = checkInputForm(options);
  return { batchSizes: distinct, dtype, layout, sampleShape: [channels, size[0], size[1]], runs, signal };
}
