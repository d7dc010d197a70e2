/**
 * The server's metrics: Prometheus text for `/metrics` with Triton's metric names and labels (`model`,
 * `version`; `reason` on failures), and Triton's statistics-extension JSON for `/v2/models/…/stats`.
 *
 * As Triton's, the `nv_inference_*` counters are cumulative (durations in microseconds, summed over
 * requests), `nv_inference_count` counts samples, `nv_inference_exec_count` batches, and the durations
 * count successful requests only; a failure counts under its reason. `nv_inference_pending_request_count`
 * is read from the batcher at each scrape. `resnet_inference_request_duration_seconds` is a histogram of
 * successful requests' durations, for latency percentiles; `resnet_http_connections_total{thread}` counts the
 * connections each thread accepted, and `resnet_http_threads` the threads accepting now (a dead HTTP thread
 * shows there). Inference over gRPC counts in the same `nv_inference_*` metrics as over HTTP (as Triton's);
 * `resnet_grpc_calls_total{method,code}` counts the gRPC calls by method and status code. Process memory, CPU and event-loop lag come from prom-client's default
 * metrics.
 *
 * Each instance has its own registry (never prom-client's global one), so several servers in one process
 * (tests, embedding) keep their numbers apart. Only registered models are counted: model names in failed
 * requests come from clients, and counting any name would let a client grow the label set without bound.
 * @module
 */
import type { Counter, Histogram, Registry } from 'prom-client';
import type { FailureReason } from './http-error.js';
import { requireServerPeer } from './optional-peers.js';
import { ModelStatisticsAccumulator, type ModelStatisticsResponse, type RequestTimes } from './model-statistics.js';

export type { ModelStatisticsResponse, RequestTimes } from './model-statistics.js';

/**
 * prom-client, loaded with the first server rather than with the package: most users of the library
 * never serve (the same reason `app.ts` loads fastify late).
 */
function promClient(): typeof import('prom-client') {
  return requireServerPeer<typeof import('prom-client')>('prom-client');
}

const failureReasons: readonly FailureReason[] = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

/** Latency buckets, in seconds: a millisecond (CIFAR nets) to ten seconds (a full queue on the CPU). */
const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type ModelLabel = 'model' | 'version';

interface RegisteredModel {
  readonly labels: Record<ModelLabel, string>;
  pending: () => number;
  readonly statistics: ModelStatisticsAccumulator;
}

/** The server's Prometheus metrics and Triton statistics; see the module's notes. */
export class ServerMetrics {
  readonly #registry: Registry;
  readonly #models = new Map<string, RegisteredModel>();
  readonly #success: Counter<ModelLabel>;
  readonly #failure: Counter<ModelLabel | 'reason'>;
  readonly #inferenceCount: Counter<ModelLabel>;
  readonly #execCount: Counter<ModelLabel>;
  readonly #requestDuration: Counter<ModelLabel>;
  readonly #queueDuration: Counter<ModelLabel>;
  readonly #computeInputDuration: Counter<ModelLabel>;
  readonly #computeInferDuration: Counter<ModelLabel>;
  readonly #computeOutputDuration: Counter<ModelLabel>;
  readonly #requestSeconds: Histogram<ModelLabel>;
  readonly #connections: Counter<'thread'>;
  readonly #grpcCalls: Counter<'method' | 'code'>;
  #acceptingThreads: () => number = () => 0;

