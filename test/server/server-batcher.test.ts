/**
 * The dynamic batcher: the pure batch decision, then the batcher itself with fake `execute` functions
 * (deferred promises the test releases), under vitest's fake timers (which also drive `process.hrtime`)
 * where time matters, so delays and timeouts are checked to the microsecond without sleeping.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { requestsToDispatch } from '../../lib/server/batch-policy.js';
import { DynamicBatcher, type BatchDispatch, type BatchEntry, type DynamicBatcherOptions } from '../../lib/server/batcher.js';
import { HttpError } from '../../lib/server/http-error.js';

function options(overrides: Partial<DynamicBatcherOptions> = {}): DynamicBatcherOptions {
  return {
    maxBatchSize: 8,
    preferredBatchSizes: [],
    maxQueueDelayMicroseconds: 0,
    maxQueueSize: 64,
    instanceCount: 1,
    defaultTimeoutMicroseconds: 0,
    ...overrides,
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An `execute` whose batches wait until the test settles them; outputs are `input * 10` per entry. */
function controlledExecute() {
  const calls: { inputs: number[]; batchSize: number; alone: boolean; done: Deferred<void> }[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const execute = async (entries: readonly BatchEntry<number>[], batchSize: number, dispatch: BatchDispatch): Promise<number[]> => {
    const done = deferred<void>();
    calls.push({ inputs: entries.map((e) => e.input), batchSize, alone: dispatch.alone, done });
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    try {
      await done.promise;
    } finally {
      concurrent--;
    }
    return entries.map((e) => e.input * 10);
  };
  return { execute, calls, maxConcurrent: () => maxConcurrent };
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(
    () => { throw new Error('expected a rejection'); },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

/** Lets resolved promises run their callbacks. */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

afterEach(() => {
  vi.useRealTimers();
});

describe('requestsToDispatch (the batch decision)', () => {
  const sizes = (...values: number[]) => values.map((size) => ({ size }));
  const plain = { maxBatchSize: 8, preferredBatchSizes: [] };

  it('waits for the delay with a partial batch, then takes it all', () => {
    expect(requestsToDispatch([], plain, true)).toBe(0);
    expect(requestsToDispatch(sizes(1, 2, 1), plain, false)).toBe(0);
    expect(requestsToDispatch(sizes(1, 2, 1), plain, true)).toBe(3);
  });

  it('takes a full batch at once, as the longest FIFO prefix that fits, never splitting a request', () => {
    expect(requestsToDispatch(sizes(4, 4), plain, false)).toBe(2);
    expect(requestsToDispatch(sizes(3, 3, 3), plain, false)).toBe(2);
    expect(requestsToDispatch(sizes(5, 4, 1), plain, false)).toBe(1);
    expect(requestsToDispatch(sizes(8, 1), plain, false)).toBe(1);
  });

  it('takes the largest prefix at a preferred size at once', () => {
    const preferred = { maxBatchSize: 8, preferredBatchSizes: [4] };
    expect(requestsToDispatch(sizes(1, 1, 1, 1), preferred, false)).toBe(4);
    expect(requestsToDispatch(sizes(1, 1, 1, 1, 1), preferred, false)).toBe(4);
    expect(requestsToDispatch(sizes(1, 1, 1), preferred, false)).toBe(0);
    expect(requestsToDispatch(sizes(2, 3), preferred, false)).toBe(0);
    expect(requestsToDispatch(sizes(2, 3), preferred, true)).toBe(2);
    const two = { maxBatchSize: 8, preferredBatchSizes: [2, 4] };
    expect(requestsToDispatch(sizes(1, 1, 1, 1, 1, 1), two, false)).toBe(4);
    expect(requestsToDispatch(sizes(1, 1, 1), two, false)).toBe(2);
    expect(requestsToDispatch(sizes(2, 3), { maxBatchSize: 8, preferredBatchSizes: [5] }, false)).toBe(2);
  });
});

describe('DynamicBatcher', () => {
  it('forms fewer executions than requests, each request getting its own output', async () => {
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ instanceCount: 1 }), execute);
    // Delay 0: the first goes alone at once; the rest queue behind it and leave together.
    const results = [1, 2, 3, 4, 5, 6, 7, 8].map((input) => batcher.submit(input, 1));
    expect(calls.map((c) => c.inputs)).toEqual([[1]]);
    expect(batcher.pending).toBe(7);
    calls[0]!.done.resolve();
    await flush();
    expect(calls.map((c) => c.inputs)).toEqual([[1], [2, 3, 4, 5, 6, 7, 8]]);
    expect(calls[1]!.batchSize).toBe(7);
    calls[1]!.done.resolve();
    const scheduled = await Promise.all(results);
    expect(scheduled.map((s) => s.output)).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    expect(scheduled.map((s) => s.batchSize)).toEqual([1, 7, 7, 7, 7, 7, 7, 7]);
  });

  it('dispatches a full batch without waiting out the delay, and sums request sizes', async () => {
    vi.useFakeTimers();
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ maxQueueDelayMicroseconds: 10_000_000 }), execute);
    const results = [batcher.submit(1, 3), batcher.submit(2, 3)];
    expect(calls).toHaveLength(0);
    results.push(batcher.submit(3, 2));
    expect(calls.map((c) => [c.inputs, c.batchSize])).toEqual([[[1, 2, 3], 8]]);
    // A request larger than what is left waits for the next batch instead of being split.
    results.push(batcher.submit(4, 6), batcher.submit(5, 3));
    calls[0]!.done.resolve();
    await flush();
    expect(calls.map((c) => c.inputs)).toEqual([[1, 2, 3], [4]]);
    expect(batcher.pending).toBe(1);
    batcher.close();
    calls[1]!.done.resolve();
    await flush();
    calls[2]!.done.resolve();
    await Promise.all(results);
    expect(calls.map((c) => c.batchSize)).toEqual([8, 6, 3]);
  });

  it('honours preferred batch sizes: a preferred batch goes at once, the rest waits for the delay', async () => {
    vi.useFakeTimers();
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ instanceCount: 2, preferredBatchSizes: [4], maxQueueDelayMicroseconds: 50_000 }), execute);
    const results = [1, 2, 3].map((input) => batcher.submit(input, 1));
    expect(calls).toHaveLength(0);
    results.push(batcher.submit(4, 1));
    expect(calls.map((c) => c.inputs)).toEqual([[1, 2, 3, 4]]);
    results.push(batcher.submit(5, 1));
    await vi.advanceTimersByTimeAsync(49);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.inputs)).toEqual([[1, 2, 3, 4], [5]]);
    for (const call of calls) call.done.resolve();
    expect((await Promise.all(results)).map((s) => s.output)).toEqual([10, 20, 30, 40, 50]);
  });

  it('holds a lone request for the delay and no longer, and reports its queue time', async () => {
    vi.useFakeTimers();
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ maxQueueDelayMicroseconds: 30_000 }), execute);
    const result = batcher.submit(7, 1);
    await vi.advanceTimersByTimeAsync(29);
    expect(calls).toHaveLength(0);
    expect(batcher.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(12);
    calls[0]!.done.resolve();
    const scheduled = await result;
    expect(scheduled.queueMicroseconds).toBe(30_000);
    expect(scheduled.computeMicroseconds).toBe(12_000);
    expect(scheduled.batchSize).toBe(1);
  });

  it('with delay 0 dispatches a request at once when an instance is free', () => {
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ instanceCount: 2 }), execute);
    void batcher.submit(1, 1);
    void batcher.submit(2, 1);
    expect(calls.map((c) => c.inputs)).toEqual([[1], [2]]);
    expect(batcher.executing).toBe(2);
    void batcher.submit(3, 1);
    expect(batcher.pending).toBe(1);
    for (const call of calls) call.done.resolve();
  });

  it('tells execute whether its batch runs alone: nothing else executing or queued at dispatch', async () => {
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ instanceCount: 2, maxBatchSize: 2 }), execute);
    const first = batcher.submit(1, 1); // nothing else: alone
    const second = batcher.submit(2, 1); // the first executing: not alone
    const rest = [3, 4, 5].map((i) => batcher.submit(i, 1)); // queued: both instances busy
    expect(calls.map((c) => [c.inputs, c.alone])).toEqual([[[1], true], [[2], false]]);
    calls[0]!.done.resolve();
    await first;
    // [3, 4] forms with [2] still executing and [5] left queued.
    expect(calls.map((c) => [c.inputs, c.alone])[2]).toEqual([[3, 4], false]);
    calls[1]!.done.resolve();
    calls[2]!.done.resolve();
    await Promise.all([second, rest[0], rest[1]]);
    // [5] formed when [2] finished, with [3, 4] still executing: not alone.
    expect(calls.map((c) => [c.inputs, c.alone])[3]).toEqual([[5], false]);
    calls[3]!.done.resolve();
    await rest[2];
    // Idle again: the next request runs alone.
    const last = batcher.submit(6, 1);
    expect(calls[4]!.alone).toBe(true);
    calls[4]!.done.resolve();
    await last;
  });

  it('never runs more than instanceCount batches at once', async () => {
    const batchSizes: number[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const batcher = new DynamicBatcher<number, number>(options({ instanceCount: 2, maxBatchSize: 2 }), async (entries) => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      batchSizes.push(entries.length);
      await new Promise((resolve) => setTimeout(resolve, 2));
      concurrent--;
      return entries.map((e) => -e.input);
    });
    const results = Array.from({ length: 24 }, (_, i) => batcher.submit(i, 1));
    expect(batcher.executing).toBe(2);
    const scheduled = await Promise.all(results);
    expect(scheduled.map((s) => s.output)).toEqual(Array.from({ length: 24 }, (_, i) => -i));
    expect(maxConcurrent).toBe(2);
    expect(batchSizes.length).toBeLessThan(24);
    expect(batcher.executing).toBe(0);
  });

  it('answers 503 with Retry-After beyond maxQueueSize, and completes every accepted request', async () => {
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ maxQueueSize: 4, maxBatchSize: 2 }), execute);
    const results = Array.from({ length: 11 }, (_, i) => batcher.submit(i, 1));
    // One executing, four queued, six refused; refuseIfFull (checked before costly work) says the same.
    expect(batcher.pending).toBe(4);
    let early: unknown;
    try {
      batcher.refuseIfFull();
    } catch (error) {
      early = error;
    }
    expect(early).toBeInstanceOf(HttpError);
    expect([(early as HttpError).status, (early as HttpError).headers['retry-after'], (early as HttpError).message])
      .toEqual([503, '1', "the model's queue is full (4 requests waiting); retry later"]);
    const outcomes = results.map((p) => p.then(() => 'ok', (e: unknown) => e));
    for (let settled = 0; settled < calls.length; settled++) {
      calls[settled]!.done.resolve();
      await flush();
    }
    const values = await Promise.all(outcomes);
    expect(values.slice(0, 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    for (const error of values.slice(5)) {
      expect(error).toBeInstanceOf(HttpError);
      const http = error as HttpError;
      expect([http.status, http.reason, http.headers['retry-after']]).toEqual([503, 'REJECTED', '1']);
      expect(http.message).toMatch(/queue is full/);
    }
    expect(calls.map((c) => c.inputs)).toEqual([[0], [1, 2], [3, 4]]);
    expect(() => batcher.refuseIfFull()).not.toThrow();
  });

  it('times out a request still queued at its deadline (503 REJECTED), never one already executing', async () => {
    vi.useFakeTimers();
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ defaultTimeoutMicroseconds: 40_000 }), execute);
    const running = batcher.submit(1, 1, { timeoutMicroseconds: 5_000 });
    const own = rejection(batcher.submit(2, 1, { timeoutMicroseconds: 20_000 }));
    const byDefault = rejection(batcher.submit(3, 1));
    await vi.advanceTimersByTimeAsync(19);
    expect(batcher.pending).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(batcher.pending).toBe(1);
    const first = await own;
    expect([first.status, first.reason]).toEqual([503, 'REJECTED']);
    expect(first.message).toMatch(/timed out after 20000 µs in the model's queue/);
    await vi.advanceTimersByTimeAsync(20);
    expect((await byDefault).message).toMatch(/timed out after 40000 µs/);
    expect(batcher.pending).toBe(0);
    calls[0]!.done.resolve();
    expect((await running).output).toBe(10);
    expect(calls).toHaveLength(1);
  });

  it('removes a canceled request from the queue at once (499 CANCELED)', async () => {
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options(), execute);
    const running = batcher.submit(1, 1);
    const controller = new AbortController();
    const canceled = rejection(batcher.submit(2, 1, { signal: controller.signal }));
    const kept = batcher.submit(3, 1);
    expect(batcher.pending).toBe(2);
    controller.abort();
    expect(batcher.pending).toBe(1);
    const error = await canceled;
    expect([error.status, error.reason, error.message]).toEqual([499, 'CANCELED', 'the client closed the request']);
    const early = new AbortController();
    early.abort();
    expect((await rejection(batcher.submit(4, 1, { signal: early.signal }))).status).toBe(499);
    calls[0]!.done.resolve();
    await flush();
    expect(calls.map((c) => c.inputs)).toEqual([[1], [3]]);
    calls[1]!.done.resolve();
    expect((await running).output).toBe(10);
    expect((await kept).output).toBe(30);
  });

  it('drops the result of a request canceled while executing, leaving its batch mates alone', async () => {
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ maxBatchSize: 2 }), execute);
    const controller = new AbortController();
    const first = batcher.submit(1, 1);
    const canceled = rejection(batcher.submit(2, 1, { signal: controller.signal }));
    const mate = batcher.submit(3, 1);
    calls[0]!.done.resolve();
    await first;
    expect(calls[1]!.inputs).toEqual([2, 3]);
    controller.abort();
    expect((await canceled).status).toBe(499);
    expect(batcher.executing).toBe(1);
    calls[1]!.done.resolve();
    expect((await mate).output).toBe(30);
  });

  it('releases each input once: at once when refused or leaving the queue, else only when its batch has run', async () => {
    vi.useFakeTimers();
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ maxBatchSize: 2, maxQueueSize: 2 }), execute);
    const released: number[] = [];
    const submit = (input: number, extra: { signal?: AbortSignal; timeoutMicroseconds?: number; size?: number } = {}) => batcher
      .submit(input, extra.size ?? 1, { ...extra, onInputReleased: () => released.push(input) })
      .then((s) => s.output, (e: unknown) => (e as HttpError).status);
    const leaving = new AbortController();
    const midBatch = new AbortController();
    const first = submit(1, { signal: midBatch.signal }); // executes alone, then is canceled mid-batch
    const queuedAway = submit(2, { signal: leaving.signal });
    const timesOut = submit(3, { timeoutMicroseconds: 1000 });
    const refusedFull = submit(4);
    const refusedLarge = submit(5, { size: 3 });
    await flush();
    expect(await refusedFull).toBe(503);
    expect(await refusedLarge).toBe(400);
    expect(released).toEqual([4, 5]);
    leaving.abort();
    expect(await queuedAway).toBe(499);
    await vi.advanceTimersByTimeAsync(1);
    expect(await timesOut).toBe(503);
    expect(released).toEqual([4, 5, 2, 3]);
    // Canceled while its batch executes: rejected at once, released only once the batch has run.
    midBatch.abort();
    expect(await first).toBe(499);
    expect(released).toEqual([4, 5, 2, 3]);
    calls[0]!.done.resolve();
    await flush();
    expect(released).toEqual([4, 5, 2, 3, 1]);
    // A completed request: released when its batch has run, once; a failed batch releases too.
    const done = submit(6);
    await flush();
    expect(released).toEqual([4, 5, 2, 3, 1]);
    calls[1]!.done.resolve();
    expect(await done).toBe(60);
    const failed = submit(7);
    await flush();
    calls[2]!.done.reject(new Error('native run failed'));
    await failed;
    batcher.close();
    expect(await submit(8)).toBe(503);
    expect(released).toEqual([4, 5, 2, 3, 1, 6, 7, 8]);
  });

  it('rejects only the batch whose execute fails, with its error', async () => {
    const failure = new Error('native run failed');
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batcher = new DynamicBatcher<number, number>(options({ maxBatchSize: 2 }), async (entries) => {
      batches.push(entries.map((e) => e.input));
      await gate;
      if (entries.some((e) => e.input === 2)) throw failure;
      return entries.map((e) => e.input);
    });
    const outcomes = [1, 2, 3, 4, 5].map((input) => batcher.submit(input, 1).then((s) => s.output, (e: unknown) => e));
    release();
    expect(await Promise.all(outcomes)).toEqual([1, failure, failure, 4, 5]);
    expect(batches).toEqual([[1], [2, 3], [4, 5]]);
  });

  it('refuses a request larger than maxBatchSize (400), and new work once closed (503)', async () => {
    const { execute } = controlledExecute();
    const batcher = new DynamicBatcher(options({ maxBatchSize: 4 }), execute);
    const tooLarge = await rejection(batcher.submit(1, 5));
    expect([tooLarge.status, tooLarge.message]).toEqual([400, "the request carries 5 samples but the model's max_batch_size is 4"]);
    batcher.close();
    const closed = await rejection(batcher.submit(1, 1));
    expect([closed.status, closed.reason]).toEqual([503, 'REJECTED']);
    expect(closed.message).toMatch(/shutting down/);
  });

  it('runs queued work after close without waiting out the delay, and drains leaving no timer', async () => {
    vi.useFakeTimers();
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options({ maxQueueDelayMicroseconds: 60_000_000, defaultTimeoutMicroseconds: 120_000_000 }), execute);
    const results = [batcher.submit(1, 1), batcher.submit(2, 2)];
    expect(vi.getTimerCount()).toBe(3);
    const drained = batcher.drain();
    let isDrained = false;
    void drained.then(() => (isDrained = true));
    batcher.close();
    expect(calls.map((c) => c.inputs)).toEqual([[1, 2]]);
    expect(vi.getTimerCount()).toBe(0);
    await flush();
    expect(isDrained).toBe(false);
    calls[0]!.done.resolve();
    await drained;
    expect([batcher.pending, batcher.executing, vi.getTimerCount()]).toEqual([0, 0, 0]);
    expect((await Promise.all(results)).map((s) => s.output)).toEqual([10, 20]);
    await batcher.drain();
  });

  it('reports every executed batch to onBatch', async () => {
    const reports: { batchSize: number; requests: number }[] = [];
    const { execute, calls } = controlledExecute();
    const batcher = new DynamicBatcher(options(), execute, {
      onBatch: ({ batchSize, requests, computeMicroseconds }) => {
        expect(computeMicroseconds).toBeGreaterThanOrEqual(0);
        reports.push({ batchSize, requests });
      },
    });
    const results = [batcher.submit(1, 2), batcher.submit(2, 3), batcher.submit(3, 1)];
    calls[0]!.done.resolve();
    await flush();
    calls[1]!.done.resolve();
    await Promise.all(results);
    expect(reports).toEqual([{ batchSize: 2, requests: 1 }, { batchSize: 4, requests: 2 }]);
  });

  it('refuses options out of range', () => {
    const execute = async () => [];
    expect(() => new DynamicBatcher(options({ instanceCount: 0 }), execute)).toThrow(/instanceCount/);
    expect(() => new DynamicBatcher(options({ preferredBatchSizes: [9] }), execute)).toThrow(/preferredBatchSizes/);
    expect(() => new DynamicBatcher(options({ maxBatchSize: 1.5 }), execute)).toThrow(/maxBatchSize/);
  });
});
