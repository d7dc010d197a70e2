/**
 * The fuzzing loop and its oracle. Every input must either parse or throw one of the library's
 * typed errors (a `ResnetError` with an `ERR_…` code). Anything else is a finding: another error
 * class (TypeError, RangeError from a typed-array allocation, "Maximum call stack size exceeded"),
 * an input slower than the per-input time limit, or a result holding more memory than the bound.
 * (A true hang cannot be caught here, inside the same thread: `run.mjs` watches the worker that
 * runs this loop and saves the input it is stuck on.)
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Random, deriveSeed } from './prng.mjs';

/** Defaults: a parse of a ≤ 64 KiB input should take microseconds and hold at most a few MiB. */
export const defaults = Object.freeze({ timeLimitMs: 250, maxOutputBytes: 16 * 1024 * 1024 });

/** Reads the seed files of one target (sorted by name, so runs are reproducible). */
export function loadCorpus(dir) {
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.') && !f.endsWith('.md'))
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

/** Bytes of memory a parse result holds beyond the input (typed-array buffers, counted once). */
export function retainedBytes(value, input) {
  const buffers = new Set();
  const seen = new Set();
  const pending = [value];
  let total = 0;
  while (pending.length > 0) {
    const v = pending.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v)) {
      if (v.buffer !== input.buffer && !buffers.has(v.buffer)) {
        buffers.add(v.buffer);
        total += v.buffer.byteLength;
      }
      continue;
    }
    if (v instanceof Map) for (const [k, item] of v) pending.push(k, item);
    else if (v instanceof Set) for (const item of v) pending.push(item);
    else for (const item of Object.values(v)) pending.push(item);
  }
  return total;
}

/** A short stable description of an error, for de-duplicating findings: class, message shape, first frame. */
function signature(kind, error) {
  if (!(error instanceof Error)) return `${kind}:${typeof error}`;
  const frame = (error.stack ?? '').split('\n').find((l) => l.includes('/lib/') || l.includes('/dist/')) ?? '';
  const where = frame.replace(/^.*[/\\]((?:lib|dist)[/\\].*?):\d+(?::\d+)?\)?$/, '$1');
  return `${kind}:${error.constructor?.name}:${error.message.replace(/\d+/g, 'N').slice(0, 120)}@${where}`;
}

/**
 * Runs one input through a target and judges it.
 * @returns `{ outcome: 'ok' }`, `{ outcome: 'typed', code }` or `{ outcome: 'finding', kind, error, signature }`.
 */
export function judge(target, input, lib, limits = defaults) {
  const start = performance.now();
  let verdict;
  try {
    const value = target.parse(input);
    const held = retainedBytes(value, input);
    verdict = held > limits.maxOutputBytes
      ? finding('memory', new Error(`the result holds ${held} bytes from a ${input.length}-byte input`))
      : { outcome: 'ok' };
  } catch (error) {
    if (error instanceof lib.ResnetError && typeof error.code === 'string' && error.code.startsWith('ERR_')) {
      verdict = { outcome: 'typed', code: error.code };
    } else {
      verdict = finding('crash', error);
    }
  }
  const elapsed = performance.now() - start;
  if (elapsed > limits.timeLimitMs && verdict.outcome !== 'finding') {
    // A garbage collection or a busy machine can stall any one parse: only an input that is slow
    // every time is a finding.
    const again = Math.min(elapsed, timeOf(target, input), timeOf(target, input));
    if (again > limits.timeLimitMs) verdict = finding('slow', new Error(`parsing took ${again.toFixed(0)} ms at best of 3 (limit ${limits.timeLimitMs} ms)`));
  }
  return verdict;
}

function timeOf(target, input) {
  const start = performance.now();
  try {
    target.parse(input);
  } catch {
    // judged already; only the time matters here
  }
  return performance.now() - start;
}

function finding(kind, error) {
  return { outcome: 'finding', kind, error, signature: signature(kind, error) };
}

/**
 * Fuzzes one target: `iterations` inputs, each a mutation of a seed chosen at random, judged by
 * {@link judge}. The seeds themselves are judged first (they must not be findings either).
 * @param options.seed the PRNG seed (the target's name is mixed in).
 * @param options.onInput called with each input before it is parsed (the hang watchdog's hook).
 * @param options.onFinding called with `(finding, input, index)` for every finding.
 * @returns counts per outcome and per error code, the findings' signatures, and the wall time.
 */
export function fuzzTarget(target, seeds, lib, options) {
  const { iterations, seed = 1, limits = defaults, onInput, onFinding } = options;
  if (seeds.length === 0) throw new Error(`no seeds for target ${target.name}`);
  const rng = new Random(deriveSeed(seed, target.name));
  const stats = { target: target.name, inputs: 0, ok: 0, typed: 0, codes: {}, findings: 0, signatures: {}, ms: 0 };
  const start = performance.now();
  const visit = (input, index) => {
    onInput?.(input, index);
    const verdict = judge(target, input, lib, limits);
    stats.inputs++;
    if (verdict.outcome === 'ok') stats.ok++;
    else if (verdict.outcome === 'typed') {
      stats.typed++;
      stats.codes[verdict.code] = (stats.codes[verdict.code] ?? 0) + 1;
    } else {
      stats.findings++;
      stats.signatures[verdict.signature] = (stats.signatures[verdict.signature] ?? 0) + 1;
      onFinding?.(verdict, input, index);
    }
  };
  seeds.forEach((s, i) => visit(s, -1 - i));
  for (let i = 0; i < iterations; i++) {
    const base = seeds[rng.below(seeds.length)];
    visit(target.mutate(rng, base, seeds), i);
  }
  stats.ms = Math.round(performance.now() - start);
  return stats;
}
