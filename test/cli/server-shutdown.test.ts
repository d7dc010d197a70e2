/**
 * `resnet serve` shut down under load over keep-alive connections (issue 14, defect 7). Clients send
 * inferences back to back, each on one keep-alive connection of its own, when SIGTERM arrives. Every request
 * gets its correct answer (200, the engine's logits) or a 503 with `Retry-After`, `Connection: close` and an
 * `{"error"}` body, and each client's last response says `Connection: close`. None is reset, and no client
 * needs a second connection. A request sent after the signal on an idle keep-alive connection gets that 503.
 * Idle connections are closed cleanly, new connections are refused at once, and the command exits 0 well
 * within its deadline. With one HTTP thread and with two (the compiled CLI in a child process, resnet20 with
 * its CIFAR-10 checkpoint; skipped, saying why, without them).
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { cli, cliBuilt } from '../helpers/cli-runner.js';
import { maxRelativeError, uniform } from '../helpers/helpers.js';
import { binaryInfer, bytesOf, floatsOf, reference, resnet20Server, splitResponse } from '../helpers/server-helpers.js';
import { checkpoint, send, type RawResponse } from '../helpers/server-threads-helpers.js';
import { killServers, serve, type Serving } from '../helpers/serve-process.js';
import { missingData } from '../helpers/test-data.js';

const skipReason = cliBuilt ? missingData(checkpoint) : `${cli} is missing (run npm run build:ts)`;
if (skipReason !== null) console.log(`server-shutdown: skipped, ${skipReason}`);

const size = 64;
const inputs = [1, 2, 3, 4].map((seed) => uniform(3 * size * size, seed, -2, 2));
const lanes = 6;
const shutdownTimeoutMs = 10_000;

/** A binary FP32 inference of one of {@link inputs}, asking for the logits as binary. */
function inferRequest(input: number): { method: string; path: string; headers: Record<string, string>; body: Buffer } {
  const values = inputs[input]!;
  const { body, headerLength } = binaryInfer({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, size, size], parameters: { binary_data_size: values.byteLength } }],
    outputs: [{ name: 'output', parameters: { binary_data: true } }],
  }, bytesOf(values));
  return {
    method: 'POST', path: '/v2/models/resnet20/infer', body,
    headers: { 'inference-header-content-length': String(headerLength), 'content-type': 'application/octet-stream' },
  };
}

/** What one request got: its answer, or the error its client saw. */
interface Outcome {
  input: number;
  sentAt: number;
  answeredAt: number;
  response?: RawResponse;
  error?: string;
}

/** A keep-alive client on one connection; it counts the connections it opened and any socket error. */
class KeepAliveClient {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  readonly sockets: net.Socket[] = [];
  readonly socketErrors: string[] = [];

  constructor() {
    const open = this.agent.createConnection.bind(this.agent);
    this.agent.createConnection = (options, callback) => {
      const socket = open(options, callback) as net.Socket;
      this.sockets.push(socket);
      socket.on('error', (error: NodeJS.ErrnoException) => this.socketErrors.push(error.code ?? error.message));
      return socket;
    };
  }

  async request(url: string, input: number): Promise<Outcome> {
    const sentAt = performance.now();
    try {
      const response = await send(url, inferRequest(input), this.agent);
      return { input, sentAt, answeredAt: performance.now(), response };
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      return { input, sentAt, answeredAt: performance.now(), error: `${e.code ?? ''} ${e.message}` };
    }
  }

  /** Whether every connection it opened has closed. */
  get closed(): boolean {
    return this.sockets.every((socket) => socket.destroyed);
  }
}

/**
 * Sends requests back to back until an answer says `Connection: close`, a request fails, or (a server
 * that never says so) 5 s after `signalledAt`.
 */
async function runLane(client: KeepAliveClient, url: string, lane: number, signalledAt: () => number | null): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (let i = 0; ; i++) {
    const outcome = await client.request(url, (lane + i) % inputs.length);
    outcomes.push(outcome);
    if (outcome.error !== undefined || outcome.response!.headers.connection === 'close') return outcomes;
    const signalled = signalledAt();
    if (signalled !== null && performance.now() - signalled > 5000) return outcomes;
  }
}

/** Whether a new TCP connection to `port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** The shutdown 503's parts, as the assertions compare them. */
function refusal(response: RawResponse): unknown {
  return {
    status: response.status,
    retryAfter: response.headers['retry-after'],
    connection: response.headers.connection,
    body: Object.keys(JSON.parse(response.body.toString()) as object),
  };
}

