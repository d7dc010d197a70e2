// The image decoder's decisions in plain C++ (native/src/cuda/jpeg_header.h, image_header.h, image_batch_plan.h),
// through `testing.imageDecode`: JPEG headers read from real files made by sharp (baseline, progressive, grey,
// CMYK, 4:2:0 and 4:4:4), the shared photos and the EXIF-rotated fixture, checked against sharp's own metadata
// (an independent parser); headers edited byte by byte for what sharp does not write (other SOF markers,
// subsamplings, 12-bit, RGB-coded, EXIF in both byte orders); hostile and truncated bytes; PNG and WebP sizes;
// each image's route and reason in a batch plan, the pixel limit, the decode buffer's layout and nvJPEG's
// verdicts applied. Last, a mutation run of the parser built with AddressSanitizer and UBSan (the mutators of
// fuzz/mutate.mjs), which fails on any out-of-bounds read or undefined behaviour.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutateBytes } from '../fuzz/mutate.mjs';
import { Random } from '../fuzz/prng.mjs';
import { loadNative } from '../lib/runtime/native.js';
import { codeOf } from './helpers.js';

interface Header {
  coding: string;
  sofMarker: number;
  precision: number;
  width: number;
  height: number;
  components: number;
  sampling: [number, number][];
  ids: number[];
  subsampling: string;
  colour: string;
  scans: number;
  firstScanInterleaved: boolean;
  restartInterval: boolean;
  exifOrientation: number;
}
interface Parse {
  ok: boolean;
  truncated: boolean;
  error: string;
  header?: Header;
}
interface PlannedImage {
  route: string;
  format: string;
  reason: string;
  width: number;
  height: number;
  pixels: number;
  decodedOffset: number;
  decodedPitch: number;
}
interface Capabilities {
  hardwareEngines?: number;
  gpuBackend?: boolean;
  maxPixels?: number;
  maxDecodedBytes?: number;
}
interface Verdict {
  infoOk?: boolean;
  components?: number;
  width?: number;
  height?: number;
  hardwareChecked?: boolean;
  hardwareSupported?: boolean;
  detail?: string;
}
interface ImageDecode {
  parseJpeg(bytes: Uint8Array): Parse;
  sniff(bytes: Uint8Array): { format: string; width: number; height: number; error: string };
  planBatch(images: Uint8Array[], capabilities: Capabilities, verdicts?: (Verdict | null)[]): { images: PlannedImage[]; decodedBytes: number };
}
const decode = (loadNative() as unknown as { testing: { imageDecode: ImageDecode } }).testing.imageDecode;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = path.join(root, 'test', 'fixtures', 'images');
const photos = path.join(root, '..', 'shared', 'data', 'images');
const havePhotos = existsSync(path.join(photos, 'dog.jpg')) && existsSync(path.join(photos, 'grace_hopper.jpg'));
if (!havePhotos) console.warn(`image-decode-plan.test: ${photos} not found, skipping the photo cases`);

// ---- files made by sharp, and byte edits of them ------------------------------------------------------------

const W = 37;
const H = 23;
function noise(): Buffer {
  const pixels = Buffer.alloc(W * H * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + ((i * i) % 13)) & 255;
  return pixels;
}
const made: Record<string, Buffer> = {};
beforeAll(async () => {
  const base = () => sharp(noise(), { raw: { width: W, height: H, channels: 3 } });
  made.baseline420 = await base().jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer();
  made.baseline444 = await base().jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
  made.progressive = await base().jpeg({ quality: 90, progressive: true }).toBuffer();
  made.grey = await base().toColourspace('b-w').jpeg().toBuffer();
  made.greyProgressive = await base().toColourspace('b-w').jpeg({ progressive: true }).toBuffer();
  made.cmyk = await base().toColourspace('cmyk').jpeg().toBuffer();
  made.png = await base().png().toBuffer();
  made.webpLossy = await base().webp({ quality: 80 }).toBuffer();
  made.webpAlpha = await sharp(noise(), { raw: { width: W, height: H, channels: 3 } }).ensureAlpha(0.5).webp().toBuffer();
});

