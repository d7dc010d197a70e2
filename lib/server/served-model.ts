/**
 * A model as the server runs it: built with its weights, moved to its device, lowered once to a graph
 * with two outputs (the logits and the pooled features), prepared once (one native copy of the weights)
 * and compiled for every batch size the batcher will form; the executables share the weights (TensorRT's
 * engine/context split), and the prepared graph is freed once they are compiled. A batch of any size up
 * to `maxBatchSize` runs as a few compiled chunks.
 *
 * On the CPU the compute threads are split between the instances ({@link cpuThreadsPerInstance}), and
 * every batch size is compiled twice when that share is smaller than all the threads: once with the
 * instance's share (batches side by side) and once with every thread (a batch that runs alone).
 * @module
 */
import { performance } from 'node:perf_hooks';
import { DisposedError, InvalidArgumentError, ShapeError } from '../errors.js';
import { lower } from '../compile/lower.js';
import { Tracer, type Trace } from '../nn/trace.js';
import { backendOf, resolvePlacement } from '../runtime/device.js';
import { backendInfo, compileGraph, prepareGraph, type Executable } from '../runtime/engine.js';
import { getNumThreads } from '../runtime/threads.js';
import { decodeImages } from './images.js';
import { loadModelSource, type ImageTransforms, type ModelLogger } from './model-source.js';
import {
  serverDefaults, tensorNames,
  type ModelSignature, type ResolvedBatchingOptions, type ResolvedModelOptions,
} from './types.js';

export type { ModelLogger } from './model-source.js';

/** The platform string of model metadata (`<project>_<format>`, protocol §5). */
export const servedModelPlatform = 'resnet_cudnn';

/**
 * The batch sizes compiled for a `maxBatchSize`: 1, the powers of two below it, every preferred size and
 * `maxBatchSize` itself, ascending. Any batch up to `maxBatchSize` is a sum of these (1 is among them).
 */
export function compiledBatchSizesFor(maxBatchSize: number, preferredBatchSizes: readonly number[]): number[] {
  const sizes = new Set<number>([1, maxBatchSize, ...preferredBatchSizes]);
  for (let size = 2; size < maxBatchSize; size *= 2) sizes.add(size);
  return [...sizes].sort((a, b) => a - b);
}

/**
 * The CPU instance count when the options leave it open: {@link serverDefaults.cpuInstanceCount} with 2 or
 * more compute threads (so each instance has a core of its own), else 1.
 */
export function defaultCpuInstanceCount(threads: number): number {
  return threads >= 2 ? Math.min(serverDefaults.cpuInstanceCount, threads) : 1;
}

/** Each CPU instance's share of the compute threads (at least 1; instances beyond the threads share). */
export function cpuThreadsPerInstance(threads: number, instanceCount: number): number {
  return Math.max(1, Math.floor(threads / instanceCount));
}

/** A batch of `n` split greedily into compiled sizes, largest first (`7` over 1, 2, 4, 8 → 4, 2, 1). */
export function chunkSizes(n: number, compiled: readonly number[]): number[] {
  const chunks: number[] = [];
  let left = n;
  for (let i = compiled.length - 1; i >= 0 && left > 0; ) {
    if (compiled[i]! <= left) {
      chunks.push(compiled[i]!);
      left -= compiled[i]!;
    } else {
      i--;
    }
  }
  if (left > 0) throw new Error(`chunkSizes: ${n} is not a sum of ${compiled.join(', ')}`);
  return chunks;
}

/** The trace value of the pooled features: the output of `featureModule`, `[D, 1, 1]` (the same floats as `[D]`). */
function featureValue(trace: Trace, featureModule: string): { id: number; size: number } {
  const id = trace.moduleOutputs.get(featureModule);
  const shape = id === undefined ? undefined : trace.values[id]!.shape;
  if (id === undefined || shape === undefined || shape.length !== 3 || shape[1] !== 1 || shape[2] !== 1) {
    throw new Error(`the model has no pooled ${featureModule} output [D, 1, 1] to serve as '${tensorNames.features}'`);
  }
  return { id, size: shape[0]! };
}

/** What {@link ServedModel.load} hands the constructor. */
interface ServedModelParts {
  options: ResolvedModelOptions;
  batching: ResolvedBatchingOptions & { instanceCount: number };
  signature: ModelSignature;
  device: string;
  transforms: ImageTransforms;
  executables: ReadonlyMap<number, Executable>;
  aloneExecutables: ReadonlyMap<number, Executable> | null;
  threadsPerInstance: number | null;
}

/** How {@link ServedModel.execute} runs a batch. */
export interface ExecuteOptions {
  /** Nothing else is in flight: on the CPU, run with every thread rather than one instance's share. */
  alone?: boolean;
}

