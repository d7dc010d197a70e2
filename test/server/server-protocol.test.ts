/**
 * The protocol layer of `resnet serve` without a server or a model: request bodies split and parsed
 * against a hand-built signature (input FP32 [3,4,4] or BYTES images; outputs `output` [5] with labels
 * and `features` [2]), every parsing error the issue lists, responses encoded and decoded here by hand
 * (JSON and binary, raw and classification), and the metadata documents. Float formatting is checked
 * against numpy's shortest round-trip (Dragon4) strings.
 */
import { describe, expect, it } from 'vitest';
import { classify, formatFloat32, hasClassDimension } from '../../lib/server/classification.js';
import { HttpError } from '../../lib/server/http-error.js';
import { parseInferRequest, splitInferBody } from '../../lib/server/infer-request.js';
import { encodeInferResponse } from '../../lib/server/infer-response.js';
import { modelConfig, modelMetadata, serverMetadata } from '../../lib/server/metadata.js';
import { decodeBase64Strict } from '../../lib/server/tensor-data.js';
import type { ModelSignature, ParsedInferRequest } from '../../lib/server/types.js';
import { floatToHalf, halfToFloat } from '../../lib/tensor.js';

const labels = ['cat', 'dog', 'fox', 'owl', 'emu'];
const signature: ModelSignature = {
  name: 'tiny',
  version: '3',
  platform: 'resnet_cudnn',
  maxBatchSize: 4,
  inputs: [{
    name: 'input', datatype: 'FP32', sampleShape: [3, 4, 4], layout: 'NCHW', image: { channels: 3, height: 4, width: 4 },
    accepts: ['FP32', 'FP16', 'UINT8', 'BYTES'],
  }],
  outputs: [
    { name: 'output', datatype: 'FP32', sampleShape: [5], labels },
    { name: 'features', datatype: 'FP32', sampleShape: [2], labels: null },
  ],
};
const sample = 48;

/** Exactly representable values (multiples of 1/8), so JSON and binary carry them bit for bit. */
function ramp(count: number): number[] {
  return Array.from({ length: count }, (_, i) => (i % 97) / 8 - 6);
}

function f32le(values: readonly number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, i) => bytes.writeFloatLE(value, i * 4));
  return bytes;
}

function lengthPrefixed(...elements: Buffer[]): Buffer {
  return Buffer.concat(elements.flatMap((element) => {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(element.length);
    return [length, element];
  }));
}

function fp32Input(batch: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'input', datatype: 'FP32', shape: [batch, 3, 4, 4], data: ramp(batch * sample), ...extra };
}

/** The values of a parsed image input, as numbers (FP32 and FP16 decoded from their little-endian bytes). */
function valuesOf(input: ParsedInferRequest['inputs'][number]): number[] {
  if (input.datatype === 'BYTES') throw new Error('not an image input');
  const bytes = Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
  if (input.datatype === 'UINT8') return [...bytes];
  if (input.datatype === 'FP16') return Array.from({ length: bytes.length / 2 }, (_, i) => halfToFloat(bytes.readUInt16LE(i * 2)));
  return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
}

/** Parses `header` (and `binary`) through the same path a server uses: a body, split, then parsed. */
function parse(header: unknown, binary?: Buffer): ParsedInferRequest {
  const json = Buffer.from(JSON.stringify(header));
  if (binary === undefined) return parseInferRequest(...splitBody(json, undefined), signature);
  return parseInferRequest(...splitBody(Buffer.concat([json, binary]), String(json.length)), signature);
}

function splitBody(body: Buffer, headerLength: string | undefined): [unknown, Buffer] {
  const { header, binary } = splitInferBody(body, headerLength);
  return [header, binary];
}

/** Asserts a 400 (reason OTHER) whose message contains `message` or matches it. */
function expect400(action: () => unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a 400').toBeInstanceOf(HttpError);
  const error = caught as HttpError;
  expect(error.status).toBe(400);
  expect(error.reason).toBe('OTHER');
  if (typeof message === 'string') expect(error.message).toContain(message);
  else expect(error.message).toMatch(message);
}

describe('splitInferBody', () => {
  it('takes the whole body as JSON without Inference-Header-Content-Length', () => {
    const { header, binary } = splitInferBody(Buffer.from('{"inputs":[]}'), undefined);
    expect(header).toEqual({ inputs: [] });
    expect(binary.length).toBe(0);
  });

  it('splits the JSON header from the binary part at the given length', () => {
    const body = Buffer.concat([Buffer.from('{"a":1}'), Buffer.from([1, 2, 3])]);
    const { header, binary } = splitInferBody(body, '7');
    expect(header).toEqual({ a: 1 });
    expect([...binary]).toEqual([1, 2, 3]);
    expect(splitInferBody(Buffer.from('{"a":1}'), '7').binary.length).toBe(0);
  });

  it('answers malformed JSON with 400', () => {
    expect400(() => splitInferBody(Buffer.from('{"inputs": [1, 2'), undefined), 'malformed JSON in the inference request header');
    expect400(() => splitInferBody(Buffer.alloc(0), undefined), 'malformed JSON');
    // The header length cuts the JSON short: the rest would be read as binary, the JSON is broken.
    expect400(() => splitInferBody(Buffer.from('{"a":1}'), '5'), 'malformed JSON');
  });

  it('refuses a header length that is not a decimal byte count or exceeds the body', () => {
    for (const bad of ['', '7a', '-1', '1e3', ' 7', '0x7', '7.0', '99999999999999999']) {
      expect400(() => splitInferBody(Buffer.from('{"a":1}'), bad), 'Inference-Header-Content-Length');
    }
    expect400(() => splitInferBody(Buffer.from('{"a":1}'), '8'), 'Inference-Header-Content-Length is 8 but the body has only 7 bytes');
  });
});

