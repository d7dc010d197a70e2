// @ts-check
/**
 * How a concurrency level is spread over the client processes: each process runs some closed-loop slots,
 * one request outstanding per slot (perf_analyzer's concurrency mode).
 * @module
 */

/**
 * `total` slots over at most `clients` processes, as evenly as possible (larger shares first); fewer
 * processes than `clients` when there are fewer slots, since a process without a slot would measure nothing.
 * @param {number} total
 * @param {number} clients
 * @returns {number[]} slots per process, summing to `total`
 */
export function splitConcurrency(total, clients) {
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`concurrency must be a positive integer, got ${total}`);
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError(`clients must be a positive integer, got ${clients}`);
  const processes = Math.min(total, clients);
  const base = Math.floor(total / processes);
  const extra = total % processes;
  return Array.from({ length: processes }, (_, i) => base + (i < extra ? 1 : 0));
}
