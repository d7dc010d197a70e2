/**
 * TCP listening sockets opened by the addon, for a server that accepts on several threads: with
 * `reusePort`, SO_REUSEPORT is set before `bind`, so several sockets bind one port and the kernel spreads
 * incoming connections over them (Linux ≥ 3.9). Node 20's `net` cannot set the option (Node ≥ 22.12 has
 * `listen({ reusePort })`), but `server.listen({ fd })` accepts on a socket opened elsewhere: each HTTP
 * thread of `resnet serve --http-threads N` gets one of these.
 *
 * Only numeric addresses are taken (the native side never touches DNS); {@link resolveListenHost} turns a
 * host name into the address Node's own `listen` would bind.
 * @module
 * @internal
 */
import { lookup } from 'node:dns/promises';
import { UnsupportedError, fromNative, invalidArgument } from '../errors.js';
import { loadNative } from './native.js';

/** What to listen on. */
export interface ListenSocketOptions {
  /** A numeric IPv4 or IPv6 address (`0.0.0.0`, `::`, `127.0.0.1`, `::1`). */
  host: string;
  /** 0: the kernel picks a free port ({@link ListeningSocket.port} says which). */
  port: number;
  /** Set SO_REUSEPORT before binding, so that other sockets with it may bind the same port. */
  reusePort: boolean;
  /** Pending connections the kernel queues; default 511, Node's. */
  backlog?: number;
}

/** An open listening socket: a descriptor to hand to one listener (`server.listen({ fd })`), or to close. */
export class ListeningSocket {
  /** The port it is bound to. */
  readonly port: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  #fd: number | null;

  /** @internal Made by {@link openListeningSocket}. */
  constructor(fd: number, port: number, family: 4 | 6) {
    this.#fd = fd;
    this.port = port;
    this.family = family;
  }

  /** The descriptor; null once handed over or closed. */
  get fd(): number | null {
    return this.#fd;
  }

  /**
   * The descriptor, for a listener that has taken it over (and closes it when it closes); after this
   * {@link close} does nothing.
   * @throws Error when it was handed over or closed already.
   */
  handOver(): number {
    if (this.#fd === null) throw new Error('this listening socket was handed over or closed already');
    const fd = this.#fd;
    this.#fd = null;
    return fd;
  }

  /** Closes the socket unless it was handed over; idempotent. */
  close(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    loadNative().closeListeningSocket(fd);
  }
}

/**
 * Opens a TCP socket bound to `host:port` and listening.
 * @throws InvalidArgumentError for a host that is not a numeric address, a port in use (the message names
 * EADDRINUSE), an address not on this machine (EADDRNOTAVAIL) or a privileged port (EACCES);
 * UnsupportedError where the addon predates listening sockets or the system has no SO_REUSEPORT;
 * BackendError for other system failures (too many open files).
 */
export function openListeningSocket(options: ListenSocketOptions): ListeningSocket {
  if (typeof options !== 'object' || options === null) throw invalidArgument('{ host, port, reusePort }', 'options', options);
  const { host, port, reusePort, backlog = 511 } = options;
  const addon = loadNative();
  if (typeof addon.openListeningSocket !== 'function') {
    throw new UnsupportedError('this build of the native addon cannot open listening sockets (it predates them): rebuild it with npm run build:native');
  }
  try {
    const opened = addon.openListeningSocket(host, port, reusePort, backlog);
    return new ListeningSocket(opened.fd, opened.port, opened.family);
  } catch (error) {
    throw fromNative(error);
  }
}

/**
 * The numeric address Node's `listen` would bind for `host`: an address as it is (brackets of `[::1]`
 * removed), a name through `dns.lookup` (the system resolver: /etc/hosts, then DNS), its first answer.
 * @throws Error with code ENOTFOUND (and the like) from the resolver for a name that does not resolve.
 */
export async function resolveListenHost(host: string): Promise<string> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const { address } = await lookup(bare);
  return address;
}
