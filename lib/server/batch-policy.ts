/**
 * The dynamic batcher's decision, kept pure so it can be tested without timers: given the queue (oldest
 * first) at a moment when an execution instance is free, how many requests from its head form the next
 * batch, or none yet. Triton's rules, in order:
 *
 * 1. The queue holds at least `maxBatchSize` samples: take the longest FIFO prefix that fits.
 * 2. A FIFO prefix adds up to a preferred batch size: take the longest such prefix now. (When the whole
 *    queue is that prefix the batch is exactly preferred; when more is queued behind it, the next request
 *    would overshoot that preferred size, and no larger preferred size is reachable without waiting.)
 * 3. The oldest request has waited its `maxQueueDelayMicroseconds`: take everything (it fits, by 1).
 * 4. Otherwise wait for more requests, or for the delay to run out.
 *
 * A request is never split and never overtaken: batches are always a prefix of the queue.
 * @module
 */

/** The part of the batching options the decision reads. */
export interface BatchPolicy {
  maxBatchSize: number;
  preferredBatchSizes: readonly number[];
}

/**
 * How many requests from the head of `queue` to dispatch as one batch now; 0: wait.
 * @param queue the waiting requests, oldest first; every `size` is between 1 and `maxBatchSize`.
 * @param delayElapsed the oldest request has waited `maxQueueDelayMicroseconds` (or nothing can join any more).
 */
export function requestsToDispatch(queue: readonly { readonly size: number }[], policy: BatchPolicy, delayElapsed: boolean): number {
  let samples = 0;
  let count = 0;
  let preferredCount = 0;
  for (const request of queue) {
    if (samples + request.size > policy.maxBatchSize) break;
    samples += request.size;
    count++;
    if (policy.preferredBatchSizes.includes(samples)) preferredCount = count;
  }
  // The next request did not fit (so more than a full batch is queued), or the prefix is exactly full.
  const full = count < queue.length || samples === policy.maxBatchSize;
  if (count > 0 && full) return count;
  if (preferredCount > 0) return preferredCount;
  return delayElapsed ? count : 0;
}
