/**
 * Dynamic batching end to end: concurrent single-image requests run in fewer engine calls than requests,
 * and each client gets its own row, equal to what the engine computes for that image alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { maxRelativeError } from '../helpers/helpers.js';
import { inputValues, jsonInfer, reference, resnet20Server, type InferResponse } from '../helpers/server-helpers.js';

let server: InferenceServer;

beforeAll(async () => {
  // One instance and a long delay: requests arriving together must wait for each other.
  server = resnet20Server({ maxBatchSize: 8, instanceCount: 1, maxQueueDelayMicroseconds: 200_000 });
  await server.start();
});
afterAll(async () => {
  await server.close();
});

/** Batches executed and samples inferred so far, from /metrics. */
async function counts(): Promise<{ executions: number; inferences: number }> {
  const metrics = await server.app.inject({ url: '/metrics' });
  return {
    executions: Number(/nv_inference_exec_count\{model="resnet20",version="1"\} (\d+)/.exec(metrics.body)?.[1]),
    inferences: Number(/nv_inference_count\{model="resnet20",version="1"\} (\d+)/.exec(metrics.body)?.[1]),
  };
}

/** Rows of `output` returned for each request, sent all at once over HTTP. */
async function inferConcurrently(inputs: Float32Array[]): Promise<InferResponse[]> {
  const responses = await Promise.all(inputs.map((values, i) => fetch(`${server.address!.url}/v2/models/resnet20/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: jsonInfer(values, 1, { id: `client-${i}` }),
  })));
  for (const res of responses) expect(res.status).toBe(200);
  return Promise.all(responses.map(async (res) => (await res.json()) as InferResponse));
}

describe('dynamic batching', () => {
  it('serves N concurrent requests in fewer than N engine calls, each with its own correct row', async () => {
    const n = 8;
    const inputs = Array.from({ length: n }, (_, i) => inputValues(1, 100 + i));
    const model = server.models.get('resnet20')!;
    const expected: { output: Float32Array; features: Float32Array }[] = [];
    for (const values of inputs) expected.push(await reference(server, values, 1));

    const callsBefore = model.engineCalls;
    const bodies = await inferConcurrently(inputs);
    const calls = model.engineCalls - callsBefore;
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(n);

    bodies.forEach((body, i) => {
      expect(body.id).toBe(`client-${i}`);
      const output = Float32Array.from(body.outputs.find((o) => o.name === 'output')!.data as number[]);
      const features = Float32Array.from(body.outputs.find((o) => o.name === 'features')!.data as number[]);
      // A batch of 8 may take another convolution algorithm than a batch of 1: float32 rounding differs.
      expect(maxRelativeError(output, expected[i]!.output)).toBeLessThan(1e-5);
      expect(maxRelativeError(features, expected[i]!.features)).toBeLessThan(1e-5);
      // Each row is its own: the nearest reference is that of its own input.
      const distances = expected.map((e) => maxRelativeError(output, e.output));
      expect(distances.indexOf(Math.min(...distances))).toBe(i);
    });
  });

  it('reports the batches it formed in the metrics', async () => {
    const { executions, inferences } = await counts();
    expect(inferences).toBe(8);
    expect(executions).toBeLessThan(inferences);
    expect(executions).toBeGreaterThan(0);
  });

  it('keeps requests of several samples whole within a batch', async () => {
    const a = inputValues(3, 200);
    const b = inputValues(2, 201);
    const [refA, refB] = [await reference(server, a, 3), await reference(server, b, 2)];
    const before = await counts();
    const [resA, resB] = await Promise.all([a, b].map((values, i) => fetch(`${server.address!.url}/v2/models/resnet20/infer`, {
      method: 'POST', body: jsonInfer(values, i === 0 ? 3 : 2, { outputs: [{ name: 'output' }] }),
    })));
    // One batch of 5 (the engine may run it as compiled chunks, 4 + 1: engineCalls would say 2).
    const after = await counts();
    expect(after.executions - before.executions).toBe(1);
    expect(after.inferences - before.inferences).toBe(5);
    const outA = Float32Array.from(((await resA!.json()) as InferResponse).outputs[0]!.data as number[]);
    const outB = Float32Array.from(((await resB!.json()) as InferResponse).outputs[0]!.data as number[]);
    expect(maxRelativeError(outA, refA.output)).toBeLessThan(1e-5);
    expect(maxRelativeError(outB, refB.output)).toBeLessThan(1e-5);
  });
});
