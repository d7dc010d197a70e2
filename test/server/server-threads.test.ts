/**
 * `httpThreads: 3` against `httpThreads: 1`, two resnet20 CPU servers with the same checkpoint, over real
 * sockets: 64 concurrent clients in mixed forms (FP32 and UINT8 NHWC binary, JSON, several images per
 * request) each get their own rows (the engine's answer for that input alone), nothing lost, duplicated or
 * mixed, each counted once; the connections spread over the threads; every error answer (400, 401, 404,
 * 405, 413, queue-full 503) and every forwarded route is byte for byte the single-thread server's; shared
 * memory and BYTES images go through a thread; a client that leaves takes its request out of the queue;
 * and a client that leaves while its batch runs does not get its body's memory reused under that batch.
 */
import { rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InferenceServer, ServerOptions } from '../../lib/server/index.js';
import type { ModelInput } from '../../lib/server/served-model.js';
import { maxRelativeError, rng, uniform } from '../helpers/helpers.js';
import { binaryInfer, bytesOf, floatsOf, splitResponse } from '../helpers/server-helpers.js';
import {
  checkpoint, distCreateServer, holdNextBatch, metric, send, sendThenCut, skipReason, type RawRequest, type RawResponse,
} from '../helpers/server-threads-helpers.js';

if (skipReason !== null) console.log(`server-threads: skipped, ${skipReason}`);

const token = 'thread-test-token';
const auth = { authorization: `Bearer ${token}` };
const sample = 3 * 32 * 32;

function options(httpThreads: number): ServerOptions {
  return {
    models: [
      { arch: 'resnet20', weights: checkpoint, maxBatchSize: 4, maxQueueSize: 512, maxQueueDelayMicroseconds: 2000 },
      // One instance and a queue of one: a held batch and one waiting request fill it.
      { arch: 'resnet20', name: 'narrow', weights: checkpoint, maxBatchSize: 2, maxQueueSize: 1, instanceCount: 1 },
    ],
    host: '127.0.0.1', port: 0, logLevel: 'silent', authToken: token, allowShm: true, maxBodyBytes: 256 * 1024, httpThreads,
  };
}

let threaded: InferenceServer;
let single: InferenceServer;

beforeAll(async () => {
  if (skipReason !== null) return;
  const createServer = await distCreateServer();
  threaded = createServer(options(3));
  single = createServer(options(1));
  await Promise.all([threaded.start(), single.start()]);
}, 240_000);
afterAll(async () => {
  await Promise.all([threaded?.close(), single?.close()]);
}, 60_000);

/** One test request: its body, and the ModelInput the engine would take for it alone. */
interface Case {
  request: RawRequest;
  input: ModelInput;
  samples: number;
  id: string;
}

/** FP32 NCHW as a binary body. */
function fp32Binary(id: string, n: number, seed: number, binaryOut: boolean): Case {
  const values = uniform(n * sample, seed, -2, 2);
  const { body, headerLength } = binaryInfer({
    id, inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
    parameters: { binary_data_output: binaryOut },
  }, bytesOf(values));
  return {
    id, samples: n,
    request: { method: 'POST', path: '/v2/models/resnet20/infer', body, headers: { ...auth, 'inference-header-content-length': String(headerLength) } },
    input: { dtype: 'float32', layout: 'nchw', samples: n, segments: [new Uint8Array(values.buffer)] },
  };
}

/** UINT8 NHWC pixels as a binary body. */
function uint8Binary(id: string, n: number, seed: number): Case {
  const random = rng(seed);
  const pixels = Uint8Array.from({ length: n * sample }, () => Math.floor(random() * 256));
  const { body, headerLength } = binaryInfer({
    id, inputs: [{ name: 'input', datatype: 'UINT8', shape: [n, 32, 32, 3], parameters: { binary_data_size: pixels.length } }],
  }, Buffer.from(pixels));
  return {
    id, samples: n,
    request: { method: 'POST', path: '/v2/models/resnet20/infer', body, headers: { ...auth, 'inference-header-content-length': String(headerLength) } },
    input: { dtype: 'uint8', layout: 'nhwc', samples: n, segments: [pixels] },
  };
}

