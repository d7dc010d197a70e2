/**
 * The subset of the zip format that PyTorch's checkpoints use (PyTorch ≥ 1.6 `torch.save`): stored
 * (uncompressed) entries, with zip64 records where the archive has them. PyTorch's writer (miniz)
 * sets the data-descriptor flag and leaves sizes out of the local headers, so sizes are taken from
 * the central directory, and every offset and size is checked against the file before use.
 *
 * The writer lays entries out as PyTorch does: each entry's data starts on a 64-byte boundary, the
 * local header's extra field (id `FB`) padding up to it.
 * @module
 */
import * as zlib from 'node:zlib';
import { InvalidFileError, UnsupportedError } from '../errors.js';

/** One stored entry of a zip archive. */
export interface ZipEntry {
  name: string;
  /** The entry's bytes: a view into the archive, not a copy. */
  data: Uint8Array;
}

const eocdSignature = 0x06054b50;
const zip64LocatorSignature = 0x07064b50;
const zip64EocdSignature = 0x06064b50;
const centralSignature = 0x02014b50;
const localSignature = 0x04034b50;

let crcTable: Uint32Array | undefined;

/** Node's native CRC-32 (Node ≥ 20.15); about ten times faster than the table loop below. */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 (IEEE 802.3), as zip stores it. */
export function crc32(bytes: Uint8Array): number {
  return nativeCrc32 ? nativeCrc32(bytes) >>> 0 : crc32Portable(bytes);
}

/** CRC-32 by table, for Node versions without `zlib.crc32`. @internal */
export function crc32Portable(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** True when `bytes` starts with a zip local-file-header signature (`PK\x03\x04`). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function fail(message: string): never {
  throw new InvalidFileError(`zip archive: ${message}`);
}

/** Finds the end-of-central-directory record: the last signature within the 64 KiB comment window. */
function findEocd(bytes: Uint8Array, view: DataView): number {
  if (bytes.length < 22) fail(`${bytes.length} bytes is too short for a zip archive; the file is truncated`);
  const lowest = Math.max(0, bytes.length - 22 - 0xffff);
  for (let p = bytes.length - 22; p >= lowest; p--) {
    if (view.getUint32(p, true) === eocdSignature && p + 22 + view.getUint16(p + 20, true) === bytes.length) return p;
  }
  return fail('no end-of-central-directory record; the file is truncated or not a zip archive');
}

function safe(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${field} ${value} is out of range`);
  return Number(value);
}

/** A central-directory entry whose local header and data were found inside the data area. */
interface LocatedEntry {
  name: string;
  crc: number;
  /** Where its local header starts; its data runs [dataStart, dataEnd). */
  headerStart: number;
  dataStart: number;
  dataEnd: number;
}

/**
 * Refuses entries whose local header and data, [headerStart, dataEnd), overlap another's: a zip
 * writer gives each entry its own bytes, and shared bytes are how hostile archives multiply the
 * work (or the output) of one blob. Sorting keeps this O(n log n) for any entry count.
 */
function refuseOverlaps(located: readonly LocatedEntry[]): void {
  const byOffset = [...located].sort((a, b) => a.headerStart - b.headerStart);
  for (let k = 1; k < byOffset.length; k++) {
    const before = byOffset[k - 1]!;
    const after = byOffset[k]!;
    if (after.headerStart < before.dataEnd) {
      fail(
        `entries ${JSON.stringify(before.name)} [${before.headerStart}, ${before.dataEnd}) and ${JSON.stringify(after.name)} ` +
          `[${after.headerStart}, ${after.dataEnd}) overlap; each entry needs its own bytes, so the file is corrupt or hostile`,
      );
    }
  }
}

/**
 * Reads the entries of a zip archive held in memory.
 * @param options.verifyCrc also checks each entry's CRC-32 (default true).
 * @throws InvalidFileError for a truncated or inconsistent archive, a duplicate name, an offset or
 *   size that points outside the file, or entries that overlap each other (checked before any CRC).
 * @throws UnsupportedError for compressed or encrypted entries (PyTorch writes neither).
 */
export function readZip(bytes: Uint8Array, options: { verifyCrc?: boolean } = {}): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEocd(bytes, view);
  let count: number = view.getUint16(eocd + 10, true);
  let cdSize: number = view.getUint32(eocd + 12, true);
  let cdOffset: number = view.getUint32(eocd + 16, true);
  // Zip64: a locator sits just before the classic record and points at the zip64 record.
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === zip64LocatorSignature) {
    const recordAt = safe(view.getBigUint64(eocd - 12, true), 'the zip64 end record offset');
    if (recordAt + 56 > eocd - 20) fail(`the zip64 end record offset ${recordAt} points outside the file`);
    if (view.getUint32(recordAt, true) !== zip64EocdSignature) fail(`no zip64 end record at offset ${recordAt}`);
    count = safe(view.getBigUint64(recordAt + 32, true), 'the zip64 entry count');
    cdSize = safe(view.getBigUint64(recordAt + 40, true), 'the zip64 central directory size');
    cdOffset = safe(view.getBigUint64(recordAt + 48, true), 'the zip64 central directory offset');
  }
  if (cdOffset + cdSize > eocd) {
    fail(`the central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at ${eocd}; the file is truncated or corrupt`);
  }
  // Each central entry takes at least 46 bytes: a hostile count cannot make us loop or allocate more.
  if (count * 46 > cdSize) fail(`${count} entries cannot fit in a ${cdSize}-byte central directory`);

  const located: LocatedEntry[] = [];
  const names = new Set<string>();
  // Stored entries that do not overlap fit in the data area together; a hostile directory that
  // points thousands of entries at one blob is refused here, before a single CRC is computed.
  let sizeSum = 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || view.getUint32(p, true) !== centralSignature) fail(`central directory entry ${i} at offset ${p} is corrupt`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize: number = view.getUint32(p + 20, true);
    let size: number = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localOffset: number = view.getUint32(p + 42, true);
    const next = p + 46 + nameLength + extraLength + commentLength;
    if (next > cdEnd) fail(`central directory entry ${i} runs past the directory's end`);
    let name: string;
    try {
      name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLength));
    } catch {
      return fail(`the name of entry ${i} is not valid UTF-8`);
    }
    // Zip64 extended information: present fields replace the 0xffffffff placeholders, in order.
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (e + 4 + len > p + 46 + nameLength + extraLength) fail(`an extra field of ${JSON.stringify(name)} runs past its entry`);
      if (id === 0x0001) {
        let f = e + 4;
        const field = (placeholder: number, label: string): number => {
          if (placeholder !== 0xffffffff) return placeholder;
          if (f + 8 > e + 4 + len) fail(`the zip64 field of ${JSON.stringify(name)} lacks its ${label}`);
          const v = safe(view.getBigUint64(f, true), `the zip64 ${label} of ${JSON.stringify(name)}`);
          f += 8;
          return v;
        };
        size = field(size, 'size');
        compressedSize = field(compressedSize, 'compressed size');
        localOffset = field(localOffset, 'local header offset');
      }
      e += 4 + len;
    }
    if (flags & 0x1) throw new UnsupportedError(`zip archive: entry ${JSON.stringify(name)} is encrypted`);
    if (method !== 0) {
      throw new UnsupportedError(`zip archive: entry ${JSON.stringify(name)} is compressed (method ${method}); PyTorch checkpoints store entries uncompressed`);
    }
    if (compressedSize !== size) fail(`stored entry ${JSON.stringify(name)} has compressed size ${compressedSize} but size ${size}`);
    if (localOffset + 30 > cdOffset) fail(`the local header of ${JSON.stringify(name)} at offset ${localOffset} is outside the file's data area`);
    if (view.getUint32(localOffset, true) !== localSignature) fail(`no local header for ${JSON.stringify(name)} at offset ${localOffset}`);
    const dataStart = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (dataStart + size > cdOffset) {
      fail(`the data of ${JSON.stringify(name)} [${dataStart}, ${dataStart + size}) runs past the data area into the central directory at ${cdOffset}; the file is truncated or corrupt`);
    }
    if (names.has(name)) fail(`entry ${JSON.stringify(name)} appears twice`);
    names.add(name);
    sizeSum += size;
    if (sizeSum > cdOffset) {
      fail(`the sizes of entries 0 to ${i} add up to ${sizeSum} bytes, more than the ${cdOffset}-byte data area holds; entries overlap, so the file is corrupt or hostile`);
    }
    located.push({ name, crc, headerStart: localOffset, dataStart, dataEnd: dataStart + size });
    p = next;
  }
  refuseOverlaps(located);

  const entries: ZipEntry[] = [];
  for (const { name, crc, dataStart, dataEnd } of located) {
    const data = bytes.subarray(dataStart, dataEnd);
    if ((options.verifyCrc ?? true) && crc32(data) !== crc) {
      fail(`entry ${JSON.stringify(name)} fails its CRC-32 check; the file is corrupt`);
    }
    entries.push({ name, data });
  }
  return entries;
}