/** A model compiled for serving: decode images for it, run batches on it. */
export class ServedModel {
  /** The options it was loaded with. */
  readonly options: ResolvedModelOptions;
  /** Its batching options, `instanceCount` decided by the device when the options left it open. */
  readonly batching: ResolvedBatchingOptions & { instanceCount: number };
  /** Input `input` FP32 `[3, H, W]` (also BYTES: encoded images); outputs `output` (logits, labelled) and `features`. */
  readonly signature: ModelSignature;
  /** The device it runs on, `auto` resolved: `cpu` or `cuda:N`. */
  readonly device: string;
  /** The batch sizes compiled, ascending; a batch runs as chunks of these. */
  readonly compiledBatchSizes: readonly number[];
  /** CPU threads of each instance's runs (null on a GPU); a batch that runs alone uses all of the server's. */
  readonly threadsPerInstance: number | null;
  readonly #transforms: ImageTransforms;
  readonly #sampleSize: number;
  readonly #outputSizes: readonly number[];
  #executables: ReadonlyMap<number, Executable> | null;
  /** The same batch sizes compiled with every CPU thread; null where they would equal #executables. */
  #aloneExecutables: ReadonlyMap<number, Executable> | null;
  #engineCalls = 0;

  private constructor(parts: ServedModelParts) {
    this.options = parts.options;
    this.batching = parts.batching;
    this.signature = parts.signature;
    this.device = parts.device;
    this.compiledBatchSizes = Object.freeze([...parts.executables.keys()].sort((a, b) => a - b));
    this.#transforms = parts.transforms;
    this.#sampleSize = parts.signature.inputs[0]!.sampleShape.reduce((a, b) => a * b, 1);
    this.#outputSizes = parts.signature.outputs.map((o) => o.sampleShape.reduce((a, b) => a * b, 1));
    this.#executables = parts.executables;
    this.#aloneExecutables = parts.aloneExecutables;
    this.threadsPerInstance = parts.threadsPerInstance;
  }

  /**
   * Builds the model with its weights, moves it to its device and dtype, compiles every batch size it will
   * use (sharing one native copy of the weights) and runs each once, so the first request pays no
   * compilation or first-run cost. Logs what it compiled, the weight bytes and the time taken.
   * @throws InvalidArgumentError for an unknown architecture or weights name; InvalidFileError /
   *   StateDictError for a weights file that cannot be read or does not fit; ShapeError for an input size
   *   too small for the network; BackendUnavailableError (NoGpuError, …) when the device cannot be used.
   */
  static async load(options: ResolvedModelOptions, log: ModelLogger): Promise<ServedModel> {
    const started = performance.now();
    const source = await loadModelSource(options, log);
    const { model, transforms } = source;
    // Resolved here rather than with model.to: the model is only traced, never run through the
    // package's executor, and this works without the entry point's resolver installed.
    const { device, dtype, benchmark } = resolvePlacement(
      { device: options.device, dtype: options.dtype, benchmark: options.benchmark },
      model.placement,
    );
    const { maxBatchSize, preferredBatchSizes } = options.batching;
    for (const size of preferredBatchSizes) {
      if (!Number.isSafeInteger(size) || size < 1 || size > maxBatchSize) {
        throw new InvalidArgumentError(`Expected preferred batch sizes from 1 to maxBatchSize (${maxBatchSize}) for model ${options.name} but received ${size}`);
      }
    }

    const size = transforms.cropSize;
    const trace = Tracer.trace(model, [3, size, size]);
    const features = featureValue(trace, source.featureModule);
    const numClasses = trace.output.shape[0]!;
    // The lowered graph holds a JS copy of the weights: it and the model are garbage once prepared.
    const prepared = prepareGraph(lower(trace, { outputs: [trace.output.id, features.id] }));
    const target = backendOf(device);
    // Never more than the CPU budget (a container's CPU quota may be below the cores the process sees):
    // the instances' shares must fit in it side by side.
    const cpuThreads = target.backend === 'cpu' ? Math.min(getNumThreads(), backendInfo().backends.cpu.threads) : null;
    const instanceCount = options.batching.instanceCount
      ?? (cpuThreads !== null ? defaultCpuInstanceCount(cpuThreads) : serverDefaults.gpuInstanceCount);
    const threadsPerInstance = cpuThreads !== null ? cpuThreadsPerInstance(cpuThreads, instanceCount) : null;
    const executables = new Map<number, Executable>();
    const aloneExecutables = cpuThreads !== null && threadsPerInstance! < cpuThreads ? new Map<number, Executable>() : null;
    try {
      // One at a time: concurrent compiles would time cuDNN's algorithms against each other.
      const compileAll = async (into: Map<number, Executable>, threads: number | null): Promise<void> => {
        for (const batch of compiledBatchSizesFor(maxBatchSize, preferredBatchSizes)) {
          into.set(batch, await compileGraph(prepared, {
            ...target, ...(threads !== null ? { threads } : {}), batch, precision: dtype, ...(benchmark ? { benchmark } : {}),
          }));
        }
        for (const [batch, executable] of into) await executable.run(new Float32Array(batch * 3 * size * size));
      };
      await compileAll(executables, threadsPerInstance);
      if (aloneExecutables !== null) await compileAll(aloneExecutables, cpuThreads);
    } catch (error) {
      for (const executable of [...executables.values(), ...(aloneExecutables?.values() ?? [])]) executable.dispose();
      throw error;
    } finally {
      // Every batch size is compiled: the executables keep the weights they use, and the prepared
      // graph's own native copy (as large as the checkpoint) would only be dead weight from here on.
      prepared.dispose();
    }

    const signature: ModelSignature = {
      name: options.name,
      version: options.version,
      platform: servedModelPlatform,
      maxBatchSize,
      inputs: [{ name: tensorNames.input, datatype: 'FP32', sampleShape: [3, size, size], accepts: ['FP32', 'BYTES'] }],
      outputs: [
        { name: tensorNames.output, datatype: 'FP32', sampleShape: [numClasses], labels: source.labels },
        { name: tensorNames.features, datatype: 'FP32', sampleShape: [features.size], labels: null },
      ],
    };
    const served = new ServedModel({
      options, batching: { ...options.batching, instanceCount }, signature, device, transforms, executables,
      aloneExecutables, threadsPerInstance,
    });
    let weightBytes = 0;
    let activationBytes = 0;
    for (const executable of [...executables.values(), ...(aloneExecutables?.values() ?? [])]) {
      weightBytes += executable.weightBytes - executable.sharedWeightBytes;
      activationBytes += executable.activationBytes;
    }
    log.info(
      {
        model: options.name, version: options.version, arch: options.arch, weights: source.weightsDescription,
        device, dtype, inputSize: size, batchSizes: served.compiledBatchSizes, instanceCount,
        ...(threadsPerInstance !== null ? { threadsPerInstance, threads: cpuThreads } : {}),
        weightBytes, activationBytes, loadMs: Math.round(performance.now() - started),
      },
      `model ${options.name} compiled and warmed up: batch sizes ${served.compiledBatchSizes.join(', ')} on ${device}`,
    );
    return served;
  }

