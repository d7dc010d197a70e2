/**
 * Connections to the gRPC endpoint are reaped as HTTP's are (issue 14, defect 4, on the gRPC port): one that never
 * sends a byte, and a client channel with no call in flight, are closed after `idleConnectionTimeoutMs`; a client
 * whose connection was closed reconnects on its next call and is served.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { servingGrpc } from '../helpers/grpc-client.js';
import { resnet20Server } from '../helpers/server-helpers.js';

const idleConnectionTimeoutMs = 400;
const serving = servingGrpc(() => resnet20Server({ maxQueueDelayMicroseconds: 0 }, { idleConnectionTimeoutMs }));

/** Opens a TCP connection to the gRPC port that sends nothing; resolves with the ms until the server closed it. */
function silentConnection(port: number, giveUpMs: number): Promise<number | 'still open'> {
  return new Promise((resolve) => {
    const start = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve('still open');
    }, giveUpMs);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve(performance.now() - start);
    });
    socket.resume();
  });
}

describe('gRPC connections', () => {
  it('closes connections that never send a byte after the idle timeout', async () => {
    const port = serving.server.grpcAddress!.port;
    const closedAfter = await Promise.all(Array.from({ length: 20 }, () => silentConnection(port, 10 * idleConnectionTimeoutMs)));
    for (const ms of closedAfter) {
      expect(ms).not.toBe('still open');
      expect(ms as number).toBeGreaterThanOrEqual(idleConnectionTimeoutMs - 50);
    }
  });

  it('closes an idle client channel with a GOAWAY, and the client is served again on its next call', async () => {
    const first = (await serving.client.call('ServerLive', {})) as { live: boolean };
    expect(first.live).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 3 * idleConnectionTimeoutMs));
    const again = (await serving.client.call('ModelReady', { name: 'resnet20' })) as { ready: boolean };
    expect(again.ready).toBe(true);
  });
});
