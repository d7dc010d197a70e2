/**
 * Reading an inference request (protocol §6, §9, §10): the body split into JSON header and binary part,
 * then every check against the model's signature, in Triton's words where Triton has words. Whatever
 * the client got wrong is a `badRequest` (400) naming the field; nothing is allocated beyond what the
 * validated shape needs, and the shape is bounded by the model before any data is read. A tensor in shared
 * memory (Triton's extension) is read in place from its registered region, or written there for an output;
 * the route holds the regions a request names until its response is written ({@link SharedMemoryLeases}).
 * @module
 */
import { classificationParameter, readParameters, type ParameterRule } from './request-parameters.js';
import { badRequest } from './http-error.js';
import { hasClassDimension } from './classification.js';
import { SharedMemoryLeases } from './shared-memory.js';
import { sharedMemoryParameterRules, sharedMemoryRange, type SharedMemoryPlacement } from './shared-memory-parameters.js';
import { describeValue, shownText } from '../describe-value.js';
import { checkJsonValueCount, parseRequestJson } from './request-json.js';
import { bytesFromBinary, bytesFromJson, elementCount, flattenJsonData, formatShape, isDimension } from './tensor-data.js';
import { expectedImageShapes, imageDataFromBytes, imageDataFromJson, imageElementBytes, imageLayoutOf } from './image-tensor.js';
import type {
  ImageDatatype, InputSignature, ModelSignature, OutputSignature, ParsedInferRequest, ParsedInput, RequestedOutput, TensorLayout,
} from './types.js';
import { serverDefaults } from './types.js';

/**
 * Splits a request body. Without `Inference-Header-Content-Length` the whole body is the JSON header;
 * with it (a decimal byte count no larger than the body), the JSON header is that prefix and the rest is
 * the binary part. Malformed JSON or a bad header length is a 400.
 */
export function splitInferBody(
  body: Buffer, headerLength: string | undefined, maxJsonValues: number = serverDefaults.maxJsonValues,
): { header: unknown; binary: Buffer } {
  let jsonLength = body.length;
  if (headerLength !== undefined) {
    if (!/^[0-9]{1,16}$/.test(headerLength)) {
      throw badRequest(`Inference-Header-Content-Length must be a decimal byte count, got ${describeValue(headerLength)}`);
    }
    jsonLength = Number(headerLength);
    if (jsonLength > body.length) {
      throw badRequest(`Inference-Header-Content-Length is ${jsonLength} but the body has only ${body.length} bytes`);
    }
  }
  const json = body.subarray(0, jsonLength);
  const what = `the inference request header (${jsonLength} bytes)`;
  checkJsonValueCount(json, what, maxJsonValues);
  const header = parseRequestJson(json.toString('utf8'), what, 'no field of the protocol nests deeper than a tensor\'s shape');
  return { header, binary: body.subarray(jsonLength) };
}

const requestFields = new Set(['id', 'parameters', 'inputs', 'outputs']);
const inputFields = new Set(['name', 'shape', 'datatype', 'parameters', 'data']);
const outputFields = new Set(['name', 'parameters']);

const requestParameterRules: Record<string, ParameterRule> = {
  binary_data_output: 'boolean',
  timeout: 'non-negative integer',
  // Triton's schedule_policy extension, which server metadata lists, has both. With one priority level
  // every request is served in arrival order; the parameter is checked and then has no effect.
  priority: 'non-negative integer',
};
const inputParameterRules: Record<string, ParameterRule> = { binary_data_size: 'non-negative integer', ...sharedMemoryParameterRules };
const outputParameterRules: Record<string, ParameterRule> = { binary_data: 'boolean', classification: 'positive integer', ...sharedMemoryParameterRules };

/**
 * Validates a parsed JSON header and its binary part against `signature` and returns the request in
 * typed form. Optional fields that are `null` count as absent (some JSON serialisers write them).
 * Shared-memory tensors are leased through `sharedMemory` (by default none are allowed); the caller
 * releases the leases whether parsing succeeded or not.
 */
