/**
 * The restricted unpickler on hand-made pickles: the values each opcode builds, and hostile inputs
 * refused with their reason. Byte strings are written out in the test (the big-int pickles were
 * written by Python 3 once and pasted as hex), so no Python runs here.
 */
import { describe, expect, it } from 'vitest';
import { InvalidFileError } from '../../lib/errors.js';
import { maxLongBytes, PickleGlobal, unpickle } from '../../lib/io/pickle.js';
import { checkpointPickleHooks } from '../../lib/io/torch.js';

/** Bytes from a mix of strings (latin-1 characters as bytes) and byte values. */
function bytes(...parts: (string | number | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (Array.isArray(p)) out.push(...p);
    else for (const c of p) out.push(c.charCodeAt(0));
  }
  return Uint8Array.from(out);
}
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u64 = (n: bigint) => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const PROTO2 = [0x80, 2];

function refusal(data: Uint8Array, hooks = checkpointPickleHooks()): string {
  try {
    unpickle(data, { hooks });
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidFileError);
    expect((e as InvalidFileError).code).toBe('ERR_INVALID_FILE');
    return (e as Error).message;
  }
  throw new Error('the pickle was accepted');
}

describe('unpickle: values', () => {
  it('reads ints of every width, floats, strings, bytes, None and booleans', () => {
    const data = bytes(
      PROTO2, '(',
      'K', 7, 'M', [0x34, 0x12], 'J', u32(-5 >>> 0),
      0x8a, 9, [0, 0, 0, 0, 0, 0, 0, 0x80, 0], // LONG1 2^63: beyond 2^53, stays a bigint
      0x8a, 1, [0xff], // LONG1 -1
      'G', [0x3f, 0xf8, 0, 0, 0, 0, 0, 0], // BINFLOAT 1.5, big-endian
      0x8c, 3, 'abc', 'X', u32(2), [0xc3, 0xa9], // SHORT_BINUNICODE, BINUNICODE "é"
      'C', 2, [1, 2], 'N', 0x88, 0x89, 't', '.',
    );
    const { value, end } = unpickle(data);
    expect(end).toBe(data.length);
    expect(value).toEqual([7, 0x1234, -5, 2n ** 63n, -1, 1.5, 'abc', 'é', Uint8Array.from([1, 2]), null, true, false]);
    expect(Object.isFrozen(value)).toBe(true); // a tuple
  });

  it('builds lists, dicts and sets, and shares memoised objects', () => {
    // [ {'a': 1, 'b': [2, 3]}, <the same dict> ], with the dict memoised and fetched again.
    const data = bytes(
      PROTO2, ']', 'q', 0, '(', '}', 'q', 1, '(', 0x8c, 1, 'a', 'K', 1, 0x8c, 1, 'b', ']', '(', 'K', 2, 'K', 3, 'e', 'u',
      'h', 1, 'e', '.',
    );
    const value = unpickle(data).value as unknown[];
    expect(value).toHaveLength(2);
    expect(value[0]).toBeInstanceOf(Map);
    expect([...(value[0] as Map<string, unknown>)]).toEqual([['a', 1], ['b', [2, 3]]]);
    expect(value[1]).toBe(value[0]);
    expect(unpickle(bytes(PROTO2, 0x8f, '(', 'K', 1, 'K', 2, 'K', 1, 0x90, '.')).value).toEqual(new Set([1, 2]));
  });

  it('reads one pickle of several and reports where it ended', () => {
    const data = bytes(PROTO2, 'K', 1, '.', PROTO2, 'K', 2, '.');
    const first = unpickle(data);
    expect(first).toEqual({ value: 1, end: 5 });
    expect(unpickle(data, { offset: first.end }).value).toBe(2);
  });

  it('resolves allowed globals to references and calls only the allowed ones', () => {
    const dict = unpickle(bytes(PROTO2, 'ccollections\nOrderedDict\n', ')', 'R', '.'), { hooks: checkpointPickleHooks() }).value;
    expect(dict).toEqual(new Map());
    const size = unpickle(bytes(PROTO2, 'ctorch\nSize\n', 'K', 2, 'K', 3, 0x86, 0x85, 'R', '.'), { hooks: checkpointPickleHooks() }).value;
    expect(size).toEqual([2, 3]);
    expect(unpickle(bytes(PROTO2, 'ctorch\nFloatStorage\n', '.'), { hooks: checkpointPickleHooks() }).value).toBeInstanceOf(PickleGlobal);
  });
});

