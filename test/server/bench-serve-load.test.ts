// bench:serve's load generator end to end, with two client processes each time:
// - against a protocol server written here (node:http) that takes every input kind the generator sends,
//   UINT8 and shared memory included (which `resnet serve` does not take yet): it checks each body byte by
//   byte, answers some requests 503, and counts what it received, so every request the clients report is
//   matched against what arrived; its shm side reads the registered /dev/shm files and writes the outputs
//   there, and every region must be unregistered and its file gone at the end, also when stopped early;
// - against `resnet serve` (resnet20 on the CPU, ~2 s): FP32 requests matched against the server's own
//   /metrics counters, its CPU use from /proc, and UINT8 and shm refused in the server's own words.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad, stopClients, type LoadResult } from '../../bench/serve/generator.mjs';
import { fp32Pixels, shmLayout, uint8Pixels, type ModelGeometry } from '../../bench/serve/requests.mjs';
import { regionPrefix } from '../../bench/serve/shm.mjs';
import { startServer } from '../../bench/serve/server-process.mjs';
import { imageDecoderOf, metricsOf, serveTakes, settle } from '../../bench/serve/server-view.mjs';
import { snapshotDelta } from '../../bench/serve/prometheus.mjs';
import { findPhotos, makeJpegCorpus } from '../../bench/serve/jpeg-corpus.mjs';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

const photosDir = dataPath('images');
const havePhotos = dataAbsent('the JPEG load (photos to cut the corpus from)', photosDir) === null;
const hasShm = existsSync('/dev/shm');
const prefix = regionPrefix(process.pid);
const leftovers = () => (hasShm ? readdirSync('/dev/shm').filter((name) => name.startsWith(`${prefix}-`)) : []);

const geometry: ModelGeometry = { model: 'fake', version: '1', inputName: 'input', height: 8, width: 8, outputName: 'output', classes: 10 };
const sample = 3 * 8 * 8;

