/**
 * Where the server's host memory is read: the device of its first GPU model (memory lent to runs is
 * page-locked for that GPU, which then reads it by DMA), else the CPU. Request bodies and shared-memory
 * regions are lent to the engine this way, so a batch's inputs are read where they arrived.
 * @module
 */
import { backendOf, resolveDevice } from '../runtime/device.js';
import type { HostMemoryTarget } from '../runtime/host-memory.js';
import type { ResolvedModelOptions } from './types.js';

/** The target of the first model whose device resolves to a GPU (`auto` included), else the CPU's. */
export function hostMemoryTargetOf(models: readonly ResolvedModelOptions[]): HostMemoryTarget {
  for (const model of models) {
    let device;
    try {
      device = resolveDevice(model.device);
    } catch {
      continue; // the model's own load reports a device it cannot use
    }
    if (device !== 'cpu') return backendOf(device);
  }
  return { backend: 'cpu' };
}
