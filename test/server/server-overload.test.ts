/**
 * Overload: a burst beyond `maxQueueSize` gets 503s with `Retry-After` (counted as REJECTED), the server
 * never crashes, and every accepted request completes with its correct answer. A request's own queue
 * timeout also ends in 503.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { maxRelativeError } from '../helpers/helpers.js';
import { binaryInfer, bytesOf, floatsOf, inputValues, reference, resnet20Server, splitResponse } from '../helpers/server-helpers.js';

let server: InferenceServer;
const maxQueueSize = 2;

beforeAll(async () => {
  // One instance, and a delay that holds the first requests in the queue (they can never fill a batch
  // of 4 with at most 2 queued): the burst that follows meets a full queue.
  server = resnet20Server({ maxBatchSize: 4, instanceCount: 1, maxQueueSize, maxQueueDelayMicroseconds: 300_000 });
  await server.start();
});
afterAll(async () => {
  await server.close();
});

/** A binary infer request for one sample, asking for `output` in binary. */
function request(values: Float32Array, parameters: Record<string, unknown> = {}): RequestInit {
  const { body, headerLength } = binaryInfer({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
    outputs: [{ name: 'output', parameters: { binary_data: true } }],
    parameters,
  }, bytesOf(values));
  return { method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength) } };
}

async function rejectedCount(): Promise<number> {
  const metrics = await server.app.inject({ url: '/metrics' });
  return Number(/nv_inference_request_failure\{model="resnet20",version="1",reason="REJECTED"\} (\d+)/.exec(metrics.body)?.[1] ?? 0);
}

describe('overload', () => {
  it('answers a burst beyond maxQueueSize with 503 + Retry-After and completes every accepted request', async () => {
    const n = 24;
    const inputs = Array.from({ length: n }, (_, i) => inputValues(1, 300 + i));
    const expected = [];
    for (const values of inputs) expected.push((await reference(server, values, 1)).output);
    const rejectedBefore = await rejectedCount();

    const responses = await Promise.all(inputs.map((values) => fetch(`${server.address!.url}/v2/models/resnet20/infer`, request(values))));
    const statuses = responses.map((res) => res.status);
    expect(statuses.every((s) => s === 200 || s === 503), String(statuses)).toBe(true);
    const accepted = statuses.filter((s) => s === 200).length;
    const rejected = statuses.filter((s) => s === 503).length;
    expect(accepted).toBeGreaterThanOrEqual(maxQueueSize);
    expect(rejected).toBeGreaterThan(0);

    for (const [i, res] of responses.entries()) {
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status === 503) {
        expect(res.headers.get('retry-after')).toBe('1');
        expect(Object.keys(JSON.parse(body.toString('utf8')) as object)).toEqual(['error']);
      } else {
        const { binary } = splitResponse(body, res.headers.get('inference-header-content-length') ?? undefined);
        expect(maxRelativeError(floatsOf(binary), expected[i]!)).toBeLessThan(1e-5);
      }
    }
    expect(await rejectedCount()).toBe(rejectedBefore + rejected);

    // Still serving, with nothing left queued.
    expect((await fetch(`${server.address!.url}/v2/health/ready`)).status).toBe(200);
    const after = await fetch(`${server.address!.url}/v2/models/resnet20/infer`, request(inputs[0]!));
    expect(after.status).toBe(200);
    const metrics = await server.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/nv_inference_pending_request_count\{model="resnet20",version="1"\} 0$/m);
  });

  it('survives bursts back to back', async () => {
    for (let round = 0; round < 3; round++) {
      const responses = await Promise.all(Array.from({ length: 16 }, (_, i) =>
        fetch(`${server.address!.url}/v2/models/resnet20/infer`, request(inputValues(1, 400 + i)))));
      for (const res of responses) {
        expect([200, 503]).toContain(res.status);
        await res.arrayBuffer();
      }
      expect(responses.some((res) => res.status === 200)).toBe(true);
    }
    expect((await fetch(`${server.address!.url}/v2/health/live`)).status).toBe(200);
  });

  it('answers 503 to a request whose own queue timeout runs out', async () => {
    const before = await rejectedCount();
    // 1 ms of patience against a 300 ms batching delay.
    const res = await fetch(`${server.address!.url}/v2/models/resnet20/infer`, request(inputValues(1, 500), { timeout: 1000 }));
    expect(res.status).toBe(503);
    expect(Object.keys((await res.json()) as object)).toEqual(['error']);
    expect(await rejectedCount()).toBe(before + 1);
  });
});
