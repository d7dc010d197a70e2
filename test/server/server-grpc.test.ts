/**
 * The gRPC endpoint (Triton's `inference.GRPCInferenceService`) against the HTTP endpoint of the same server,
 * from a @grpc/grpc-js client with stubs loaded from the project's .proto: health, server and model metadata,
 * the model configuration, inference with FP32, UINT8 and BYTES inputs (raw and typed contents) and
 * classification, whose logits must equal the HTTP endpoint's for the same input bit for bit (and the
 * engine's own); every bad input with the HTTP 400's own message as INVALID_ARGUMENT, unknown models
 * NOT_FOUND, messages over maxBodyBytes RESOURCE_EXHAUSTED, a missing or wrong token UNAUTHENTICATED, methods
 * this server lacks UNIMPLEMENTED; and the statistics and metrics counting gRPC as they count HTTP.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { bearer, failureOf, servingGrpc } from '../helpers/grpc-client.js';
import {
  binaryInfer, bytesOf, floatsOf, inputValues, reference, resnet20Server, sampleSize, splitResponse, type InferResponse,
} from '../helpers/server-helpers.js';

const token = 'grpc-conformance-token';
const auth = { metadata: bearer(token) };
/** A limit the tests can exceed cheaply: 5 FP32 samples of resnet20 (12 KiB each) are over it. */
const maxBodyBytes = 64 * 1024;

const serving = servingGrpc(() => resnet20Server({ maxQueueDelayMicroseconds: 0 }, { authToken: token, maxBodyBytes }));

/** An HTTP request to the same server, with the token. */
async function http(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${serving.server.address!.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });
}

/** An HTTP binary infer of one input given as raw bytes; the outputs asked for in binary. */
async function httpInfer(input: { datatype: string; shape: number[] }, data: Buffer, outputs = ['output', 'features']): Promise<{ status: number; header: InferResponse; binary: Buffer; error?: string }> {
  const { body, headerLength } = binaryInfer({
    inputs: [{ name: 'input', ...input, parameters: { binary_data_size: data.length } }],
    outputs: outputs.map((name) => ({ name, parameters: { binary_data: true } })),
  }, data);
  const res = await http('/v2/models/resnet20/infer', { method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength) } });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return { status: res.status, header: { model_name: '', outputs: [] }, binary: bytes, error: (JSON.parse(bytes.toString()) as { error: string }).error };
  return { status: res.status, ...splitResponse(bytes, res.headers.get('inference-header-content-length') ?? undefined) };
}

interface GrpcInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: Buffer[];
}

async function grpcInfer(request: object, options = auth): Promise<GrpcInferResponse> {
  return (await serving.client.call('ModelInfer', { model_name: 'resnet20', ...request }, options)) as unknown as GrpcInferResponse;
}

/** BYTES elements as the protocol's binary form: each a 4-byte little-endian length, then the bytes. */
function lengthPrefixed(...elements: Buffer[]): Buffer {
  return Buffer.concat(elements.flatMap((element) => {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(element.length);
    return [length, element];
  }));
}

/** The strings of a binary BYTES tensor. */
function stringsOf(bytes: Buffer): string[] {
  const strings: string[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const length = bytes.readUInt32LE(offset);
    strings.push(bytes.subarray(offset + 4, offset + 4 + length).toString('utf8'));
    offset += 4 + length;
  }
  return strings;
}

