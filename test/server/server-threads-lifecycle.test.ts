/**
 * The life cycle of a server with HTTP threads, each step set against the single-thread server's: 503 for a
 * model still loading (the threads learn of each model as it loads); on close, every admitted request
 * answered, new ones on open connections 503 (each the connection's last answer), then no thread listens
 * and the body arenas are unregistered; a thread that dies is reported and the others serve on, and the
 * server still closes cleanly.
 */
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InferenceServer, ServerOptions } from '../../lib/server/index.js';
import { uniform } from '../helpers/helpers.js';
import {
  checkpoint, deferred, distCreateServer, holdNextBatch, hostMemoryRanges, send, skipReason, type RawRequest, type RawResponse,
} from '../helpers/server-threads-helpers.js';

if (skipReason !== null) console.log(`server-threads-lifecycle: skipped, ${skipReason}`);

const sample = 3 * 32 * 32;

function options(httpThreads: number): ServerOptions {
  return {
    models: [{ arch: 'resnet20', weights: checkpoint, maxBatchSize: 4, instanceCount: 1 }],
    host: '127.0.0.1', port: 0, logLevel: 'silent', httpThreads,
  };
}

function infer(seed: number): RawRequest {
  return {
    method: 'POST', path: '/v2/models/resnet20/infer',
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(uniform(sample, seed)) }] }),
    headers: { 'content-type': 'application/json' },
  };
}

const started: InferenceServer[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(started.splice(0).map((server) => server.close()));
});

async function create(httpThreads: number): Promise<InferenceServer> {
  const server = (await distCreateServer())(options(httpThreads));
  started.push(server);
  return server;
}

