/**
 * The seedable generator: its raw stream against the reference C code of xoshiro128** 1.1 and
 * splitmix64 (Blackman & Vigna, prng.di.unimi.it), then the distributions built on it.
 */
import { describe, expect, it } from 'vitest';
import { Generator, defaultGenerator, manualSeed, resolveGenerator } from '../../lib/random.js';

/**
 * Output of the reference C implementations (xoshiro128starstar.c seeded with two splitmix64.c
 * outputs, low 32 bits first: s[0] = lo(a), s[1] = hi(a), s[2] = lo(b), s[3] = hi(b)).
 */
const reference: { seed: bigint; out: number[] }[] = [
  { seed: 0n, out: [3737715805, 2584255861, 2876756834, 3286328325, 1553311962, 1625202774] },
  { seed: 1n, out: [1695105466, 1423115009, 634581793, 1068227753, 716759206, 4186505319] },
  { seed: 42n, out: [1776835114, 4165204688, 17111135, 2317295270, 2792088233, 2554630222] },
  { seed: 0xffffffffffffffffn, out: [477689756, 2493998634, 555695776, 607808419, 61340979, 301466976] },
];

function draws(g: Generator, n: number, f: (g: Generator) => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(g);
  return out;
}

function moments(xs: ArrayLike<number>): { mean: number; variance: number; kurtosis: number } {
  let mean = 0;
  for (let i = 0; i < xs.length; i++) mean += xs[i]!;
  mean /= xs.length;
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < xs.length; i++) {
    const d = xs[i]! - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= xs.length;
  m4 /= xs.length;
  return { mean, variance: m2, kurtosis: m4 / (m2 * m2) };
}

describe('Generator stream', () => {
  for (const { seed, out } of reference) {
    it(`matches the reference xoshiro128** for seed ${seed}`, () => {
      const small = seed <= BigInt(Number.MAX_SAFE_INTEGER);
      const g = new Generator(small ? Number(seed) : seed);
      expect(Array.from({ length: out.length }, () => g.nextUint32())).toEqual(out);
      expect(g.initialSeed()).toBe(seed);
    });
  }

  it('builds random() from two draws: the top 27 and 26 bits of 53', () => {
    const [a, b, c, d] = reference[0]!.out as [number, number, number, number];
    const g = new Generator(0);
    expect(g.random()).toBe(((a >>> 5) * 2 ** 26 + (b >>> 6)) / 2 ** 53);
    expect(g.random()).toBe(((c >>> 5) * 2 ** 26 + (d >>> 6)) / 2 ** 53);
  });

  it('restarts from manualSeed and forgets a waiting normal sample', () => {
    const g = new Generator(9);
    const first = draws(g, 5, (x) => x.normal());
    g.manualSeed(9);
    expect(draws(g, 5, (x) => x.normal())).toEqual(first);
    g.manualSeed(123n);
    expect(g.initialSeed()).toBe(123n);
    expect(g.nextUint32()).not.toBe(new Generator(9).nextUint32());
  });

  it('seeds from entropy when no seed is given', () => {
    const a = new Generator();
    const b = new Generator();
    expect(a.initialSeed()).not.toBe(b.initialSeed());
    expect(a.initialSeed()).toBeGreaterThanOrEqual(0n);
    expect(a.initialSeed()).toBeLessThan(2n ** 64n);
    expect(new Generator(a.initialSeed()).nextUint32()).toBe(a.nextUint32());
  });

  it('rejects seeds that are not non-negative integers below 2^64', () => {
    for (const bad of [-1, 1.5, NaN, 2 ** 64, 2n ** 64n, -1n, '7', null]) {
      expect(() => new Generator(bad as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
  });
});

describe('distributions', () => {
  const n = 400_000;

  it('uniform: in [low, high), flat histogram, mean and variance of U(low, high)', () => {
    const g = new Generator(1);
    const xs = draws(g, n, (x) => x.uniform(-3, 5));
    expect(xs.reduce((a, b) => Math.min(a, b))).toBeGreaterThanOrEqual(-3);
    expect(xs.reduce((a, b) => Math.max(a, b))).toBeLessThan(5);
    const { mean, variance } = moments(xs);
    // Standard error of the mean: sqrt(64/12 / n) ≈ 0.0037; allow 5 of them.
    expect(Math.abs(mean - 1)).toBeLessThan(0.02);
    expect(variance / (64 / 12)).toBeCloseTo(1, 2);
    const bins = new Array(16).fill(0);
    for (const x of xs) bins[Math.floor(((x + 3) / 8) * 16)]++;
    // Each bin expects n/16 = 25000 with sd ≈ 153; 5 sd.
    for (const count of bins) expect(Math.abs(count - n / 16)).toBeLessThan(800);
  });

  it('normal: mean, standard deviation, tails and kurtosis of N(mean, std²)', () => {
    const g = new Generator(2);
    const xs = draws(g, n, (x) => x.normal(2, 0.5));
    const { mean, variance, kurtosis } = moments(xs);
    expect(Math.abs(mean - 2)).toBeLessThan(0.005);
    expect(Math.sqrt(variance) / 0.5).toBeCloseTo(1, 2);
    expect(kurtosis).toBeCloseTo(3, 1);
    const within = (k: number) => xs.filter((x) => Math.abs(x - 2) < k * 0.5).length / n;
    expect(within(1)).toBeCloseTo(0.6827, 2);
    expect(within(2)).toBeCloseTo(0.9545, 2);
    expect(within(3)).toBeCloseTo(0.9973, 3);
  });

  it('fillUniform gives the values of successive uniform() calls', () => {
    const out = new Float32Array(20_001);
    new Generator(5).fillUniform(out, -0.25, 0.25);
    const g = new Generator(5);
    expect(out).toEqual(Float32Array.from({ length: out.length }, () => g.uniform(-0.25, 0.25)));
  });

  it('fillNormal gives the values of successive normal() calls (even length, across chunks)', () => {
    const out = new Float32Array(20_000);
    new Generator(6).fillNormal(out, 1, 3);
    const g = new Generator(6);
    expect(out).toEqual(Float32Array.from({ length: out.length }, () => g.normal(1, 3)));
  });

  it('fillNormal fills an odd length and leaves a waiting normal() sample alone', () => {
    const g = new Generator(8);
    const firstOfPair = g.normal();
    const out = new Float32Array(7);
    g.fillNormal(out, 0, 1);
    expect(out.every(Number.isFinite)).toBe(true);
    const reference = new Generator(8);
    reference.normal();
    const secondOfPair = reference.normal();
    expect(g.normal()).toBe(secondOfPair);
    expect(firstOfPair).not.toBe(secondOfPair);
  });
});

describe('process-wide generator', () => {
  it('manualSeed makes the default generator reproducible', () => {
    const g = manualSeed(77);
    expect(g).toBe(defaultGenerator());
    expect(g.initialSeed()).toBe(77n);
    const a = draws(defaultGenerator(), 4, (x) => x.random());
    manualSeed(77);
    expect(draws(defaultGenerator(), 4, (x) => x.random())).toEqual(a);
  });

  it('resolveGenerator: the given generator, the default for null/undefined, an error otherwise', () => {
    const g = new Generator(1);
    expect(resolveGenerator(g)).toBe(g);
    expect(resolveGenerator(undefined)).toBe(defaultGenerator());
    expect(resolveGenerator(null)).toBe(defaultGenerator());
    expect(() => resolveGenerator(42)).toThrow(/Expected a Generator for generator but received 42/);
  });
});