describe('health and metadata', () => {
  it('answers ServerLive and ServerReady without a token, as /v2/health/* does', async () => {
    expect(await serving.client.call('ServerLive', {})).toEqual({ live: true });
    expect(await serving.client.call('ServerReady', {})).toEqual({ ready: true });
    expect((await http('/v2/health/ready', { headers: { authorization: '' } })).status).toBe(200);
  });

  it('answers ModelReady with the token; an unknown model or version is NOT_FOUND with the HTTP 404 message', async () => {
    expect(await serving.client.call('ModelReady', { name: 'resnet20' }, auth)).toEqual({ ready: true });
    expect(await serving.client.call('ModelReady', { name: 'resnet20', version: '1' }, auth)).toEqual({ ready: true });
    for (const [name, version, path] of [['nope', '', '/v2/models/nope/ready'], ['resnet20', '2', '/v2/models/resnet20/versions/2/ready']] as const) {
      const failure = await failureOf(serving.client.call('ModelReady', { name, version }, auth));
      const res = await http(path);
      expect(res.status).toBe(404);
      expect(failure).toEqual({ code: 'NOT_FOUND', details: ((await res.json()) as { error: string }).error });
    }
  });

  it('ServerMetadata and ModelMetadata are the HTTP documents', async () => {
    expect(await serving.client.call('ServerMetadata', {}, auth)).toEqual(await (await http('/v2')).json());
    const httpModel = await (await http('/v2/models/resnet20')).json();
    expect(httpModel).toMatchObject({ name: 'resnet20', inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 32, 32] }] });
    expect(await serving.client.call('ModelMetadata', { name: 'resnet20' }, auth)).toEqual(httpModel);
    expect(await serving.client.call('ModelMetadata', { name: 'resnet20', version: '1' }, auth)).toEqual(httpModel);
  });

  it('ModelConfig holds every field of the HTTP /config document, with the same values', async () => {
    const httpConfig = (await (await http('/v2/models/resnet20/config')).json()) as Record<string, unknown>;
    const { config } = (await serving.client.call('ModelConfig', { name: 'resnet20' }, auth)) as { config: Record<string, unknown> };
    expect(httpConfig).toMatchObject({ max_batch_size: 8, input: [{ data_type: 'TYPE_FP32', format: 'FORMAT_NCHW', dims: [3, 32, 32] }] });
    expect(config).toMatchObject(httpConfig);
    // The fields proto3 adds at their defaults are the only others.
    expect(config).toMatchObject({ scheduling_choice: 'dynamic_batching' });
  });
});

describe('ModelInfer', () => {
  it('FP32 in raw_input_contents: the logits and features of the HTTP endpoint and of the engine, bit for bit', async () => {
    const values = inputValues(2, 41);
    const response = await grpcInfer({ id: 'req-7', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32] }], raw_input_contents: [bytesOf(values)] });
    expect(response).toMatchObject({
      model_name: 'resnet20', model_version: '1', id: 'req-7',
      outputs: [{ name: 'output', datatype: 'FP32', shape: [2, 10] }, { name: 'features', datatype: 'FP32', shape: [2, 64] }],
    });
    const viaHttp = await httpInfer({ datatype: 'FP32', shape: [2, 3, 32, 32] }, bytesOf(values));
    expect(viaHttp.status).toBe(200);
    expect(Buffer.concat(response.raw_output_contents)).toEqual(viaHttp.binary);
    const ref = await reference(serving.server, values, 2);
    expect(floatsOf(response.raw_output_contents[0]!)).toEqual(ref.output);
    expect(floatsOf(response.raw_output_contents[1]!)).toEqual(ref.features);
  });

  it('FP32 in fp32_contents answers as its raw bytes do; the outputs asked for come in their order', async () => {
    const values = inputValues(1, 42);
    const typed = await grpcInfer({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], contents: { fp32_contents: Array.from(values) } }],
      outputs: [{ name: 'features' }, { name: 'output' }],
    });
    expect(typed.outputs.map((output) => output.name)).toEqual(['features', 'output']);
    const ref = await reference(serving.server, values, 1);
    expect(floatsOf(typed.raw_output_contents[0]!)).toEqual(ref.features);
    expect(floatsOf(typed.raw_output_contents[1]!)).toEqual(ref.output);
  });

  it('UINT8 pixels (NHWC) in raw bytes and in uint_contents give the HTTP endpoint\'s logits', async () => {
    const pixels = Buffer.from(Array.from({ length: sampleSize }, (_, i) => (i * 37) % 256));
    const input = { datatype: 'UINT8', shape: [1, 32, 32, 3] };
    const viaHttp = await httpInfer(input, pixels, ['output']);
    expect(viaHttp.status).toBe(200);
    const raw = await grpcInfer({ inputs: [{ name: 'input', ...input }], outputs: [{ name: 'output' }], raw_input_contents: [pixels] });
    const typed = await grpcInfer({ inputs: [{ name: 'input', ...input, contents: { uint_contents: [...pixels] } }], outputs: [{ name: 'output' }] });
    expect(raw.outputs).toMatchObject([{ name: 'output', datatype: 'FP32', shape: [1, 10] }]);
    expect(raw.raw_output_contents[0]).toEqual(viaHttp.binary);
    expect(typed.raw_output_contents[0]).toEqual(viaHttp.binary);
  });

  it('BYTES images in bytes_contents and in raw bytes give the HTTP endpoint\'s logits', async () => {
    const rgb = Buffer.from(Array.from({ length: 40 * 48 * 3 }, (_, i) => (i * 11) % 256));
    const png = await sharp(rgb, { raw: { width: 48, height: 40, channels: 3 } }).png().toBuffer();
    const viaHttp = await httpInfer({ datatype: 'BYTES', shape: [1] }, lengthPrefixed(png), ['output']);
    expect(viaHttp.status).toBe(200);
    const typed = await grpcInfer({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [png] } }], outputs: [{ name: 'output' }] });
    const raw = await grpcInfer({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [1] }], outputs: [{ name: 'output' }], raw_input_contents: [lengthPrefixed(png)] });
    expect(typed.raw_output_contents[0]).toEqual(viaHttp.binary);
    expect(raw.raw_output_contents[0]).toEqual(viaHttp.binary);
  });

  it('classification (int64_param) answers BYTES strings, the HTTP endpoint\'s', async () => {
    const values = inputValues(2, 43);
    const response = await grpcInfer({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32] }],
      outputs: [{ name: 'output', parameters: { classification: { int64_param: 3 } } }],
      raw_input_contents: [bytesOf(values)],
    });
    expect(response.outputs).toMatchObject([{ name: 'output', datatype: 'BYTES', shape: [2, 3] }]);
    const { body, headerLength } = binaryInfer({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
      outputs: [{ name: 'output', parameters: { classification: 3 } }],
    }, bytesOf(values));
    const res = await http('/v2/models/resnet20/infer', { method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength) } });
    const viaHttp = (await res.json()) as InferResponse;
    expect(stringsOf(response.raw_output_contents[0]!)).toEqual(viaHttp.outputs[0]!.data);
    expect(stringsOf(response.raw_output_contents[0]!)).toHaveLength(6);
  });
});

