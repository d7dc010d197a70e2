/**
 * The threading model of `resnet serve --http-threads N` (N > 1), main thread's side.
 *
 * One Node event loop reads about 0.4–0.6 GB/s of request bodies: about 1,000 FP32 224×224 images a
 * second, far below what a GPU computes. So N HTTP threads (node:worker_threads) take the requests in:
 *
 * - **Listening.** The main thread opens N TCP sockets on the server's port, each with SO_REUSEPORT set
 *   before bind (a small native helper, runtime/listen-socket.ts; Node 20 cannot set it), and gives one to
 *   each thread (`server.listen({ fd })`). The kernel spreads the connections over them; a connection stays
 *   with the thread that accepted it. The main thread itself does not listen.
 * - **Per request, on the HTTP thread** (http-thread.ts): the fastify hooks (auth, body limit, timeouts,
 *   503 while closing), the body read into the thread's arena (registered with the engine by the main
 *   thread, body-memory.ts), parsing and validation against the model's signature, and encoding the
 *   response. The parsed tensor goes to the main thread as a view on the arena (shared memory: no copy);
 *   its outputs come back transferred (remote-dispatch.ts).
 * - **On the main thread**: the one engine (and CUDA context), one batcher per model, the image workers
 *   (BYTES inputs are decoded here), the shared-memory regions, the metrics and statistics (each request
 *   counted once), and every other route: the HTTP threads forward them to the main thread's app
 *   (`app.inject`, forward.ts), so health, metadata, config, statistics, metrics, shared-memory
 *   registration, inferences that name shared memory and an embedder's own routes answer exactly as with
 *   one thread. Hooks an embedder adds to `app` see those requests, not the inferences an HTTP thread
 *   answers itself.
 * - **Memory.** A body's block goes back to its thread's arena once its response has closed and the
 *   main thread said `released`: its batch no longer reads it.
 * - **Models** reach the threads as signatures, once each has loaded (`models` messages); until then a
 *   thread answers 503 for it, as the main thread would.
 * - **Closing**: every thread turns closing at once: it stops accepting, answers new inferences 503, and
 *   closes each connection after its last response (connection-drain.ts). The main thread waits until each
 *   has no response open (within `shutdownTimeoutMs`), closes the batchers and models, then the threads wait
 *   for their connections to close (what is left of the deadline) and exit, then the main thread closes.
 * - **A thread that crashes** (a bug: each request's failures are caught) is logged with its error; its
 *   requests are cancelled on the main thread, its socket closes with it (the kernel stops routing
 *   connections to it) and the other threads serve on. It is not restarted: a crash says the code is wrong,
 *   and a restart loop would hide that; what restarts a broken server is its supervisor, which sees the
 *   error in the log. The server serves on as long as one thread lives.
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { openListeningSocket, resolveListenHost, type ListeningSocket } from '../runtime/listen-socket.js';
import { answerForwarded } from './forward.js';
import type { InferDispatch } from './infer-dispatch.js';
import type { ServerMetrics } from './metrics.js';
import type { ModelRegistry } from './registry.js';
import {
  Outbox, toWireError,
  type FromHttpThread, type HttpThreadData, type ThreadModel, type ToHttpThread,
} from './thread-messages.js';
import type { ResolvedServerOptions } from './types.js';

/** The compiled thread script; absent when this module runs from its TypeScript source (tests of lib/). */
const threadUrl = new URL('./http-thread.js', import.meta.url);

/** How long a thread asked to stop may take before it is terminated. */
const stopGraceMs = 5000;

/** What the main thread lends its HTTP threads. */
export interface HttpThreadsOptions {
  count: number;
  options: ResolvedServerOptions;
  /** One arena per thread (or none). */
  arenas: readonly (SharedArrayBuffer | null)[];
  /** The main thread's app: forwarded requests run through it. */
  app: FastifyInstance;
  registry: ModelRegistry;
  dispatch: InferDispatch;
  metrics: ServerMetrics;
  forwardSecret: string;
  log: FastifyBaseLogger;
}