/** The offset of the first `marker` segment (its 0xFF). */
function find(bytes: Buffer, marker: number): number {
  for (let i = 2; i + 1 < bytes.length; i++) if (bytes[i] === 0xff && bytes[i + 1] === marker) return i;
  throw new Error(`no 0xFF${marker.toString(16)} in the file`);
}
/** A copy of `bytes` with its first SOF0 turned into `marker`. */
function withFrameMarker(bytes: Buffer, marker: number): Buffer {
  const out = Buffer.from(bytes);
  out[find(out, 0xc0) + 1] = marker;
  return out;
}
/** A copy of a 3-component JPEG with the frame's sampling factors replaced. */
function withSampling(bytes: Buffer, factors: [number, number][]): Buffer {
  const out = Buffer.from(bytes);
  const sof = find(out, 0xc0);
  factors.forEach(([h, v], i) => (out[sof + 11 + 3 * i] = (h << 4) | v));
  return out;
}
/** A segment: marker, big-endian length, body. */
function segment(marker: number, body: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}
/** `bytes` with `segments` right after its SOI (and its JFIF APP0 dropped when asked). */
function withSegments(bytes: Buffer, segments: Buffer[], dropJfif = false): Buffer {
  let rest = bytes.subarray(2);
  if (dropJfif && rest[0] === 0xff && rest[1] === 0xe0) rest = rest.subarray(2 + rest.readUInt16BE(2));
  return Buffer.concat([bytes.subarray(0, 2), ...segments, rest]);
}
/** APP0 "JFIF" 1.01 (sharp writes none of its own). */
const jfif = segment(0xe0, Buffer.from([...Buffer.from('JFIF\0', 'latin1'), 1, 1, 0, 0, 1, 0, 1, 0, 0]));
/** APP14 "Adobe" with the given transform. */
const adobe = (transform: number) => segment(0xee, Buffer.from([...Buffer.from('Adobe'), 0, 100, 0, 0, 0, 0, transform]));
/** APP1 "Exif" whose IFD0 holds the Orientation (0x0112, SHORT) first or after other entries, in either byte order. */
function exif(orientation: number, little: boolean, before = 0): Buffer {
  const entries = before + 1;
  const tiff = Buffer.alloc(8 + 2 + 12 * entries + 4);
  const u16 = (v: number, at: number) => (little ? tiff.writeUInt16LE(v, at) : tiff.writeUInt16BE(v, at));
  const u32 = (v: number, at: number) => (little ? tiff.writeUInt32LE(v, at) : tiff.writeUInt32BE(v, at));
  tiff.write(little ? 'II' : 'MM', 0, 'latin1');
  u16(42, 2);
  u32(8, 4);
  u16(entries, 8);
  for (let k = 0; k < before; k++) {
    u16(0x010f + k, 10 + 12 * k); // Make, …: ASCII entries the reader skips
    u16(2, 12 + 12 * k);
  }
  const at = 10 + 12 * before;
  u16(0x0112, at);
  u16(3, at + 2);
  u32(1, at + 4);
  u16(orientation, at + 8);
  return segment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]));
}

// ---- headers ----------------------------------------------------------------------------------------------------

