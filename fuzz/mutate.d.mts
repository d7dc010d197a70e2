/** Types of mutate.mjs. */
import type { Random } from './prng.mjs';

/** The largest input the mutators produce. */
export const maxInputBytes: number;
/** A stack of 1 to 8 random mutations of `bytes` (`others` feed splicing), capped at maxInputBytes. */
export function mutateBytes(rng: Random, bytes: Uint8Array, others: readonly Uint8Array[]): Uint8Array;