const refusalExpected = { status: 503, retryAfter: '1', connection: 'close', body: ['error'] };

let referenceServer: InferenceServer | null = null;
const expected: Float32Array[] = [];

describe.skipIf(skipReason !== null)('resnet serve: SIGTERM under load over keep-alive connections', () => {
  beforeAll(async () => {
    referenceServer = resnet20Server({ weights: checkpoint, inputSize: size });
    await referenceServer.start({ listen: false });
    for (const values of inputs) expected.push((await reference(referenceServer, values, 1)).output);
  }, 60_000);
  afterAll(async () => {
    await referenceServer?.close();
  });
  afterEach(killServers);

  it.each([1, 2])('with %i HTTP thread(s): no request reset, every answer right or a 503 with Retry-After and Connection: close, exit 0', async (threads) => {
    const server: Serving = await serve([
      '--model', `resnet20=${checkpoint}`, '--input-size', String(size), '--max-batch-size', '4', '--max-queue-delay-us', '2000',
      '--host', '127.0.0.1', '--port', '0', '--http-threads', String(threads), '--shutdown-timeout-ms', String(shutdownTimeoutMs),
    ]);
    const { url } = server;
    const port = Number(new URL(url).port);
    const clients = Array.from({ length: lanes }, () => new KeepAliveClient());
    const idle = [new KeepAliveClient(), new KeepAliveClient()];
    const late = new KeepAliveClient();
    // Every connection is open (one request each) before the load starts.
    for (const client of [...clients, ...idle, late]) expect((await client.request(url, 0)).response?.status).toBe(200);

    let signalledAt: number | null = null;
    const running = clients.map((client, lane) => runLane(client, url, lane, () => signalledAt));
    // Load for a while: every lane has a request in flight nearly all the time.
    await new Promise((resolve) => setTimeout(resolve, 400));
    // The late client's connection was used just now: it is idle, well inside its grace, when the signal comes.
    expect((await late.request(url, 1)).response?.status).toBe(200);
    signalledAt = performance.now();
    server.child.kill('SIGTERM');
    await server.logged('shutting down: not ready, finishing in-flight requests');
    // Stop accepting at once: on every thread (each turns closing as its message arrives, then closes its
    // listening socket), so from here on every thread is closing.
    await vi.waitFor(async () => expect(await refused(port)).toBe(true), { timeout: 2000, interval: 20 });
    const lateAnswer = await late.request(url, 2);

    const outcomes = await Promise.all(running);
    const exit = await server.exited;

    expect(lateAnswer.error).toBeUndefined();
    expect(refusal(lateAnswer.response!)).toEqual(refusalExpected);
    expect(JSON.parse(lateAnswer.response!.body.toString())).toEqual({ error: 'server is shutting down' });
    let answeredAfterSignal = 0;
    outcomes.forEach((lane, i) => {
      for (const outcome of lane) {
        expect(outcome.error, `lane ${i}: a request failed`).toBeUndefined();
        const { response } = outcome;
        if (response!.status === 200) {
          const { header, binary } = splitResponse(response!.body, response!.headers['inference-header-content-length'] as string);
          expect(header.outputs[0]).toMatchObject({ name: 'output', shape: [1, 10] });
          expect(maxRelativeError(floatsOf(binary), expected[outcome.input]!)).toBeLessThan(1e-5);
          if (outcome.sentAt < signalledAt! && outcome.answeredAt > signalledAt!) answeredAfterSignal++;
        } else {
          expect(refusal(response!)).toEqual(refusalExpected);
        }
      }
      // The server said which answer was the connection's last, and the lane sent nothing after it.
      expect(lane.at(-1)!.response!.headers.connection, `lane ${i}`).toBe('close');
    });
    // Requests in flight when the signal came were answered.
    expect(answeredAfterSignal).toBeGreaterThan(0);
    for (const client of [...clients, ...idle, late]) {
      expect(client.sockets).toHaveLength(1);
      expect(client.socketErrors).toEqual([]);
      expect(client.closed).toBe(true);
      client.agent.destroy();
    }
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - signalledAt).toBeLessThan(shutdownTimeoutMs / 2);
    const messages = server.logs.map((entry) => entry.msg);
    expect(messages).toContain('server closed');
    expect(messages).not.toContain('shutdown deadline passed: closing the remaining connections');
  }, 90_000);
});
