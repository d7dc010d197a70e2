// @ts-check
/**
 * The inference requests of a load test, one kind per input form (all Open Inference Protocol, Triton's
 * extensions; the output `output` always asked back in binary or in shared memory):
 * - `fp32`: binary tensor data, FP32 `[n, 3, H, W]` (normalised NCHW floats);
 * - `uint8`: binary tensor data, UINT8 `[n, H, W, 3]` (NHWC pixels, what image decoders produce);
 * - `jpeg`: binary BYTES `[n]`, each element a 4-byte little-endian length and an encoded JPEG;
 * - `shm`: a JSON body only: the input (UINT8 NHWC or FP32 NCHW) and the output live in a registered
 *   system shared-memory region, named by `shared_memory_region`/`_byte_size`/`_offset` parameters.
 * Pixel values are fixed patterns: the model's speed does not depend on them.
 * @module
 */

/** @typedef {import('./options.mjs').InputKind} InputKind */

/**
 * What the requests are shaped by, from the model's metadata (`GET /v2/models/NAME`).
 * @typedef {object} ModelGeometry
 * @property {string} model
 * @property {string} version
 * @property {string} inputName
 * @property {number} height
 * @property {number} width
 * @property {string} outputName
 * @property {number} classes  elements of one sample's output
 */

/**
 * Reads the geometry from model metadata: the input is `[-1, 3, H, W]` (FP32, NCHW) or `[-1, H, W, 3]`.
 * @param {any} metadata
 * @returns {ModelGeometry}
 */
export function modelGeometry(metadata) {
  const inputs = Array.isArray(metadata?.inputs) ? metadata.inputs : [];
  const input = inputs.find((/** @type {any} */ t) => t.datatype === 'FP32' && t.shape?.length === 4) ?? inputs[0];
  const outputs = Array.isArray(metadata?.outputs) ? metadata.outputs : [];
  const output = outputs.find((/** @type {any} */ t) => t.name === 'output') ?? outputs[0];
  if (!input || !output || !Array.isArray(input.shape) || input.shape.length !== 4) {
    throw new Error(`model metadata has no 4-d image input and an output: ${JSON.stringify(metadata).slice(0, 300)}`);
  }
  const [, a, b, c] = input.shape;
  const [height, width] = a === 3 ? [b, c] : [a, b];
  const classes = output.shape.slice(1).reduce((/** @type {number} */ x, /** @type {number} */ y) => x * y, 1);
  return {
    model: metadata.name, version: metadata.versions?.[0] ?? '1', inputName: input.name, height, width, outputName: output.name, classes,
  };
}

/** @typedef {{ body: Buffer; headers: Record<string, string> }} InferRequest */

/**
 * A binary-tensor request: the JSON header, then `binary` (the inputs' bytes, in order).
 * @param {object} header @param {Buffer} binary
 * @returns {InferRequest}
 */
function binaryRequest(header, binary) {
  const json = Buffer.from(JSON.stringify(header));
  return {
    body: Buffer.concat([json, binary]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
  };
}

/** The output asked back in binary. @param {ModelGeometry} g */
const binaryOutput = (g) => [{ name: g.outputName, parameters: { binary_data: true } }];

/** FP32 NCHW values of `n` samples: a smooth pattern in the normalised range. @param {ModelGeometry} g @param {number} n */
export function fp32Pixels(g, n) {
  const count = n * 3 * g.height * g.width;
  const bytes = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) bytes.writeFloatLE(Math.sin(i * 0.001) * 2, i * 4);
  return bytes;
}

/** UINT8 NHWC pixels of `n` samples. @param {ModelGeometry} g @param {number} n */
export function uint8Pixels(g, n) {
  const count = n * g.height * g.width * 3;
  const bytes = Buffer.alloc(count);
  for (let i = 0; i < count; i++) bytes[i] = (i * 31 + (i >> 9) * 7) & 255;
  return bytes;
}

/** @param {ModelGeometry} g @param {number} n @returns {InferRequest} */
export function fp32Request(g, n) {
  const tensor = fp32Pixels(g, n);
  return binaryRequest({
    inputs: [{ name: g.inputName, shape: [n, 3, g.height, g.width], datatype: 'FP32', parameters: { binary_data_size: tensor.length } }],
    outputs: binaryOutput(g),
  }, tensor);
}

/** @param {ModelGeometry} g @param {number} n @returns {InferRequest} */
export function uint8Request(g, n) {
  const tensor = uint8Pixels(g, n);
  return binaryRequest({
    inputs: [{ name: g.inputName, shape: [n, g.height, g.width, 3], datatype: 'UINT8', parameters: { binary_data_size: tensor.length } }],
    outputs: binaryOutput(g),
  }, tensor);
}

/**
 * BYTES elements in binary form: per element a 4-byte little-endian length, then its bytes.
 * @param {readonly Buffer[]} elements
 */
export function bytesTensor(elements) {
  const parts = [];
  for (const element of elements) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(element.length, 0);
    parts.push(length, element);
  }
  return Buffer.concat(parts);
}

