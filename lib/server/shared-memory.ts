/**
 * Triton's system shared-memory extension, server side: the regions clients registered, by name. A
 * region is `[offset, offset + byte_size)` of a POSIX shared-memory object the client created (`key`),
 * mapped once at registration ({@link mapSharedMemory}); inference requests then name a region (and a
 * range in it) for an input to read in place or an output to write into.
 *
 * - **Holds.** A request holds every region it reads or writes from parsing until its response is
 *   written ({@link SharedMemoryLeases}); a held region cannot be unregistered. Triton defers such an
 *   unregister until the requests finish; this server refuses it at once and says to retry, so that an
 *   unregister never waits on (or silently outlives) requests it cannot see.
 * - **Bounds.** At most `maxRegions` regions and `maxBytes` mapped bytes in all; beyond either, a register
 *   is refused until something is unregistered.
 * - **Shrinking objects.** Each use re-reads the object's size: a client that truncated its object after
 *   registering gets a 400 instead of a server killed by SIGBUS.
 *
 * Errors are {@link HttpError}s in Triton's words where Triton has words: 400 for the client's mistakes,
 * 404 for a region name nobody registered.
 * @module
 */
import { ResnetError } from '../errors.js';
import { mapSharedMemory, type SharedMemoryMapping } from '../runtime/shared-memory.js';
import { registerHostMemory, type HostMemoryRegistration, type HostMemoryTarget } from '../runtime/host-memory.js';
import { badRequest, notFound } from './http-error.js';
import { describeValue, shownText } from '../describe-value.js';

/** One region as `GET v2/systemsharedmemory[/region/NAME]/status` lists it (Triton's field names). */
export interface SharedMemoryRegionStatus {
  name: string;
  key: string;
  offset: number;
  byte_size: number;
}

/** Bounds of a {@link SharedMemoryRegistry}. */
export interface SharedMemoryLimits {
  /** Regions registered at once. */
  maxRegions: number;
  /** Bytes mapped at once, over every region. */
  maxBytes: number;
  /**
   * Where the engine reads the regions: each mapping is lent to it (`registerHostMemory`: page-locked on a
   * GPU, which then reads inputs by DMA straight from the region). Default: not lent (the engine copies).
   */
  lendTo?: HostMemoryTarget;
}

/** The message of every refusal while the extension is off (Triton's `--allow-client-shm`). */
export const sharedMemoryDisabledMessage =
  'system shared memory is disabled: start the server with --allow-shm (the allowShm option) to pass tensors through shared memory';

interface Region {
  readonly name: string;
  readonly key: string;
  readonly offset: number;
  readonly byteSize: number;
  readonly mapping: SharedMemoryMapping;
  /** The mapping lent to the engine, or null (not lent, or the engine refused). */
  readonly loan: HostMemoryRegistration | null;
  /** Requests holding it now. */
  holds: number;
}

/** Region names as the URL carries them: visible characters and spaces, at most 128 (the route's limit). */
// eslint-disable-next-line no-control-regex -- the control characters are what it refuses
const regionName = /^[^\u0000-\u001f\u007f]{1,128}$/;

const registerFields = new Set(['key', 'offset', 'byte_size']);

function isByteCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The registered regions of one server. JS thread only, as the whole server. */
export class SharedMemoryRegistry {
  readonly #limits: SharedMemoryLimits;
  readonly #regions = new Map<string, Region>();
  #mappedBytes = 0;

  constructor(limits: SharedMemoryLimits) {
    this.#limits = { ...limits };
  }

  /** Bytes mapped now, over every region. */
  get mappedBytes(): number {
    return this.#mappedBytes;
  }

