/** Types of engine.mjs, for the TypeScript test that runs the fuzzer. */
import type { FuzzLib, FuzzTarget } from './targets.mjs';

/** Per-input limits of the oracle. */
export interface FuzzLimits {
  timeLimitMs: number;
  maxOutputBytes: number;
}
/** The oracle's verdict on one input. */
export type Verdict =
  | { outcome: 'ok' }
  | { outcome: 'typed'; code: string }
  | { outcome: 'finding'; kind: 'crash' | 'slow' | 'memory'; error: unknown; signature: string };
/** What one target's run counted. */
export interface FuzzStats {
  target: string;
  inputs: number;
  ok: number;
  typed: number;
  codes: Record<string, number>;
  findings: number;
  signatures: Record<string, number>;
  ms: number;
}
export const defaults: Readonly<FuzzLimits>;
export function loadCorpus(dir: string): Uint8Array[];
export function retainedBytes(value: unknown, input: Uint8Array): number;
export function judge(target: FuzzTarget, input: Uint8Array, lib: Pick<FuzzLib, 'ResnetError'>, limits?: FuzzLimits): Verdict;
export function fuzzTarget(
  target: FuzzTarget,
  seeds: readonly Uint8Array[],
  lib: Pick<FuzzLib, 'ResnetError'>,
  options: {
    iterations: number;
    seed?: number;
    limits?: FuzzLimits;
    onInput?: (input: Uint8Array, index: number) => void;
    onFinding?: (verdict: Verdict & { outcome: 'finding' }, input: Uint8Array, index: number) => void;
  },
): FuzzStats;