describe('parseInferRequest: accepted requests', () => {
  it('reads flat JSON FP32 data, the id, the timeout and the default outputs', () => {
    const parsed = parse({ id: 'r1', parameters: { timeout: 2500 }, inputs: [fp32Input(2)] });
    expect(parsed.id).toBe('r1');
    expect(parsed.batchSize).toBe(2);
    expect(parsed.timeoutMicroseconds).toBe(2500);
    const input = parsed.inputs[0]!;
    expect(input.datatype).toBe('FP32');
    expect(input.shape).toEqual([2, 3, 4, 4]);
    expect(valuesOf(input)).toEqual(ramp(2 * sample));
    expect(parsed.outputs).toEqual([
      { name: 'output', binary: false, classification: 0 },
      { name: 'features', binary: false, classification: 0 },
    ]);
    expect('id' in parse({ inputs: [fp32Input(1)] })).toBe(false);
    expect('timeoutMicroseconds' in parse({ inputs: [fp32Input(1)] })).toBe(false);
  });

  it('reads nested JSON data that matches the shape exactly, as the flat form', () => {
    const flat = ramp(2 * sample);
    const nested = [0, 1].map((n) => [0, 1, 2].map((c) => [0, 1, 2, 3].map((h) => flat.slice(n * 48 + c * 16 + h * 4, n * 48 + c * 16 + h * 4 + 4))));
    const parsed = parse({ inputs: [{ ...fp32Input(2), data: nested }] });
    const input = parsed.inputs[0]!;
    expect(valuesOf(input)).toEqual(flat);
  });

  it('reads binary FP32 from an unaligned offset, little-endian', () => {
    const values = ramp(sample).map((v) => v + 1 / 3);
    for (const pad of ['', 'x', 'xx', 'xxx']) {
      const header = { id: pad, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 4, 4], parameters: { binary_data_size: sample * 4 } }] };
      const parsed = parse(header, f32le(values));
      const input = parsed.inputs[0]!;
      expect(valuesOf(input)).toEqual(values.map(Math.fround));
    }
  });

  it('reads binary FP32 in place at any offset (the engine reads unaligned input), and keeps NaN as sent', () => {
    const values = ramp(sample).map((v) => v - 7.25);
    values[10] = Number.NaN;
    const header = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 4, 4], parameters: { binary_data_size: sample * 4 } }] };
    for (const offset of [0, 1, 2, 3, 4]) {
      const body = Buffer.alloc(offset + sample * 4);
      f32le(values).copy(body, offset);
      // Straight to the parser, so the binary part keeps its offset in `body`.
      const input = parseInferRequest(header, body.subarray(offset), signature).inputs[0]!;
      if (input.datatype !== 'FP32') throw new Error('unreachable');
      expect(Object.is(valuesOf(input)[10], Number.NaN)).toBe(true);
      expect(valuesOf(input)).toEqual(values.map(Math.fround));
      // A view on the body's memory, not a copy.
      expect(input.data.buffer === body.buffer).toBe(true);
      expect(input.data.byteOffset).toBe(body.byteOffset + offset);
    }
  });

  it('reads UINT8 pixels in either layout and FP16 halves, as JSON or binary, in place', () => {
    const pixels = Array.from({ length: 2 * sample }, (_, i) => (i * 37) % 256);
    for (const shape of [[2, 3, 4, 4], [2, 4, 4, 3]]) {
      const layout = shape[1] === 3 ? 'NCHW' : 'NHWC';
      const json = parse({ inputs: [{ name: 'input', datatype: 'UINT8', shape, data: pixels }] }).inputs[0]!;
      if (json.datatype !== 'UINT8') throw new Error('unreachable');
      expect(json.layout).toBe(layout);
      expect(valuesOf(json)).toEqual(pixels);
      const binary = Buffer.from(pixels);
      const parsed = parse({ inputs: [{ name: 'input', datatype: 'UINT8', shape, parameters: { binary_data_size: binary.length } }] }, binary).inputs[0]!;
      if (parsed.datatype !== 'UINT8') throw new Error('unreachable');
      expect(parsed.layout).toBe(layout);
      expect(valuesOf(parsed)).toEqual(pixels);
    }
    const halves = ramp(sample); // multiples of 1/8 in [-6, 6]: exact in FP16
    const fromJson = parse({ inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 4, 4], data: halves }] }).inputs[0]!;
    expect(fromJson.datatype).toBe('FP16');
    expect(valuesOf(fromJson)).toEqual(halves);
    const bits = Buffer.alloc(sample * 2);
    halves.forEach((v, i) => bits.writeUInt16LE(floatToHalf(v), i * 2));
    const fromBinary = parse({ inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 4, 4, 3], parameters: { binary_data_size: bits.length } }] }, bits).inputs[0]!;
    if (fromBinary.datatype !== 'FP16') throw new Error('unreachable');
    expect(fromBinary.layout).toBe('NHWC');
    expect(valuesOf(fromBinary)).toEqual(halves);
  });

  it('refuses UINT8 and FP16 elements outside their range, and binary parts of the wrong size', () => {
    for (const [element, shown] of [[256, '256'], [-1, '-1'], [1.5, '1.5'], ['1', '"1"']] as const) {
      const data: unknown[] = Array(48).fill(0);
      data[3] = element;
      expect400(() => parse({ inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 3, 4, 4], data }] }), `element 3 of input 'input' must be an integer from 0 to 255 (UINT8), got ${shown}`);
    }
    const data: number[] = Array(48).fill(0);
    data[9] = 65520;
    expect400(() => parse({ inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 4, 4], data }] }), "element 9 of input 'input' is outside the FP16 range: 65520");
    expect400(() => parse({ inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 4, 4], parameters: { binary_data_size: 95 } }] }, Buffer.alloc(95)),
      "binary_data_size of input 'input' is 95, expected 96 (48 FP16 elements × 2 bytes)");
    expect400(() => parse({ inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 4, 3, 4], data: Array(48).fill(0) }] }),
      "Expected [-1,3,4,4] or [-1,4,4,3], got [1,4,3,4]");
  });

  it('reads BYTES images from base64 JSON ([N] and nested [N,1]) and from length-prefixed binary', () => {
    const a = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x10]);
    const b = Buffer.from('\x89PNG\r\n', 'latin1');
    for (const [shape, data] of [[[2], [a.toString('base64'), b.toString('base64')]], [[2, 1], [[a.toString('base64')], [b.toString('base64')]]]] as const) {
      const parsed = parse({ inputs: [{ name: 'input', datatype: 'BYTES', shape, data }] });
      expect(parsed.batchSize).toBe(2);
      const input = parsed.inputs[0]!;
      if (input.datatype !== 'BYTES') throw new Error('unreachable');
      expect(input.elements.map((e) => e.toString('hex'))).toEqual([a.toString('hex'), b.toString('hex')]);
    }
    const chunk = lengthPrefixed(a, b, Buffer.alloc(0));
    const parsed = parse({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: chunk.length } }] }, chunk);
    const input = parsed.inputs[0]!;
    if (input.datatype !== 'BYTES') throw new Error('unreachable');
    expect(input.elements.map((e) => e.toString('hex'))).toEqual([a.toString('hex'), b.toString('hex'), '']);
  });

  it('reads requested outputs: binary_data_output as default, binary_data overriding it, classification', () => {
    const parsed = parse({
      parameters: { binary_data_output: true },
      inputs: [fp32Input(1)],
      outputs: [{ name: 'features' }, { name: 'output', parameters: { binary_data: false, classification: 3 } }],
    });
    expect(parsed.outputs).toEqual([
      { name: 'features', binary: true, classification: 0 },
      { name: 'output', binary: false, classification: 3 },
    ]);
    expect(parse({ parameters: { binary_data_output: true }, inputs: [fp32Input(1)], outputs: [] }).outputs.map((o) => o.binary)).toEqual([true, true]);
    expect(parse({ inputs: [fp32Input(1)], outputs: [{ name: 'output', parameters: { classification: 5 } }] }).outputs[0]!.classification).toBe(5);
  });

  it('counts null optional fields as absent', () => {
    const parsed = parse({ id: null, parameters: null, outputs: null, inputs: [fp32Input(1, { parameters: null })] });
    expect(parsed.batchSize).toBe(1);
    expect(parsed.outputs.length).toBe(2);
  });
});