describe('unpickle: hostile and corrupt input', () => {
  it('refuses os.system by name, with or without hooks', () => {
    const evil = bytes(PROTO2, 'cos\nsystem\n', 'X', u32(5), 'touch', 0x85, 'R', '.');
    expect(refusal(evil)).toMatch(/refusing to load global os\.system/);
    expect(refusal(evil, {})).toMatch(/refusing to load global os\.system/);
    // STACK_GLOBAL spells the same thing with strings on the stack.
    const stacked = bytes(PROTO2, 0x8c, 2, 'os', 0x8c, 6, 'system', 0x93, '.');
    expect(refusal(stacked)).toMatch(/refusing to load global os\.system/);
    expect(refusal(bytes(PROTO2, 'cbuiltins\neval\n', '.'))).toMatch(/refusing to load global builtins\.eval/);
  });

  it('refuses REDUCE of something that is not an allowed callable', () => {
    expect(refusal(bytes(PROTO2, 0x8c, 2, 'os', ')', 'R', '.'))).toMatch(/REDUCE of a str, which is not callable/);
    expect(refusal(bytes(PROTO2, 'ctorch\nFloatStorage\n', ')', 'R', '.'))).toMatch(/refusing to call torch\.FloatStorage/);
    expect(refusal(bytes(PROTO2, 'ccollections\nOrderedDict\n', ']', 'R', '.'))).toMatch(/REDUCE needs an argument tuple but found a list/);
  });

  it('refuses BUILD on anything but a dict, and persistent ids without a loader', () => {
    expect(refusal(bytes(PROTO2, ']', '}', 'b', '.'))).toMatch(/refusing to BUILD a list/);
    expect(refusal(bytes(PROTO2, 'K', 1, 'Q', '.'), {})).toMatch(/refusing a persistent id/);
    expect(refusal(bytes(PROTO2, 0x8c, 1, 'x', 0x85, 'Q', '.'))).toMatch(/unknown persistent id/);
  });

  it('checks huge length fields against the bytes that remain', () => {
    expect(refusal(bytes(PROTO2, 0x8d, u64(1n << 62n), 'ab'))).toMatch(/BINUNICODE8 of 4611686018427387904 bytes runs past the end/);
    expect(refusal(bytes(PROTO2, 'B', u32(0xffffffff), 'ab'))).toMatch(/BINBYTES of 4294967295 bytes runs past the end/);
    expect(refusal(bytes(PROTO2, 0x8b, u32(0x7fffffff), 1))).toMatch(/LONG4 integer of 2147483647 bytes is longer than 64 bytes/);
    expect(refusal(bytes(PROTO2, 0x95, u64(1n << 40n), 'K', 1, '.'))).toMatch(/FRAME of 1099511627776 bytes/);
  });

  it('names unknown and unsupported opcodes', () => {
    expect(refusal(bytes(PROTO2, 0xff, '.'))).toMatch(/byte 2: unknown opcode 0xff/);
    expect(refusal(bytes(PROTO2, 'i', 'os\nsystem\n', '.'))).toMatch(/opcode INST \(0x69\) is not supported/);
    expect(refusal(bytes(0x80, 6, '.'))).toMatch(/protocol 6 is newer than 5/);
  });

  it('bounds nesting, the stack and the memo', () => {
    expect(refusal(bytes(PROTO2, new Array(1001).fill(0x28)))).toMatch(/nesting deeper than 1000 MARKs/);
    const pushes = bytes(PROTO2, new Array(11).fill(0x4e), '.');
    expect(() => unpickle(pushes, { limits: { maxStack: 10 } })).toThrow(/more than 10 values on the stack/);
    const memo = bytes(PROTO2, 'N', 'q', 0, 'q', 1, 'q', 2, '.');
    expect(() => unpickle(memo, { limits: { maxMemo: 2 } })).toThrow(/more than 2 memo entries/);
  });

  it('reports stack misuse and truncation instead of crashing', () => {
    expect(refusal(bytes(PROTO2, 'h', 3, '.'))).toMatch(/memo entry 3 is read before it is written/);
    expect(refusal(bytes(PROTO2, 'a', '.'))).toMatch(/the stack is empty/);
    expect(refusal(bytes(PROTO2, 'K', 1, 'K', 2, '.'))).toMatch(/STOP with 2 values on the stack/);
    expect(refusal(bytes(PROTO2, '(', 'K', 1, '.'))).toMatch(/STOP while a MARK is still open/);
    expect(refusal(bytes(PROTO2, ']', 'K', 1, 'K', 2, 's', '.'))).toMatch(/SETITEM needs a dict but found a list/);
    expect(refusal(bytes(PROTO2, '}', ']', 'K', 1, 's', '.'))).toMatch(/a list cannot be a dict key/);
    expect(refusal(bytes(PROTO2, 'K', 1))).toMatch(/ends without a STOP opcode/);
    expect(refusal(bytes(PROTO2, 'J', 1, 2))).toMatch(/4-byte argument of 4 bytes runs past the end/);
    expect(refusal(bytes(PROTO2, 'c', 'os'))).toMatch(/no terminating newline/);
    expect(refusal(bytes(PROTO2, 'c', 'x'.repeat(300_000), '\n'))).toMatch(/GLOBAL module name is longer than 1024 bytes/);
    expect(refusal(bytes(PROTO2, 0x8c, 2, [0xc3, 0x28], '.'))).toMatch(/not valid UTF-8/);
  });
});

