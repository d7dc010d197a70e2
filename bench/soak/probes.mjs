// @ts-check
/**
 * What the soak watches while it runs:
 * - liveness: `GET /v2/health/live` every interval on a new connection, as an orchestrator's probe does,
 *   each probe on its own timer (a stalled server shows as many slow probes, not as one), 10 s deadline;
 * - memory: the server's resident set every interval, from /proc/PID/status (VmRSS, and VmHWM, the kernel's
 *   own peak) and from its `/metrics` (process_resident_memory_bytes) where that answers within 5 s;
 * - this process's own event-loop delay, so that a slow probe can be told from a busy soak.
 * @module
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { exchange } from './raw-http.mjs';
import { endingOf } from './hostile-traffic.mjs';
import { parsePrometheus, sumOf } from '../serve/prometheus.mjs';

const probeDeadlineMs = 10_000;
const liveHead = 'GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';

/**
 * Starts probing; `stop()` waits for the probes in flight.
 * @param {{ port: number; intervalMs: number; phase: () => import('./tally.mjs').Phase; tally: import('./tally.mjs').ProbeTally }} o
 */
export function startLivenessProbes(o) {
  /** @type {Set<Promise<void>>} */
  const inFlight = new Set();
  const probe = () => {
    const phase = o.phase();
    const p = exchange({ port: o.port, head: liveHead, plan: { kind: 'complete' }, deadlineMs: probeDeadlineMs }).then((r) => {
      o.tally.record(phase, r.status === 200 ? null : endingOf(r), r.ms);
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const timer = setInterval(probe, o.intervalMs);
  probe();
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
}

/**
 * The resident set of `pid` from /proc: VmRSS and VmHWM in bytes (NaN when the process is gone).
 * @param {number} pid
 */
export function procMemory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (/** @type {string} */ field) => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : NaN;
    };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/** @typedef {{ t: number; phase: import('./tally.mjs').Phase; rss: number; metricsRss: number | null }} MemorySample */

/**
 * Samples the server's memory every `intervalMs`; `stop()` waits for a `/metrics` read in flight and
 * returns the samples (t: seconds since the sampler started).
 * @param {{ pid: number; origin: string; intervalMs: number; phase: () => import('./tally.mjs').Phase }} o
 */
export function startMemorySampler(o) {
  /** @type {MemorySample[]} */
  const samples = [];
  const started = performance.now();
  /** @type {Set<Promise<void>>} */
  const inFlight = new Set();
  const sample = () => {
    /** @type {MemorySample} */
    const s = { t: (performance.now() - started) / 1000, phase: o.phase(), rss: procMemory(o.pid).rss, metricsRss: null };
    samples.push(s);
    const read = fetch(`${o.origin}/metrics`, { signal: AbortSignal.timeout(5000) })
      .then(async (res) => {
        const text = await res.text();
        const bytes = res.status === 200 ? sumOf(parsePrometheus(text), 'process_resident_memory_bytes') : 0;
        if (bytes > 0) s.metricsRss = bytes;
      })
      .catch(() => {});
    inFlight.add(read);
    void read.finally(() => inFlight.delete(read));
  };
  const timer = setInterval(sample, o.intervalMs);
  sample();
  return {
    /** Samples so far. */
    samples,
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      return samples;
    },
  };
}

/** This process's event-loop delay (ms), from now until `stop()`. */
export function watchOwnEventLoop() {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  return {
    stop() {
      h.disable();
      return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    },
  };
}
