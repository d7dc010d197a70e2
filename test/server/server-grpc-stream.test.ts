/**
 * The gRPC endpoint beyond single calls: ModelStreamInfer (answers in request order, a bad request answered
 * with its error while the stream goes on, the stream ended by the client's half-close or by the server's
 * close), a full queue (UNAVAILABLE with `retry-after`, counted as REJECTED as over HTTP), the drain (a call in
 * flight when close() begins completes; later calls are refused and the port closes), where it listens (or
 * not; a port in use fails start()), and Triton's system shared-memory methods and tensors over gRPC, against
 * the engine's own answers.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { failureOf, inferenceClient, servingGrpc, type InferenceClient } from '../helpers/grpc-client.js';
import { maxRelativeError } from '../helpers/helpers.js';
import { bytesOf, floatsOf, inputValues, reference, resnet20Server, sampleSize } from '../helpers/server-helpers.js';

const input = (batch: number) => ({ name: 'input', datatype: 'FP32', shape: [batch, 3, 32, 32] });

/** Every response of a stream to `requests`, once the server has ended it, and the status it ended with. */
async function streamAll(client: InferenceClient, requests: object[]): Promise<{ responses: Record<string, unknown>[]; code: number }> {
  const call = client.stream();
  const responses: Record<string, unknown>[] = [];
  call.on('data', (response: Record<string, unknown>) => responses.push(response));
  const status = new Promise<number>((resolve) => call.on('status', (s: { code: number }) => resolve(s.code)));
  const ended = new Promise<void>((resolve, reject) => {
    call.on('end', resolve);
    call.on('error', reject);
  });
  for (const request of requests) call.write(request);
  call.end();
  await ended;
  return { responses, code: await status };
}

describe('ModelStreamInfer', () => {
  const serving = servingGrpc(() => resnet20Server({ maxQueueDelayMicroseconds: 0 }));

  it('answers each request in order, a bad one with its error, and ends with OK after the client half-closes', async () => {
    const { server, client } = serving;
    const values = [inputValues(1, 51), inputValues(2, 52), inputValues(1, 53)];
    const requests = [
      { model_name: 'resnet20', id: 'a', inputs: [input(1)], outputs: [{ name: 'output' }], raw_input_contents: [bytesOf(values[0]!)] },
      { model_name: 'resnet20', id: 'b', inputs: [input(2)], outputs: [{ name: 'output' }], raw_input_contents: [bytesOf(values[1]!)] },
      { model_name: 'resnet20', id: 'bad', inputs: [input(3)], raw_input_contents: [bytesOf(values[0]!)] },
      { model_name: 'nope', id: 'unknown', inputs: [input(1)], raw_input_contents: [bytesOf(values[0]!)] },
      { model_name: 'resnet20', id: 'c', inputs: [input(1)], outputs: [{ name: 'output' }], raw_input_contents: [bytesOf(values[2]!)] },
    ];
    const { responses, code } = await streamAll(client, requests);
    expect(code).toBe(0);
    expect(responses.map((r) => (r.infer_response as { id: string }).id)).toEqual(['a', 'b', 'bad', 'unknown', 'c']);
    expect(responses.map((r) => r.error_message)).toEqual([
      '', '', `binary_data_size of input 'input' is ${sampleSize * 4}, expected ${3 * sampleSize * 4} (${3 * sampleSize} FP32 elements × 4 bytes)`,
      "unknown model 'nope'", '',
    ]);
    for (const [index, valueIndex, batch] of [[0, 0, 1], [1, 1, 2], [4, 2, 1]] as const) {
      const response = responses[index]!.infer_response as { outputs: { shape: number[] }[]; raw_output_contents: Buffer[] };
      expect(response.outputs[0]!.shape).toEqual([batch, 10]);
      // The stream's requests batch together: on an instance's share of the threads, within float32 rounding.
      expect(maxRelativeError(floatsOf(response.raw_output_contents[0]!), (await reference(server, values[valueIndex]!, batch)).output)).toBeLessThan(1e-5);
    }
  });

  it('more requests than its window at once are all answered', async () => {
    const { server, client } = serving;
    const requests = Array.from({ length: 40 }, (_, i) => (
      { model_name: 'resnet20', id: String(i), inputs: [input(1)], outputs: [{ name: 'output' }], raw_input_contents: [bytesOf(inputValues(1, 100 + (i % 3)))] }));
    const { responses, code } = await streamAll(client, requests);
    expect(code).toBe(0);
    expect(responses.map((r) => (r.infer_response as { id: string }).id)).toEqual(requests.map((r) => r.id));
    expect(responses.every((r) => r.error_message === '')).toBe(true);
    const expected = await Promise.all([0, 1, 2].map(async (k) => (await reference(server, inputValues(1, 100 + k), 1)).output));
    responses.forEach((r, i) => {
      const { raw_output_contents } = r.infer_response as { raw_output_contents: Buffer[] };
      expect(maxRelativeError(floatsOf(raw_output_contents[0]!), expected[i % 3]!), String(i)).toBeLessThan(1e-5);
    });
  });
});

