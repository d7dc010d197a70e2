/**
 * The compact input forms of `resnet serve`: UINT8 pixels (either layout, normalised by the engine with the
 * weights' mean and std), FP16 and FP32, in JSON, binary bodies and shared memory, give the logits of the
 * FP32 path on the same values (the reference: pixels normalised here in the engine's float steps and sent
 * as FP32); several images per request at every batch size; requests of different forms batched together
 * each get their own rows; metadata and /config declare the configured form.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floatToHalf, halfToFloat, imagenetMean, imagenetStd } from '../../lib/index.js';
import type { InferenceServer } from '../../lib/server/index.js';
import { binaryInfer, floatsOf, resnet20Server, splitResponse } from '../helpers/server-helpers.js';
import { loadNative } from '../../lib/runtime/native.js';
import { maxRelativeError, rng } from '../helpers/helpers.js';

const [channels, size] = [3, 32];
const plane = size * size;
const pixelsPerImage = channels * plane;

/** `n` images of seeded pixels, NHWC. */
function pixelsNhwc(n: number, seed: number): Uint8Array {
  const random = rng(seed);
  return Uint8Array.from({ length: n * pixelsPerImage }, () => Math.floor(random() * 256));
}

function toNchw(nhwc: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(nhwc.length);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < plane; i++)
      for (let c = 0; c < channels; c++) out[(b * channels + c) * plane + i] = nhwc[(b * plane + i) * channels + c]!;
  return out;
}

/** NCHW pixels normalised in the engine's float steps (x · (1/255) − mean) / std: the FP32 the server should see. */
function normalized(nchw: Uint8Array): Float32Array {
  const f = Math.fround;
  return Float32Array.from(nchw, (p, i) => {
    const c = Math.floor(i / plane) % channels;
    return f(f(f(p * f(1 / 255)) - f(imagenetMean[c]!)) / f(imagenetStd[c]!));
  });
}

let server: InferenceServer;

beforeAll(async () => {
  // CIFAR transforms normalise with ImageNet's mean and std (lib/models/cifar.ts), as the weights expect.
  server = resnet20Server({ maxQueueDelayMicroseconds: 20_000, maxBatchSize: 8, inputDatatype: 'UINT8' });
  await server.start({ listen: false });
});
afterAll(async () => {
  await server?.close();
});

/** Binary infer of one tensor; resolves to the logits. */
async function logits(datatype: string, shape: number[], bytes: Uint8Array, target = server): Promise<Float32Array> {
  const header = {
    inputs: [{ name: 'input', datatype, shape, parameters: { binary_data_size: bytes.length } }],
    outputs: [{ name: 'output', parameters: { binary_data: true } }],
  };
  const { body, headerLength } = binaryInfer(header, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const res = await target.app.inject({
    method: 'POST', url: '/v2/models/resnet20/infer', payload: body,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) },
  });
  expect(res.statusCode, res.body).toBe(200);
  return floatsOf(splitResponse(res.rawPayload, res.headers['inference-header-content-length'] as string).binary);
}

function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

