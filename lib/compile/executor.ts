/**
 * The forward executor: what `Module.forward` calls. It validates the input, traces, lowers and prepares
 * the module once per input shape and weights version (the lowered graph's weights cross into native
 * memory there, and the JS copy is dropped), compiles the prepared graph once per batch size and
 * placement (device, dtype, benchmark; the batch sizes share their weights), and runs. Moving the module
 * (`module.to`) drops what was compiled for the old placement. `forwardNodes` runs the same way with the
 * requested submodules' outputs as the graph's outputs (and only the ops they need), cached apart.
 * @module
 */
import { DTypeError, NotQuantizedError, ShapeError, fromNative, invalidArgument } from '../errors.js';
import { Tensor, formatShape } from '../tensor.js';
import { Tracer, type Trace } from '../nn/trace.js';
import type { AllocateInputOptions, ForwardExecutor, ForwardOptions, Module } from '../nn/module.js';
import type { WarmupSpec } from '../nn/execution.js';
import type { ModelQuantization } from '../nn/quantization.js';
import { lower } from './lower.js';
import { PromiseLru } from './cache.js';
import { abortable, isAbortReason } from './abort.js';
import { allocateInputArray } from '../runtime/host-memory.js';
import { compileGraph, prepareGraph, type CompileOptions, type Executable, type PreparedGraph } from '../runtime/engine.js';
import type { InputDType, InputLayout, InputNormalization } from '../runtime/native.js';
import { getNumThreads } from '../runtime/threads.js';
import { backendOf, type Placement } from '../runtime/device.js';

/** How many compiled batch sizes/shapes one module keeps (a server with a few batch sizes fits). */
const EXECUTABLES_PER_MODULE = 8;
/** How many prepared graphs (input shapes) one module keeps: each holds a native copy of the weights. */
const GRAPHS_PER_MODULE = 4;

/** A prepared graph and the per-sample shapes of its outputs, in order. */
interface GraphEntry {
  prepared: PreparedGraph;
  outputShapes: readonly (readonly number[])[];
  /** For `forwardNodes`: the graph output that answers each requested name. */
  slots?: readonly number[];
}

/**
 * The trace values of the named submodule outputs.
 * @throws InvalidArgumentError for a name the trace does not have, listing the names it has.
 */
function nodeValues(trace: Trace, nodes: readonly string[], rootName?: string): number[] {
  return nodes.map((name) => {
    if (rootName !== undefined && name === rootName) return trace.output.id;
    const id = name === '' ? undefined : trace.moduleOutputs.get(name);
    if (id === undefined) {
      const valid = [...trace.moduleOutputs.keys()].filter((n) => n !== '');
      throw invalidArgument(`the name of a submodule the forward pass calls (one of: ${valid.join(', ')})`, 'returnNodes', name);
    }
    return id;
  });
}

interface ModuleCache {
  version: number;
  graphs: Map<string, GraphEntry>;
  executables: PromiseLru<Executable>;
}

/**
 * The quantization an int8 forward of `module` lowers with.
 * @throws NotQuantizedError when the module has none (it was never calibrated).
 */
function quantizationOf(module: Module): ModelQuantization {
  const quantization = module.quantization;
  if (quantization === null) {
    throw new NotQuantizedError(
      `${module.constructor.name} has no quantization scales, so it cannot run at dtype 'int8': calibrate it with \`const q = await quantize(model, { calibration })\` (or load a quantized weights file) and run q, or place it at dtype 'float32'`,
    );
  }
  return quantization;
}

/** A forward input as the engine takes it: its data as is, its dtype and layout, and its NCHW shape. */
export interface ForwardInput {
  data: Float32Array | Uint8Array | Uint16Array;
  dtype: InputDType;
  layout: InputLayout;
  /** `[N, C, H, W]` whatever the layout. */
  shape: [number, number, number, number];
}

/**
 * Checks a forward input and returns its data as is: float32, float16 or uint8 (pixels), NCHW or NHWC,
 * which the backend converts itself (no float copy four times the size on the JS side).
 */
