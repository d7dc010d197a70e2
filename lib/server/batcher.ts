/**
 * Triton's dynamic batcher for one model: requests (each carrying one or more samples) wait in a bounded
 * FIFO queue and leave it together as batches, at most `instanceCount` batches executing at once.
 *
 * - **When a batch forms.** Only when an instance is free (fewer than `instanceCount` batches are
 *   executing); the rules of {@link requestsToDispatch} then decide: a full batch (`maxBatchSize`
 *   samples) or a preferred size goes at once, anything else once the oldest request has waited
 *   `maxQueueDelayMicroseconds` (0: at once). The decision is re-evaluated when a request arrives, when
 *   a batch completes and when the delay of the oldest request runs out (one timer, for that request).
 *   A request is never split: one that carries more than `maxBatchSize` samples is a 400.
 * - **Queue bound.** At most `maxQueueSize` requests wait (executing ones do not count); one more gets
 *   503 with `Retry-After: 1`, reason REJECTED. 0 means unbounded, as Triton's `max_queue_size`.
 * - **Queue timeout.** A request still queued after its `timeoutMicroseconds` (0 or absent: the model's
 *   `defaultTimeoutMicroseconds`; that 0: none), as Triton's schedule policy, leaves the queue with a
 *   503, reason REJECTED. Once dispatched it runs to the end.
 * - **Cancellation.** An aborted signal removes a queued request at once (499, reason CANCELED). A request
 *   whose batch is already executing is rejected the same way, at once; the native run cannot be
 *   stopped, so the batch completes and that request's output is dropped, and nothing else is affected.
 * - **Alone.** `execute` is told whether its batch was dispatched with nothing else executing or queued
 *   ({@link BatchDispatch}): instances that share resources (the CPU's threads) may give it all of them.
 * - **Failures.** `execute` rejecting rejects every request of that batch, and only those, with its error.
 * - **Input release.** A request's input may be memory the engine reads in place (a block of the body
 *   arena): `onInputReleased` says when the batcher is done with it — at once when `submit` refuses, when the
 *   request leaves the queue undispatched, else when its batch's `execute` has settled. A request cancelled
 *   while its batch executes is rejected at once but released only then.
 * - **Shutdown.** After {@link DynamicBatcher.close} submits are 503; the queued requests still run,
 *   without waiting out the batching delay (nothing new can join them). {@link DynamicBatcher.drain}
 *   resolves once nothing is queued or executing; no timer is left behind.
 *
 * Times are measured with `process.hrtime`: a request's queue time runs from `submit` to its batch's
 * dispatch, and its compute time is the whole batch's `execute`.
 * @module
 */
import { invalidArgument } from '../errors.js';
import { requestsToDispatch } from './batch-policy.js';
import { HttpError, badRequest, unavailable } from './http-error.js';
import type { ResolvedBatchingOptions } from './types.js';

/** One request of a batch, as `execute` sees it: its input and how many samples it carries. */
export interface BatchEntry<I> {
  input: I;
  size: number;
}

/** What a request gets back: its own output and how its time was spent, in microseconds. */
export interface Scheduled<O> {
  output: O;
  /** From `submit` to the dispatch of its batch. */
  queueMicroseconds: number;
  /** The whole batch's `execute`. */
  computeMicroseconds: number;
  /** Samples in the batch it ran in (its own and the other requests'). */
  batchSize: number;
}

/** The batching options with the instance count decided (by the device). */
export type DynamicBatcherOptions = ResolvedBatchingOptions & { instanceCount: number };

/** What the batcher knew when it dispatched a batch. */
export interface BatchDispatch {
  /**
   * Nothing else was executing or queued: the batch may take every resource the instances share (the
   * CPU model runs it with all its threads instead of its instance's share).
   */
  alone: boolean;
}

/**
 * Runs one batch: `entries` in queue order, `batchSize` their samples in all. Resolves to one output per
 * entry, in the same order.
 */
export type ExecuteBatch<I, O> = (entries: readonly BatchEntry<I>[], batchSize: number, dispatch: BatchDispatch) => Promise<O[]>;

/** Observers of the batcher (metrics). */
export interface DynamicBatcherHooks {
  /** After every batch whose `execute` resolved; a hook that throws is a bug and surfaces as one. */
  onBatch?(report: { batchSize: number; requests: number; computeMicroseconds: number }): void;
}