export function parseInferRequest(
  header: unknown, binary: Buffer, signature: ModelSignature, sharedMemory = new SharedMemoryLeases(null),
): ParsedInferRequest {
  const request = asObject(header, 'the inference request');
  checkFields(request, requestFields, 'the inference request');

  const id = request.id ?? undefined;
  if (id !== undefined && typeof id !== 'string') throw badRequest(`'id' of the inference request must be a string, got ${describeValue(id)}`);
  const parameters = readParameters(request.parameters, requestParameterRules, 'the inference request');
  const binaryByDefault = (parameters.binary_data_output as boolean | undefined) ?? false;
  const timeoutMicroseconds = parameters.timeout as number | undefined;

  const inputs = readInputs(request.inputs, binary, signature, sharedMemory);
  const batchSize = inputs[0]!.shape[0]!;
  const outputs = readOutputs(request.outputs ?? undefined, binaryByDefault, signature, batchSize, sharedMemory);

  const parsed: ParsedInferRequest = { batchSize, inputs, outputs };
  if (id !== undefined) parsed.id = id;
  if (timeoutMicroseconds !== undefined) parsed.timeoutMicroseconds = timeoutMicroseconds;
  return parsed;
}

function readInputs(value: unknown, binary: Buffer, signature: ModelSignature, sharedMemory: SharedMemoryLeases): ParsedInput[] {
  if (!Array.isArray(value)) throw badRequest(`'inputs' of the inference request must be an array, got ${describeValue(value)}`);
  const parsed: ParsedInput[] = [];
  let cursor = 0;
  for (let i = 0; i < value.length; i++) {
    const input = asObject(value[i], `inputs[${i}]`);
    checkFields(input, inputFields, `inputs[${i}]`);
    const name = input.name;
    if (typeof name !== 'string') throw badRequest(`'name' of inputs[${i}] must be a string, got ${describeValue(name)}`);
    const declared = signature.inputs.find((candidate) => candidate.name === name);
    if (declared === undefined) throw badRequest(`unexpected inference input '${shownText(name)}' for model '${signature.name}'`);
    if (parsed.some((earlier) => earlier.name === name)) throw badRequest(`input '${name}' appears more than once in the inference request`);

    const datatype = readDatatype(input.datatype, declared, signature);
    const { shape, layout } = readShape(input.shape, datatype, declared, signature);
    const what = `input '${name}'`;
    const inputParameters = readParameters(input.parameters, inputParameterRules, what);
    const binarySize = inputParameters.binary_data_size as number | undefined;
    const data = input.data ?? undefined;
    const count = elementCount(shape);
    const inShm = sharedMemoryRange(inputParameters, what, sharedMemory);

    if (inShm !== null) {
      if (data !== undefined || binarySize !== undefined) {
        const also = data !== undefined ? "'data'" : 'a binary_data_size parameter';
        throw badRequest(`${what} has both a shared_memory_region parameter and ${also}; send one`);
      }
      // BYTES elements carry their own lengths: bytesFromBinary checks that they fill the range exactly.
      if (datatype !== 'BYTES') {
        const size = imageElementBytes[datatype];
        if (inShm.byteSize !== count * size) {
          throw badRequest(`shared_memory_byte_size of ${what} is ${inShm.byteSize}, expected ${count * size} (${count} ${datatype} elements × ${size} byte${size > 1 ? 's' : ''})`);
        }
      }
      // A view on the region (no copy): the engine reads it in place.
      const bytes = sharedMemory.view(inShm.region, inShm.offset, inShm.byteSize, what);
      parsed.push(inputFromBytes(name, datatype, shape, layout, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), what));
      continue;
    }
    if (data !== undefined && binarySize !== undefined) throw badRequest(`${what} has both 'data' and a binary_data_size parameter; send one`);
    if (data !== undefined) {
      const elements = flattenJsonData(data, shape, what);
      parsed.push(datatype === 'BYTES'
        ? { name, datatype, shape, elements: bytesFromJson(elements, what) }
        : { name, datatype, shape, layout: layout!, data: imageDataFromJson(elements, datatype, what) });
      continue;
    }
    if (binarySize === undefined) throw badRequest(`${what} has neither 'data' nor a binary_data_size parameter`);
    if (binarySize > binary.length - cursor) {
      const carried = binary.length === 0 ? 'the request has no binary part (is Inference-Header-Content-Length missing?)' : `only ${binary.length - cursor} bytes of the binary part remain`;
      throw badRequest(`binary data of ${what} is truncated: binary_data_size is ${binarySize} but ${carried}`);
    }
    const chunk = binary.subarray(cursor, cursor + binarySize);
    cursor += binarySize;
    parsed.push(inputFromBytes(name, datatype, shape, layout, chunk, what));
  }

  const missing = signature.inputs.filter((declared) => !parsed.some((input) => input.name === declared.name));
  if (missing.length > 0) {
    throw badRequest(`missing input${missing.length > 1 ? 's' : ''} ${missing.map((input) => `'${input.name}'`).join(', ')} for model '${signature.name}'`);
  }
  if (cursor !== binary.length) {
    throw badRequest(`the binary part has ${binary.length} bytes but the inputs' binary_data_size parameters add up to ${cursor}`);
  }
  const batchSize = parsed[0]!.shape[0]!;
  const disagreeing = parsed.find((input) => input.shape[0] !== batchSize);
  if (disagreeing !== undefined) {
    throw badRequest(`inputs disagree on the batch size: '${parsed[0]!.name}' has ${batchSize}, '${disagreeing.name}' has ${disagreeing.shape[0]}`);
  }
  return parsed;
}

