import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidFileError, UnsupportedError } from '../../lib/errors.js';
import {
  loadSafetensors,
  loadSafetensorsFile,
  parseSafetensors,
  parseSafetensorsFile,
  saveSafetensors,
  serializeSafetensors,
} from '../../lib/io/safetensors.js';
import { Tensor } from '../../lib/tensor.js';

const ascii = (s: string) => [...Buffer.from(s, 'utf8')];

/** A file from a header text (not padded) and raw data bytes. */
function file(header: string, data: ArrayLike<number> = []): Uint8Array {
  const json = Buffer.from(header, 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(Array.from(data), 8 + json.length);
  return out;
}

function expectInvalid(bytes: Uint8Array, message: RegExp): void {
  let error: unknown;
  try {
    parseSafetensors(bytes);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InvalidFileError);
  expect((error as InvalidFileError).code).toBe('ERR_INVALID_FILE');
  expect((error as Error).message).toMatch(message);
}

const f32 = (...values: number[]) => [...new Uint8Array(new Float32Array(values).buffer)];

describe('safetensors byte layout (checked against the format, not against ourselves)', () => {
  it('reads a hand-written file with two dtypes', () => {
    // header: 110 bytes of JSON, little-endian u64 length first; F32 [2] = 1.5, -2 then I16 [1, 2] = 7, -1.
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I16","shape":[1,2],"data_offsets":[8,12]}}';
    expect(header.length).toBe(110);
    const bytes = new Uint8Array([
      110, 0, 0, 0, 0, 0, 0, 0,
      ...ascii(header),
      0x00, 0x00, 0xc0, 0x3f, // 1.5f
      0x00, 0x00, 0x00, 0xc0, // -2.0f
      0x07, 0x00, // 7
      0xff, 0xff, // -1
    ]);
    const sd = parseSafetensors(bytes);
    expect(Object.keys(sd)).toEqual(['a', 'b']);
    expect(sd.a!.dtype).toBe('float32');
    expect(sd.a!.shape).toEqual([2]);
    expect(Array.from(sd.a!.data as Float32Array)).toEqual([1.5, -2]);
    expect(sd.b!.dtype).toBe('int16');
    expect(sd.b!.shape).toEqual([1, 2]);
    expect(Array.from(sd.b!.data as Int16Array)).toEqual([7, -1]);
  });

  it('writes exactly the bytes the reference writer does for one F32 tensor', () => {
    const out = serializeSafetensors({ 'attn.0': Tensor.from(new Float32Array([0, 1, 2, 3, 4, 5]), [1, 2, 3]) });
    const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(json.length).toBe(64); // already a multiple of 8: no padding
    expect(Array.from(out)).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0,
      ...ascii(json),
      0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40,
    ]);
  });

  it('pads the header with spaces to a multiple of 8', () => {
    const out = serializeSafetensors({ attn0: Tensor.from(new Float32Array([0, 1, 2, 3, 4, 5]), [1, 1, 2, 3]) });
    const json = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(json.length).toBe(65);
    expect(Array.from(out.subarray(0, 8 + 72))).toEqual([72, 0, 0, 0, 0, 0, 0, 0, ...ascii(json), 32, 32, 32, 32, 32, 32, 32]);
    expect(out.length).toBe(8 + 72 + 24);
  });

  it('writes an empty file and metadata-only file like the reference', () => {
    expect(Array.from(serializeSafetensors({}))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
    const json = '{"__metadata__":{"framework":"pt"}}';
    expect(Array.from(serializeSafetensors({}, { framework: 'pt' }))).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, ...ascii(json), 32, 32, 32, 32, 32,
    ]);
    expect(parseSafetensorsFile(serializeSafetensors({}, { framework: 'pt' }))).toEqual({ tensors: {}, metadata: { framework: 'pt' } });
  });

  it('orders tensors by descending alignment, then by name (UTF-8 byte order)', () => {
    const out = serializeSafetensors({
      b8: Tensor.from([1], [1], 'uint8'),
      z64: Tensor.from([1], [1], 'float64'),
      a16: Tensor.from([1], [1], 'float16'),
      'é': Tensor.from([1], [1], 'float32'),
      Z: Tensor.from([1], [1], 'float32'),
      i64: Tensor.from([1], [1], 'int64'),
      flag: Tensor.from([1], [1], 'bool'),
      bf: Tensor.from([1], [1], 'bfloat16'),
    });
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    const header = JSON.parse(Buffer.from(out.subarray(8, 8 + n)).toString('utf8')) as Record<string, { data_offsets: number[] }>;
    const byOffset = Object.entries(header).sort((a, b) => a[1].data_offsets[0]! - b[1].data_offsets[0]!).map(([k]) => k);
    expect(byOffset).toEqual(['i64', 'z64', 'Z', 'é', 'bf', 'a16', 'b8', 'flag']);
    // Every tensor starts at a multiple of its own size in the file.
    for (const [name, { data_offsets }] of Object.entries(header)) {
      const size = { i64: 8, z64: 8, Z: 4, 'é': 4, bf: 2, a16: 2, b8: 1, flag: 1 }[name]!;
      expect((8 + n + data_offsets[0]!) % size).toBe(0);
    }
  });

  it('copies unaligned data into aligned arrays', () => {
    // A 57-byte header puts the F64 data at file offset 65 (the reference reader accepts this).
    const header = '{  "x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}';
    expect(header.length).toBe(57);
    const values = new Float64Array([Math.PI, -1e300]);
    const inner = file(header, new Uint8Array(values.buffer));
    expect((8 + header.length) % 8).not.toBe(0);
    // Also place the whole file at an odd byteOffset of a larger buffer.
    const big = new Uint8Array(inner.length + 3);
    big.set(inner, 3);
    const x = parseSafetensors(big.subarray(3)).x!;
    expect(x.data).toBeInstanceOf(Float64Array);
    expect(Array.from(x.data as Float64Array)).toEqual([Math.PI, -1e300]);
    // A copy: editing the file bytes does not change the tensor.
    big.fill(0);
    expect((x.data as Float64Array)[0]).toBe(Math.PI);
  });
});

