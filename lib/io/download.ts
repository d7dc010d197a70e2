/**
 * Cached, verified, resumable downloads into the folder PyTorch uses for pretrained weights
 * (`torch.hub.load_state_dict_from_url`), so a checkpoint PyTorch already fetched is reused as is.
 *
 * - Cache folder: `$TORCH_HOME/hub/checkpoints`, where TORCH_HOME defaults to `$XDG_CACHE_HOME/torch`
 *   and XDG_CACHE_HOME to `~/.cache` (torch.hub's `_get_torch_home`).
 * - Hash: the hex digits after the last `-` of the file name (`resnet50-11ad3fa6.pth`) are a prefix of
 *   the file's SHA-256 (torch.hub's `HASH_REGEX` and `check_hash`). A file already in the cache is trusted,
 *   as torch.hub trusts it; a download is checked before it takes its final name.
 * - Atomicity: bytes go to `<file>.partial` in the same folder and are renamed when complete and
 *   verified, so the final name never holds a partial or corrupt file.
 * - Interruptions: a broken connection is retried a bounded number of times, resuming with an HTTP
 *   `Range` request from the bytes already written when the server answers 206, else from the start. An
 *   aborted download (`signal`), or one whose retries ran out, leaves `<file>.partial` for the next call
 *   to resume (see partial-download.ts); a resumed file whose hash is wrong is fetched once more whole.
 * - Network: undici, with the environment's proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, also
 *   lower-case), bounded redirects, timeouts and a bound on the size (see http-get.ts).
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { InvalidFileError, ResnetError, invalidArgument } from '../errors.js';
import { startDownloadProgress, type DownloadProgress } from './download-progress.js';
import { TransferError, environmentDispatcher, httpGet } from './http-get.js';
import { claimPartialFile, hashExisting } from './partial-download.js';

/**
 * A download failed: the server answered an error status, could not be reached, the connection kept
 * breaking, there were too many redirects, or the file was larger than allowed. `status` is the last
 * HTTP status when there was one; `networkCode` the network error's code when there was one.
 */
export class DownloadError extends ResnetError {
  /** The URL asked for. */
  readonly url: string;
  /** The HTTP status of the failing answer, when the server answered. */
  readonly status: number | undefined;
  /** The code of the network error (`ECONNREFUSED`, `ENOTFOUND`, `EAI_AGAIN`, `ERR_PROXY` …), when there was one. */
  readonly networkCode: string | undefined;
  constructor(message: string, url: string, status?: number, options?: { cause?: unknown; networkCode?: string | undefined }) {
    super('ERR_DOWNLOAD', message, options);
    this.url = url;
    this.status = status;
    this.networkCode = options?.networkCode;
  }
}

/** Network errors that mean the server (or the proxy on the way) could not be reached at all. */
const unreachableCodes = new Set([
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_PROXY',
]);

/**
 * Whether `error` is a {@link DownloadError} because the host could not be reached: no name resolution,
 * the connection refused or timed out, no route, or a proxy that refused or failed (as on a machine without
 * network access), rather than a server that answered with an error.
 */
export function isUnreachable(error: unknown): error is DownloadError {
  return error instanceof DownloadError && error.networkCode !== undefined && unreachableCodes.has(error.networkCode);
}

/** torch.hub's `_get_torch_home()`: `$TORCH_HOME`, else `$XDG_CACHE_HOME/torch`, else `~/.cache/torch`. */
export function torchHome(env: NodeJS.ProcessEnv = process.env): string {
  const expand = (p: string) => (p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p);
  if (env.TORCH_HOME) return expand(env.TORCH_HOME);
  return expand(join(env.XDG_CACHE_HOME || '~/.cache', 'torch'));
}

/** The folder torch.hub keeps downloaded checkpoints in: `torchHome()/hub/checkpoints`. */
export function checkpointsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(torchHome(env), 'hub', 'checkpoints');
}

