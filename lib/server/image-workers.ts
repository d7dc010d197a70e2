/**
 * A small pool of image workers (`image-worker.ts`), so that decoding and resizing the photos of image
 * requests never holds the event loop: health probes, metrics and tensor requests keep being answered
 * while images are prepared. One job (one request's images) per worker at a time, queued in arrival
 * order; a worker holds the process open only while it has a job. A worker that dies fails its job
 * (a 500 for that request) and is replaced on demand.
 * @module
 * @internal
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DecodeResult } from './image-decode.js';
import type { ImageJob, ImageJobResult } from './image-worker.js';
import type { ImageTransforms } from './model-source.js';

/** The compiled worker script; absent when this module runs from its TypeScript source (tests). */
const workerUrl = new URL('./image-worker.js', import.meta.url);

interface Job {
  images: Uint8Array[];
  transforms: ImageTransforms;
  resolve: (result: DecodeResult) => void;
  reject: (error: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  current: (Job & { id: number }) | null;
}

/** Image workers; see the module's notes. */
export class ImageWorkerPool {
  readonly #size: number;
  readonly #workers = new Set<PoolWorker>();
  readonly #queue: Job[] = [];
  #nextId = 0;

  /** A pool of at most `size` workers, started as jobs arrive. */
  constructor(size: number) {
    this.#size = size;
  }

  /** Whether workers can start here (the compiled worker script exists next to this module). */
  static available(): boolean {
    return workerUrl.protocol === 'file:' && existsSync(fileURLToPath(workerUrl));
  }

  /** Decodes and preprocesses `images` on a worker; rejects only for failures that are not the client's. */
  run(images: readonly Uint8Array[], transforms: ImageTransforms): Promise<DecodeResult> {
    return new Promise<DecodeResult>((resolve, reject) => {
      // Copied: a request's elements are views of its pooled body, which must not be transferred away.
      this.#queue.push({ images: images.map((bytes) => new Uint8Array(bytes)), transforms, resolve, reject });
      this.#dispatch();
    });
  }

  /** Workers started and alive. */
  get workerCount(): number {
    return this.#workers.size;
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const idle = [...this.#workers].find((w) => w.current === null) ?? (this.#workers.size < this.#size ? this.#start() : null);
      if (idle === null) return;
      const job = this.#queue.shift()!;
      idle.current = { ...job, id: this.#nextId++ };
      idle.worker.ref();
      const message: ImageJob = { id: idle.current.id, images: job.images, transforms: job.transforms };
      idle.worker.postMessage(message, job.images.map((bytes) => bytes.buffer as ArrayBuffer));
    }
  }

  #start(): PoolWorker {
    const entry: PoolWorker = { worker: new Worker(workerUrl), current: null };
    entry.worker.unref();
    entry.worker.on('message', (reply: ImageJobResult) => {
      const job = entry.current;
      if (job === null || job.id !== reply.id) return;
      entry.current = null;
      entry.worker.unref();
      if ('result' in reply) job.resolve(reply.result);
      else job.reject(new Error(`decoding images failed: ${reply.failure}`));
      this.#dispatch();
    });
    const fail = (why: string): void => {
      this.#workers.delete(entry);
      const job = entry.current;
      entry.current = null;
      job?.reject(new Error(`an image worker ${why}`));
      this.#dispatch();
    };
    entry.worker.on('error', (error) => fail(`failed: ${error.message}`));
    entry.worker.on('exit', (code) => fail(`exited with code ${code}`));
    this.#workers.add(entry);
    return entry;
  }
}

let shared: ImageWorkerPool | null | undefined;

/**
 * The process's image workers (two, or half the CPUs up to four), or null where none can start (running
 * from TypeScript sources), in which case images are prepared on the calling thread.
 */
export function sharedImageWorkers(): ImageWorkerPool | null {
  shared ??= ImageWorkerPool.available() ? new ImageWorkerPool(Math.min(4, Math.max(2, Math.floor(availableParallelism() / 2)))) : null;
  return shared;
}
