/**
 * Closing one HTTP server's connections without resetting a client ({@link ConnectionDrain}).
 *
 * Node's own ways both reset clients. `server.close()` (Node ≥ 19) and `closeIdleConnections()` destroy
 * every connection whose parser has not begun a request. A request whose bytes are already in the kernel's
 * buffer, not yet read, counts as idle, so the close discards them and the kernel answers with a reset.
 * `closeAllConnections()` destroys connections in the middle of a request.
 *
 * What the drain does instead, once {@link ConnectionDrain.begin} is called:
 * - **Stop accepting.** The listening socket closes (net.Server's close, without http's idle-connection
 *   sweep) once the event loop has polled it one more time: closing it resets the connections waiting in
 *   its accept queue, so those are accepted first and drain as the others. Clients that connect after
 *   that are refused and go elsewhere.
 * - **Busy connections** finish their requests. The app answers every response from then on with
 *   `Connection: close` (app.ts), and Node closes the connection once that response is written.
 * - **Idle keep-alive connections** are kept for a grace period from their last response (`idleGraceMs`).
 *   A client that sends its next request in that time gets an answer (a 503 with `Connection: close`)
 *   rather than a closed socket. Past the grace, the connection is half-closed: a FIN once every byte is
 *   written, still reading. A request that crosses the FIN is read, not reset; its client sees the
 *   connection end, the one race HTTP/1.1 leaves to clients (RFC 9112 §9.3.1: retry on a new connection).
 *   The socket is destroyed when the client closes its side, or after `lingerMs`.
 * - **Bytes of a request that has not reached its headers yet** (`bytesRead` moved since the last
 *   response) make a connection busy: it is never closed under them.
 * - {@link ConnectionDrain.closed} resolves once no connection is left. Past the deadline the server
 *   calls {@link ConnectionDrain.closeAll}, the only place that destroys connections mid-request.
 * @module
 */
import type { Server as HttpServer } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

/** One accepted connection, as the drain sees it. */
interface Connection {
  readonly socket: Socket;
  /** Responses not closed yet (more than one when a client pipelines). */
  open: number;
  /** When its last response closed, or it was accepted. */
  idleSince: number;
  /** `socket.bytesRead` then: more means the next request is arriving. */
  bytesAtIdle: number;
  /** Half-closed by the drain. */
  ending: boolean;
}

/** How long the drain waits for idle connections, and for a client to close after the FIN. */
export interface DrainTimes {
  /** An idle connection is kept this long after its last response, for one more request. */
  idleGraceMs: number;
  /** After the FIN, how long the drain waits for the client to close its side before destroying the socket. */
  lingerMs: number;
}

/** How often a draining server looks at its idle connections. */
const sweepIntervalMs = 20;

/**
 * The drain's times for a shutdown deadline: a tenth of it each, at most a second. With the default 30 s
 * deadline an idle client has a second to send its next request, and a closed one a second to say so.
 */
export function drainTimes(shutdownTimeoutMs: number): DrainTimes {
  const each = Math.min(1000, Math.floor(shutdownTimeoutMs / 10));
  return { idleGraceMs: each, lingerMs: each };
}

/** Tracks the connections of one `http.Server` from its creation, and closes them gently on shutdown. */
export class ConnectionDrain {
  readonly #server: HttpServer;
  readonly #connections = new Map<Socket, Connection>();
  #times: DrainTimes | null = null;
  /** The listening socket is closed: no connection can be added any more. */
  #stoppedAccepting = false;
  #sweep: NodeJS.Timeout | null = null;
  #waiters: (() => void)[] = [];

  /** Starts tracking: call before the server accepts its first connection. */
  constructor(server: HttpServer) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      const connection: Connection = { socket, open: 0, idleSince: performance.now(), bytesAtIdle: 0, ending: false };
      this.#connections.set(socket, connection);
      socket.once('close', () => {
        this.#connections.delete(socket);
        if (this.#connections.size === 0 && this.#stoppedAccepting) this.#allClosed();
      });
    });
    server.on('request', (request, response) => {
      const connection = this.#connections.get(request.socket);
      if (connection === undefined) return;
      if (connection.ending) {
        // It crossed the FIN: there is no way left to answer it, and the client has seen the connection end.
        request.socket.destroy();
        return;
      }
      connection.open++;
      response.once('close', () => {
        connection.open--;
        connection.idleSince = performance.now();
        connection.bytesAtIdle = request.socket.bytesRead;
      });
    });
  }

  /** Whether {@link begin} was called. */
  get draining(): boolean {
    return this.#times !== null;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Stops accepting and starts closing the connections as the module comment says. Idempotent. */
  begin(times: DrainTimes): void {
    if (this.#times !== null) return;
    this.#times = times;
    this.#sweep = setInterval(() => this.#sweepIdle(), sweepIntervalMs).unref();
    this.#sweepIdle();
    // Closing a listening socket resets the connections in its accept queue (handshake done, maybe a request
    // sent). So the listener closes only after a poll phase of the event loop has accepted those: the second
    // immediate runs in the next turn's check phase, after its poll.
    setImmediate(() => setImmediate(() => {
      // net.Server's close, not http.Server's: the latter destroys the connections it thinks idle.
      if (this.#server.listening) NetServer.prototype.close.call(this.#server);
      this.#stoppedAccepting = true;
      if (this.#connections.size === 0) this.#allClosed();
    }));
  }

  /** Resolves once {@link begin} was called, the listening socket has closed, and no connection is left. */
  closed(): Promise<void> {
    if (this.#stoppedAccepting && this.#connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Past the deadline: destroys every connection, mid-request or not. */
  closeAll(): void {
    for (const socket of [...this.#connections.keys()]) socket.destroy();
  }

  #sweepIdle(): void {
    const { idleGraceMs, lingerMs } = this.#times!;
    const now = performance.now();
    for (const connection of this.#connections.values()) {
      const { socket } = connection;
      if (connection.ending || connection.open > 0) continue;
      if (socket.bytesRead !== connection.bytesAtIdle) continue;
      if (now - connection.idleSince < idleGraceMs) continue;
      connection.ending = true;
      socket.end();
      const linger = setTimeout(() => socket.destroy(), lingerMs).unref();
      socket.once('close', () => clearTimeout(linger));
    }
  }

  #allClosed(): void {
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Whether `promise` settles within `ms` (false at once for 0 or less, unless it has settled already). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), Math.max(0, ms)); });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
