/**
 * One {@link DynamicBatcher} per served model: requests carry their preprocessed input (`n × 3 × H × W`
 * floats), the batch's inputs are laid end to end for one engine run, and each request gets back its own
 * rows of every output.
 * @module
 */
import { DynamicBatcher, type BatchEntry } from './batcher.js';
import type { ServedModel } from './served-model.js';
import type { ServerMetrics } from './metrics.js';

/** A model's batcher: inputs are a request's samples, outputs its rows of each signature output. */
export type ModelBatcher = DynamicBatcher<Float32Array, Float32Array[]>;

/**
 * Lays the entries' inputs end to end in one `batchSize`-sample buffer: `into` (at least that long) when
 * given, else a new one. Samples past the entries (a batcher that pads to a compiled size) are zero.
 */
export function concatenateInputs(
  entries: readonly BatchEntry<Float32Array>[], batchSize: number, sampleSize: number, into?: Float32Array,
): Float32Array {
  const batch = into === undefined ? new Float32Array(batchSize * sampleSize) : into.subarray(0, batchSize * sampleSize);
  let offset = 0;
  for (const entry of entries) {
    batch.set(entry.input, offset);
    offset += entry.size * sampleSize;
  }
  if (into !== undefined) batch.fill(0, offset);
  return batch;
}

/** Cuts each output (`batchSize × rowSize`) back into the entries' rows, in entry order. */
export function splitOutputs(entries: readonly BatchEntry<unknown>[], outputs: readonly Float32Array[], batchSize: number): Float32Array[][] {
  const rowSizes = outputs.map((values) => values.length / batchSize);
  let row = 0;
  return entries.map((entry) => {
    const rows = outputs.map((values, i) => values.slice(row * rowSizes[i]!, (row + entry.size) * rowSizes[i]!));
    row += entry.size;
    return rows;
  });
}

/** The batcher of `model`, reporting each batch it runs to `metrics`. */
export function createModelBatcher(model: ServedModel, metrics: ServerMetrics): ModelBatcher {
  const { name, version } = model.signature;
  const sampleSize = model.signature.inputs[0]!.sampleShape.reduce((a, b) => a * b, 1);
  // One batch buffer for every batch of the model: `execute` hands it to the engine, whose `run` copies
  // its input before returning, so the buffer is free again as soon as `execute` has been called. A
  // fresh multi-megabyte buffer per batch costs page faults and garbage collection on the event loop.
  let scratch: Float32Array | null = null;
  return new DynamicBatcher<Float32Array, Float32Array[]>(
    model.batching,
    async (entries, batchSize, { alone }) => {
      scratch ??= new Float32Array(model.batching.maxBatchSize * sampleSize);
      const input = concatenateInputs(entries, batchSize, sampleSize, scratch);
      const outputs = await model.execute(input, batchSize, { alone });
      return splitOutputs(entries, outputs, batchSize);
    },
    { onBatch: (report) => metrics.batchExecuted(name, version, report.batchSize, report.computeMicroseconds) },
  );
}
