// @ts-check
/**
 * Triton's system shared-memory extension, client side: a POSIX shared-memory object (on Linux, a file
 * under /dev/shm, which is what `shm_open` opens) per slot, registered with the server by key, then named
 * by infer requests instead of carrying the tensor. Every region is unregistered and its file removed when
 * the client ends, also on failure or a signal; the parent sweeps what a killed client left.
 * @module
 */
import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { request } from 'undici';
import { serverMessage } from './requests.mjs';

const shmFolder = '/dev/shm';

/**
 * The region of one slot: its name on the server and its POSIX key (`/NAME`). The prefix carries the
 * parent's pid, so {@link sweepRegions} finds what a run left and nothing else.
 * @param {string} prefix @param {number} client @param {number} slot
 */
export function regionOf(prefix, client, slot) {
  const name = `${prefix}-c${client}-s${slot}`;
  return { name, key: `/${name}`, file: `${shmFolder}/${name}` };
}

/** @typedef {ReturnType<typeof regionOf> & { byteSize: number }} Region */

/** The prefix of this run's regions: `resnet-bench-<pid>`. @param {number} pid */
export function regionPrefix(pid) {
  return `resnet-bench-${pid}`;
}

/**
 * Creates the region's file at `byteSize` bytes with `input` at offset 0 (the rest zero).
 * @param {ReturnType<typeof regionOf>} region @param {number} byteSize @param {Buffer} input
 * @returns {Region}
 * @throws Error where there is no /dev/shm (POSIX shared memory as files is Linux's)
 */
export function createRegion(region, byteSize, input) {
  if (!existsSync(shmFolder)) throw new Error(`the shm input needs POSIX shared memory under ${shmFolder} (Linux); this machine has none`);
  const fd = openSync(region.file, 'w+', 0o600);
  try {
    ftruncateSync(fd, byteSize);
    writeSync(fd, input, 0, input.length, 0);
  } finally {
    closeSync(fd);
  }
  return { ...region, byteSize };
}

/**
 * Reads `length` bytes of the region at `offset` (to check what the server wrote there).
 * @param {Region} region @param {number} offset @param {number} length
 */
export function readRegion(region, offset, length) {
  const fd = openSync(region.file, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

/**
 * Fills `length` bytes at `offset` with 0xFF (NaN as FP32), so a check can tell whether the server wrote there.
 * @param {Region} region @param {number} offset @param {number} length
 */
export function poisonRegion(region, offset, length) {
  const fd = openSync(region.file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(length, 0xff), 0, length, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * `POST /v2/systemsharedmemory/region/NAME/register` with `{key, offset, byte_size}`.
 * @param {string} origin @param {Region} region
 * @throws Error with the server's own message when it refuses
 */
export async function registerRegion(origin, region) {
  const url = `${origin}/v2/systemsharedmemory/region/${encodeURIComponent(region.name)}/register`;
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: region.key, offset: 0, byte_size: region.byteSize }),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200) throw new Error(`registering shared-memory region '${region.name}': ${serverMessage(res.statusCode, body)}`);
}

/**
 * `POST /v2/systemsharedmemory/region/NAME/unregister`; a failure is returned as text, not thrown (the
 * server may already be gone, and the file is removed either way).
 * @param {string} origin @param {Region} region @param {number} timeoutMs
 * @returns {Promise<string | null>}
 */
export async function unregisterRegion(origin, region, timeoutMs) {
  const url = `${origin}/v2/systemsharedmemory/region/${encodeURIComponent(region.name)}/unregister`;
  try {
    const res = await request(url, { method: 'POST', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    const body = Buffer.from(await res.body.arrayBuffer());
    return res.statusCode === 200 ? null : serverMessage(res.statusCode, body);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Removes the region's file (synchronous: it also runs in an `exit` handler). @param {{ file: string }} region */
export function unlinkRegion(region) {
  rmSync(region.file, { force: true });
}

/**
 * Removes every file under /dev/shm whose name starts with `prefix-` (a killed client's leftovers).
 * @param {string} prefix
 * @returns {number} how many were removed
 */
export function sweepRegions(prefix) {
  if (!existsSync(shmFolder)) return 0;
  let removed = 0;
  for (const name of readdirSync(shmFolder)) {
    if (!name.startsWith(`${prefix}-`)) continue;
    rmSync(`${shmFolder}/${name}`, { force: true });
    removed++;
  }
  return removed;
}