describe('resnet serve input forms', () => {
  it('UINT8 pixels in either layout give the logits of their normalised FP32, computed by the engine', async () => {
    const nhwc = pixelsNhwc(2, 1);
    const nchw = toNchw(nhwc, 2);
    const expected = await logits('FP32', [2, 3, 32, 32], f32Bytes(normalized(nchw)));
    expect(Array.from(await logits('UINT8', [2, 32, 32, 3], nhwc))).toEqual(Array.from(expected));
    expect(Array.from(await logits('UINT8', [2, 3, 32, 32], nchw))).toEqual(Array.from(expected));
    // Not the raw pixels as floats: the normalisation is applied.
    expect(maxRelativeError(await logits('FP32', [2, 3, 32, 32], f32Bytes(Float32Array.from(nchw))), expected)).toBeGreaterThan(1e-3);
  });

  it('FP16 gives the logits of the same values in FP32, in either layout; JSON equals binary', async () => {
    const random = rng(2);
    const halves = Uint16Array.from({ length: pixelsPerImage }, () => floatToHalf(random() * 4 - 2));
    const values = Float32Array.from(halves, (bits) => halfToFloat(bits));
    const expected = await logits('FP32', [1, 3, 32, 32], f32Bytes(values));
    expect(Array.from(await logits('FP16', [1, 3, 32, 32], new Uint8Array(halves.buffer)))).toEqual(Array.from(expected));
    const json = await server.app.inject({
      method: 'POST', url: '/v2/models/resnet20/infer',
      payload: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 32, 32], data: Array.from(values) }], outputs: [{ name: 'output' }] }),
    });
    expect(json.statusCode, json.body).toBe(200);
    expect((json.json() as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual(Array.from(expected));
  });

  it('UINT8 as JSON data equals UINT8 binary', async () => {
    const nhwc = pixelsNhwc(1, 3);
    const res = await server.app.inject({
      method: 'POST', url: '/v2/models/resnet20/infer',
      payload: JSON.stringify({ inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 32, 32, 3], data: Array.from(nhwc) }], outputs: [{ name: 'output' }] }),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect((res.json() as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual(Array.from(await logits('UINT8', [1, 32, 32, 3], nhwc)));
  });

  it('several images per request at every batch size: each row equals the image sent alone', async () => {
    const all = pixelsNhwc(8, 4);
    const alone: Float32Array[] = [];
    for (let i = 0; i < 8; i++) alone.push(await logits('UINT8', [1, 32, 32, 3], all.subarray(i * pixelsPerImage, (i + 1) * pixelsPerImage)));
    for (const n of [2, 3, 5, 7, 8]) {
      const rows = await logits('UINT8', [n, 32, 32, 3], all.subarray(0, n * pixelsPerImage));
      for (let i = 0; i < n; i++) {
        // Within float rounding: a batch of n may run as compiled chunks with other thread counts.
        expect(maxRelativeError(rows.subarray(i * 10, (i + 1) * 10), alone[i]!), `row ${i} of ${n}`).toBeLessThan(1e-5);
      }
    }
  });

  it('requests of different forms batched together each get their own rows', async () => {
    const nhwc = pixelsNhwc(3, 5);
    const nchw = toNchw(nhwc, 3);
    const floats = normalized(nchw);
    const halves = Uint16Array.from(floats, (v) => floatToHalf(v));
    const cases: [string, number[], Uint8Array][] = [
      ['UINT8', [1, 32, 32, 3], nhwc.subarray(0, pixelsPerImage)],
      ['FP32', [1, 3, 32, 32], f32Bytes(floats.subarray(pixelsPerImage, 2 * pixelsPerImage))],
      ['UINT8', [1, 3, 32, 32], nchw.subarray(2 * pixelsPerImage)],
      ['FP16', [1, 3, 32, 32], new Uint8Array(halves.buffer, 2 * pixelsPerImage * 2, pixelsPerImage * 2)],
    ];
    const alone: Float32Array[] = [];
    for (const [datatype, shape, bytes] of cases) alone.push(await logits(datatype, shape, bytes));
    const before = server.models.get('resnet20')!.engineCalls;
    const together = await Promise.all(cases.map(([datatype, shape, bytes]) => logits(datatype, shape, bytes)));
    // The 20 ms queue delay gathers them into one batch, run as one chunk per form.
    expect(server.models.get('resnet20')!.engineCalls - before).toBeLessThanOrEqual(cases.length);
    together.forEach((rows, i) => expect(maxRelativeError(rows, alone[i]!), `request ${i}`).toBeLessThan(1e-5));
    expect(maxRelativeError(together[1]!, together[0]!)).toBeGreaterThan(1e-3); // distinct images stay distinct
  });

  it('metadata and /config declare the configured form and list every accepted one', async () => {
    const metadata = (await server.app.inject({ url: '/v2/models/resnet20' })).json() as { inputs: unknown[] };
    expect(metadata.inputs).toEqual([{ name: 'input', datatype: 'UINT8', shape: [-1, 32, 32, 3] }]);
    const config = (await server.app.inject({ url: '/v2/models/resnet20/config' })).json() as {
      input: unknown[]; parameters: Record<string, { string_value: string }>;
    };
    expect(config.input).toEqual([{ name: 'input', data_type: 'TYPE_UINT8', dims: [32, 32, 3], format: 'FORMAT_NHWC' }]);
    expect(config.parameters['input.accepted_forms']!.string_value).toMatch(/^FP32 \[-1,3,32,32\] or \[-1,32,32,3\]; FP16 .*; UINT8 .*; BYTES \[-1\]/);
  });

  it('refuses a UINT8 tensor whose shape fits neither layout, naming both', async () => {
    const res = await server.app.inject({
      method: 'POST', url: '/v2/models/resnet20/infer',
      payload: JSON.stringify({ inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 32, 3, 32], data: Array(pixelsPerImage).fill(0) }] }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: "unexpected shape for input 'input' for model 'resnet20'. Expected [-1,32,32,3] or [-1,3,32,32], got [1,32,3,32]" });
  });
});

