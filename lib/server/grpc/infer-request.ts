/**
 * Reading a `ModelInferRequest`: it is put in the HTTP protocol's form — the JSON inference header and the
 * binary part — and parsed by the very parser of the HTTP route ({@link parseInferRequest}), so every check
 * (names, datatypes, shapes, batch sizes, sizes, parameters, shared memory) and its message are the same over
 * both protocols. What is gRPC's own is checked here, in Triton's words where Triton has words:
 *
 * - **Where each input's data is.** In a shared-memory region (its parameters say so), in typed `contents`,
 *   or in the next entry of `raw_input_contents` (the inputs that use neither, in order). Raw bytes and typed
 *   contents do not mix in one request.
 * - **Typed contents.** One field, the one of the input's datatype: `fp32_contents` for FP32, `uint_contents`
 *   for UINT8 (one element per value, each checked to be 0..255), `bytes_contents` for BYTES images. FP16 has
 *   no typed field (raw only, as in Triton). Numbers go to the parser as JSON `data` would, and BYTES elements
 *   as the binary form (4-byte length, then the bytes).
 *
 * Raw bytes are not copied: with one raw input (a ResNet has one) the binary part is that entry itself.
 * @module
 * @internal
 */
import { badRequest } from '../http-error.js';
import { parseInferRequest } from '../infer-request.js';
import type { SharedMemoryLeases } from '../shared-memory.js';
import { bytesToBinary } from '../tensor-data.js';
import type { ModelSignature, ParsedInferRequest } from '../types.js';
import type { InferInputTensor, InferTensorContents, ModelInferRequest } from './messages.js';
import { parametersOf } from './parameters.js';
import { shownText } from '../../describe-value.js';

type ContentsField = keyof InferTensorContents;

/** The typed field each datatype's elements go in (Triton's InferTensorContents); FP16 and BF16 have none. */
const contentsFieldOf: Readonly<Record<string, ContentsField>> = Object.freeze({
  BOOL: 'bool_contents',
  INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
});

const contentsFields: readonly ContentsField[] = [
  'bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp32_contents', 'fp64_contents', 'bytes_contents',
];

/** The JSON header and binary part the HTTP parser reads. */
interface HttpForm {
  header: Record<string, unknown>;
  binary: Buffer;
}

/**
 * `request` parsed against `signature`, shared-memory tensors leased through `leases` (the caller releases
 * them). Every output is binary (gRPC carries outputs in `raw_output_contents`) unless it goes to shared memory.
 * @throws HttpError 400 for anything the client got wrong, with the HTTP parser's words.
 */
export function parseModelInferRequest(request: ModelInferRequest, signature: ModelSignature, leases: SharedMemoryLeases): ParsedInferRequest {
  const { header, binary } = httpFormOf(request, signature);
  const parsed = parseInferRequest(header, binary, signature, leases);
  return { ...parsed, outputs: parsed.outputs.map((output) => ({ ...output, binary: output.sharedMemory === undefined })) };
}

/** The HTTP protocol's form of `request`. */
function httpFormOf(request: ModelInferRequest, signature: ModelSignature): HttpForm {
  const raw = request.raw_input_contents;
  const chunks: Buffer[] = [];
  let rawUsed = 0;
  const inputs = request.inputs.map((input) => {
    const parameters: Record<string, unknown> = parametersOf(input.parameters);
    const what = `input '${shownText(input.name)}'`;
    if (parameters.binary_data_size !== undefined) {
      throw badRequest(`${what} has a binary_data_size parameter, which is HTTP's: over gRPC its bytes go in raw_input_contents`);
    }
    const entry: Record<string, unknown> = { name: input.name, datatype: input.datatype, shape: input.shape.map(Number), parameters };
    if (parameters.shared_memory_region !== undefined) {
      if (input.contents !== null) throw badRequest(`unexpected 'contents' provided when using shared memory for ${what} for model '${signature.name}'`);
      return entry;
    }
    if (input.contents !== null) {
      if (raw.length > 0) throw badRequest(`contents field must not be specified when using raw_input_contents for ${what} for model '${signature.name}'`);
      const { field, elements } = typedElements(input, input.contents, what);
      if (field === 'bytes_contents') {
        const chunk = bytesToBinary(elements as Buffer[]);
        chunks.push(chunk);
        parameters.binary_data_size = chunk.length;
      } else {
        entry.data = field === 'int64_contents' || field === 'uint64_contents' ? (elements as string[]).map(Number) : elements;
      }
      return entry;
    }
    if (rawUsed >= raw.length) {
      throw badRequest(`unable to find data for ${what} for model '${signature.name}' in request: give it in raw_input_contents (in the order of the inputs) or in contents`);
    }
    const chunk = raw[rawUsed++]!;
    chunks.push(chunk);
    parameters.binary_data_size = chunk.length;
    return entry;
  });
  if (rawUsed < raw.length) {
    throw badRequest(`the request has ${raw.length} raw_input_contents but ${rawUsed === 1 ? 'only 1 input takes its' : `${rawUsed} inputs take their`} data from them `
      + '(one entry per input without contents or shared memory, in the order of the inputs)');
  }
  const header: Record<string, unknown> = {
    parameters: parametersOf(request.parameters),
    inputs,
    outputs: request.outputs.map((output) => ({ name: output.name, parameters: parametersOf(output.parameters) })),
  };
  if (request.id !== '') header.id = request.id;
  return { header, binary: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
}

/** The elements of an input's typed contents: the one non-empty field, which must be its datatype's. */
function typedElements(input: InferInputTensor, contents: InferTensorContents, what: string): { field: ContentsField; elements: unknown[] } {
  const given = contentsFields.filter((field) => contents[field].length > 0);
  if (given.length > 1) throw badRequest(`${what} has elements in both ${given[0]} and ${given[1]}; send them in one field, the one of its datatype`);
  const expected = contentsFieldOf[input.datatype];
  if (expected === undefined) {
    throw badRequest(`${what} is ${shownText(input.datatype)}, which has no typed contents field: send its little-endian bytes in raw_input_contents`);
  }
  const field = given[0] ?? expected;
  if (field !== expected) throw badRequest(`${what} is ${input.datatype} but its elements are in ${field}; ${input.datatype} elements go in ${expected}`);
  return { field, elements: contents[field] };
}
