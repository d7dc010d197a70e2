// @ts-check
/**
 * What one client process counted during a load, and the merge of every client's count. Every request
 * sent ends in exactly one bucket: answered 2xx inside the measurement window (its latency recorded),
 * answered 2xx outside it (warm-up, or finishing after the window closed), or failed, by cause: the
 * HTTP status of a non-2xx answer, the error code of a transport failure, or an invalid 2xx answer.
 * {@link unaccounted} is zero when nothing was lost.
 * @module
 */
import { LatencyHistogram } from './histogram.mjs';

/**
 * @typedef {object} Failure
 * @property {number} count
 * @property {number} inWindow  of which ended inside the measurement window
 * @property {string} message   the first one's message (the server's own words for a non-2xx answer)
 */

/**
 * @typedef {object} Tally
 * @property {number} sent
 * @property {number} okInWindow
 * @property {number} okOutsideWindow
 * @property {Record<string, Failure>} failures  by cause: `HTTP 503`, `ECONNRESET`, `invalid answer`, …
 * @property {LatencyHistogram} latency  of the 2xx answers inside the window
 * @property {number} cpuMs     the client's CPU time (user + system) during the window
 * @property {number} windowMs  the wall time those CPU figures cover
 */

/** @returns {Tally} */
export function newTally() {
  return { sent: 0, okInWindow: 0, okOutsideWindow: 0, failures: {}, latency: new LatencyHistogram(), cpuMs: 0, windowMs: 0 };
}

/**
 * Counts a failure under `cause`, keeping the first message.
 * @param {Tally} tally @param {string} cause @param {string} message @param {boolean} inWindow
 */
export function countFailure(tally, cause, message, inWindow) {
  const failure = (tally.failures[cause] ??= { count: 0, inWindow: 0, message });
  failure.count++;
  if (inWindow) failure.inWindow++;
}

/** All failures. @param {Tally} tally */
export function failureCount(tally) {
  return Object.values(tally.failures).reduce((sum, f) => sum + f.count, 0);
}

/** Requests sent but in no bucket: 0 unless something was lost. @param {Tally} tally */
export function unaccounted(tally) {
  return tally.sent - tally.okInWindow - tally.okOutsideWindow - failureCount(tally);
}

/** The tally as a process message (the histogram sparse). @param {Tally} tally */
export function tallyToJSON(tally) {
  return { ...tally, latency: tally.latency.toJSON() };
}

/** @param {ReturnType<typeof tallyToJSON>} json @returns {Tally} */
export function tallyFromJSON(json) {
  return { ...json, failures: structuredClone(json.failures), latency: LatencyHistogram.fromJSON(json.latency) };
}

/**
 * The sum of several clients' tallies. CPU times add; the window is the longest any client measured over.
 * @param {readonly Tally[]} tallies
 * @returns {Tally}
 */
export function mergeTallies(tallies) {
  const merged = newTally();
  for (const t of tallies) {
    merged.sent += t.sent;
    merged.okInWindow += t.okInWindow;
    merged.okOutsideWindow += t.okOutsideWindow;
    merged.latency.merge(t.latency);
    merged.cpuMs += t.cpuMs;
    merged.windowMs = Math.max(merged.windowMs, t.windowMs);
    for (const [cause, f] of Object.entries(t.failures)) {
      const into = (merged.failures[cause] ??= { count: 0, inWindow: 0, message: f.message });
      into.count += f.count;
      into.inWindow += f.inWindow;
    }
  }
  return merged;
}

/** `HTTP 503 ×12, ECONNRESET ×1`, or `0`. @param {Record<string, Failure>} failures */
export function describeFailures(failures) {
  const parts = Object.entries(failures).map(([cause, f]) => `${cause} ×${f.count}`);
  return parts.length > 0 ? parts.join(', ') : '0';
}
