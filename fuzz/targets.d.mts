/** Types of targets.mjs, for the TypeScript test that runs the fuzzer. */
import type { Random } from './prng.mjs';

/** The library functions the targets call (from `lib/` in tests, from `dist/` in the CLI). */
export interface FuzzLib {
  ResnetError: abstract new (...args: never[]) => Error;
  unpickle(bytes: Uint8Array, options?: object): unknown;
  checkpointPickleHooks(): object;
  readZip(bytes: Uint8Array, options?: { verifyCrc?: boolean }): { name: string; data: Uint8Array }[];
  writeZip(entries: readonly { name: string; data: Uint8Array }[]): Uint8Array;
  crc32(bytes: Uint8Array): number;
  isZip(bytes: Uint8Array): boolean;
  parseCheckpoint(bytes: Uint8Array): unknown;
  parseSafetensorsFile(bytes: Uint8Array): unknown;
}
/** A parser under test and the mutation strategy for its format. */
export interface FuzzTarget {
  name: string;
  parse(bytes: Uint8Array): unknown;
  mutate(rng: Random, seed: Uint8Array, others: readonly Uint8Array[]): Uint8Array;
}
export const targetNames: readonly ['pickle', 'zip', 'torch', 'safetensors'];
export function makeTargets(lib: FuzzLib): Record<(typeof targetNames)[number], FuzzTarget>;