/** Options of one {@link DynamicBatcher.submit}. */
export interface SubmitOptions {
  /** Aborting it cancels the request (499); see the module's notes. */
  signal?: AbortSignal;
  /** Queue timeout of this request; 0 or undefined: the model's `defaultTimeoutMicroseconds`. */
  timeoutMicroseconds?: number;
  /**
   * Called once when nothing will read `input` any more (see the module's notes), whatever the outcome;
   * a callback that throws is a bug and surfaces as one.
   */
  onInputReleased?: () => void;
}

/** A request in the batcher, from `submit` until its promise settles. */
interface Pending<I, O> {
  readonly input: I;
  readonly size: number;
  /** `process.hrtime` of `submit`, in microseconds. */
  readonly submittedAt: number;
  /** Microseconds after `submittedAt` at which a still-queued request times out; 0: never. */
  readonly timeoutMicroseconds: number;
  timeoutTimer: NodeJS.Timeout | null;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  queueMicroseconds: number;
  settled: boolean;
  /** Calls `onInputReleased` the first time; nothing later. */
  readonly releaseInput: () => void;
  readonly resolve: (value: Scheduled<O>) => void;
  readonly reject: (error: unknown) => void;
}

/** Node's timers take at most 2^31 − 1 ms; a longer wait is made of several of them. */
const maxTimerMilliseconds = 2 ** 31 - 1;

function nowMicroseconds(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

/** The 499 (CANCELED) of a request whose client went away before its answer. */
export function canceled(): HttpError {
  return new HttpError(499, 'the client closed the request', { reason: 'CANCELED' });
}

function checkInteger(value: unknown, min: number, name: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(`an integer ≥ ${min}`, name, value);
  }
}

function checkOptions(options: DynamicBatcherOptions): void {
  checkInteger(options.maxBatchSize, 1, 'maxBatchSize');
  checkInteger(options.instanceCount, 1, 'instanceCount');
  checkInteger(options.maxQueueSize, 0, 'maxQueueSize');
  checkInteger(options.maxQueueDelayMicroseconds, 0, 'maxQueueDelayMicroseconds');
  checkInteger(options.defaultTimeoutMicroseconds, 0, 'defaultTimeoutMicroseconds');
  for (const size of options.preferredBatchSizes) {
    if (!Number.isSafeInteger(size) || size < 1 || size > options.maxBatchSize) {
      throw invalidArgument(`batch sizes between 1 and maxBatchSize (${options.maxBatchSize})`, 'preferredBatchSizes', options.preferredBatchSizes);
    }
  }
}

/**
 * Triton's dynamic batcher for one model; see the module's notes for its rules.
 * @typeParam I what one request carries (its preprocessed input)
 * @typeParam O what `execute` returns per request
 */
export class DynamicBatcher<I, O> {
  readonly #options: DynamicBatcherOptions;
  readonly #execute: ExecuteBatch<I, O>;
  readonly #hooks: DynamicBatcherHooks;
  /** Waiting requests, oldest first. */
  readonly #queue: Pending<I, O>[] = [];
  #executing = 0;
  #closed = false;
  /** Fires when the oldest request's batching delay runs out; armed only while an instance is free. */
  #delayTimer: NodeJS.Timeout | null = null;
  #drainWaiters: (() => void)[] = [];

  /**
   * @param options resolved batching options; `instanceCount` is how many batches may execute at once.
   * @param execute runs one batch (see {@link ExecuteBatch}).
   * @throws InvalidArgumentError for options out of range.
   */
  constructor(options: DynamicBatcherOptions, execute: ExecuteBatch<I, O>, hooks: DynamicBatcherHooks = {}) {
    checkOptions(options);
    this.#options = { ...options, preferredBatchSizes: [...options.preferredBatchSizes] };
    this.#execute = execute;
    this.#hooks = hooks;
  }

  /** Requests queued, not yet executing. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Batches in flight (at most `instanceCount`). */
  get executing(): number {
    return this.#executing;
  }

