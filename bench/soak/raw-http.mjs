// @ts-check
/**
 * One HTTP/1.1 exchange over a raw TCP socket, for the hostile clients: an HTTP library would hide what
 * they need to see and do (write half a body and vanish, trickle bytes, tell "the server answered 413" from
 * "the write failed with EPIPE before the status could be read"). Each request says `Connection: close`,
 * so the answer ends where its `Content-Length` does or where the server closes.
 * @module
 */
import { connect } from 'node:net';

/**
 * How the client behaves:
 * - `complete`: sends everything, reads the answer;
 * - `abort-body`: sends the head and `abortAfter` bytes of the body, then destroys the socket;
 * - `abort-wait`: sends everything, waits `waitMs` and destroys the socket unless answered by then;
 * - `expect`: sends the head (which should say `Expect: 100-continue`), waits for the server's first bytes
 *   or `waitMs`, then sends the body unless the server has answered, as curl does;
 * - `trickle`: sends the head (all at once with `headAtOnce`) and the body `trickleBytes` at a time, one piece
 *   every `tickMs`, reading whatever the server answers meanwhile.
 * @typedef {{ kind: 'complete' } | { kind: 'abort-body'; abortAfter: number } | { kind: 'abort-wait'; waitMs: number }
 *   | { kind: 'expect'; waitMs: number } | { kind: 'trickle'; trickleBytes: number; tickMs: number; headAtOnce: boolean }} Plan
 */

/**
 * What happened: `answered` (a status was read, whatever came after), `aborted` (we left as planned, with no
 * status read), `closed` (the server closed without a status), `reset` (ECONNRESET/EPIPE without a status),
 * `timeout` (no status within the deadline; we closed) or `error` (anything else, e.g. ECONNREFUSED).
 * `sawContinue`: a `100 Continue` came first.
 * @typedef {{ outcome: 'answered' | 'aborted' | 'closed' | 'reset' | 'timeout' | 'error'; status: number | null;
 *   ms: number; code: string | null; message: string; serverClosed: boolean; sawContinue: boolean }} Exchange
 */

/** Bytes of an answer's body kept for its message. */
const keptBody = 2048;

/**
 * The data of a chunked body received so far, and whether its last (empty) chunk has arrived.
 * @param {Buffer} bytes
 */
export function dechunk(bytes) {
  /** @type {Buffer[]} */
  const parts = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size)) break;
    if (size === 0) return { data: Buffer.concat(parts), complete: true };
    parts.push(bytes.subarray(lineEnd + 2, Math.min(bytes.length, lineEnd + 2 + size)));
    at = lineEnd + 2 + size + 2;
    if (at > bytes.length) break;
  }
  return { data: Buffer.concat(parts), complete: false };
}

/**
 * Sends `head` (the request line and headers, ending in an empty line) and `body` per `plan`.
 * @param {{ port: number; head: string; body?: Buffer | null; plan: Plan; deadlineMs: number; stop?: AbortSignal }} o
 * @returns {Promise<Exchange>}
 */
