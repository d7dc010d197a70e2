// JPEG headers read in plain C++ (native/src/cuda/jpeg_header.h) through `testing.imageDecode.parseJpeg`: files
// made by sharp (baseline, progressive, grey, CMYK, 4:2:0 and 4:4:4), the shared photos and the EXIF-rotated
// fixture, checked against sharp's own metadata (an independent parser); headers edited byte by byte for what sharp
// does not write (other SOF markers, subsamplings, 12-bit, RGB-coded, EXIF in both byte orders); hostile and
// truncated bytes, each with an error that says what is wrong. Last, a mutation run of the parser and the planner
// built with AddressSanitizer and UBSan (fuzz/mutate.mjs's mutators, plus mutations aimed at header fields), which
// fails on any read outside an input and any undefined behaviour.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutateBytes } from '../../fuzz/mutate.mjs';
import { Random } from '../../fuzz/prng.mjs';
import { codeOf } from '../helpers/helpers.js';
import { adobe, decode, exif, find, fixtures, havePhotos, jfif, makeFiles, photos, segment, withFrameMarker, withSampling, withSegments } from '../helpers/jpeg-files.js';
import { dataAbsent } from '../helpers/test-data.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
if (!havePhotos) dataAbsent('the photo cases of the EXIF and restart-interval test', path.join(photos, 'dog.jpg'), path.join(photos, 'grace_hopper.jpg'));

let made: Awaited<ReturnType<typeof makeFiles>>;
beforeAll(async () => {
  made = await makeFiles();
});

