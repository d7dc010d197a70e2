/**
 * `createServer`: the Open Inference Protocol server's life cycle. `start()` listens first (live, not
 * ready), then loads, compiles and warms up every model, then turns ready; `close()` turns not-ready,
 * refuses new inferences, lets queued and in-flight work finish within `shutdownTimeoutMs`, then closes.
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { setNumThreads } from '../runtime/threads.js';
import { buildApp } from './app.js';
import { InFlight } from './in-flight.js';
import { ServerMetrics } from './metrics.js';
import { createModelBatcher } from './model-batcher.js';
import { resolveServerOptions } from './options.js';
import { ModelRegistry, type ModelSlot } from './registry.js';
import { ServedModel } from './served-model.js';
import { SharedMemoryRegistry } from './shared-memory.js';
import { hostMemoryTargetOf } from './host-memory-target.js';
import type { LifeCycle, ServerContext } from './server-context.js';
import type { ResolvedServerOptions, ServerOptions } from './types.js';

/** A running (or startable) inference server. */
export interface InferenceServer {
  /** Listens (unless `listen: false`), then loads and warms up every model; resolves when ready. */
  start(options?: { listen?: boolean }): Promise<void>;
  /** The fastify instance (`app.inject` in tests, extra routes or hooks for embedders). */
  readonly app: FastifyInstance;
  /** Where it listens; null before `start()` or with `listen: false`. */
  readonly address: { host: string; port: number; url: string } | null;
  /** Every model loaded and warmed up, and not closing. */
  readonly ready: boolean;
  /** The loaded models by name (the highest version of each name). */
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly metrics: ServerMetrics;
  /** Graceful: not ready, new inferences 503, in-flight work finished within `shutdownTimeoutMs`, then closed. */
  close(): Promise<void>;
}

/** A timer as a promise, with `cancel` for when the race was won elsewhere. */
function delay(ms: number): { promise: Promise<'timeout'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** The URL a client on this machine uses for `host:port` (a wildcard host means loopback). */
function addressOf(host: string, port: number): { host: string; port: number; url: string } {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const hostPart = reachable.includes(':') ? `[${reachable}]` : reachable;
  return { host, port, url: `http://${hostPart}:${port}` };
}

class Server implements InferenceServer {
  readonly app: FastifyInstance;
  readonly metrics = new ServerMetrics();
  readonly #options: ResolvedServerOptions;
  readonly #registry: ModelRegistry;
  readonly #state: LifeCycle = { ready: false, closing: false };
  readonly #inFlight = new InFlight();
  readonly #sharedMemory: SharedMemoryRegistry | null;
  #address: InferenceServer['address'] = null;
  #started = false;
  #closed: Promise<void> | null = null;

  constructor(options: ResolvedServerOptions) {
    this.#options = options;
    this.#registry = new ModelRegistry(options.models);
    this.#sharedMemory = options.allowShm
      ? new SharedMemoryRegistry({ maxRegions: options.maxShmRegions, maxBytes: options.maxShmBytes, lendTo: hostMemoryTargetOf(options.models) })
      : null;
    const context: ServerContext = {
      options, registry: this.#registry, metrics: this.metrics, state: this.#state, admitted: new WeakSet(), sharedMemory: this.#sharedMemory,
    };
    this.app = buildApp(context, this.#inFlight);
  }

  get address(): InferenceServer['address'] {
    return this.#address;
  }

  get ready(): boolean {
    return this.#state.ready;
  }

  get models(): ReadonlyMap<string, ServedModel> {
    const models = new Map<string, ServedModel>();
    for (const name of new Set(this.#registry.slots.map((slot) => slot.options.name))) {
      // Unversioned requests go to the highest version; so does this map.
      const slot = this.#registry.find(name, undefined);
      if (slot.loaded !== null) models.set(name, slot.loaded.model);
    }
    return models;
  }

  async start(options: { listen?: boolean } = {}): Promise<void> {
    if (this.#started) throw new Error('start() was already called on this server');
    this.#started = true;
    const log = this.app.log;
    try {
      if (this.#options.threads !== null) setNumThreads(this.#options.threads);
      if (options.listen === false) {
        await this.app.ready();
      } else {
        await this.app.listen({ host: this.#options.host, port: this.#options.port });
        const bound = this.app.server.address();
        const port = typeof bound === 'object' && bound !== null ? bound.port : this.#options.port;
        this.#address = addressOf(this.#options.host, port);
      }
      for (const slot of this.#registry.slots) await this.#load(slot);
    } catch (error) {
      log.error({ err: error }, 'server failed to start');
      await this.close();
      throw error;
    }
    this.#state.ready = true;
    log.info({ address: this.#address?.url ?? null, models: this.#registry.slots.length }, 'server ready');
  }

  async #load(slot: ModelSlot): Promise<void> {
    const { name, version } = slot.options;
    // ServedModel.load logs its own line per model (device, batch sizes compiled, time), labelled with it.
    const model = await ServedModel.load(slot.options, this.app.log);
    if (this.#state.closing) {
      // close() ran while this model loaded: it never saw it, so it is disposed here.
      model.dispose();
      throw new Error('the server was closed while its models were loading');
    }
    const batcher = createModelBatcher(model, this.metrics);
    this.metrics.registerModel(name, version, () => batcher.pending);
    slot.loaded = { model, batcher };
  }

  close(): Promise<void> {
    this.#closed ??= this.#shutDown();
    return this.#closed;
  }

  async #shutDown(): Promise<void> {
    this.#state.ready = false;
    this.#state.closing = true;
    const deadline = delay(this.#options.shutdownTimeoutMs);
    const loaded = this.#registry.slots.flatMap((slot) => (slot.loaded === null ? [] : [slot.loaded]));
    // Requests admitted before closing go on through their model's batcher (a body may still be
    // arriving), so the batchers close only once every admitted response has been sent.
    let timedOut = (await Promise.race([this.#inFlight.idle(), deadline.promise])) === 'timeout';
    for (const { batcher } of loaded) batcher.close();
    // A model is disposed only once its batcher is idle (a cancelled request's batch may still run):
    // tearing an executable down under a running batch is never safe, even past the deadline.
    const disposed = Promise.all(loaded.map(({ batcher }) => batcher.drain())).then(() => {
      for (const { model } of loaded) model.dispose();
    }).catch((error: unknown) => {
      // Past the deadline nobody awaits this: a rejection must not take an embedding process down.
      this.app.log.error({ err: error }, 'disposing the models failed');
    });
    if (!timedOut) timedOut = (await Promise.race([disposed, deadline.promise])) === 'timeout';
    deadline.cancel();
    if (timedOut) {
      this.app.log.warn({ inFlight: this.#inFlight.count, shutdownTimeoutMs: this.#options.shutdownTimeoutMs },
        'shutdown deadline passed: closing the remaining connections');
    }
    // Every response has been sent (or the deadline passed). Node's server.close() only reaps keep-alive
    // connections that have served a request; a client's spare connection that never sent one would hold
    // the close until the client drops it (undici: 4 s). Nothing is left to wait for, so all go now.
    const closing = this.app.close();
    this.app.server.closeAllConnections();
    await closing;
    // Last: every request that could read or write a region has finished (or the deadline passed, and a
    // straggler finds its views detached: an error for it, never a touch of unmapped memory).
    this.#sharedMemory?.close();
    this.app.log.info('server closed');
  }
}

/** Validates `options` (throws `InvalidArgumentError` naming the bad one) and builds a server; starts nothing. */
export function createServer(options: ServerOptions): InferenceServer {
  return new Server(resolveServerOptions(options));
}