describe('bad input', () => {
  const one = bytesOf(inputValues(1, 44));
  const fp32 = (shape: number[]) => ({ name: 'input', datatype: 'FP32', shape });

  it('unknown model or version: NOT_FOUND with the HTTP message', async () => {
    const failure = await failureOf(serving.client.call('ModelInfer', { model_name: 'nope', inputs: [fp32([1, 3, 32, 32])], raw_input_contents: [one] }, auth));
    const res = await http('/v2/models/nope/infer', { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(failure).toEqual({ code: 'NOT_FOUND', details: ((await res.json()) as { error: string }).error });
    expect(await failureOf(grpcInfer({ model_version: '9', inputs: [fp32([1, 3, 32, 32])], raw_input_contents: [one] })))
      .toMatchObject({ code: 'NOT_FOUND', details: "unknown version '9' of model 'resnet20' (it has '1')" });
  });

  it('shapes, datatypes, batch sizes, sizes and names: INVALID_ARGUMENT with the HTTP 400 message', async () => {
    const cases: { input: { name: string; datatype: string; shape: number[] }; outputs?: object[]; expected: string }[] = [
      { input: fp32([1, 3, 31, 32]), expected: "unexpected shape for input 'input' for model 'resnet20'. Expected [-1,3,32,32] or [-1,32,32,3], got [1,3,31,32]" },
      { input: fp32([9, 3, 32, 32]), expected: "inference request batch-size must be <= 8 for 'resnet20', got 9 for input 'input'" },
      { input: fp32([0, 3, 32, 32]), expected: "inference request batch-size must be >= 1 for 'resnet20', got [0,3,32,32] for input 'input'" },
      { input: { name: 'input', datatype: 'INT64', shape: [1, 3, 32, 32] }, expected: "inference input 'input' data-type is 'INT64', but model 'resnet20' expects 'FP32' or 'FP16' or 'UINT8' or 'BYTES'" },
      { input: { name: 'pixels', datatype: 'FP32', shape: [1, 3, 32, 32] }, expected: "unexpected inference input 'pixels' for model 'resnet20'" },
      { input: fp32([2, 3, 32, 32]), expected: `binary_data_size of input 'input' is ${one.length}, expected ${2 * one.length} (${2 * sampleSize} FP32 elements × 4 bytes)` },
      { input: fp32([1, 3, 32, 32]), outputs: [{ name: 'logits' }], expected: "unexpected inference output 'logits' for model 'resnet20'" },
    ];
    for (const { input, outputs = [], expected } of cases) {
      const failure = await failureOf(grpcInfer({ inputs: [input], outputs, raw_input_contents: [one] }));
      const { body, headerLength } = binaryInfer({ inputs: [{ ...input, parameters: { binary_data_size: one.length } }], outputs }, one);
      const res = await http('/v2/models/resnet20/infer', { method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength) } });
      expect(res.status, expected).toBe(400);
      const { error } = (await res.json()) as { error: string };
      expect(error).toBe(expected);
      expect(failure).toEqual({ code: 'INVALID_ARGUMENT', details: expected });
    }
  });

  it('where the data is: missing, extra, mixed raw and typed, the wrong typed field, FP16 typed', async () => {
    const cases: [object, string][] = [
      [{ inputs: [fp32([1, 3, 32, 32])] }, "unable to find data for input 'input' for model 'resnet20' in request"],
      [{ inputs: [fp32([1, 3, 32, 32])], raw_input_contents: [one, one] }, 'the request has 2 raw_input_contents but only 1 input takes its data from them'],
      [{ inputs: [{ ...fp32([1, 3, 32, 32]), contents: { fp32_contents: [1] } }], raw_input_contents: [one] }, "contents field must not be specified when using raw_input_contents for input 'input'"],
      [{ inputs: [{ ...fp32([1, 3, 32, 32]), contents: { uint_contents: [1] } }] }, "input 'input' is FP32 but its elements are in uint_contents; FP32 elements go in fp32_contents"],
      [{ inputs: [{ ...fp32([1, 3, 32, 32]), contents: { uint_contents: [1], fp32_contents: [1] } }] }, "input 'input' has elements in both uint_contents and fp32_contents"],
      [{ inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 32, 32], contents: { fp32_contents: [1] } }] }, "input 'input' is FP16, which has no typed contents field"],
      [{ inputs: [{ ...fp32([1, 3, 32, 32]), contents: { fp32_contents: [1, 2] } }] }, `input 'input' has 2 elements in 'data' but its shape [1,3,32,32] needs ${sampleSize}`],
      [{ inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 32, 32, 3], contents: { uint_contents: [256, ...new Array<number>(sampleSize - 1).fill(0)] } }] },
        "element 0 of input 'input' must be an integer from 0 to 255 (UINT8), got 256"],
      [{ inputs: [{ ...fp32([1, 3, 32, 32]), parameters: { binary_data_size: { int64_param: 4 } } }], raw_input_contents: [one] }, "input 'input' has a binary_data_size parameter, which is HTTP's"],
      [{ inputs: [fp32([1, 3, 32, 32])], raw_input_contents: [one], parameters: { sequence_id: { int64_param: 1 } } }, 'unsupported parameter "sequence_id" in the inference request'],
      [{ inputs: [fp32([1, 3, 32, 32])], raw_input_contents: [one], parameters: { timeout: { string_param: 'soon' } } }, "parameter 'timeout' of the inference request must be a non-negative integer"],
      [{ inputs: [fp32([1, 3, 32, 32])], raw_input_contents: [one], outputs: [{ name: 'output', parameters: { classification: { int64_param: 11 } } }] },
        "parameter 'classification' of output 'output' asks for the top 11 but it has 10 classes"],
      [{ inputs: [{ ...fp32([1, 3, 32, 32]), parameters: { shared_memory_region: { string_param: 'r' }, shared_memory_byte_size: { int64_param: 4 } } }] },
        "input 'input' names shared memory region 'r', but system shared memory is disabled"],
    ];
    for (const [request, message] of cases) {
      const failure = await failureOf(grpcInfer(request));
      expect(failure.code, message).toBe('INVALID_ARGUMENT');
      expect(failure.details).toContain(message);
    }
  });

  it('a message over maxBodyBytes is RESOURCE_EXHAUSTED, before it is read', async () => {
    const values = inputValues(6, 45);
    expect(values.byteLength).toBeGreaterThan(maxBodyBytes);
    const failure = await failureOf(grpcInfer({ inputs: [fp32([6, 3, 32, 32])], raw_input_contents: [bytesOf(values)] }));
    expect(failure.code).toBe('RESOURCE_EXHAUSTED');
    expect(failure.details).toContain(String(maxBodyBytes));
    // Under the limit, the same shape family is served.
    const fits = await grpcInfer({ inputs: [fp32([4, 3, 32, 32])], outputs: [{ name: 'output' }], raw_input_contents: [bytesOf(inputValues(4, 45))] });
    expect(fits.outputs[0]!.shape).toEqual([4, 10]);
  });

  it('a missing, malformed or wrong token is UNAUTHENTICATED on every method but ServerLive and ServerReady', async () => {
    const request = { inputs: [fp32([1, 3, 32, 32])], raw_input_contents: [one] };
    for (const options of [{}, { metadata: bearer('wrong') }, { metadata: bearer(`${token}x`) }]) {
      const failure = await failureOf(grpcInfer(request, options as typeof auth));
      expect(failure).toEqual({ code: 'UNAUTHENTICATED', details: 'missing or invalid bearer token (Authorization: Bearer <token>)' });
      for (const method of ['ModelReady', 'ServerMetadata', 'ModelMetadata', 'ModelConfig', 'ModelStatistics', 'SystemSharedMemoryStatus', 'RepositoryIndex']) {
        expect((await failureOf(serving.client.call(method, { name: 'resnet20' }, options))).code, method).toBe('UNAUTHENTICATED');
      }
    }
  });

  it('methods this server lacks are UNIMPLEMENTED, saying why; shared memory is refused as over HTTP', async () => {
    for (const method of ['RepositoryIndex', 'RepositoryModelLoad', 'RepositoryModelUnload', 'TraceSetting', 'LogSettings', 'CudaSharedMemoryStatus', 'CudaSharedMemoryRegister']) {
      const failure = await failureOf(serving.client.call(method, {}, auth));
      expect(failure.code, method).toBe('UNIMPLEMENTED');
      expect(failure.details.length, method).toBeGreaterThan(30);
    }
    const shm = await failureOf(serving.client.call('SystemSharedMemoryStatus', {}, auth));
    const res = await http('/v2/systemsharedmemory/status');
    expect(res.status).toBe(400);
    expect(shm).toEqual({ code: 'INVALID_ARGUMENT', details: ((await res.json()) as { error: string }).error });
  });
});