  /**
   * Registers `name` for the `{key, offset, byte_size}` of a register request's JSON body: maps the range.
   * @throws HttpError 400 for a name already registered, a malformed body, a limit reached, or an object
   * that cannot be mapped (the native message says why: missing, no permission, too small, …).
   */
  register(name: string, body: unknown): void {
    if (!regionName.test(name)) throw badRequest(`shared memory region name ${describeValue(name)} must be 1 to 128 characters, none of them control characters`);
    if (this.#regions.has(name)) {
      throw badRequest(`shared memory region '${name}' already in manager: unregister it first, or register the new range under another name`);
    }
    const { key, offset, byteSize } = readRegisterBody(body, name);
    if (this.#regions.size >= this.#limits.maxRegions) {
      throw badRequest(`failed to register shared memory region '${name}': ${this.#regions.size} regions are registered, the most this server allows `
        + '(--max-shm-regions); unregister regions no longer used first');
    }
    if (byteSize > this.#limits.maxBytes - this.#mappedBytes) {
      throw badRequest(`failed to register shared memory region '${name}': its ${byteSize} bytes would bring the mapped total to `
        + `${this.#mappedBytes + byteSize}, over the ${this.#limits.maxBytes} this server allows (--max-shm-bytes); unregister regions no longer used first`);
    }
    let mapping: SharedMemoryMapping;
    try {
      mapping = mapSharedMemory(key, { offset, byteSize });
    } catch (error) {
      if (error instanceof ResnetError) throw badRequest(`failed to register shared memory region '${name}': ${error.message}`);
      throw error;
    }
    this.#regions.set(name, { name, key, offset, byteSize, mapping, loan: this.#lend(mapping), holds: 0 });
    this.#mappedBytes += byteSize;
  }