/**
 * An input from its raw bytes (a binary part of the body, or a shared-memory region): image data stays a
 * view on `chunk`, which the engine reads in place; BYTES elements are views on it too.
 */
function inputFromBytes(
  name: string, datatype: ImageDatatype | 'BYTES', shape: number[], layout: TensorLayout | null, chunk: Buffer, what: string,
): ParsedInput {
  const count = elementCount(shape);
  return datatype === 'BYTES'
    ? { name, datatype, shape, elements: bytesFromBinary(chunk, count, what) }
    : { name, datatype, shape, layout: layout!, data: imageDataFromBytes(chunk, datatype, count, what) };
}

function readDatatype(value: unknown, declared: InputSignature, signature: ModelSignature): ImageDatatype | 'BYTES' {
  const accepted = declared.accepts.find((datatype) => datatype === value);
  if (accepted === undefined) {
    const expects = declared.accepts.map((datatype) => `'${datatype}'`).join(' or ');
    const got = typeof value === 'string' ? `'${value.slice(0, 24)}'` : describeValue(value);
    throw badRequest(`inference input '${declared.name}' data-type is ${got}, but model '${signature.name}' expects ${expects}`);
  }
  if (accepted !== 'BYTES' && !(accepted in imageElementBytes)) {
    throw new Error(`model '${signature.name}' declares that input '${declared.name}' accepts ${accepted}, which the protocol layer cannot read`);
  }
  return accepted as ImageDatatype | 'BYTES';
}

/**
 * The shape, checked against the model: images are `[batch, C, H, W]` or `[batch, H, W, C]` (which sets the
 * layout), BYTES (encoded images, one per sample) `[batch]` or `[batch, 1]`; `batch` within
 * 1..maxBatchSize. This bounds the element count by the model before any data is looked at.
 */
function readShape(
  value: unknown, datatype: ImageDatatype | 'BYTES', declared: InputSignature, signature: ModelSignature,
): { shape: number[]; layout: TensorLayout | null } {
  const what = `input '${declared.name}'`;
  if (!Array.isArray(value) || !value.every(isDimension)) {
    const got = Array.isArray(value) ? formatShape(value) : describeValue(value);
    throw badRequest(`'shape' of ${what} must be an array of non-negative integers, got ${got}`);
  }
  const shape = value as number[];
  const layout = datatype === 'BYTES' ? null : imageLayoutOf(shape, declared);
  const fits = datatype === 'BYTES' ? shape.length === 1 || (shape.length === 2 && shape[1] === 1) : layout !== null;
  if (!fits) {
    const expected = datatype === 'BYTES' ? '[-1] or [-1,1] (one encoded image per sample)' : expectedImageShapes(declared);
    throw badRequest(`unexpected shape for input '${declared.name}' for model '${signature.name}'. Expected ${expected}, got ${formatShape(shape)}`);
  }
  const batch = shape[0]!;
  if (batch < 1) throw badRequest(`inference request batch-size must be >= 1 for '${signature.name}', got ${formatShape(shape)} for ${what}`);
  if (batch > signature.maxBatchSize) {
    throw badRequest(`inference request batch-size must be <= ${signature.maxBatchSize} for '${signature.name}', got ${batch} for ${what}`);
  }
  return { shape, layout };
}