describe('JPEG headers against sharp\'s metadata', () => {
  it('every file sharp writes: size, components, progressive or not, subsampling', async () => {
    for (const name of ['baseline420', 'baseline444', 'progressive', 'grey', 'greyProgressive', 'cmyk']) {
      const bytes = made[name]!;
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
    const h = decode.parseJpeg(made.progressive!).header!;
    expect(h.scans).toBeGreaterThan(1);
    expect(decode.parseJpeg(made.baseline420!).header).toMatchObject({ coding: 'baseline', sofMarker: 0xc0, scans: 1, firstScanInterleaved: true, colour: 'YCbCr', sampling: [[2, 2], [1, 1], [1, 1]] });
    expect(decode.parseJpeg(made.cmyk!).header).toMatchObject({ colour: 'CMYK', components: 4 });
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
    for (const [marker, coding] of cases) expect(decode.parseJpeg(withFrameMarker(made.baseline444!, marker)).header).toMatchObject({ coding, sofMarker: marker });
    const twelve = Buffer.from(made.baseline444!);
    twelve[find(twelve, 0xc0) + 4] = 12;
    expect(decode.parseJpeg(twelve).header!.precision).toBe(12);
  });

  it('subsamplings from the sampling factors, as nvJPEG names them', () => {
    const cases: [[number, number][], string][] = [
      [[[1, 1], [1, 1], [1, 1]], '4:4:4'], [[[2, 1], [1, 1], [1, 1]], '4:2:2'], [[[2, 2], [1, 1], [1, 1]], '4:2:0'],
      [[[1, 2], [1, 1], [1, 1]], '4:4:0'], [[[4, 1], [1, 1], [1, 1]], '4:1:1'], [[[4, 2], [1, 1], [1, 1]], '4:1:0'],
      [[[2, 2], [2, 2], [2, 2]], '4:4:4'], [[[3, 1], [1, 1], [1, 1]], 'unknown'], [[[2, 2], [1, 1], [2, 1]], 'unknown'], [[[2, 2], [2, 1], [2, 1]], '4:4:0'], [[[1, 1], [2, 1], [2, 1]], 'unknown'],
    ];
    for (const [factors, name] of cases) expect(decode.parseJpeg(withSampling(made.baseline444!, factors)).header!.subsampling, JSON.stringify(factors)).toBe(name);
  });

  it("colour as libjpeg decides it: JFIF → YCbCr; else Adobe's transform; else component ids R, G, B → RGB", () => {
    expect(decode.parseJpeg(withSegments(made.baseline444!, [adobe(0)], true)).header!.colour).toBe('RGB');
    expect(decode.parseJpeg(withSegments(made.baseline444!, [adobe(1)], true)).header!.colour).toBe('YCbCr');
    expect(decode.parseJpeg(withSegments(made.baseline444!, [jfif, adobe(0)])).header!.colour).toBe('YCbCr'); // JFIF wins
    const rgbIds = withSegments(made.baseline444!, [], true);
    const sof = find(rgbIds, 0xc0);
    [82, 71, 66].forEach((id, i) => (rgbIds[sof + 10 + 3 * i] = id));
    expect(decode.parseJpeg(rgbIds).header!.colour).toBe('RGB');
    // libvips writes CMYK with Adobe's transform 0; as in libjpeg, the last APP14 read decides.
    const adobeAt = made.cmyk!.indexOf('Adobe');
    expect(made.cmyk![adobeAt + 11]).toBe(0);
    const ycck = Buffer.from(made.cmyk!);
    ycck[adobeAt + 11] = 2;
    expect(decode.parseJpeg(ycck).header!.colour).toBe('YCCK');
    expect(decode.parseJpeg(withSegments(made.cmyk!, [adobe(2)])).header!.colour).toBe('CMYK');
  });

  it('EXIF orientation in either byte order, after other IFD0 entries; only the first Exif segment counts', () => {
    for (const little of [true, false]) {
      for (const orientation of [1, 3, 6, 8]) {
        expect(decode.parseJpeg(withSegments(made.baseline420!, [exif(orientation, little, 2)])).header!.exifOrientation).toBe(orientation);
      }
    }
    expect(decode.parseJpeg(withSegments(made.baseline420!, [exif(6, true), exif(3, false)])).header!.exifOrientation).toBe(6);
    expect(decode.parseJpeg(withSegments(made.baseline420!, [exif(9, true)])).header!.exifOrientation).toBe(0); // not an orientation
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
      const parse = decode.parseJpeg(withSegments(made.baseline420!, [app1]));
      expect(parse.ok).toBe(true);
      expect(parse.header!.exifOrientation).toBe(0);
    }
    const cut = exif(6, true).subarray(0, 14);
    cut.writeUInt16BE(12, 2);
    expect(decode.parseJpeg(withSegments(made.baseline420!, [cut])).header!.exifOrientation).toBe(0);
  });

  it('every prefix of a real JPEG: never a crash; after the first scan starts, a truncated header', () => {
    const bytes = made.baseline420!;
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

describe('PNG and WebP sizes from their headers', () => {
  it('match sharp\'s metadata (PNG IHDR; WebP VP8, VP8L and VP8X)', async () => {
    const files: [string, Buffer][] = [
      ['grey.png', readFileSync(path.join(fixtures, 'grey.png'))], ['rgba.png', readFileSync(path.join(fixtures, 'rgba.png'))],
      ['lossless.webp', readFileSync(path.join(fixtures, 'lossless.webp'))], ['made png', made.png!], ['lossy webp', made.webpLossy!], ['webp with alpha', made.webpAlpha!],
    ];
    for (const [name, bytes] of files) {
      const meta = await sharp(bytes).metadata();
      expect(decode.sniff(bytes), name).toEqual({ format: meta.format === 'png' ? 'PNG' : 'WebP', width: meta.width, height: meta.height, error: '' });
    }
    expect(decode.sniff(made.webpAlpha!).format).toBe('WebP');
    expect(Buffer.from(made.webpAlpha!.subarray(12, 16)).toString('latin1')).toBe('VP8X');
  });

  it('a cut-off header leaves the size unknown and says why', () => {
    expect(decode.sniff(made.png!.subarray(0, 20))).toMatchObject({ format: 'PNG', width: 0, error: expect.stringContaining('IHDR') });
    expect(decode.sniff(made.webpLossy!.subarray(0, 24))).toMatchObject({ format: 'WebP', width: 0, error: expect.stringContaining('VP8') });
    expect(decode.sniff(Buffer.from('GIF89a'))).toMatchObject({ format: 'unknown', width: 0, error: '' });
  });
});

// ---- plans ------------------------------------------------------------------------------------------------------

describe('batch plans', () => {
  const h100: Capabilities = { hardwareEngines: 7, gpuBackend: true, maxPixels: 24_000_000 };

  it('routes each image as nvJPEG and the hardware engines can take it, with the reason', () => {
    const truncated = made.baseline420!.subarray(0, made.baseline420!.length - 30);
    const inputs: [string, Buffer, string, string | RegExp][] = [
      ['baseline 4:2:0', made.baseline420!, 'nvJPEG hardware', ''],
      ['baseline 4:4:4', made.baseline444!, 'nvJPEG hardware', ''],
      ['baseline grey', made.grey!, 'nvJPEG hardware', ''],
      ['baseline 4:2:2', withSampling(made.baseline444!, [[2, 1], [1, 1], [1, 1]]), 'nvJPEG hardware', ''],
      ['baseline 4:4:0', withSampling(made.baseline444!, [[1, 2], [1, 1], [1, 1]]), 'nvJPEG hardware', ''],
      ['progressive', made.progressive!, 'nvJPEG GPU', 'progressive JPEG: the hardware engines decode baseline JPEGs only'],
      ['progressive grey', made.greyProgressive!, 'nvJPEG GPU', 'progressive JPEG: the hardware engines decode baseline JPEGs only'],
      ['extended sequential', withFrameMarker(made.baseline444!, 0xc1), 'nvJPEG GPU', 'extended sequential JPEG: the hardware engines decode baseline JPEGs only'],
      ['baseline 4:1:1', withSampling(made.baseline444!, [[4, 1], [1, 1], [1, 1]]), 'nvJPEG GPU', '4:1:1 subsampling: the hardware engines do not decode it'],
      ['CMYK', made.cmyk!, 'CPU', 'CMYK JPEG (4 components): its colour conversion needs the CPU decoder'],
      ['RGB-coded', withSegments(made.baseline444!, [adobe(0)], true), 'CPU', /^RGB-coded JPEG/],
      ['lossless', withFrameMarker(made.baseline444!, 0xc3), 'CPU', 'lossless JPEG (SOF marker 0xFFC3): nvJPEG decodes Huffman-coded DCT JPEGs only'],
      ['arithmetic', withFrameMarker(made.baseline444!, 0xc9), 'CPU', /^arithmetic-coded JPEG/],
      ['12-bit', (() => { const b = Buffer.from(made.baseline444!); b[find(b, 0xc0) + 4] = 12; return b; })(), 'CPU', '12-bit samples: nvJPEG decodes 8-bit JPEGs only'],
      ['odd sampling', withSampling(made.baseline444!, [[3, 1], [1, 1], [1, 1]]), 'CPU', 'chroma sampling factors 3x1, 1x1, 1x1 (Y, Cb, Cr) are not a subsampling nvJPEG decodes'],
      ['EXIF-rotated', readFileSync(path.join(fixtures, 'exif6.jpg')), 'CPU', /^EXIF orientation 6: the CPU decoder rotates/],
      ['EXIF orientation 1', withSegments(made.baseline420!, [exif(1, false)]), 'nvJPEG hardware', ''],
      ['truncated', truncated, 'CPU', 'the JPEG ends before its EOI marker (truncated)'],
      ['garbage after SOI', Buffer.from([0xff, 0xd8, 0xff, 0x00, 1, 2]), 'CPU', /^unreadable JPEG header: a stuffed/],
      ['PNG', made.png!, 'CPU', 'PNG: nvJPEG decodes JPEG only'],
      ['WebP', made.webpLossy!, 'CPU', 'WebP: nvJPEG decodes JPEG only'],
      ['GIF', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), 'CPU', 'not a JPEG: the CPU decoder reads other formats'],
      ['empty', Buffer.alloc(0), 'CPU', 'empty input'],
    ];
    const plan = decode.planBatch(inputs.map(([, bytes]) => bytes), h100);
    inputs.forEach(([name, , route, reason], i) => {
      expect(plan.images[i]!.route, name).toBe(route);
      if (reason instanceof RegExp) expect(plan.images[i]!.reason, name).toMatch(reason);
      else expect(plan.images[i]!.reason, name).toBe(reason);
    });
    expect(plan.images[0]).toMatchObject({ format: 'JPEG', width: W, height: H, pixels: W * H, decodedPitch: 3 * W });
  });

  it("lays out the decode buffer: nvJPEG's images only, in input order, 256-byte aligned, RGB rows", () => {
    const inputs = [made.baseline420!, made.png!, made.progressive!, made.grey!];
    const plan = decode.planBatch(inputs, h100);
    const decoded = plan.images.filter((p) => p.route.startsWith('nvJPEG'));
    expect(decoded).toHaveLength(3);
    let end = 0;
    for (const image of decoded) {
      expect(image.decodedOffset % 256).toBe(0);
      expect(image.decodedOffset).toBeGreaterThanOrEqual(end);
      expect(image.decodedPitch).toBe(3 * image.width);
      end = image.decodedOffset + image.decodedPitch * image.height;
    }
    expect(plan.decodedBytes).toBe(end);
    expect(plan.images[1]).toMatchObject({ route: 'CPU', decodedOffset: 0, decodedPitch: 0 });
  });

  it('without hardware engines the GPU backend takes every JPEG nvJPEG decodes; without nvJPEG the CPU takes all', () => {
    const inputs = [made.baseline420!, made.progressive!, made.png!];
    expect(decode.planBatch(inputs, { gpuBackend: true }).images.map((p) => [p.route, p.reason])).toEqual([
      ['nvJPEG GPU', 'this GPU has no hardware JPEG engines'],
      ['nvJPEG GPU', 'this GPU has no hardware JPEG engines'],
      ['CPU', 'PNG: nvJPEG decodes JPEG only'],
    ]);
    const none = decode.planBatch(inputs, {});
    expect(none.images.map((p) => p.route)).toEqual(['CPU', 'CPU', 'CPU']);
    expect(none.images[0]!.reason).toBe('nvJPEG is not available (no GPU, or nvJPEG not loaded)');
    expect(none.decodedBytes).toBe(0);
  });

  it('refuses images above the pixel limit before any decode, whatever their format', () => {
    const limit = W * H - 1;
    const plan = decode.planBatch([made.baseline420!, made.png!, made.webpLossy!, made.cmyk!, Buffer.from('GIF89a', 'latin1')], { ...h100, maxPixels: limit });
    for (const [i, format] of ['JPEG', 'PNG', 'WebP', 'JPEG'].entries()) {
      expect(plan.images[i]).toMatchObject({ route: 'refused', reason: `${format} of ${W}x${H} is ${W * H} pixels, more than the limit of ${limit}` });
    }
    expect(plan.images[4]!.route).toBe('CPU'); // size unknown: the CPU decoder checks it from its own header read
    expect(decode.planBatch([made.baseline420!], { ...h100, maxPixels: W * H }).images[0]!.route).toBe('nvJPEG hardware');
  });

  it("applies nvJPEG's verdicts: unreadable or differently sized → CPU, refused by the hardware → GPU backend", () => {
    const inputs = [made.baseline420!, made.baseline444!, made.progressive!, made.grey!, made.png!];
    const ok = { infoOk: true, components: 3, width: W, height: H };
    const verdicts = [
      { ...ok, hardwareChecked: true, hardwareSupported: false },
      { infoOk: false, detail: 'nvjpegGetImageInfo failed: NVJPEG_STATUS_BAD_JPEG (3)' },
      { ...ok, width: W + 1 },
      { ...ok, components: 1, hardwareChecked: true, hardwareSupported: true },
      null,
    ];
    const plan = decode.planBatch(inputs, h100, verdicts);
    expect(plan.images.map((p) => [p.route, p.reason])).toEqual([
      ['nvJPEG GPU', 'the hardware decoder refuses it (nvjpegDecodeBatchedSupported)'],
      ['CPU', 'nvJPEG cannot read it: nvjpegGetImageInfo failed: NVJPEG_STATUS_BAD_JPEG (3)'],
      ['CPU', `nvJPEG reads ${W + 1}x${H} with 3 components where the header says ${W}x${H} with 3`],
      ['nvJPEG hardware', ''],
      ['CPU', 'PNG: nvJPEG decodes JPEG only'],
    ]);
    expect(plan.images[2]!.decodedPitch).toBe(0);
    expect(decode.planBatch(inputs.slice(0, 1), { hardwareEngines: 7 }, verdicts.slice(0, 1)).images[0]).toMatchObject({ route: 'CPU', reason: 'the hardware decoder refuses it and there is no GPU backend' });
  });
});

// ---- the parser under AddressSanitizer and UBSan ---------------------------------------------------------------

const hasGxx = spawnSync('g++', ['--version']).status === 0;
const hasAsan = hasGxx && spawnSync('sh', ['-c', 'echo "int main(){}" | g++ -x c++ -fsanitize=address,undefined -o /dev/null -'], { encoding: 'utf8' }).status === 0;

describe.runIf(hasAsan)('mutation run of the header parser and planner under AddressSanitizer and UBSan', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'resnet-image-header-fuzz-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('6,000 mutated JPEGs, PNGs and WebPs: no out-of-bounds read, no undefined behaviour, no impossible plan', () => {
    const driver = path.join(scratch, 'fuzz');
    const sources = ['jpeg_header.cc', 'image_header.cc', 'image_batch_plan.cc'].map((f) => path.join(root, 'native', 'src', 'cuda', f));
    execFileSync('g++', ['-std=c++17', '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-I', path.join(root, 'native', 'src'), '-o', driver, path.join(root, 'test', 'fixtures', 'image-header-fuzz.cc'), ...sources]);
    const seeds = [made.baseline420!, made.progressive!, made.grey!, made.cmyk!, made.png!, made.webpLossy!, made.webpAlpha!, withSegments(made.baseline420!, [exif(6, false, 1), adobe(0)]), readFileSync(path.join(fixtures, 'exif6.jpg'))];
    const rng = new Random(20260915);
    const records: Buffer[] = [];
    for (let i = 0; i < 6000; i++) {
      const input = Buffer.from(mutateBytes(rng, seeds[i % seeds.length]!, seeds));
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
    expect(counts.inputs).toBe(6000);
    expect(counts.violations).toBe(0);
    // The mutations reach every route (the run is not stuck on the first byte).
    for (const route of ['hardware', 'gpu', 'cpu', 'refused']) expect(counts[route], route).toBeGreaterThan(0);
  });
});
