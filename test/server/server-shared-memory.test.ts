/**
 * Triton's system shared-memory extension on a resnet20 CPU server: off unless `allowShm`; registration,
 * status and unregistration; inputs read in place from a region give the logits of the same tensor sent
 * as a binary body, and outputs written into a region equal the body's; every refusal (unknown region,
 * ranges outside it, byte sizes that do not fit the tensor, malformed keys, limits, a region in use by a
 * running request) is a 400 or 404 with a message that says what to do, and leaves no region held.
 *
 * On Linux a POSIX shared-memory object `/name` is the file `/dev/shm/name`: the test makes, reads and
 * truncates objects with plain file I/O, as a client process would with shm_open and mmap.
 */
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { parseInferRequest } from '../../lib/server/infer-request.js';
import { SharedMemoryLeases, SharedMemoryRegistry } from '../../lib/server/shared-memory.js';
import {
  binaryInfer, bytesOf, floatsOf, inputValues, reference, resnet20Server, sampleSize, splitResponse, type InferResponse,
} from '../helpers/server-helpers.js';

const shmDir = '/dev/shm';
const hasShm = process.platform === 'linux' && existsSync(shmDir);
const prefix = `resnet-cudnn-serve-${process.pid}`;
const made: string[] = [];
const sampleBytes = sampleSize * 4;

/** Creates the object `/<prefix>-<name>` holding `bytes` (or that many zeros); returns its key. */
function makeObject(name: string, bytes: Uint8Array | number): string {
  const file = `${shmDir}/${prefix}-${name}`;
  writeFileSync(file, typeof bytes === 'number' ? Buffer.alloc(bytes) : bytes, { mode: 0o600 });
  made.push(file);
  return `/${prefix}-${name}`;
}

function fileOf(key: string): string {
  return `${shmDir}${key}`;
}

/** `values` placed at byte `at` of an object of `size` bytes. */
function placed(values: Float32Array, at: number, size: number): Buffer {
  const bytes = Buffer.alloc(size, 0x7f);
  bytesOf(values).copy(bytes, at);
  return bytes;
}

let server: InferenceServer;
let plain: InferenceServer;

beforeAll(async () => {
  if (!hasShm) return;
  // One instance: a gated batch holds the only one, so the tests below decide when requests run.
  server = resnet20Server({ maxQueueDelayMicroseconds: 0, instanceCount: 1 }, { allowShm: true, maxShmRegions: 6, maxShmBytes: 256 * 1024 });
  plain = resnet20Server({ maxQueueDelayMicroseconds: 0 });
  await Promise.all([server.start(), plain.start({ listen: false })]);
});
afterAll(async () => {
  await Promise.all([server?.close(), plain?.close()]);
  for (const file of made) rmSync(file, { force: true });
});

async function post(target: InferenceServer, url: string, payload: string | Buffer = '', headers: Record<string, string> = {}) {
  return target.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });
}

async function register(name: string, body: Record<string, unknown>, target = server) {
  return post(target, `/v2/systemsharedmemory/region/${encodeURIComponent(name)}/register`, JSON.stringify(body));
}

async function status(name?: string) {
  const url = name === undefined ? '/v2/systemsharedmemory/status' : `/v2/systemsharedmemory/region/${encodeURIComponent(name)}/status`;
  return server.app.inject({ method: 'GET', url });
}

async function unregister(name?: string) {
  return post(server, name === undefined ? '/v2/systemsharedmemory/unregister' : `/v2/systemsharedmemory/region/${encodeURIComponent(name)}/unregister`);
}

/** An infer request as a JSON header (no binary part). */
async function infer(header: object, target = server) {
  return post(target, '/v2/models/resnet20/infer', JSON.stringify(header));
}

/** An FP32 input of `n` samples in region `region`. */
function shmInput(region: string, n: number, parameters: Record<string, unknown> = {}) {
  return {
    name: 'input', datatype: 'FP32', shape: [n, 3, 32, 32],
    parameters: { shared_memory_region: region, shared_memory_byte_size: n * sampleBytes, ...parameters },
  };
}