/** A promise with its resolver. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/** One HTTP thread, as the main thread serves it. */
class HttpThread {
  readonly index: number;
  readonly worker: Worker;
  readonly outbox: Outbox<ToHttpThread>;
  readonly listening = signal();
  readonly drained = signal();
  readonly exited = signal();
  /** Requests of this thread on the main thread (computes and forwards), to cancel. */
  readonly #requests = new Map<string, AbortController>();
  readonly #shared: HttpThreadsOptions;
  #stopping = false;
  #failure: Error | null = null;
  #alive = true;

  constructor(index: number, worker: Worker, shared: HttpThreadsOptions) {
    this.index = index;
    this.worker = worker;
    this.outbox = new Outbox<ToHttpThread>(worker);
    this.#shared = shared;
    worker.on('message', (messages: FromHttpThread[]) => {
      for (const message of messages) this.#receive(message);
    });
    worker.on('error', (error) => {
      this.#failure = error;
      shared.log.error({ err: error, thread: index }, `HTTP thread ${index} failed; the other threads serve on`);
    });
    worker.on('exit', (code) => {
      this.#alive = false;
      this.outbox.close();
      if (!this.#stopping && this.#failure === null) {
        shared.log.error({ thread: index, exitCode: code }, `HTTP thread ${index} exited; the other threads serve on`);
      }
      // Its requests are gone with it: they leave the queues (a running batch still finishes).
      for (const controller of this.#requests.values()) controller.abort();
      this.#requests.clear();
      this.drained.resolve();
      this.exited.resolve();
    });
  }

  /** Not exited. */
  get alive(): boolean {
    return this.#alive;
  }

  /** Why the thread ended before it listened, or null. */
  get failure(): Error | null {
    return this.#failure;
  }

  /**
   * Asks the thread to stop, its connections given `graceMs` to close; resolves once it has exited
   * (terminated when it takes `stopGraceMs` longer).
   */
  async stop(graceMs = 0): Promise<void> {
    this.#stopping = true;
    this.outbox.send({ type: 'stop', graceMs });
    const timer = setTimeout(() => void this.worker.terminate(), graceMs + stopGraceMs);
    await this.exited.promise;
    clearTimeout(timer);
  }

  #receive(message: FromHttpThread): void {
    const { registry, dispatch, metrics, app } = this.#shared;
    switch (message.type) {
      case 'listening': this.listening.resolve(); break;
      case 'connection': metrics.connectionAccepted(this.index); break;
      case 'drained': this.drained.resolve(); break;
      case 'stopped': break;
      case 'succeeded': metrics.requestSucceeded(message.model, message.version, message.times); break;
      case 'requestFailed': metrics.requestFailed(message.model, message.version, message.reason, message.requestMicroseconds); break;
      case 'cancel': this.#requests.get(`c${message.id}`)?.abort(); break;
      case 'cancelForward': this.#requests.get(`f${message.id}`)?.abort(); break;
      case 'infer': {
        const { id } = message;
        const controller = this.#track(`c${id}`);
        // Once, whatever happens: the HTTP thread reuses the body's memory only after this.
        let releasedOnce = false;
        const released = (): void => {
          if (releasedOnce) return;
          releasedOnce = true;
          this.outbox.send({ type: 'released', id });
        };
        Promise.resolve()
          .then(() => dispatch.compute(registry.find(message.model, message.version), message.request, { signal: controller.signal, onInputReleased: released }))
          .then(
            ({ outputs, queueMicroseconds, computeMicroseconds, prepareMicroseconds }) => this.outbox.send(
              { type: 'computed', id, outputs, queueMicroseconds, computeMicroseconds, prepareMicroseconds },
              [...new Set(outputs.map((output) => output.buffer as ArrayBuffer))],
            ),
            (error: unknown) => {
              // A failure before the batcher took the request (an unknown model): nothing reads its input.
              if (!controller.signal.aborted) released();
              this.outbox.send({ type: 'failed', id, error: toWireError(error) });
            },
          )
          .finally(() => this.#requests.delete(`c${id}`));
        break;
      }
      case 'forward': {
        const key = `f${message.id}`;
        const controller = this.#track(key);
        void answerForwarded(app, message, controller.signal).then(({ answer, transfer }) => {
          this.#requests.delete(key);
          this.outbox.send(answer, transfer);
        });
        break;
      }
      default: {
        const unknown: never = message;
        this.#shared.log.error({ thread: this.index, message: unknown }, 'unknown message from an HTTP thread');
      }
    }
  }

  #track(key: string): AbortController {
    const controller = new AbortController();
    this.#requests.set(key, controller);
    return controller;
  }
}

