/**
 * `createServer`: the Open Inference Protocol server's life cycle. `start()` registers the body arenas and
 * listens first (live, not ready) — on the main thread, or on N HTTP threads (`httpThreads`, see
 * http-threads.ts) — and opens the gRPC endpoint (`grpcPort`, answered by the main thread: grpc/endpoint.ts),
 * then loads, compiles and warms up every model, then turns ready; `close()` turns not-ready, stops
 * accepting connections, refuses new inferences (503), lets queued and in-flight work (gRPC calls included)
 * finish and closes each HTTP connection after its last response (connection-drain.ts), all within
 * `shutdownTimeoutMs`, then stops the threads and closes.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { InvalidArgumentError } from '../errors.js';
import { resolveDevice } from '../runtime/device.js';
import { setNumThreads } from '../runtime/threads.js';
import { buildApp, mainRoutes } from './app.js';
import { BodyArenas } from './body-memory.js';
import { BodyPool } from './body-pool.js';
import { ConnectionDrain, drainTimes, settlesWithin } from './connection-drain.js';
import { HttpThreads } from './http-threads.js';
import { InFlight } from './in-flight.js';
import { localDispatch } from './infer-dispatch.js';
import { defaultHttpThreads, hostMemoryTarget } from './ingest.js';
import { GrpcEndpoint, grpcTarget } from './grpc/endpoint.js';
import { ServerMetrics } from './metrics.js';
import { createModelBatcher } from './model-batcher.js';
import { resolveServerOptions } from './options.js';
import { ModelRegistry, type ModelSlot } from './registry.js';
import { ServedModel } from './served-model.js';
import { SharedMemoryLeases, SharedMemoryRegistry } from './shared-memory.js';
import type { LifeCycle, ServerContext } from './server-context.js';
import type { ThreadModel } from './thread-messages.js';
import type { ResolvedServerOptions, ServerOptions } from './types.js';

/** A running (or startable) inference server. */
export interface InferenceServer {
  /** Listens (unless `listen: false`), then loads and warms up every model; resolves when ready. */
  start(options?: { listen?: boolean }): Promise<void>;
  /**
   * The main thread's fastify instance (`app.inject` in tests, extra routes or hooks for embedders). With
   * HTTP threads it does not listen: the threads forward every request but inference to it.
   */
  readonly app: FastifyInstance;
  /** Threads taking HTTP requests: 1 (the main thread) or the HTTP threads started; 0 before `start()` or without listening. */
  readonly httpThreads: number;
  /** Where it listens; null before `start()` or with `listen: false`. */
  readonly address: { host: string; port: number; url: string } | null;
  /**
   * Where its gRPC endpoint listens (`target`: what a gRPC client on this machine dials, `127.0.0.1:8001`);
   * null before `start()`, with `listen: false` or with `grpcPort: null`.
   */
  readonly grpcAddress: { host: string; port: number; target: string } | null;
  /** Every model loaded and warmed up, and not closing. */
  readonly ready: boolean;
  /** The loaded models by name (the highest version of each name). */
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly metrics: ServerMetrics;
  /**
   * Graceful: not ready, no new connections, new inferences 503, in-flight work finished and every connection
   * closed after its last response (`Connection: close`) within `shutdownTimeoutMs`, then closed.
   */
  close(): Promise<void>;
}