/** The same request with its input as a binary body: the reference every shared-memory answer must equal. */
async function bodyAnswer(values: Float32Array, n: number): Promise<{ output: Float32Array; features: Float32Array }> {
  const { body, headerLength } = binaryInfer({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
    outputs: [{ name: 'output', parameters: { binary_data: true } }, { name: 'features', parameters: { binary_data: true } }],
  }, bytesOf(values));
  const res = await post(server, '/v2/models/resnet20/infer', body, { 'inference-header-content-length': String(headerLength) });
  expect(res.statusCode, res.body).toBe(200);
  const { binary } = splitResponse(res.rawPayload, res.headers['inference-header-content-length'] as string);
  return { output: floatsOf(binary.subarray(0, n * 40)), features: floatsOf(binary.subarray(n * 40)) };
}

/** A promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/** Requests of resnet20 counted as canceled (499) so far. */
async function canceledCount(): Promise<number> {
  const metrics = (await server.app.inject({ url: '/metrics' })).body;
  return Number(/nv_inference_request_failure\{model="resnet20",version="1",reason="CANCELED"\} (\d+)/.exec(metrics)![1]);
}

/** Makes the model's next batch wait for `gate` once it has started (resolving `started`). */
function holdNextBatch(): { started: Promise<void>; open: () => void; restore: () => void } {
  const model = server.models.get('resnet20')!;
  const original = model.run.bind(model);
  const started = deferred();
  const gate = deferred();
  const spy = vi.spyOn(model, 'run').mockImplementationOnce(async (...args) => {
    started.resolve();
    await gate.promise;
    return original(...args);
  });
  return { started: started.promise, open: gate.resolve, restore: () => spy.mockRestore() };
}

