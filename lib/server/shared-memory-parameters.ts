/**
 * The shared-memory parameters of a tensor (Triton's shared-memory extension): `shared_memory_region`
 * (string), `shared_memory_byte_size` and `shared_memory_offset` (non-negative integers, the offset
 * defaulting to 0). The region and the byte size come together or not at all; the offset only with them.
 * @module
 */
import { shownText } from '../describe-value.js';
import { badRequest } from './http-error.js';
import type { ParameterRule } from './request-parameters.js';
import type { SharedMemoryLeases } from './shared-memory.js';

/** The rules of the three parameters, for {@link readParameters} of inputs and outputs. */
export const sharedMemoryParameterRules: Readonly<Record<string, ParameterRule>> = Object.freeze({
  shared_memory_region: 'string',
  shared_memory_byte_size: 'non-negative integer',
  shared_memory_offset: 'non-negative integer',
});

/** Where a tensor lies in a registered region, as the client named it. */
export interface SharedMemoryPlacement {
  region: string;
  offset: number;
  byteSize: number;
}

/**
 * The range a tensor's parameters (already type-checked) name, or null when they name none.
 * @throws HttpError 400 when the extension is off (`leases` says so) and a region is named, for a region
 * without a byte size, or a byte size or offset without a region.
 */
export function sharedMemoryRange(parameters: Readonly<Record<string, unknown>>, what: string, leases: SharedMemoryLeases): SharedMemoryPlacement | null {
  const region = parameters.shared_memory_region as string | undefined;
  if (region !== undefined) leases.requireEnabled(region, what);
  const byteSize = parameters.shared_memory_byte_size as number | undefined;
  const offset = parameters.shared_memory_offset as number | undefined;
  if (region === undefined) {
    if (byteSize !== undefined) throw badRequest(`${what} has a shared_memory_byte_size parameter but no shared_memory_region; name the region too`);
    if (offset !== undefined) throw badRequest(`${what} has a shared_memory_offset parameter but no shared_memory_region; name the region too`);
    return null;
  }
  if (byteSize === undefined) {
    throw badRequest(`${what} names shared_memory_region '${shownText(region)}' but has no shared_memory_byte_size parameter; give the tensor's size in bytes`);
  }
  return { region, offset: offset ?? 0, byteSize };
}
