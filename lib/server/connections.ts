/**
 * Bounds on the connections a thread's HTTP server holds, so that clients which connect and then send
 * nothing, or too many connections at once, cannot take the process's file descriptors:
 *
 * - **At most `maxConnections`** (split between the HTTP threads: each thread's server accepts
 *   ⌊maxConnections / threads⌋). Past it Node closes a new connection as soon as it is accepted
 *   (`net.Server.maxConnections`): the client sees the connection closed, and the server keeps its fds.
 * - **A new connection that sends nothing within `idleConnectionTimeoutMs` is closed.** Node's own timeouts
 *   do not cover this: `headersTimeout` starts at a request's first byte, so a connection that never sends
 *   one is held for ever (measured on Node 20).
 * - **A request's head must arrive whole within the same time from its first byte** (Node's
 *   `headersTimeout`; it answers 408, see refusals.ts), and **a keep-alive connection is closed after
 *   `keepAliveTimeoutMs` between requests**.
 *   Node checks `headersTimeout` on a timer: every `connectionsCheckingInterval`, set here to a quarter of
 *   the idle timeout (at most 1 s) instead of Node's 30 s.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { ResolvedServerOptions } from './types.js';

/** File descriptors left for the server's own files (models, workers' event loops, logs, a GPU's devices). */
export const reservedFileDescriptors = 128;

/** The most connections the default allows, whatever the open-file limit. */
export const maxDefaultConnections = 10_000;

/** The default where the open-file limit cannot be read (not Linux). */
export const fallbackMaxConnections = 1000;

/**
 * How long a request may take to arrive (headers and body): a 32 MiB body at 1 MB/s fits. Without it
 * (fastify's default is none) a client that sends headers and then trickles holds its connection and buffered
 * bytes for ever.
 */
export const requestTimeoutMs = 60_000;

/** The connection settings of one thread's server. */
export interface ConnectionLimits {
  /** Connections this thread's server accepts at once. */
  maxConnections: number;
  idleConnectionTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** The soft open-file limit of this process (`ulimit -n`), from /proc/self/limits; null where unreadable. */
export function openFileLimit(limits?: string): number | null {
  let text = limits;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (match === null) return null;
  return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

/**
 * The default of `maxConnections`: the open-file limit less {@link reservedFileDescriptors}, at most
 * {@link maxDefaultConnections} and at least 1; {@link fallbackMaxConnections} where the limit is unknown.
 */
export function defaultMaxConnections(fileLimit: number | null = openFileLimit()): number {
  if (fileLimit === null) return fallbackMaxConnections;
  return Math.max(1, Math.min(maxDefaultConnections, fileLimit - reservedFileDescriptors));
}

/** What one of `threads` HTTP threads enforces, from the server's options. */
export function connectionLimits(options: ResolvedServerOptions, threads: number): ConnectionLimits {
  const total = options.maxConnections ?? defaultMaxConnections();
  return {
    maxConnections: Math.max(1, Math.floor(total / threads)),
    idleConnectionTimeoutMs: options.idleConnectionTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs,
  };
}

/** How often Node looks for requests past their head or request timeout. */
export function connectionsCheckingInterval(limits: ConnectionLimits): number {
  return Math.max(10, Math.min(1000, Math.floor(limits.idleConnectionTimeoutMs / 4)));
}

/** How long a request's head may take from its first byte: the idle timeout, within the whole request's time. */
export function headersTimeoutMs(limits: ConnectionLimits): number {
  return Math.min(limits.idleConnectionTimeoutMs, requestTimeoutMs);
}

/** The `http.createServer` options that carry these limits (fastify's `http` option). */
export function httpServerOptions(limits: ConnectionLimits): { headersTimeout: number; connectionsCheckingInterval: number } {
  return { headersTimeout: headersTimeoutMs(limits), connectionsCheckingInterval: connectionsCheckingInterval(limits) };
}

/** How often at most the log says that connections are being closed at the limit. */
const dropLogIntervalMs = 10_000;

/**
 * Applies the connection count and the timeout of silent connections to `server` (a thread's fastify server,
 * before it listens); the head and keep-alive timeouts are `http.createServer` and fastify options
 * ({@link httpServerOptions}, `keepAliveTimeout`).
 */
export function limitConnections(server: Server, limits: ConnectionLimits, log: FastifyBaseLogger): void {
  server.maxConnections = limits.maxConnections;
  let droppedSinceLog = 0;
  let lastLog = 0;
  server.on('drop', () => {
    droppedSinceLog++;
    const now = Date.now();
    if (now - lastLog < dropLogIntervalMs) return;
    log.warn({ maxConnections: limits.maxConnections, dropped: droppedSinceLog },
      'connection limit reached: new connections are closed (maxConnections, --max-connections)');
    droppedSinceLog = 0;
    lastLog = now;
  });

  server.on('connection', (socket: Socket) => {
    // A connection that has sent anything is Node's: a head cut short gets 408 (`headersTimeout`, counted from
    // its first byte), a kept-alive one closes after `keepAliveTimeout`.
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, limits.idleConnectionTimeoutMs);
    // It must not keep a closing process alive; the socket's close clears it.
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}
