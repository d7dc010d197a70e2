/**
 * How the server takes requests in, decided from where its models run and the machine: how many HTTP
 * threads read and parse bodies ({@link defaultHttpThreads}), which backend the body arena and the shared-memory
 * regions are registered with ({@link hostMemoryTarget}) and how large the arena may be ({@link defaultBodyArenaBytes}).
 * @module
 */
import { availableParallelism, totalmem } from 'node:os';
import { backendOf, type Device } from '../runtime/device.js';
import type { HostMemoryTarget } from '../runtime/host-memory.js';

/** At most this many HTTP threads by default: beyond 4 cores of ingest a GPU is fed faster than it computes. */
export const maxDefaultHttpThreads = 4;

/**
 * The HTTP threads when the options leave them open: 1 when every model runs on the CPU (the cores compute
 * there: threads that parse would take them from the engine), else min(4, max(1, cpus − 1)) — one core is
 * left to the main thread, which runs the batchers and feeds the GPU.
 */
export function defaultHttpThreads(devices: readonly Device[], cpus: number = availableParallelism()): number {
  if (devices.every((device) => device === 'cpu')) return 1;
  return Math.min(maxDefaultHttpThreads, Math.max(1, cpus - 1));
}

/**
 * The backend the server's host memory (body arenas, shared-memory regions) is registered with: the first GPU a model runs on (the registration is portable:
 * every GPU's DMA reads it pinned), else the CPU (registration costs nothing there and still spares the
 * engine its staging copy).
 */
export function hostMemoryTarget(devices: readonly Device[]): HostMemoryTarget {
  const gpu = devices.find((device) => device !== 'cpu');
  return gpu === undefined ? { backend: 'cpu' } : backendOf(gpu);
}

/** The default of `bodyArenaBytes`: 256 MiB, or an eighth of this machine's memory where that is less. */
export function defaultBodyArenaBytes(memory: number = totalmem()): number {
  return Math.min(256 * 1024 * 1024, Math.floor(memory / 8 / (1024 * 1024)) * 1024 * 1024);
}

/** The most `bodyArenaBytes` may be: half this machine's memory (pinned memory is taken from everything else). */
export function maxBodyArenaBytes(memory: number = totalmem()): number {
  return Math.floor(memory / 2 / (1024 * 1024)) * 1024 * 1024;
}