const shmDir = '/dev/shm';
const hasShm = process.platform === 'linux' && existsSync(shmDir);

describe.runIf(hasShm)('UINT8 through shared memory (skipped without /dev/shm)', () => {
  const key = `/resnet-cudnn-forms-${process.pid}`;
  let shm: InferenceServer;
  beforeAll(async () => {
    shm = resnet20Server({ maxQueueDelayMicroseconds: 0 }, { allowShm: true });
    await shm.start({ listen: false });
  });
  afterAll(async () => {
    await shm?.close();
    rmSync(`${shmDir}${key}`, { force: true });
  });

  it('gives the logits of the same pixels sent in the body', async () => {
    const nhwc = pixelsNhwc(2, 6);
    writeFileSync(`${shmDir}${key}`, Buffer.concat([Buffer.alloc(7), nhwc]), { mode: 0o600 });
    const lentBefore = loadNative().hostMemoryRanges();
    const registered = await shm.app.inject({
      method: 'POST', url: '/v2/systemsharedmemory/region/pixels/register', payload: { key, offset: 0, byte_size: 7 + nhwc.length },
    });
    expect(registered.statusCode, registered.body).toBe(200);
    // The mapping is lent to the engine, which reads inputs in place from it (by DMA on a GPU).
    expect(loadNative().hostMemoryRanges()).toBe(lentBefore + 1);
    const res = await shm.app.inject({
      method: 'POST', url: '/v2/models/resnet20/infer',
      payload: {
        inputs: [{
          name: 'input', datatype: 'UINT8', shape: [2, 32, 32, 3],
          parameters: { shared_memory_region: 'pixels', shared_memory_offset: 7, shared_memory_byte_size: nhwc.length },
        }],
        outputs: [{ name: 'output' }],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const fromShm = (res.json() as { outputs: { data: number[] }[] }).outputs[0]!.data;
    expect(fromShm).toEqual(Array.from(await logits('UINT8', [2, 32, 32, 3], nhwc, shm)));
    const wrongSize = await shm.app.inject({
      method: 'POST', url: '/v2/models/resnet20/infer',
      payload: { inputs: [{ name: 'input', datatype: 'UINT8', shape: [2, 32, 32, 3], parameters: { shared_memory_region: 'pixels', shared_memory_byte_size: nhwc.length * 4 } }] },
    });
    expect(wrongSize.statusCode).toBe(400);
    expect(wrongSize.json()).toEqual({ error: "shared_memory_byte_size of input 'input' is 24576, expected 6144 (6144 UINT8 elements × 1 byte)" });
    expect((await shm.app.inject({ method: 'POST', url: '/v2/systemsharedmemory/region/pixels/unregister' })).statusCode).toBe(200);
    expect(loadNative().hostMemoryRanges()).toBe(lentBefore);
  });
});
