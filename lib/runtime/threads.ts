/**
 * The CPU thread count used by forwards compiled from now on (like `torch.set_num_threads`).
 * Default: the number of CPUs this process may run on, or `RESNET_NUM_THREADS` when set.
 * See native/README.md for the whole thread policy.
 * @module
 */
import { availableParallelism } from 'node:os';
import { invalidArgument } from '../errors.js';

function fromEnvironment(): number | undefined {
  const raw = process.env.RESNET_NUM_THREADS;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw invalidArgument('an integer from 1 to 1024', 'RESNET_NUM_THREADS', raw);
  return n;
}

let threads: number = fromEnvironment() ?? availableParallelism();

/** Sets the number of CPU threads each forward uses (an integer from 1 to 1024). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw invalidArgument('an integer from 1 to 1024', 'threads', n);
  threads = n;
}

/** The number of CPU threads each forward uses. */
export function getNumThreads(): number {
  return threads;
}
