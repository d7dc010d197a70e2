/**
 * Byte-level mutations, format-blind: bit flips, "interesting" values written over integers of
 * every width and byte order (0, 0xff, 0x7f, 0x80, 2^31-1, 2^32, 2^63, …: the values that break
 * length and offset checks), small arithmetic on a byte or word (off-by-one lengths), insertions,
 * deletions, truncation, chunk duplication, and splicing with another seed.
 * @module
 */

/** The largest input the mutators produce: the parsers' bugs show on small inputs, and small inputs are fast. */
export const maxInputBytes = 64 * 1024;

const interesting8 = [0x00, 0x01, 0x02, 0x10, 0x20, 0x40, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff];

/** Interesting integers as BigInt, written with a width of 2, 4 or 8 bytes (truncated to it). */
const interestingWide = [
  0n, 1n, 2n, 7n, 8n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n,
  0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 0x1_0000_0000n, 0x1f_ffff_ffff_ffffn, 0x20_0000_0000_0000n,
  0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn, 100_000_001n,
];

function writeInt(bytes, at, value, width, littleEndian) {
  const masked = BigInt.asUintN(width * 8, value);
  for (let i = 0; i < width; i++) {
    const byte = Number((masked >> BigInt(8 * i)) & 0xffn);
    bytes[littleEndian ? at + i : at + width - 1 - i] = byte;
  }
}

function readInt(bytes, at, width, littleEndian) {
  let v = 0n;
  for (let i = 0; i < width; i++) v |= BigInt(bytes[littleEndian ? at + i : at + width - 1 - i]) << BigInt(8 * i);
  return v;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A random [start, end) range of at most `max` bytes within `length`. */
function range(rng, length, max) {
  const start = rng.below(length + 1);
  const len = rng.below(Math.min(max, length - start) + 1);
  return [start, start + len];
}

/** The mutators; each takes (rng, bytes, others) and returns a new array (never mutates its input). */
const mutators = {
  bitFlip(rng, bytes) {
    if (bytes.length === 0) return bytes;
    const out = bytes.slice();
    for (let k = 1 + rng.below(4); k > 0; k--) {
      const bit = rng.below(out.length * 8);
      out[bit >> 3] ^= 1 << (bit & 7);
    }
    return out;
  },
  interestingByte(rng, bytes) {
    if (bytes.length === 0) return bytes;
    const out = bytes.slice();
    out[rng.below(out.length)] = rng.pick(interesting8);
    return out;
  },
  randomByte(rng, bytes) {
    if (bytes.length === 0) return bytes;
    const out = bytes.slice();
    out[rng.below(out.length)] = rng.below(256);
    return out;
  },
  interestingInt(rng, bytes) {
    const width = rng.pick([2, 4, 8]);
    if (bytes.length < width) return bytes;
    const out = bytes.slice();
    let value = rng.pick(interestingWide);
    if (rng.chance(0.25)) value = -value; // two's complement: -1, -2^31, …
    writeInt(out, rng.below(out.length - width + 1), value, width, rng.chance(0.8));
    return out;
  },
  arithmetic(rng, bytes) {
    const width = rng.pick([1, 2, 4, 8]);
    if (bytes.length < width) return bytes;
    const out = bytes.slice();
    const at = rng.below(out.length - width + 1);
    const little = rng.chance(0.8);
    const delta = BigInt(rng.below(35) - 17) || 1n;
    writeInt(out, at, readInt(out, at, width, little) + delta, width, little);
    return out;
  },
  insertRandom(rng, bytes) {
    const at = rng.below(bytes.length + 1);
    const filler = new Uint8Array(1 + rng.below(16));
    const byte = rng.chance(0.5) ? rng.pick(interesting8) : -1;
    for (let i = 0; i < filler.length; i++) filler[i] = byte >= 0 ? byte : rng.below(256);
    return concat(bytes.subarray(0, at), filler, bytes.subarray(at));
  },
  deleteRange(rng, bytes) {
    const [start, end] = range(rng, bytes.length, 1 + rng.below(64));
    return concat(bytes.subarray(0, start), bytes.subarray(end));
  },
  truncate(rng, bytes) {
    return bytes.slice(0, rng.below(bytes.length + 1));
  },
  duplicateChunk(rng, bytes) {
    const [start, end] = range(rng, bytes.length, 256);
    const at = rng.below(bytes.length + 1);
    return concat(bytes.subarray(0, at), bytes.slice(start, end), bytes.subarray(at));
  },
  overwriteChunk(rng, bytes) {
    if (bytes.length < 2) return bytes;
    const [start, end] = range(rng, bytes.length, 64);
    const at = rng.below(bytes.length - (end - start) + 1);
    const out = bytes.slice();
    out.set(bytes.slice(start, end), at);
    return out;
  },
  spliceSeeds(rng, bytes, others) {
    const other = rng.pick(others);
    return concat(bytes.subarray(0, rng.below(bytes.length + 1)), other.subarray(rng.below(other.length + 1)));
  },
  insertFromSeed(rng, bytes, others) {
    const other = rng.pick(others);
    const [start, end] = range(rng, other.length, 128);
    const at = rng.below(bytes.length + 1);
    return concat(bytes.subarray(0, at), other.subarray(start, end), bytes.subarray(at));
  },
};

/** The mutator names, in a fixed order (the PRNG indexes into it). */
export const mutatorNames = Object.freeze(Object.keys(mutators));

/**
 * Applies a stack of 1 to 8 random mutations (fewer is likelier, so most inputs stay close to a
 * valid file and reach deep code) and caps the size at {@link maxInputBytes}.
 */
export function mutateBytes(rng, bytes, others) {
  let out = bytes;
  const count = 1 + Math.min(rng.below(8), rng.below(8));
  for (let k = 0; k < count; k++) out = mutators[rng.pick(mutatorNames)](rng, out, others);
  return out.length > maxInputBytes ? out.slice(0, maxInputBytes) : out;
}

export { concat, writeInt };
