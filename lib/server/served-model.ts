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
import { DisposedError, InvalidArgumentError, NotQuantizedError, ShapeError } from '../errors.js';
import { compiledExecutor, rootOutput } from '../compile/executor.js';
import { backendOf, resolvePlacement } from '../runtime/device.js';
import { backendInfo, type Executable } from '../runtime/engine.js';
import { inputElementBytes } from '../runtime/host-memory.js';
import type { InputDType, InputLayout } from '../runtime/native.js';
import { engineFormat, sampleShapeOf } from './image-tensor.js';
import { getNumThreads } from '../runtime/threads.js';
import { createImageDecoder, type ServedImageDecoder } from './image-decoder-choice.js';
import type { ImageDecodeCallOptions } from './image-decode.js';
import { loadModelSource, type ModelLogger } from './model-source.js';
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

/** The features output `[D, 1, 1]` (the same floats as `[D]`): its D, or why it cannot serve. */
function featureSize(shape: readonly number[] | undefined, featureModule: string): number {
  if (shape === undefined || shape.length !== 3 || shape[1] !== 1 || shape[2] !== 1) {
    throw new Error(`the model has no pooled ${featureModule} output [D, 1, 1] to serve as '${tensorNames.features}'`);
  }
  return shape[0]!;
}

/**
 * A run's worth of one request's input as the server holds it: samples of an element type and layout, their
 * bytes as segments laid end to end where the request carried them (a body, a shared-memory region, an
 * image worker's pixels), not copied: the engine reads them in place where they are host memory lent to
 * runs, or copies them once into its own staging.
 */
export interface ModelInput {
  readonly dtype: InputDType;
  readonly layout: InputLayout;
  readonly samples: number;
  readonly segments: readonly Uint8Array[];
  /**
   * Gives the segments' memory back to its owner (the GPU image decoder's pixel buffers); called once, by the
   * model's batcher, when nothing reads the input any more. Absent where the memory needs no giving back.
   */
  readonly release?: () => void;
}

/** `bytes` [start, end) of segments laid end to end, as views (no copy). */
export function sliceSegments(segments: readonly Uint8Array[], start: number, end: number): Uint8Array[] {
  const slices: Uint8Array[] = [];
  let offset = 0;
  for (const segment of segments) {
    const from = Math.max(start, offset);
    const to = Math.min(end, offset + segment.length);
    if (from < to) slices.push(segment.subarray(from - offset, to - offset));
    offset += segment.length;
    if (offset >= end) break;
  }
  return slices;
}

