/**
 * What the routes share: the models, the metrics, the resolved options, the server's life-cycle state and
 * the shared-memory regions.
 * @module
 */
import type { ModelRegistry } from './registry.js';
import type { ServerMetrics } from './metrics.js';
import type { SharedMemoryRegistry } from './shared-memory.js';
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

/** The state every route reads. */
export interface ServerContext {
  readonly options: ResolvedServerOptions;
  readonly registry: ModelRegistry;
  readonly metrics: ServerMetrics;
  readonly state: LifeCycle;
  /** Raw requests (`request.raw`) admitted while the server was open. */
  readonly admitted: AdmittedRequests;
  /** The registered shared-memory regions; null without `allowShm`. */
  readonly sharedMemory: SharedMemoryRegistry | null;
}

/** Route parameters of `/v2/models/:model[/versions/:version]…`. */
export interface ModelParams {
  model: string;
  version?: string;
}
