/**
 * What the JPEG header and batch plan tests share (test/jpeg-header.test.ts, test/image-decode-plan.test.ts): the
 * addon's `testing.imageDecode`, files made by sharp (real encoder output) and byte edits of them for what sharp
 * does not write.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { loadNative } from '../../lib/runtime/native.js';
import { dataPath } from './test-data.js';

export interface Header {
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
export interface Parse {
  ok: boolean;
  truncated: boolean;
  error: string;
  header?: Header;
}
export interface PlannedImage {
  route: string;
  format: string;
  reason: string;
  width: number;
  height: number;
  pixels: number;
  decodedOffset: number;
  decodedPitch: number;
}
export interface Capabilities {
  hardwareEngines?: number;
  gpuBackend?: boolean;
  maxPixels?: number;
  /** Long side over short side past which a JPEG goes to the CPU workers (default 100; 0: no bound). */
  maxAspectRatio?: number;
  maxDecodedBytes?: number;
}
export interface Verdict {
  infoOk?: boolean;
  components?: number;
  width?: number;
  height?: number;
  hardwareChecked?: boolean;
  hardwareSupported?: boolean;
  detail?: string;
}
export interface ImageDecode {
  parseJpeg(bytes: Uint8Array): Parse;
  sniff(bytes: Uint8Array): { format: string; width: number; height: number; error: string };
  planBatch(images: Uint8Array[], capabilities: Capabilities, verdicts?: (Verdict | null)[]): { images: PlannedImage[]; decodedBytes: number };
}
/** `testing.imageDecode` (native/src/cuda/js_image_testing.cc). */
export const decode = (loadNative() as unknown as { testing: { imageDecode: ImageDecode } }).testing.imageDecode;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixtures = path.join(root, 'test', 'fixtures', 'images');
export const photos = dataPath('images');
export const havePhotos = existsSync(path.join(photos, 'dog.jpg')) && existsSync(path.join(photos, 'grace_hopper.jpg'));

/** The size of every image made here. */
export const W = 37;
export const H = 23;

function noise(): Buffer {
  const pixels = Buffer.alloc(W * H * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + ((i * i) % 13)) & 255;
  return pixels;
}

/** The files sharp writes for one noisy W × H image, by kind. */
export async function makeFiles(): Promise<Record<'baseline420' | 'baseline444' | 'progressive' | 'grey' | 'greyProgressive' | 'cmyk' | 'png' | 'webpLossy' | 'webpAlpha', Buffer>> {
  const base = () => sharp(noise(), { raw: { width: W, height: H, channels: 3 } });
  return {
    baseline420: await base().jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer(),
    baseline444: await base().jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(),
    progressive: await base().jpeg({ quality: 90, progressive: true }).toBuffer(),
    grey: await base().toColourspace('b-w').jpeg().toBuffer(),
    greyProgressive: await base().toColourspace('b-w').jpeg({ progressive: true }).toBuffer(),
    cmyk: await base().toColourspace('cmyk').jpeg().toBuffer(),
    png: await base().png().toBuffer(),
    webpLossy: await base().webp({ quality: 80 }).toBuffer(),
    webpAlpha: await base().ensureAlpha(0.5).webp().toBuffer(),
  };
}

/** The offset of the first `marker` segment (its 0xFF). */
export function find(bytes: Buffer, marker: number): number {
  for (let i = 2; i + 1 < bytes.length; i++) if (bytes[i] === 0xff && bytes[i + 1] === marker) return i;
  throw new Error(`no 0xFF${marker.toString(16)} in the file`);
}
/** A copy of `bytes` with its first SOF0 turned into `marker`. */
export function withFrameMarker(bytes: Buffer, marker: number): Buffer {
  const out = Buffer.from(bytes);
  out[find(out, 0xc0) + 1] = marker;
  return out;
}
/** A copy of a 3-component JPEG with the frame's sampling factors replaced. */
export function withSampling(bytes: Buffer, factors: [number, number][]): Buffer {
  const out = Buffer.from(bytes);
  const sof = find(out, 0xc0);
  factors.forEach(([h, v], i) => (out[sof + 11 + 3 * i] = (h << 4) | v));
  return out;
}
/** A segment: marker, big-endian length, body. */
export function segment(marker: number, body: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}
/** `bytes` with `segments` right after its SOI (and its JFIF APP0 dropped when asked). */
export function withSegments(bytes: Buffer, segments: Buffer[], dropJfif = false): Buffer {
  let rest = bytes.subarray(2);
  if (dropJfif && rest[0] === 0xff && rest[1] === 0xe0) rest = rest.subarray(2 + rest.readUInt16BE(2));
  return Buffer.concat([bytes.subarray(0, 2), ...segments, rest]);
}
/** APP0 "JFIF" 1.01 (sharp writes none of its own). */
export const jfif = segment(0xe0, Buffer.from([...Buffer.from('JFIF\0', 'latin1'), 1, 1, 0, 0, 1, 0, 1, 0, 0]));
/** APP14 "Adobe" with the given transform. */
export const adobe = (transform: number) => segment(0xee, Buffer.from([...Buffer.from('Adobe'), 0, 100, 0, 0, 0, 0, transform]));
/** APP1 "Exif" whose IFD0 holds the Orientation (0x0112, SHORT) first or after other entries, in either byte order. */
export function exif(orientation: number, little: boolean, before = 0): Buffer {
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