/** What {@link ServedModel.load} hands the constructor. */
interface ServedModelParts {
  options: ResolvedModelOptions;
  batching: ResolvedBatchingOptions & { instanceCount: number };
  signature: ModelSignature;
  device: string;
  sampleElements: number;
  executables: ReadonlyMap<number, Executable>;
  aloneExecutables: ReadonlyMap<number, Executable> | null;
  threadsPerInstance: number | null;
  imageDecoder: ServedImageDecoder;
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
  /** Input `input` (images FP32/FP16/UINT8 in either layout, or BYTES: encoded images); outputs `output` (logits, labelled) and `features`. */
  readonly signature: ModelSignature;
  /** The device it runs on, `auto` resolved: `cpu` or `cuda:N`. */
  readonly device: string;
  /** The batch sizes compiled, ascending; a batch runs as chunks of these. */
  readonly compiledBatchSizes: readonly number[];
  /** CPU threads of each instance's runs (null on a GPU); a batch that runs alone uses all of the server's. */
  readonly threadsPerInstance: number | null;
  /** What decodes its BYTES images (nvJPEG on its GPU, or the CPU workers) and why. */
  readonly imageDecoder: Pick<ServedImageDecoder, 'decoder' | 'name' | 'reason'>;
  readonly #images: ServedImageDecoder;
  readonly #sampleElements: number;
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
    this.#sampleElements = parts.sampleElements;
    this.#outputSizes = parts.signature.outputs.map((o) => o.sampleShape.reduce((a, b) => a * b, 1));
    this.#executables = parts.executables;
    this.#aloneExecutables = parts.aloneExecutables;
    this.threadsPerInstance = parts.threadsPerInstance;
    this.#images = parts.imageDecoder;
    const { decoder, name, reason } = parts.imageDecoder;
    this.imageDecoder = Object.freeze({ decoder, name, reason });
  }

  /**
   * Builds the model with its weights and compiles every batch size it will use through the pipeline of
   * `Module.forward` (trace, lower, prepare once, compile: the executables share one native copy of the
   * weights), with the weights' normalisation fused into the engine's input conversion for pixel (uint8)
   * input, then runs each once per input form, so the first request pays no compilation, capture or
   * first-run cost. Logs what it compiled, the weight bytes and the time taken. A model without weights is
   * initialised from `new Generator(seed)` when `seed` is given (the server's `seed` option).
   * @throws InvalidArgumentError for an unknown architecture or weights name; InvalidFileError /
   *   StateDictError for a weights file that cannot be read or does not fit; ShapeError for an input size
   *   too small for the network; BackendUnavailableError (NoGpuError, …) when the device cannot be used.
   */
  static async load(options: ResolvedModelOptions, log: ModelLogger, seed: number | null = null): Promise<ServedModel> {
    const started = performance.now();
    const source = await loadModelSource(options, log, seed);
    const { model, transforms } = source;
    // Resolved here rather than with model.to: this works without the entry point's resolver installed.
    const placement = resolvePlacement(
      { device: options.device, dtype: options.dtype, benchmark: options.benchmark },
      model.placement,
    );
    const { device } = placement;
    if (placement.dtype === 'int8' && model.quantization === null) {
      throw new NotQuantizedError(
        `model ${options.name}: dtype 'int8' runs a quantized weights file, and ${options.weights === null ? 'random weights have' : `${JSON.stringify(options.weights)} has`} no quantization scales: write one with \`resnet quantize --model ${options.arch} --weights FLOAT_WEIGHTS --calibration IMAGES --out FILE.safetensors\` and serve that, or serve dtype 'float32'`,
      );
    }
    const { maxBatchSize, preferredBatchSizes } = options.batching;
    for (const size of preferredBatchSizes) {
      if (!Number.isSafeInteger(size) || size < 1 || size > maxBatchSize) {
        throw new InvalidArgumentError(`Expected preferred batch sizes from 1 to maxBatchSize (${maxBatchSize}) for model ${options.name} but received ${size}`);
      }
    }

    const size = transforms.cropSize;
    const image = { channels: 3, height: size, width: size };
    const target = backendOf(device);
    // Never more than the CPU budget (a container's CPU quota may be below the cores the process sees):
    // the instances' shares must fit in it side by side.
    const cpuThreads = target.backend === 'cpu' ? Math.min(getNumThreads(), backendInfo().backends.cpu.threads) : null;
    const instanceCount = options.batching.instanceCount
      ?? (cpuThreads !== null ? defaultCpuInstanceCount(cpuThreads) : serverDefaults.gpuInstanceCount);
    const threadsPerInstance = cpuThreads !== null ? cpuThreadsPerInstance(cpuThreads, instanceCount) : null;
    const executables = new Map<number, Executable>();
    const aloneExecutables = cpuThreads !== null && threadsPerInstance! < cpuThreads ? new Map<number, Executable>() : null;
    // Pixels (uint8) are normalised in the engine with the weights' mean and std; float input is the model's
    // input as it is, as clients of the FP32 form have always sent it.
    const normalization = { scale: 1 / 255, mean: [...transforms.mean], std: [...transforms.std], inputs: ['uint8' as const] };
    let numClasses = 0;
    let features = 0;
    try {
      // One at a time: concurrent compiles would time cuDNN's algorithms against each other.
      const compileAll = async (into: Map<number, Executable>, threads: number | null): Promise<void> => {
        for (const batch of compiledBatchSizesFor(maxBatchSize, preferredBatchSizes)) {
          const compiled = await compiledExecutor.compile(model, {
            sampleShape: [3, size, size], batch, outputs: [rootOutput, source.featureModule], placement, normalization,
            ...(threads !== null ? { threads } : {}),
          });
          into.set(batch, compiled.executable);
          numClasses = compiled.outputShapes[0]![0]!;
          features = featureSize(compiled.outputShapes[1], source.featureModule);
        }
        // The forms requests most often take run once (on a GPU each captures its CUDA graph here, not at a
        // request): the declared one, FP32 NCHW, UINT8 NHWC (decoders' order) and UINT8 NCHW (decoded BYTES).
        const forms = new Map<string, { dtype: InputDType; layout: InputLayout }>();
        for (const form of [
          engineFormat(options.inputDatatype, options.inputLayout), { dtype: 'float32', layout: 'nchw' },
          { dtype: 'uint8', layout: 'nhwc' }, { dtype: 'uint8', layout: 'nchw' },
        ] as const) forms.set(`${form.dtype}/${form.layout}`, form);
        for (const [batch, executable] of into) {
          const samples = batch * 3 * size * size;
          for (const { dtype, layout } of forms.values()) {
            await executable.run({ data: new Uint8Array(samples * inputElementBytes[dtype]), dtype, layout });
          }
        }
      };
      await compileAll(executables, threadsPerInstance);
      if (aloneExecutables !== null) await compileAll(aloneExecutables, cpuThreads);
    } catch (error) {
      for (const executable of [...executables.values(), ...(aloneExecutables?.values() ?? [])]) executable.dispose();
      throw error;
    } finally {
      // Every batch size is compiled: the executables keep the weights they use, and the prepared
      // graph's own native copy (as large as the checkpoint) would only be dead weight from here on.
      compiledExecutor.release(model);
    }

    const layout = options.inputLayout;
    const signature: ModelSignature = {
      name: options.name,
      version: options.version,
      platform: servedModelPlatform,
      maxBatchSize,
      inputs: [{
        name: tensorNames.input, datatype: options.inputDatatype, sampleShape: sampleShapeOf(image, layout), layout, image,
        accepts: ['FP32', 'FP16', 'UINT8', 'BYTES'],
      }],
      outputs: [
        { name: tensorNames.output, datatype: 'FP32', sampleShape: [numClasses], labels: source.labels },
        { name: tensorNames.features, datatype: 'FP32', sampleShape: [features], labels: null },
      ],
    };
    const imageDecoder = await createImageDecoder({
      setting: options.imageDecoder, device, transforms, maxBatchSize, inputName: tensorNames.input, model: options.name, log,
    });
    const served = new ServedModel({
      options, batching: { ...options.batching, instanceCount }, signature, device, sampleElements: 3 * size * size,
      executables, aloneExecutables, threadsPerInstance, imageDecoder,
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
        device, dtype: placement.dtype, inputSize: size, batchSizes: served.compiledBatchSizes, instanceCount,
        ...(threadsPerInstance !== null ? { threadsPerInstance, threads: cpuThreads } : {}),
        weightBytes, activationBytes, imageDecoder: imageDecoder.decoder, imageDecoderReason: imageDecoder.reason,
        loadMs: Math.round(performance.now() - started),
      },
      `model ${options.name} compiled and warmed up: batch sizes ${served.compiledBatchSizes.join(', ')} on ${device}; `
        + `images decoded by ${imageDecoder.name}`,
    );
    return served;
  }

  /** Native runs by {@link execute} and {@link run} so far, one per chunk (the warm-up runs of `load` excluded). */
  get engineCalls(): number {
    return this.#engineCalls;
  }

  /**
   * Encoded images → one sample each, decoded, resized and centre-cropped with the weights' transforms
   * into uint8 pixels (NCHW), which the engine normalises itself: on the GPU with nvJPEG where
   * {@link imageDecoder} says so (the images it cannot take on the CPU workers), else on the CPU workers.
   * The input's `release`, when set, gives its memory back once nothing reads it (the model's batcher calls it).
   * `options.signal` stops the decoding when the client goes away (499); `options.client` shares the CPU workers
   * fairly between clients.
   * @throws HttpError 400 naming the first element that is not a decodable image or too thin for the crop; 499
   *   once `signal` aborts.
   */
  decodeImages(images: readonly Buffer[], options: ImageDecodeCallOptions = {}): Promise<ModelInput> {
    return this.#images.decode(images, options);
  }

  /**
   * Runs one batch of requests' inputs (each a {@link ModelInput}, `samples` each, in any form) and returns
   * each input's rows of every signature output (`output`, `features`). The batch runs as compiled chunks,
   * largest first, all queued at once (the engine starts them in turn); inputs of different forms run in
   * separate chunks. The inputs' bytes go to the engine as they are. On the CPU a batch runs with its
   * instance's share of the threads, or with all of them when `options.alone`.
   * @throws InvalidArgumentError for a batch outside 1..maxBatchSize samples; ShapeError when an input's
   *   bytes are not its samples; DisposedError after {@link dispose}; GpuOutOfMemoryError.
   */
  async run(inputs: readonly ModelInput[], options: ExecuteOptions = {}): Promise<Float32Array[][]> {
    const executables = (options.alone === true ? this.#aloneExecutables : null) ?? this.#executables;
    if (executables === null) throw new DisposedError(`model ${this.options.name} was disposed; load it again to run it`);
    const max = this.signature.maxBatchSize;
    const total = inputs.reduce((sum, input) => sum + input.samples, 0);
    if (!Number.isSafeInteger(total) || total < 1 || total > max || inputs.some((input) => !Number.isSafeInteger(input.samples) || input.samples < 1)) {
      throw new InvalidArgumentError(`Expected a batch size from 1 to ${max} for model ${this.options.name} but received ${total}`);
    }
    for (const input of inputs) {
      const bytes = input.segments.reduce((sum, segment) => sum + segment.length, 0);
      const expected = input.samples * this.#sampleElements * (inputElementBytes[input.dtype] ?? NaN);
      if (bytes !== expected) {
        throw new ShapeError(`Expected ${input.samples} × ${this.#sampleElements} ${input.dtype} input values (${expected} bytes) for model ${this.options.name} but received ${bytes} bytes`);
      }
    }
    const outputs = inputs.map((input) => this.#outputSizes.map((size) => new Float32Array(input.samples * size)));
    const runs: Promise<void>[] = [];
    // Inputs of one form run together, in chunks of compiled sizes that may cut across inputs.
    const forms = new Map<string, number[]>();
    inputs.forEach((input, i) => {
      const key = `${input.dtype}/${input.layout}`;
      forms.set(key, [...forms.get(key) ?? [], i]);
    });
    for (const members of forms.values()) {
      const { dtype, layout } = inputs[members[0]!]!;
      const sampleBytes = this.#sampleElements * inputElementBytes[dtype];
      let member = 0;
      let sample = 0; // next sample of inputs[members[member]]
      const groupSamples = members.reduce((sum, i) => sum + inputs[i]!.samples, 0);
      for (const chunk of chunkSizes(groupSamples, this.compiledBatchSizes)) {
        // Which rows of which input this chunk holds, and their bytes as views.
        const pieces: { input: number; first: number; count: number }[] = [];
        const segments: Uint8Array[] = [];
        for (let left = chunk; left > 0;) {
          const index = members[member]!;
          const count = Math.min(left, inputs[index]!.samples - sample);
          pieces.push({ input: index, first: sample, count });
          segments.push(...sliceSegments(inputs[index]!.segments, sample * sampleBytes, (sample + count) * sampleBytes));
          left -= count;
          sample += count;
          if (sample === inputs[index]!.samples) {
            member++;
            sample = 0;
          }
        }
        this.#engineCalls++;
        runs.push(executables.get(chunk)!.run({ data: segments, dtype, layout }).then((results) => {
          results.forEach((values, o) => {
            const size = this.#outputSizes[o]!;
            let row = 0;
            for (const piece of pieces) {
              outputs[piece.input]![o]!.set(values.subarray(row * size, (row + piece.count) * size), piece.first * size);
              row += piece.count;
            }
          });
        }));
      }
    }
    // Every chunk settles before this does, even when one fails: the caller frees the inputs (request
    // bodies, shared-memory holds) once this settles, and the other chunks' runs read them in place.
    const settled = await Promise.allSettled(runs);
    const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return outputs;
  }

  /**
   * Runs `batchSize` samples of float32 NCHW input (the model's input as it is), or one {@link ModelInput},
   * and returns one array per signature output, `batchSize × size` each. See {@link run}.
   */
  async execute(input: Float32Array | ModelInput, batchSize?: number, options: ExecuteOptions = {}): Promise<Float32Array[]> {
    const part: ModelInput = input instanceof Float32Array
      ? { dtype: 'float32', layout: 'nchw', samples: batchSize ?? 0, segments: [new Uint8Array(input.buffer, input.byteOffset, input.byteLength)] }
      : input;
    const [outputs] = await this.run([part], options);
    return outputs!;
  }

  /**
   * Frees the executables (weights and activation memory) now rather than at garbage collection; the
   * prepared graph was freed when loading finished. Runs in flight finish first (the engine's own
   * reference). Idempotent; {@link execute} rejects afterwards.
   */
  dispose(): void {
    void this.#images.dispose();
    for (const executable of [...this.#executables?.values() ?? [], ...this.#aloneExecutables?.values() ?? []]) executable.dispose();
    this.#executables = null;
    this.#aloneExecutables = null;
  }
}