describe('parseInferRequest: 400 for every malformed request', () => {
  it('wrong shape, in Triton words', () => {
    expect400(() => parse({ inputs: [{ ...fp32Input(1), shape: [1, 3, 4, 3] }] }),
      "unexpected shape for input 'input' for model 'tiny'. Expected [-1,3,4,4] or [-1,4,4,3], got [1,3,4,3]");
    expect400(() => parse({ inputs: [{ ...fp32Input(1), shape: [3, 4, 4] }] }), 'Expected [-1,3,4,4] or [-1,4,4,3], got [3,4,4]');
    expect400(() => parse({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [2, 2], data: ['', '', '', ''] }] }),
      "unexpected shape for input 'input' for model 'tiny'. Expected [-1] or [-1,1]");
  });

  it('shape dims that are not non-negative safe integers, without allocating for them', () => {
    for (const shape of [[-1, 3, 4, 4], [1.5, 3, 4, 4], ['1', 3, 4, 4], [2 ** 60, 3, 4, 4], 'x', null, [1, 3, 4, null]]) {
      expect400(() => parse({ inputs: [{ ...fp32Input(1), shape }] }), "'shape' of input 'input' must be an array of non-negative integers");
    }
    // A huge batch is refused by the model's bound before any data is looked at.
    expect400(() => parse({ inputs: [{ ...fp32Input(1), shape: [2 ** 40, 3, 4, 4] }] }), "inference request batch-size must be <= 4 for 'tiny', got 1099511627776");
    expect400(() => parse({ inputs: [{ ...fp32Input(1), shape: [1, ...Array(1000).fill(7)] }] }), ',… (1001 dims)]');
  });

  it('batch size outside 1..maxBatchSize', () => {
    expect400(() => parse({ inputs: [{ ...fp32Input(1), shape: [0, 3, 4, 4], data: [] }] }), "inference request batch-size must be >= 1 for 'tiny'");
    expect400(() => parse({ inputs: [fp32Input(5)] }), "inference request batch-size must be <= 4 for 'tiny', got 5 for input 'input'");
  });

  it('wrong datatype', () => {
    expect400(() => parse({ inputs: [fp32Input(1, { datatype: 'INT64' })] }),
      "inference input 'input' data-type is 'INT64', but model 'tiny' expects 'FP32' or 'FP16' or 'UINT8' or 'BYTES'");
    expect400(() => parse({ inputs: [fp32Input(1, { datatype: 'fp32' })] }), "data-type is 'fp32'");
    expect400(() => parse({ inputs: [fp32Input(1, { datatype: 7 })] }), 'data-type is 7');
  });

  it('data length that does not match the shape, flat or nested (ragged, too deep, mixed)', () => {
    expect400(() => parse({ inputs: [fp32Input(1, { data: ramp(47) })] }), "input 'input' has 47 elements in 'data' but its shape [1,3,4,4] needs 48");
    expect400(() => parse({ inputs: [fp32Input(2, { data: ramp(48) })] }), 'needs 96');
    const nested = (): unknown[][][][] => [[0, 1, 2].map(() => [0, 1, 2, 3].map(() => [0, 0, 0, 0]))];
    const ragged = nested();
    ragged[0]![2]![1] = [0, 0, 0];
    expect400(() => parse({ inputs: [fp32Input(1, { data: ragged })] }), "nested 'data' of input 'input' does not match its shape [1,3,4,4]: expected 4 elements at data[0][2][1], got 3 elements");
    const deep = nested();
    deep[0]![0]![0]![0] = [0];
    expect400(() => parse({ inputs: [fp32Input(1, { data: deep })] }), 'is deeper than its shape [1,3,4,4] at data[0][0][0][0]');
    const mixed = nested();
    (mixed[0]![1] as unknown[])[2] = 5;
    expect400(() => parse({ inputs: [fp32Input(1, { data: mixed })] }), 'expected 4 elements at data[0][1][2], got 5');
    expect400(() => parse({ inputs: [fp32Input(1, { data: { a: 1 } })] }), "'data' of input 'input' must be an array");
  });

  it('FP32 elements that are not finite float32 numbers', () => {
    for (const [element, shown] of [['1', '"1"'], [null, 'null'], [true, 'true'], [[1], '[1]']] as const) {
      const data = ramp(48);
      (data as unknown[])[5] = element;
      expect400(() => parse({ inputs: [fp32Input(1, { data })] }), `element 5 of input 'input' must be a number (FP32), got ${shown}`);
    }
    const data = ramp(48);
    data[7] = 1e39;
    expect400(() => parse({ inputs: [fp32Input(1, { data })] }), "element 7 of input 'input' is outside the FP32 range: 1e+39");
    // JSON has no Infinity, but 1e999 parses to it.
    const text = JSON.stringify({ inputs: [fp32Input(1)] }).replace('[-6,', '[1e999,');
    expect400(() => parseInferRequest(...splitBody(Buffer.from(text), undefined), signature), "element 0 of input 'input' is outside the FP32 range");
  });

  it('BYTES JSON elements that are not strict base64 strings', () => {
    const bytesInput = (data: unknown[]) => ({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [data.length], data }] });
    expect400(() => parse(bytesInput([3])), "element 0 of input 'input' must be a base64 string (BYTES), got 3");
    for (const bad of ['abc', 'ab!=', 'QR==', 'QUI=x', 'QUJD\n', 'QQ', 'Q===', '====']) {
      expect400(() => parse(bytesInput(['QUJD', bad])), "element 1 of input 'input' is not valid base64");
    }
    expect(decodeBase64Strict('QUJD')?.toString()).toBe('ABC');
    expect(decodeBase64Strict('QUI=')?.toString()).toBe('AB');
    expect(decodeBase64Strict('QQ==')?.toString()).toBe('A');
    expect(decodeBase64Strict('')?.length).toBe(0);
    expect(decodeBase64Strict('+/+/')?.toString('hex')).toBe('fbffbf');
    expect(decodeBase64Strict('-_-_')).toBeNull();
  });

  it('truncated, missing, leftover or mis-sized binary data', () => {
    const binaryInput = (size: number) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 4, 4], parameters: { binary_data_size: size } }] });
    expect400(() => parse(binaryInput(192), Buffer.alloc(100)),
      "binary data of input 'input' is truncated: binary_data_size is 192 but only 100 bytes of the binary part remain");
    expect400(() => parse(binaryInput(192)), 'the request has no binary part (is Inference-Header-Content-Length missing?)');
    expect400(() => parse(binaryInput(192), Buffer.alloc(200)), "the binary part has 200 bytes but the inputs' binary_data_size parameters add up to 192");
    expect400(() => parse({ inputs: [fp32Input(1)] }, Buffer.alloc(4)), 'the binary part has 4 bytes but the inputs');
    expect400(() => parse(binaryInput(188), Buffer.alloc(188)), "binary_data_size of input 'input' is 188, expected 192 (48 FP32 elements × 4 bytes)");
    expect400(() => parse({ inputs: [fp32Input(1, { parameters: { binary_data_size: 192 } })] }, Buffer.alloc(192)),
      "input 'input' has both 'data' and a binary_data_size parameter");
    expect400(() => parse({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 4, 4] }] }), "input 'input' has neither 'data' nor a binary_data_size parameter");
  });

  it('BYTES binary elements that do not fill binary_data_size exactly', () => {
    const bytesInput = (count: number, size: number) => ({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [count], parameters: { binary_data_size: size } }] });
    const two = lengthPrefixed(Buffer.from('ab'), Buffer.from('cde'));
    expect400(() => parse(bytesInput(3, two.length), two), "binary data of input 'input' holds 2 BYTES elements but its shape needs 3");
    expect400(() => parse(bytesInput(1, two.length), two), "binary data of input 'input' has 7 bytes after its 1 BYTES elements");
    const overlong = Buffer.from(two);
    overlong.writeUInt32LE(1000, 6);
    expect400(() => parse(bytesInput(2, overlong.length), overlong), "BYTES element 1 of input 'input' declares 1000 bytes but only 3 remain");
    const cut = two.subarray(0, 8);
    expect400(() => parse(bytesInput(2, cut.length), cut), "binary data of input 'input' ends inside the 4-byte length of BYTES element 1");
  });

  it('unknown parameters, named, and known ones of the wrong type', () => {
    expect400(() => parse({ parameters: { sequence_id: 1 }, inputs: [fp32Input(1)] }),
      'unsupported parameter "sequence_id" in the inference request (supported here: binary_data_output, timeout, priority)');
    // schedule_policy's priority is accepted (one level: no effect), and checked.
    expect(parse({ parameters: { priority: 2 }, inputs: [fp32Input(1)] }).batchSize).toBe(1);
    expect400(() => parse({ parameters: { priority: -1 }, inputs: [fp32Input(1)] }), 'priority');
    expect400(() => parse({ inputs: [fp32Input(1, { parameters: { content_type: 'np' } })] }), `unsupported parameter "content_type" in input 'input'`);
    expect400(() => parse({ inputs: [fp32Input(1)], outputs: [{ name: 'output', parameters: { top_k: 3 } }] }), `unsupported parameter "top_k" in output 'output'`);
    // Names that are properties of every object are still unknown parameters.
    for (const name of ['__proto__', 'constructor', 'toString']) {
      const header = JSON.parse(`{"parameters":{"${name}":1},"inputs":[]}`) as unknown;
      expect400(() => parseInferRequest(header, Buffer.alloc(0), signature), `unsupported parameter "${name}" in the inference request`);
    }
    expect400(() => parse({ parameters: { binary_data_output: 'yes' }, inputs: [fp32Input(1)] }), `parameter 'binary_data_output' of the inference request must be a boolean, got "yes"`);
    expect400(() => parse({ parameters: { timeout: -1 }, inputs: [fp32Input(1)] }), "parameter 'timeout' of the inference request must be a non-negative integer, got -1");
    expect400(() => parse({ parameters: { timeout: 1.5 }, inputs: [fp32Input(1)] }), 'must be a non-negative integer, got 1.5');
    expect400(() => parse({ inputs: [fp32Input(1)], outputs: [{ name: 'output', parameters: { binary_data: 1 } }] }), "parameter 'binary_data' of output 'output' must be a boolean");
    expect400(() => parse({ parameters: [1], inputs: [fp32Input(1)] }), "'parameters' of the inference request must be a JSON object");
  });

  it('classification: an integer 1..classes, only on an output with a class dimension', () => {
    const classifying = (name: string, value: unknown) => ({ inputs: [fp32Input(1)], outputs: [{ name, parameters: { classification: value } }] });
    expect400(() => parse(classifying('output', 0)), "parameter 'classification' of output 'output' must be a positive integer, got 0");
    expect400(() => parse(classifying('output', 2.5)), 'must be a positive integer, got 2.5');
    expect400(() => parse(classifying('output', '3')), 'must be a positive integer, got "3"');
    expect400(() => parse(classifying('output', 6)), "parameter 'classification' of output 'output' asks for the top 6 but it has 5 classes");
    expect400(() => parse(classifying('features', 1)), "output 'features' of model 'tiny' has no class dimension to classify (classification applies to 'output')");
    expect(hasClassDimension(signature.outputs[0]!)).toBe(true);
    expect(hasClassDimension(signature.outputs[1]!)).toBe(false);
    expect(hasClassDimension({ name: 'logits', datatype: 'FP32', sampleShape: [10], labels: Array(10).fill('x') })).toBe(true);
  });

  it('unknown, missing or repeated inputs and outputs', () => {
    expect400(() => parse({ inputs: [fp32Input(1, { name: 'image' })] }), "unexpected inference input 'image' for model 'tiny'");
    expect400(() => parse({ inputs: [] }), "missing input 'input' for model 'tiny'");
    expect400(() => parse({ inputs: [fp32Input(1), fp32Input(1)] }), "input 'input' appears more than once");
    expect400(() => parse({ inputs: [fp32Input(1)], outputs: [{ name: 'probs' }] }), "unexpected inference output 'probs' for model 'tiny'");
    expect400(() => parse({ inputs: [fp32Input(1)], outputs: [{ name: 'output' }, { name: 'output' }] }), "output 'output' is requested more than once");
    expect400(() => parse({ inputs: [fp32Input(1)], outputs: [{ name: 3 }] }), "'name' of outputs[0] must be a string, got 3");
    expect400(() => parse({ inputs: [fp32Input(1)], outputs: { name: 'output' } }), "'outputs' of the inference request must be an array");
    expect400(() => parse({ inputs: [fp32Input(1, { name: undefined })] }), "'name' of inputs[0] must be a string");
  });

  it('schema: the request, its inputs and outputs are objects with known fields and typed members', () => {
    for (const header of [[], null, 3, 'x']) expect400(() => parse(header), 'the inference request must be a JSON object');
    expect400(() => parse({ inputs: [fp32Input(1)], model_name: 'tiny' }), 'unexpected field "model_name" in the inference request (known: id, parameters, inputs, outputs)');
    expect400(() => parse({ inputs: [fp32Input(1, { content: [] })] }), 'unexpected field "content" in inputs[0]');
    expect400(() => parse({ inputs: [fp32Input(1)], outputs: [{ name: 'output', binary_data: true }] }), 'unexpected field "binary_data" in outputs[0]');
    expect400(() => parse({ id: 7, inputs: [fp32Input(1)] }), "'id' of the inference request must be a string, got 7");
    expect400(() => parse({}), "'inputs' of the inference request must be an array, got undefined");
    expect400(() => parse({ inputs: { input: 1 } }), "'inputs' of the inference request must be an array");
    expect400(() => parse({ inputs: [7] }), 'inputs[0] must be a JSON object, got 7');
  });
});