  /** Native runs by {@link execute} so far, one per chunk (the warm-up runs of `load` excluded). */
  get engineCalls(): number {
    return this.#engineCalls;
  }

  /**
   * Encoded images → `n × 3 × H × W` float32 input, preprocessed with the weights' transforms.
   * @throws HttpError 400 naming the first element that is not a decodable image.
   */
  decodeImages(images: readonly Buffer[]): Promise<Float32Array> {
    return decodeImages(images, this.#transforms, this.signature.inputs[0]!.name);
  }

  /**
   * Runs `batchSize` samples (NCHW float32) and returns one array per signature output (`output`,
   * `features`), `batchSize × size` each. A batch size that was not compiled runs as compiled chunks,
   * largest first, all queued at once (the engine starts them in turn). On the CPU a batch runs with its
   * instance's share of the threads, or with all of them when `options.alone`.
   * @throws InvalidArgumentError for a batch size outside 1..maxBatchSize; ShapeError when `input` is not
   *   `batchSize` samples; DisposedError after {@link dispose}; GpuOutOfMemoryError.
   */
  async execute(input: Float32Array, batchSize: number, options: ExecuteOptions = {}): Promise<Float32Array[]> {
    const executables = (options.alone === true ? this.#aloneExecutables : null) ?? this.#executables;
    if (executables === null) throw new DisposedError(`model ${this.options.name} was disposed; load it again to run it`);
    const max = this.signature.maxBatchSize;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > max) {
      throw new InvalidArgumentError(`Expected a batch size from 1 to ${max} for model ${this.options.name} but received ${batchSize}`);
    }
    if (!(input instanceof Float32Array) || input.length !== batchSize * this.#sampleSize) {
      throw new ShapeError(`Expected ${batchSize} × ${this.#sampleSize} float32 input values for model ${this.options.name} but received ${input?.length}`);
    }
    const outputs = this.#outputSizes.map((size) => new Float32Array(batchSize * size));
    let offset = 0;
    const runs = chunkSizes(batchSize, this.compiledBatchSizes).map((chunk) => {
      const start = offset;
      offset += chunk;
      this.#engineCalls++;
      // run() copies its input before returning, so views into the caller's array are safe.
      const pending = executables.get(chunk)!.run(input.subarray(start * this.#sampleSize, (start + chunk) * this.#sampleSize));
      return pending.then((results) => {
        results.forEach((values, i) => outputs[i]!.set(values, start * this.#outputSizes[i]!));
      });
    });
    await Promise.all(runs);
    return outputs;
  }

  /**
   * Frees the executables (weights and activation memory) now rather than at garbage collection; the
   * prepared graph was freed when loading finished. Runs in flight finish first (the engine's own
   * reference). Idempotent; {@link execute} rejects afterwards.
   */
  dispose(): void {
    for (const executable of [...this.#executables?.values() ?? [], ...this.#aloneExecutables?.values() ?? []]) executable.dispose();
    this.#executables = null;
    this.#aloneExecutables = null;
  }
}
