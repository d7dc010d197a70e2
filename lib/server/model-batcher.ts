/**
 * One {@link DynamicBatcher} per served model: requests carry their input as the engine takes it (a
 * {@link ModelInput}: samples in one of the image forms, as views on the bytes the request arrived in), a
 * batch's inputs go to the engine as they are — laid end to end as segments of one run per compiled chunk,
 * never assembled on the host — and each request gets back its own rows of every output.
 * @module
 */
import { DynamicBatcher } from './batcher.js';
import type { ModelInput, ServedModel } from './served-model.js';
import type { ServerMetrics } from './metrics.js';

/** A model's batcher: inputs are a request's samples, outputs its rows of each signature output. */
export type ModelBatcher = DynamicBatcher<ModelInput, Float32Array[]>;

/** The batcher of `model`, reporting each batch it runs to `metrics`. */
export function createModelBatcher(model: ServedModel, metrics: ServerMetrics): ModelBatcher {
  const { name, version } = model.signature;
  return new DynamicBatcher<ModelInput, Float32Array[]>(
    model.batching,
    (entries, _batchSize, { alone }) => model.run(entries.map((entry) => entry.input), { alone }),
    { onBatch: (report) => metrics.batchExecuted(name, version, report.batchSize, report.computeMicroseconds) },
  );
}
