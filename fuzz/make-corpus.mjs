/**
 * Writes the seed corpus under `fuzz/corpus/` from the committed torch fixtures and from files the
 * library itself writes (run `npm run build:ts` first, then `node fuzz/make-corpus.mjs`). The
 * outputs are committed; rerunning gives the same bytes.
 * @module
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDistLib } from './dist-lib.mjs';
import { concat, writeInt } from './mutate.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const fixtures = join(here, '../test/fixtures/torch');
const corpus = join(here, 'corpus');
const lib = await loadDistLib();
const { Tensor } = lib;

const write = (dir, name, bytes) => {
  mkdirSync(join(corpus, dir), { recursive: true });
  writeFileSync(join(corpus, dir, name), bytes);
};
const latin1 = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const le = (value, width) => {
  const out = new Uint8Array(width);
  writeInt(out, 0, BigInt(value), width, true);
  return out;
};

// A small state dict of every dtype, written by our own writers.
const stateDict = {
  'conv.weight': Tensor.from(new Float32Array([0.5, -1.25, 3, 0]), [2, 1, 2, 1], 'float32'),
  'bn.num_batches_tracked': Tensor.from(new BigInt64Array([7n]), [], 'int64'),
  half: Tensor.from(new Uint16Array([0x3c00, 0xc000]), [2], 'float16'),
  bf16: Tensor.from(new Uint16Array([0x3f80]), [1], 'bfloat16'),
  f64: Tensor.from(new Float64Array([1e-300]), [1], 'float64'),
  i32: Tensor.from(new Int32Array([-1, 2]), [2], 'int32'),
  i16: Tensor.from(new Int16Array([3]), [1], 'int16'),
  i8: Tensor.from(new Int8Array([-4, 5, 6]), [3], 'int8'),
  u8: Tensor.from(new Uint8Array([255]), [1], 'uint8'),
  mask: Tensor.from(new Uint8Array([1, 0]), [2], 'bool'),
  empty: Tensor.from(new Float32Array(0), [0, 3], 'float32'),
};

// torch: every committed fixture (zip and legacy) and our writer's output.
const torchFixtures = readdirSync(fixtures).filter((f) => f.endsWith('.pt')).sort();
for (const f of torchFixtures) copyFileSync(join(fixtures, f), join(corpus, 'torch', f));
const ours = lib.serializeCheckpoint(stateDict);
write('torch', 'ours_zip.pt', ours);

// zip: the zip-format checkpoints, an empty archive, and a zip64 rewrite of a small archive.
for (const f of torchFixtures.filter((f) => f.endsWith('_zip.pt'))) copyFileSync(join(fixtures, f), join(corpus, 'zip', f));
write('zip', 'ours_zip.pt', ours);
write('zip', 'empty.zip', lib.writeZip([]));
write('zip', 'zip64.zip', toZip64(lib.writeZip([{ name: 'a/data.pkl', data: latin1('\x80\x02}q\x00.') }, { name: 'a/data/0', data: new Uint8Array(8).fill(1) }])));

// pickle: every pickle inside the fixtures (zip data.pkl; the five pickles of a legacy file), and
// hand-written pickles for the opcodes torch.save does not use.
for (const f of torchFixtures) {
  const bytes = new Uint8Array(readFileSync(join(fixtures, f)));
  if (lib.isZip(bytes)) {
    for (const e of lib.readZip(bytes).filter((e) => e.name.endsWith('.pkl'))) write('pickle', `${f.replace('.pt', '')}.pkl`, e.data);
  } else {
    let offset = 0;
    for (const part of ['magic', 'protocol', 'sysinfo', 'object', 'keys']) {
      const { end } = lib.unpickle(bytes, { offset, hooks: lib.checkpointPickleHooks() });
      write('pickle', `${f.replace('.pt', '')}_${part}.pkl`, bytes.subarray(offset, end));
      offset = end;
    }
  }
}
write('pickle', 'plain_data_p4.pkl', concat(
  latin1('\x80\x04\x95'), le(0, 8), // PROTO 4, FRAME (a length hint)
  latin1('}\x94(\x8c\x01a\x94K\x01\x8c\x01b\x94M\xff\xff\x8c\x01c\x94J\xff\xff\xff\xff'),
  latin1('\x8c\x01d\x94G\x3f\xf8\x00\x00\x00\x00\x00\x00'), // 1.5
  latin1('\x8c\x01e\x94\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01'), // 2^64
  latin1('\x8c\x01f\x94\x8b'), le(2, 4), latin1('\x00\x80'), // LONG4 -32768
  latin1('\x8c\x01g\x94C\x02\x00\xff\x8c\x01G\x94B'), le(1, 4), latin1('z'), // bytes
  latin1('\x8c\x01h\x94\x8f\x94(K\x01K\x02\x90\x8c\x01H\x94(K\x03\x91'), // set, frozenset
  latin1('\x8c\x01i\x94](K\x01\x88\x89Ne'), // list
  latin1('\x8c\x01j\x94)\x85\x8c\x01J\x94K\x01K\x02\x86\x8c\x01T\x94K\x01K\x02K\x03\x87'), // tuples
  latin1('\x8c\x01k\x94X'), le(2, 4), latin1('\xc3\xa9'), // BINUNICODE é
  latin1('\x8c\x01l\x94U\x02\xe9\xe9\x8c\x01L\x94T'), le(1, 4), latin1('x'), // Python 2 strings
  latin1('\x8c\x01m\x94h\x01\x8c\x01M\x94j'), le(2, 4), // memo gets
  latin1('\x8c\x01n\x94(K\x01K\x02dr'), le(9, 4), // DICT, LONG_BINPUT
  latin1('\x8c\x01o\x94(K\x01l'), // LIST
  latin1('u.'),
));
write('pickle', 'ordered_dict_p2.pkl', latin1('\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00aq\x02K\x01u}q\x03bs.'.replace('s.', '.')));

// safetensors: our writer's output, with and without metadata, and the empty file.
write('safetensors', 'all_dtypes.safetensors', lib.serializeSafetensors(stateDict, { format: 'pt', note: 'fuzz seed' }));
write('safetensors', 'one_f32.safetensors', lib.serializeSafetensors({ w: stateDict['conv.weight'] }));
write('safetensors', 'empty.safetensors', lib.serializeSafetensors({}));

/** Rewrites a classic archive with zip64 records: 0xffffffff placeholders, zip64 extra fields, zip64 end record and locator. */
function toZip64(classic) {
  const entries = lib.readZip(classic);
  const v = new DataView(classic.buffer, classic.byteOffset, classic.byteLength);
  const eocd = classic.length - 22;
  const cdOffset = v.getUint32(eocd + 16, true);
  const central = [];
  let p = cdOffset;
  for (let i = 0; i < entries.length; i++) {
    const nameLength = v.getUint16(p + 28, true);
    const old = classic.subarray(p, p + 46 + nameLength);
    const entry = concat(old, new Uint8Array(4 + 24));
    const ev = new DataView(entry.buffer);
    const size = ev.getUint32(24, true);
    const local = ev.getUint32(42, true);
    ev.setUint16(30, 28, true);
    ev.setUint32(20, 0xffffffff, true);
    ev.setUint32(24, 0xffffffff, true);
    ev.setUint32(42, 0xffffffff, true);
    ev.setUint16(46 + nameLength, 1, true);
    ev.setUint16(48 + nameLength, 24, true);
    ev.setBigUint64(50 + nameLength, BigInt(size), true);
    ev.setBigUint64(58 + nameLength, BigInt(size), true);
    ev.setBigUint64(66 + nameLength, BigInt(local), true);
    central.push(entry);
    p += 46 + nameLength;
  }
  const cd = concat(...central);
  const record = new Uint8Array(56);
  const rv = new DataView(record.buffer);
  rv.setUint32(0, 0x06064b50, true);
  rv.setBigUint64(4, 44n, true);
  rv.setUint16(12, 45, true);
  rv.setUint16(14, 45, true);
  rv.setBigUint64(24, BigInt(entries.length), true);
  rv.setBigUint64(32, BigInt(entries.length), true);
  rv.setBigUint64(40, BigInt(cd.length), true);
  rv.setBigUint64(48, BigInt(cdOffset), true);
  const locator = new Uint8Array(20);
  const lv = new DataView(locator.buffer);
  lv.setUint32(0, 0x07064b50, true);
  lv.setBigUint64(8, BigInt(cdOffset + cd.length), true);
  lv.setUint32(16, 1, true);
  const end = new Uint8Array(22);
  const endView = new DataView(end.buffer);
  endView.setUint32(0, 0x06054b50, true);
  endView.setUint16(8, 0xffff, true);
  endView.setUint16(10, 0xffff, true);
  endView.setUint32(12, 0xffffffff, true);
  endView.setUint32(16, 0xffffffff, true);
  return concat(classic.subarray(0, cdOffset), cd, record, locator, end);
}
