/**
 * The gRPC endpoint from a client that is not ours: Python grpcio, with stubs compiled here from the project's
 * .proto by grpcio-tools (`python -m grpc_tools.protoc`), running test/fixtures/grpc_client.py against a
 * resnet20 server. Its answers must be those of the HTTP endpoint of the same server: health, server and model
 * metadata, the model configuration, FP32 and UINT8 inference with raw_input_contents (logits bit for bit),
 * classification, a stream with a bad request in it, statistics, and the refusals (unknown model, bad shape
 * and datatype, a message over maxBodyBytes, no token, an unimplemented method).
 *
 * The Python is RESNET_CUDNN_PYTHON when that one has grpcio and grpcio-tools, else /usr/bin/python3
 * (Debian's python3-grpcio and python3-grpc-tools, which scripts/setup.sh installs); without either the test
 * skips and says why.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { protoFolder } from '../helpers/grpc-client.js';
import { binaryInfer, bytesOf, floatsOf, inputValues, reference, resnet20Server, sampleSize, splitResponse } from '../helpers/server-helpers.js';

const candidates = [process.env.RESNET_CUDNN_PYTHON, '/usr/bin/python3'].filter((p): p is string => p !== undefined && p !== '');
const probes = candidates.map((python) => ({ python, probe: spawnSync(python, ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8', timeout: 60_000 }) }));
const python = probes.find(({ probe }) => probe.status === 0)?.python;
const skipReason = python !== undefined ? '' : probes.map(({ python: p, probe }) => (
  probe.error ? `${p} could not be run (${probe.error.message})` : `${p} cannot import grpc and grpc_tools: ${probe.stderr.trim().split('\n').pop()}`)).join('; ');
if (skipReason) {
  console.warn(`test/server/server-grpc-python.test.ts: the Python gRPC client is skipped: ${skipReason} `
    + '(install python3-grpcio and python3-grpc-tools, or set RESNET_CUDNN_PYTHON to a Python with grpcio and grpcio-tools)');
}

const clientScript = fileURLToPath(new URL('../fixtures/grpc_client.py', import.meta.url));
const token = 'python-grpc-token';

interface PythonInfer {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: string[];
}

interface PythonAnswers {
  live: boolean;
  ready: boolean;
  model_ready: boolean;
  server_metadata: Record<string, unknown>;
  model_metadata: { name: string; versions: string[]; platform: string; inputs: { shape: string[] }[]; outputs: { shape: string[] }[] };
  config: Record<string, unknown>;
  infer_fp32: PythonInfer;
  infer_uint8: PythonInfer;
  classification: PythonInfer;
  stream: { error_message: string; infer_response: PythonInfer }[];
  statistics: { model_stats: { inference_count?: string; inference_stats: { success: { count?: string }; fail: { count?: string } } }[] };
  [failure: string]: unknown;
}

describe.skipIf(python === undefined)('a Python grpcio client with stubs compiled from the project\'s .proto', () => {
  let server: InferenceServer;
  let scratch: string;
  let answers: PythonAnswers;
  const fp32 = inputValues(2, 61);
  const uint8 = Buffer.from(Array.from({ length: sampleSize }, (_, i) => (i * 53) % 256));

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), 'resnet-grpc-python-'));
    const compiled = spawnSync(python!, [
      '-m', 'grpc_tools.protoc', `-I${protoFolder}`, `--python_out=${scratch}`, `--grpc_python_out=${scratch}`, 'grpc_service.proto', 'model_config.proto',
    ], { encoding: 'utf8', timeout: 60_000 });
    expect(compiled.stderr).toBe('');
    expect(compiled.status).toBe(0);
    writeFileSync(path.join(scratch, 'fp32.bin'), bytesOf(fp32));
    writeFileSync(path.join(scratch, 'uint8.bin'), uint8);

    // 4 samples of FP32 fit; the client's 8-sample request does not.
    server = resnet20Server({ maxQueueDelayMicroseconds: 0 }, { authToken: token, maxBodyBytes: 64 * 1024 });
    await server.start();
    // Asynchronously: the server answers on this process's event loop while the client runs.
    const { spawn } = await import('node:child_process');
    const child = spawn(python!, [clientScript, server.grpcAddress!.target, token, path.join(scratch, 'fp32.bin'), path.join(scratch, 'uint8.bin')], {
      env: { ...process.env, PYTHONPATH: scratch },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    answers = JSON.parse(stdout) as PythonAnswers;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  async function http(url: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${server.address!.url}${url}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });
  }

  async function httpBinary(datatype: string, shape: number[], data: Buffer, outputs: object[]): Promise<Buffer> {
    const { body, headerLength } = binaryInfer({ inputs: [{ name: 'input', datatype, shape, parameters: { binary_data_size: data.length } }], outputs }, data);
    const res = await http('/v2/models/resnet20/infer', { method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength) } });
    expect(res.status).toBe(200);
    return splitResponse(Buffer.from(await res.arrayBuffer()), res.headers.get('inference-header-content-length') ?? undefined).binary;
  }

  const raw = (infer: PythonInfer, i: number) => Buffer.from(infer.raw_output_contents[i]!, 'base64');

  it('health and metadata are the HTTP answers', async () => {
    expect({ live: answers.live, ready: answers.ready, model_ready: answers.model_ready }).toEqual({ live: true, ready: true, model_ready: true });
    expect(answers.server_metadata).toEqual(await (await http('/v2')).json());
    // protobuf's JSON form writes int64 as strings.
    const httpModel = (await (await http('/v2/models/resnet20')).json()) as { inputs: { shape: number[] }[]; outputs: { shape: number[] }[] };
    const stringShapes = (tensors: { shape: number[] }[]) => tensors.map((t) => ({ ...t, shape: t.shape.map(String) }));
    expect(answers.model_metadata).toEqual({ ...httpModel, inputs: stringShapes(httpModel.inputs), outputs: stringShapes(httpModel.outputs) });
  });

  it('the model configuration holds the HTTP /config document\'s values', async () => {
    const httpConfig = (await (await http('/v2/models/resnet20/config')).json()) as {
      name: string; max_batch_size: number; input: { name: string; data_type: string; format: string; dims: number[] }[];
      output: { name: string; data_type: string; dims: number[] }[]; dynamic_batching: { default_queue_policy: { max_queue_size: number } };
      instance_group: { count: number; kind: string }[]; parameters: Record<string, { string_value: string }>;
    };
    expect(answers.config).toMatchObject({
      name: httpConfig.name,
      max_batch_size: httpConfig.max_batch_size,
      input: httpConfig.input.map((i) => ({ name: i.name, data_type: i.data_type, format: i.format, dims: i.dims.map(String) })),
      output: httpConfig.output.map((o) => ({ name: o.name, data_type: o.data_type, dims: o.dims.map(String) })),
      dynamic_batching: { default_queue_policy: { max_queue_size: httpConfig.dynamic_batching.default_queue_policy.max_queue_size } },
      instance_group: httpConfig.instance_group,
      parameters: httpConfig.parameters,
    });
  });

  it('FP32 and UINT8 inference with raw_input_contents: the HTTP endpoint\'s bytes, the engine\'s logits', async () => {
    expect(answers.infer_fp32).toMatchObject({
      model_name: 'resnet20', model_version: '1', id: 'py-fp32',
      outputs: [{ name: 'output', datatype: 'FP32', shape: [2, 10] }, { name: 'features', datatype: 'FP32', shape: [2, 64] }],
    });
    const viaHttp = await httpBinary('FP32', [2, 3, 32, 32], bytesOf(fp32), [{ name: 'output', parameters: { binary_data: true } }, { name: 'features', parameters: { binary_data: true } }]);
    expect(Buffer.concat([raw(answers.infer_fp32, 0), raw(answers.infer_fp32, 1)])).toEqual(viaHttp);
    expect(floatsOf(raw(answers.infer_fp32, 0))).toEqual((await reference(server, fp32, 2)).output);

    expect(answers.infer_uint8.outputs).toEqual([{ name: 'output', datatype: 'FP32', shape: [1, 10] }]);
    expect(raw(answers.infer_uint8, 0)).toEqual(await httpBinary('UINT8', [1, 32, 32, 3], uint8, [{ name: 'output', parameters: { binary_data: true } }]));
  });

  it('classification strings are the HTTP endpoint\'s', async () => {
    const { body, headerLength } = binaryInfer({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32], parameters: { binary_data_size: fp32.byteLength } }],
      outputs: [{ name: 'output', parameters: { classification: 2 } }],
    }, bytesOf(fp32));
    const res = await http('/v2/models/resnet20/infer', { method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength) } });
    const expected = ((await res.json()) as { outputs: { data: string[] }[] }).outputs[0]!.data;
    const bytes = raw(answers.classification, 0);
    const strings: string[] = [];
    for (let at = 0; at < bytes.length; at += 4 + bytes.readUInt32LE(at)) strings.push(bytes.subarray(at + 4, at + 4 + bytes.readUInt32LE(at)).toString());
    expect(answers.classification.outputs).toEqual([{ name: 'output', datatype: 'BYTES', shape: [2, 2] }]);
    expect(strings).toEqual(expected);
  });

  it('a stream answers in order, the bad request with the HTTP 400 message', async () => {
    expect(answers.stream.map((r) => r.infer_response.id)).toEqual(['s0', 's1', 's2']);
    expect(answers.stream.map((r) => r.error_message)).toEqual([
      '', `binary_data_size of input 'input' is ${fp32.byteLength}, expected ${(3 / 2) * fp32.byteLength} (${3 * sampleSize} FP32 elements × 4 bytes)`, '',
    ]);
    expect(answers.stream[2]!.infer_response.outputs.map((o) => o.shape)).toEqual([[1, 10], [1, 64]]);
  });

  it('statistics count the client\'s requests; refusals carry the HTTP messages and Triton\'s status codes', async () => {
    const stats = answers.statistics.model_stats[0]!;
    // Successful: 2 + 1 + 2 samples (FP32, UINT8, classification) and 2 + 1 in the stream.
    expect(stats.inference_count).toBe('8');
    expect(stats.inference_stats.success.count).toBe('5');
    expect(answers.unknown_model).toEqual({ code: 'NOT_FOUND', details: "unknown model 'nope'" });
    expect(answers.bad_shape).toEqual({
      code: 'INVALID_ARGUMENT', details: "unexpected shape for input 'input' for model 'resnet20'. Expected [-1,3,32,32] or [-1,32,32,3], got [2,3,32,31]",
    });
    expect(answers.bad_datatype).toEqual({
      code: 'INVALID_ARGUMENT', details: "inference input 'input' data-type is 'FP64', but model 'resnet20' expects 'FP32' or 'FP16' or 'UINT8' or 'BYTES'",
    });
    expect(answers.no_token).toEqual({ code: 'UNAUTHENTICATED', details: 'missing or invalid bearer token (Authorization: Bearer <token>)' });
    expect(answers.too_large).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect(answers.unimplemented).toMatchObject({ code: 'UNIMPLEMENTED' });
  });
});

if (python === undefined) {
  describe('a Python grpcio client', () => {
    it.skip(`skipped: ${skipReason}`, () => undefined);
  });
}