function readOutputs(
  value: unknown, binaryByDefault: boolean, signature: ModelSignature, batchSize: number, sharedMemory: SharedMemoryLeases,
): RequestedOutput[] {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    // Triton's habit: no outputs listed means all of them, honouring binary_data_output.
    return signature.outputs.map((output) => ({ name: output.name, binary: binaryByDefault, classification: 0 }));
  }
  if (!Array.isArray(value)) throw badRequest(`'outputs' of the inference request must be an array, got ${describeValue(value)}`);
  const requested: RequestedOutput[] = [];
  for (let i = 0; i < value.length; i++) {
    const output = asObject(value[i], `outputs[${i}]`);
    checkFields(output, outputFields, `outputs[${i}]`);
    const name = output.name;
    if (typeof name !== 'string') throw badRequest(`'name' of outputs[${i}] must be a string, got ${describeValue(name)}`);
    const declared = signature.outputs.find((candidate) => candidate.name === name);
    if (declared === undefined) throw badRequest(`unexpected inference output '${shownText(name)}' for model '${signature.name}'`);
    if (requested.some((earlier) => earlier.name === name)) throw badRequest(`output '${name}' is requested more than once`);
    const parameters = readParameters(output.parameters, outputParameterRules, `output '${name}'`);
    const classification = parameters.classification as number | undefined;
    const inShm = sharedMemoryRange(parameters, `output '${name}'`, sharedMemory);
    if (inShm !== null) {
      requested.push(sharedMemoryOutput(declared, parameters, inShm, batchSize, sharedMemory));
      continue;
    }
    if (classification !== undefined) checkClassification(classification, declared, signature);
    requested.push({ name, binary: (parameters.binary_data as boolean | undefined) ?? binaryByDefault, classification: classification ?? 0 });
  }
  return requested;
}

/** An output written into shared memory: never classified or binary, and the range must hold it (Triton). */
function sharedMemoryOutput(
  declared: OutputSignature, parameters: Record<string, unknown>, range: SharedMemoryPlacement, batchSize: number, sharedMemory: SharedMemoryLeases,
): RequestedOutput {
  const what = `output '${declared.name}'`;
  if (parameters.classification !== undefined) {
    throw badRequest(`Output can't set both 'shared_memory_region' and 'classification' (${what}): request the raw tensor in shared memory, or classification in the response`);
  }
  if (parameters.binary_data === true) throw badRequest(`Output can't set both 'shared_memory_region' and 'binary_data' (${what})`);
  const needed = batchSize * elementCount(declared.sampleShape) * Float32Array.BYTES_PER_ELEMENT;
  if (range.byteSize < needed) {
    throw badRequest(`shared memory size specified with the request for ${what} (${range.byteSize} bytes) should be at least ${needed} bytes `
      + `to hold the results (${batchSize} × ${formatShape([...declared.sampleShape])} FP32)`);
  }
  const bytes = sharedMemory.view(range.region, range.offset, range.byteSize, what);
  return { name: declared.name, binary: false, classification: 0, sharedMemory: { ...range, bytes } };
}

function checkClassification(topN: number, declared: OutputSignature, signature: ModelSignature): void {
  if (!hasClassDimension(declared)) {
    const classifiable = signature.outputs.filter(hasClassDimension).map((output) => `'${output.name}'`).join(', ') || 'none';
    throw badRequest(`output '${declared.name}' of model '${signature.name}' has no class dimension to classify (classification applies to ${classifiable})`);
  }
  classificationParameter(topN, declared.sampleShape[0]!, `output '${declared.name}'`);
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${what} must be a JSON object, got ${describeValue(value)}`);
  return value as Record<string, unknown>;
}

function checkFields(object: Record<string, unknown>, allowed: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) throw badRequest(`unexpected field ${describeValue(key)} in ${what} (known: ${[...allowed].join(', ')})`);
  }
}