describe.skipIf(!hasShm)('system shared memory (skipped: needs Linux with /dev/shm)', () => {
  describe('off unless allowShm', () => {
    it('lists system_shared_memory in server metadata only when allowed', async () => {
      const on = (await server.app.inject({ url: '/v2' })).json() as { extensions: string[] };
      const off = (await plain.app.inject({ url: '/v2' })).json() as { extensions: string[] };
      expect(on.extensions).toContain('system_shared_memory');
      expect(off.extensions).not.toContain('system_shared_memory');
      expect(off.extensions).toContain('binary_tensor_data');
    });

    it('answers every endpoint and every request naming a region with a 400 that says to start with --allow-shm', async () => {
      const key = makeObject('off', sampleBytes);
      const answers = [
        await plain.app.inject({ url: '/v2/systemsharedmemory/status' }),
        await plain.app.inject({ url: '/v2/systemsharedmemory/region/a/status' }),
        await register('a', { key, offset: 0, byte_size: sampleBytes }, plain),
        await post(plain, '/v2/systemsharedmemory/unregister'),
        await post(plain, '/v2/systemsharedmemory/region/a/unregister'),
        await infer({ inputs: [shmInput('a', 1)] }, plain),
        await infer({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(inputValues(1, 1)) }],
          outputs: [{ name: 'output', parameters: { shared_memory_region: 'a', shared_memory_byte_size: 40 } }] }, plain),
      ];
      for (const res of answers) {
        expect(res.statusCode, res.body).toBe(400);
        expect(Object.keys(res.json())).toEqual(['error']);
        expect(res.json().error).toMatch(/start the server with --allow-shm/);
      }
    });

    it('answers CUDA shared memory with a 400 (not supported), and wrong methods with 405', async () => {
      for (const target of [server, plain]) {
        const res = await target.app.inject({ url: '/v2/cudasharedmemory/status' });
        expect(res.statusCode).toBe(400);
        expect(res.json().error).toMatch(/CUDA shared memory is not supported by this server/);
        const registered = await post(target, '/v2/cudasharedmemory/region/g/register', '{"raw_handle":{"b64":""},"device_id":0,"byte_size":4}');
        expect(registered.statusCode).toBe(400);
      }
      expect((await server.app.inject({ url: '/v2/systemsharedmemory/unregister' })).statusCode).toBe(405);
      expect((await post(server, '/v2/systemsharedmemory/status')).statusCode).toBe(405);
    });
  });

  describe('registration', () => {
    it('registers, reports status in Triton\'s shape, refuses a second registration of a name, and unregisters', async () => {
      const key = makeObject('reg', 8192);
      expect((await register('r1', { key, offset: 100, byte_size: 4000 })).statusCode).toBe(200);
      expect((await register('r2', { key, byte_size: 8192 })).statusCode).toBe(200);
      expect((await status()).json()).toEqual([
        { name: 'r1', key, offset: 100, byte_size: 4000 },
        { name: 'r2', key, offset: 0, byte_size: 8192 },
      ]);
      expect((await status('r1')).json()).toEqual([{ name: 'r1', key, offset: 100, byte_size: 4000 }]);

      const again = await register('r1', { key, offset: 0, byte_size: 16 });
      expect(again.statusCode).toBe(400);
      expect(again.json().error).toMatch(/shared memory region 'r1' already in manager: unregister it first/);
      expect((await status('r1')).json()).toEqual([{ name: 'r1', key, offset: 100, byte_size: 4000 }]);

      const unknown = await status('nope');
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().error).toBe("Unable to find system shared memory region: 'nope'");

      expect((await unregister('r1')).statusCode).toBe(200);
      expect((await unregister('never-registered')).statusCode).toBe(200);
      expect((await status()).json()).toEqual([{ name: 'r2', key, offset: 0, byte_size: 8192 }]);
      expect((await unregister()).statusCode).toBe(200);
      expect((await status()).json()).toEqual([]);
    });

    it('refuses malformed keys with what a POSIX shared-memory name looks like', async () => {
      for (const [key, message] of [
        ['a', /must start with '\/'/],
        ['/a/b', /no '\/' after the first/],
        ['/../x', /no '\/' after the first/],
        [`/${'k'.repeat(299)}`, /is 300 bytes; a POSIX shared-memory name has at most 255/],
      ] as const) {
        const res = await register('bad', { key, offset: 0, byte_size: 16 });
        expect(res.statusCode, key).toBe(400);
        expect(res.json().error, key).toMatch(/^failed to register shared memory region 'bad': shared memory key /);
        expect(res.json().error, key).toMatch(message);
      }
      expect((await status()).json()).toEqual([]);
    });

    it('refuses bodies without key or byte_size, odd fields and types, missing objects and ranges past the object', async () => {
      const key = makeObject('small', 1000);
      const cases: [string, RegExp][] = [
        ['', /must be a JSON object/],
        ['{"key":', /malformed JSON in the register request/],
        [JSON.stringify({ offset: 0, byte_size: 8 }), /has no 'key' field/],
        [JSON.stringify({ key }), /has no 'byte_size' field/],
        [JSON.stringify({ key, byte_size: 8, device_id: 0 }), /unexpected field "device_id"/],
        [JSON.stringify({ key: 7, byte_size: 8 }), /'key' .* must be a string/],
        [JSON.stringify({ key, byte_size: -8 }), /'byte_size' .* must be a positive integer \(the region's size in bytes\), got -8/],
        [JSON.stringify({ key, offset: 1.5, byte_size: 8 }), /'offset' .* must be a non-negative integer/],
        [JSON.stringify({ key, byte_size: 0 }), /'byte_size' .* must be a positive integer \(the region's size in bytes\), got 0/],
        [JSON.stringify({ key: `/${prefix}-absent`, byte_size: 8 }), /no shared memory object .*: the client creates it/],
        [JSON.stringify({ key, offset: 999, byte_size: 2 }), /has 1000 bytes but the region \[999, 1001\) ends past it/],
      ];
      for (const [body, message] of cases) {
        const res = await post(server, '/v2/systemsharedmemory/region/odd/register', body);
        expect(res.statusCode, body).toBe(400);
        expect(res.json().error, body).toMatch(message);
      }
      expect((await status()).json()).toEqual([]);
    });

    it('bounds the regions and the mapped bytes (maxShmRegions 6, maxShmBytes 256 KiB)', async () => {
      const key = makeObject('bounds', 300 * 1024);
      const large = await register('large', { key, byte_size: 300 * 1024 });
      expect(large.statusCode).toBe(400);
      expect(large.json().error).toMatch(/over the 262144 this server allows \(--max-shm-bytes\); unregister regions no longer used first/);
      for (let i = 0; i < 6; i++) expect((await register(`b${i}`, { key, offset: i * 16, byte_size: 16 })).statusCode).toBe(200);
      const seventh = await register('b6', { key, byte_size: 16 });
      expect(seventh.statusCode).toBe(400);
      expect(seventh.json().error).toMatch(/6 regions are registered, the most this server allows \(--max-shm-regions\)/);
      expect((await unregister()).statusCode).toBe(200);
      expect((await register('b6', { key, byte_size: 16 })).statusCode).toBe(200);
      expect((await unregister('b6')).statusCode).toBe(200);
    });
  });

  describe('inference', () => {
    it('reads an input from a region in place: the logits equal those of the same tensor sent as a binary body', async () => {
      const values = inputValues(2, 71);
      // The region starts 100 bytes into the object's first page, the tensor 28 bytes into the region.
      const key = makeObject('input', placed(values, 128, 128 + 2 * sampleBytes + 64));
      expect((await register('in', { key, offset: 100, byte_size: 28 + 2 * sampleBytes + 64 })).statusCode).toBe(200);
      const res = await infer({
        inputs: [shmInput('in', 2, { shared_memory_offset: 28 })],
        outputs: [{ name: 'output', parameters: { binary_data: true } }, { name: 'features', parameters: { binary_data: true } }],
      });
      expect(res.statusCode, res.body).toBe(200);
      const { header, binary } = splitResponse(res.rawPayload, res.headers['inference-header-content-length'] as string);
      expect(header.outputs.map((o) => o.shape)).toEqual([[2, 10], [2, 64]]);
      const expected = await bodyAnswer(values, 2);
      expect(floatsOf(binary.subarray(0, 80))).toEqual(expected.output);
      expect(floatsOf(binary.subarray(80))).toEqual(expected.features);
      // And both equal the engine run directly.
      expect(expected.output).toEqual((await reference(server, values, 2)).output);
      expect((await unregister('in')).statusCode).toBe(200);
    });

    it('reads a tensor that does not start on a 4-byte boundary (copied, same answer)', async () => {
      const values = inputValues(1, 72);
      const key = makeObject('odd', placed(values, 3, 3 + sampleBytes));
      expect((await register('odd', { key, offset: 1, byte_size: 2 + sampleBytes })).statusCode).toBe(200);
      const res = await infer({ inputs: [shmInput('odd', 1, { shared_memory_offset: 2 })], outputs: [{ name: 'output' }] });
      expect(res.statusCode, res.body).toBe(200);
      expect(Float32Array.from((res.json() as InferResponse).outputs[0]!.data as number[])).toEqual((await bodyAnswer(values, 1)).output);
      expect((await unregister('odd')).statusCode).toBe(200);
    });

    it('gives the parsed input as a view on the mapping, not a copy', async () => {
      const values = inputValues(1, 73);
      const key = makeObject('view', placed(values, 0, sampleBytes));
      const registry = new SharedMemoryRegistry({ maxRegions: 1, maxBytes: sampleBytes });
      registry.register('view', { key, byte_size: sampleBytes });
      const leases = new SharedMemoryLeases(registry);
      const parsed = parseInferRequest({ inputs: [shmInput('view', 1)] }, Buffer.alloc(0), server.models.get('resnet20')!.signature, leases);
      const input = parsed.inputs[0]!;
      expect(input.datatype).toBe('FP32');
      const bytes = (input as { data: Uint8Array }).data;
      const view = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      expect(view).toEqual(values);
      // The client writes the object; the parsed input sees it, because it is the mapping itself.
      writeFileSync(fileOf(key), bytesOf(Float32Array.of(1234.5)), { flag: 'r+' });
      expect(view[0]).toBe(1234.5);
      expect(() => registry.unregister('view')).toThrow(/in use by running inference requests/);
      leases.releaseAll();
      registry.unregister('view');
      expect(view.length).toBe(0);  // detached with the mapping: nothing can read unmapped memory
      registry.close();
    });

    it('writes an output into a region: the bytes equal the body\'s output, and the response lists it with no data', async () => {
      const values = inputValues(2, 74);
      const key = makeObject('output', 4096);
      expect((await register('out', { key, offset: 1000, byte_size: 200 })).statusCode).toBe(200);
      const res = await infer({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32], data: Array.from(values) }],
        outputs: [
          { name: 'output', parameters: { shared_memory_region: 'out', shared_memory_byte_size: 96, shared_memory_offset: 4 } },
          { name: 'features' },
        ],
      });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as InferResponse;
      expect(body.outputs[0]).toEqual({
        name: 'output', datatype: 'FP32', shape: [2, 10],
        parameters: { shared_memory_region: 'out', shared_memory_offset: 4, shared_memory_byte_size: 80 },
      });
      const expected = await bodyAnswer(values, 2);
      expect(floatsOf(readFileSync(fileOf(key)).subarray(1004, 1084))).toEqual(expected.output);
      expect(Float32Array.from(body.outputs[1]!.data as number[])).toEqual(expected.features);
      expect((await unregister('out')).statusCode).toBe(200);
    });

    it('takes encoded images (BYTES) from a region', async () => {
      const pixels = Buffer.from(Array.from({ length: 40 * 48 * 3 }, (_, i) => (i * 53) % 256));
      const png = await sharp(pixels, { raw: { width: 48, height: 40, channels: 3 } }).png().toBuffer();
      const element = Buffer.alloc(4 + png.length);
      element.writeUInt32LE(png.length);
      png.copy(element, 4);
      const key = makeObject('image', element);
      expect((await register('img', { key, byte_size: element.length })).statusCode).toBe(200);
      const res = await infer({
        inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], parameters: { shared_memory_region: 'img', shared_memory_byte_size: element.length } }],
        outputs: [{ name: 'output' }],
      });
      expect(res.statusCode, res.body).toBe(200);
      const model = server.models.get('resnet20')!;
      const expected = await reference(server, await model.decodeImages([png]), 1);
      expect(Float32Array.from((res.json() as InferResponse).outputs[0]!.data as number[])).toEqual(expected.output);
      expect((await unregister('img')).statusCode).toBe(200);
    });

    it('refuses what does not fit, says why, and holds no region afterwards', async () => {
      const key = makeObject('refuse', 2 * sampleBytes);
      expect((await register('one', { key, byte_size: sampleBytes })).statusCode).toBe(200);
      expect((await register('small', { key, byte_size: 1000 })).statusCode).toBe(200);
      const data = Array.from(inputValues(1, 75));
      const cases: [object, number, RegExp][] = [
        [{ inputs: [shmInput('ghost', 1)] }, 404, /^Unable to find shared memory region: 'ghost' \(named by input 'input'\); register it first$/],
        [{ inputs: [shmInput('small', 1)] }, 400, /^Invalid offset \+ byte size for shared memory region: 'small': input 'input' needs bytes \[0, 12288\) but the region has 1000 bytes$/],
        [{ inputs: [shmInput('one', 1, { shared_memory_offset: sampleBytes })] }, 400, /^Invalid offset for shared memory region: 'one'/],
        [{ inputs: [shmInput('one', 1, { shared_memory_byte_size: sampleBytes - 4 })] }, 400, /shared_memory_byte_size of input 'input' is 12284, expected 12288 \(3072 FP32 elements × 4 bytes\)/],
        [{ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { shared_memory_region: 'one' } }] }, 400, /names shared_memory_region 'one' but has no shared_memory_byte_size parameter/],
        [{ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data, parameters: { shared_memory_byte_size: sampleBytes } }] }, 400, /has a shared_memory_byte_size parameter but no shared_memory_region/],
        [{ inputs: [{ ...shmInput('one', 1), data }] }, 400, /has both a shared_memory_region parameter and 'data'; send one/],
        [{ inputs: [shmInput('one', 1, { binary_data_size: sampleBytes })] }, 400, /has both a shared_memory_region parameter and a binary_data_size parameter/],
        [{ inputs: [shmInput('one', 1, { shared_memory_region: 7 })] }, 400, /parameter 'shared_memory_region' of input 'input' must be a string/],
        // The input's lease is taken before the output is refused: it must be released all the same.
        [{ inputs: [shmInput('one', 1)], outputs: [{ name: 'output', parameters: { shared_memory_region: 'small', shared_memory_byte_size: 36 } }] }, 400,
          /shared memory size specified with the request for output 'output' \(36 bytes\) should be at least 40 bytes/],
        [{ inputs: [shmInput('one', 1)], outputs: [{ name: 'output', parameters: { shared_memory_region: 'small', shared_memory_byte_size: 40, classification: 2 } }] }, 400,
          /Output can't set both 'shared_memory_region' and 'classification'/],
        [{ inputs: [shmInput('one', 1)], outputs: [{ name: 'output', parameters: { shared_memory_region: 'small', shared_memory_byte_size: 40, binary_data: true } }] }, 400,
          /Output can't set both 'shared_memory_region' and 'binary_data'/],
        [{ inputs: [shmInput('one', 1)], outputs: [{ name: 'output', parameters: { shared_memory_region: 'ghost', shared_memory_byte_size: 40 } }] }, 404,
          /Unable to find shared memory region: 'ghost' \(named by output 'output'\)/],
      ];
      for (const [header, code, message] of cases) {
        const res = await infer(header);
        expect(res.statusCode, JSON.stringify(header).slice(0, 200)).toBe(code);
        expect(Object.keys(res.json())).toEqual(['error']);
        expect(res.json().error).toMatch(message);
      }
      // Nothing above left a region held.
      expect((await unregister()).statusCode).toBe(200);
    });

    it('refuses a region whose object shrank after registration instead of touching past its end', async () => {
      const values = inputValues(1, 76);
      const key = makeObject('shrink', placed(values, 0, sampleBytes));
      expect((await register('shrink', { key, byte_size: sampleBytes })).statusCode).toBe(200);
      truncateSync(fileOf(key), 100);
      const res = await infer({ inputs: [shmInput('shrink', 1)] });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatch(/shrank to 100 bytes since it was registered .* unregister the region and register it again/);
      expect((await unregister('shrink')).statusCode).toBe(200);
    });

    it('refuses to unregister a region in use by a running request, and says to retry once it finishes', async () => {
      const values = inputValues(1, 77);
      const inKey = makeObject('busy-in', placed(values, 0, sampleBytes));
      const outKey = makeObject('busy-out', 40);
      const idleKey = makeObject('idle', 64);
      expect((await register('busy-in', { key: inKey, byte_size: sampleBytes })).statusCode).toBe(200);
      expect((await register('busy-out', { key: outKey, byte_size: 40 })).statusCode).toBe(200);
      expect((await register('idle', { key: idleKey, byte_size: 64 })).statusCode).toBe(200);

      const hold = holdNextBatch();
      try {
        const running = infer({
          inputs: [shmInput('busy-in', 1)],
          outputs: [{ name: 'output', parameters: { shared_memory_region: 'busy-out', shared_memory_byte_size: 40 } }],
        });
        await hold.started;
        const one = await unregister('busy-in');
        expect(one.statusCode).toBe(400);
        expect(one.json().error).toBe("cannot unregister shared memory region 'busy-in' (1 request): in use by running inference requests. "
          + 'Retry the unregister once those requests have finished');
        const all = await unregister();
        expect(all.statusCode).toBe(400);
        expect(all.json().error).toMatch(/regions 'busy-in' \(1 request\), 'busy-out' \(1 request\): .*; the other 1 were unregistered\. Retry/);
        expect((await status()).json().map((r: { name: string }) => r.name)).toEqual(['busy-in', 'busy-out']);

        hold.open();
        const res = await running;
        expect(res.statusCode, res.body).toBe(200);
        expect(floatsOf(readFileSync(fileOf(outKey)))).toEqual((await bodyAnswer(values, 1)).output);
      } finally {
        hold.open();
        hold.restore();
      }
      expect((await unregister('busy-in')).statusCode).toBe(200);
      expect((await unregister()).statusCode).toBe(200);
    });

    it('releases the regions of a client that disconnects while its batch runs once that batch has finished', async () => {
      const values = inputValues(1, 78);
      const key = makeObject('gone', placed(values, 0, sampleBytes));
      expect((await register('gone', { key, byte_size: sampleBytes })).statusCode).toBe(200);
      const hold = holdNextBatch();
      try {
        const controller = new AbortController();
        const request = fetch(`${server.address!.url}/v2/models/resnet20/infer`, {
          method: 'POST', body: JSON.stringify({ inputs: [shmInput('gone', 1)] }), signal: controller.signal,
        }).catch((error: unknown) => error);
        await hold.started;
        expect((await unregister('gone')).statusCode).toBe(400);
        const canceledBefore = await canceledCount();
        controller.abort();
        expect(await request).toBeInstanceOf(Error);
        // The server learns of the disconnect from the socket's close (the request is canceled), but the held
        // batch still reads the region: it stays registered until the batch is done.
        await vi.waitFor(async () => expect(await canceledCount()).toBe(canceledBefore + 1), { timeout: 10_000, interval: 20 });
        const held = await unregister('gone');
        expect(held.statusCode).toBe(400);
        expect(held.json().error).toMatch(/'gone' \(1 request\): in use by running inference requests/);
        hold.open();
        await vi.waitFor(async () => expect((await unregister('gone')).statusCode).toBe(200), { timeout: 10_000, interval: 20 });
      } finally {
        hold.open();
        hold.restore();
      }
      expect((await status()).json()).toEqual([]);
    });
  });
});