/** Everything past this offset or size needs zip64 records, which the writer does not emit. */
const classicLimit = 0xffffffff;

/**
 * Builds a zip archive of stored entries, each entry's data aligned to 64 bytes as PyTorch writes
 * it (so that storages can be memory-mapped).
 * @throws UnsupportedError when the archive would reach 4 GiB (zip64 writing is not implemented).
 */
export function writeZip(entries: readonly ZipEntry[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = encoder.encode(name);
    const crc = crc32(data);
    const headerEnd = offset + 30 + nameBytes.length;
    // The extra field needs 4 bytes of its own header; pad to the next 64-byte boundary after that.
    const padding = (64 - ((headerEnd + 4) % 64)) % 64;
    const extraLength = 4 + padding;
    const local = new Uint8Array(30 + nameBytes.length + extraLength);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, localSignature, true);
    lv.setUint16(4, 20, true); // version needed: 2.0
    lv.setUint16(6, 0x0800, true); // UTF-8 names
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, extraLength, true);
    local.set(nameBytes, 30);
    lv.setUint16(30 + nameBytes.length, 0x4246, true); // "FB", PyTorch's padding field id
    lv.setUint16(32 + nameBytes.length, padding, true);
    local.fill(0x5a, 34 + nameBytes.length); // 'Z', as PyTorch pads

    const entry = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(entry.buffer);
    cv.setUint32(0, centralSignature, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    entry.set(nameBytes, 46);

    parts.push(local, data);
    central.push(entry);
    offset += local.length + data.length;
    if (offset > classicLimit) throw new UnsupportedError('saving a checkpoint of 4 GiB or more is not supported (it needs zip64 records)');
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  if (offset + cdSize > classicLimit || entries.length > 0xffff) {
    throw new UnsupportedError('saving a checkpoint of 4 GiB or more, or of more than 65535 entries, is not supported');
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, eocdSignature, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const part of [...parts, ...central, eocd]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}