/** Whether something accepts connections on `port` of 127.0.0.1. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

describe.skipIf(skipReason !== null)('HTTP threads: life cycle (skipped without dist/ and the resnet20 checkpoint)', () => {
  it('answers 503 for a model still loading, then serves it once loaded, as one thread does', async () => {
    const served = (await import(fileURLToPath(new URL('../../dist/server/served-model.js', import.meta.url)))) as typeof import('../../lib/server/served-model.js');
    const gate = deferred();
    const load = served.ServedModel.load.bind(served.ServedModel);
    vi.spyOn(served.ServedModel, 'load').mockImplementation(async (...args) => {
      await gate.promise;
      return load(...args);
    });
    const servers = [await create(2), await create(1)];
    const starting = servers.map((server) => server.start());
    await vi.waitFor(() => { for (const server of servers) expect(server.address).not.toBeNull(); }, { timeout: 60_000, interval: 20 });
    const loading: RawResponse[] = [];
    for (const server of servers) loading.push(await send(server, infer(1)));
    const ready = await Promise.all(servers.map((server) => send(server, { path: '/v2/health/ready' })));
    gate.resolve();
    await Promise.all(starting);
    const [a, b] = loading as [RawResponse, RawResponse];
    expect([a.status, a.headers['retry-after'], a.body.toString()]).toEqual([503, '1', '{"error":"model \'resnet20\' version \'1\' is not ready (loading)"}']);
    expect([b.status, b.headers['retry-after'], b.body.toString()]).toEqual([a.status, a.headers['retry-after'], a.body.toString()]);
    expect(ready.map((res) => res.status)).toEqual([503, 503]);
    for (const server of servers) expect((await send(server, infer(2))).status).toBe(200);
    expect(servers[0]!.httpThreads).toBe(2);
  }, 120_000);

  /** Close with requests in flight; what each kind of request got. */
  async function closeWithRequestsInFlight(server: InferenceServer): Promise<{ inFlight: number[]; late: RawResponse; racing: RawResponse[]; listening: boolean }> {
    const port = server.address!.port;
    const hold = holdNextBatch(server.models.get('resnet20')!);
    try {
      const running = send(server, infer(3));
      await hold.started;
      const queued = [send(server, infer(4)), send(server, infer(5))];
      await vi.waitFor(async () => {
        const text = (await server.app.inject({ url: '/metrics' })).body;
        expect(text).toMatch(/nv_inference_pending_request_count\{model="resnet20",version="1"\} 2/);
      }, { timeout: 10_000, interval: 10 });
      // Keep-alive connections opened before closing: new connections are refused once it begins.
      const kept = Array.from({ length: 20 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
      for (const agent of kept) expect((await send(server, { path: '/v2/health/live' }, agent)).status).toBe(200);
      const closing = server.close();
      expect(server.ready).toBe(false);
      // Each thread turns closing as its message arrives: a request admitted just before is served (it waits
      // with the in-flight ones), the first one after gets the 503. Each is its connection's last.
      const racing: Promise<RawResponse>[] = [];
      let late: RawResponse | null = null;
      for (let i = 0; i < kept.length && late === null; i++) {
        const answer = send(server, infer(6), kept[i]!);
        const first = await Promise.race([answer, new Promise<null>((resolve) => setTimeout(() => resolve(null), 50))]);
        if (first !== null && first.status === 503) late = first;
        else racing.push(answer);
      }
      hold.open();
      const inFlight = (await Promise.all([running, ...queued])).map((res) => res.status);
      const raced = await Promise.all(racing);
      await closing;
      for (const agent of kept) agent.destroy();
      return { inFlight, late: late!, racing: raced, listening: await accepts(port) };
    } finally {
      hold.open();
      hold.restore();
    }
  }

  it('on close answers every admitted request, refuses new ones with 503, stops listening and unregisters its arenas', async () => {
    const before = await hostMemoryRanges();
    const threaded = await create(2);
    const single = await create(1);
    await Promise.all([threaded.start(), single.start()]);
    expect(await hostMemoryRanges()).toBe(before + 3);
    const a = await closeWithRequestsInFlight(threaded);
    const b = await closeWithRequestsInFlight(single);
    for (const outcome of [a, b]) {
      expect(outcome.inFlight).toEqual([200, 200, 200]);
      // Admitted just before their thread turned closing (served), or after (refused as the late one).
      for (const res of outcome.racing) {
        if (res.status !== 200) expect([res.status, res.body.toString()]).toEqual([503, outcome.late.body.toString()]);
      }
      expect(outcome.listening).toBe(false);
    }
    expect([a.late.status, a.late.body.toString()]).toEqual([503, '{"error":"server is shutting down"}']);
    expect([a.late.headers['retry-after'], a.late.headers.connection]).toEqual(['1', 'close']);
    expect([b.late.headers['retry-after'], b.late.headers.connection]).toEqual(['1', 'close']);
    for (const res of [...a.racing, ...b.racing]) expect(res.headers.connection).toBe('close');
    expect([b.late.status, b.late.body.toString()]).toEqual([a.late.status, a.late.body.toString()]);
    expect(await hostMemoryRanges()).toBe(before);
  }, 120_000);

  it('reports a thread that dies and serves on with the others, then closes cleanly', async () => {
    const server = await create(3);
    await server.start();
    const workers = (server as unknown as { httpThreadWorkers: readonly import('node:worker_threads').Worker[] }).httpThreadWorkers;
    expect(workers).toHaveLength(3);
    const threads = async (): Promise<number> => {
      const text = (await server.app.inject({ url: '/metrics' })).body;
      return Number(/^resnet_http_threads (\d+)$/m.exec(text)![1]);
    };
    expect(await threads()).toBe(3);
    const exited = new Promise((resolve) => workers[0]!.once('exit', resolve));
    await workers[0]!.terminate();
    await exited;
    expect(await threads()).toBe(2);
    // Its socket closed with it: the kernel routes new connections to the other two.
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => send(server, infer(10 + i))));
    expect(answers.map((res) => res.status)).toEqual(new Array(24).fill(200));
    expect((await send(server, { path: '/v2/health/ready' })).status).toBe(200);
    const port = server.address!.port;
    await server.close();
    expect(await accepts(port)).toBe(false);
  }, 120_000);
});
