/**
 * Writing a `ModelInferResponse`: the outputs the request asked for, in its order, each with its bytes in
 * `raw_output_contents` (little-endian FP32 logits or features; BYTES classification strings each as a 4-byte
 * length then the text), or written into the shared-memory range the client named (then an empty entry, as
 * Triton writes it). The outputs are encoded by the HTTP encoder ({@link encodeOutputs}), so both protocols
 * send the same bytes.
 * @module
 * @internal
 */
import { encodeOutputs } from '../infer-response.js';
import type { ComputedOutput, ModelSignature, ParsedInferRequest } from '../types.js';
import type { ModelInferResponse } from './messages.js';

/** The response to `request` (parsed for gRPC: every output binary or in shared memory) given the computed `outputs`. */
export function modelInferResponse(signature: ModelSignature, request: ParsedInferRequest, outputs: ComputedOutput[]): ModelInferResponse {
  const encoded = encodeOutputs(signature, request, outputs);
  return {
    model_name: signature.name,
    model_version: signature.version,
    id: request.id ?? '',
    outputs: encoded.map(({ entry }) => ({ name: entry.name, datatype: entry.datatype, shape: entry.shape })),
    raw_output_contents: encoded.map(({ binary }) => binary ?? Buffer.alloc(0)),
  };
}
