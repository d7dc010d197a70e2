/**
 * PyTorch checkpoints: fixtures written by torch 1.13 (test/fixtures/torch/make_fixtures.py) read to
 * the exact values the generator recorded; our writer's output read back by us and by torch when the
 * dev machine has it; the paper's CIFAR-10 checkpoints; and corrupt or hostile files refused with
 * their reason.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidFileError, UnsupportedError } from '../../lib/errors.js';
import { extractStateDict, loadCheckpoint, loadStateDictFile, parseCheckpoint } from '../../lib/io/torch.js';
import { saveCheckpoint, serializeCheckpoint } from '../../lib/io/torch-save.js';
import { crc32, crc32Portable, readZip, writeZip } from '../../lib/io/zip.js';
import { resnet18 } from '../../lib/models/resnet.js';
import { Tensor, bfloat16ToFloat, halfToFloat } from '../../lib/tensor.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'torch');
const fixture = (name: string) => readFileSync(join(fixtures, name));

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const expected = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8')) as Record<string, Record<string, Expected>>;

/** A tensor's values as the generator's JSON writes them: float64 numbers, int64 as decimal strings. */
function valuesOf(t: Tensor): (number | string)[] {
  switch (t.dtype) {
    case 'int64':
      return Array.from(t.data as BigInt64Array, (v) => v.toString());
    case 'float16':
      return Array.from(t.data as Uint16Array, halfToFloat);
    case 'bfloat16':
      return Array.from(t.data as Uint16Array, bfloat16ToFloat);
    default:
      return Array.from(t.data as Float32Array);
  }
}

function expectStateDict(actual: Record<string, unknown>, want: Record<string, Expected>): void {
  expect(Object.keys(actual)).toEqual(Object.keys(want));
  for (const [key, e] of Object.entries(want)) {
    const t = actual[key];
    expect(t, key).toBeInstanceOf(Tensor);
    expect((t as Tensor).dtype, key).toBe(e.dtype);
    expect((t as Tensor).shape, key).toEqual(e.shape);
    expect(valuesOf(t as Tensor), key).toEqual(e.values);
  }
}

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('no error was thrown');
}

describe('checkpoints written by torch 1.13', () => {
  for (const file of ['tiny_zip.pt', 'tiny_legacy.pt']) {
    it(`${file}: every dtype and strided, offset views of a shared storage, exact values`, async () => {
      const sd = (await loadCheckpoint(join(fixtures, file))) as Record<string, Tensor>;
      expectStateDict(sd, expected.tiny!);
      // Views are materialised as independent contiguous copies.
      expect(sd.transposed!.data).not.toBe(sd.base!.data);
      (sd.base!.data as Float32Array)[0] = 99;
      expect((sd.transposed!.data as Float32Array)[0]).toBe(-0.5);
    });
  }

  for (const file of ['nested_zip.pt', 'nested_legacy.pt']) {
    it(`${file}: a training checkpoint with the state dict nested under state_dict`, async () => {
      const obj = (await loadCheckpoint(fixture(file))) as Record<string, unknown>;
      expect(obj.epoch).toBe(3);
      expect(obj.best_acc).toBe(0.25);
      expect(obj.arch).toBe('tiny');
      expectStateDict(extractStateDict(obj), expected.nested!);
      expectStateDict(extractStateDict(obj, { key: 'state_dict' }), expected.nested!);
      expect(() => extractStateDict(obj, { key: 'optimizer' })).toThrow(/a key of the checkpoint \(state_dict, epoch, best_acc, arch\)/);
      expect(() => extractStateDict(obj, { key: 'epoch' })).toThrow(/a dict of tensors/);
    });
  }

  it('strips the module. prefix that DataParallel adds, on request', async () => {
    const want = expected.module_prefix!;
    const raw = await loadStateDictFile(join(fixtures, 'module_prefix_zip.pt'));
    expect(Object.keys(raw)).toEqual(Object.keys(want));
    expect(Object.keys(want).every((k) => k.startsWith('module.'))).toBe(true);
    const stripped = await loadStateDictFile(join(fixtures, 'module_prefix_zip.pt'), { stripPrefix: true });
    const renamed = Object.fromEntries(Object.entries(want).map(([k, v]) => [k.slice('module.'.length), v]));
    expectStateDict(stripped, renamed);
    expect(Object.keys(extractStateDict(raw, { stripPrefix: 'module.0.' }))).toContain('weight');
  });

  it('refuses a prefix strip that would merge two keys', () => {
    const t = Tensor.from([1], [1]);
    expect(() => extractStateDict({ 'module.a': t, a: t }, { stripPrefix: true })).toThrow(/keys that stay distinct/);
  });
});

