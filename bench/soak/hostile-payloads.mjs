// @ts-check
/**
 * The soak's hostile requests, built once before the server starts (nothing heavy runs while it measures):
 * - images, each the one element of a binary BYTES request: thin PNGs (2000×1, 30000×1, 1×30000) whose
 *   resize to the model's short side explodes, decompression bombs (a 4800×4800 PNG of zeros, under the
 *   server's 24 MP limit, a few KB; PNG and JPEG headers claiming 60000×60000), truncated and corrupt files
 *   (a cut JPEG and PNG, a PNG with a broken CRC, random bytes behind a PNG signature, an SVG, an empty element);
 * - JSON: 200k levels of nesting as the body and as `id`, a parameter, `shape` and `datatype`; a nested
 *   body and a flat one (millions of numbers) each just under the server's body limit;
 * - an oversized binary body (40 MiB, over the default 32 MiB limit), sent plainly and with
 *   `Expect: 100-continue`;
 * - the heads of slow requests (trickled headers; a body that never arrives in time).
 * @module
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { bytesTensor } from '../serve/requests.mjs';
import { drawImage } from './valid-requests.mjs';

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** One PNG chunk: length, type, data, CRC-32 of type and data. @param {string} type @param {Buffer} data */
function pngChunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  let crc = 0xffffffff;
  for (const b of body) crc = /** @type {number} */ (crcTable[(crc ^ b) & 0xff]) ^ (crc >>> 8);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0, 8 + data.length);
  return out;
}

/** A PNG whose header claims `width × height` and whose one IDAT holds a few zero rows. @param {number} width @param {number} height */
function pngBombHeader(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(4 * (width * 3 + 1)))), pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** `jpeg` with its frame header (SOF0/SOF2) claiming `width × height`. @param {Buffer} jpeg @param {number} width @param {number} height */
function jpegClaiming(jpeg, width, height) {
  const out = Buffer.from(jpeg);
  for (let at = 2; at + 9 < out.length;) {
    if (out[at] !== 0xff) break;
    const marker = /** @type {number} */ (out[at + 1]);
    const length = out.readUInt16BE(at + 2);
    if (marker === 0xc0 || marker === 0xc2) {
      out.writeUInt16BE(height, at + 5);
      out.writeUInt16BE(width, at + 7);
      return out;
    }
    at += 2 + length;
  }
  throw new Error('no SOF0/SOF2 frame header in the JPEG');
}