/** The HTTP threads of a server; see the module's notes. */
export class HttpThreads {
  /** The port every thread accepts on. */
  readonly port: number;
  readonly #threads: HttpThread[];

  private constructor(port: number, threads: HttpThread[]) {
    this.port = port;
    this.#threads = threads;
  }

  /** Whether threads can start here (the compiled thread script exists next to this module). */
  static available(): boolean {
    return threadUrl.protocol === 'file:' && existsSync(fileURLToPath(threadUrl));
  }

  /**
   * Opens the sockets and starts the threads; resolves once every thread listens.
   * @throws the socket's error (InvalidArgumentError naming EADDRINUSE, …) or a thread's start failure;
   *   nothing is left open then.
   */
  static async start(shared: HttpThreadsOptions): Promise<HttpThreads> {
    const { count, options } = shared;
    const host = await resolveListenHost(options.host);
    const sockets: ListeningSocket[] = [];
    const threads: HttpThread[] = [];
    try {
      sockets.push(openListeningSocket({ host, port: options.port, reusePort: true }));
      const port = sockets[0]!.port;
      while (sockets.length < count) sockets.push(openListeningSocket({ host, port, reusePort: true }));
      sockets.forEach((socket, i) => {
        const data: HttpThreadData = {
          index: i + 1, fd: socket.fd!, host, arena: shared.arenas[i] ?? null, options, forwardSecret: shared.forwardSecret, threads: count,
        };
        threads.push(new HttpThread(i + 1, new Worker(threadUrl, { workerData: data }), shared));
      });
      await Promise.all(threads.map((thread, i) => Promise.race([
        // A listening thread owns its socket: it closes with the thread's server.
        thread.listening.promise.then(() => sockets[i]!.handOver()),
        thread.exited.promise.then(() => {
          throw thread.failure ?? new Error(`HTTP thread ${thread.index} exited before it listened`);
        }),
      ])));
      shared.log.info({ threads: count, port }, `${count} HTTP threads listen on port ${port}`);
      return new HttpThreads(port, threads);
    } catch (error) {
      for (const socket of sockets) socket.close();
      await Promise.all(threads.map((thread) => thread.stop()));
      throw error;
    }
  }

  /** Threads alive now. */
  get alive(): number {
    return this.#threads.filter((thread) => thread.alive).length;
  }

  /** The threads' workers, in order. @internal For tests that make a thread fail. */
  get workers(): readonly Worker[] {
    return this.#threads.map((thread) => thread.worker);
  }

  /** Tells every thread what the models are now (each time one loads). */
  publishModels(models: ThreadModel[]): void {
    for (const thread of this.#threads) thread.outbox.send({ type: 'models', models });
  }

  /**
   * Every thread turns closing: it stops accepting, answers new inferences 503 and closes each connection
   * after its last response; {@link drained} says when their responses are done.
   */
  beginClosing(): void {
    for (const thread of this.#threads) thread.outbox.send({ type: 'closing' });
  }

  /** Resolves once no thread has a response open (threads that died count as drained). */
  async drained(): Promise<void> {
    await Promise.all(this.#threads.map((thread) => thread.drained.promise));
  }

  /**
   * Every thread waits up to `graceMs` for its connections to close (each after its last response, see
   * connection-drain.ts), destroys those left, and exits.
   */
  async stop(graceMs = 0): Promise<void> {
    await Promise.all(this.#threads.map((thread) => thread.stop(graceMs)));
  }
}