/**
 * The SHA-256 prefix a file name declares (torch.hub's `HASH_REGEX = -([a-f0-9]*)\.`, first match),
 * or undefined when it declares none.
 */
export function hashPrefixOf(fileName: string): string | undefined {
  const m = /-([a-f0-9]*)\./.exec(fileName);
  return m && m[1] ? m[1] : undefined;
}

/** The file name a URL's path ends with (torch.hub's `os.path.basename(urlparse(url).path)`). */
export function fileNameOf(url: string): string {
  return basename(decodeURIComponent(new URL(url).pathname));
}

/** The default of {@link DownloadOptions.maxBytes}: 2 GiB, eight times the largest torchvision ResNet checkpoint. */
export const defaultMaxDownloadBytes = 2 ** 31;

/** Options of {@link downloadToCache}. */
export interface DownloadOptions {
  /** Folder to keep the file in; default {@link checkpointsDir} (PyTorch's cache). */
  dir?: string;
  /** Name of the file in the folder; default the last part of the URL's path. */
  fileName?: string;
  /**
   * Expected prefix of the file's SHA-256 in hex; default the one the file name declares
   * ({@link hashPrefixOf}); `null` skips the check.
   */
  hashPrefix?: string | null;
  /** Show a progress bar on stderr; default: when stderr is a terminal. */
  progress?: boolean;
  /** How many times a broken or failed transfer is tried again (resuming when possible); default 3. */
  retries?: number;
  /** Pause before retry n, in ms: `retryDelayMs × n`; default 500. */
  retryDelayMs?: number;
  /** Redirects followed per request before giving up; default 10. */
  maxRedirects?: number;
  /** Connecting, waiting for the headers, or a connection silent this long (ms) counts as broken; 0: no limit; default 30 000. */
  timeoutMs?: number;
  /** The largest file accepted, in bytes; default {@link defaultMaxDownloadBytes}. */
  maxBytes?: number;
  /**
   * Cancels the download: the promise rejects with the signal's reason (an `AbortError` by default) and
   * the bytes received stay in `<file>.partial`, which the next call resumes.
   */
  signal?: AbortSignal;
  /** The undici dispatcher the requests go through; default one that honours the proxy environment variables. */
  dispatcher?: Dispatcher;
}

interface Settings {
  url: string;
  retries: number;
  retryDelayMs: number;
  maxRedirects: number;
  timeoutMs: number;
  maxBytes: number;
  signal: AbortSignal | undefined;
  dispatcher: Dispatcher;
  bar: DownloadProgress | null;
}

function checkNonNegativeInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalidArgument('a non-negative integer', name, value);
  return value;
}