  /** Creates the registry, Triton's metrics and prom-client's default process metrics. */
  constructor() {
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = promClient();
    this.#registry = new Registry();
    const registers = [this.#registry];
    const labelNames: ModelLabel[] = ['model', 'version'];
    const counter = (name: string, help: string): Counter<ModelLabel> => new Counter({ name, help, labelNames, registers });
    this.#success = counter('nv_inference_request_success', 'Number of successful inference requests, all batch sizes');
    this.#failure = new Counter({
      name: 'nv_inference_request_failure',
      help: 'Number of failed inference requests, all batch sizes',
      labelNames: ['model', 'version', 'reason'],
      registers,
    });
    this.#inferenceCount = counter('nv_inference_count', 'Number of inferences performed (samples, all batch sizes)');
    this.#execCount = counter('nv_inference_exec_count', 'Number of model executions performed (batches)');
    this.#requestDuration = counter('nv_inference_request_duration_us', 'Cumulative inference request duration in microseconds');
    this.#queueDuration = counter('nv_inference_queue_duration_us', 'Cumulative inference queuing duration in microseconds');
    this.#computeInputDuration = counter('nv_inference_compute_input_duration_us', 'Cumulative compute input duration in microseconds');
    this.#computeInferDuration = counter('nv_inference_compute_infer_duration_us', 'Cumulative compute inference duration in microseconds');
    this.#computeOutputDuration = counter('nv_inference_compute_output_duration_us', 'Cumulative inference compute output duration in microseconds');
    const models = this.#models;
    new Gauge({
      name: 'nv_inference_pending_request_count',
      help: 'Instantaneous number of pending requests awaiting execution per-model.',
      labelNames,
      registers,
      collect() {
        for (const model of models.values()) this.set(model.labels, model.pending());
      },
    });
    this.#requestSeconds = new Histogram({
      name: 'resnet_inference_request_duration_seconds',
      help: 'Duration of successful inference requests, from arrival to response, in seconds',
      labelNames,
      buckets: durationBuckets,
      registers,
    });
    this.#connections = new Counter({
      name: 'resnet_http_connections_total',
      help: 'Connections accepted, by the thread that accepted them (0: the main thread; 1..N: the HTTP threads of --http-threads)',
      labelNames: ['thread'],
      registers,
    });
    this.#grpcCalls = new Counter({
      name: 'resnet_grpc_calls_total',
      help: 'gRPC calls answered, by method (GRPCInferenceService\'s) and status code (OK, INVALID_ARGUMENT, …)',
      labelNames: ['method', 'code'],
      registers,
    });
    const accepting = (): number => this.#acceptingThreads();
    new Gauge({
      name: 'resnet_http_threads',
      help: 'Threads accepting HTTP connections now: 1 (the main thread), or the HTTP threads of --http-threads still alive',
      registers,
      collect() {
        this.set(accepting());
      },
    });
    collectDefaultMetrics({ register: this.#registry });
  }

  /**
   * Starts counting a model version: its counters appear at 0 (as Triton's) and `pending` feeds the
   * pending-request gauge at each scrape. Registering it again replaces `pending` and keeps the counts.
   */
  registerModel(model: string, version: string, pending: () => number): void {
    const key = modelKey(model, version);
    const known = this.#models.get(key);
    if (known !== undefined) {
      known.pending = pending;
      return;
    }
    const labels = { model, version };
    this.#models.set(key, { labels, pending, statistics: new ModelStatisticsAccumulator(model, version) });
    for (const metric of [
      this.#success, this.#inferenceCount, this.#execCount, this.#requestDuration, this.#queueDuration,
      this.#computeInputDuration, this.#computeInferDuration, this.#computeOutputDuration,
    ]) {
      metric.inc(labels, 0);
    }
    for (const reason of failureReasons) this.#failure.inc({ ...labels, reason }, 0);
    this.#requestSeconds.zero(labels);
  }

  /** Counts one successful request of a registered model (microseconds; `inferenceCount` in samples). */
  requestSucceeded(model: string, version: string, t: RequestTimes): void {
    const registered = this.#models.get(modelKey(model, version));
    if (registered === undefined) return;
    const { labels } = registered;
    this.#success.inc(labels, 1);
    this.#inferenceCount.inc(labels, t.inferenceCount);
    this.#requestDuration.inc(labels, t.requestMicroseconds);
    this.#queueDuration.inc(labels, t.queueMicroseconds);
    this.#computeInputDuration.inc(labels, t.computeInputMicroseconds);
    this.#computeInferDuration.inc(labels, t.computeInferMicroseconds);
    this.#computeOutputDuration.inc(labels, t.computeOutputMicroseconds);
    this.#requestSeconds.observe(labels, t.requestMicroseconds / 1e6);
    registered.statistics.succeeded(t);
  }

  /** Counts one failed request of a registered model under `reason`. */
  requestFailed(model: string, version: string, reason: FailureReason, requestMicroseconds: number): void {
    const registered = this.#models.get(modelKey(model, version));
    if (registered === undefined) return;
    this.#failure.inc({ ...registered.labels, reason }, 1);
    registered.statistics.failed(requestMicroseconds);
  }

  /** Counts one executed batch of a registered model. */
  batchExecuted(model: string, version: string, batchSize: number, computeMicroseconds: number): void {
    const registered = this.#models.get(modelKey(model, version));
    if (registered === undefined) return;
    this.#execCount.inc(registered.labels, 1);
    registered.statistics.batchExecuted(batchSize, computeMicroseconds);
  }

  /** Where the `resnet_http_threads` gauge reads the threads accepting connections. */
  reportAcceptingThreads(count: () => number): void {
    this.#acceptingThreads = count;
  }

  /** Counts a connection accepted by `thread` (0: the main thread, 1..N: HTTP threads). */
  connectionAccepted(thread: number): void {
    this.#connections.inc({ thread: String(thread) }, 1);
  }

  /**
   * Counts a gRPC call answered with status `code` (its name). `method` is one of the service's methods,
   * never a name from the client (grpc-js answers unknown methods itself), so the label set stays bounded.
   */
  grpcCallFinished(method: string, code: string): void {
    this.#grpcCalls.inc({ method, code }, 1);
  }

  /** The Prometheus text exposition of every metric, with its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.#registry.contentType, body: await this.#registry.metrics() };
  }

  /**
   * Triton's statistics-extension JSON for every registered model version, or those of `model` (and
   * `version`); `model_stats` is empty when none matches (the route answers unknown models itself).
   */
  statistics(model?: string, version?: string): ModelStatisticsResponse {
    const stats = [...this.#models.values()]
      .filter(({ labels }) => (model === undefined || labels.model === model) && (version === undefined || labels.version === version))
      .map(({ statistics }) => statistics.toJSON());
    return { model_stats: stats };
  }
}

function modelKey(model: string, version: string): string {
  return JSON.stringify([model, version]);
}