describe('statistics and metrics', () => {
  it('ModelStatistics is the HTTP statistics document, and counts gRPC requests as HTTP ones', async () => {
    const stats = async () => (await serving.client.call('ModelStatistics', { name: 'resnet20' }, auth)) as {
      model_stats: { name: string; version: string; inference_count: number; inference_stats: { success: { count: number }; fail: { count: number } } }[];
    };
    const before = (await stats()).model_stats[0]!;
    expect(before).toMatchObject({ name: 'resnet20', version: '1' });
    const httpBefore = ((await (await http('/v2/models/resnet20/stats')).json()) as { model_stats: typeof before[] }).model_stats[0]!;
    expect(before.inference_stats.success.count).toBe(httpBefore.inference_stats.success.count);
    expect(before.inference_count).toBe(httpBefore.inference_count);

    await grpcInfer({ inputs: [fp32Input(3)], raw_input_contents: [bytesOf(inputValues(3, 46))] });
    await failureOf(grpcInfer({ inputs: [fp32Input(1)] }));
    const after = (await stats()).model_stats[0]!;
    expect(after.inference_stats.success.count).toBe(before.inference_stats.success.count + 1);
    expect(after.inference_stats.fail.count).toBe(before.inference_stats.fail.count + 1);
    expect(after.inference_count).toBe(before.inference_count + 3);

    const all = (await serving.client.call('ModelStatistics', {}, auth)) as { model_stats: unknown[] };
    expect(all.model_stats).toHaveLength(1);
    expect((await failureOf(serving.client.call('ModelStatistics', { name: 'nope' }, auth))).code).toBe('NOT_FOUND');
  });

  it('/metrics counts the gRPC calls by method and status code', async () => {
    const count = async (method: string, code: string) => {
      const text = await (await http('/metrics')).text();
      return Number(new RegExp(`resnet_grpc_calls_total\\{method="${method}",code="${code}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };
    const [ok, invalid] = [await count('ModelInfer', 'OK'), await count('ModelInfer', 'INVALID_ARGUMENT')];
    await grpcInfer({ inputs: [fp32Input(1)], raw_input_contents: [bytesOf(inputValues(1, 47))] });
    await failureOf(grpcInfer({ inputs: [fp32Input(1)] }));
    await failureOf(grpcInfer({ inputs: [fp32Input(1)] }));
    expect(await count('ModelInfer', 'OK')).toBe(ok + 1);
    expect(await count('ModelInfer', 'INVALID_ARGUMENT')).toBe(invalid + 2);
  });
});

function fp32Input(batch: number) {
  return { name: 'input', datatype: 'FP32', shape: [batch, 3, 32, 32] };
}