describe('encodeInferResponse', () => {
  // Two samples; JSON carries each float32 exactly, as the double it widens to.
  const logits = new Float32Array([0.5, 2, 2, -1, 0.1, /* row 2 */ 3.25, -0.75, 1e-7, 3.25, 17.281204]);
  const features = new Float32Array([0.3, -2.5, 1 / 3, 1024]);
  const computed = [{ name: 'features', values: features }, { name: 'output', values: logits }];
  const request = (outputs: ParsedInferRequest['outputs'], id?: string): ParsedInferRequest => ({
    ...(id === undefined ? {} : { id }), batchSize: 2, inputs: [], outputs,
  });

  it('writes JSON in the schema key order with each float32 exactly', () => {
    const { body, headers } = encodeInferResponse(signature, request([
      { name: 'output', binary: false, classification: 0 }, { name: 'features', binary: false, classification: 0 },
    ], 'r-7'), computed);
    expect(headers).toEqual({ 'content-type': 'application/json' });
    expect(body.toString()).toBe(
      '{"model_name":"tiny","model_version":"3","id":"r-7","outputs":['
      + '{"name":"output","datatype":"FP32","shape":[2,5],"data":[0.5,2,2,-1,0.10000000149011612,3.25,-0.75,1.0000000116860974e-7,3.25,17.281204223632812]},'
      + '{"name":"features","datatype":"FP32","shape":[2,2],"data":[0.30000001192092896,-2.5,0.3333333432674408,1024]}]}');
    const noId = encodeInferResponse(signature, request([{ name: 'features', binary: false, classification: 0 }]), computed);
    expect(Object.keys(JSON.parse(noId.body.toString()))).toEqual(['model_name', 'model_version', 'outputs']);
  });

  it('writes binary outputs after the JSON header, in output order, little-endian', () => {
    const { body, headers } = encodeInferResponse(signature, request([
      { name: 'features', binary: true, classification: 0 }, { name: 'output', binary: true, classification: 0 },
    ]), computed);
    expect(headers['content-type']).toBe('application/octet-stream');
    const jsonLength = Number(headers['inference-header-content-length']);
    const header = JSON.parse(body.subarray(0, jsonLength).toString());
    expect(header).toEqual({
      model_name: 'tiny', model_version: '3', outputs: [
        { name: 'features', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
        { name: 'output', datatype: 'FP32', shape: [2, 5], parameters: { binary_data_size: 40 } },
      ],
    });
    expect(body.subarray(0, jsonLength).toString()).toContain('"shape":[2,2],"parameters":{"binary_data_size":16}}');
    expect(body.length).toBe(jsonLength + 16 + 40);
    const read = (offset: number, count: number) => Array.from({ length: count }, (_, i) => body.readFloatLE(jsonLength + offset + 4 * i));
    expect(read(0, 4)).toEqual([...features]);
    expect(read(16, 10)).toEqual([...logits]);
  });

  it('mixes JSON and binary outputs: only binary ones contribute bytes', () => {
    const { body, headers } = encodeInferResponse(signature, request([
      { name: 'output', binary: false, classification: 0 }, { name: 'features', binary: true, classification: 0 },
    ]), computed);
    const jsonLength = Number(headers['inference-header-content-length']);
    const header = JSON.parse(body.subarray(0, jsonLength).toString()) as { outputs: { data?: number[] }[] };
    expect(header.outputs[0]!.data!.map(Math.fround)).toEqual([...logits]);
    expect(body.length - jsonLength).toBe(16);
    expect(body.readFloatLE(jsonLength + 12)).toBe(1024);
  });

  it('classifies as BYTES "score:index:label", highest first, ties by lower index', () => {
    const { body } = encodeInferResponse(signature, request([{ name: 'output', binary: false, classification: 3 }]), computed);
    expect(JSON.parse(body.toString()).outputs).toEqual([{
      name: 'output', datatype: 'BYTES', shape: [2, 3],
      data: ['2:1:dog', '2:2:fox', '0.5:0:cat', '17.281204:4:emu', '3.25:0:cat', '3.25:3:owl'],
    }]);
  });

  it('classifies into length-prefixed binary BYTES', () => {
    const { body, headers } = encodeInferResponse(signature, request([{ name: 'output', binary: true, classification: 2 }]), computed);
    const jsonLength = Number(headers['inference-header-content-length']);
    const header = JSON.parse(body.subarray(0, jsonLength).toString()) as { outputs: { datatype: string; shape: number[]; parameters: { binary_data_size: number } }[] };
    expect(header.outputs[0]).toMatchObject({ datatype: 'BYTES', shape: [2, 2] });
    const strings: string[] = [];
    for (let offset = jsonLength; offset < body.length;) {
      const length = body.readUInt32LE(offset);
      strings.push(body.subarray(offset + 4, offset + 4 + length).toString());
      offset += 4 + length;
    }
    expect(strings).toEqual(['2:1:dog', '2:2:fox', '17.281204:4:emu', '3.25:0:cat']);
    expect(header.outputs[0]!.parameters.binary_data_size).toBe(body.length - jsonLength);
  });

  it('leaves the label out where the output has none', () => {
    expect(classify(new Float32Array([1, 5, 5, -2]), 2, 2, 2, null)).toEqual(['5:1', '1:0', '5:0', '-2:1']);
    expect(classify(new Float32Array([Number.NaN, 1, Number.POSITIVE_INFINITY]), 1, 3, 3, ['a', 'b'])).toEqual(['Infinity:2', '1:1:b', 'NaN:0:a']);
  });

  it('refuses what JSON cannot carry (500) and outputs the model did not compute (bug: plain Error)', () => {
    const nan = [{ name: 'features', values: new Float32Array([0, Number.NaN, 0, 0]) }];
    let caught: unknown;
    try {
      encodeInferResponse(signature, request([{ name: 'features', binary: false, classification: 0 }]), nan);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HttpError);
    expect((caught as HttpError).status).toBe(500);
    expect((caught as HttpError).message).toBe("output 'features' holds NaN at element 1, which JSON cannot carry; request it with binary_data");
    expect(encodeInferResponse(signature, request([{ name: 'features', binary: true, classification: 0 }]), nan).body.length).toBeGreaterThan(16);
    expect(() => encodeInferResponse(signature, request([{ name: 'output', binary: false, classification: 0 }]), nan)).toThrow("no computed output 'output'");
    expect(() => encodeInferResponse(signature, request([{ name: 'features', binary: false, classification: 0 }]), [{ name: 'features', values: new Float32Array(3) }]))
      .toThrow("output 'features' has 3 values, expected 4");
  });

  it('round-trips a binary request into a binary response', () => {
    const values = ramp(2 * sample);
    const parsed = parse({
      id: 'rt', parameters: { binary_data_output: true },
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 4, 4], parameters: { binary_data_size: 2 * sample * 4 } }],
    }, f32le(values));
    const input = Float32Array.from(valuesOf(parsed.inputs[0]!));
    // A stand-in model: per sample, output = the first five values, features = the sum and the mean.
    const out = new Float32Array(10);
    const feat = new Float32Array(4);
    for (let n = 0; n < 2; n++) {
      const row = input.subarray(n * sample, (n + 1) * sample);
      out.set(row.subarray(0, 5), n * 5);
      const sum = row.reduce((a, b) => a + b, 0);
      feat.set([sum, sum / sample], n * 2);
    }
    const { body, headers } = encodeInferResponse(signature, parsed, [{ name: 'output', values: out }, { name: 'features', values: feat }]);
    const jsonLength = Number(headers['inference-header-content-length']);
    expect(JSON.parse(body.subarray(0, jsonLength).toString()).id).toBe('rt');
    const floats = Array.from({ length: 14 }, (_, i) => body.readFloatLE(jsonLength + 4 * i));
    expect(floats.slice(0, 10)).toEqual([...values.slice(0, 5), ...values.slice(48, 53)]);
    expect(floats.slice(10)).toEqual([...feat]);
  });
});