describe('JPEG headers against sharp\'s metadata', () => {
  it('every file sharp writes: size, components, progressive or not, subsampling', async () => {
    for (const name of ['baseline420', 'baseline444', 'progressive', 'grey', 'greyProgressive', 'cmyk'] as const) {
      const bytes = made[name];
      const meta = await sharp(bytes).metadata();
      const parse = decode.parseJpeg(bytes);
      expect(parse.ok, `${name}: ${parse.error}`).toBe(true);
      const h = parse.header!;
      expect([h.width, h.height, h.components], name).toEqual([meta.width, meta.height, meta.channels]);
      expect(h.coding === 'progressive', name).toBe(meta.isProgressive);
      expect(h.precision).toBe(8);
      const css = { '4:2:0': '4:2:0', '4:4:4': meta.channels === 1 ? 'grey' : '4:4:4', '4:4:4:4': 'unknown' }[meta.chromaSubsampling as string];
      expect(h.subsampling, name).toBe(css);
      expect(parse.truncated).toBe(false);
    }
    const h = decode.parseJpeg(made.progressive).header!;
    expect(h.scans).toBeGreaterThan(1);
    expect(decode.parseJpeg(made.baseline420).header).toMatchObject({ coding: 'baseline', sofMarker: 0xc0, scans: 1, firstScanInterleaved: true, colour: 'YCbCr', sampling: [[2, 2], [1, 1], [1, 1]] });
    expect(decode.parseJpeg(made.cmyk).header).toMatchObject({ colour: 'CMYK', components: 4 });
  });

  it('the EXIF-rotated fixture and the shared photos: orientation and restart intervals as sharp reads them', async () => {
    const files = [path.join(fixtures, 'exif6.jpg'), ...(havePhotos ? [path.join(photos, 'dog.jpg'), path.join(photos, 'grace_hopper.jpg')] : [])];
    for (const file of files) {
      const bytes = readFileSync(file);
      const meta = await sharp(bytes).metadata();
      const h = decode.parseJpeg(bytes).header!;
      expect([h.width, h.height, h.components, h.exifOrientation], file).toEqual([meta.width, meta.height, meta.channels, meta.orientation ?? 0]);
    }
    expect(decode.parseJpeg(readFileSync(path.join(fixtures, 'exif6.jpg'))).header!.exifOrientation).toBe(6);
  });

  it('SOF markers name the coding process; 12-bit precision is read', () => {
    const cases: [number, string][] = [[0xc1, 'extended sequential'], [0xc2, 'progressive'], [0xc3, 'lossless'], [0xc5, 'hierarchical'], [0xc9, 'arithmetic-coded'], [0xca, 'arithmetic-coded'], [0xcf, 'hierarchical']];
    for (const [marker, coding] of cases) expect(decode.parseJpeg(withFrameMarker(made.baseline444, marker)).header).toMatchObject({ coding, sofMarker: marker });
    const twelve = Buffer.from(made.baseline444);
    twelve[find(twelve, 0xc0) + 4] = 12;
    expect(decode.parseJpeg(twelve).header!.precision).toBe(12);
  });

  it('subsamplings from the sampling factors, as nvJPEG names them', () => {
    const cases: [[number, number][], string][] = [
      [[[1, 1], [1, 1], [1, 1]], '4:4:4'], [[[2, 1], [1, 1], [1, 1]], '4:2:2'], [[[2, 2], [1, 1], [1, 1]], '4:2:0'],
      [[[1, 2], [1, 1], [1, 1]], '4:4:0'], [[[4, 1], [1, 1], [1, 1]], '4:1:1'], [[[4, 2], [1, 1], [1, 1]], '4:1:0'],
      [[[2, 2], [2, 2], [2, 2]], '4:4:4'], [[[3, 1], [1, 1], [1, 1]], 'unknown'], [[[2, 2], [1, 1], [2, 1]], 'unknown'], [[[2, 2], [2, 1], [2, 1]], '4:4:0'], [[[1, 1], [2, 1], [2, 1]], 'unknown'],
    ];
    for (const [factors, name] of cases) expect(decode.parseJpeg(withSampling(made.baseline444, factors)).header!.subsampling, JSON.stringify(factors)).toBe(name);
  });

  it("colour as libjpeg decides it: JFIF → YCbCr; else Adobe's transform; else component ids R, G, B → RGB", () => {
    expect(decode.parseJpeg(withSegments(made.baseline444, [adobe(0)], true)).header!.colour).toBe('RGB');
    expect(decode.parseJpeg(withSegments(made.baseline444, [adobe(1)], true)).header!.colour).toBe('YCbCr');
    expect(decode.parseJpeg(withSegments(made.baseline444, [jfif, adobe(0)])).header!.colour).toBe('YCbCr'); // JFIF wins
    const rgbIds = withSegments(made.baseline444, [], true);
    const sof = find(rgbIds, 0xc0);
    [82, 71, 66].forEach((id, i) => (rgbIds[sof + 10 + 3 * i] = id));
    expect(decode.parseJpeg(rgbIds).header!.colour).toBe('RGB');
    // libvips writes CMYK with Adobe's transform 0; as in libjpeg, the last APP14 read decides.
    const adobeAt = made.cmyk.indexOf('Adobe');
    expect(made.cmyk[adobeAt + 11]).toBe(0);
    const ycck = Buffer.from(made.cmyk);
    ycck[adobeAt + 11] = 2;
    expect(decode.parseJpeg(ycck).header!.colour).toBe('YCCK');
    expect(decode.parseJpeg(withSegments(made.cmyk, [adobe(2)])).header!.colour).toBe('CMYK');
  });

  it('EXIF orientation in either byte order, after other IFD0 entries; only the first Exif segment counts', () => {
    for (const little of [true, false]) {
      for (const orientation of [1, 3, 6, 8]) {
        expect(decode.parseJpeg(withSegments(made.baseline420, [exif(orientation, little, 2)])).header!.exifOrientation).toBe(orientation);
      }
    }
    expect(decode.parseJpeg(withSegments(made.baseline420, [exif(6, true), exif(3, false)])).header!.exifOrientation).toBe(6);
    expect(decode.parseJpeg(withSegments(made.baseline420, [exif(9, true)])).header!.exifOrientation).toBe(0); // not an orientation
  });
});