describe('saveCheckpoint', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('writes what our loader reads back exactly, in PyTorch\'s zip layout', async () => {
    const sd = (await loadCheckpoint(fixture('tiny_zip.pt'))) as Record<string, Tensor>;
    const bytes = serializeCheckpoint(sd);
    expectStateDict(parseCheckpoint(bytes) as Record<string, unknown>, expected.tiny!);
    const entries = readZip(bytes);
    expect(entries.map((e) => e.name)).toEqual([
      'archive/data.pkl', 'archive/byteorder', ...Object.keys(sd).map((_, i) => `archive/data/${i}`), 'archive/version',
    ]);
    for (const e of entries) expect(e.data.byteOffset % 64, e.name).toBe(0);
  });

  const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (!hasTorch) console.log('checkpoint.test: /usr/bin/python3 has no torch; skipping the torch.load round trip');
  it.skipIf(!hasTorch)('writes files that torch.load reads to the same values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
    dirs.push(dir);
    const sd = (await loadCheckpoint(fixture('tiny_zip.pt'))) as Record<string, Tensor>;
    sd.big = Tensor.from(new Float32Array(70_000).map((_, i) => i / 7), [70_000]); // needs BININT, not BININT1
    const path = join(dir, 'ours.pt');
    await saveCheckpoint(sd, path);
    const script = [
      'import json, sys, torch',
      'sd = torch.load(sys.argv[1])',
      'assert type(sd).__name__ == "OrderedDict"',
      'out = {}',
      'for k, v in sd.items():',
      '    vals = [str(x) for x in v.reshape(-1).tolist()] if v.dtype == torch.int64 else v.double().reshape(-1).tolist()',
      '    out[k] = {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "values": vals}',
      'print(json.dumps(out))',
    ].join('\n');
    const run = spawnSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(run.stderr).toBe('');
    const fromTorch = JSON.parse(run.stdout) as Record<string, Expected>;
    const { big, ...rest } = fromTorch;
    expect(rest).toEqual(expected.tiny);
    expect(big!.values).toEqual(Array.from(sd.big.data as Float32Array));
  });

  it.skipIf(!hasTorch)('round-trips a resnet18 state dict through torchvision (strict load both ways)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
    dirs.push(dir);
    const model = resnet18();
    const ours = model.stateDict();
    await saveCheckpoint(ours, join(dir, 'ours.pt'));
    const script = [
      'import sys, torch, torchvision',
      'm = torchvision.models.resnet18()',
      'm.load_state_dict(torch.load(sys.argv[1]), strict=True)',
      'torch.save(m.state_dict(), sys.argv[2])',
    ].join('\n');
    const run = spawnSync('/usr/bin/python3', ['-c', script, join(dir, 'ours.pt'), join(dir, 'theirs.pt')], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const back = await loadStateDictFile(join(dir, 'theirs.pt'));
    expect(model.loadStateDict(back, { strict: true })).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(Object.keys(back)).toEqual(Object.keys(ours));
    for (const [k, t] of Object.entries(ours)) {
      expect(back[k]!.dtype, k).toBe(t.dtype);
      const bytesOf = (x: Tensor) => Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength);
      expect(bytesOf(back[k]!).equals(bytesOf(t)), k).toBe(true);
    }
  });
});

const cifarDir = dataPath('cifar10-resnets');
const hasCifar = dataAbsent('the paper\'s CIFAR-10 checkpoints', cifarDir) === null;

