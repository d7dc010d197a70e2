// @ts-check
/**
 * Connections that hold a server's file descriptors without working: `idle` ones never send a byte;
 * `keep-alive` ones send one request (`GET /v2/health/live`, HTTP/1.1 keep-alive), read its answer and
 * then stay open. Each one the server closes is counted (with how long it was open: the server's idle or
 * keep-alive timeout, if it has one) and opened again a moment later, so the pressure stays for the whole
 * hostile phase, as from an attacker who reconnects. Connection errors (refused, reset, EMFILE) are counted by
 * code.
 * @module
 */
import { connect } from 'node:net';
import { LatencyHistogram } from '../serve/histogram.mjs';

const greeting = Buffer.from('GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'latin1');

/**
 * Opens `count` connections of `kind` to 127.0.0.1:`port` and keeps them; `stop()` closes them all and
 * returns what happened.
 * @param {{ port: number; count: number; kind: 'idle' | 'keep-alive' }} o
 */
export function holdConnections(o) {
  let stopping = false;
  let opened = 0;
  let answered = 0;
  /** @type {Map<string, number>} */
  const errors = new Map();
  const closedAfter = new LatencyHistogram();
  /** @type {Set<import('node:net').Socket>} */
  const open = new Set();
  /** @type {Set<NodeJS.Timeout>} */
  const retries = new Set();
  let peakOpen = 0;

  const later = (/** @type {number} */ ms) => {
    if (stopping) return;
    const timer = setTimeout(() => {
      retries.delete(timer);
      one();
    }, ms);
    retries.add(timer);
  };

  const one = () => {
    if (stopping) return;
    const socket = connect({ port: o.port, host: '127.0.0.1' });
    let connectedAt = 0;
    let failed = false;
    socket.once('connect', () => {
      connectedAt = performance.now();
      opened++;
      open.add(socket);
      peakOpen = Math.max(peakOpen, open.size);
      if (o.kind === 'keep-alive') socket.write(greeting);
    });
    socket.once('data', () => answered++);
    socket.on('data', () => {});
    socket.on('error', (/** @type {NodeJS.ErrnoException} */ error) => {
      failed = true;
      const code = error.code ?? 'Error';
      errors.set(code, (errors.get(code) ?? 0) + 1);
    });
    socket.once('close', () => {
      open.delete(socket);
      if (stopping) return;
      if (connectedAt > 0 && !failed) closedAfter.record(performance.now() - connectedAt);
      later(failed ? 1000 : 250);
    });
  };
  for (let i = 0; i < o.count; i++) one();

  return {
    /** Connections open now. */
    openNow: () => open.size,
    stop() {
      stopping = true;
      for (const timer of retries) clearTimeout(timer);
      const openAtEnd = open.size;
      for (const socket of open) socket.destroy();
      const s = closedAfter.summary();
      return {
        kind: o.kind, target: o.count, opened, openAtEnd, peakOpen, answered: o.kind === 'keep-alive' ? answered : null,
        closedByServer: closedAfter.count, closedAfterMs: { p50: s.p50, max: s.max },
        errors: Object.fromEntries(errors),
      };
    },
  };
}
