/**
 * What the routes share. Every thread that answers HTTP has an {@link AppContext} (options, life cycle,
 * its body pool) and an {@link InferContext} (what the infer route needs); the main thread's
 * {@link ServerContext} adds the models, the metrics and the shared-memory regions, which only it holds.
 * @module
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BodyPool } from './body-pool.js';
import type { InferDispatch, RequestMetrics } from './infer-dispatch.js';
import type { ModelRegistry } from './registry.js';
import type { ServerMetrics } from './metrics.js';
import type { SharedMemoryLeases, SharedMemoryRegistry } from './shared-memory.js';
import type { ResolvedServerOptions } from './types.js';

/** The server's life-cycle: loading → ready → closing. */
export interface LifeCycle {
  /** Every model loaded and warmed up, and not closing. */
  ready: boolean;
  /** `close()` has begun: inferences that arrive from now on get 503. */
  closing: boolean;
}

/**
 * Requests whose headers arrived before `close()` began: they are in flight and are served, even when
 * their body is still arriving as the server starts closing.
 */
export type AdmittedRequests = WeakSet<object>;

/** What the hooks of every thread's fastify app read. */
export interface AppContext {
  readonly options: ResolvedServerOptions;
  readonly state: LifeCycle;
  /** Raw requests (`request.raw`) admitted while the server was open. */
  readonly admitted: AdmittedRequests;
  /** Where this thread reads request bodies into. */
  readonly bodies: BodyPool;
  /**
   * The value of the header by which an HTTP thread marks a request it forwards to the main thread as
   * admitted before closing began (see forward.ts); null on threads that receive no forwarded requests.
   */
  readonly forwardSecret: string | null;
}

/** What the infer route reads. */
export interface InferContext extends AppContext {
  /** The models by name and version (404 for unknown ones). */
  readonly registry: ModelRegistry;
  readonly dispatch: InferDispatch;
  readonly metrics: RequestMetrics;
  /** The shared-memory leases of one request. */
  leases(): SharedMemoryLeases;
  /**
   * On an HTTP thread: hands a request the main thread must answer (it names shared memory) over to it.
   * Absent on the main thread, whose leases never ask for it.
   */
  readonly forward?: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** The state every route of the main thread reads. */
export interface ServerContext extends InferContext {
  readonly metrics: ServerMetrics;
  /** The registered shared-memory regions; null without `allowShm`. */
  readonly sharedMemory: SharedMemoryRegistry | null;
}

/** Route parameters of `/v2/models/:model[/versions/:version]…`. */
export interface ModelParams {
  model: string;
  version?: string;
}
