/**
 * Bad requests get the right 4xx with a `{"error"}` body, are counted as failures, and the server keeps
 * serving: wrong shape, datatype or element count, malformed JSON, truncated binary data, non-image
 * bytes, a 50 MB body, unknown model, version, tensor or parameter, and bodies cut short by the client.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { binaryInfer, bytesOf, inputValues, jsonInfer, resnet20Server } from '../helpers/server-helpers.js';

let server: InferenceServer;
const maxBodyBytes = 4 * 1024 * 1024;
const values = inputValues(1, 11);
const url = '/v2/models/resnet20/infer';

beforeAll(async () => {
  server = resnet20Server({ maxQueueDelayMicroseconds: 0, maxBatchSize: 4 }, { maxBodyBytes, shutdownTimeoutMs: 20_000 });
  await server.start();
});
afterAll(async () => {
  await server.close();
});

async function post(payload: string | Buffer, headers: Record<string, string> = {}, at = url) {
  return server.app.inject({ method: 'POST', url: at, payload, headers: { 'content-type': 'application/json', ...headers } });
}

/** One FP32 input as JSON, with `input` fields overriding the good ones. */
function withInput(input: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(values), ...input }],
    ...extra,
  });
}

async function expectServing(): Promise<void> {
  const res = await post(jsonInfer(values, 1));
  expect(res.statusCode, res.body).toBe(200);
}

/** The failure count of resnet20 with `reason`, from /metrics. */
async function failures(reason: string): Promise<number> {
  const metrics = await server.app.inject({ url: '/metrics' });
  const match = new RegExp(`nv_inference_request_failure\\{model="resnet20",version="1",reason="${reason}"\\} (\\d+)`).exec(metrics.body);
  return Number(match?.[1] ?? 0);
}

/** Sends raw bytes on a socket and resolves with what came back before the server closed it or `ms` passed. */
function rawExchange(port: number, data: Buffer, options: { endAfterWrite?: boolean; destroyAfterWrite?: boolean; ms?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => { socket.destroy(); resolve(received); }, options.ms ?? 3000);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('close', () => { clearTimeout(timer); resolve(received); });
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
    socket.write(data, () => {
      if (options.destroyAfterWrite) socket.destroy();
    });
  });
}

describe('bad requests → 400 {"error"}', () => {
  const cases: [string, () => Promise<Awaited<ReturnType<typeof post>>>, RegExp][] = [
    ['wrong shape', () => post(withInput({ shape: [1, 3, 32, 31] })), /shape/],
    ['wrong sample shape rank', () => post(withInput({ shape: [3, 32, 32] })), /shape/],
    ['batch above maxBatchSize', () => post(jsonInfer(inputValues(5, 1), 5)), /batch|5/],
    ['wrong datatype', () => post(withInput({ datatype: 'INT64' })), /INT64/],
    ['unknown datatype', () => post(withInput({ datatype: 'FLOAT' })), /FLOAT/],
    ['data length ≠ shape', () => post(withInput({ data: Array.from(values.subarray(1)) })), /3071|3072|element/],
    ['string elements in FP32 data', () => post(withInput({ data: Array.from(values, String) })), /./],
    ['malformed JSON', () => post('{"inputs": [ {"name": "input", '), /JSON/],
    ['empty body', () => post(''), /JSON|empty|body/],
    ['inputs missing', () => post('{}'), /inputs/],
    ['unknown input', () => post(withInput({ name: 'image' })), /image/],
    ['unknown output', () => post(withInput({}, { outputs: [{ name: 'logits' }] })), /logits/],
    ['unknown request parameter', () => post(withInput({}, { parameters: { sequence_id: 1 } })), /sequence_id/],
    ['unknown input parameter', () => post(withInput({ parameters: { content_type: 'np' } })), /content_type/],
    ['unknown output parameter', () => post(withInput({}, { outputs: [{ name: 'output', parameters: { top_k: 2 } }] })), /top_k/],
    ['header length beyond the body', () => post(withInput({}), { 'inference-header-content-length': '999999' }), /./],
    ['header length not a number', () => post(withInput({}), { 'inference-header-content-length': 'abc' }), /./],
    ['truncated binary data', () => {
      const { body, headerLength } = binaryInfer({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
      }, bytesOf(values).subarray(0, values.byteLength - 8));
      return post(body, { 'inference-header-content-length': String(headerLength) });
    }, /./],
    ['binary data past the declared sizes', () => {
      const { body, headerLength } = binaryInfer({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
      }, bytesOf(values), Buffer.alloc(4));
      return post(body, { 'inference-header-content-length': String(headerLength) });
    }, /./],
    ['non-image bytes', () => post(JSON.stringify({
      inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: [Buffer.from('not an image at all').toString('base64')] }],
    })), /./],
    ['non-image bytes, second of two', async () => {
      const sharp = (await import('sharp')).default;
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
      return post(JSON.stringify({
        inputs: [{ name: 'input', datatype: 'BYTES', shape: [2], data: [png.toString('base64'), Buffer.from('GIF89a garbage').toString('base64')] }],
      }));
    }, /1/],
  ];

  for (const [name, send, message] of cases) {
    it(`${name}`, async () => {
      const before = await failures('OTHER');
      const res = await send();
      expect(res.statusCode, res.body).toBe(400);
      const body = res.json() as { error: string };
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error).toMatch(message);
      expect(await failures('OTHER')).toBe(before + 1);
      await expectServing();
    });
  }
});

describe('unknown model or version → 404 {"error"}', () => {
  for (const at of ['/v2/models/resnet21/infer', '/v2/models/resnet20/versions/2/infer', '/v2/models/resnet21/versions/1/infer']) {
    it(at, async () => {
      const res = await post(jsonInfer(values, 1), {}, at);
      expect(res.statusCode).toBe(404);
      expect(Object.keys(res.json())).toEqual(['error']);
      await expectServing();
    });
  }
});

describe('body size', () => {
  it('answers a 50 MB body with 413 {"error"}', async () => {
    const res = await post(Buffer.alloc(50_000_000, 0x20));
    expect(res.statusCode).toBe(413);
    expect(Object.keys(res.json())).toEqual(['error']);
    await expectServing();
  });

  it('answers 413 to a declared 50 MB body before it is sent', async () => {
    const head = Buffer.from(`POST ${url} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n`);
    const answer = await rawExchange(server.address!.port, head);
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toMatch(/\{"error":"[^"]+"\}$/);
    await expectServing();
  });

  it('survives a client that goes away in the middle of its body', async () => {
    const partial = Buffer.concat([
      Buffer.from(`POST ${url} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`),
      Buffer.from(jsonInfer(values, 1)).subarray(0, 5000),
    ]);
    for (let i = 0; i < 5; i++) await rawExchange(server.address!.port, partial, { destroyAfterWrite: true });
    await expectServing();
    const res = await fetch(`${server.address!.url}/v2/models/resnet20/infer`, { method: 'POST', body: jsonInfer(values, 1) });
    expect(res.status).toBe(200);
  });

  it('closes promptly afterwards: no request was left hanging', async () => {
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
