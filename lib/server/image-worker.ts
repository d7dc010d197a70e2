/**
 * An image worker: decodes and preprocesses the images of one request at a time off the event loop
 * (the resize alone holds a thread 60–150 ms per photo). Messages: {@link ImageJob} in,
 * {@link ImageJobResult} out, the floats transferred rather than copied.
 * @module
 * @internal
 */
import { parentPort } from 'node:worker_threads';
import { decodeAndPreprocess, type DecodeResult } from './image-decode.js';
import type { ImageTransforms } from './model-source.js';

/** One request's images and the model's transforms. */
export interface ImageJob {
  id: number;
  images: Uint8Array[];
  transforms: ImageTransforms;
}

/** The job's outcome; `failure` is an error that was not the client's fault. */
export type ImageJobResult = { id: number } & ({ result: DecodeResult } | { failure: string });

parentPort?.on('message', (job: ImageJob) => {
  decodeAndPreprocess(job.images, job.transforms).then(
    (result) => {
      const reply: ImageJobResult = { id: job.id, result };
      parentPort!.postMessage(reply, result.ok ? [result.data.buffer as ArrayBuffer] : []);
    },
    (error: unknown) => {
      const reply: ImageJobResult = { id: job.id, failure: error instanceof Error ? error.message : String(error) };
      parentPort!.postMessage(reply);
    },
  );
});