describe('a full queue', () => {
  // One instance, and a delay that holds the first two requests in the queue (they can never fill a batch of
  // 4 with at most 2 queued): the third meets a full queue.
  const serving = servingGrpc(() => resnet20Server({ maxBatchSize: 4, instanceCount: 1, maxQueueSize: 2, maxQueueDelayMicroseconds: 300_000 }));

  it('is UNAVAILABLE with retry-after, counted as REJECTED; the queued requests complete', async () => {
    const { server, client } = serving;
    const values = inputValues(1, 54);
    const request = { model_name: 'resnet20', inputs: [input(1)], outputs: [{ name: 'output' }], raw_input_contents: [bytesOf(values)] };
    const queued = [client.call('ModelInfer', request), client.call('ModelInfer', request)];
    await new Promise((resolve) => setTimeout(resolve, 100));
    let trailers: unknown;
    const refused = await client.call('ModelInfer', request).catch((error: { code: number; details: string; metadata: { get(key: string): unknown[] } }) => {
      trailers = error.metadata.get('retry-after');
      return error;
    }) as { code: number; details: string };
    expect(refused.code).toBe(14); // UNAVAILABLE
    expect(refused.details).toMatch(/queue/);
    expect(trailers).toEqual(['1']);
    const ref = (await reference(server, values, 1)).output;
    for (const response of await Promise.all(queued)) expect(floatsOf((response.raw_output_contents as Buffer[])[0]!)).toEqual(ref);
    const metrics = await server.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/nv_inference_request_failure\{model="resnet20",version="1",reason="REJECTED"\} 1\n/);
  });
});