/** A timer as a promise, with `cancel` for when the race was won elsewhere. */
function delay(ms: number): { promise: Promise<'timeout'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** The host a client on this machine reaches a server listening on `host` at (a wildcard host means loopback). */
function reachableHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/** The URL a client on this machine uses for `host:port`. */
function addressOf(host: string, port: number): { host: string; port: number; url: string } {
  const reachable = reachableHost(host);
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
  readonly #bodies = new BodyPool();
  readonly #forwardSecret = randomBytes(16).toString('hex');
  /** The main thread's connections (none when HTTP threads listen, or without listening). */
  readonly #drain: ConnectionDrain;
  #arenas: BodyArenas | null = null;
  #threads: HttpThreads | null = null;
  #httpThreads = 0;
  #address: InferenceServer['address'] = null;
  readonly #context: ServerContext;
  #grpc: GrpcEndpoint | null = null;
  #grpcAddress: InferenceServer['grpcAddress'] = null;
  #started = false;
  #closed: Promise<void> | null = null;

  constructor(options: ResolvedServerOptions) {
    this.#options = options;
    this.#registry = new ModelRegistry(options.models);
    // Regions are lent to the engine as bodies are: pinned for the first GPU a model runs on.
    const lendTo = options.allowShm ? hostMemoryTarget(options.models.map((model) => resolveDevice(model.device))) : undefined;
    this.#sharedMemory = options.allowShm
      ? new SharedMemoryRegistry({ maxRegions: options.maxShmRegions, maxBytes: options.maxShmBytes, ...(lendTo ? { lendTo } : {}) })
      : null;
    const sharedMemory = this.#sharedMemory;
    const context: ServerContext = {
      options,
      registry: this.#registry,
      metrics: this.metrics,
      state: this.#state,
      admitted: new WeakSet(),
      sharedMemory,
      bodies: this.#bodies,
      forwardSecret: this.#forwardSecret,
      dispatch: localDispatch(this.#registry),
      leases: () => new SharedMemoryLeases(sharedMemory),
    };
    this.#context = context;
    this.app = buildApp(context, this.#inFlight, mainRoutes(context));
    this.#drain = new ConnectionDrain(this.app.server);
    this.app.server.on('connection', () => this.metrics.connectionAccepted(0));
  }

  get httpThreads(): number {
    return this.#httpThreads;
  }

  /** The HTTP threads' workers (empty with one thread). @internal For tests that make a thread fail. */
  get httpThreadWorkers(): readonly import('node:worker_threads').Worker[] {
    return this.#threads?.workers ?? [];
  }

  get address(): InferenceServer['address'] {
    return this.#address;
  }

  get grpcAddress(): InferenceServer['grpcAddress'] {
    return this.#grpcAddress;
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
      const devices = this.#registry.slots.map((slot) => resolveDevice(slot.options.device));
      const threads = options.listen === false ? 1 : this.#httpThreadCount(devices);
      this.#arenas = BodyArenas.create(threads, this.#options.bodyArenaBytes, hostMemoryTarget(devices), log);
      if (options.listen === false) {
        this.#bodies.useArena(this.#arenas.arenas[0] ?? null);
        await this.app.ready();
      } else if (threads === 1) {
        this.#bodies.useArena(this.#arenas.arenas[0] ?? null);
        await this.app.listen({ host: this.#options.host, port: this.#options.port });
        const bound = this.app.server.address();
        const port = typeof bound === 'object' && bound !== null ? bound.port : this.#options.port;
        this.#address = addressOf(this.#options.host, port);
        this.#httpThreads = 1;
        this.metrics.reportAcceptingThreads(() => (this.app.server.listening ? 1 : 0));
      } else {
        await this.app.ready();
        this.#threads = await HttpThreads.start({
          count: threads, options: this.#options, arenas: this.#arenas.arenas, app: this.app, registry: this.#registry,
          dispatch: localDispatch(this.#registry), metrics: this.metrics, forwardSecret: this.#forwardSecret, log,
        });
        this.#address = addressOf(this.#options.host, this.#threads.port);
        this.#httpThreads = threads;
        const started = this.#threads;
        this.metrics.reportAcceptingThreads(() => started.alive);
        started.publishModels(this.#threadModels());
      }
      if (options.listen !== false && this.#options.grpcPort !== null) await this.#startGrpc(this.#options.grpcPort);
      for (const slot of this.#registry.slots) {
        await this.#load(slot);
        this.#threads?.publishModels(this.#threadModels());
      }
    } catch (error) {
      log.error({ err: error }, 'server failed to start');
      await this.close();
      throw error;
    }
    this.#state.ready = true;
    log.info({ address: this.#address?.url ?? null, grpc: this.#grpcAddress?.target ?? null, models: this.#registry.slots.length }, 'server ready');
  }

  /** Opens the gRPC endpoint on `port` of the server's host (once HTTP listens, as live as it). */
  async #startGrpc(port: number): Promise<void> {
    this.#grpc = await GrpcEndpoint.start(this.#context, this.#options.host, port, this.app.log);
    const { host } = this.#options;
    this.#grpcAddress = { host, port: this.#grpc.port, target: grpcTarget(reachableHost(host), this.#grpc.port) };
  }

  /**
   * The HTTP threads to start: `httpThreads`, or the default for the models' devices. More than one needs the
   * compiled thread script (a server run from the TypeScript sources has none): asked for, that is an error;
   * by default, one thread then.
   */
  #httpThreadCount(devices: readonly ReturnType<typeof resolveDevice>[]): number {
    const asked = this.#options.httpThreads;
    if (asked !== null && asked > 1 && !HttpThreads.available()) {
      throw new InvalidArgumentError(`httpThreads ${asked} needs the compiled server (dist/server/http-thread.js), which this copy of the package lacks: build it (npm run build:ts) or use httpThreads 1`);
    }
    const threads = asked ?? defaultHttpThreads(devices);
    if (threads > 1 && !HttpThreads.available()) {
      this.app.log.info({ httpThreads: threads }, 'one HTTP thread: the compiled thread script is missing (running from the TypeScript sources)');
      return 1;
    }
    return threads;
  }

  /** The models as the HTTP threads know them. */
  #threadModels(): ThreadModel[] {
    return this.#registry.slots.map((slot) => ({
      name: slot.options.name, version: slot.options.version, signature: slot.loaded?.model.signature ?? null,
    }));
  }

  async #load(slot: ModelSlot): Promise<void> {
    const { name, version } = slot.options;
    // ServedModel.load logs its own line per model (device, batch sizes compiled, time), labelled with it.
    const model = await ServedModel.load(slot.options, this.app.log, this.#options.seed);
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
    const started = performance.now();
    this.#state.ready = false;
    this.#state.closing = true;
    // No new connections from now on, on any thread; each open one is closed after its last response.
    this.#threads?.beginClosing();
    this.#drain.begin(drainTimes(this.#options.shutdownTimeoutMs));
    const deadline = delay(this.#options.shutdownTimeoutMs);
    const loaded = this.#registry.slots.flatMap((slot) => (slot.loaded === null ? [] : [slot.loaded]));
    // Requests admitted before closing go on through their model's batcher (a body may still be
    // arriving), so the batchers close only once every admitted response has been sent, on every thread.
    const responsesDone = Promise.all([this.#inFlight.idle(), this.#threads?.drained(), this.#grpc?.drain()]);
    let timedOut = (await Promise.race([responsesDone, deadline.promise])) === 'timeout';
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
    // Every admitted response has been sent (or the deadline passed). The connections close after their last
    // response, idle ones after a grace (connection-drain.ts), in what is left of the deadline; past it they
    // are destroyed. The HTTP threads go first: nothing can be forwarded to the main thread's app once it closes.
    const left = (): number => (timedOut ? 0 : this.#options.shutdownTimeoutMs - (performance.now() - started));
    await this.#threads?.stop(left());
    if (!timedOut && !(await settlesWithin(this.#drain.closed(), left()))) timedOut = true;
    if (timedOut) {
      this.app.log.warn({ inFlight: this.#inFlight.count, connections: this.#drain.connections, shutdownTimeoutMs: this.#options.shutdownTimeoutMs },
        'shutdown deadline passed: closing the remaining connections');
      this.#drain.closeAll();
    }
    // Every gRPC call has finished (or the deadline passed): what is left is cancelled.
    this.#grpc?.forceShutdown();
    await this.app.close();
    // Last, the memory batches read in place: shared-memory regions and the body arenas. Once every request
    // has finished at once; past the deadline only once the models are disposed (their batchers drained), since
    // a batch still running holds raw pointers into them that detaching a view does not reach.
    const sharedMemory = this.#sharedMemory;
    const arenas = this.#arenas;
    const release = () => {
      sharedMemory?.close();
      arenas?.dispose();
    };
    if (timedOut) void disposed.then(release);
    else release();
    this.app.log.info('server closed');
  }
}

/**
 * Validates `options` (throws `InvalidArgumentError` naming the bad one) and builds a server; starts nothing.
 * @example
 * ```ts
 * import { createServer } from 'resnet-cudnn/server';
 * const server = createServer({ port: 8000, models: [{ arch: 'resnet50', weights: 'DEFAULT', device: 'auto', maxBatchSize: 32 }] });
 * await server.start();                                      // loads the models, then listens
 * console.log(server.address?.url);                          // POST …/v2/models/resnet50/infer
 * process.once('SIGTERM', () => void server.close());
 * ```
 */
export function createServer(options: ServerOptions): InferenceServer {
  return new Server(resolveServerOptions(options));
}