/** What the fake server saw. */
interface Seen {
  requests: Record<string, number>;
  ok: number;
  rejected: number;
  bad: string[];
  registered: Map<string, { key: string; byte_size: number; offset: number }>;
  unregistered: string[];
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A server of the protocol's infer route and Triton's system shared-memory routes, for `geometry`. Every
 * 7th FP32 request is answered 503 (a deliberate failure to count).
 */
function fakeServer(seen: Seen): Server {
  const expectedFp32 = fp32Pixels(geometry, 1);
  let fp32Count = 0;
  return createServer(async (req, res) => {
    const body = await readBody(req);
    const reply = (status: number, json: object, binary?: Buffer) => {
      const text = Buffer.from(JSON.stringify(json));
      if (binary) res.setHeader('inference-header-content-length', String(text.length));
      res.writeHead(status, { 'content-type': binary ? 'application/octet-stream' : 'application/json' });
      res.end(binary ? Buffer.concat([text, binary]) : text);
    };
    const bad = (why: string) => {
      seen.bad.push(why);
      reply(400, { error: why });
    };
    const url = req.url ?? '';
    const region = /^\/v2\/systemsharedmemory\/region\/([^/]+)\/(register|unregister)$/.exec(url);
    if (region) {
      if (region[2] === 'register') seen.registered.set(region[1]!, JSON.parse(body.toString()));
      else seen.unregistered.push(region[1]!);
      reply(200, {});
      return;
    }
    if (url !== '/v2/models/fake/infer') {
      reply(404, { error: `no route ${req.method} ${url}` });
      return;
    }
    const headerLength = req.headers['inference-header-content-length'];
    const jsonEnd = headerLength === undefined ? body.length : Number(headerLength);
    const header = JSON.parse(body.subarray(0, jsonEnd).toString());
    const binary = body.subarray(jsonEnd);
    const input = header.inputs[0];
    const n = input.shape[0];
    const kind = input.parameters.shared_memory_region ? 'shm' : input.datatype;
    seen.requests[kind] = (seen.requests[kind] ?? 0) + 1;
    const output = new Float32Array(n * geometry.classes).fill(0.5);
    const outputBytes = Buffer.from(output.buffer);
    if (kind === 'FP32') {
      if (binary.length !== n * sample * 4 || !binary.subarray(0, sample * 4).equals(expectedFp32)) return bad('FP32 body wrong');
      if (++fp32Count % 7 === 0) {
        seen.rejected++;
        reply(503, { error: 'queue full' });
        return;
      }
    } else if (kind === 'UINT8') {
      if (JSON.stringify(input.shape) !== JSON.stringify([n, 8, 8, 3]) || !binary.equals(uint8Pixels(geometry, n))) return bad('UINT8 body wrong');
    } else if (kind === 'BYTES') {
      let at = 0;
      for (let i = 0; i < n; i++) {
        const length = binary.readUInt32LE(at);
        if (binary[at + 4] !== 0xff || binary[at + 5] !== 0xd8) return bad(`element ${i} is not a JPEG`);
        at += 4 + length;
      }
      if (at !== binary.length) return bad('BYTES lengths do not add up');
    } else {
      const registration = seen.registered.get(input.parameters.shared_memory_region);
      if (!registration) return bad(`unknown region ${input.parameters.shared_memory_region}`);
      const file = `/dev/shm${registration.key}`;
      const layout = shmLayout(geometry, n, 'uint8');
      const content = readFileSync(file);
      const out = header.outputs[0].parameters;
      if (content.length !== registration.byte_size || registration.byte_size !== layout.byteSize) return bad('region size wrong');
      if (!content.subarray(0, input.parameters.shared_memory_byte_size).equals(uint8Pixels(geometry, n))) return bad('shm input wrong');
      if (out.shared_memory_offset !== layout.outputOffset || out.shared_memory_byte_size !== layout.outputBytes) return bad('shm output place wrong');
      outputBytes.copy(content, out.shared_memory_offset);
      writeFileSync(file, content);
      seen.ok++;
      reply(200, { model_name: 'fake', outputs: [{ name: 'output', datatype: 'FP32', shape: [n, geometry.classes], parameters: out }] });
      return;
    }
    seen.ok++;
    reply(200, { model_name: 'fake', outputs: [{ name: 'output', datatype: 'FP32', shape: [n, geometry.classes], parameters: { binary_data_size: outputBytes.length } }] }, outputBytes);
  });
}

/** The load's figures, checked for the invariants every load must hold; returns it typed. */
function accounted(load: Awaited<ReturnType<typeof runLoad>>): LoadResult {
  if (!load.ok) throw new Error(`load failed: ${load.message}`);
  expect(load.unaccounted).toBe(0);
  expect(load.sent).toBe(load.okInWindow + load.okOutsideWindow + load.errors);
  expect(load.processes).toBe(2);
  expect(load.okInWindow).toBeGreaterThan(0);
  expect(load.imgPerSec).toBeCloseTo((load.okInWindow * load.imagesPerRequest) / load.seconds, 9);
  expect(load.latency.p50).toBeGreaterThan(0);
  expect(load.latency.p99).toBeGreaterThanOrEqual(load.latency.p50);
  expect(load.loadgenCores).toBeGreaterThan(0);
  return load;
}

describe('the load generator against a protocol server written here', () => {
  const seen: Seen = { requests: {}, ok: 0, rejected: 0, bad: [], registered: new Map(), unregistered: [] };
  let server: Server;
  let origin = '';
  beforeAll(async () => {
    server = fakeServer(seen);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = { path: '/v2/models/fake/infer', geometry, shmDatatype: 'uint8' as const, clients: 2, warmupMs: 200, durationMs: 600 };

  it('FP32 and UINT8: every request sent arrived, every 503 is counted as one', async () => {
    for (const [kind, datatype] of [['fp32', 'FP32'], ['uint8', 'UINT8']] as const) {
      Object.assign(seen, { requests: {}, ok: 0, rejected: 0 });
      const load = accounted(await runLoad({ ...base, origin, kind, imagesPerRequest: 1, concurrency: 5 }));
      expect(seen.bad).toEqual([]);
      // One checked request per client process at setup, then the load.
      expect(seen.requests[datatype]).toBe(load.sent + 2);
      expect(load.okInWindow + load.okOutsideWindow).toBe(seen.ok - 2);
      expect(load.errors).toBe(seen.rejected);
      if (kind === 'fp32') {
        expect(load.failures['HTTP 503']).toMatchObject({ count: seen.rejected, message: 'HTTP 503: queue full' });
        expect(seen.rejected).toBeGreaterThan(0);
      } else expect(load.failures).toEqual({});
      expect(load.serverCores).toBeNaN(); // no server pid given
      expect(load.metrics).toBeNull();
    }
  });

  it.runIf(havePhotos)('JPEG: several per request, each a whole JPEG', async () => {
    const jpegImages = await makeJpegCorpus(findPhotos(photosDir), 5);
    Object.assign(seen, { requests: {}, ok: 0 });
    const load = accounted(await runLoad({ ...base, origin, kind: 'jpeg', jpegImages, imagesPerRequest: 3, concurrency: 3 }));
    expect(seen.bad).toEqual([]);
    expect(seen.requests.BYTES).toBe(load.sent + 2);
    expect(load.imagesPerRequest).toBe(3);
  });

  it.runIf(hasShm)('shm: one registered region per slot, read and written by the server, unregistered and removed after', async () => {
    seen.registered.clear();
    seen.unregistered.length = 0;
    Object.assign(seen, { requests: {}, ok: 0 });
    const load = accounted(await runLoad({ ...base, origin, kind: 'shm', imagesPerRequest: 2, concurrency: 3 }));
    expect(seen.bad).toEqual([]);
    expect(seen.requests.shm).toBe(load.sent + 2);
    expect([...seen.registered.keys()].sort()).toEqual([`${prefix}-c0-s0`, `${prefix}-c0-s1`, `${prefix}-c1-s0`]);
    for (const [name, r] of seen.registered) expect(r).toEqual({ key: `/${name}`, offset: 0, byte_size: shmLayout(geometry, 2, 'uint8').byteSize });
    expect([...seen.unregistered].sort()).toEqual([...seen.registered.keys()].sort());
    expect(leftovers()).toEqual([]);
  });

  it.runIf(hasShm)('shm stopped early (as on Ctrl-C): reported as stopped, regions unregistered, files gone', async () => {
    seen.registered.clear();
    seen.unregistered.length = 0;
    const running = runLoad({ ...base, origin, kind: 'shm', imagesPerRequest: 1, concurrency: 4, durationMs: 60_000 });
    // Once every slot has registered and the load is under way.
    for (let i = 0; i < 100 && seen.registered.size < 4; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    const began = performance.now();
    await stopClients(5000);
    const load = await running;
    expect(performance.now() - began).toBeLessThan(5000);
    expect(load).toEqual({ ok: false, message: 'stopped before the window closed' });
    expect(seen.registered.size).toBe(4);
    expect([...seen.unregistered].sort()).toEqual([...seen.registered.keys()].sort());
    expect(leftovers()).toEqual([]);
  });

  it('a refused setup ends every client and says why in the server\'s words', async () => {
    const load = await runLoad({ ...base, origin, path: '/v2/models/nope/infer', kind: 'uint8', imagesPerRequest: 1, concurrency: 2 });
    expect(load).toEqual({ ok: false, message: 'HTTP 404: no route POST /v2/models/nope/infer' });
  });
});

describe('the load generator against resnet serve (resnet20, CPU)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    const shm = serveTakes('--allow-shm') ? ['--allow-shm'] : [];
    server = await startServer(['--model', 'resnet20', '--log-level', 'warn', '--threads', '1', ...shm], { readyTimeoutMs: 60_000, log: () => {} });
  });
  afterAll(async () => {
    await server?.stop(10_000);
  });
  it('reads which image decoder the model\'s BYTES requests get from the server\'s readiness line', () => {
    expect(server.readyLine()).toMatch(/^resnet serve: ready on http:\/\/127\.0\.0\.1:\d+: resnet20 \(cpu, images: CPU workers\)$/);
    expect(imageDecoderOf(server.readyLine(), 'resnet20')).toBe('CPU workers');
    expect(imageDecoderOf('resnet serve: ready on http://h:1: resnet50 (cuda:0, images: nvJPEG hardware (7 engines)), r18 (cuda:1, images: nvJPEG GPU backend)', 'resnet50'))
      .toBe('nvJPEG hardware (7 engines)');
    expect(imageDecoderOf('resnet serve: ready on http://h:1: resnet50 (cuda:0, images: nvJPEG hardware (7 engines)), r18 (cuda:1, images: nvJPEG GPU backend)', 'r18'))
      .toBe('nvJPEG GPU backend');
    expect(imageDecoderOf('resnet serve: ready on http://h:1: resnet20 (cpu)', 'resnet20')).toBeNull(); // a server from before the decoder was named
  });

  const real = { path: '/v2/models/resnet20/infer', geometry: { ...geometry, model: 'resnet20', height: 32, width: 32 }, shmDatatype: 'uint8' as const, clients: 2, imagesPerRequest: 1 };

  it('FP32 for 2 s: every request is in the server\'s own counters; its CPU use comes from /proc', async () => {
    await settle(server, 'resnet20', '1');
    const before = await metricsOf(server, 'resnet20', '1');
    const load = accounted(await runLoad({
      ...real, origin: server.url, kind: 'fp32', concurrency: 4, warmupMs: 500, durationMs: 2000, serverPid: server.pid,
      readMetrics: () => metricsOf(server, 'resnet20', '1'),
    }));
    await settle(server, 'resnet20', '1');
    const whole = snapshotDelta(before, await metricsOf(server, 'resnet20', '1'));
    expect(load.errors).toBe(0);
    // The two setup checks and the load, each answered 200 and counted once by the server.
    expect(whole.success).toBe(load.sent + 2);
    expect(whole.failures).toEqual({});
    const window = snapshotDelta(load.metrics!.before, load.metrics!.after);
    expect(window.averageBatch).toBeGreaterThanOrEqual(1);
    if (existsSync('/proc/self/stat')) {
      expect(load.serverCores).toBeGreaterThan(0.05);
      expect(load.serverCores).toBeLessThan(8);
    }
  });

  // A server without them must refuse each in its own words; one that takes them (UINT8 input, and
  // shared memory behind --allow-shm) must have every request accounted for, as FP32.
  it('UINT8 and shm: measured, or refused in the server\'s own words, with nothing left behind', async () => {
    const uint8 = await runLoad({ ...real, origin: server.url, kind: 'uint8', concurrency: 2, warmupMs: 0, durationMs: 500 });
    if (uint8.ok) accounted(uint8);
    else expect(uint8.message).toBe("HTTP 400: inference input 'input' data-type is 'UINT8', but model 'resnet20' expects 'FP32' or 'BYTES'");
    if (!hasShm) return;
    // In shared memory, the pixels where the server takes UINT8, else FP32.
    const shmDatatype = uint8.ok ? 'uint8' : 'fp32';
    const shm = await runLoad({ ...real, shmDatatype, origin: server.url, kind: 'shm', concurrency: 2, warmupMs: 0, durationMs: 500 });
    if (serveTakes('--allow-shm')) accounted(shm);
    else {
      expect(shm.ok).toBe(false);
      expect(!shm.ok && shm.message).toMatch(new RegExp(`^registering shared-memory region '${prefix}-c[01]-s0': HTTP 404: no route POST /v2/systemsharedmemory/region/${prefix}-c[01]-s0/register$`));
    }
    expect(leftovers()).toEqual([]);
  });
});
