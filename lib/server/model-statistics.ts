/**
 * Triton's statistics extension (`GET /v2/models[/{m}[/versions/{v}]]/stats`): cumulative counts and
 * durations per model version, kept in microseconds and reported in nanoseconds as Triton spells them.
 * Durations of `queue` and `compute_*` count successful requests only, as Triton's; `fail` counts the
 * failed ones with their whole duration. There is no response cache, so `cache_hit`/`cache_miss` stay 0
 * (perf_analyzer reads them).
 * @module
 */

/** A count and a cumulative duration (`$duration_stat`). */
export interface DurationStatistic {
  count: number;
  ns: number;
}

/** `$inference_stats`: per-request counts and durations. */
export interface InferenceStatistics {
  success: DurationStatistic;
  fail: DurationStatistic;
  queue: DurationStatistic;
  compute_input: DurationStatistic;
  compute_infer: DurationStatistic;
  compute_output: DurationStatistic;
  cache_hit: DurationStatistic;
  cache_miss: DurationStatistic;
}

/** `$batch_stats`: executions of one batch size and their cumulative compute time. */
export interface BatchStatistics {
  batch_size: number;
  compute_infer: DurationStatistic;
}

/** `$model_stat`: one model version. */
export interface ModelStatistics {
  name: string;
  version: string;
  /** Milliseconds since the epoch of the last request that reached the model (success or failure); 0: none. */
  last_inference: number;
  /** Samples inferred by successful requests. */
  inference_count: number;
  /** Batches executed. */
  execution_count: number;
  inference_stats: InferenceStatistics;
  batch_stats: BatchStatistics[];
}

/** `$stats_model_response`. */
export interface ModelStatisticsResponse {
  model_stats: ModelStatistics[];
}

/** Microsecond sums and counts of one successful request (what `requestSucceeded` receives). */
export interface RequestTimes {
  requestMicroseconds: number;
  queueMicroseconds: number;
  computeInputMicroseconds: number;
  computeInferMicroseconds: number;
  computeOutputMicroseconds: number;
  /** Samples the request carried. */
  inferenceCount: number;
}

class Duration {
  count = 0;
  microseconds = 0;
  add(microseconds: number): void {
    this.count++;
    this.microseconds += microseconds;
  }
  toJSON(): DurationStatistic {
    return { count: this.count, ns: Math.round(this.microseconds * 1000) };
  }
}

/**
 * The running statistics of one model version.
 * @internal
 */
export class ModelStatisticsAccumulator {
  readonly #success = new Duration();
  readonly #fail = new Duration();
  readonly #queue = new Duration();
  readonly #computeInput = new Duration();
  readonly #computeInfer = new Duration();
  readonly #computeOutput = new Duration();
  readonly #batches = new Map<number, Duration>();
  #lastInference = 0;
  #inferenceCount = 0;
  #executionCount = 0;

  constructor(readonly name: string, readonly version: string) {}

  /** Records one successful request. */
  succeeded(times: RequestTimes): void {
    this.#lastInference = Date.now();
    this.#inferenceCount += times.inferenceCount;
    this.#success.add(times.requestMicroseconds);
    this.#queue.add(times.queueMicroseconds);
    this.#computeInput.add(times.computeInputMicroseconds);
    this.#computeInfer.add(times.computeInferMicroseconds);
    this.#computeOutput.add(times.computeOutputMicroseconds);
  }

  /** Records one failed request. */
  failed(requestMicroseconds: number): void {
    this.#lastInference = Date.now();
    this.#fail.add(requestMicroseconds);
  }

  /** Records one executed batch. */
  batchExecuted(batchSize: number, computeMicroseconds: number): void {
    this.#executionCount++;
    let batch = this.#batches.get(batchSize);
    if (batch === undefined) this.#batches.set(batchSize, (batch = new Duration()));
    batch.add(computeMicroseconds);
  }

  /** The `$model_stat` object now. */
  toJSON(): ModelStatistics {
    const zero = { count: 0, ns: 0 };
    return {
      name: this.name,
      version: this.version,
      last_inference: this.#lastInference,
      inference_count: this.#inferenceCount,
      execution_count: this.#executionCount,
      inference_stats: {
        success: this.#success.toJSON(),
        fail: this.#fail.toJSON(),
        queue: this.#queue.toJSON(),
        compute_input: this.#computeInput.toJSON(),
        compute_infer: this.#computeInfer.toJSON(),
        compute_output: this.#computeOutput.toJSON(),
        cache_hit: { ...zero },
        cache_miss: { ...zero },
      },
      batch_stats: [...this.#batches.entries()]
        .sort(([a], [b]) => a - b)
        .map(([batchSize, duration]) => ({ batch_size: batchSize, compute_infer: duration.toJSON() })),
    };
  }
}