/** A seeded byte stream (xorshift32), for the corrupt files. @param {number} length @param {number} seed */
function noise(length, seed) {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

/** A solid-colour image of `width × height` as PNG. @param {number} width @param {number} height */
const solidPng = (width, height) => sharp({ create: { width, height, channels: 3, background: { r: 40, g: 90, b: 160 } } }).png({ compressionLevel: 9 }).toBuffer();

/**
 * The hostile images, by name.
 * @returns {Promise<{ name: string; bytes: Buffer }[]>}
 */
export async function hostileImages() {
  const photo = sharp(drawImage(640, 480, 3), { raw: { width: 640, height: 480, channels: 3 } });
  const jpeg = await photo.clone().jpeg({ quality: 85 }).toBuffer();
  const png = await photo.clone().png().toBuffer();
  const corruptPng = Buffer.from(png);
  // Flip bytes inside the first IDAT's data (past the signature and IHDR): its CRC no longer matches.
  for (let i = 0; i < 64; i++) corruptPng[200 + i * 7] ^= 0x5a;
  return [
    { name: 'thin-png-2000x1', bytes: await solidPng(2000, 1) },
    { name: 'thin-png-30000x1', bytes: await solidPng(30000, 1) },
    { name: 'thin-png-1x30000', bytes: await solidPng(1, 30000) },
    { name: 'bomb-png-4800x4800', bytes: await sharp({ create: { width: 4800, height: 4800, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png({ compressionLevel: 9 }).toBuffer() },
    { name: 'bomb-png-header-60000x60000', bytes: pngBombHeader(60000, 60000) },
    { name: 'bomb-jpeg-header-60000x60000', bytes: jpegClaiming(jpeg, 60000, 60000) },
    { name: 'truncated-jpeg', bytes: jpeg.subarray(0, Math.floor(jpeg.length / 2)) },
    { name: 'truncated-png', bytes: png.subarray(0, Math.floor(png.length / 2)) },
    { name: 'corrupt-png-crc', bytes: corruptPng },
    { name: 'garbage-png-magic', bytes: Buffer.concat([png.subarray(0, 8), noise(4096, 7)]) },
    { name: 'svg-100000x100000', bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="100%" height="100%"/></svg>') },
    { name: 'empty-element', bytes: Buffer.alloc(0) },
  ];
}

/**
 * The binary BYTES request of one image.
 * @param {string} inputName @param {Buffer} image
 */
export function imageRequest(inputName, image) {
  const tensor = bytesTensor([image]);
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: inputName, datatype: 'BYTES', shape: [1], parameters: { binary_data_size: tensor.length } }] }));
  return {
    body: Buffer.concat([json, tensor]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': json.length },
  };
}

/** `depth` levels of `[` … `]` around `inner`. @param {number} depth @param {string} [inner] */
export const nested = (depth, inner = '') => '['.repeat(depth) + inner + ']'.repeat(depth);

/**
 * The JSON bodies, by name: nesting in every place the issue found it, and two bodies just under the body limit.
 * @param {{ inputName: string; size: number; maxBodyBytes: number }} o
 * @returns {{ name: string; body: Buffer }[]}
 */
export function hostileJson(o) {
  const deep = nested(200_000);
  const shape = JSON.stringify([1, 3, o.size, o.size]);
  const input = (/** @type {string} */ fields) => `{"name":${JSON.stringify(o.inputName)},${fields}}`;
  const plain = input(`"datatype":"FP32","shape":${shape},"data":[0]`);
  // Just under the limit: the server reads it all and must parse (or refuse) it without holding its loop.
  const room = o.maxBodyBytes - 256;
  const half = Math.floor(room / 2);
  const flatHead = `{"inputs":[{"name":${JSON.stringify(o.inputName)},"datatype":"FP32","shape":${shape},"data":[`;
  const numbers = Math.floor((room - flatHead.length - 8) / 2);
  const tail = '0]}]}';
  const flat = Buffer.alloc(flatHead.length + (numbers - 1) * 2 + tail.length);
  flat.write(flatHead, 0);
  flat.fill('0,', flatHead.length, flatHead.length + (numbers - 1) * 2);
  flat.write(tail, flatHead.length + (numbers - 1) * 2);
  return [
    { name: 'nested-body-200k', body: Buffer.from(deep) },
    { name: 'nested-id-200k', body: Buffer.from(`{"id":${deep},"inputs":[${plain}]}`) },
    { name: 'nested-parameter-200k', body: Buffer.from(`{"inputs":[${plain}],"parameters":{"p":${deep}}}`) },
    { name: 'nested-shape-200k', body: Buffer.from(`{"inputs":[${input(`"datatype":"FP32","shape":${deep},"data":[0]`)}]}`) },
    { name: 'nested-datatype-200k', body: Buffer.from(`{"inputs":[${input(`"datatype":${deep},"shape":${shape},"data":[0]`)}]}`) },
    { name: `nested-body-${(room / 2 ** 20).toFixed(0)}MiB`, body: Buffer.from(nested(half)) },
    { name: `flat-numbers-${(flat.length / 2 ** 20).toFixed(0)}MiB`, body: flat },
  ];
}

/** Bytes of the oversized body: 40 MiB, or 8 MiB over a larger limit. @param {number} maxBodyBytes */
export const oversizedBytes = (maxBodyBytes) => Math.max(40 * 2 ** 20, maxBodyBytes + 8 * 2 ** 20);
