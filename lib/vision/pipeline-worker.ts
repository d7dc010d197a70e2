/**
 * The worker script of an {@link ImagePipeline} (a piscina task handler): runs one {@link ImageTask} and moves
 * its data back to the calling thread in the transfer list (no copy). Its `workerData` sets libvips' thread
 * count, so that the pipeline's threads × libvips' threads stay within the machine's cores, and it turns libvips'
 * operation cache off.
 * @module
 * @internal
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import sharp from 'sharp';
import { runImageTask, type ImageTask, type ImageTaskResult } from './pipeline-task.js';

/** What every worker of a pipeline is started with. */
export interface PipelineWorkerData {
  /** libvips' worker threads (`sharp.concurrency`) for this worker's decodes. */
  readonly vipsThreads: number;
}

// libvips' settings are process-wide: every worker of every pipeline sets them, to the values its pipeline computed.
sharp.concurrency((workerData as PipelineWorkerData).vipsThreads);
// No operation cache: every image is decoded once, so the cache (50 MB, 20 open files and 100 operations by default)
// would only hold the memory of past decodes.
sharp.cache(false);

/**
 * External memory (the transferred input, sharp's decoded buffers) past which the worker collects garbage after a
 * task. V8 counts those buffers only as external memory, and a worker that goes on taking small images, or sits idle,
 * may not collect for a long time: a few 23 MP decodes then stay resident, 75–230 MB a worker (measured with
 * `npm run soak`). One full collection of a worker's small heap takes a few milliseconds.
 */
const collectAboveBytes = 64 * 1024 * 1024;

let collectGarbage: (() => void) | null = null;

/** V8's full collection, reached as `gc` from a context made after --expose-gc is set (node has no other API for it). */
function collector(): () => void {
  if (collectGarbage === null) {
    v8.setFlagsFromString('--expose-gc');
    collectGarbage = vm.runInNewContext('gc') as () => void;
  }
  return collectGarbage;
}

/** Runs `task`; a successful result travels with its buffer transferred. */
export default async function runTask(task: ImageTask): Promise<ImageTaskResult | ReturnType<typeof move>> {
  const result = await runImageTask(task);
  if (v8.getHeapStatistics().external_memory > collectAboveBytes) collector()();
  if (!result.ok) return result;
  return move({ [transferableSymbol]: [result.data.buffer], [valueSymbol]: result });
}