/**
 * One request per starting image: request k carries images k, k+1, … k+n−1 of the corpus (wrapping), so
 * a slot that cycles through them sends every image equally often.
 * @param {ModelGeometry} g @param {number} n @param {readonly Buffer[]} images
 * @returns {InferRequest[]}
 */
export function jpegRequests(g, n, images) {
  if (images.length === 0) throw new RangeError('jpegRequests needs at least one image');
  return images.map((_, k) => {
    const elements = Array.from({ length: n }, (_, j) => /** @type {Buffer} */ (images[(k + j) % images.length]));
    const tensor = bytesTensor(elements);
    return binaryRequest({
      inputs: [{ name: g.inputName, shape: [n], datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }],
      outputs: binaryOutput(g),
    }, tensor);
  });
}

/**
 * Where a shared-memory slot keeps its tensors: the input at offset 0, the output after it on a 64-byte
 * boundary, one region holding both.
 * @param {ModelGeometry} g @param {number} n @param {'uint8' | 'fp32'} datatype
 */
export function shmLayout(g, n, datatype) {
  const inputBytes = n * 3 * g.height * g.width * (datatype === 'fp32' ? 4 : 1);
  const outputOffset = Math.ceil(inputBytes / 64) * 64;
  const outputBytes = n * g.classes * 4;
  return { inputBytes, outputOffset, outputBytes, byteSize: outputOffset + outputBytes };
}

/**
 * The request of one shared-memory slot: JSON only, the input read from `region` and the output written to it.
 * @param {ModelGeometry} g @param {number} n @param {'uint8' | 'fp32'} datatype @param {string} region
 * @returns {InferRequest}
 */
export function shmRequest(g, n, datatype, region) {
  const layout = shmLayout(g, n, datatype);
  const shape = datatype === 'fp32' ? [n, 3, g.height, g.width] : [n, g.height, g.width, 3];
  const body = Buffer.from(JSON.stringify({
    inputs: [{
      name: g.inputName, shape, datatype: datatype === 'fp32' ? 'FP32' : 'UINT8',
      parameters: { shared_memory_region: region, shared_memory_byte_size: layout.inputBytes, shared_memory_offset: 0 },
    }],
    outputs: [{
      name: g.outputName,
      parameters: { shared_memory_region: region, shared_memory_byte_size: layout.outputBytes, shared_memory_offset: layout.outputOffset },
    }],
  }));
  return { body, headers: { 'content-type': 'application/json' } };
}

/**
 * The server's own words for a failed answer: the protocol's `{"error": "..."}`, else the body as text.
 * @param {number} status @param {Buffer | string} body
 */
export function serverMessage(status, body) {
  const text = body.toString().trim();
  let said = text.slice(0, 600);
  try {
    const json = JSON.parse(text);
    if (typeof json?.error === 'string') said = typeof json.message === 'string' ? `${json.error}: ${json.message}` : json.error;
  } catch {
    // not JSON: the text as it came
  }
  return `HTTP ${status}: ${said || '(empty body)'}`;
}

/**
 * Checks an answer to a request of `n` samples: 200, the output `output` of shape `[n, classes]` FP32,
 * in binary after the JSON header (or, with `region`, written to that shared-memory region and absent
 * from the body). A load test of a server that answers 400 or garbage would measure nothing.
 * @param {{ status: number; headerLength: string | undefined; body: Buffer }} answer
 * @param {ModelGeometry} g @param {number} n @param {string} [region]
 * @throws Error with the server's message, or what is wrong with the answer
 */
export function checkAnswer(answer, g, n, region) {
  if (answer.status !== 200) throw new Error(serverMessage(answer.status, answer.body));
  const jsonLength = answer.headerLength === undefined ? answer.body.length : Number(answer.headerLength);
  if (!Number.isInteger(jsonLength) || jsonLength > answer.body.length) throw new Error(`bad inference-header-content-length ${answer.headerLength} for a ${answer.body.length}-byte answer`);
  let header;
  try {
    header = JSON.parse(answer.body.subarray(0, jsonLength).toString());
  } catch {
    throw new Error(`the answer's JSON header does not parse: ${answer.body.subarray(0, 200).toString()}`);
  }
  const output = header.outputs?.find((/** @type {any} */ o) => o.name === g.outputName);
  if (!output) throw new Error(`the answer has no output '${g.outputName}': ${JSON.stringify(header).slice(0, 300)}`);
  const shape = JSON.stringify(output.shape);
  if (shape !== JSON.stringify([n, g.classes]) || output.datatype !== 'FP32') {
    throw new Error(`output '${g.outputName}' is ${output.datatype} ${shape}, expected FP32 [${n},${g.classes}]`);
  }
  const binary = answer.body.length - jsonLength;
  if (region !== undefined) {
    if (output.parameters?.shared_memory_region !== region) throw new Error(`output '${g.outputName}' was not written to shared-memory region '${region}': ${JSON.stringify(output)}`);
    if (binary !== 0 || output.data !== undefined) throw new Error(`output '${g.outputName}' came back in the body although it was asked into shared memory`);
    return;
  }
  if (binary !== n * g.classes * 4) throw new Error(`${binary} bytes of binary output, expected ${n * g.classes * 4} (${n}×${g.classes} FP32)`);
}
