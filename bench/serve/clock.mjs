// @ts-check
/**
 * The clock the generator's processes share: epoch milliseconds at sub-millisecond resolution
 * (`performance.timeOrigin + performance.now()`: monotonic within a process, comparable across the
 * processes of one machine), so the parent can name the instants the clients start and measure at.
 * @module
 */

/** Now, in epoch milliseconds. */
export const epochMs = () => performance.timeOrigin + performance.now();

/** Resolves at `at` (epoch milliseconds), at once if that has passed. @param {number} at */
export const sleepUntil = (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - epochMs())));
