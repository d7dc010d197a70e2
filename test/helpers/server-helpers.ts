/**
 * Helpers of the server tests: a resnet20 server (random weights: outputs are meaningless but exact),
 * request bodies in JSON and binary form, and response decoding.
 */
import { createServer, type InferenceServer } from '../../lib/server/index.js';
import type { ModelOptions, ServerOptions } from '../../lib/server/types.js';
import type { ModelInput } from '../../lib/server/served-model.js';
import { uniform } from './helpers.js';

/** resnet20 (CIFAR): input `[3, 32, 32]`, outputs `output` `[10]` and `features` `[64]`. */
export const sampleSize = 3 * 32 * 32;

/** A resnet20 server with silent logs; `model` and `server` override the defaults. */
export function resnet20Server(model: Partial<ModelOptions> = {}, server: Partial<ServerOptions> = {}): InferenceServer {
  return createServer({
    models: [{ arch: 'resnet20', ...model }],
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    ...server,
  });
}

/** `n` samples of seeded input values. */
export function inputValues(n: number, seed: number): Float32Array {
  return uniform(n * sampleSize, seed, -2, 2);
}

/** A JSON infer body for FP32 `values` of `n` samples. */
export function jsonInfer(values: Float32Array, n: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 3, 32, 32], data: Array.from(values) }],
    ...extra,
  });
}

/** A JSON header plus binary tensor bytes, with the header length the request must declare. */
export function binaryInfer(header: object, ...parts: Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}

/** The little-endian bytes of `values`. */
export function bytesOf(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** Splits a binary response into its JSON header and binary part. */
export function splitResponse(body: Buffer, headerLength: string | undefined): { header: InferResponse; binary: Buffer } {
  if (headerLength === undefined) return { header: JSON.parse(body.toString('utf8')) as InferResponse, binary: Buffer.alloc(0) };
  const n = Number(headerLength);
  return { header: JSON.parse(body.subarray(0, n).toString('utf8')) as InferResponse, binary: body.subarray(n) };
}

/** Float32 values read from (possibly unaligned) little-endian bytes. */
export function floatsOf(bytes: Buffer): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/** The response shape the tests read. */
export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: { name: string; datatype: string; shape: number[]; data?: (number | string)[]; parameters?: Record<string, unknown> }[];
}

/**
 * What the unbatched engine computes for `values` (`n` samples): the reference of the server's answers.
 * Run as the server runs a request sent on its own (alone: with every CPU thread), so the two agree to
 * the bit; batches formed under load run on an instance's share of the threads, within float32 rounding.
 */
export async function reference(server: InferenceServer, values: Float32Array | ModelInput, n: number): Promise<{ output: Float32Array; features: Float32Array }> {
  const model = server.models.get('resnet20')!;
  const [output, features] = await model.execute(values, n, { alone: true });
  return { output: output!, features: features! };
}