  /**
   * Every region, or the one named.
   * @throws HttpError 404 for a name nobody registered (Triton's NOT_FOUND).
   */
  status(name?: string): SharedMemoryRegionStatus[] {
    const regions = name === undefined ? [...this.#regions.values()] : [this.#find(name, `Unable to find system shared memory region: '${name}'`)];
    return regions.map((region) => ({ name: region.name, key: region.key, offset: region.offset, byte_size: region.byteSize }));
  }

  /**
   * Unregisters the region named (a name nobody registered is no error, as in Triton), or every region.
   * Regions held by running requests stay registered; with no name, the others are unregistered anyway.
   * @throws HttpError 400 naming the regions in use, telling the client to retry once its requests finish.
   */
  unregister(name?: string): void {
    const names = name === undefined ? [...this.#regions.keys()] : [name];
    const busy: Region[] = [];
    for (const candidate of names) {
      const region = this.#regions.get(candidate);
      if (region === undefined) continue;
      if (region.holds > 0) busy.push(region);
      else this.#remove(region);
    }
    if (busy.length === 0) return;
    const inUse = busy.map((region) => `'${region.name}' (${region.holds} request${region.holds === 1 ? '' : 's'})`).join(', ');
    const done = name === undefined && names.length > busy.length ? `; the other ${names.length - busy.length} were unregistered` : '';
    throw badRequest(`cannot unregister shared memory region${busy.length === 1 ? '' : 's'} ${inUse}: in use by running inference requests${done}. `
      + 'Retry the unregister once those requests have finished');
  }

  /**
   * `[offset, offset + byteSize)` of region `name`, held until `release` is called (idempotent).
   * `what` names the tensor in messages (`input 'input'`).
   * @throws HttpError 404 for an unknown region; 400 for a range outside it, or an object that shrank.
   */
  acquire(name: string, offset: number, byteSize: number, what: string): { bytes: Uint8Array; release: () => void } {
    const region = this.#find(name, `Unable to find shared memory region: '${shownText(name)}' (named by ${what}); register it first`);
    if (offset >= region.byteSize) {
      throw badRequest(`Invalid offset for shared memory region: '${name}': ${what} starts at shared_memory_offset ${offset}, `
        + `but the region has ${region.byteSize} bytes`);
    }
    if (byteSize > region.byteSize - offset) {
      throw badRequest(`Invalid offset + byte size for shared memory region: '${name}': ${what} needs bytes [${offset}, ${offset + byteSize}) `
        + `but the region has ${region.byteSize} bytes`);
    }
    const objectSize = region.mapping.objectSize();
    if (objectSize < region.offset + region.byteSize) {
      throw badRequest(`shared memory object ${JSON.stringify(region.key)} of region '${name}' shrank to ${objectSize} bytes since it was registered `
        + `(the region ends at byte ${region.offset + region.byteSize}): unregister the region and register it again`);
    }
    region.holds += 1;
    let held = true;
    return {
      bytes: region.mapping.bytes.subarray(offset, offset + byteSize),
      release: () => {
        if (!held) return;
        held = false;
        region.holds -= 1;
      },
    };
  }

  /** Unmaps every region, held or not: the server is closing and no request runs any more. */
  close(): void {
    for (const region of [...this.#regions.values()]) this.#remove(region);
  }

  #find(name: string, missing: string): Region {
    const region = this.#regions.get(name);
    if (region === undefined) throw notFound(missing);
    return region;
  }

  /**
   * Lends a new mapping to the engine, or null: without a target, or when the engine refuses (the region
   * still works; runs then copy it). A refusal is not the client's fault, so it is not an error here.
   */
  #lend(mapping: SharedMemoryMapping): HostMemoryRegistration | null {
    if (this.#limits.lendTo === undefined) return null;
    try {
      return registerHostMemory(mapping.bytes, this.#limits.lendTo);
    } catch {
      return null;
    }
  }

  #remove(region: Region): void {
    this.#regions.delete(region.name);
    this.#mappedBytes -= region.byteSize;
    // The loan first: runs that still read the region keep its pin until they finish (no request holds it here).
    region.loan?.dispose();
    region.mapping.close();
  }
}

/** `{key, offset, byte_size}` of a register request, each checked; `offset` defaults to 0. */
function readRegisterBody(body: unknown, name: string): { key: string; offset: number; byteSize: number } {
  const what = `the register request of shared memory region '${name}'`;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`${what} must be a JSON object {"key", "offset", "byte_size"}, got ${describeValue(body)}`);
  }
  const record = body as Record<string, unknown>;
  for (const field of Object.keys(record)) {
    if (!registerFields.has(field)) throw badRequest(`unexpected field ${describeValue(field)} in ${what} (known: key, offset, byte_size)`);
  }
  if (record.key === undefined) throw badRequest('Shared memory register request has no \'key\' field');
  if (typeof record.key !== 'string') throw badRequest(`'key' of ${what} must be a string (a POSIX shared-memory name such as "/my_region"), got ${describeValue(record.key)}`);
  const offset = record.offset ?? 0;
  if (!isByteCount(offset)) throw badRequest(`'offset' of ${what} must be a non-negative integer, got ${describeValue(offset)}`);
  if (record.byte_size === undefined) throw badRequest('Shared memory register request has no \'byte_size\' field');
  if (!isByteCount(record.byte_size) || record.byte_size === 0) {
    throw badRequest(`'byte_size' of ${what} must be a positive integer (the region's size in bytes), got ${describeValue(record.byte_size)}`);
  }
  return { key: record.key, offset, byteSize: record.byte_size };
}

/**
 * The regions one inference request holds: the request parser asks for views through {@link view}, and
 * the route releases them all once the response is written or the request failed ({@link releaseAll}).
 * Made with a null registry when the extension is off: then every {@link view} is a 400 that says how to
 * turn it on.
 */
export class SharedMemoryLeases {
  readonly #registry: SharedMemoryRegistry | null;
  readonly #releases: (() => void)[] = [];

  constructor(registry: SharedMemoryRegistry | null) {
    this.#registry = registry;
  }

  /** A 400 that says how to turn the extension on, when it is off and `what` names region `name`. */
  requireEnabled(name: string, what: string): void {
    if (this.#registry === null) throw badRequest(`${what} names shared memory region '${shownText(name)}', but ${sharedMemoryDisabledMessage}`);
  }

  /** The bytes `[offset, offset + byteSize)` of region `name`, held until {@link releaseAll}. */
  view(name: string, offset: number, byteSize: number, what: string): Uint8Array {
    this.requireEnabled(name, what);
    const lease = this.#registry!.acquire(name, offset, byteSize, what);
    this.#releases.push(lease.release);
    return lease.bytes;
  }

  /** Releases every region held; idempotent. */
  releaseAll(): void {
    for (const release of this.#releases.splice(0)) release();
  }
}