export function exchange(o) {
  const started = performance.now();
  const body = o.body ?? Buffer.alloc(0);
  return new Promise((resolve) => {
    const socket = connect({ port: o.port, host: '127.0.0.1' });
    socket.setNoDelay(true);
    /** @type {Buffer[]} */
    let received = [];
    let receivedBytes = 0;
    /** @type {number | null} */
    let status = null;
    let message = '';
    let serverClosed = false;
    let sawContinue = false;
    let done = false;
    /** @type {(() => void) | null} */
    let onFirstBytes = null;
    /** @type {NodeJS.Timeout[]} */
    const timers = [];
    /** @param {Exchange['outcome']} outcome @param {string | null} [code] */
    const finish = (outcome, code = null) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      o.stop?.removeEventListener('abort', onStop);
      socket.destroy();
      resolve({ outcome: status !== null ? 'answered' : outcome, status, ms: performance.now() - started, code, message, serverClosed, sawContinue });
    };
    const onStop = () => finish('aborted');
    o.stop?.addEventListener('abort', onStop, { once: true });
    timers.push(setTimeout(() => finish('timeout'), o.deadlineMs));

    /** Parses what has arrived: the status line (past any `100 Continue`), and whether the answer is whole. */
    const parse = () => {
      let all = Buffer.concat(received);
      for (;;) {
        const end = all.indexOf('\r\n\r\n');
        if (end === -1) return;
        const headText = all.subarray(0, end).toString('latin1');
        const line = /^HTTP\/1\.[01] (\d{3})/.exec(headText);
        if (!line) {
          message = `not an HTTP answer: ${headText.slice(0, 80)}`;
          finish('error', 'EPROTO');
          return;
        }
        const code = Number(line[1]);
        if (code === 100) {
          sawContinue = true;
          all = all.subarray(end + 4);
          received = [all];
          continue;
        }
        status = code;
        const bodyBytes = all.subarray(end + 4);
        if (/\r\ntransfer-encoding:\s*chunked/i.test(headText)) {
          const { data, complete } = dechunk(bodyBytes);
          message = data.subarray(0, keptBody).toString('utf8');
          if (complete) finish('answered');
          return;
        }
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
        message = bodyBytes.subarray(0, keptBody).toString('utf8');
        if (length && bodyBytes.length >= Number(length[1])) finish('answered');
        return;
      }
    };
    socket.on('data', (chunk) => {
      onFirstBytes?.();
      if (receivedBytes < 64 * 1024 + keptBody) {
        received.push(chunk);
        receivedBytes += chunk.length;
      }
      parse();
    });
    socket.on('end', () => {
      serverClosed = true;
      finish('closed');
    });
    socket.on('close', () => {
      serverClosed = true;
      finish('closed');
    });
    socket.on('error', (/** @type {NodeJS.ErrnoException} */ error) => {
      const code = error.code ?? 'Error';
      message ||= error.message;
      finish(code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'error', code);
    });

    /** Writes `data`, resolving once the socket took it (or when the exchange is over). @param {Buffer} data */
    const write = (data) => new Promise((done_) => {
      if (done || socket.destroyed) return done_(undefined);
      if (socket.write(data)) return done_(undefined);
      const go = () => {
        socket.off('drain', go);
        socket.off('close', go);
        done_(undefined);
      };
      socket.on('drain', go);
      socket.on('close', go);
    });
    const sleep = (/** @type {number} */ ms) => new Promise((r) => timers.push(setTimeout(r, ms)));
    const headBytes = Buffer.from(o.head, 'latin1');

    socket.once('connect', async () => {
      const plan = o.plan;
      if (plan.kind === 'trickle') {
        if (plan.headAtOnce) await write(headBytes);
        const rest = plan.headAtOnce ? body : Buffer.concat([headBytes, body]);
        for (let at = 0; at < rest.length && !done; at += plan.trickleBytes) {
          await write(rest.subarray(at, at + plan.trickleBytes));
          await sleep(plan.tickMs);
        }
        return;
      }
      await write(headBytes);
      if (plan.kind === 'expect') {
        await new Promise((go) => {
          onFirstBytes = () => go(undefined);
          timers.push(setTimeout(go, plan.waitMs));
        });
        onFirstBytes = null;
        if (status !== null) return;
      }
      // Large bodies go in 1 MiB pieces so an early answer or close is seen between them.
      const limit = plan.kind === 'abort-body' ? Math.min(plan.abortAfter, body.length) : body.length;
      for (let at = 0; at < limit && !done; at += 1 << 20) await write(body.subarray(at, Math.min(limit, at + (1 << 20))));
      if (plan.kind === 'abort-body') finish('aborted');
      else if (plan.kind === 'abort-wait') timers.push(setTimeout(() => finish('aborted'), plan.waitMs));
    });
  });
}

/**
 * The head of a POST with `Connection: close`.
 * @param {string} path @param {Record<string, string | number>} headers the content headers
 */
export function postHead(path, headers) {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
