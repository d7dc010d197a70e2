/**
 * The thread count: bounded by the CPUs this process may use (more only slows OpenMP down, and libgomp
 * would end the process if it could not create the threads).
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { getNumThreads, setNumThreads } from '../../lib/index.js';

describe('setNumThreads', () => {
  it('defaults to the available CPUs and accepts 1..CPUs', () => {
    const cpus = availableParallelism();
    expect(getNumThreads()).toBe(cpus);
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    setNumThreads(cpus);
    expect(getNumThreads()).toBe(cpus);
  });

  it('rejects counts outside 1..CPUs with the argument-error shape', () => {
    const cpus = availableParallelism();
    expect(() => setNumThreads(cpus + 1)).toThrow(
      `Expected an integer from 1 to ${cpus} (the CPUs this process may use) for threads but received ${cpus + 1}`,
    );
    expect(() => setNumThreads(0)).toThrow(/for threads but received 0/);
    expect(() => setNumThreads(1.5)).toThrow(/for threads but received 1.5/);
    expect(() => setNumThreads(NaN)).toThrow(/for threads but received NaN/);
  });
});