  /**
   * Throws the 503 (with `Retry-After`) that {@link submit} gives when the queue is full, so a caller can
   * refuse a request before costly work on it (decoding its images) rather than after.
   */
  refuseIfFull(): void {
    const { maxQueueSize } = this.#options;
    if (maxQueueSize > 0 && this.#queue.length >= maxQueueSize) {
      throw unavailable(`the model's queue is full (${maxQueueSize} requests waiting); retry later`, 1);
    }
  }

  /**
   * Queues a request of `size` samples and resolves with its output once its batch has run.
   * Rejects with an {@link HttpError}: 400 when `size` exceeds `maxBatchSize`, 503 (REJECTED) when
   * closed, when the queue is full (with `Retry-After`) or on queue timeout, 499 (CANCELED) when
   * `signal` aborts; with `execute`'s own error when its batch fails.
   */
  submit(input: I, size: number, options: SubmitOptions = {}): Promise<Scheduled<O>> {
    let released = false;
    const releaseInput = (): void => {
      if (released) return;
      released = true;
      options.onInputReleased?.();
    };
    return new Promise<Scheduled<O>>((resolve, reject) => {
      try {
        this.#enqueue(input, size, options, releaseInput, resolve, reject);
      } catch (error) {
        releaseInput();
        throw error;
      }
    });
  }