describe('hostile and truncated bytes', () => {
  const soi = [0xff, 0xd8];
  const eoi = [0xff, 0xd9];
  /** A minimal frame header: 8 bits, h × w, components (id, sampling, table). */
  const sof = (h: number, w: number, comps: number[][], marker = 0xc0) =>
    segment(marker, Buffer.from([8, h >> 8, h & 255, w >> 8, w & 255, comps.length, ...comps.flat()]));
  const sos = (ids: number[]) => segment(0xda, Buffer.from([ids.length, ...ids.flatMap((id) => [id, 0]), 0, 63, 0]));
  const file = (...parts: (Buffer | number[])[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
  const grey = [[1, 0x11, 0]];

  it('a minimal valid stream parses, fill bytes included', () => {
    expect(decode.parseJpeg(file(soi, sof(5, 7, grey), sos([1]), [1, 2, 0xff, 0, 3, 0xff, 0xd3, 4], eoi)).header).toMatchObject({ width: 7, height: 5, scans: 1 });
    expect(decode.parseJpeg(file(soi, [0xff, 0xff, 0xff], sof(5, 7, grey), sos([1]), [1], [0xff, 0xff], eoi)).ok).toBe(true);
  });

  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /not a JPEG/],
    ['the SOI alone', file(soi), /not a JPEG/],
    ['SOI and a marker prefix', file(soi, [0xff]), /ends before its frame header/],
    ['a segment longer than the file', file(soi, [0xff, 0xe0, 0xff, 0xff, 1, 2, 3]), /ends before its frame header/],
    ['a segment length below 2', file(soi, [0xff, 0xe0, 0, 1], sof(5, 7, grey)), /has length 1/],
    ['bytes where a marker belongs', file(soi, [0xff, 0xfe, 0, 4, 0, 0, 0x12, 0x34]), /expected a marker at byte 8 but found 0x12/],
    ['a stuffed 0xFF00 outside a scan', file(soi, [0xff, 0x00]), /stuffed 0xFF00 outside a scan/],
    ['a second SOI', file(soi, soi), /second SOI/],
    ['a scan before the frame', file(soi, sos([1]), eoi), /scan \(SOS\) at byte 2 before the frame header/],
    ['two frames', file(soi, sof(5, 7, grey), sof(5, 7, grey), eoi), /second frame header/],
    ['no components', file(soi, sof(5, 7, []), eoi), /0 components/],
    ['five components', file(soi, sof(5, 7, [[1, 0x11, 0], [2, 0x11, 0], [3, 0x11, 0], [4, 0x11, 0], [5, 0x11, 0]]), eoi), /5 components; at most 4/],
    ['a frame length that disagrees with its components', file(soi, segment(0xc0, Buffer.from([8, 0, 5, 0, 7, 2, 1, 0x11, 0])), eoi), /not 14 for 2 components/],
    ['a zero sampling factor', file(soi, sof(5, 7, [[1, 0x01, 0]]), eoi), /sampling factors 0x1/],
    ['width 0', file(soi, sof(5, 0, grey), eoi), /width is 0/],
    ['height 0 (DNL)', file(soi, sof(0, 7, grey), eoi), /height is 0/],
    ['a frame without a scan', file(soi, sof(5, 7, grey), eoi), /no scan \(SOS\) before EOI/],
    ['a scan naming more components than the frame', file(soi, sof(5, 7, grey), sos([1, 2]), eoi), /scan header at byte \d+ is malformed/],
    ['a short DRI', file(soi, segment(0xdd, Buffer.from([0])), sof(5, 7, grey)), /DRI segment/],
  ];
  it.each(cases)('%s: an error saying what is wrong', (_name, bytes, error) => {
    const parse = decode.parseJpeg(bytes);
    expect(parse.ok).toBe(false);
    expect(parse.error).toMatch(error);
  });

  it('hostile EXIF (offsets and counts past the segment, wrong types) reads as no orientation', () => {
    const bad = [
      (t: Buffer) => t.writeUInt32LE(0xffffffff, 10), // IFD0 at 4 GiB
      (t: Buffer) => (t.writeUInt16LE(0xffff, 14), t.writeUInt16LE(0x0110, 16)), // 65535 entries, none the Orientation
      (t: Buffer) => t.writeUInt16LE(4, 18), // Orientation as a LONG
      (t: Buffer) => t.write('XX', 6, 'latin1'), // neither II nor MM
    ];
    for (const edit of bad) {
      const app1 = exif(6, true);
      edit(app1.subarray(4)); // the body: "Exif\0\0" then the TIFF header at 6
      const parse = decode.parseJpeg(withSegments(made.baseline420, [app1]));
      expect(parse.ok).toBe(true);
      expect(parse.header!.exifOrientation).toBe(0);
    }
    const cut = exif(6, true).subarray(0, 14);
    cut.writeUInt16BE(12, 2);
    expect(decode.parseJpeg(withSegments(made.baseline420, [cut])).header!.exifOrientation).toBe(0);
  });

  it('every prefix of a real JPEG: never a crash; after the first scan starts, a truncated header', () => {
    const bytes = made.baseline420;
    const scanStarts = find(bytes, 0xda);
    for (let n = 0; n <= bytes.length; n++) {
      const parse = decode.parseJpeg(bytes.subarray(0, n));
      if (n === bytes.length) {
        expect(parse).toMatchObject({ ok: true, truncated: false });
      } else if (n > scanStarts + 13) {
        expect(parse, `prefix ${n}`).toMatchObject({ ok: true, truncated: true });
      } else {
        expect(parse.ok, `prefix ${n}`).toBe(false);
      }
    }
  });

  it('rejects what is not bytes with ERR_INVALID_ARGUMENT', () => {
    expect(codeOf(() => decode.parseJpeg('ffd8' as unknown as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => decode.planBatch([new Uint16Array(4) as unknown as Uint8Array], {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => decode.planBatch([], { maxPixels: -1 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

// ---- the parser under AddressSanitizer and UBSan ---------------------------------------------------------------

const hasGxx = spawnSync('g++', ['--version']).status === 0;
const hasAsan = hasGxx && spawnSync('sh', ['-c', 'echo "int main(){}" | g++ -x c++ -fsanitize=address,undefined -o /dev/null -'], { encoding: 'utf8' }).status === 0;

const interesting = [0, 1, 2, 3, 4, 5, 8, 12, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/**
 * The mutators of fuzz/mutate.mjs hit a header field about once per file length; half of the inputs here get a
 * mutation aimed at the headers instead: a field of 1, 2 or 4 bytes (either byte order) within the first 40 bytes
 * of one marker segment (of a JPEG, before its first scan; of other files, the first 64 bytes) set to a boundary
 * value.
 */
function mutateHeader(rng: Random, bytes: Uint8Array): Uint8Array {
  const out = Buffer.from(bytes);
  const starts = [0];
  if (out[0] === 0xff && out[1] === 0xd8) {
    for (let at = 2; at + 4 <= out.length && out[at] === 0xff && out[at + 1] !== 0xda; at += 2 + out.readUInt16BE(at + 2)) starts.push(at);
  }
  const start = rng.pick(starts);
  const width = rng.pick([1, 2, 4]);
  const at = start + rng.below(start === 0 ? 64 : 40);
  if (at + width > out.length) return out;
  const value = rng.pick(interesting);
  if (width === 1) out[at] = value & 0xff;
  else if (width === 2) {
    if (rng.chance(0.5)) out.writeUInt16BE(value & 0xffff, at);
    else out.writeUInt16LE(value & 0xffff, at);
  } else if (rng.chance(0.5)) out.writeUInt32BE(value >>> 0, at);
  else out.writeUInt32LE(value >>> 0, at);
  return out;
}

describe.runIf(hasAsan)('mutation run of the header parser and planner under AddressSanitizer and UBSan', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'resnet-image-header-fuzz-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('20,000 mutated JPEGs, PNGs and WebPs: no out-of-bounds read, no undefined behaviour, no impossible plan', () => {
    const driver = path.join(scratch, 'fuzz');
    const sources = ['jpeg_header.cc', 'image_header.cc', 'image_batch_plan.cc'].map((f) => path.join(root, 'native', 'src', 'cuda', f));
    execFileSync('g++', ['-std=c++17', '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-I', path.join(root, 'native', 'src'), '-o', driver, path.join(root, 'test', 'fixtures', 'image-header-fuzz.cc'), ...sources]);
    const seeds = [made.baseline420, made.progressive, made.grey, made.cmyk, made.png, made.webpLossy, made.webpAlpha, withSegments(made.baseline420, [exif(6, false, 1), adobe(0)]), readFileSync(path.join(fixtures, 'exif6.jpg'))];
    const rng = new Random(20260915);
    const records: Buffer[] = [];
    for (let i = 0; i < 20_000; i++) {
      const seed = seeds[i % seeds.length]!;
      const input = Buffer.from(rng.chance(0.5) ? mutateHeader(rng, rng.chance(0.5) ? mutateHeader(rng, seed) : seed) : mutateBytes(rng, seed, seeds));
      const length = Buffer.alloc(4);
      length.writeUInt32LE(input.length);
      records.push(length, input);
    }
    const inputs = path.join(scratch, 'inputs.bin');
    writeFileSync(inputs, Buffer.concat(records));
    const run = spawnSync(driver, [inputs], { encoding: 'utf8', timeout: 120_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const counts = JSON.parse(run.stdout) as Record<string, number>;
    expect(counts.inputs).toBe(20_000);
    expect(counts.violations).toBe(0);
    // The mutations reach every route (the run is not stuck on the first byte).
    for (const route of ['hardware', 'gpu', 'cpu', 'refused']) expect(counts[route], route).toBeGreaterThan(0);
  });
});
