/**
 * `closeAfterDiscarding` (refusals.ts) on a plain Node HTTP server that refuses every request at once: the
 * connection closes when the refused body has been read whole, when the client sends past the byte bound, or
 * when the time bound passes — whichever comes first — and never before the client could read the answer.
 */
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAfterDiscarding, discardBounds } from '../../lib/server/refusals.js';

const bounds = { bytes: 1024 * 1024, ms: 600 };

/** A server that answers 413 before reading anything; reports each connection's bytes read and close time. */
async function refusingServer(): Promise<{ server: http.Server; port: number; closed: Promise<{ bytesRead: number; afterResponseMs: number }> }> {
  let answeredAt = 0;
  let resolveClosed!: (value: { bytesRead: number; afterResponseMs: number }) => void;
  const closed = new Promise<{ bytesRead: number; afterResponseMs: number }>((resolve) => { resolveClosed = resolve; });
  const server = http.createServer((request, response) => {
    closeAfterDiscarding(request, response, bounds);
    const body = '{"error":"too large"}';
    response.writeHead(413, { 'content-type': 'application/json', 'content-length': body.length });
    response.end(body, () => { answeredAt = Date.now(); });
  });
  server.on('connection', (socket: Socket) => {
    socket.on('close', () => resolveClosed({ bytesRead: socket.bytesRead, afterResponseMs: Date.now() - answeredAt }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, closed };
}

/**
 * Sends a head declaring `declared` bytes, then `send` bytes (in 64 KiB writes), and keeps its side open after
 * the server's FIN (a client still sending, or stalled), until the server closes the connection.
 */
function client(port: number, declared: number, send: number): { received: Promise<string>; socket: Socket } {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  const received = new Promise<string>((resolve) => {
    socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
    // The server's FIN ends its answer (this side stays open, as a client still sending would).
    socket.on('end', () => resolve(text));
    socket.on('close', () => resolve(text));
    socket.on('error', () => {});
  });
  socket.write(`POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: ${declared}\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  const pump = (): void => {
    while (sent < send && !socket.destroyed) {
      const part = chunk.subarray(0, Math.min(chunk.length, send - sent));
      sent += part.length;
      if (!socket.write(part)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
  return { received, socket };
}

let open: http.Server | null = null;
afterEach(async () => {
  await new Promise<void>((resolve) => (open === null ? resolve() : open.close(() => resolve())));
  open = null;
});

describe('closeAfterDiscarding', () => {
  it('keeps the documented bounds: 64 MiB, 10 s', () => {
    expect(discardBounds).toEqual({ bytes: 64 * 1024 * 1024, ms: 10_000 });
  });

  it('reads a refused body to its end, then closes at once', async () => {
    const { server, port, closed } = await refusingServer();
    open = server;
    const size = 512 * 1024;
    const { received, socket } = client(port, size, size);
    const { bytesRead, afterResponseMs } = await closed;
    socket.destroy();
    expect(bytesRead).toBeGreaterThan(size);
    expect(afterResponseMs).toBeLessThan(bounds.ms / 2);
    const answer = await received;
    expect(answer).toMatch(/^HTTP\/1\.1 413 [^]*connection: close\r\n[^]*\{"error":"too large"\}$/i);
  });

  it('closes once the client has sent more than the byte bound after the answer', async () => {
    const { server, port, closed } = await refusingServer();
    open = server;
    const { received, socket } = client(port, 200 * 1024 * 1024, 200 * 1024 * 1024);
    const { bytesRead, afterResponseMs } = await closed;
    socket.destroy();
    // Past 1 MiB the server stops reading: what it read is the bound plus what was in flight, far from 200 MB.
    expect(bytesRead).toBeGreaterThan(bounds.bytes);
    expect(bytesRead).toBeLessThan(32 * 1024 * 1024);
    expect(afterResponseMs).toBeLessThan(bounds.ms);
    expect(await received).toMatch(/^HTTP\/1\.1 413 /);
  }, 20_000);

  it('closes after the time bound when the client stops sending', async () => {
    const { server, port, closed } = await refusingServer();
    open = server;
    const { received, socket } = client(port, 50 * 1024 * 1024, 100 * 1024);
    const { bytesRead, afterResponseMs } = await closed;
    socket.destroy();
    expect(bytesRead).toBeLessThan(200 * 1024);
    expect(afterResponseMs).toBeGreaterThanOrEqual(bounds.ms - 20);
    expect(afterResponseMs).toBeLessThan(bounds.ms + 1500);
    expect(await received).toMatch(/^HTTP\/1\.1 413 [^]*\{"error":"too large"\}$/);
  }, 20_000);
});