  /** The body of {@link submit}'s promise: checks, then queues (throws for every refusal). */
  #enqueue(
    input: I, size: number, options: SubmitOptions, releaseInput: () => void,
    resolve: (value: Scheduled<O>) => void, reject: (error: unknown) => void,
  ): void {
    checkInteger(size, 1, 'size');
    const { maxBatchSize } = this.#options;
    if (this.#closed) throw unavailable('the model is shutting down and takes no new requests');
    if (size > maxBatchSize) {
      throw badRequest(`the request carries ${size} samples but the model's max_batch_size is ${maxBatchSize}`);
    }
    const { signal } = options;
    if (signal?.aborted) throw canceled();
    this.refuseIfFull();
    const requested = options.timeoutMicroseconds ?? 0;
    if (!(requested >= 0 && Number.isFinite(requested))) throw invalidArgument('a number ≥ 0', 'timeoutMicroseconds', requested);
    const pending: Pending<I, O> = {
      input,
      size,
      submittedAt: nowMicroseconds(),
      timeoutMicroseconds: requested > 0 ? requested : this.#options.defaultTimeoutMicroseconds,
      timeoutTimer: null,
      signal,
      onAbort: () => this.#abort(pending),
      queueMicroseconds: 0,
      settled: false,
      releaseInput,
      resolve,
      reject,
    };
    signal?.addEventListener('abort', pending.onAbort, { once: true });
    if (pending.timeoutMicroseconds > 0) this.#armTimeout(pending, pending.timeoutMicroseconds);
    this.#queue.push(pending);
    this.#schedule();
  }

  /** Refuses new submits (503); what is queued still runs, without waiting out the batching delay. */
  close(): void {
    this.#closed = true;
    this.#schedule();
  }

  /** Resolves when nothing is queued or executing (at once when idle). */
  drain(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #idle(): boolean {
    return this.#queue.length === 0 && this.#executing === 0;
  }

  /** Dispatches every batch the rules allow now, then arms the delay timer if a request must wait. */
  #schedule(): void {
    if (this.#delayTimer !== null) {
      clearTimeout(this.#delayTimer);
      this.#delayTimer = null;
    }
    while (this.#executing < this.#options.instanceCount && this.#queue.length > 0) {
      const now = nowMicroseconds();
      this.#expire(now);
      const oldest = this.#queue[0];
      if (oldest === undefined) break;
      const waited = now - oldest.submittedAt;
      const delayElapsed = this.#closed || waited >= this.#options.maxQueueDelayMicroseconds;
      const count = requestsToDispatch(this.#queue, this.#options, delayElapsed);
      if (count === 0) {
        const remainingMilliseconds = Math.ceil((this.#options.maxQueueDelayMicroseconds - waited) / 1000);
        this.#delayTimer = setTimeout(() => {
          this.#delayTimer = null;
          this.#schedule();
        }, Math.min(Math.max(remainingMilliseconds, 1), maxTimerMilliseconds));
        break;
      }
      this.#dispatch(this.#queue.splice(0, count), now);
    }
    this.#notifyIfIdle();
  }

  /**
   * Rejects queued requests already past their timeout. Their own timers do this too; this catches a
   * timer that has not fired yet when a batch forms.
   */
  #expire(now: number): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const request = this.#queue[i]!;
      if (request.timeoutMicroseconds > 0 && now - request.submittedAt >= request.timeoutMicroseconds) {
        this.#queue.splice(i, 1);
        this.#timedOut(request);
      }
    }
  }

  #armTimeout(request: Pending<I, O>, remainingMicroseconds: number): void {
    const milliseconds = Math.min(Math.max(Math.ceil(remainingMicroseconds / 1000), 1), maxTimerMilliseconds);
    request.timeoutTimer = setTimeout(() => {
      request.timeoutTimer = null;
      const index = this.#queue.indexOf(request);
      if (index < 0) return;
      const remaining = request.timeoutMicroseconds - (nowMicroseconds() - request.submittedAt);
      // A timer may fire a fraction of a millisecond early, and long timeouts take several timers.
      if (remaining > 0) {
        this.#armTimeout(request, remaining);
        return;
      }
      this.#queue.splice(index, 1);
      this.#timedOut(request);
      this.#schedule();
    }, milliseconds);
  }

  /** A queued request past its timeout: it leaves the queue undispatched, so its input is released now. */
  #timedOut(request: Pending<I, O>): void {
    request.releaseInput();
    if (!this.#settle(request)) return;
    request.reject(unavailable(`the request timed out after ${request.timeoutMicroseconds} µs in the model's queue`));
  }

  #abort(request: Pending<I, O>): void {
    const index = this.#queue.indexOf(request);
    if (index >= 0) this.#queue.splice(index, 1);
    // Still queued: nothing reads its input. Executing: its batch does, until execute settles (#run).
    if (index >= 0) request.releaseInput();
    if (this.#settle(request)) request.reject(canceled());
    // The head of the queue may have changed: its delay decides the timer.
    if (index >= 0) this.#schedule();
  }

  /** Marks a request settled and releases its timer and listener; false when it already was. */
  #settle(request: Pending<I, O>): boolean {
    if (request.settled) return false;
    request.settled = true;
    if (request.timeoutTimer !== null) {
      clearTimeout(request.timeoutTimer);
      request.timeoutTimer = null;
    }
    request.signal?.removeEventListener('abort', request.onAbort);
    return true;
  }

  #dispatch(batch: Pending<I, O>[], now: number): void {
    const alone = this.#executing === 0 && this.#queue.length === 0;
    this.#executing++;
    for (const request of batch) {
      // Executing requests no longer time out; the abort listener stays, to drop the result.
      if (request.timeoutTimer !== null) {
        clearTimeout(request.timeoutTimer);
        request.timeoutTimer = null;
      }
      request.queueMicroseconds = Math.round(now - request.submittedAt);
    }
    void this.#run(batch, { alone });
  }

  async #run(batch: Pending<I, O>[], dispatch: BatchDispatch): Promise<void> {
    const batchSize = batch.reduce((sum, request) => sum + request.size, 0);
    const started = nowMicroseconds();
    let outputs: O[] | null = null;
    let failure: unknown = null;
    try {
      const result = await this.#execute(batch.map(({ input, size }) => ({ input, size })), batchSize, dispatch);
      if (!Array.isArray(result) || result.length !== batch.length) {
        throw new Error(`execute returned ${Array.isArray(result) ? result.length : typeof result} outputs for a batch of ${batch.length} requests`);
      }
      outputs = result;
    } catch (error) {
      failure = error;
    }
    const computeMicroseconds = Math.round(nowMicroseconds() - started);
    this.#executing--;
    for (const request of batch) request.releaseInput();
    batch.forEach((request, i) => {
      if (!this.#settle(request)) return;
      if (outputs === null) request.reject(failure);
      else request.resolve({ output: outputs[i]!, queueMicroseconds: request.queueMicroseconds, computeMicroseconds, batchSize });
    });
    this.#schedule();
    if (outputs !== null) this.#hooks.onBatch?.({ batchSize, requests: batch.length, computeMicroseconds });
  }

  #notifyIfIdle(): void {
    if (!this.#idle() || this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
