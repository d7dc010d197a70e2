/**
 * Hostile JSON in inference requests: a body, `id`, parameter, `shape` or `datatype` nested 200,000 levels
 * deep is a 400 naming the nesting limit (64 levels, counted from the top of the document) rather than a
 * 500 from a stack overflow while the message was built; values within the limit, and megabytes-long
 * strings, are shown cut short in their messages; a literal beyond the double range (1e999) is reported
 * as ±Infinity outside the FP32/FP16 range. After each, the server still answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { inputValues, jsonInfer, resnet20Server } from '../helpers/server-helpers.js';

let server: InferenceServer;
const url = '/v2/models/resnet20/infer';
const deep = 200_000;
/** Messages stay well under this, whatever the request held. */
const maxMessageBytes = 1024;
const values = inputValues(1, 5);

beforeAll(async () => {
  // The JSON limit raised as far as the body limit: the nesting checks are tested on bodies of many MB.
  server = resnet20Server({ maxQueueDelayMicroseconds: 0, maxBatchSize: 2 }, { maxBodyBytes: 64 * 1024 * 1024, maxJsonBodyBytes: 64 * 1024 * 1024, maxJsonValues: 2 ** 31 });
  await server.start();
});
afterAll(async () => {
  await server.close();
});

/** `levels` arrays nested around `inner` (as JSON text). */
function nestedArrays(levels: number, inner = ''): string {
  return `${'['.repeat(levels)}${inner}${']'.repeat(levels)}`;
}

/** `levels` objects `{"a": …}` nested around 1 (as JSON text). */
function nestedObjects(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

/** A request body whose first input has `input` fields (JSON text) instead of the good ones, plus `top` fields. */
function request(input: Record<string, string>, top: Record<string, string> = {}): string {
  const fields: Record<string, string> = {
    name: '"input"', datatype: '"FP32"', shape: '[1,3,32,32]', data: JSON.stringify(Array.from(values)), ...input,
  };
  const inputJson = `{${Object.entries(fields).map(([key, value]) => `"${key}":${value}`).join(',')}}`;
  const topJson = Object.entries(top).map(([key, value]) => `"${key}":${value},`).join('');
  return `{${topJson}"inputs":[${inputJson}]}`;
}

/** Posts `body` and returns its 400 message after checking the `{"error"}` shape and its bound. */
async function badRequestMessage(body: string): Promise<string> {
  const res = await server.app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': 'application/json' } });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
  const parsed = res.json() as Record<string, unknown>;
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(typeof parsed.error).toBe('string');
  expect(Buffer.byteLength(res.body)).toBeLessThan(maxMessageBytes);
  return parsed.error as string;
}

async function expectServing(): Promise<void> {
  const live = await server.app.inject({ url: '/v2/health/live' });
  expect(live.statusCode).toBe(200);
  const res = await server.app.inject({ method: 'POST', url, payload: jsonInfer(values, 1), headers: { 'content-type': 'application/json' } });
  expect(res.statusCode, res.body).toBe(200);
}

const depthMessage = 'nests arrays and objects more than 64 levels deep (the limit)';

describe('JSON nested 200,000 levels deep', () => {
  const cases: [string, string][] = [
    ['the body itself (arrays)', nestedArrays(deep)],
    ['the body itself (objects)', nestedObjects(deep)],
    ['id', request({}, { id: nestedArrays(deep) })],
    ['a request parameter', request({}, { parameters: `{"timeout":${nestedObjects(deep)}}` })],
    ['an input parameter', request({ parameters: `{"binary_data_size":${nestedArrays(deep)}}` })],
    ['shape', request({ shape: nestedArrays(deep, '1') })],
    ['a dimension of shape', request({ shape: `[1,${nestedArrays(deep)},32,32]` })],
    ['datatype', request({ datatype: nestedObjects(deep) })],
    ['data', request({ data: nestedArrays(deep, '0.5') })],
  ];
  it.each(cases)('in %s is a 400 naming the nesting limit, and the server keeps serving', async (_where, body) => {
    expect(await badRequestMessage(body)).toContain(depthMessage);
    await expectServing();
  });

  it('says where the nesting went past the limit, the path cut short', async () => {
    const message = await badRequestMessage(request({}, { parameters: `{"timeout":${nestedArrays(deep)}}` }));
    expect(message).toMatch(/at parameters\.timeout\[0\]\[0\]\[0\]/);
    expect(message).toContain('…');
  });
});

describe('the nesting limit counts levels from the top of the document', () => {
  // {"parameters":{"timeout": X}}: X's outermost array is level 3, so 62 arrays reach level 64.
  it('accepts 64 levels: the value is then refused for its type, shown cut short', async () => {
    const message = await badRequestMessage(request({}, { parameters: `{"timeout":${nestedArrays(62, '7')}}` }));
    expect(message).toBe("parameter 'timeout' of the inference request must be a non-negative integer, got [[[[…]]]]");
  });

  it('refuses 65 levels with the limit', async () => {
    const message = await badRequestMessage(request({}, { parameters: `{"timeout":${nestedArrays(63, '7')}}` }));
    expect(message).toContain(depthMessage);
    expect(message).toContain(`at parameters.timeout${'[0]'.repeat(62)}`.slice(0, 119));
  });
});

describe('values within the limit are shown bounded in messages', () => {
  const long = 'x'.repeat(30 * 1024 * 1024);
  it('a 30 MB id of the wrong type', async () => {
    const message = await badRequestMessage(request({}, { id: `[${JSON.stringify(long)}]` }));
    expect(message).toBe(`'id' of the inference request must be a string, got ["${'x'.repeat(38)}`.slice(0, 39 + "'id' of the inference request must be a string, got ".length) + '…');
  });

  it('a 30 MB input name', async () => {
    const message = await badRequestMessage(request({ name: JSON.stringify(long) }));
    expect(message).toBe(`unexpected inference input '${'x'.repeat(63)}…' for model 'resnet20'`);
  });

  it('a 30 MB datatype', async () => {
    const message = await badRequestMessage(request({ datatype: JSON.stringify(long) }));
    expect(message).toContain(`data-type is '${'x'.repeat(24)}'`);
  });

  it('a shape of nested dimensions', async () => {
    const message = await badRequestMessage(request({ shape: `[1,${nestedArrays(50, '3')},32,32]` }));
    expect(message).toBe("'shape' of input 'input' must be an array of non-negative integers, got [1,[[[[…]]]],32,32]");
  });

  it('a parameter value with 100,000 keys', async () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `"k${i}":${i}`).join(',');
    const message = await badRequestMessage(request({}, { parameters: `{"binary_data_output":{${keys}}}` }));
    expect(message).toBe('parameter \'binary_data_output\' of the inference request must be a boolean, got {"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5…');
  });
});

