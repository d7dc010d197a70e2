// @ts-check
/**
 * The load: one prebuilt binary-tensor inference request (Triton's binary_tensor_data extension: a
 * JSON header, then the FP32 input as raw little-endian bytes; the output asked back as binary),
 * driven by autocannon with a fixed number of connections for a fixed time.
 * @module
 */
import autocannon from 'autocannon';

/**
 * The request body for one sample of `input` (its shape from model metadata, batch dimension -1).
 * Pixel values are a fixed pattern: the model's speed does not depend on them.
 * @param {{ name: string; shape: number[] }} input
 * @param {string} output the output to ask back, as binary
 */
export function binaryInferRequest(input, output) {
  const shape = [1, ...input.shape.slice(1)];
  const elements = shape.reduce((a, b) => a * b, 1);
  const tensor = Buffer.alloc(elements * 4);
  for (let i = 0; i < elements; i++) tensor.writeFloatLE(Math.sin(i * 0.001), i * 4);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: input.name, shape, datatype: 'FP32', parameters: { binary_data_size: tensor.length } }],
      outputs: [{ name: output, parameters: { binary_data: true } }],
    }),
  );
  return {
    body: Buffer.concat([header, tensor]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
  };
}

/**
 * Sends the request once and checks the answer is a binary FP32 output of `outputElements` values:
 * a load test of a server that answers 400 would measure nothing.
 * @param {string} url the infer URL
 * @param {ReturnType<typeof binaryInferRequest>} request
 * @param {number} outputElements
 */
export async function checkOneRequest(url, request, outputElements) {
  const res = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`POST ${url} answered ${res.status}: ${body.toString().slice(0, 500)}`);
  const headerLength = Number(res.headers.get('inference-header-content-length'));
  if (!Number.isInteger(headerLength) || headerLength <= 0) {
    throw new Error(`POST ${url}: no inference-header-content-length in the answer (binary output expected)`);
  }
  const binaryBytes = body.length - headerLength;
  if (binaryBytes !== outputElements * 4) {
    throw new Error(`POST ${url}: ${binaryBytes} bytes of binary output, expected ${outputElements * 4} (${outputElements} FP32)`);
  }
}

/**
 * One autocannon run; latencies in milliseconds, of 2xx answers only (autocannon's own rule).
 * @param {{ url: string; request: ReturnType<typeof binaryInferRequest>; connections: number; seconds: number; timeoutSeconds: number }} options
 */
export async function drive(options) {
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    headers: options.request.headers,
    body: options.request.body,
    connections: options.connections,
    pipelining: 1,
    duration: options.seconds,
    timeout: options.timeoutSeconds,
  });
  /** @type {Record<string, number>} */
  const statusCodes = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count;
  return {
    seconds: result.duration,
    ok: result['2xx'],
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    requestsPerSecond: result['2xx'] / result.duration,
    latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  };
}
