/**
 * The four fuzzing targets, each a parse function over bytes and the mutation strategy that suits
 * its format. The library is passed in (`lib`), so the same targets run against `dist/` (the CLI)
 * and against `lib/` (the vitest run).
 * @module
 */
import { mutateBytes } from './mutate.mjs';
import { fixZipCrcs, insertPickleSnippet, mutateSafetensorsHeader, mutateZipEntry, overlapZipEntries } from './structure.mjs';

/** The target names, in run order; each reads its seeds from `fuzz/corpus/<name>/`. */
export const targetNames = Object.freeze(['pickle', 'zip', 'torch', 'safetensors']);

/**
 * Builds the targets over a library object holding `unpickle`, `checkpointPickleHooks`, `readZip`,
 * `writeZip`, `crc32`, `isZip`, `parseCheckpoint`, `parseSafetensorsFile` and `ResnetError`.
 */
export function makeTargets(lib) {
  const isZip = (bytes) => lib.isZip(bytes);
  const zipAware = (rng, seed, others) => {
    if (isZip(seed) && rng.chance(0.35)) {
      const rebuilt = mutateZipEntry(rng, seed, others, lib);
      if (rebuilt) return rebuilt;
    }
    if (isZip(seed) && rng.chance(0.08)) {
      const overlapping = overlapZipEntries(rng, seed, lib);
      if (overlapping) return overlapping;
    }
    const mutated = mutateBytes(rng, seed, others);
    // Without the fix-up almost every mutation of a zip stops at the CRC check.
    return isZip(mutated) && rng.chance(0.6) ? fixZipCrcs(mutated, lib.crc32) : mutated;
  };
  return {
    pickle: {
      name: 'pickle',
      // The restricted unpickler with the checkpoint hooks: the configuration a real file meets.
      parse: (bytes) => lib.unpickle(bytes, { hooks: lib.checkpointPickleHooks(), what: 'fuzz' }),
      mutate: (rng, seed, others) => {
        const mutated = mutateBytes(rng, seed, others);
        return rng.chance(0.3) ? insertPickleSnippet(rng, mutated) : mutated;
      },
    },
    zip: {
      name: 'zip',
      parse: (bytes) => lib.readZip(bytes),
      mutate: zipAware,
    },
    torch: {
      name: 'torch',
      parse: (bytes) => lib.parseCheckpoint(bytes),
      mutate: (rng, seed, others) => {
        const mutated = zipAware(rng, seed, others);
        return !isZip(seed) && rng.chance(0.2) ? insertPickleSnippet(rng, mutated) : mutated;
      },
    },
    safetensors: {
      name: 'safetensors',
      parse: (bytes) => lib.parseSafetensorsFile(bytes),
      mutate: (rng, seed, others) => {
        if (rng.chance(0.4)) {
          const rewritten = mutateSafetensorsHeader(rng, seed);
          if (rewritten) return rewritten;
        }
        return mutateBytes(rng, seed, others);
      },
    },
  };
}
