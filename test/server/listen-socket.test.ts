/**
 * The native listening sockets of `--http-threads`: a socket Node accepts on (`server.listen({ fd })`),
 * SO_REUSEPORT letting two sockets bind one port only when both set it (and the kernel then spreading
 * connections over both), and every refusal a coded error that names the errno and says what to change:
 * a port in use, an address not on this machine, a host that is not a numeric address. Checked against
 * Node's own `net` (an independent listener and client).
 */
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { openListeningSocket, resolveListenHost, type ListeningSocket } from '../../lib/runtime/listen-socket.js';
import { loadNative } from '../../lib/runtime/native.js';

const opened: ListeningSocket[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  for (const socket of opened.splice(0)) socket.close();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function open(host: string, port: number, reusePort: boolean): ListeningSocket {
  const socket = openListeningSocket({ host, port, reusePort });
  opened.push(socket);
  return socket;
}

/** A Node server accepting on `socket` (which it takes over); counts its connections. */
async function serve(socket: ListeningSocket): Promise<{ connections: () => number }> {
  let connections = 0;
  const server = net.createServer((connection) => {
    connections++;
    connection.end();
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd: socket.fd! }, () => resolve());
  });
  socket.handOver();
  return { connections: () => connections };
}

/** Connects to `host:port` and waits for the server to close the connection. */
function connect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = net.connect({ host, port });
    client.on('error', reject);
    client.on('close', () => resolve());
    client.resume();
  });
}

/** The error `fn` throws. */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('openListeningSocket', () => {
  it('opens a socket on a free port that a Node server accepts on', async () => {
    const socket = open('127.0.0.1', 0, true);
    expect(socket.port).toBeGreaterThan(0);
    expect(socket.family).toBe(4);
    const server = await serve(socket);
    await connect('127.0.0.1', socket.port);
    expect(server.connections()).toBe(1);
  });

  it('binds a second socket to the port only when both set SO_REUSEPORT, and the kernel spreads connections over both', async () => {
    const first = open('127.0.0.1', 0, true);
    const second = open('127.0.0.1', first.port, true);
    expect(second.port).toBe(first.port);
    const without = thrown(() => open('127.0.0.1', first.port, false));
    expect(without).toBeInstanceOf(InvalidArgumentError);
    expect(without.message).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: bind failed with EADDRINUSE .*already listens on port ${first.port}; stop it or choose another port`));

    const a = await serve(first);
    const b = await serve(second);
    for (let i = 0; i < 48; i++) await connect('127.0.0.1', first.port);
    // The kernel hashes each connection's addresses onto a socket: 48 connections all landing on one of two
    // sockets would happen with probability 2^-47.
    expect(a.connections() + b.connections()).toBe(48);
    expect(a.connections()).toBeGreaterThan(0);
    expect(b.connections()).toBeGreaterThan(0);
  });

  it('refuses SO_REUSEPORT on a port whose first socket did not set it', () => {
    const plain = open('127.0.0.1', 0, false);
    const error = thrown(() => open('127.0.0.1', plain.port, true));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toMatch(/EADDRINUSE/);
  });

  it('refuses a port a Node server listens on, naming EADDRINUSE', async () => {
    const server = net.createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    const error = thrown(() => open('127.0.0.1', port, true));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toContain(`cannot listen on 127.0.0.1:${port}: bind failed with EADDRINUSE`);
  });

  it('refuses a host that is not a numeric address, and an address not on this machine', () => {
    for (const host of ['not-an-address', 'localhost', '999.1.1.1', '1.2.3', '']) {
      const error = thrown(() => open(host, 0, true));
      expect(error.code, host).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message, host).toMatch(/^Expected an IPv4 or IPv6 address for host but received "/);
    }
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    const foreign = thrown(() => open('192.0.2.1', 0, true));
    expect(foreign.code).toBe('ERR_INVALID_ARGUMENT');
    expect(foreign.message).toMatch(/bind failed with EADDRNOTAVAIL .*192\.0\.2\.1 is not an address of this machine/);
  });

  it('listens on IPv6 (brackets allowed) where the machine has it', async () => {
    let socket: ListeningSocket;
    try {
      socket = open('[::1]', 0, true);
    } catch (error) {
      // A container without IPv6 on loopback: the refusal is still a coded, explained error.
      expect((error as { code?: string }).code).toBe('ERR_INVALID_ARGUMENT');
      expect((error as Error).message).toMatch(/EADDRNOTAVAIL|EAFNOSUPPORT/);
      console.log('listen-socket: IPv6 check skipped, ::1 is not available here');
      return;
    }
    expect(socket.family).toBe(6);
    const server = await serve(socket);
    await connect('::1', socket.port);
    expect(server.connections()).toBe(1);
  });

  it('checks its arguments, and closes only sockets', () => {
    expect(thrown(() => open('127.0.0.1', 70_000, true)).message).toBe('Expected an integer from 0 to 65535 for port but received 70000');
    expect(thrown(() => openListeningSocket({ host: '127.0.0.1', port: 0, reusePort: 'yes' as unknown as boolean })).code).toBe('ERR_INVALID_ARGUMENT');
    const file = openSync(new URL(import.meta.url), 'r');
    try {
      const error = thrown(() => loadNative().closeListeningSocket(file));
      expect(error.message).toBe(`Expected the descriptor of an open socket for fd but received ${file}`);
    } finally {
      closeSync(file); // still open: closing it again would throw EBADF
    }
    const socket = open('127.0.0.1', 0, true);
    socket.close();
    socket.close();
    expect(() => socket.handOver()).toThrow(/handed over or closed already/);
  });
});

describe('resolveListenHost', () => {
  it('keeps numeric addresses and resolves names as Node\'s listen does', async () => {
    expect(await resolveListenHost('127.0.0.1')).toBe('127.0.0.1');
    expect(await resolveListenHost('[::1]')).toBe('::1');
    expect(['127.0.0.1', '::1']).toContain(await resolveListenHost('localhost'));
  });
});