describe('literals beyond the double range', () => {
  const data = (literal: string): string => `[${literal},${Array.from(values.subarray(1)).join(',')}]`;
  it.each([
    ['FP32', '1e999', 'Infinity'],
    ['FP32', '-1e999', '-Infinity'],
    ['FP16', '1e999', 'Infinity'],
  ])('%s %s is refused as %s, outside the range', async (datatype, literal, shown) => {
    const message = await badRequestMessage(request({ datatype: `"${datatype}"`, data: data(literal) }));
    expect(message).toBe(`element 0 of input 'input' is outside the ${datatype} range: ${shown} (a literal beyond even the float64 range, such as 1e999)`);
  });

  it('UINT8 1e999 names the value as Infinity', async () => {
    const bytes = `[1e999,${Array.from({ length: 3 * 32 * 32 - 1 }, () => 0).join(',')}]`;
    const message = await badRequestMessage(request({ datatype: '"UINT8"', data: bytes }));
    expect(message).toBe("element 0 of input 'input' must be an integer from 0 to 255 (UINT8), got Infinity");
  });
});

describe('the shared-memory register request', () => {
  it('refuses a body nested 200,000 levels deep with the limit, and the server keeps serving', async () => {
    const shm = resnet20Server({ maxQueueDelayMicroseconds: 0 }, { allowShm: true, maxJsonValues: 2 ** 31 });
    await shm.start();
    try {
      const res = await shm.app.inject({
        method: 'POST', url: '/v2/systemsharedmemory/region/r/register', payload: `{"key":${nestedArrays(deep)}}`,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(400);
      expect(Buffer.byteLength(res.body)).toBeLessThan(maxMessageBytes);
      const path = `key${'[0]'.repeat(64)}`.slice(0, 119);
      expect(res.json()).toEqual({ error: `the register request of shared memory region 'r' ${depthMessage}, at ${path}…; send {"key", "offset", "byte_size"}` });
      expect((await shm.app.inject({ url: '/v2/health/live' })).statusCode).toBe(200);
    } finally {
      await shm.close();
    }
  });
});

describe('the JSON value count (maxJsonValues), checked before anything parses the body', () => {
  let defaults: InferenceServer;
  beforeAll(async () => {
    defaults = resnet20Server({ maxQueueDelayMicroseconds: 0 });
    await defaults.start();
  });
  afterAll(async () => {
    await defaults?.close();
  });

  async function post(body: string): Promise<{ status: number; error?: string }> {
    const res = await defaults.app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': 'application/json' } });
    return { status: res.statusCode, ...(res.statusCode === 200 ? {} : { error: (res.json() as { error: string }).error }) };
  }

  it('refuses 1.2 million zeros (2.3 MB, under the 4 MiB byte limit) with 413, naming the count and the limit', async () => {
    const zeros = `[${new Array(1_200_000).fill('0').join(',')}]`;
    const body = request({ data: zeros });
    expect(Buffer.byteLength(body)).toBeLessThan(4 * 1024 * 1024);
    const refused = await post(body);
    expect(refused.status).toBe(413);
    // Commas: 1,199,999 in data, 3 in shape, 3 between the input's fields; 3 arrays and 2 objects (8 each); 5 keys (64 each).
    expect(refused.error).toBe(`the inference request header (${Buffer.byteLength(body)} bytes) counts ${1_199_999 + 3 + 3 + 5 * 8 + 5 * 64} JSON values `
      + '(a number or string 1, an array or object 8, a key 64), more than the limit of 1048576 (maxJsonValues, --max-json-values): '
      + 'send tensors as binary data (the binary tensor extension, with Inference-Header-Content-Length), or raise the limit');
    expect((await post(jsonInfer(values, 1))).status).toBe(200);
  });

  it('counts nothing inside strings: an id of 2 million commas and brackets is read, and the request answered', async () => {
    const id = JSON.stringify(`${',[{:'.repeat(500_000)}\\"`);
    const answered = await post(request({}, { id }));
    expect(answered).toEqual({ status: 200 });
  });

  it('refuses 17,000 keys (each counts 64) in a parameter object, though the body is 250 KB', async () => {
    const keys = `{${Array.from({ length: 17_000 }, (_, i) => `"k${i}":1`).join(',')}}`;
    const refused = await post(request({ parameters: keys }));
    expect(refused.status).toBe(413);
    expect(refused.error).toMatch(/counts 1\d{6} JSON values .* more than the limit of 1048576/);
  });
});