describe.skipIf(!hasCifar)('the paper\'s CIFAR-10 checkpoints (legacy format, cuda:0 storages)', () => {
  const cases = [
    { file: 'resnet20-12fca82f.th', n: 3, keys: 97, best: 91.78, params: 269_722 },
    { file: 'resnet32-d509ac18.th', n: 5, keys: 157, best: 92.78, params: 464_154 },
    { file: 'resnet44-014dd654.th', n: 7, keys: 217, best: 93.14, params: 658_586 },
    { file: 'resnet56-4bfd9763.th', n: 9, keys: 277, best: 93.62, params: 853_018 },
  ];
  for (const c of cases) {
    it(`${c.file}: ${c.keys} float32 tensors, best_prec1 ${c.best}, the README's shapes`, async () => {
      const obj = (await loadCheckpoint(join(cifarDir, c.file))) as Record<string, unknown>;
      expect(Object.keys(obj).sort()).toEqual(['best_prec1', 'state_dict']);
      expect(Math.abs((obj.best_prec1 as number) - c.best)).toBeLessThan(0.005);
      const sd = extractStateDict(obj, { stripPrefix: true });
      expect(Object.keys(sd)).toHaveLength(c.keys);
      expect(Object.values(sd).every((t) => t.dtype === 'float32')).toBe(true);
      expect(sd['conv1.weight']!.shape).toEqual([16, 3, 3, 3]);
      expect(sd['bn1.running_var']!.shape).toEqual([16]);
      expect(sd[`layer1.${c.n - 1}.conv2.weight`]!.shape).toEqual([16, 16, 3, 3]);
      expect(sd['layer2.0.conv1.weight']!.shape).toEqual([32, 16, 3, 3]);
      expect(sd['layer3.0.conv1.weight']!.shape).toEqual([64, 32, 3, 3]);
      expect(sd[`layer3.${c.n - 1}.bn2.weight`]!.shape).toEqual([64]);
      expect(sd['linear.weight']!.shape).toEqual([10, 64]);
      expect(sd['linear.bias']!.shape).toEqual([10]);
      const params = Object.entries(sd)
        .filter(([k]) => !/running_(mean|var)$/.test(k))
        .reduce((n, [, t]) => n + t.numel, 0);
      expect(params).toBe(c.params);
      // Running variances are positive: a sign that storages were matched to the right tensors.
      expect(Array.from(sd['bn1.running_var']!.data as Float32Array).every((v) => v > 0)).toBe(true);
    });
  }
});

/** A zip checkpoint around a hand-made data.pkl (and optional extra entries). */
function zipWith(pickle: Uint8Array, extra: { name: string; data: Uint8Array }[] = []): Uint8Array {
  return writeZip([{ name: 'archive/data.pkl', data: pickle }, ...extra]);
}
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/**
 * A legacy (pre-1.6) file by hand: {'v': a 3-element view at offset 2 of a 6-element root storage
 * '7'}, then the storage record: an int64 count and float32 values (`record`: [count, ...values]).
 */
function legacyFile(record: [bigint, ...number[]], littleEndian = '\x88'): Uint8Array {
  const str = (s: string) => `X${String.fromCharCode(s.length, 0, 0, 0)}${s}`;
  const pickles = [
    '\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.', // magic number
    '\x80\x02M\xe9\x03.', // protocol 1001
    `\x80\x02}(${str('little_endian')}${littleEndian}u.`,
    `\x80\x02}(${str('v')}ctorch._utils\n_rebuild_tensor\n((${str('storage')}ctorch\nFloatStorage\n${str('7')}${str('cpu')}K\x06(${str('9')}K\x02K\x03ttQK\x00K\x03\x85K\x01\x85tRu.`,
    `\x80\x02](${str('7')}e.`,
  ].join('');
  const data = new DataView(new ArrayBuffer(8 + 4 * (record.length - 1)));
  data.setBigInt64(0, record[0], true);
  record.slice(1).forEach((x, i) => data.setFloat32(8 + 4 * i, x as number, true));
  return Uint8Array.from([...latin1(pickles), ...new Uint8Array(data.buffer)]);
}

