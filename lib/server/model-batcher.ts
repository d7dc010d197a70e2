/**
 * One {@link DynamicBatcher} per served model: requests carry their input as the engine takes it (a
 * {@link ModelInput}: samples in one of the image forms, as views on the bytes the request arrived in), a
 * batch's inputs go to the engine as they are — laid end to end as segments of one run per compiled chunk,
 * never assembled on the host — and each request gets back its own rows of every output. An input with its own
 * memory to give back (the GPU image decoder's pixel buffers: `ModelInput.release`) gives it back when the
 * batcher is done with it (`onInputReleased`: once the run reading it has settled, or at once when it never
 * runs), never earlier.
 * @module
 */
import { DynamicBatcher, type Scheduled, type SubmitOptions } from './batcher.js';
import type { ModelInput, ServedModel } from './served-model.js';
import type { ServerMetrics } from './metrics.js';

/** A model's batcher: inputs are a request's samples, outputs its rows of each signature output. */
export class ModelBatcher extends DynamicBatcher<ModelInput, Float32Array[]> {
  /** {@link DynamicBatcher.submit}, with the input's `release` called once the batcher is done with it. */
  override submit(input: ModelInput, size: number, options: SubmitOptions = {}): Promise<Scheduled<Float32Array[]>> {
    const { release } = input;
    if (release === undefined) return super.submit(input, size, options);
    const onInputReleased = options.onInputReleased;
    return super.submit(input, size, {
      ...options,
      onInputReleased: () => {
        release();
        onInputReleased?.();
      },
    });
  }
}

/** The batcher of `model`, reporting each batch it runs to `metrics`. */
export function createModelBatcher(model: ServedModel, metrics: ServerMetrics): ModelBatcher {
  const { name, version } = model.signature;
  return new ModelBatcher(
    model.batching,
    (entries, _batchSize, { alone }) => model.run(entries.map((entry) => entry.input), { alone }),
    { onBatch: (report) => metrics.batchExecuted(name, version, report.batchSize, report.computeMicroseconds) },
  );
}
