/**
 * Writing an inference response (protocol §6.2, §9, §10): the requested outputs in the order the client
 * listed them, each as JSON `data` or as binary bytes after the JSON header, raw or as classification
 * strings, or written into the shared-memory range the client named (then listed with its parameters and
 * no data). Key order follows the protocol's schema, as Triton writes it.
 * @module
 */
import { classify } from './classification.js';
import { HttpError } from './http-error.js';
import { bytesToBinary, elementCount, float32IntoBytes, float32ToBinary } from './tensor-data.js';
import type { ComputedOutput, Datatype, ModelSignature, OutputSignature, ParsedInferRequest, RequestedOutput } from './types.js';

/**
 * One output of the response JSON: `data`, or `parameters` that say where its bytes are (after the
 * header, or in shared memory).
 */
export interface ResponseOutput {
  name: string;
  datatype: Datatype;
  shape: number[];
  parameters?: { binary_data_size: number } | { shared_memory_region: string; shared_memory_offset: number; shared_memory_byte_size: number };
  data?: (number | string)[];
}

/**
 * The response to `request` given the model's computed `outputs` (one per requested name, covering the
 * request's batch). JSON alone: `content-type: application/json`. With any binary output: the JSON
 * header then the binary parts in output order, `inference-header-content-length` and
 * `content-type: application/octet-stream`. A computed output that is missing or the wrong size is a
 * bug of the caller (plain `Error`, a 500).
 */
export function encodeInferResponse(
  signature: ModelSignature, request: ParsedInferRequest, outputs: ComputedOutput[],
): { body: Buffer; headers: Record<string, string> } {
  const encoded = encodeOutputs(signature, request, outputs);
  const entries = encoded.map(({ entry }) => entry);
  const binaryParts = encoded.flatMap(({ binary }) => (binary === null ? [] : [binary]));

  // Key order as the schema lists it: model_name, model_version, id (when the request had one), outputs.
  const response = {
    model_name: signature.name,
    model_version: signature.version,
    ...(request.id === undefined ? {} : { id: request.id }),
    outputs: entries,
  };
  const json = Buffer.from(JSON.stringify(response), 'utf8');
  if (binaryParts.length === 0) return { body: json, headers: { 'content-type': 'application/json' } };
  return {
    body: Buffer.concat([json, ...binaryParts]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
  };
}

/**
 * Each output `request` asked for, in its order: the entry of the response JSON and the output's bytes when it
 * is binary (null when it is JSON `data` or was written to shared memory). The gRPC endpoint reads these too,
 * with every output binary. A computed output that is missing or the wrong size is a bug of the caller.
 */
export function encodeOutputs(
  signature: ModelSignature, request: ParsedInferRequest, outputs: ComputedOutput[],
): { entry: ResponseOutput; binary: Buffer | null }[] {
  return request.outputs.map((wanted) => {
    const declared = signature.outputs.find((output) => output.name === wanted.name);
    const computed = outputs.find((output) => output.name === wanted.name);
    if (declared === undefined || computed === undefined) throw new Error(`encodeInferResponse: no computed output '${wanted.name}' for model '${signature.name}'`);
    const expected = request.batchSize * elementCount(declared.sampleShape);
    if (computed.values.length !== expected) {
      throw new Error(`encodeInferResponse: output '${wanted.name}' has ${computed.values.length} values, expected ${expected}`);
    }
    return encodeOutput(declared, wanted, computed.values, request.batchSize);
  });
}

function encodeOutput(
  declared: OutputSignature, wanted: RequestedOutput, values: Float32Array, batchSize: number,
): { entry: ResponseOutput; binary: Buffer | null } {
  if (wanted.sharedMemory !== undefined) {
    // The parser checked that the range holds the output and that it is neither classified nor binary.
    const { region, offset, bytes } = wanted.sharedMemory;
    const written = float32IntoBytes(values, bytes);
    const shape = [batchSize, ...declared.sampleShape];
    const parameters = { shared_memory_region: region, shared_memory_offset: offset, shared_memory_byte_size: written };
    return { entry: { name: declared.name, datatype: 'FP32', shape, parameters }, binary: null };
  }
  if (wanted.classification > 0) {
    const classes = declared.sampleShape[0]!;
    const strings = classify(values, batchSize, classes, wanted.classification, declared.labels);
    const head = { name: declared.name, datatype: 'BYTES' as const, shape: [batchSize, wanted.classification] };
    if (!wanted.binary) return { entry: { ...head, data: strings }, binary: null };
    const binary = bytesToBinary(strings);
    return { entry: { ...head, parameters: { binary_data_size: binary.length } }, binary };
  }
  const head = { name: declared.name, datatype: 'FP32' as const, shape: [batchSize, ...declared.sampleShape] };
  if (wanted.binary) {
    const binary = float32ToBinary(values);
    return { entry: { ...head, parameters: { binary_data_size: binary.length } }, binary };
  }
  return { entry: { ...head, data: jsonNumbers(values, declared.name) }, binary: null };
}

/**
 * Float32 values as JSON numbers: each float32 exactly, as the double it widens to (`0.1f` is written
 * `0.10000000149011612`, as Triton's JSON does). The shortest float32 decimal would be shorter text but
 * costs 2-4 µs a value on the event loop (4 ms for 1000 logits), which a busy server cannot spare;
 * clients that care about size ask for binary. JSON has no NaN or Infinity: such a value is a 500 that
 * tells the client to ask for binary output, never a silent `null`.
 */
function jsonNumbers(values: Float32Array, name: string): number[] {
  const numbers = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (!Number.isFinite(value)) {
      throw new HttpError(500, `output '${name}' holds ${value} at element ${i}, which JSON cannot carry; request it with binary_data`, { reason: 'BACKEND' });
    }
    numbers[i] = value;
  }
  return numbers;
}