describe('formatFloat32', () => {
  // [float32 value, numpy.format_float_scientific(np.float32(v), unique=True) written as JS writes that decimal]
  const numpy: [number, string][] = [
    [0.10000000149011612, '0.1'], [0.3333333432674408, '0.33333334'], [9.5367431640625e-7, '9.536743e-7'],
    [16777216, '16777216'], [3.4028234663852886e+38, '3.4028235e+38'], [1.401298464324817e-45, '1e-45'],
    [1.1754943508222875e-38, '1.1754944e-38'], [-2.5, '-2.5'], [1.0000000116860974e-7, '1e-7'],
    [123456.7890625, '123456.79'], [0.30000001192092896, '0.3'], [17.2812042236328125, '17.281204'],
    [1.2676506002282294e+30, '1.2676506e+30'], [7.888609052210118e-31, '7.888609e-31'], [1, '1'],
    [9.999999046325684, '9.999999'], [7.006492321624085e-45, '7e-45'], [113143560429109250, '113143560000000000'],
    [-19111022, '-19111022'], [-1.4051655394808904e-9, '-1.4051655e-9'], [-9.726323523430302e+29, '-9.7263235e+29'],
    // Exactly halfway between two shortest candidates: the even last digit wins.
    [2357719.25, '2357719.2'], [-151096.125, '-151096.12'], [0.000244140625, '0.00024414062'],
  ];

  it("matches numpy's shortest round-trip strings", () => {
    for (const [value, expected] of numpy) expect(formatFloat32(value), String(value)).toBe(expected);
  });

  it('round-trips and is never longer than nine significant digits', () => {
    const bits = new Uint32Array(1);
    const float = new Float32Array(bits.buffer);
    let state = 12345;
    for (let i = 0; i < 2000; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      bits[0] = state ^ (state << 7);
      const x = float[0]!;
      if (!Number.isFinite(x)) continue;
      const text = formatFloat32(x);
      expect(Math.fround(Number(text))).toBe(x);
      const significant = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      expect(significant.length, text).toBeLessThanOrEqual(9);
    }
    expect(formatFloat32(-0)).toBe('-0');
    expect(formatFloat32(0)).toBe('0');
    expect(formatFloat32(Number.NaN)).toBe('NaN');
  });
});

