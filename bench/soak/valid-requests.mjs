// @ts-check
/**
 * The soak's valid requests, one per input form the server takes, each with the logits it must give
 * (computed beforehand by the library, model.mjs), and the check of an answer against them:
 * - `fp32-binary` FP32 `[1, 3, H, W]`, `fp32-json` the same values as JSON numbers;
 * - `uint8-binary` UINT8 pixels `[2, H, W, 3]` (NHWC), `uint8-json` UINT8 `[1, 3, H, W]` (NCHW) in JSON;
 * - `png-binary` BYTES `[2]` (a landscape and a portrait PNG), `jpeg-binary` BYTES `[1]`, and `png-json`,
 *   `jpeg-json`: BYTES `[1]` as base64 strings in JSON.
 * Binary requests ask the output back in binary, JSON ones in JSON, so both answer paths are checked.
 * The images are drawn here (smooth gradients, rings and a checker patch; 320×240 and 240×320, the size of
 * a small upload), so the soak needs no data files.
 * @module
 */
import sharp from 'sharp';
import { bytesTensor, serverMessage } from '../serve/requests.mjs';

/**
 * How close an answer must be to the reference: |answer − reference| ≤ 1e-4 · max(1, max |reference|) for
 * every logit. The engine computes the same float32 network as the library, but a batch formed with other
 * requests, the engine's in-kernel normalisation of UINT8 pixels and the worker's decode may round
 * differently in the last bits (the server's own tests see relative errors up to 1e-5), so bit-exactness would
 * flag batching rather than wrong answers; 1e-4 of the logits' scale is 10× that and still far below what
 * a wrong image, a wrong row or a corrupted buffer gives (relative differences of 1e-2 and more).
 */
export const tolerance = { relative: 1e-4 };

/**
 * @typedef {object} ValidRequest
 * @property {string} kind
 * @property {number} n            samples in the request
 * @property {Buffer} body
 * @property {Record<string, string>} headers
 * @property {boolean} binaryOutput the output comes back as binary data after the JSON header
 * @property {Float32Array} reference the expected logits, `[n, classes]`
 */

/** A deterministic RGB image (interleaved, `width × height × 3`). @param {number} width @param {number} height @param {number} seed */
export function drawImage(width, height, seed) {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      const ring = Math.sin(Math.hypot(x - width * 0.4, y - height * 0.6) * (0.08 + seed * 0.01));
      const checker = x > width * 0.6 && y < height * 0.35 ? ((x >> 3) + (y >> 3)) & 1 : 0;
      pixels[at] = Math.round((x / width) * 200 + ring * 40 + 10) & 255;
      pixels[at + 1] = Math.round((y / height) * 180 + checker * 60 + seed * 7) & 255;
      pixels[at + 2] = Math.round(128 + ring * 90 - checker * 50) & 255;
    }
  }
  return pixels;
}

/** PNG and JPEG files of the two drawn images. */
async function encodedImages() {
  const shapes = [[320, 240, 1], [240, 320, 2]];
  const raw = shapes.map(([w, h, seed]) => sharp(drawImage(w, h, seed), { raw: { width: w, height: h, channels: 3 } }));
  return {
    png: await Promise.all(raw.map((s) => s.clone().png().toBuffer())),
    jpeg: await Promise.all(raw.map((s) => s.clone().jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer())),
  };
}

/** FP32 values of `n` samples (a smooth pattern in the normalised range). @param {number} count @param {number} phase */
function floatValues(count, phase) {
  return Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.0013 + phase) * 2);
}

/** UINT8 pixels. @param {number} count @param {number} salt */
function pixelValues(count, salt) {
  return Uint8Array.from({ length: count }, (_, i) => (i * 31 + (i >> 9) * 7 + salt) & 255);
}

/** NHWC → NCHW of `n` images of `plane` pixels. @param {Uint8Array} nhwc @param {number} n @param {number} plane */
function toNchw(nhwc, n, plane) {
  const out = new Uint8Array(nhwc.length);
  for (let b = 0; b < n; b++) for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[(b * 3 + c) * plane + i] = nhwc[(b * plane + i) * 3 + c];
  return out;
}

/** @param {object} header @param {Buffer} binary */
function binaryBody(header, binary) {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, binary]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) } };
}

/** @param {object} request */
function jsonBody(request) {
  return { body: Buffer.from(JSON.stringify(request)), headers: { 'content-type': 'application/json' } };
}

/** @param {ArrayBufferView} view */
const bytesOf = (view) => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

/**
 * Builds the valid requests and their reference logits.
 * @param {import('./model.mjs').SoakModel} model
 * @param {{ inputName: string; outputName: string }} names from the model's metadata
 * @returns {Promise<ValidRequest[]>}
 */