/** FP32 as JSON data. */
function fp32Json(id: string, n: number, seed: number): Case {
  const values = uniform(n * sample, seed, -2, 2);
  const body = JSON.stringify({ id, inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 3, 32, 32], data: Array.from(values) }] });
  return {
    id, samples: n,
    request: { method: 'POST', path: '/v2/models/resnet20/infer', body, headers: { ...auth, 'content-type': 'application/json' } },
    input: { dtype: 'float32', layout: 'nchw', samples: n, segments: [new Uint8Array(values.buffer)] },
  };
}

/** The `output` and `features` of a 200 answer, binary or JSON. */
function outputsOf(res: RawResponse): { id: string | undefined; output: Float32Array; features: Float32Array } {
  expect(res.status, res.body.toString().slice(0, 300)).toBe(200);
  const { header, binary } = splitResponse(res.body, res.headers['inference-header-content-length'] as string | undefined);
  const read = (name: string): Float32Array => {
    let offset = 0;
    for (const output of header.outputs) {
      const size = output.parameters?.binary_data_size as number | undefined;
      if (output.name === name) return size === undefined ? Float32Array.from(output.data as number[]) : floatsOf(binary.subarray(offset, offset + size));
      offset += size ?? 0;
    }
    throw new Error(`no output ${name}`);
  };
  return { id: header.id, output: read('output'), features: read('features') };
}

const describeThreads = describe.skipIf(skipReason !== null);

