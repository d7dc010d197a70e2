/**
 * readZip against archives whose central directory makes entries share bytes: many entries over one
 * blob, an entry nested inside another's data, an entry reaching into the central directory. Each is
 * refused with ERR_INVALID_FILE before any CRC is computed, while real archives (PyTorch's zip
 * checkpoints with data descriptors and zip64 records, our writer's output) still read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidFileError } from '../../lib/errors.js';
import { crc32, readZip, writeZip } from '../../lib/io/zip.js';

const fixtures = join(import.meta.dirname, '../fixtures/torch');
const corpusZip = join(import.meta.dirname, '../../fuzz/corpus/zip');
const encoder = new TextEncoder();

function refusal(bytes: Uint8Array): string {
  try {
    readZip(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidFileError);
    expect((e as InvalidFileError).code).toBe('ERR_INVALID_FILE');
    return (e as Error).message;
  }
  throw new Error('the archive was accepted');
}

/** A central-directory record for a stored entry (sizes equal), pointing at `localOffset`. */
function centralRecord(name: string, crc: number, size: number, localOffset: number): Uint8Array {
  const nameBytes = encoder.encode(name);
  const out = new Uint8Array(46 + nameBytes.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x02014b50, true);
  v.setUint16(4, 20, true);
  v.setUint16(6, 20, true);
  v.setUint32(16, crc, true);
  v.setUint32(20, size, true);
  v.setUint32(24, size, true);
  v.setUint16(28, nameBytes.length, true);
  v.setUint32(42, localOffset, true);
  out.set(nameBytes, 46);
  return out;
}

/** A local header (no name, no extra field) followed by `data`. */
function localEntry(data: Uint8Array, crc: number): Uint8Array {
  const out = new Uint8Array(30 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x04034b50, true);
  v.setUint16(4, 20, true);
  v.setUint32(14, crc, true);
  v.setUint32(18, data.length, true);
  v.setUint32(22, data.length, true);
  out.set(data, 30);
  return out;
}

/** Data area, then the central records, then a classic end record. */
function archive(dataArea: Uint8Array, central: Uint8Array[]): Uint8Array {
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(dataArea.length + cdSize + 22);
  out.set(dataArea, 0);
  let p = dataArea.length;
  for (const c of central) {
    out.set(c, p);
    p += c.length;
  }
  const v = new DataView(out.buffer);
  v.setUint32(p, 0x06054b50, true);
  v.setUint16(p + 8, central.length, true);
  v.setUint16(p + 10, central.length, true);
  v.setUint32(p + 12, cdSize, true);
  v.setUint32(p + 16, dataArea.length, true);
  return out;
}

describe('readZip: entries that share bytes', () => {
  it('refuses 65,000 entries over one 4 MB blob from their summed sizes, before any CRC', () => {
    const blob = new Uint8Array(4 << 20).map((_, i) => (i * 31) & 0xff);
    const crc = crc32(blob);
    // Every record is valid on its own (the CRC matches the blob); only together are they impossible.
    const central = Array.from({ length: 65_000 }, (_, i) => centralRecord(`blob/${i}`, crc, blob.length, 0));
    const bytes = archive(localEntry(blob, crc), central);
    expect(bytes.length).toBeGreaterThan(7_000_000);
    expect(refusal(bytes)).toMatch(
      new RegExp(`sizes of entries 0 to 1 add up to ${2 * blob.length} bytes, more than the ${30 + blob.length}-byte data area holds; entries overlap`),
    );
  });

  it('refuses entries that share a local header, or one nested in another\'s data, before checking CRCs', () => {
    // Entry "outer" holds, inside its data, a well-formed local header and 16 bytes: "inner" points there.
    const innerData = new Uint8Array(16).fill(7);
    const innerCrc = crc32(innerData);
    const outerData = new Uint8Array(200);
    outerData.set(localEntry(innerData, innerCrc), 64);
    const outerCrc = crc32(outerData);
    const data = localEntry(outerData, outerCrc);
    const wrongCrc = (innerCrc ^ 1) >>> 0; // a CRC check first would report this instead
    const nested = archive(data, [centralRecord('outer', outerCrc, 200, 0), centralRecord('inner', wrongCrc, 16, 30 + 64)]);
    expect(refusal(nested)).toBe(
      'zip archive: entries "outer" [0, 230) and "inner" [94, 140) overlap; each entry needs its own bytes, so the file is corrupt or hostile',
    );
    // The directory's order does not matter.
    const reversed = archive(data, [centralRecord('inner', wrongCrc, 16, 30 + 64), centralRecord('outer', outerCrc, 200, 0)]);
    expect(refusal(reversed)).toMatch(/entries "outer" \[0, 230\) and "inner" \[94, 140\) overlap/);
    // Two names for one local header (the sizes add up to 32 of the 46-byte data area: only the overlap check sees it).
    const twice = archive(localEntry(innerData, innerCrc), [centralRecord('a', innerCrc, 16, 0), centralRecord('b', innerCrc, 16, 0)]);
    expect(refusal(twice)).toMatch(/entries "a" \[0, 46\) and "b" \[0, 46\) overlap/);
    // Empty entries share nothing but their headers, and those too must be their own.
    const empty = archive(localEntry(new Uint8Array(0), 0), [centralRecord('x', 0, 0, 0), centralRecord('y', 0, 0, 0)]);
    expect(refusal(empty)).toMatch(/entries "x" \[0, 30\) and "y" \[0, 30\) overlap/);
  });

  it('refuses an entry whose data reaches into the central directory', () => {
    const data = new Uint8Array(10).fill(1);
    const crc = crc32(data);
    const bytes = archive(localEntry(data, crc), [centralRecord('long', crc, 12, 0)]);
    expect(refusal(bytes)).toMatch(/the data of "long" \[30, 42\) runs past the data area into the central directory at 40/);
  });
});

describe('readZip: real archives still read', () => {
  const zipFixtures = readdirSync(fixtures).filter((f) => f.endsWith('_zip.pt'));

  it.each(zipFixtures)('%s (torch.save, data descriptors and zip64 records)', (file) => {
    const bytes = new Uint8Array(readFileSync(join(fixtures, file)));
    const entries = readZip(bytes);
    expect(entries.length).toBeGreaterThan(2);
    expect(entries.some((e) => e.name.endsWith('/data.pkl'))).toBe(true);
    // Entries are disjoint slices of the file, as the writer laid them out.
    const spans = entries.map((e) => [e.data.byteOffset, e.data.byteOffset + e.data.length]).sort((a, b) => a[0]! - b[0]!);
    for (let k = 1; k < spans.length; k++) expect(spans[k]![0]).toBeGreaterThanOrEqual(spans[k - 1]![1]!);
  });

  it('reads a zip64 archive and our writer\'s output of many small and empty entries', () => {
    const zip64 = readZip(new Uint8Array(readFileSync(join(corpusZip, 'zip64.zip'))));
    expect(zip64.map((e) => e.name)).toEqual(['a/data.pkl', 'a/data/0']);
    const many = Array.from({ length: 3000 }, (_, i) => ({ name: `e/${i}`, data: new Uint8Array(i % 3).fill(i & 0xff) }));
    const back = readZip(writeZip(many));
    expect(back.map((e) => e.name)).toEqual(many.map((e) => e.name));
    expect(back.map((e) => [...e.data])).toEqual(many.map((e) => [...e.data]));
  });
});
