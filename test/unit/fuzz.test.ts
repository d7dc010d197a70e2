/**
 * A short, deterministic run of the parser fuzzer (fuzz/) against lib/: 2,000 mutated inputs per
 * target with a fixed seed must all either parse or throw a typed ResnetError. It also checks that
 * the oracle does catch what it is meant to catch, that runs are reproducible, and that the zip
 * CRC fix-up lets mutations through the CRC check. The long run is `npm run fuzz` (fuzz/README.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResnetError, InvalidFileError } from '../../lib/errors.js';
import { unpickle } from '../../lib/io/pickle.js';
import { checkpointPickleHooks, parseCheckpoint } from '../../lib/io/torch.js';
import { parseSafetensorsFile } from '../../lib/io/safetensors.js';
import { crc32, isZip, readZip, writeZip } from '../../lib/io/zip.js';
import { fuzzTarget, judge, loadCorpus, type FuzzStats } from '../../fuzz/engine.mjs';
import { Random } from '../../fuzz/prng.mjs';
import { fixZipCrcs, insertPickleSnippet, overlapZipEntries } from '../../fuzz/structure.mjs';
import { makeTargets, targetNames, type FuzzTarget } from '../../fuzz/targets.mjs';

const lib = { ResnetError, unpickle, checkpointPickleHooks, readZip, writeZip, crc32, isZip, parseCheckpoint, parseSafetensorsFile };
const targets = makeTargets(lib);
const corpusDir = join(import.meta.dirname, '../../fuzz/corpus');
const corpus = (name: string) => loadCorpus(join(corpusDir, name));
const seedFile = (path: string) => new Uint8Array(readFileSync(join(corpusDir, path)));
const iterations = 2_000;

describe('fuzzing the parsers (short deterministic run)', () => {
  it.each(targetNames)('%s: every input parses or throws a typed error', (name) => {
    const failures: string[] = [];
    const stats = fuzzTarget(targets[name], corpus(name), lib, {
      iterations,
      seed: 1,
      onFinding: (v, input) => failures.push(`${v.signature} on ${Buffer.from(input).toString('hex').slice(0, 200)}`),
    });
    expect(failures).toEqual([]);
    expect(stats.inputs).toBe(iterations + corpus(name).length);
    // The mutations must reach both outcomes: all-rejected would mean they never get past the first check.
    expect(stats.ok).toBeGreaterThan(iterations / 50);
    expect(stats.typed).toBeGreaterThan(iterations / 2);
  });

  it('is reproducible from its seed', () => {
    const run = (seed: number): FuzzStats => fuzzTarget(targets.torch, corpus('torch'), lib, { iterations: 300, seed });
    const strip = ({ ms: _ms, ...rest }: FuzzStats) => rest;
    expect(strip(run(7))).toEqual(strip(run(7)));
    const inputs = (seed: number) => {
      const seen: string[] = [];
      fuzzTarget(targets.pickle, corpus('pickle'), lib, { iterations: 50, seed, onInput: (i) => seen.push(Buffer.from(i).toString('hex')) });
      return seen;
    };
    expect(inputs(3)).toEqual(inputs(3));
    expect(inputs(3)).not.toEqual(inputs(4));
  });
});

describe('the oracle', () => {
  const fake = (parse: (b: Uint8Array) => unknown): FuzzTarget => ({ name: 'fake', parse, mutate: (_r, s) => s });
  const input = new Uint8Array([1, 2, 3]);

  it('accepts a parse and a typed error', () => {
    expect(judge(fake(() => ({ a: 1 })), input, lib).outcome).toBe('ok');
    expect(judge(fake(() => { throw new InvalidFileError('bad'); }), input, lib)).toEqual({ outcome: 'typed', code: 'ERR_INVALID_FILE' });
  });

  it('reports an untyped error, a stack overflow, a huge allocation, a slow parse and a bloated result', () => {
    const verdict = (parse: (b: Uint8Array) => unknown) => judge(fake(parse), input, lib, { timeLimitMs: 50, maxOutputBytes: 1 << 20 });
    expect(verdict(() => (null as unknown as { x: number }).x)).toMatchObject({ outcome: 'finding', kind: 'crash' });
    const recurse = (n: number): number => recurse(n + 1) + 1;
    expect(verdict(() => recurse(0))).toMatchObject({ outcome: 'finding', kind: 'crash' });
    expect(verdict(() => new Float64Array(2 ** 40))).toMatchObject({ outcome: 'finding', kind: 'crash' });
    expect(verdict(() => { const end = performance.now() + 80; while (performance.now() < end); })).toMatchObject({ outcome: 'finding', kind: 'slow' });
    expect(verdict(() => ({ t: new Uint8Array(2 << 20) }))).toMatchObject({ outcome: 'finding', kind: 'memory' });
  });

  it('counts a finding in a run and hands over the input', () => {
    const seen: Uint8Array[] = [];
    const target: FuzzTarget = { name: 'fake', parse: (b) => { if (b[0] === 0xff) throw new TypeError('boom'); }, mutate: (r) => Uint8Array.of(r.below(256)) };
    const stats = fuzzTarget(target, [Uint8Array.of(0)], lib, { iterations: 2_000, seed: 1, onFinding: (_v, i) => seen.push(i) });
    expect(stats.findings).toBeGreaterThan(0);
    expect(seen.every((i) => i[0] === 0xff)).toBe(true);
  });
});

describe('mutators for shared zip bytes and long ints', () => {
  it('points zip entries at each other\'s bytes, and readZip refuses every such archive for it', () => {
    const rng = new Random(5);
    const reasons = new Set<string>();
    for (let k = 0; k < 200; k++) {
      const seed = rng.pick([seedFile('zip/tiny_zip.pt'), seedFile('zip/nested_zip.pt'), seedFile('zip/zip64.zip')]);
      const hostile = overlapZipEntries(rng, seed, lib)!;
      expect(hostile).toBeInstanceOf(Uint8Array);
      expect(hostile.length).toBeLessThanOrEqual(64 * 1024);
      let message = '';
      try {
        readZip(hostile);
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidFileError);
        message = (e as Error).message;
      }
      // Shifted offsets mostly land on no local header; the rest must be caught as shared bytes, never by a CRC.
      expect(message).toMatch(/overlap|no local header|runs past the data area|outside the file's data area/);
      expect(message).not.toMatch(/CRC/);
      reasons.add(message.match(/overlap|no local header|runs past|outside/)![0]);
    }
    expect(reasons).toContain('overlap');
    expect(reasons).toContain('no local header');
  });

  it('inserts long LONG1/LONG4 ints into pickles', () => {
    const rng = new Random(9);
    const lengths = new Set<number>();
    for (let k = 0; k < 2000; k++) {
      const out = insertPickleSnippet(rng, Uint8Array.of(0x80, 2, 0x2e));
      expect(out.length).toBeLessThanOrEqual(64 * 1024);
      if (out[2] === 0x8b && out.length > 7) lengths.add(out[3]! | (out[4]! << 8) | (out[5]! << 16));
    }
    expect(lengths).toContain(65);
    expect(lengths).toContain(40_000);
  });
});

describe('zip CRC fix-up', () => {
  it('lets a mutated entry pass the CRC check', () => {
    const seed = seedFile('zip/tiny_zip.pt');
    const entries = readZip(seed);
    const first = entries[0]!;
    const mutated = seed.slice();
    mutated[first.data.byteOffset - seed.byteOffset] ^= 0xff; // the first byte of the first entry's data
    expect(() => readZip(mutated)).toThrow(/CRC-32/);
    const fixed = fixZipCrcs(mutated, crc32);
    expect(readZip(fixed)[0]!.data[0]).toBe(first.data[0]! ^ 0xff);
  });

  it('handles a zip64 archive', () => {
    const zip64 = seedFile('zip/zip64.zip');
    const mutated = zip64.slice();
    const data = readZip(zip64)[1]!.data;
    mutated[data.byteOffset - zip64.byteOffset] ^= 1;
    expect(() => readZip(mutated)).toThrow(/CRC-32/);
    expect(readZip(fixZipCrcs(mutated, crc32))).toHaveLength(2);
  });

  it('draws the same numbers from the same seed', () => {
    const a = new Random(42);
    const b = new Random(42);
    expect(Array.from({ length: 5 }, () => a.u32())).toEqual(Array.from({ length: 5 }, () => b.u32()));
  });
});
