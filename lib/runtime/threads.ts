/**
 * The CPU thread count used by forwards compiled from now on (like `torch.set_num_threads`).
 * Default: the number of CPUs this process may run on, or `RESNET_NUM_THREADS` when set.
 * See native/README.md for the whole thread policy.
 * @module
 */
import { availableParallelism } from 'node:os';
import { invalidArgument } from '../errors.js';

/** More threads than CPUs only slows OpenMP down (and risks hitting a container's thread limit). */
const maxThreads = availableParallelism();

function checkCount(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > maxThreads) {
    throw invalidArgument(`an integer from 1 to ${maxThreads} (the CPUs this process may use)`, name, n);
  }
  return n;
}

function fromEnvironment(): number | undefined {
  const raw = process.env.RESNET_NUM_THREADS;
  if (raw === undefined || raw === '') return undefined;
  return checkCount(Number(raw), 'RESNET_NUM_THREADS');
}

let threads: number = fromEnvironment() ?? maxThreads;

/** Sets the number of CPU threads each forward uses (from 1 to the number of CPUs this process may use). */
export function setNumThreads(n: number): void {
  threads = checkCount(n, 'threads');
}

/** The number of CPU threads each forward uses. */
export function getNumThreads(): number {
  return threads;
}
