/**
 * Calibration: runs the float model on the CPU over the calibration batches and observes every value a
 * conv writes, exactly as the int8 graph will store it. The model is traced and lowered as for a forward
 * (so after BatchNorm folding and the residual-add and ReLU fusions), each conv's dst is added to the
 * graph's outputs, and the graph is compiled at float32: the observed values are post-BN, post-residual,
 * post-ReLU, the values the quantized graph holds in 8 bits.
 * @module
 */
import { DTypeError, ShapeError, invalidArgument } from '../errors.js';
import { Tensor, formatShape } from '../tensor.js';
import { Tracer } from '../nn/trace.js';
import type { Module } from '../nn/module.js';
import type { ConvOp, Graph } from '../compile/graph.js';
import { lowerWithPaths } from '../compile/lower.js';
import { compileGraph, prepareGraph, type Executable } from '../runtime/engine.js';
import { getNumThreads } from '../runtime/threads.js';
import { MagnitudeHistogram } from './observer.js';

/** The batches `quantize` calibrates on: one tensor `[N, C, H, W]` or several, given at once or as they come. */
export type CalibrationData = Tensor | Iterable<Tensor> | AsyncIterable<Tensor>;

/** The memory one calibration run may fill with observed values; batches are split to stay under it. */
const runOutputBytes = 256 * 2 ** 20;

/** What calibration observed, and the float graph it observed it on. */
export interface Observations {
  /** The float graph (BatchNorm folded): its convs' weights give the weight scales. */
  readonly graph: Graph;
  /** Module path of each conv op. */
  readonly convPaths: ReadonlyMap<ConvOp, string>;
  /** The model's input values. */
  readonly input: MagnitudeHistogram;
  /** Each conv's dst values, by conv module path (a conv called twice is observed once, over both calls). */
  readonly activations: ReadonlyMap<string, { readonly observed: MagnitudeHistogram; readonly afterRelu: boolean }>;
  /** Images observed. */
  readonly images: number;
}

async function* batchesOf(data: CalibrationData): AsyncGenerator<Tensor> {
  if (data instanceof Tensor) {
    yield data;
    return;
  }
  const source = data as Partial<Iterable<Tensor> & AsyncIterable<Tensor>> | null;
  if (typeof source?.[Symbol.asyncIterator] === 'function' || typeof source?.[Symbol.iterator] === 'function') {
    yield* data as AsyncIterable<Tensor>;
    return;
  }
  throw invalidArgument('a Tensor [N, C, H, W], or an iterable or async iterable of them', 'calibration', data);
}

function checkBatch(x: unknown, index: number): Tensor<'float32'> {
  if (!(x instanceof Tensor)) throw invalidArgument('a Tensor [N, C, H, W]', `calibration batch ${index}`, x);
  if (x.dtype !== 'float32') {
    throw new DTypeError(
      `calibration batch ${index} is ${x.dtype}: calibrate on float32 input exactly as the model will receive it (normalised), e.g. preprocess(images, weights.transforms())`,
    );
  }
  if (x.ndim !== 4 || x.shape[0] === 0) {
    throw new ShapeError(`calibration batch ${index}: expected a non-empty 4-D input [N, C, H, W] but received shape ${formatShape(x.shape)}`);
  }
  return x as Tensor<'float32'>;
}

/**
 * Runs `model` at float32 on the CPU over `data` and observes its input and every conv's output.
 * @param binned false when only the largest magnitudes are needed (`minmax`).
 * @throws InvalidArgumentError, DTypeError, ShapeError for bad batches (batches of different image
 *   sizes included); `signal.reason` when aborted; the engine's errors.
 */
export async function observe(model: Module, data: CalibrationData, binned: boolean, signal?: AbortSignal): Promise<Observations> {
  const executables = new Map<number, Executable>();
  let prepared: ReturnType<typeof prepareGraph> | undefined;
  let lowered: ReturnType<typeof lowerWithPaths> | undefined;
  let sample: readonly number[] | undefined;
  let chunk = 1;
  let images = 0;
  const input = new MagnitudeHistogram(binned);
  const activations = new Map<string, { observed: MagnitudeHistogram; afterRelu: boolean }>();
  /** Per conv op, in the graph's added outputs' order: where its values go. */
  let observers: MagnitudeHistogram[] = [];
  let index = 0;
  try {
    for await (const raw of batchesOf(data)) {
      signal?.throwIfAborted();
      const x = checkBatch(raw, index++);
      const n = x.shape[0]!;
      const rest = x.layout === 'nhwc' ? [x.shape[3]!, x.shape[1]!, x.shape[2]!] : x.shape.slice(1);
      if (sample === undefined) {
        sample = rest;
        lowered = lowerWithPaths(Tracer.trace(model, sample));
        const { graph, convPaths } = lowered;
        const convs = graph.ops.filter((op): op is ConvOp => op.op === 'conv' && convPaths.has(op));
        observers = convs.map((op) => {
          const path = convPaths.get(op)!;
          let entry = activations.get(path);
          if (!entry) activations.set(path, (entry = { observed: new MagnitudeHistogram(binned), afterRelu: op.relu }));
          return entry.observed;
        });
        const observed: Graph = { ...graph, outputs: [...graph.outputs, ...convs.map((op) => op.dst)] };
        const bytesPerImage = convs.reduce((sum, op) => sum + 4 * graph.values[op.dst]!.shape.reduce((a, b) => a * b, 1), 0);
        chunk = Math.max(1, Math.min(64, Math.floor(runOutputBytes / Math.max(1, bytesPerImage))));
        prepared = prepareGraph(observed);
      } else if (rest.length !== sample.length || rest.some((d, i) => d !== sample![i])) {
        throw new ShapeError(`calibration batch ${index - 1} has images of shape ${formatShape(rest)}, the first batch ${formatShape(sample)}: calibrate on one image size`);
      }
      input.observe(x.data);
      const perImage = x.data.length / n;
      for (let start = 0; start < n; start += chunk) {
        signal?.throwIfAborted();
        const count = Math.min(chunk, n - start);
        let executable = executables.get(count);
        if (!executable) {
          executable = await compileGraph(prepared!, { backend: 'cpu', batch: count, precision: 'float32', threads: getNumThreads() });
          executables.set(count, executable);
        }
        const outputs = await executable.run({ data: x.data.subarray(start * perImage, (start + count) * perImage), dtype: 'float32', layout: x.layout });
        const first = lowered!.graph.outputs.length;
        observers.forEach((observer, k) => observer.observe(outputs[first + k]!));
      }
      images += n;
    }
  } finally {
    for (const executable of executables.values()) executable.dispose();
    prepared?.dispose();
  }
  if (lowered === undefined) throw invalidArgument('at least one calibration batch', 'calibration', data);
  return { graph: lowered.graph, convPaths: lowered.convPaths, input, activations, images };
}