describe('corrupt and hostile checkpoints', () => {
  for (const file of ['tiny_zip.pt', 'tiny_legacy.pt']) {
    it(`${file} truncated at every length gives InvalidFileError`, () => {
      const bytes = fixture(file);
      for (let n = 0; n < bytes.length; n++) {
        const e = errorOf(() => parseCheckpoint(bytes.subarray(0, n)));
        expect(e, `truncated to ${n} bytes: ${e.message}`).toBeInstanceOf(InvalidFileError);
      }
    });
  }

  it('refuses a data.pkl that calls os.system, naming it', () => {
    const evil = latin1('\x80\x02cos\nsystem\nX\x05\x00\x00\x00touchq\x00\x85R.');
    expect(() => parseCheckpoint(zipWith(evil))).toThrow(/refusing to load global os\.system: only these globals are allowed/);
    // The same pickle where a legacy file's first pickle belongs.
    expect(() => parseCheckpoint(evil)).toThrow(/refusing to load global os\.system/);
  });

  it('refuses huge declared sizes before allocating', () => {
    // A tensor of 2^40 elements over a storage that declares 2^40 elements but has 4 bytes.
    const pid = "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu\x8a\x06\x00\x00\x00\x00\x00\x01tQ";
    const tensor = `\x80\x02ctorch._utils\n_rebuild_tensor\n${pid}K\x00\x8a\x06\x00\x00\x00\x00\x00\x01\x85K\x01\x85tR.`;
    expect(() => parseCheckpoint(zipWith(latin1(tensor), [{ name: 'archive/data/0', data: new Uint8Array(4) }]))).toThrow(
      /entry archive\/data\/0 holds 4 bytes but its 1099511627776 float32 elements need 4398046511104/,
    );
    // A view reaching past its storage, and a broadcast view larger than its storage.
    const small = pid.replace('\x8a\x06\x00\x00\x00\x00\x00\x01', 'K\x04');
    const past = `\x80\x02ctorch._utils\n_rebuild_tensor\n${small}K\x02K\x04\x85K\x01\x85tR.`;
    expect(() => parseCheckpoint(zipWith(latin1(past)))).toThrow(/offset 2 reaches element 5 of a 4-element storage/);
    const broadcast = `\x80\x02ctorch._utils\n_rebuild_tensor\n${small}K\x00J\x00\x00\x00\x40\x85K\x00\x85tR.`;
    expect(() => parseCheckpoint(zipWith(latin1(broadcast)))).toThrow(/more elements than its 4-element storage/);
  });

  it('refuses a tensor nested thousands of tuples deep', () => {
    const deep = latin1(`\x80\x02N${'\x85'.repeat(5000)}.`);
    expect(() => parseCheckpoint(zipWith(deep))).toThrow(/nested deeper than 1000 levels/);
  });

  it('checks zip offsets, sizes and CRCs', () => {
    const bytes = new Uint8Array(fixture('tiny_zip.pt'));
    const view = new DataView(bytes.buffer);
    const eocd = bytes.length - 22;
    const cdOffset = view.getUint32(eocd + 16, true);

    const badOffset = bytes.slice();
    new DataView(badOffset.buffer).setUint32(cdOffset + 42, 0x7fffffff, true); // first entry's local header
    expect(() => parseCheckpoint(badOffset)).toThrow(/local header of "tiny_zip\/data.pkl" at offset 2147483647 is outside/);

    const badSize = bytes.slice();
    new DataView(badSize.buffer).setUint32(cdOffset + 20, 0x7ffffff0, true);
    new DataView(badSize.buffer).setUint32(cdOffset + 24, 0x7ffffff0, true);
    expect(() => parseCheckpoint(badSize)).toThrow(/the data of "tiny_zip\/data.pkl" .* runs past the data area/);

    const flipped = bytes.slice();
    flipped[flipped.indexOf(0x80)] = 0x81; // the first byte of data.pkl (PROTO)
    expect(() => parseCheckpoint(flipped)).toThrow(/"tiny_zip\/data.pkl" fails its CRC-32 check/);

    // torch writes zip64 end records; their offsets win over the classic record's.
    const zip64At = Number(view.getBigUint64(eocd - 12, true));
    const badLocator = bytes.slice();
    new DataView(badLocator.buffer).setBigUint64(eocd - 12, 1n << 40n, true);
    expect(() => parseCheckpoint(badLocator)).toThrow(/zip64 end record offset 1099511627776 points outside the file/);
    const badDirectory = bytes.slice();
    new DataView(badDirectory.buffer).setBigUint64(zip64At + 48, 1n << 50n, true);
    expect(() => parseCheckpoint(badDirectory)).toThrow(/central directory \[1125899906842624, .*\) runs past its end record/);
    const manyEntries = bytes.slice();
    new DataView(manyEntries.buffer).setBigUint64(zip64At + 32, 1n << 40n, true);
    expect(() => parseCheckpoint(manyEntries)).toThrow(/1099511627776 entries cannot fit/);
  });

  it('computes CRC-32 the same with and without zlib', () => {
    const check = latin1('123456789');
    expect(crc32(check)).toBe(0xcbf43926); // the standard check value
    expect(crc32Portable(check)).toBe(0xcbf43926);
    const data = fixture('tiny_zip.pt');
    expect(crc32Portable(data)).toBe(crc32(data));
  });

  it('names an unknown opcode in data.pkl', () => {
    expect(() => parseCheckpoint(zipWith(Uint8Array.of(0x80, 2, 0xfe, 0x2e)))).toThrow(/checkpoint archive\/data.pkl at byte 2: unknown opcode 0xfe/);
  });

  it('refuses big-endian storages and TorchScript archives as unsupported', () => {
    const big = zipWith(latin1('\x80\x02}.'), [{ name: 'archive/byteorder', data: latin1('big') }]);
    expect(() => parseCheckpoint(big)).toThrow(UnsupportedError);
    expect(() => parseCheckpoint(big)).toThrow(/big-endian/);
    const script = writeZip([{ name: 'm/constants.pkl', data: latin1('\x80\x02).') }]);
    expect(() => parseCheckpoint(script)).toThrow(/TorchScript archive/);
  });

  it('reads a legacy storage view (PyTorch < 0.4) and checks the storage records that follow the pickles', () => {
    const view = legacyFile([6n, 0, 1, 2, 3, 4, 5]);
    const v = (parseCheckpoint(view) as Record<string, Tensor>).v!;
    expect(Array.from(v.data as Float32Array)).toEqual([2, 3, 4]);
    expect(() => parseCheckpoint(legacyFile([5n, 0, 1, 2, 3, 4]))).toThrow(/storage 7: the data holds 5 elements but the pickle declares 6/);
    expect(() => parseCheckpoint(legacyFile([6n, 0, 1, 2, 3, 4, 5, 6]))).toThrow(/4 bytes follow the last storage/);
    expect(() => parseCheckpoint(legacyFile([6n, 0, 1, 2]))).toThrow(/24 bytes at byte \d+ run past the end of the file/);
    expect(() => parseCheckpoint(legacyFile([6n, 0, 1, 2, 3, 4, 5], '\x89'))).toThrow(UnsupportedError);
  });

  it('refuses a file whose repeated views of one storage would copy far more than its own size', () => {
    // [t, t, t, …]: 1100 views (each a fresh REDUCE of one memoised callable and argument tuple) of one 64 KiB
    // storage. Each view becomes its own copy: 70 MB from a 70 KB file, over the budget of twice the file
    // plus 64 MiB. Without the budget, this pattern asks for memory without bound.
    const numel = 16384;
    const i32 = (v: number) => String.fromCharCode(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
    const str = (t: string) => `X${i32(t.length)}${t}`;
    const args =
      `(${'('}${str('storage')}ctorch\nFloatStorage\n${str('0')}${str('cpu')}J${i32(numel)}tQ` +
      `K\x00J${i32(numel)}\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rtq\x02`;
    const once = 'h\x01h\x02Ra';
    const pickle = latin1(`\x80\x02]ctorch._utils\n_rebuild_tensor_v2\nq\x01${args}Ra${once.repeat(1099)}.`);
    const file = zipWith(pickle, [{ name: 'archive/data/0', data: new Uint8Array(numel * 4) }]);
    expect(file.length).toBeLessThan(100_000);
    expect(() => parseCheckpoint(file)).toThrow(/its tensors add up to more than \d+ bytes, over twice the file's \d+ bytes plus 64 MiB/);
    // The same pattern with 10 views is an ordinary file.
    const small = zipWith(latin1(`\x80\x02]ctorch._utils\n_rebuild_tensor_v2\nq\x01${args}Ra${once.repeat(9)}.`), [{ name: 'archive/data/0', data: new Uint8Array(numel * 4) }]);
    expect((parseCheckpoint(small) as Tensor[]).length).toBe(10);
  });

  it('refuses a legacy file whose magic number is wrong', () => {
    expect(() => parseCheckpoint(latin1('\x80\x02K\x07.'))).toThrow(/not a PyTorch checkpoint/);
  });
});