export function forwardInput(x: unknown): ForwardInput {
  if (!(x instanceof Tensor)) {
    throw new DTypeError(`forward: expected a Tensor but received ${x === null ? 'null' : typeof x}; build one with Tensor.from(data, [N, C, H, W])`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'uint8' && x.dtype !== 'float16') {
    throw new DTypeError(`forward: expected a float32, float16 or uint8 tensor but received ${x.dtype}; convert it with tensor.to('float32')`);
  }
  if (x.ndim !== 4) {
    throw new ShapeError(`forward: expected a 4-D input [N, C, H, W] (or [N, H, W, C] with layout 'nhwc') but received shape ${formatShape(x.shape)}`);
  }
  if (x.shape[0] === 0) throw new ShapeError(`forward: the batch is empty (shape ${formatShape(x.shape)})`);
  const [n, a, b, c] = x.shape as [number, number, number, number];
  return {
    data: x.data as Float32Array | Uint8Array | Uint16Array,
    dtype: x.dtype,
    layout: x.layout,
    shape: x.layout === 'nhwc' ? [n, c, a, b] : [n, a, b, c],
  };
}

/**
 * Counts the runs in flight on each executable, so one evicted from the cache (or left behind by new
 * weights) is disposed only after its last run has finished.
 */
class Leases {
  private readonly inFlight = new Map<Executable, number>();
  private readonly retired = new Set<Executable>();

  async use<T>(executable: Executable, run: (e: Executable) => Promise<T>): Promise<T> {
    this.inFlight.set(executable, (this.inFlight.get(executable) ?? 0) + 1);
    try {
      return await run(executable);
    } finally {
      const left = this.inFlight.get(executable)! - 1;
      if (left > 0) this.inFlight.set(executable, left);
      else {
        this.inFlight.delete(executable);
        if (this.retired.delete(executable)) executable.dispose();
      }
    }
  }

  retire(executable: Executable): void {
    if (this.inFlight.has(executable)) this.retired.add(executable);
    else executable.dispose();
  }
}

/** What the last finished forward of a module measured (see {@link lastForwardStats}). */
export interface ForwardStats {
  /**
   * Milliseconds the GPU spent on the forward pass, timed with CUDA events from the input on the device to
   * the outputs copied back (the input's copy to the device excluded): the span PyTorch benchmarks time
   * with CUDA events. -1 on the CPU.
   */
  readonly deviceMs: number;
  /**
   * True when this forward compiled its executable: nothing for its input shape, batch size, placement and
   * weights was compiled or being compiled when it started (`warmup` compiles ahead to make this false).
   */
  readonly compiled: boolean;
  /**
   * What compiling chose for the executable that ran it ({@link Executable.describe}): on the GPU, each
   * conv's path and engine, and whether runs replay a CUDA graph. '' on the CPU.
   */
  describe(): string;
}

const lastStats = new WeakMap<Module, ForwardStats>();

/**
 * What the most recently finished `module.forward` measured, for profiling (undefined before the first).
 * With concurrent forwards on one module, the one that finished last.
 */
export function lastForwardStats(module: Module): ForwardStats | undefined {
  return lastStats.get(module);
}

/** What {@link CompiledExecutor.compile} compiles. */
export interface CompileSpec {
  /** The per-sample input shape `[C, H, W]`. */
  readonly sampleShape: readonly number[];
  readonly batch: number;
  /**
   * The graph's outputs, in order: submodule names (as `forwardNodes` takes them), {@link rootOutput}
   * for the module's own output. Default: the module's output alone.
   */
  readonly outputs?: readonly string[];
  /** CPU threads of its runs; default the process's (`getNumThreads`). Ignored on a GPU. */
  readonly threads?: number;
  /** Normalisation fused into the input conversion (see `compileGraph`). */
  readonly normalization?: InputNormalization;
  /** Device, dtype and benchmark, resolved (no `auto`); default the module's own placement. */
  readonly placement?: Placement;
}

/** The name of a module's own output among {@link CompileSpec.outputs}. */
export const rootOutput = '.';

/** What {@link CompiledExecutor.compile} gives: the executable (the caller's to dispose) and each output's per-sample shape. */
export interface CompiledModule {
  readonly executable: Executable;
  readonly outputShapes: readonly (readonly number[])[];
}

/** Compiles and runs modules on the native engine, caching per shape, batch, placement and weights version. */
export class CompiledExecutor implements ForwardExecutor {
  private readonly modules = new WeakMap<Module, ModuleCache>();
  private readonly leases = new Leases();

  private cacheOf(module: Module): ModuleCache {
    let cache = this.modules.get(module);
    if (!cache || cache.version !== module.version) {
      cache?.executables.clear();
      // Executables (and compiles in flight) keep the weights they use; the native copies go now.
      for (const { prepared } of cache?.graphs.values() ?? []) prepared.dispose();
      cache = {
        version: module.version,
        graphs: new Map(),
        executables: new PromiseLru(EXECUTABLES_PER_MODULE, (e) => this.leases.retire(e)),
      };
      this.modules.set(module, cache);
    }
    return cache;
  }

  /**
   * The prepared graph of `module` for per-sample input shape `[C, H, W]` (cached), returning the module's
   * output, or with `nodes` the outputs of those submodules (dotted paths), in that order.
   */
  graphFor(module: Module, sampleShape: readonly number[], nodes?: readonly string[], rootName?: string, placement: Placement = module.placement): GraphEntry {
    const quantization = placement.dtype === 'int8' ? quantizationOf(module) : undefined;
    const cache = this.cacheOf(module);
    // '\n' cannot occur in a shape, and the names were checked to be distinct strings; an int8 graph
    // carries the scales and weights on their grid, so it is cached apart from the float one.
    const shapeKey = `${quantization ? 'int8:' : ''}${sampleShape.join('x')}`;
    const key = nodes === undefined ? shapeKey : `${shapeKey}\n${nodes.join('\n')}\n${rootName ?? ''}`;
    let entry = cache.graphs.get(key);
    if (!entry) {
      const trace = Tracer.trace(module, sampleShape);
      const outputs = nodes === undefined ? [trace.output.id] : nodeValues(trace, nodes, rootName);
      // Several names can denote one value (`layer4`, `layer4.2`): the graph returns each value once.
      const distinct = [...new Set(outputs)];
      const graph = lower(trace, { outputs: distinct, ...(quantization ? { quantization } : {}) });
      // The lowered graph (a JS copy of the weights) is garbage once prepared.
      entry = {
        prepared: prepareGraph(graph),
        outputShapes: distinct.map((id) => trace.values[id]!.shape),
        ...(nodes === undefined ? {} : { slots: outputs.map((id) => distinct.indexOf(id)) }),
      };
      if (cache.graphs.size >= GRAPHS_PER_MODULE) {
        const oldest = cache.graphs.keys().next().value!;
        cache.graphs.get(oldest)!.prepared.dispose();
        cache.graphs.delete(oldest);
      }
    } else {
      cache.graphs.delete(key); // re-inserted below: Map order is recency order
    }
    cache.graphs.set(key, entry);
    return entry;
  }

  /** The compile-cache key and compile options of `module`'s forward on `[batch, ...sample]`. */
  private executableKey(module: Module, sample: readonly number[], batch: number, nodes?: readonly string[]): { key: string; options: CompileOptions } {
    const options = this.compileOptions(module.placement, batch);
    const { device, dtype, benchmark } = module.placement;
    const outputsKey = nodes === undefined ? '' : `/${nodes.join('\n')}`;
    const key = `${sample.join('x')}/${batch}/${device}/${dtype}/${benchmark ? 'benchmark' : 'heuristic'}/${options.threads ?? '-'}${outputsKey}`;
    return { key, options };
  }

  /** Drops the module's prepared graphs and executables (after their runs): its placement changed, or it was disposed. */
  release(module: Module): void {
    const cache = this.modules.get(module);
    if (!cache) return;
    this.modules.delete(module);
    cache.executables.clear();
    for (const { prepared } of cache.graphs.values()) prepared.dispose();
  }

  allocateInput(module: Module, batch: number, options: Required<AllocateInputOptions>): Tensor {
    const { dtype, layout, channels } = options;
    const [height, width] = options.size as readonly [number, number];
    const shape = layout === 'nhwc' ? [batch, height, width, channels] : [batch, channels, height, width];
    const data = allocateInputArray(shape.reduce((a, b) => a * b, 1), dtype, backendOf(module.placement.device));
    return Tensor.from(data, shape, dtype).asLayout(layout);
  }

  /**
   * The compile options for `module`'s placement (device, dtype, benchmark) and `batch`; threads on the CPU
   * only (changing them must not recompile a GPU executable).
   */
  private compileOptions(placement: Placement, batch: number, threads?: number, normalization?: InputNormalization): CompileOptions {
    const { device, dtype, benchmark } = placement;
    const target = backendOf(device);
    const cpuThreads = target.backend === 'cpu' ? threads ?? getNumThreads() : undefined;
    return {
      ...target,
      batch,
      precision: dtype,
      ...(cpuThreads === undefined ? {} : { threads: cpuThreads }),
      ...(benchmark ? { benchmark } : {}),
      ...(normalization === undefined ? {} : { normalization }),
    };
  }

  /**
   * Compiles `module` through the pipeline `forward` uses (trace, lower and prepare, cached per module,
   * input shape and outputs; then compile for the module's placement) for a caller that keeps the
   * executable, such as the server: it stays out of the forward cache, and the caller disposes it. Call
   * {@link CompiledExecutor.release} once every batch size is compiled to free the prepared graph's own
   * copy of the weights (the executables keep what they use).
   * @throws as `forward` does for the module and shape; InvalidArgumentError for an unknown output name.
   */
  async compile(module: Module, spec: CompileSpec): Promise<CompiledModule> {
    const callSite = new Error();
    try {
      const outputs = spec.outputs ?? [rootOutput];
      const placement = spec.placement ?? module.placement;
      const { prepared, outputShapes, slots } = this.graphFor(module, spec.sampleShape, outputs, rootOutput, placement);
      const executable = await compileGraph(prepared, this.compileOptions(placement, spec.batch, spec.threads, spec.normalization));
      // Each requested output once: a name repeated (or two names of one value) would need a copy per run.
      if (slots !== undefined && new Set(slots).size !== slots.length) {
        executable.dispose();
        throw invalidArgument('outputs that name distinct values', 'spec.outputs', outputs);
      }
      return { executable, outputShapes };
    } catch (error) {
      throw fromNative(error, callSite);
    }
  }

  async forward(module: Module, x: Tensor, options?: ForwardOptions): Promise<Tensor> {
    const [output] = await this.execute(module, x, undefined, options?.signal, new Error());
    return output!;
  }

  /** The outputs of the named submodules of `module` on `x`, in the order of `nodes`, from one native run. */
  async forwardNodes(module: Module, x: Tensor, nodes: readonly string[], options?: ForwardOptions): Promise<Tensor[]> {
    return this.execute(module, x, nodes, options?.signal, new Error());
  }

  /**
   * Compiles `module` for each batch size of `spec` into the forward cache, one after another, and runs each
   * `spec.runs` times on a zeroed input of its dtype and layout. An abort stops before the next step.
   */
  async warmup(module: Module, spec: WarmupSpec): Promise<void> {
    const callSite = new Error();
    const { signal, sampleShape, dtype, layout } = spec;
    try {
      for (const batch of spec.batchSizes) {
        signal?.throwIfAborted();
        const { prepared } = this.graphFor(module, sampleShape);
        const { key, options } = this.executableKey(module, sampleShape, batch);
        const executable = await abortable(this.cacheOf(module).executables.get(key, () => compileGraph(prepared, options)), signal);
        if (spec.runs === 0) continue;
        const elements = batch * sampleShape.reduce((a, b) => a * b, 1);
        const data = dtype === 'float32' ? new Float32Array(elements) : dtype === 'float16' ? new Uint16Array(elements) : new Uint8Array(elements);
        for (let i = 0; i < spec.runs; i++) {
          signal?.throwIfAborted();
          await abortable(this.leases.use(executable, (e) => e.run({ data, dtype, layout })), signal);
        }
      }
    } catch (error) {
      if (isAbortReason(error, signal)) throw error;
      throw fromNative(error, callSite);
    }
  }

  private async execute(module: Module, x: Tensor, nodes: readonly string[] | undefined, signal: AbortSignal | undefined, callSite: Error): Promise<Tensor[]> {
    const { data, dtype: inputDType, layout, shape } = forwardInput(x);
    const [batch, ...sample] = shape;
    const { prepared, outputShapes, slots } = this.graphFor(module, sample, nodes);
    const { key, options } = this.executableKey(module, sample, batch, nodes);
    const cache = this.cacheOf(module);
    const compiled = !cache.executables.has(key);
    try {
      const executable = await abortable(cache.executables.get(key, () => compileGraph(prepared, options)), signal);
      // Aborted while compiling: the run never starts (the compile stays cached for later forwards).
      signal?.throwIfAborted();
      // The lease lasts until the native run settles, even when an abort has already answered the caller:
      // the executable is disposed only after the run that reads it.
      const run = this.leases.use(executable, async (e) => {
        const result = await e.run({ data, dtype: inputDType, layout });
        if (!signal?.aborted) lastStats.set(module, { deviceMs: e.lastRunDeviceMs, compiled, describe: () => e.describe() });
        return result;
      });
      const outputs = await abortable(run, signal);
      const tensors = outputs.map((output, i) => Tensor.from(output, [batch, ...outputShapes[i]!]));
      // Names of one value (`layer4`, `layer4.2`) get separate tensors: editing one leaves the other.
      if (slots === undefined) return tensors;
      const used = new Set<number>();
      return slots.map((slot) => {
        const t = tensors[slot]!;
        if (!used.has(slot)) {
          used.add(slot);
          return t;
        }
        return Tensor.from(Float32Array.from(t.data as Float32Array), t.shape);
      });
    } catch (error) {
      if (isAbortReason(error, signal)) throw error;
      throw fromNative(error, callSite);
    }
  }
}

/** The process's executor: `Module.forward` runs through it (installed by the entry point), and so does the server. */
export const compiledExecutor = new CompiledExecutor();