export async function buildValidRequests(model, names) {
  const size = model.transforms.cropSize;
  const plane = size * size;
  const input = (/** @type {string} */ datatype, /** @type {number[]} */ shape, /** @type {object} */ extra) => ({ name: names.inputName, datatype, shape, ...extra });
  const binaryOut = [{ name: names.outputName, parameters: { binary_data: true } }];
  const jsonOut = [{ name: names.outputName }];
  /** @type {ValidRequest[]} */
  const requests = [];

  const floats = floatValues(3 * plane, 0.3);
  const floatsRef = await model.logitsOfFloats(floats, 1);
  requests.push({
    kind: 'fp32-binary', n: 1, binaryOutput: true, reference: floatsRef,
    ...binaryBody({ inputs: [input('FP32', [1, 3, size, size], { parameters: { binary_data_size: floats.byteLength } })], outputs: binaryOut }, bytesOf(floats)),
  });
  requests.push({
    kind: 'fp32-json', n: 1, binaryOutput: false, reference: floatsRef,
    ...jsonBody({ inputs: [input('FP32', [1, 3, size, size], { data: Array.from(floats) })], outputs: jsonOut }),
  });

  const nhwc = pixelValues(2 * plane * 3, 11);
  requests.push({
    kind: 'uint8-binary', n: 2, binaryOutput: true, reference: await model.logitsOfPixels(toNchw(nhwc, 2, plane), 2),
    ...binaryBody({ inputs: [input('UINT8', [2, size, size, 3], { parameters: { binary_data_size: nhwc.byteLength } })], outputs: binaryOut }, bytesOf(nhwc)),
  });
  const nchw = pixelValues(plane * 3, 97);
  requests.push({
    kind: 'uint8-json', n: 1, binaryOutput: false, reference: await model.logitsOfPixels(nchw, 1),
    ...jsonBody({ inputs: [input('UINT8', [1, 3, size, size], { data: Array.from(nchw) })], outputs: jsonOut }),
  });

  const { png, jpeg } = await encodedImages();
  const pngPair = /** @type {Buffer[]} */ ([png[0], png[1]]);
  const pngTensor = bytesTensor(pngPair);
  requests.push({
    kind: 'png-binary', n: 2, binaryOutput: true, reference: await model.logitsOfImages(pngPair),
    ...binaryBody({ inputs: [input('BYTES', [2], { parameters: { binary_data_size: pngTensor.length } })], outputs: binaryOut }, pngTensor),
  });
  const jpegOne = /** @type {Buffer} */ (jpeg[0]);
  const jpegTensor = bytesTensor([jpegOne]);
  requests.push({
    kind: 'jpeg-binary', n: 1, binaryOutput: true, reference: await model.logitsOfImages([jpegOne]),
    ...binaryBody({ inputs: [input('BYTES', [1], { parameters: { binary_data_size: jpegTensor.length } })], outputs: binaryOut }, jpegTensor),
  });
  for (const [kind, image] of /** @type {[string, Buffer][]} */ ([['png-json', png[1]], ['jpeg-json', jpeg[1]]])) {
    requests.push({
      kind, n: 1, binaryOutput: false, reference: await model.logitsOfImages([image]),
      ...jsonBody({ inputs: [input('BYTES', [1], { data: [image.toString('base64')] })], outputs: jsonOut }),
    });
  }
  return requests;
}

/**
 * Checks an answer against its request's reference logits.
 * @param {{ status: number; headerLength: string | undefined; body: Buffer }} answer
 * @param {ValidRequest} request
 * @param {string} outputName
 * @returns {{ ok: true; maxDiff: number } | { ok: false; wrong: boolean; problem: string }}
 *   `wrong`: a 200 whose logits (or their shape) are not the reference's; otherwise a failed request
 */
export function checkValidAnswer(answer, request, outputName) {
  if (answer.status !== 200) return { ok: false, wrong: false, problem: serverMessage(answer.status, answer.body).slice(0, 300) };
  const jsonLength = answer.headerLength === undefined ? answer.body.length : Number(answer.headerLength);
  if (!Number.isInteger(jsonLength) || jsonLength > answer.body.length) return { ok: false, wrong: true, problem: `bad inference-header-content-length ${answer.headerLength}` };
  let header;
  try {
    header = JSON.parse(answer.body.subarray(0, jsonLength).toString());
  } catch {
    return { ok: false, wrong: true, problem: 'the answer does not parse as JSON' };
  }
  const output = Array.isArray(header?.outputs) ? header.outputs.find((/** @type {any} */ o) => o?.name === outputName) : undefined;
  const classes = request.reference.length / request.n;
  if (!output) return { ok: false, wrong: true, problem: `no output '${outputName}' in the answer` };
  if (output.datatype !== 'FP32' || JSON.stringify(output.shape) !== JSON.stringify([request.n, classes])) {
    return { ok: false, wrong: true, problem: `output is ${output.datatype} ${JSON.stringify(output.shape)}, expected FP32 [${request.n},${classes}]` };
  }
  /** @type {ArrayLike<number>} */
  let values;
  if (request.binaryOutput) {
    const binary = answer.body.subarray(jsonLength);
    if (binary.length !== request.reference.length * 4) return { ok: false, wrong: true, problem: `${binary.length} bytes of binary output, expected ${request.reference.length * 4}` };
    values = new Float32Array(Uint8Array.from(binary).buffer);
  } else {
    if (!Array.isArray(output.data) || output.data.length !== request.reference.length) return { ok: false, wrong: true, problem: 'output data missing or of the wrong length' };
    values = output.data;
  }
  let scale = 1;
  for (const r of request.reference) scale = Math.max(scale, Math.abs(r));
  let maxDiff = 0;
  for (let i = 0; i < request.reference.length; i++) {
    const diff = Math.abs(Number(values[i]) - /** @type {number} */ (request.reference[i]));
    if (!(diff <= maxDiff)) maxDiff = Number.isNaN(diff) ? Infinity : diff;
  }
  if (maxDiff > tolerance.relative * scale) {
    return { ok: false, wrong: true, problem: `logits differ from the reference by up to ${maxDiff.toExponential(2)} (allowed ${(tolerance.relative * scale).toExponential(2)})` };
  }
  return { ok: true, maxDiff };
}
