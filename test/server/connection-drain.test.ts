/**
 * How a closing server ends the connections that are open (connection-drain.ts), seen from raw TCP clients.
 * A connection waiting in the accept queue is accepted and answered, not reset. A request whose first bytes
 * have arrived is never cut, even past the idle grace. An idle connection gets
 * a FIN after the grace (a half-close: no reset for a request that crosses it). A client that never closes
 * its side is let go after the linger. The times come from `shutdownTimeoutMs` (a tenth each, at most a
 * second).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { drainTimes } from '../../lib/server/connection-drain.js';
import { resnet20Server } from '../helpers/server-helpers.js';

const shutdownTimeoutMs = 2000;
const { idleGraceMs, lingerMs } = drainTimes(shutdownTimeoutMs);

const servers: InferenceServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function started(): Promise<InferenceServer> {
  const server = resnet20Server({}, { shutdownTimeoutMs });
  servers.push(server);
  await server.start();
  return server;
}

/** A raw connection that keeps what it reads and when it saw the FIN; it never closes its own side. */
async function rawClient(server: InferenceServer): Promise<{ socket: net.Socket; text: () => string; ended: Promise<number>; errors: string[] }> {
  const socket = net.connect({ host: '127.0.0.1', port: server.address!.port, allowHalfOpen: true });
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  const errors: string[] = [];
  socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  socket.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
  const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(performance.now())));
  return { socket, text: () => text, ended, errors };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('closing a server\'s connections', () => {
  it('takes its times from the shutdown deadline', () => {
    expect(drainTimes(30_000)).toEqual({ idleGraceMs: 1000, lingerMs: 1000 });
    expect(drainTimes(2000)).toEqual({ idleGraceMs: 200, lingerMs: 200 });
    expect(drainTimes(0)).toEqual({ idleGraceMs: 0, lingerMs: 0 });
  });

  it('answers a request whose first bytes arrived before the grace ran out, with Connection: close', async () => {
    const server = await started();
    const client = await rawClient(server);
    client.socket.write('GET /v2/health/live HTTP/1.1\r\nHost: test\r\n');
    await sleep(50);
    const closing = server.close();
    // Well past the grace: an idle connection would have had its FIN by now.
    await sleep(idleGraceMs + 300);
    expect(client.text()).toBe('');
    client.socket.write('\r\n');
    const endedAt = await client.ended;
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(client.text()).toMatch(/\r\nconnection: close\r\n/i);
    expect(client.errors).toEqual([]);
    client.socket.end();
    await closing;
    expect(performance.now() - endedAt).toBeLessThan(1000);
  });

  it('answers a connection that was waiting to be accepted when closing began, rather than resetting it', async () => {
    const server = await started();
    const answer = join(mkdtempSync(join(tmpdir(), 'resnet-drain-')), 'answer.txt');
    const request = 'GET /v2/health/live HTTP/1.1\\r\\nHost: test\\r\\n\\r\\n';
    const script = `(exec 3<>/dev/tcp/127.0.0.1/${server.address!.port}; printf '${request}' >&3; cat <&3 > ${answer}) & sleep 0.3`;
    // spawnSync holds this process's event loop: the client connects and sends its request, and the connection
    // waits in the listening socket's accept queue. Closing begins before the event loop looks at it.
    expect(spawnSync('bash', ['-c', script], { stdio: 'ignore' }).status).toBe(0);
    await server.close();
    let text = '';
    for (let i = 0; i < 100 && !text.includes('\r\n\r\n'); i++) {
      await sleep(20);
      text = existsSync(answer) ? readFileSync(answer, 'utf8') : '';
    }
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
  });

  it('sends an idle connection a FIN after the grace, and lets go of a client that never closes after the linger', async () => {
    const server = await started();
    const client = await rawClient(server);
    client.socket.write('GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n');
    while (!client.text().endsWith('\r\n\r\n')) await sleep(5);
    expect(client.text()).toMatch(/\r\nconnection: keep-alive\r\n/i);
    const idleSince = performance.now();
    const closeStarted = performance.now();
    await server.close();
    const closedAt = performance.now();
    const endedAt = await client.ended;
    // The FIN came once the connection had been idle for the grace; the socket was let go a linger later.
    expect(endedAt - idleSince).toBeGreaterThanOrEqual(idleGraceMs - 5);
    expect(closedAt - endedAt).toBeGreaterThanOrEqual(lingerMs - 5);
    expect(closedAt - closeStarted).toBeLessThan(shutdownTimeoutMs);
    expect(client.errors).toEqual([]);
    client.socket.destroy();
  });
});