describe('closing', () => {
  it('a call in flight when close() begins completes; an open stream ends; then the port is closed', async () => {
    const server = resnet20Server({ maxQueueDelayMicroseconds: 200_000, maxBatchSize: 4, instanceCount: 1 });
    await server.start();
    const client = inferenceClient(server.grpcAddress!.target);
    try {
      const values = inputValues(1, 55);
      const request = { model_name: 'resnet20', inputs: [input(1)], outputs: [{ name: 'output' }], raw_input_contents: [bytesOf(values)] };
      const stream = client.stream();
      const streamStatus = new Promise<number>((resolve) => stream.on('status', (s: { code: number }) => resolve(s.code)));
      stream.on('data', () => undefined);
      stream.on('error', () => undefined);
      stream.write({ ...request, id: 'first' });
      // Queued (the batch waits 200 ms for company) when close() begins.
      const inFlight = client.call('ModelInfer', request);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const closed = server.close();
      const response = await inFlight;
      expect(floatsOf((response.raw_output_contents as Buffer[])[0]!)).toEqual((await reference(server, values, 1)).output);
      // The server ends the stream once its request is answered, though the client never half-closed it.
      expect(await streamStatus).toBe(0);
      await closed;
      expect((await failureOf(client.call('ServerLive', {}, { deadline: Date.now() + 2000 }))).code).toMatch(/UNAVAILABLE|DEADLINE_EXCEEDED/);
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('where it listens', () => {
  it('no endpoint with grpcPort null or listen: false; a port in use fails start(), naming it, and leaves nothing open', async () => {
    const off = resnet20Server({}, { grpcPort: null });
    const unlistened = resnet20Server();
    await Promise.all([off.start(), unlistened.start({ listen: false })]);
    expect(off.grpcAddress).toBeNull();
    expect(unlistened.grpcAddress).toBeNull();
    expect(off.address).not.toBeNull();
    await Promise.all([off.close(), unlistened.close()]);

    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as { port: number }).port;
    const clash = resnet20Server({}, { grpcPort: taken });
    try {
      await expect(clash.start()).rejects.toThrow(`the gRPC endpoint cannot listen on 127.0.0.1:${taken}`);
      expect(clash.grpcAddress).toBeNull();
      // start() closed the server: its HTTP port is gone too.
      expect(clash.app.server.listening).toBe(false);
    } finally {
      await clash.close();
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});

const shmDir = '/dev/shm';
const hasShm = process.platform === 'linux' && existsSync(shmDir);

describe.runIf(hasShm)('system shared memory', () => {
  const key = `/resnet-cudnn-grpc-${process.pid}`;
  const serving = servingGrpc(() => resnet20Server({ maxQueueDelayMicroseconds: 0 }, { allowShm: true }));
  afterAll(() => rmSync(`${shmDir}${key}`, { force: true }));

  it('registers a region, reads an input from it and writes the output into it, as the engine computes', async () => {
    const { server, client } = serving;
    const values = inputValues(2, 56);
    const inputBytes = 2 * sampleSize * 4;
    const outputAt = inputBytes + 64;
    writeFileSync(`${shmDir}${key}`, Buffer.concat([bytesOf(values), Buffer.alloc(64 + 2 * 10 * 4, 0x7f)]), { mode: 0o600 });
    expect(await client.call('SystemSharedMemoryRegister', { name: 'r', key, offset: 0, byte_size: outputAt + 80 })).toEqual({});
    expect(await client.call('SystemSharedMemoryStatus', {})).toEqual({ regions: { r: { name: 'r', key, offset: 0, byte_size: outputAt + 80 } } });
    expect(await client.call('SystemSharedMemoryStatus', { name: 'r' })).toEqual({ regions: { r: { name: 'r', key, offset: 0, byte_size: outputAt + 80 } } });
    const shm = (region: string, size: number, offset = 0) => ({
      shared_memory_region: { string_param: region }, shared_memory_byte_size: { int64_param: size }, shared_memory_offset: { int64_param: offset },
    });
    const response = await client.call('ModelInfer', {
      model_name: 'resnet20',
      inputs: [{ ...input(2), parameters: shm('r', inputBytes) }],
      outputs: [{ name: 'output', parameters: shm('r', 80, outputAt) }, { name: 'features' }],
    }) as { outputs: { name: string; shape: number[] }[]; raw_output_contents: Buffer[] };
    expect(response.outputs.map(({ name, shape }) => ({ name, shape }))).toEqual([{ name: 'output', shape: [2, 10] }, { name: 'features', shape: [2, 64] }]);
    expect(response.raw_output_contents[0]).toHaveLength(0);
    const ref = await reference(server, values, 2);
    expect(floatsOf(readFileSync(`${shmDir}${key}`).subarray(outputAt, outputAt + 80))).toEqual(ref.output);
    expect(floatsOf(response.raw_output_contents[1]!)).toEqual(ref.features);

    expect(await failureOf(client.call('SystemSharedMemoryRegister', { name: 'r', key, byte_size: 8 })))
      .toEqual({ code: 'INVALID_ARGUMENT', details: "shared memory region 'r' already in manager: unregister it first, or register the new range under another name" });
    expect((await failureOf(client.call('SystemSharedMemoryStatus', { name: 'other' }))).code).toBe('NOT_FOUND');
    expect(await failureOf(client.call('SystemSharedMemoryRegister', { name: 'k', byte_size: 8 })))
      .toEqual({ code: 'INVALID_ARGUMENT', details: "Shared memory register request has no 'key' field" });
    expect(await client.call('SystemSharedMemoryUnregister', {})).toEqual({});
    expect(await client.call('SystemSharedMemoryStatus', {})).toEqual({ regions: {} });
  });
});
