/**
 * Format-aware mutations, which take the fuzzer past the first check of each format: recomputing a
 * zip's CRCs after its bytes changed, mutating one entry of a valid zip and rebuilding the archive,
 * rewriting tokens of a safetensors JSON header (with its length prefix fixed up), inserting
 * pickle opcode sequences that hostile files use (huge lengths, long LONG4 ints, deep nesting,
 * forbidden globals), and pointing zip entries at each other's bytes.
 * @module
 */
import { concat, maxInputBytes, mutateBytes, writeInt } from './mutate.mjs';

const u16 = (b, at) => b[at] | (b[at + 1] << 8);
const u32 = (b, at) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
const u64 = (b, at) => u32(b, at) + u32(b, at + 4) * 0x1_0000_0000;

/**
 * Rewrites the CRC-32 of every entry the central directory describes (in the central and the local
 * header) so that a mutated archive passes the CRC check and reaches what lies behind it. Lenient:
 * anything out of bounds is skipped, never thrown. Returns a copy.
 */
export function fixZipCrcs(bytes, crc32) {
  const out = bytes.slice();
  const n = out.length;
  let eocd = -1;
  for (let p = n - 22; p >= Math.max(0, n - 22 - 0xffff); p--) {
    if (u32(out, p) === 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) return out;
  let count = u16(out, eocd + 10);
  let cdOffset = u32(out, eocd + 16);
  if (eocd >= 20 && u32(out, eocd - 20) === 0x07064b50) {
    const record = u64(out, eocd - 12);
    if (record + 56 <= n && u32(out, record) === 0x06064b50) {
      count = u64(out, record + 32);
      cdOffset = u64(out, record + 48);
    }
  }
  let p = cdOffset;
  for (let i = 0; i < Math.min(count, 1000) && p + 46 <= n && u32(out, p) === 0x02014b50; i++) {
    const nameLength = u16(out, p + 28);
    const extraLength = u16(out, p + 30);
    let size = u32(out, p + 24);
    let local = u32(out, p + 42);
    // Zip64 extra field: sizes and offset that the classic fields leave as 0xffffffff.
    for (let e = p + 46 + nameLength; e + 4 <= Math.min(n, p + 46 + nameLength + extraLength); ) {
      const len = u16(out, e + 2);
      if (u16(out, e) === 1) {
        let f = e + 4;
        if (size === 0xffffffff && f + 8 <= n) {
          size = u64(out, f);
          f += 8;
        }
        if (u32(out, p + 20) === 0xffffffff) f += 8;
        if (local === 0xffffffff && f + 8 <= n) local = u64(out, f);
      }
      e += 4 + len;
    }
    if (local + 30 <= n && u32(out, local) === 0x04034b50) {
      const start = local + 30 + u16(out, local + 26) + u16(out, local + 28);
      if (start + size <= n) {
        const crc = crc32(out.subarray(start, start + size));
        writeInt(out, p + 16, BigInt(crc), 4, true);
        writeInt(out, local + 14, BigInt(crc), 4, true);
      }
    }
    p += 46 + nameLength + extraLength + u16(out, p + 32);
  }
  return out;
}

/** The entries of an archive `readZip` accepts (CRCs unchecked), or undefined when it refuses it or it is empty. */
function entriesOf(bytes, lib) {
  try {
    const entries = lib.readZip(bytes, { verifyCrc: false });
    return entries.length > 0 ? entries : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Mutates one entry of a valid archive (its data, most often the pickle; or its name; or drops or
 * duplicates it) and rebuilds the archive with valid CRCs, so the mutation reaches the layer below
 * the zip. Returns undefined when `bytes` is not an archive `readZip` accepts.
 */
export function mutateZipEntry(rng, bytes, others, lib) {
  const entries = entriesOf(bytes, lib);
  if (!entries) return undefined;
  const pickles = entries.filter((e) => e.name.endsWith('.pkl'));
  const target = pickles.length > 0 && rng.chance(0.6) ? rng.pick(pickles) : rng.pick(entries);
  const index = entries.indexOf(target);
  const out = entries.map((e) => ({ name: e.name, data: e.data }));
  const choice = rng.below(10);
  if (choice < 7) {
    out[index] = { name: target.name, data: mutateBytes(rng, target.data, others) };
  } else if (choice === 7) {
    out.splice(index, 1);
  } else if (choice === 8) {
    const names = ['data.pkl', 'archive/data.pkl', 'x/data.pkl', 'constants.pkl', `${target.name}/`, target.name.replace(/\/data\//, '/data/9'), 'a/byteorder'];
    out[index] = { name: rng.pick(names), data: target.data };
  } else {
    const byteorders = ['little', 'big', 'middle', ''];
    const prefix = target.name.split('/')[0];
    out.push({ name: `${prefix}/byteorder`, data: new TextEncoder().encode(rng.pick(byteorders)) });
  }
  try {
    return lib.writeZip(out);
  } catch {
    return undefined; // duplicate names and the like: writeZip need not accept them
  }
}

/**
 * Rebuilds a valid archive (via `writeZip`) with a hostile central directory whose entries share
 * bytes: one entry fanned out under up to 2,000 extra names at the same offset and size (the
 * "many entries over one blob" shape, within the 64 KiB input cap), or one entry pointed at another's
 * local header or into the middle of its data. CRCs stay those of the bytes pointed at, so only the
 * overlap checks stand between the input and thousands of CRC passes. Returns undefined when
 * `bytes` is not an archive `readZip` accepts.
 */
export function overlapZipEntries(rng, bytes, lib) {
  const entries = entriesOf(bytes, lib);
  if (!entries) return undefined;
  let classic;
  try {
    classic = lib.writeZip(entries);
  } catch {
    return undefined;
  }
  const cdOffset = u32(classic, classic.length - 22 + 16);
  const records = [];
  for (let p = cdOffset, i = 0; i < entries.length; i++) {
    const end = p + 46 + u16(classic, p + 28) + u16(classic, p + 30) + u16(classic, p + 32);
    records.push(classic.slice(p, end));
    p = end;
  }
  const renamed = (record, suffix) => {
    const nameLength = u16(record, 28);
    const name = concat(record.subarray(46, 46 + nameLength), new TextEncoder().encode(suffix));
    const out = concat(record.subarray(0, 46), name, record.subarray(46 + nameLength));
    writeInt(out, 28, BigInt(name.length), 2, true);
    return out;
  };
  const source = rng.pick(records);
  if (records.length > 1 && rng.chance(0.4)) {
    // Point one entry at another's local header, or a few bytes into it or its data.
    const victim = rng.pick(records);
    const other = rng.pick(records.filter((r) => r !== victim));
    const shift = rng.chance(0.5) ? 0 : rng.below(64 + u32(other, 24));
    writeInt(victim, 42, BigInt(u32(other, 42) + shift), 4, true);
  } else {
    const room = maxInputBytes - classic.length;
    const perCopy = 46 + u16(source, 28) + 6;
    const copies = Math.max(1, Math.min(2000, Math.floor(room / perCopy), 1 + rng.below(rng.chance(0.5) ? 8 : 2000)));
    for (let k = 0; k < copies; k++) records.push(renamed(source, `~${k}`));
  }
  if (records.length > 0xffff) return undefined;
  const cd = concat(...records);
  const end = classic.slice(classic.length - 22);
  writeInt(end, 8, BigInt(records.length), 2, true);
  writeInt(end, 10, BigInt(records.length), 2, true);
  writeInt(end, 12, BigInt(cd.length), 4, true);
  return concat(classic.subarray(0, cdOffset), cd, end);
}

const decimalValues = [
  '0', '1', '-1', '2', '7', '8', '255', '256', '4294967295', '4294967296', '2147483647', '2147483648',
  '9007199254740991', '9007199254740993', '18446744073709551615', '18446744073709551616',
  '9223372036854775808', '100000000', '1e3', '1.0', '-0', '00', '1.5', '1e400', '[]', '{}', 'null', 'true', '"1"',
];
const jsonStrings = [
  '"F32"', '"F16"', '"BF16"', '"F64"', '"I64"', '"I32"', '"I16"', '"I8"', '"U8"', '"BOOL"', '"U16"', '"F8_E4M3"', '"C64"', '"f32"', '""',
  '"__metadata__"', '"__proto__"', '"constructor"', '"dtype"', '"shape"', '"data_offsets"', '"\\ud800"', '"\\u0000"', '"\u00e9"',
];

/**
 * Rewrites one token of a safetensors header (a number, a string, a bracket) and fixes the 8-byte
 * length prefix (most of the time), so the JSON stays parseable and the checks behind it are reached.
 * Returns undefined when `bytes` has no plausible header.
 */
export function mutateSafetensorsHeader(rng, bytes) {
  if (bytes.length < 8) return undefined;
  const n = u64(bytes, 0);
  if (n > bytes.length - 8) return undefined;
  let text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  const tokens = [...text.matchAll(/-?\d+(?:\.\d+)?(?:e\d+)?|"(?:[^"\\]|\\.)*"|[[\]{},:]/g)];
  if (tokens.length === 0) return undefined;
  for (let k = 1 + rng.below(3); k > 0; k--) {
    const token = rng.pick(tokens);
    const at = token.index;
    let replacement;
    if (/^-?\d/.test(token[0])) replacement = rng.pick(decimalValues);
    else if (token[0].startsWith('"')) replacement = rng.chance(0.7) ? rng.pick(jsonStrings) : `"${token[0].slice(1, -1)}${rng.below(10)}"`;
    else replacement = rng.pick(['', '[', ']', '{', '}', ',', ':', ',,', ' ', token[0] + token[0]]);
    if (rng.chance(0.15)) {
      // Duplicate a whole entry: "name":{…} appears twice (keys must be unique).
      const entry = /"[^"]+":\{[^{}]*\}/.exec(text);
      if (entry) replacement = token[0] + ',' + entry[0];
    }
    text = text.slice(0, at) + replacement + text.slice(at + token[0].length);
    break; // token indices are stale after one edit; one edit per call keeps it simple
  }
  const header = new TextEncoder().encode(text);
  const prefix = new Uint8Array(8);
  writeInt(prefix, 0, BigInt(rng.chance(0.9) ? header.length : n), 8, true);
  const data = bytes.subarray(8 + n);
  return concat(prefix, header, rng.chance(0.8) ? data : mutateBytes(rng, data, [data]));
}

const latin1 = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const le = (value, width) => {
  const out = new Uint8Array(width);
  writeInt(out, 0, BigInt(value), width, true);
  return out;
};

/** Opcode sequences of hostile or unusual pickles, inserted at random offsets. */
const pickleSnippets = [
  latin1('cos\nsystem\n'),
  latin1('cbuiltins\neval\n'),
  latin1('ctorch\nFloatStorage\n'),
  latin1('ccollections\nOrderedDict\n)R'),
  latin1('ctorch._utils\n_rebuild_tensor_v2\n'),
  latin1('\x8c\x05torch\x8c\x0cFloatStorage\x93'),
  latin1('\x8c\x07storage'),
  latin1('(\x8c\x07storage\x8c\x01t\x8c\x010\x8c\x03cpu\x4b\x04tQ'),
  concat(latin1('\x8d'), le(2n ** 63n, 8)), // BINUNICODE8 of 2^63 bytes
  concat(latin1('\x8e'), le(2n ** 32n, 8)), // BINBYTES8 of 2^32 bytes
  concat(latin1('\x96'), le(2n ** 64n - 1n, 8)), // BYTEARRAY8
  concat(latin1('\x95'), le(2n ** 63n - 1n, 8)), // FRAME
  concat(latin1('X'), le(0xffffffff, 4)), // BINUNICODE
  concat(latin1('B'), le(0x7fffffff, 4)), // BINBYTES
  concat(latin1('\x8b'), le(0x7fffffff, 4)), // LONG4
  concat(latin1('\x8b'), le(0x80000000, 4)), // LONG4, negative length
  concat(latin1('T'), le(0xffffffff, 4)), // BINSTRING
  concat(latin1('j'), le(0xffffffff, 4)), // LONG_BINGET
  concat(latin1('r'), le(0xffffffff, 4)), // LONG_BINPUT
  concat(latin1('\x8b'), le(65, 4), new Uint8Array(65).fill(0x7f)), // LONG4 one byte past the 64-byte bound, all present
  concat(latin1('\x8b'), le(40_000, 4), new Uint8Array(40_000).fill(0x9c)), // LONG4 of 40,000 bytes: slow to decode byte by byte
  concat(latin1('\x8b'), le(64, 4), new Uint8Array(64).fill(0xff)), // LONG4 at the bound: -1
  concat(latin1('\x8a\xff'), new Uint8Array(255).fill(0x80)), // LONG1 of 255 bytes
  latin1('\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f'), // LONG1 2^63-1
  latin1('\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01'), // LONG1 2^64
  latin1('J\xff\xff\xff\xff'), // BININT -1
  latin1('G\x7f\xf8\x00\x00\x00\x00\x00\x00'), // BINFLOAT NaN
  latin1('('.repeat(64)),
  latin1(']'.repeat(32) + 'a'.repeat(31)),
  latin1('}'.repeat(16)),
  latin1('2'.repeat(16)), // DUP
  latin1('\x94h\x00'), // MEMOIZE, BINGET 0
  latin1('(t'), latin1(')'), latin1('\x85'), latin1('\x86'), latin1('\x87'), latin1('R'), latin1('\x81'), latin1('b'), latin1('Q'),
  latin1('N'), latin1('\x88'), latin1('\x89'), latin1('.'), latin1('0'), latin1('1'), latin1('s'), latin1('u'), latin1('e'),
  latin1('\x8f(\x90'), latin1('(\x91'), latin1('(d'), latin1('(l'),
  latin1('\x80\x02'), latin1('\x80\x05'), latin1('\x80\x06'),
];

/** Inserts (or overwrites with) one of the hostile opcode sequences. */
export function insertPickleSnippet(rng, bytes) {
  const snippet = rng.pick(pickleSnippets);
  const at = rng.below(bytes.length + 1);
  const out = rng.chance(0.5)
    ? concat(bytes.subarray(0, at), snippet, bytes.subarray(at))
    : concat(bytes.subarray(0, at), snippet, bytes.subarray(Math.min(bytes.length, at + snippet.length)));
  return out.length > maxInputBytes ? out.slice(0, maxInputBytes) : out;
}