describeThreads('HTTP threads (skipped without dist/ and the resnet20 checkpoint)', () => {
  it('starts 3 threads on one port; one thread is the main thread itself', async () => {
    expect(threaded.httpThreads).toBe(3);
    expect(single.httpThreads).toBe(1);
    expect(threaded.address!.port).toBeGreaterThan(0);
    expect(await metric(threaded, 'resnet_http_threads', '', token)).toBe(3);
    expect(await metric(single, 'resnet_http_threads', '', token)).toBe(1);
    expect(await metric(single, 'resnet_http_connections_total', 'thread="0"', token)).toBeGreaterThan(0);
  });

  it('answers 64 concurrent clients in mixed forms, each with its own rows, each request counted once; connections spread over the threads', async () => {
    const model = threaded.models.get('resnet20')!;
    const clients = Array.from({ length: 64 }, (_, client) => Array.from({ length: 2 }, (_, round) => {
      const id = `client-${client}-${round}`;
      const seed = 1000 + client * 10 + round;
      const n = 1 + ((client + round) % 3);
      switch (client % 4) {
        case 0: return fp32Binary(id, n, seed, true);
        case 1: return uint8Binary(id, n, seed);
        case 2: return fp32Json(id, Math.min(n, 2), seed);
        default: return fp32Binary(id, n, seed, false);
      }
    }));
    const cases = clients.flat();
    const expected = new Map<string, { output: Float32Array; features: Float32Array }>();
    for (const c of cases) {
      const [output, features] = await model.execute(c.input, c.samples, { alone: true });
      expected.set(c.id, { output: output!, features: features! });
    }
    const successBefore = await metric(threaded, 'nv_inference_request_success', 'model="resnet20",version="1"', token);
    const countBefore = await metric(threaded, 'nv_inference_count', 'model="resnet20",version="1"', token);
    const connectionsBefore = await Promise.all([1, 2, 3].map((t) => metric(threaded, 'resnet_http_connections_total', `thread="${t}"`, token)));

    // Each client its own keep-alive connection, its requests one after the other; all clients at once.
    const answers = await Promise.all(clients.map(async (requests) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const got: { c: Case; res: RawResponse }[] = [];
        for (const c of requests) got.push({ c, res: await send(threaded, c.request, agent) });
        return got;
      } finally {
        agent.destroy();
      }
    }));

    const seen = new Set<string>();
    for (const { c, res } of answers.flat()) {
      const { id, output, features } = outputsOf(res);
      expect(id).toBe(c.id);
      seen.add(id!);
      const own = expected.get(c.id)!;
      // Batches formed under load may take other algorithms than a request alone: float32 rounding differs.
      expect(maxRelativeError(output, own.output), c.id).toBeLessThan(1e-5);
      expect(maxRelativeError(features, own.features), c.id).toBeLessThan(1e-5);
    }
    expect(seen.size).toBe(cases.length);
    expect(await metric(threaded, 'nv_inference_request_success', 'model="resnet20",version="1"', token)).toBe(successBefore + cases.length);
    expect(await metric(threaded, 'nv_inference_count', 'model="resnet20",version="1"', token))
      .toBe(countBefore + cases.reduce((sum, c) => sum + c.samples, 0));
    const accepted = await Promise.all([1, 2, 3].map(async (t, i) => (await metric(threaded, 'resnet_http_connections_total', `thread="${t}"`, token)) - connectionsBefore[i]!));
    console.log(`server-threads: connections per thread ${accepted.join(', ')}`);
    // 64 client connections plus the metric reads; the kernel spread them: every thread took some.
    expect(accepted.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(64);
    for (const count of accepted) expect(count).toBeGreaterThan(3);
    expect(await metric(threaded, 'resnet_http_connections_total', 'thread="0"', token)).toBe(0);
  }, 120_000);

  it('answers every error, and every route it forwards, byte for byte as the single-thread server', async () => {
    const infer = '/v2/models/resnet20/infer';
    const json = (body: unknown): Pick<RawRequest, 'body' | 'headers'> => ({ body: JSON.stringify(body), headers: { ...auth, 'content-type': 'application/json' } });
    const image = (shape: number[], datatype = 'FP32') => ({ name: 'input', datatype, shape, data: new Array(shape.reduce((a, b) => a * b, 1)).fill(0) });
    const { body: truncated, headerLength } = binaryInfer({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: sample * 4 } }] }, Buffer.alloc(100));
    const cases: [string, RawRequest][] = [
      ['401 infer without a token', { method: 'POST', path: infer, body: '{}' }],
      ['401 metadata with a wrong token', { path: '/v2/models/resnet20', headers: { authorization: 'Bearer wrong' } }],
      ['200 health without a token', { path: '/v2/health/live' }],
      ['200 ready', { path: '/v2/health/ready' }],
      ['200 HEAD ready', { method: 'HEAD', path: '/v2/health/ready' }],
      ['200 server metadata', { path: '/v2', headers: auth }],
      ['200 model metadata', { path: '/v2/models/resnet20', headers: auth }],
      ['200 model config', { path: '/v2/models/narrow/config', headers: auth }],
      ['200 model ready', { path: '/v2/models/narrow/versions/1/ready', headers: auth }],
      ['200 shm status', { path: '/v2/systemsharedmemory/status', headers: auth }],
      ['404 unknown model', { method: 'POST', path: '/v2/models/nope/infer', ...json({ inputs: [] }) }],
      ['404 unknown version', { method: 'POST', path: '/v2/models/resnet20/versions/7/infer', ...json({ inputs: [] }) }],
      ['404 unknown route', { path: '/v2/nothing/here?x=1', headers: auth }],
      ['404 unknown region', { method: 'POST', path: infer, ...json({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { shared_memory_region: 'ghost', shared_memory_byte_size: sample * 4 } }] }) }],
      ['405 GET on infer', { path: infer, headers: auth }],
      ['400 malformed JSON', { method: 'POST', path: infer, body: '{"inputs": [', headers: auth }],
      ['400 wrong datatype', { method: 'POST', path: infer, ...json({ inputs: [image([1, 3, 32, 32], 'INT32')] }) }],
      ['400 wrong shape', { method: 'POST', path: infer, ...json({ inputs: [image([1, 3, 31, 32])] }) }],
      ['400 batch over max', { method: 'POST', path: infer, ...json({ inputs: [image([5, 3, 32, 32])] }) }],
      ['400 unexpected field', { method: 'POST', path: infer, ...json({ inputs: [image([1, 3, 32, 32])], extra: 1 }) }],
      ['400 unknown output', { method: 'POST', path: infer, ...json({ inputs: [image([1, 3, 32, 32])], outputs: [{ name: 'logits' }] }) }],
      ['400 classification of features', { method: 'POST', path: infer, ...json({ inputs: [image([1, 3, 32, 32])], outputs: [{ name: 'features', parameters: { classification: 3 } }] }) }],
      ['400 bad timeout', { method: 'POST', path: infer, ...json({ inputs: [image([1, 3, 32, 32])], parameters: { timeout: 1.5 } }) }],
      ['400 bad header length', { method: 'POST', path: infer, body: '{}', headers: { ...auth, 'inference-header-content-length': 'abc' } }],
      ['400 truncated binary', { method: 'POST', path: infer, body: truncated, headers: { ...auth, 'inference-header-content-length': String(headerLength) } }],
      ['400 shm register without a key', { method: 'POST', path: '/v2/systemsharedmemory/region/r/register', ...json({ byte_size: 10 }) }],
      ['400 cuda shm', { path: '/v2/cudasharedmemory/status', headers: auth }],
      ['413 declared body over the limit', { method: 'POST', path: infer, body: Buffer.alloc(300 * 1024), headers: auth }],
      ['413 chunked body over the limit', { method: 'POST', path: infer, body: Buffer.alloc(300 * 1024), headers: auth, chunked: true }],
    ];
    const shown = ['content-type', 'content-length', 'www-authenticate', 'allow', 'retry-after', 'inference-header-content-length'];
    for (const [what, request] of cases) {
      const [a, b] = [await send(threaded, request), await send(single, request)];
      expect(a.status, what).toBe(b.status);
      expect(what.slice(0, 3)).toBe(String(a.status));
      expect(a.body.toString('latin1'), what).toBe(b.body.toString('latin1'));
      for (const header of shown) expect(a.headers[header], `${what}: ${header}`).toBe(b.headers[header]);
    }
  }, 60_000);

  it('answers a queue timeout and a full queue with the same 503s (and Retry-After)', async () => {
    const request = (seed: number, parameters: Record<string, unknown> = {}): RawRequest => ({
      method: 'POST', path: '/v2/models/narrow/infer',
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(uniform(sample, seed)) }], parameters }),
      headers: { ...auth, 'content-type': 'application/json' },
    });
    const answers: RawResponse[] = [];
    const timeouts: RawResponse[] = [];
    for (const server of [threaded, single]) {
      const hold = holdNextBatch(server.models.get('narrow')!);
      try {
        const running = send(server, request(1));
        await hold.started;
        timeouts.push(await send(server, request(4, { timeout: 1000 })));
        const waiting = send(server, request(2));
        await vi.waitFor(async () => expect(await metric(server, 'nv_inference_pending_request_count', 'model="narrow",version="1"', token)).toBe(1), { timeout: 10_000, interval: 10 });
        answers.push(await send(server, request(3)));
        hold.open();
        expect((await running).status).toBe(200);
        expect((await waiting).status).toBe(200);
      } finally {
        hold.open();
        hold.restore();
      }
    }
    const [a, b] = answers as [RawResponse, RawResponse];
    expect(a.status).toBe(503);
    expect(a.headers['retry-after']).toBe('1');
    expect([b.status, b.headers['retry-after'], b.body.toString()]).toEqual([a.status, a.headers['retry-after'], a.body.toString()]);
    expect(a.body.toString()).toBe('{"error":"the model\'s queue is full (1 requests waiting); retry later"}');
    const [timedA, timedB] = timeouts as [RawResponse, RawResponse];
    expect([timedA.status, timedA.body.toString()]).toEqual([503, '{"error":"the request timed out after 1000 µs in the model\'s queue"}']);
    expect([timedB.status, timedB.body.toString(), timedB.headers['retry-after']]).toEqual([timedA.status, timedA.body.toString(), timedA.headers['retry-after']]);
  }, 60_000);

  it('passes tensors in shared memory through a thread: registered, read and written in place by the main thread', async () => {
    if (!existsSync('/dev/shm')) return;
    const key = `/resnet-cudnn-threads-${process.pid}`;
    const file = `/dev/shm${key}`;
    const values = uniform(2 * sample, 31, -2, 2);
    const inBytes = 2 * sample * 4;
    writeFileSync(file, Buffer.concat([bytesOf(values), Buffer.alloc(2 * 10 * 4)]), { mode: 0o600 });
    try {
      const post = (path: string, body: unknown) => send(threaded, { method: 'POST', path, body: JSON.stringify(body), headers: { ...auth, 'content-type': 'application/json' } });
      expect((await post('/v2/systemsharedmemory/region/tensors/register', { key, byte_size: inBytes + 80 })).status).toBe(200);
      const status = await send(threaded, { path: '/v2/systemsharedmemory/region/tensors/status', headers: auth });
      expect(JSON.parse(status.body.toString())).toEqual([{ name: 'tensors', key, offset: 0, byte_size: inBytes + 80 }]);
      const res = await post('/v2/models/resnet20/infer', {
        inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32], parameters: { shared_memory_region: 'tensors', shared_memory_byte_size: inBytes } }],
        outputs: [{ name: 'output', parameters: { shared_memory_region: 'tensors', shared_memory_offset: inBytes, shared_memory_byte_size: 80 } }],
      });
      expect(res.status, res.body.toString()).toBe(200);
      expect(JSON.parse(res.body.toString()).outputs[0].parameters).toEqual({ shared_memory_region: 'tensors', shared_memory_offset: inBytes, shared_memory_byte_size: 80 });
      const [expected] = await threaded.models.get('resnet20')!.execute(values, 2, { alone: true });
      expect(maxRelativeError(floatsOf(readFileSync(file).subarray(inBytes)), expected!)).toBeLessThan(1e-5);
      expect((await post('/v2/systemsharedmemory/region/tensors/unregister', {})).status).toBe(200);
    } finally {
      rmSync(file, { force: true });
    }
  }, 60_000);

  it('decodes BYTES images on the main thread\'s image workers, as the single-thread server does', async () => {
    const raw = Buffer.from(Array.from({ length: 48 * 40 * 3 }, (_, i) => (i * 37) & 255));
    const jpeg = await sharp(raw, { raw: { width: 48, height: 40, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const element = Buffer.alloc(4 + jpeg.length);
    element.writeUInt32LE(jpeg.length, 0);
    jpeg.copy(element, 4);
    const { body, headerLength } = binaryInfer({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 2 * element.length } }] }, element, element);
    const request: RawRequest = { method: 'POST', path: '/v2/models/resnet20/infer', body, headers: { ...auth, 'inference-header-content-length': String(headerLength) } };
    const [a, b] = [outputsOf(await send(threaded, request)), outputsOf(await send(single, request))];
    expect(a.output.length).toBe(20);
    expect(maxRelativeError(a.output, b.output)).toBeLessThan(1e-5);
    const bad = { ...request, body: binaryInfer({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 8 } }] }, Buffer.from([4, 0, 0, 0, 1, 2, 3, 4])) };
    bad.headers = { ...auth, 'inference-header-content-length': String(bad.body.headerLength) };
    const [badA, badB] = [await send(threaded, { ...bad, body: bad.body.body }), await send(single, { ...bad, body: bad.body.body })];
    expect(badA.status).toBe(400);
    expect(badA.body.toString()).toBe(badB.body.toString());
  }, 60_000);

  it('takes the request of a client that goes away out of the queue', async () => {
    const model = threaded.models.get('narrow')!;
    const hold = holdNextBatch(model);
    const canceledBefore = await metric(threaded, 'nv_inference_request_failure', 'model="narrow",version="1",reason="CANCELED"', token);
    try {
      const running = send(threaded, { ...fp32Binary('a', 1, 5, true).request, path: '/v2/models/narrow/infer' });
      await hold.started;
      const leaving = await sendThenCut(threaded, { ...fp32Binary('b', 1, 6, true).request, path: '/v2/models/narrow/infer' });
      await vi.waitFor(async () => expect(await metric(threaded, 'nv_inference_pending_request_count', 'model="narrow",version="1"', token)).toBe(1), { timeout: 10_000, interval: 10 });
      leaving.cut();
      await vi.waitFor(async () => expect(await metric(threaded, 'nv_inference_pending_request_count', 'model="narrow",version="1"', token)).toBe(0), { timeout: 10_000, interval: 10 });
      expect(await metric(threaded, 'nv_inference_request_failure', 'model="narrow",version="1",reason="CANCELED"', token)).toBe(canceledBefore + 1);
      hold.open();
      expect((await running).status).toBe(200);
    } finally {
      hold.open();
      hold.restore();
    }
  }, 60_000);

  /**
   * A client that leaves while its batch runs: its body is read in place by that batch, so the memory must
   * not go to another request before the batch is done. Requests that arrive meanwhile (on every thread:
   * enough of them that one lands on the leaving client's thread) must leave its bytes alone.
   */
  async function leaveMidBatch(server: InferenceServer, others: number): Promise<Uint8Array> {
    const model = server.models.get('resnet20')!;
    const hold = holdNextBatch(model);
    const canceledBefore = await metric(server, 'nv_inference_request_failure', 'model="resnet20",version="1",reason="CANCELED"', token);
    try {
      const leaving = fp32Binary('leaving', 1, 900, true);
      const { cut } = await sendThenCut(server, leaving.request);
      await hold.started;
      const [view] = hold.segments();
      // Read in place: the batch's input is a view on the body's block of the registered arena.
      expect(view!.buffer).toBeInstanceOf(SharedArrayBuffer);
      const bytes = Buffer.from(view!);
      expect(bytes.equals(Buffer.from((leaving.input.segments[0]!)))).toBe(true);
      cut();
      await vi.waitFor(async () => expect(await metric(server, 'nv_inference_request_failure', 'model="resnet20",version="1",reason="CANCELED"', token)).toBe(canceledBefore + 1), { timeout: 10_000, interval: 10 });
      // Same size and header, other values: the very block, were it free.
      const arrivals = Array.from({ length: others }, (_, i) => fp32Binary('leaving', 1, 901 + i, true));
      const answers = await Promise.all(arrivals.map((c) => send(server, c.request)));
      for (const [i, res] of answers.entries()) {
        const [output] = await model.execute(arrivals[i]!.input, 1, { alone: true });
        expect(maxRelativeError(outputsOf(res).output, output!)).toBeLessThan(1e-5);
      }
      expect(Buffer.from(view!).equals(bytes)).toBe(true);
      hold.open();
      await hold.done;
      return view!;
    } finally {
      hold.open();
      hold.restore();
    }
  }

  it('keeps the body of a client that leaves mid-batch until the batch is done (one thread, then reused)', async () => {
    const view = await leaveMidBatch(single, 1);
    // Once the batch is done the block is free again: the next body of that size lands on it.
    const next = fp32Binary('leaving', 1, 999, true);
    outputsOf(await send(single, next.request));
    expect(Buffer.from(view).equals(Buffer.from(next.input.segments[0]!))).toBe(true);
  }, 60_000);

  it('keeps the body of a client that leaves mid-batch until the batch is done (three threads)', async () => {
    await leaveMidBatch(threaded, 16);
  }, 60_000);
});