describe('safetensors round trip', () => {
  const halfBits = [0x0000, 0x8000, 0x3c00, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e01, 0xfd55, 0x5555];
  const bfBits = [0x0000, 0x8000, 0x3f80, 0x7f7f, 0x0001, 0x7f80, 0xff80, 0x7fc1, 0xffab, 0x1234];
  const state = () => ({
    'layer.f32': Tensor.from(new Float32Array([1.5, -0, Infinity, -3.25e-40, NaN, 3.4028234663852886e38]), [2, 3]),
    'layer.f64': Tensor.from(new Float64Array([Math.E, -Number.MIN_VALUE]), [2]),
    'layer.f16': Tensor.from(new Uint16Array(halfBits), [halfBits.length], 'float16'),
    'layer.bf16': Tensor.from(new Uint16Array(bfBits), [bfBits.length], 'bfloat16'),
    num_batches_tracked: Tensor.from(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n]), [3]),
    i32: Tensor.from(new Int32Array([-(2 ** 31), 2 ** 31 - 1]), [2]),
    i16: Tensor.from(new Int16Array([-32768, 32767]), [1, 2, 1]),
    i8: Tensor.from(new Int8Array([-128, 127, 0]), [3]),
    u8: Tensor.from(new Uint8Array([0, 255]), [2]),
    mask: Tensor.from(new Uint8Array([1, 0, 1]), [3], 'bool'),
    scalar: Tensor.from(new Float32Array([42]), []),
    empty: Tensor.from(new Float32Array(0), [0, 5]),
  });

  function expectSame(a: Record<string, Tensor>, b: Record<string, Tensor>): void {
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const [name, t] of Object.entries(a)) {
      const u = b[name]!;
      expect(u.dtype, name).toBe(t.dtype);
      expect(u.shape, name).toEqual(t.shape);
      expect(u.data.constructor, name).toBe(t.data.constructor);
      // Bit-exact: compare raw bytes (NaN payloads, -0 and subnormals included).
      expect(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
    }
  }

  it('keeps every dtype bit-exact, metadata included', () => {
    const sd: Record<string, Tensor> = state();
    // defineProperty: assigning (or a literal) would turn __proto__ into a prototype change.
    Object.defineProperty(sd, '__proto__', { value: Tensor.from(new Float32Array([7]), [1]), enumerable: true });
    const metadata = { format: 'pt', note: 'ünïcode ✓ "quoted"\n', '': 'empty key' };
    const bytes = serializeSafetensors(sd, metadata);
    const back = parseSafetensorsFile(bytes);
    expectSame(sd, back.tensors);
    expect(back.metadata).toEqual(metadata);
    expect(Object.getPrototypeOf(back.tensors)).toBe(Object.prototype);
    expect(Object.hasOwn(back.tensors, '__proto__')).toBe(true);
  });

  it('saves to and loads from a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safetensors-'));
    try {
      const path = join(dir, 'model.safetensors');
      const sd = state();
      await saveSafetensors(path, sd, { framework: 'pt' });
      expect(new Uint8Array(await readFile(path))).toEqual(serializeSafetensors(sd, { framework: 'pt' }));
      expectSame(sd, await loadSafetensors(path));
      expect((await loadSafetensorsFile(path)).metadata).toEqual({ framework: 'pt' });
      expectSame(sd, await loadSafetensors(await readFile(path)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a missing file with InvalidFileError naming the path', async () => {
    await expect(loadSafetensors('/nonexistent/dir/x.safetensors')).rejects.toThrow(InvalidFileError);
    await expect(loadSafetensors('/nonexistent/dir/x.safetensors')).rejects.toThrow(/\/nonexistent\/dir\/x\.safetensors/);
  });

  it('rejects bad arguments when writing', () => {
    expect(() => serializeSafetensors({ x: new Float32Array(1) as unknown as Tensor })).toThrow(InvalidArgumentError);
    expect(() => serializeSafetensors({ __metadata__: Tensor.zeros([1]) })).toThrow(/reserves/);
    expect(() => serializeSafetensors({}, { a: 1 as unknown as string })).toThrow(
      'Expected a string for metadata["a"] but received 1',
    );
    expect(() => serializeSafetensors({ ['\ud800x']: Tensor.zeros([1]) })).toThrow(InvalidArgumentError);
  });
});