/** The first byte a 206 answer carries (`Content-Range: bytes N-M/T`), or undefined. */
function rangeStart(headers: IncomingHttpHeaders): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(headers['content-range'] ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** The complete length a 416 answer states (`Content-Range: bytes *\/T`), or undefined. */
function unsatisfiedLength(headers: IncomingHttpHeaders): number | undefined {
  const m = /^bytes \*\/(\d+)$/.exec(String(headers['content-range'] ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** A strong validator for `If-Range`, so that a resumed range comes from the same version of the file. */
function validatorOf(headers: IncomingHttpHeaders): string | undefined {
  const etag = headers.etag;
  if (typeof etag === 'string' && !etag.startsWith('W/')) return etag;
  return typeof headers['last-modified'] === 'string' ? headers['last-modified'] : undefined;
}

class TooLargeError extends TransferError {
  constructor(bytes: number, maxBytes: number) {
    super(`the file is larger than maxBytes (${bytes} > ${maxBytes} bytes)`, false);
  }
}

/**
 * Brings `path` to the whole file, resuming from what it holds; resolves to the SHA-256 of the file.
 * Each try starts from the bytes on disk (not from what was counted in memory, which a broken write may
 * not have flushed).
 */
async function fetchInto(path: string, s: Settings): Promise<string> {
  let lastError: TransferError | undefined;
  let validator: string | undefined;
  for (let attempt = 0; attempt <= s.retries; attempt++) {
    if (attempt > 0 && s.retryDelayMs > 0) {
      await sleep(s.retryDelayMs * attempt, undefined, { signal: s.signal }).catch((error: unknown) => {
        s.signal?.throwIfAborted();
        throw error;
      });
    }
    let { bytes: written, hash } = await hashExisting(path, s.signal);
    try {
      const resume = written > 0;
      const headers: Record<string, string> = resume ? { range: `bytes=${written}-`, ...(validator ? { 'if-range': validator } : {}) } : {};
      const answer = await httpGet(s.url, { headers, maxRedirects: s.maxRedirects, timeoutMs: s.timeoutMs, dispatcher: s.dispatcher, signal: s.signal });
      const status = answer.statusCode;
      let append = false;
      if (status === 206 && resume && rangeStart(answer.headers) === written) {
        append = true;
      } else if (status === 200) {
        // The server ignored the Range (or this is the first try, or the file changed): start over.
        written = 0;
        hash = createHash('sha256');
      } else if (status === 416 && resume && unsatisfiedLength(answer.headers) === written) {
        // Nothing after the bytes we have: the partial file is complete already.
        await answer.body.dump().catch(() => {});
        return hash.digest('hex');
      } else {
        await answer.body.dump().catch(() => {});
        // A range we did not ask for, or one the server cannot serve: the next try fetches it all.
        if (status === 206 || status === 416) await rm(path, { force: true });
        const retry = status >= 500 || status === 408 || status === 429 || status === 206 || status === 416;
        throw new TransferError(`HTTP ${status} from ${answer.url}`, retry, status);
      }
      validator = validatorOf(answer.headers);
      const length = Number(answer.headers['content-length']);
      const total = answer.headers['content-length'] !== undefined && Number.isSafeInteger(length) ? (append ? written : 0) + length : undefined;
      if (total !== undefined && total > s.maxBytes) {
        await answer.body.dump().catch(() => {});
        throw new TooLargeError(total, s.maxBytes);
      }
      s.bar?.update(written, total);
      await receive(answer.body, path, append, { written, hash, total }, s);
      return hash.digest('hex');
    } catch (e) {
      if (!(e instanceof TransferError)) throw e;
      lastError = e;
      if (!e.retry) break;
    }
  }
  throw lastError!;
}

/**
 * Writes `body` into `path` (appending or from the start), counting and hashing, and checks the length
 * and the size bound. Each chunk is written before the next is read, so when the connection breaks every
 * byte received is on disk for the next try to resume from.
 */
async function receive(
  body: Readable, path: string, append: boolean,
  progress: { written: number; hash: Hash; total: number | undefined }, s: Settings,
): Promise<void> {
  const file = await open(path, append ? 'a' : 'w');
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (progress.written + chunk.length > s.maxBytes) throw new TooLargeError(progress.written + chunk.length, s.maxBytes);
      await file.write(chunk);
      progress.written += chunk.length;
      progress.hash.update(chunk);
      s.bar?.update(progress.written, progress.total);
    }
  } catch (e) {
    s.signal?.throwIfAborted();
    if (e instanceof TooLargeError) throw e;
    throw new TransferError(`connection broken after ${progress.written} bytes: ${(e as Error).message}`, true);
  } finally {
    await file.close();
  }
  if (progress.total !== undefined && progress.written !== progress.total) {
    throw new TransferError(`connection closed after ${progress.written} of ${progress.total} bytes`, true);
  }
}

function checkOptionsObject(url: unknown, options: unknown): asserts options is DownloadOptions {
  if (typeof url !== 'string') throw invalidArgument('a URL string', 'url', url);
  if (options === null || typeof options !== 'object') throw invalidArgument('an options object', 'options', options);
  const { signal } = options as DownloadOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument('an AbortSignal', 'signal', signal);
}

/**
 * Makes sure `url`'s file is in the cache and returns its path: an existing file is used as is (no
 * request at all); otherwise the file is downloaded (see the module description: verified, atomic,
 * resumed or retried when the connection breaks, cancelled by `signal`).
 * @throws DownloadError for an HTTP error status (404 …), an unreachable host ({@link isUnreachable}),
 *   too many redirects, a file over `maxBytes`, or a connection that still breaks after the retries.
 * @throws InvalidFileError when the downloaded bytes do not have the expected hash (nothing is left
 *   under the final name).
 * @throws the signal's reason (an `AbortError` by default) when `signal` aborts.
 */
export async function downloadToCache(url: string, options: DownloadOptions = {}): Promise<string> {
  checkOptionsObject(url, options);
  const dir = options.dir ?? checkpointsDir();
  const fileName = options.fileName ?? fileNameOf(url);
  if (!fileName || fileName.includes('/') || fileName.includes('\\') || fileName === '.' || fileName === '..') {
    throw invalidArgument('a plain file name', 'fileName', fileName);
  }
  const hashPrefix = options.hashPrefix === undefined ? hashPrefixOf(fileName) : options.hashPrefix;
  if (hashPrefix !== null && hashPrefix !== undefined && !/^[0-9a-f]{1,64}$/.test(hashPrefix)) {
    throw invalidArgument('lowercase hex digits (a SHA-256 prefix) or null', 'hashPrefix', hashPrefix);
  }
  const timeoutMs = checkNonNegativeInt(options.timeoutMs, 'timeoutMs', 30_000);
  const settings: Omit<Settings, 'dispatcher' | 'bar'> = {
    url,
    retries: checkNonNegativeInt(options.retries, 'retries', 3),
    retryDelayMs: checkNonNegativeInt(options.retryDelayMs, 'retryDelayMs', 500),
    maxRedirects: checkNonNegativeInt(options.maxRedirects, 'maxRedirects', 10),
    timeoutMs,
    maxBytes: checkNonNegativeInt(options.maxBytes, 'maxBytes', defaultMaxDownloadBytes),
    signal: options.signal,
  };
  options.signal?.throwIfAborted();

  const target = join(dir, fileName);
  if (existsSync(target)) return target;
  await mkdir(dir, { recursive: true });
  const partial = await claimPartialFile(dir, fileName);
  const bar = await startDownloadProgress(options.progress ?? Boolean(process.stderr.isTTY), fileName);
  if (bar === null && options.progress !== false) process.stderr.write(`Downloading: "${url}" to ${target}\n`);
  const dispatcher = options.dispatcher ?? environmentDispatcher(timeoutMs);
  let discard = false;
  try {
    const resumed = (await stat(partial.path).then((st) => st.size, () => 0)) > 0;
    let digest: string;
    try {
      digest = await fetchInto(partial.path, { ...settings, dispatcher, bar });
      if (hashPrefix && !digest.startsWith(hashPrefix) && resumed) {
        // The bytes kept from an earlier call may be of another version of the file: once more, whole.
        await rm(partial.path, { force: true });
        digest = await fetchInto(partial.path, { ...settings, dispatcher, bar });
      }
    } catch (e) {
      if (!(e instanceof TransferError)) throw e;
      // A file over the bound, or one the server says is not there: its bytes are no use to a later call.
      discard = e instanceof TooLargeError || (e.status !== undefined && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429);
      throw new DownloadError(`Cannot download ${url}: ${e.message}`, url, e.status, { cause: e, networkCode: e.networkCode });
    }
    if (hashPrefix && !digest.startsWith(hashPrefix)) {
      discard = true;
      throw new InvalidFileError(
        `invalid hash value (expected "${hashPrefix}", got "${digest}") for ${url}: the download is corrupt or not the file its name declares`,
      );
    }
    await rename(partial.path, target);
    return target;
  } finally {
    bar?.stop();
    if (options.dispatcher === undefined) await dispatcher.destroy().catch(() => {});
    // An empty partial file resumes nothing.
    if (discard || (await stat(partial.path).then((st) => st.size === 0, () => false))) await rm(partial.path, { force: true });
    await partial.release();
  }
}
