/** Types of prng.mjs. */
export function mix32(x: number): number;
export function deriveSeed(seed: number, label: string): number;
export class Random {
  constructor(seed: number);
  u32(): number;
  below(n: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}