describe('safetensors rejects malformed files', () => {
  const good = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const data8 = f32(1, 2);

  it('accepts the well-formed baseline used below', () => {
    expect(Array.from(parseSafetensors(file(good, data8)).w!.data as Float32Array)).toEqual([1, 2]);
  });

  it('files shorter than the length prefix', () => {
    expectInvalid(new Uint8Array(5), /5 bytes is too short/);
  });

  it('a header length over the 100 MB limit (without allocating it)', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 100_000_001n, true);
    expectInvalid(bytes, /header length 100000001 exceeds the 100000000-byte limit/);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expectInvalid(bytes, /header length 18446744073709551615 exceeds/);
  });

  it('a header length past the end of the file', () => {
    const bytes = file(good, data8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
    expectInvalid(bytes, new RegExp(`header length ${bytes.length} runs past the end of the file \\(${bytes.length} bytes\\)`));
  });

  it('a header that is not UTF-8', () => {
    const bytes = file(good, data8);
    bytes[10] = 0xff;
    expectInvalid(bytes, /not valid UTF-8/);
  });

  it('a header that is not JSON', () => {
    expectInvalid(file('{"w":{"dtype":"F32",}}'), /not valid JSON: expected a string key at position 20/);
    expectInvalid(file('{"w":1} x'), /unexpected text after the JSON value/);
    expectInvalid(file('{"w":"a\u0001"}'), /raw control character/);
    expectInvalid(file('{"w":"\\x"}'), /bad escape/);
    expectInvalid(file('{"w":"abc'), /unterminated string/);
    expectInvalid(file(''), /unexpected end of text/);
  });

  it('duplicate keys, which JSON.parse would silently merge', () => {
    const dup = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expect(() => JSON.parse(dup)).not.toThrow(); // the reason for the strict reader
    expectInvalid(file(dup, data8), /duplicate key "w" at position 54/);
    expectInvalid(file('{"w":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}', data8), /duplicate key "dtype"/);
    expectInvalid(file('{"__metadata__":{"a":"1","a":"2"}}'), /duplicate key "a"/);
    // Escapes decode before comparison: "\u0077" is "w".
    expectInvalid(file(dup.replace(',"w"', ',"\\u0077"'), data8), /duplicate key "w"/);
  });

  it('absurd nesting (bounded recursion)', () => {
    expectInvalid(file(`{"__metadata__":${'['.repeat(100_000)}`), /nesting deeper than 64 levels/);
  });

  it('a header that is not an object', () => {
    expectInvalid(file('[]'), /header must be a JSON object but is an array/);
    expectInvalid(file('"w"'), /header must be a JSON object but is "w"/);
  });

  it('entries that are not objects or miss fields', () => {
    expectInvalid(file('{"w":[1]}'), /tensor "w": expected an object with dtype, shape and data_offsets but found an array/);
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      const entry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] } as Record<string, unknown>;
      delete entry[field];
      expectInvalid(file(JSON.stringify({ w: entry }), data8), new RegExp(`tensor "w": the "${field}" field is missing`));
    }
  });

  it('fields of the wrong type', () => {
    expectInvalid(file('{"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}', data8), /dtype must be a string but is 4/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', data8), /shape must be an array but is "2"/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[2],"data_offsets":{"0":0}}}', data8), /data_offsets must be \[begin, end\]/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}', data8), /data_offsets must be \[begin, end\]/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}', data8), /data_offsets must be \[begin, end\]/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,8]}}', data8), /data_offsets must be \[begin, end\]/);
    expectInvalid(file('{"__metadata__":{"a":1}}'), /__metadata__\["a"\] must be a string but is 1/);
    expectInvalid(file('{"__metadata__":[]}'), /__metadata__ must be an object of strings but is an array/);
  });

  it('unknown dtypes (and valid ones a Tensor cannot hold, as UnsupportedError)', () => {
    expectInvalid(file('{"w":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}', data8), /tensor "w": unknown dtype "F31"/);
    expectInvalid(file('{"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}', data8), /unknown dtype "f32"/);
    expect(() => parseSafetensors(file('{"w":{"dtype":"U32","shape":[2],"data_offsets":[0,8]}}', data8))).toThrow(UnsupportedError);
  });

  it('shapes with negative, fractional or huge dimensions', () => {
    expectInvalid(file('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', data8), /shape must hold non-negative integers but holds -2/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', data8), /holds 2.5/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', data8), /holds 2/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}', data8), /holds "2"/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}}', data8), /element count of shape \[4294967296, 4294967296, 2\] overflows 64 bits/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]}}'), /overflows 64 bits/);
    expectInvalid(file('{"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}', data8), /dimension 4611686018427387904 is too large/);
    expectInvalid(file('{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}', data8), /too large|overflows/);
  });

  it('data_offsets out of range, reversed, or disagreeing with the shape', () => {
    expectInvalid(file('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data8), /data_offsets \[0, 16\] run past the end of the data \(8 bytes\)/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', data8), /data_offsets \[8, 0\] end before they begin/);
    expectInvalid(file('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', data8), /span 8 bytes but F32 \[3\] needs 12/);
    expectInvalid(file('{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}', data8), /span 8 bytes but F16 \[2\] needs 4/);
  });

  it('overlapping tensors, holes and trailing bytes', () => {
    expectInvalid(
      file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8),
      /tensor "b" at bytes \[4, 8\] overlaps the tensor before it \(which ends at 8\)/,
    );
    expectInvalid(
      file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8),
      /bytes \[0, 4\) of the data belong to no tensor \(a hole before "a"\)/,
    );
    expectInvalid(
      file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', f32(1, 2, 3)),
      /bytes \[4, 8\) of the data belong to no tensor \(a hole before "b"\)/,
    );
    expectInvalid(file(good, [...data8, 0, 0]), /2 bytes after the last tensor belong to no tensor/);
    // Two copies of one range: an overlap, even though each alone is valid.
    expectInvalid(
      file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', data8),
      /overlaps/,
    );
  });

  it('accepts header order that differs from offset order, and zero-size tensors', () => {
    const sd = parseSafetensors(
      file('{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"z":{"dtype":"I64","shape":[0,3],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', data8),
    );
    expect(Object.keys(sd)).toEqual(['b', 'z', 'a']);
    expect(Array.from(sd.a!.data as Float32Array)).toEqual([1]);
    expect(Array.from(sd.b!.data as Float32Array)).toEqual([2]);
    expect(sd.z!.shape).toEqual([0, 3]);
  });

  it('truncated files, at every length', () => {
    const whole = serializeSafetensors({ a: Tensor.from([1, 2, 3], [3]), b: Tensor.from([4], [1], 'int64') });
    for (let length = 0; length < whole.length; length++) {
      expect(() => parseSafetensors(whole.subarray(0, length)), `length ${length}`).toThrow(InvalidFileError);
    }
    expectInvalid(whole.subarray(0, whole.length - 1), /run past the end of the data/);
  });
});