describe('metadata', () => {
  it('server metadata lists the implemented extensions', () => {
    expect(serverMetadata('resnet-cudnn', '0.1.0')).toEqual({
      name: 'resnet-cudnn', version: '0.1.0',
      extensions: ['binary_tensor_data', 'classification', 'model_configuration', 'statistics', 'schedule_policy'],
    });
  });

  it('model metadata marks the batch dimension -1', () => {
    expect(modelMetadata(signature)).toEqual({
      name: 'tiny', versions: ['3'], platform: 'resnet_cudnn',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 4, 4] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 5] }, { name: 'features', datatype: 'FP32', shape: [-1, 2] }],
    });
  });

  it("model configuration in Triton's JSON form", () => {
    const batching = {
      maxBatchSize: 4, preferredBatchSizes: [2, 4], maxQueueDelayMicroseconds: 500, maxQueueSize: 16,
      instanceCount: 3, defaultTimeoutMicroseconds: 0,
    };
    expect(modelConfig(signature, batching, 'cpu')).toEqual({
      name: 'tiny', platform: 'resnet_cudnn', backend: 'resnet', max_batch_size: 4,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [3, 4, 4], format: 'FORMAT_NCHW' }],
      output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [5] }, { name: 'features', data_type: 'TYPE_FP32', dims: [2] }],
      dynamic_batching: {
        preferred_batch_size: [2, 4], max_queue_delay_microseconds: 500,
        default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: true, max_queue_size: 16 },
      },
      instance_group: [{ count: 3, kind: 'KIND_CPU' }],
      parameters: {
        'input.accepted_forms': {
          string_value: "FP32 [-1,3,4,4] or [-1,4,4,3]; FP16 [-1,3,4,4] or [-1,4,4,3]; UINT8 [-1,3,4,4] or [-1,4,4,3] (pixels, normalised by the server with the weights' mean and std); BYTES [-1] (encoded JPEG/PNG/WebP images)",
        },
      },
    });
    expect(modelConfig(signature, batching, 'gpu').instance_group).toEqual([{ count: 3, kind: 'KIND_GPU' }]);
  });
});
