/**
 * The file a download writes before it is complete and verified. Its name is fixed
 * (`<file>.partial` beside the final file), so a download that was aborted, or whose connection kept
 * breaking, is resumed by the next call from the bytes already there. One download at a time may
 * write it: a lock file (`<file>.partial.lock`, holding the writer's pid) says who does. A download that
 * finds the lock held by a live process (or by another download of this one) writes a private temporary
 * file instead, which is not resumed; a lock whose process is gone is taken over.
 * @module
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** A partial file claimed for one download. */
export interface PartialFile {
  /** Where the bytes go. */
  readonly path: string;
  /** Whether it is the shared `<file>.partial` (kept for the next call when the download stops early). */
  readonly resumable: boolean;
  /** Gives the claim up: removes the lock, or a private file (never resumed) with it. */
  release(): Promise<void>;
}

/** The name of the resumable partial file of `fileName`. */
export function partialFileName(fileName: string): string {
  return `${fileName}.partial`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function tryLock(lock: string): Promise<boolean> {
  try {
    const handle = await open(lock, 'wx');
    try {
      await handle.writeFile(String(process.pid));
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Whether the lock's holder is gone (or the lock unreadable: a writer that died before writing its pid). */
async function lockIsStale(lock: string): Promise<boolean> {
  const text = await readFile(lock, 'utf8').catch(() => null);
  if (text === null) return false; // removed meanwhile: try again
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  // This process holds it for another download of the same file: not stale, not ours to take.
  return pid !== process.pid && !processAlive(pid);
}

/** Claims `dir/<fileName>.partial` for this download, or a private temporary file when another holds it. */
export async function claimPartialFile(dir: string, fileName: string): Promise<PartialFile> {
  const path = join(dir, partialFileName(fileName));
  const lock = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await tryLock(lock)) return { path, resumable: true, release: () => rm(lock, { force: true }) };
    if (!(await lockIsStale(lock))) break;
    await rm(lock, { force: true });
  }
  const own = join(dir, `.${fileName}.${process.pid}-${randomBytes(4).toString('hex')}.partial`);
  return { path: own, resumable: false, release: () => rm(own, { force: true }) };
}

/** The size and SHA-256 state of what a partial file holds already (0 and a fresh hash when there is none). */
export async function hashExisting(path: string, signal?: AbortSignal): Promise<{ bytes: number; hash: Hash }> {
  const hash = createHash('sha256');
  const size = await stat(path).then((s) => s.size, () => 0);
  if (size === 0) return { bytes: 0, hash };
  let bytes = 0;
  await pipeline(createReadStream(path, { end: size - 1 }), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  }, { signal });
  return { bytes, hash };
}
