/** Types of structure.mjs. */
import type { Random } from './prng.mjs';
import type { FuzzLib } from './targets.mjs';

export function fixZipCrcs(bytes: Uint8Array, crc32: (bytes: Uint8Array) => number): Uint8Array;
export function mutateZipEntry(rng: Random, bytes: Uint8Array, others: readonly Uint8Array[], lib: FuzzLib): Uint8Array | undefined;
export function overlapZipEntries(rng: Random, bytes: Uint8Array, lib: FuzzLib): Uint8Array | undefined;
export function mutateSafetensorsHeader(rng: Random, bytes: Uint8Array): Uint8Array | undefined;
export function insertPickleSnippet(rng: Random, bytes: Uint8Array): Uint8Array;
