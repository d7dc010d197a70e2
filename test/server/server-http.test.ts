/**
 * The server's endpoints over fastify's inject (and one real socket): health, metadata, config, infer
 * in JSON and binary form with and without `/versions/N`, classification, images, metrics and statistics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getNumThreads } from '../../lib/runtime/threads.js';
import { defaultCpuInstanceCount } from '../../lib/server/served-model.js';
import sharp from 'sharp';
import type { InferenceServer } from '../../lib/server/index.js';
import {
  binaryInfer, bytesOf, floatsOf, inputValues, jsonInfer, reference, resnet20Server, splitResponse, type InferResponse,
} from '../helpers/server-helpers.js';

let server: InferenceServer;

beforeAll(async () => {
  server = resnet20Server({ maxQueueDelayMicroseconds: 0 });
  await server.start({ listen: false });
});
afterAll(async () => {
  await server.close();
});

async function get(url: string) {
  return server.app.inject({ method: 'GET', url });
}

async function post(url: string, payload: string | Buffer, headers: Record<string, string> = {}) {
  return server.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });
}

describe('health', () => {
  it('answers live and ready with 200 and an empty body', async () => {
    for (const url of ['/v2/health/live', '/v2/health/ready', '/v2/models/resnet20/ready', '/v2/models/resnet20/versions/1/ready']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toBe('');
    }
  });

  it('answers 404 {"error"} for the readiness of an unknown model or version', async () => {
    for (const url of ['/v2/models/nope/ready', '/v2/models/resnet20/versions/2/ready']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(Object.keys(res.json())).toEqual(['error']);
    }
  });
});

describe('metadata', () => {
  it('describes the server with its extensions', async () => {
    const res = await get('/v2');
    expect(res.statusCode).toBe(200);
    const body = res.json() as { name: string; version: string; extensions: string[] };
    expect(body.name).toBe('resnet-cudnn');
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(body.extensions).toEqual(expect.arrayContaining(['binary_tensor_data', 'classification', 'model_configuration', 'statistics']));
  });

  it('describes the model with and without /versions/1', async () => {
    for (const url of ['/v2/models/resnet20', '/v2/models/resnet20/versions/1']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.json()).toMatchObject({
        name: 'resnet20',
        versions: ['1'],
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 32, 32] }],
        outputs: expect.arrayContaining([
          { name: 'output', datatype: 'FP32', shape: [-1, 10] },
          { name: 'features', datatype: 'FP32', shape: [-1, 64] },
        ]),
      });
    }
  });

  it('gives the model configuration Triton clients read', async () => {
    for (const url of ['/v2/models/resnet20/config', '/v2/models/resnet20/versions/1/config']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(200);
      const config = res.json() as Record<string, unknown>;
      expect(config).toMatchObject({
        name: 'resnet20',
        max_batch_size: 8,
        input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [3, 32, 32] }],
        dynamic_batching: { max_queue_delay_microseconds: 0 },
        instance_group: [{ count: defaultCpuInstanceCount(getNumThreads()), kind: 'KIND_CPU' }],
      });
    }
  });

  it('answers 404 {"error"} for an unknown model or version', async () => {
    for (const url of ['/v2/models/nope', '/v2/models/resnet20/versions/7', '/v2/models/nope/config', '/v2/models/resnet20/versions/7/config']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(Object.keys(res.json()), url).toEqual(['error']);
      expect(res.json().error).toMatch(/nope|'7'/);
    }
  });
});

describe('infer', () => {
  const values = inputValues(1, 1);

  it('answers JSON with JSON, echoing the id, with and without /versions/1', async () => {
    const ref = await reference(server, values, 1);
    for (const url of ['/v2/models/resnet20/infer', '/v2/models/resnet20/versions/1/infer']) {
      const res = await post(url, jsonInfer(values, 1, { id: 'req-7' }));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = res.json() as InferResponse;
      expect(body).toMatchObject({ model_name: 'resnet20', model_version: '1', id: 'req-7' });
      const output = body.outputs.find((o) => o.name === 'output')!;
      const features = body.outputs.find((o) => o.name === 'features')!;
      expect(output).toMatchObject({ datatype: 'FP32', shape: [1, 10] });
      expect(features).toMatchObject({ datatype: 'FP32', shape: [1, 64] });
      expect(Float32Array.from(output.data as number[])).toEqual(ref.output);
      expect(Float32Array.from(features.data as number[])).toEqual(ref.features);
    }
  });

  it('takes a binary input and answers binary outputs (Inference-Header-Content-Length)', async () => {
    const ref = await reference(server, values, 1);
    const { body, headerLength } = binaryInfer({
      // One padding byte in the id makes the binary part start at an odd offset.
      id: 'x',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    }, bytesOf(values));
    const res = await post('/v2/models/resnet20/versions/1/infer', body, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(headerLength),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const { header, binary } = splitResponse(res.rawPayload, res.headers['inference-header-content-length'] as string);
    expect(header.outputs).toEqual([{ name: 'output', datatype: 'FP32', shape: [1, 10], parameters: { binary_data_size: 40 } }]);
    expect(floatsOf(binary)).toEqual(ref.output);
  });

  it('answers every output in binary with binary_data_output, and a per-output binary_data: false overrides it', async () => {
    const ref = await reference(server, values, 1);
    const res = await post('/v2/models/resnet20/infer', jsonInfer(values, 1, {
      parameters: { binary_data_output: true },
      outputs: [{ name: 'features' }, { name: 'output', parameters: { binary_data: false } }],
    }));
    expect(res.statusCode, res.body).toBe(200);
    const { header, binary } = splitResponse(res.rawPayload, res.headers['inference-header-content-length'] as string);
    expect(header.outputs.map((o) => o.name)).toEqual(['features', 'output']);
    expect(header.outputs[0]!.parameters).toEqual({ binary_data_size: 64 * 4 });
    expect(floatsOf(binary)).toEqual(ref.features);
    expect(Float32Array.from(header.outputs[1]!.data as number[])).toEqual(ref.output);
  });

  it('answers a batch of two with [2, N] outputs equal to the engine\'s', async () => {
    const two = inputValues(2, 2);
    const ref = await reference(server, two, 2);
    const res = await post('/v2/models/resnet20/infer', jsonInfer(two, 2, { outputs: [{ name: 'output' }] }));
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as InferResponse;
    expect(body.outputs).toHaveLength(1);
    expect(body.outputs[0]!.shape).toEqual([2, 10]);
    expect(body).not.toHaveProperty('id');
    expect(Float32Array.from(body.outputs[0]!.data as number[])).toEqual(ref.output);
  });

  it('classifies: top-N "score:index" strings, highest first, as BYTES [batch, N]', async () => {
    const ref = await reference(server, values, 1);
    const res = await post('/v2/models/resnet20/infer', jsonInfer(values, 1, { outputs: [{ name: 'output', parameters: { classification: 3 } }] }));
    expect(res.statusCode, res.body).toBe(200);
    const [output] = (res.json() as InferResponse).outputs;
    expect(output).toMatchObject({ name: 'output', datatype: 'BYTES', shape: [1, 3] });
    const expected = [...ref.output].map((score, index) => ({ score, index })).sort((a, b) => b.score - a.score).slice(0, 3);
    const got = (output!.data as string[]).map((s) => s.split(':'));
    expect(got.map((fields) => Number(fields[1]))).toEqual(expected.map((e) => e.index));
    expect(got.map((fields) => Math.fround(Number(fields[0])))).toEqual(expected.map((e) => e.score));
  });

  it('decodes an image sent as BYTES with the model\'s transforms', async () => {
    const pixels = Buffer.from(Array.from({ length: 40 * 48 * 3 }, (_, i) => (i * 37) % 256));
    const png = await sharp(pixels, { raw: { width: 48, height: 40, channels: 3 } }).png().toBuffer();
    const model = server.models.get('resnet20')!;
    const ref = await reference(server, await model.decodeImages([png]), 1);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(png.length);
    const { body, headerLength } = binaryInfer({
      inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 4 + png.length } }],
      outputs: [{ name: 'output' }],
    }, length, png);
    const res = await post('/v2/models/resnet20/infer', body, { 'inference-header-content-length': String(headerLength) });
    expect(res.statusCode, res.body).toBe(200);
    expect(Float32Array.from((res.json() as InferResponse).outputs[0]!.data as number[])).toEqual(ref.output);

    const json = await post('/v2/models/resnet20/infer', JSON.stringify({
      inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: [png.toString('base64')] }],
      outputs: [{ name: 'output' }],
    }));
    expect(json.statusCode, json.body).toBe(200);
    expect(Float32Array.from((json.json() as InferResponse).outputs[0]!.data as number[])).toEqual(ref.output);
  });

  it('takes a body without a content type', async () => {
    const res = await server.app.inject({ method: 'POST', url: '/v2/models/resnet20/infer', payload: Buffer.from(jsonInfer(values, 1)) });
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe('metrics and statistics', () => {
  it('exposes Triton\'s metric names with model and version labels', async () => {
    const res = await get('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const success = /nv_inference_request_success\{model="resnet20",version="1"\} (\d+)/.exec(res.body);
    expect(Number(success?.[1])).toBeGreaterThanOrEqual(8);
    for (const name of ['nv_inference_count', 'nv_inference_exec_count', 'nv_inference_request_duration_us',
      'nv_inference_queue_duration_us', 'nv_inference_compute_infer_duration_us', 'nv_inference_pending_request_count']) {
      expect(res.body).toMatch(new RegExp(`^${name}\\{model="resnet20",version="1"\\} `, 'm'));
    }
    expect(res.body).toMatch(/^process_resident_memory_bytes /m);
  });

  it('gives statistics for all models, one model, and one version', async () => {
    for (const url of ['/v2/models/stats', '/v2/models/resnet20/stats', '/v2/models/resnet20/versions/1/stats']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(200);
      const { model_stats: stats } = res.json() as { model_stats: { name: string; version: string; inference_count: number }[] };
      expect(stats.map((s) => [s.name, s.version])).toEqual([['resnet20', '1']]);
      expect(stats[0]!.inference_count).toBeGreaterThanOrEqual(9);
    }
    const unknown = await get('/v2/models/nope/stats');
    expect(unknown.statusCode).toBe(404);
  });
});

describe('routing', () => {
  it('answers 405 {"error"} to a wrong method, with Allow', async () => {
    const cases = [
      { method: 'POST' as const, url: '/v2/health/live', allow: 'GET, HEAD' },
      { method: 'DELETE' as const, url: '/v2/models/resnet20', allow: 'GET, HEAD' },
      { method: 'GET' as const, url: '/v2/models/resnet20/infer', allow: 'POST' },
      { method: 'PUT' as const, url: '/v2/models/resnet20/versions/1/infer', allow: 'POST' },
    ];
    for (const { method, url, allow } of cases) {
      const res = await server.app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expect(Object.keys(res.json())).toEqual(['error']);
    }
  });

  it('answers 404 {"error"} to an unknown route', async () => {
    for (const url of ['/', '/v1/models/resnet20:predict', '/v2/models/resnet20/versions/1/infer/more']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(Object.keys(res.json())).toEqual(['error']);
    }
  });
});

describe('bearer token', () => {
  let guarded: InferenceServer;
  beforeAll(async () => {
    guarded = resnet20Server({}, { authToken: 's3cret' });
    await guarded.start({ listen: false });
  });
  afterAll(async () => {
    await guarded.close();
  });

  it('lets health probes through without a token', async () => {
    expect((await guarded.app.inject({ url: '/v2/health/live' })).statusCode).toBe(200);
    expect((await guarded.app.inject({ url: '/v2/health/ready' })).statusCode).toBe(200);
  });

  it('answers 401 with WWW-Authenticate to a missing or wrong token, 200 to the right one', async () => {
    for (const authorization of [undefined, 'Bearer wrong', 'Bearer s3cre', 'Basic s3cret', 'Bearer s3cret2']) {
      for (const url of ['/v2', '/v2/models/resnet20', '/metrics', '/nowhere']) {
        const res = await guarded.app.inject({ url, headers: authorization === undefined ? {} : { authorization } });
        expect(res.statusCode, `${url} ${authorization}`).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        expect(Object.keys(res.json())).toEqual(['error']);
      }
    }
    const ok = await guarded.app.inject({ url: '/v2/models/resnet20', headers: { authorization: 'Bearer s3cret' } });
    expect(ok.statusCode).toBe(200);
    const infer = await guarded.app.inject({
      method: 'POST', url: '/v2/models/resnet20/infer', payload: jsonInfer(inputValues(1, 3), 1),
      headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' },
    });
    expect(infer.statusCode, infer.body).toBe(200);
  });
});

describe('over a socket', () => {
  it('listens on its address and answers binary inference', async () => {
    const live = resnet20Server();
    await live.start();
    try {
      expect(live.address).toMatchObject({ host: '127.0.0.1' });
      expect(live.address!.port).toBeGreaterThan(0);
      expect((await fetch(`${live.address!.url}/v2/health/ready`)).status).toBe(200);
      const values = inputValues(1, 4);
      const ref = await reference(live, values, 1);
      const { body, headerLength } = binaryInfer({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
        parameters: { binary_data_output: true },
        outputs: [{ name: 'output' }],
      }, bytesOf(values));
      const res = await fetch(`${live.address!.url}/v2/models/resnet20/infer`, {
        method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength), 'content-type': 'application/octet-stream' },
      });
      expect(res.status).toBe(200);
      const { binary } = splitResponse(Buffer.from(await res.arrayBuffer()), res.headers.get('inference-header-content-length') ?? undefined);
      expect(floatsOf(binary)).toEqual(ref.output);
    } finally {
      await live.close();
    }
  });
});

describe('versions', () => {
  it('serves two versions of one name: the highest answers unversioned URLs, /versions/N the one named', async () => {
    const { createServer } = await import('../../lib/server/index.js');
    const versioned = createServer({
      logLevel: 'silent',
      models: [
        { arch: 'resnet20', name: 'cifar', version: '1', maxQueueDelayMicroseconds: 0 },
        { arch: 'resnet32', name: 'cifar', version: '2', maxQueueDelayMicroseconds: 0 },
      ],
    });
    try {
      await versioned.start({ listen: false });
      const metadata = await versioned.app.inject({ method: 'GET', url: '/v2/models/cifar' });
      expect(metadata.json()).toMatchObject({ name: 'cifar', versions: ['2', '1'] });
      const values = inputValues(1, 5);
      const infer = async (url: string) => {
        const res = await versioned.app.inject({ method: 'POST', url, payload: jsonInfer(values, 1), headers: { 'content-type': 'application/json' } });
        expect(res.statusCode, url).toBe(200);
        return res.json() as InferResponse;
      };
      const latest = await infer('/v2/models/cifar/infer');
      const second = await infer('/v2/models/cifar/versions/2/infer');
      const first = await infer('/v2/models/cifar/versions/1/infer');
      expect([latest.model_version, second.model_version, first.model_version]).toEqual(['2', '2', '1']);
      // Version 2 is the other network: same output for the unversioned URL, another for version 1.
      expect(latest.outputs[0]!.data).toEqual(second.outputs[0]!.data);
      expect(first.outputs[0]!.data).not.toEqual(second.outputs[0]!.data);
    } finally {
      await versioned.close();
    }
  });
});