/** The value of a two's-complement little-endian integer by place values (not by the reader's hex route). */
function placeValue(raw: readonly number[]): bigint {
  let v = 0n;
  raw.forEach((b, i) => (v += BigInt(b) * 256n ** BigInt(i)));
  return raw.length > 0 && raw[raw.length - 1]! >= 0x80 ? v - 256n ** BigInt(raw.length) : v;
}
const hex = (h: string) => Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16));

describe('unpickle: LONG1 and LONG4', () => {
  it('reads pickles of big ints written by Python 3 (pickle.dumps(v, 2))', () => {
    const written: [string, string][] = [
      ['80028a40' + 'ff'.repeat(63) + '7f2e', (2n ** 511n - 1n).toString()], // 64 bytes: the bound
      ['80028a40' + '00'.repeat(63) + '802e', (-(2n ** 511n)).toString()],
      ['80028a090000000000000080002e', '9223372036854775808'],
      ['80028a09ffffffffffffff7fff2e', '-9223372036854775809'],
      ['80028a0acb444271764eb6429d022e', '12345678901234567890123'],
    ];
    for (const [pickle, decimal] of written) expect(unpickle(hex(pickle)).value).toBe(BigInt(decimal));
  });

  it('decodes every length up to the bound, as LONG1 and as LONG4, to the place-value sum', () => {
    let seed = 12345;
    const nextByte = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 16) & 0xff;
    for (let n = 0; n <= maxLongBytes; n++) {
      const raw = Array.from({ length: n }, nextByte);
      const expected = placeValue(raw);
      const asInt = expected >= BigInt(Number.MIN_SAFE_INTEGER) && expected <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(expected) : expected;
      expect(unpickle(bytes(PROTO2, 0x8a, n, raw, '.')).value).toBe(asInt);
      expect(unpickle(bytes(PROTO2, 0x8b, u32(n), raw, '.')).value).toBe(asInt);
    }
    expect(unpickle(bytes(PROTO2, 0x8a, 3, [0xff, 0xff, 0x7f], '.')).value).toBe(0x7fffff);
    expect(unpickle(bytes(PROTO2, 0x8b, u32(2), [0x00, 0x80], '.')).value).toBe(-32768);
  });

  it('refuses a longer integer before reading or decoding it (ERR_INVALID_FILE)', () => {
    // One byte past the bound, with its bytes all present: a valid int, refused for its length alone.
    const over = Array.from({ length: maxLongBytes + 1 }, (_, i) => i);
    expect(refusal(bytes(PROTO2, 0x8a, over.length, over, '.'))).toMatch(/byte 2: LONG1 integer of 65 bytes is longer than 64 bytes/);
    expect(refusal(bytes(PROTO2, 0x8b, u32(over.length), over, '.'))).toMatch(/byte 2: LONG4 integer of 65 bytes is longer than 64 bytes/);
    expect(refusal(bytes(PROTO2, 0x8a, 255, new Array(255).fill(0x41), '.'))).toMatch(/LONG1 integer of 255 bytes/);
    // The bound comes before the bytes are taken: a 1 MiB length over 3 bytes is named for its length, not as truncated.
    expect(refusal(bytes(PROTO2, 0x8b, u32(1 << 20), [1, 2, 3]))).toMatch(/LONG4 integer of 1048576 bytes is longer than 64 bytes/);
    // 200 KB of digits: decoded byte by byte into a BigInt this took minutes.
    const huge = new Uint8Array(200_000).fill(0x9c);
    const hostile = new Uint8Array([...PROTO2, 0x8b, ...u32(huge.length), ...huge, 0x2e]);
    expect(refusal(hostile)).toMatch(/LONG4 integer of 200000 bytes is longer than 64 bytes/);
  });
});

describe('unpickle: Python 2 byte strings', () => {
  it('reads SHORT_BINSTRING and BINSTRING as latin-1: every byte is the code point of its value', () => {
    const all = Array.from({ length: 256 }, (_, b) => b);
    const expected = all.map((b) => String.fromCodePoint(b)).join('');
    expect(unpickle(bytes(PROTO2, 'T', u32(256), all, '.')).value).toBe(expected);
    expect(unpickle(bytes(PROTO2, 'U', 255, all.slice(0, 255), '.')).value).toBe(expected.slice(0, 255));
    // 0x80..0x9f are C1 controls in latin-1 (windows-1252 would give '€' and friends).
    expect(unpickle(bytes(PROTO2, 'T', u32(2), [0x80, 0x9f], '.')).value).toBe('\u0080\u009f');
    const long = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
    const value = unpickle(new Uint8Array([...PROTO2, 0x54, ...u32(long.length), ...long, 0x2e])).value as string;
    expect(value).toHaveLength(long.length);
    expect([...value].every((c, i) => c.charCodeAt(0) === long[i])).toBe(true);
  });
});
