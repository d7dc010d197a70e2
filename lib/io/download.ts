/**
 * Cached, verified, resumable downloads into the folder PyTorch uses for pretrained weights
 * (`torch.hub.load_state_dict_from_url`), so a checkpoint PyTorch already fetched is reused as is.
 *
 * - Cache folder: `$TORCH_HOME/hub/checkpoints`, where TORCH_HOME defaults to `$XDG_CACHE_HOME/torch`
 *   and XDG_CACHE_HOME to `~/.cache` (torch.hub's `_get_torch_home`).
 * - Hash: the hex digits after the last `-` of the file name (`resnet50-11ad3fa6.pth`) are a prefix of
 *   the file's SHA-256 (torch.hub's `HASH_REGEX` and `check_hash`). A file already in the cache is trusted,
 *   as torch.hub trusts it; a download is checked before it takes its final name.
 * - Atomicity: bytes go to a temporary name in the same folder and are renamed when complete and
 *   verified, so the final name never holds a partial or corrupt file.
 * - Interruptions: a broken connection is retried a bounded number of times, resuming with an HTTP
 *   `Range` request from the bytes already written when the server answers 206, else from the start.
 * @module
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { InvalidFileError, ResnetError, invalidArgument } from '../errors.js';

/**
 * A download failed: the server answered an error status, the connection kept breaking, or there
 * were too many redirects. `status` is the last HTTP status when there was one.
 */
export class DownloadError extends ResnetError {
  /** The URL asked for. */
  readonly url: string;
  /** The HTTP status of the failing answer, when the server answered. */
  readonly status: number | undefined;
  constructor(message: string, url: string, status?: number, options?: { cause?: unknown }) {
    super('ERR_DOWNLOAD', message, options);
    this.url = url;
    this.status = status;
  }
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
  /** A connection silent this long (ms) counts as broken; default 30 000. */
  timeoutMs?: number;
}

/** Why a transfer stopped; `retry` says whether trying again may help. */
class TransferError extends Error {
  constructor(message: string, readonly retry: boolean, readonly status?: number) {
    super(message);
  }
}

interface Answer {
  response: http.IncomingMessage;
  url: string;
}

function checkNonNegativeInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalidArgument('a non-negative integer', name, value);
  return value;
}

/** One GET, following redirects (a bounded number); resolves on the final answer's headers. */
function request(url: string, headers: Record<string, string>, maxRedirects: number, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const get = (current: string, redirectsLeft: number) => {
      let parsed: URL;
      try {
        parsed = new URL(current);
      } catch {
        reject(new TransferError(`invalid URL ${JSON.stringify(current)}`, false));
        return;
      }
      const client = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : null;
      if (!client) {
        reject(new TransferError(`unsupported protocol ${parsed.protocol} in ${current}`, false));
        return;
      }
      const req = client.get(parsed, { headers: { 'User-Agent': 'resnet-cudnn', ...headers } }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && status !== 304) {
          const location = res.headers.location;
          res.resume();
          if (!location) {
            reject(new TransferError(`HTTP ${status} without a Location header from ${current}`, false, status));
          } else if (redirectsLeft <= 0) {
            reject(new TransferError(`more than ${maxRedirects} redirects (last to ${location})`, false, status));
          } else {
            get(new URL(location, current).href, redirectsLeft - 1);
          }
          return;
        }
        resolve({ response: res, url: current });
      });
      // A stalled connection is a broken one: destroy it so that the retry logic takes over.
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data for ${timeoutMs} ms`)));
      req.on('error', (e) => reject(new TransferError(e.message, true)));
    };
    get(url, maxRedirects);
  });
}

/** The first byte a 206 answer carries (`Content-Range: bytes N-M/T`), or undefined. */
function rangeStart(res: http.IncomingMessage): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
  return m ? Number(m[1]) : undefined;
}

function progressBar(enabled: boolean, label: string) {
  if (!enabled) return null;
  const bar = new cliProgress.SingleBar(
    {
      format: `{bar} {percentage}% | {done}/{size} MB | ${label}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 2000,
    },
    cliProgress.Presets.shades_classic,
  );
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  let started = false;
  return {
    update(done: number, total: number | undefined) {
      if (total === undefined) return;
      if (!started) {
        bar.start(total, done, { done: mb(done), size: mb(total) });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { done: mb(done), size: mb(total) });
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/**
 * Makes sure `url`'s file is in the cache and returns its path: an existing file is used as is (no
 * request at all); otherwise the file is downloaded (see the module description: verified, atomic,
 * resumed or retried when the connection breaks).
 * @throws DownloadError for an HTTP error status (404 …), too many redirects, or a connection that
 *   still breaks after the retries.
 * @throws InvalidFileError when the downloaded bytes do not have the expected hash (nothing is left
 *   under the final name).
 */
export async function downloadToCache(url: string, options: DownloadOptions = {}): Promise<string> {
  if (typeof url !== 'string') throw invalidArgument('a URL string', 'url', url);
  if (options === null || typeof options !== 'object') throw invalidArgument('an options object', 'options', options);
  const dir = options.dir ?? checkpointsDir();
  const fileName = options.fileName ?? fileNameOf(url);
  if (!fileName || fileName.includes('/') || fileName.includes('\\') || fileName === '.' || fileName === '..') {
    throw invalidArgument('a plain file name', 'fileName', fileName);
  }
  const hashPrefix = options.hashPrefix === undefined ? hashPrefixOf(fileName) : options.hashPrefix;
  if (hashPrefix !== null && hashPrefix !== undefined && !/^[0-9a-f]{1,64}$/.test(hashPrefix)) {
    throw invalidArgument('lowercase hex digits (a SHA-256 prefix) or null', 'hashPrefix', hashPrefix);
  }
  const retries = checkNonNegativeInt(options.retries, 'retries', 3);
  const retryDelayMs = checkNonNegativeInt(options.retryDelayMs, 'retryDelayMs', 500);
  const maxRedirects = checkNonNegativeInt(options.maxRedirects, 'maxRedirects', 10);
  const timeoutMs = checkNonNegativeInt(options.timeoutMs, 'timeoutMs', 30_000);

  const target = join(dir, fileName);
  if (existsSync(target)) return target;
  await mkdir(dir, { recursive: true });
  // A name of our own in the same folder: the rename is atomic, and concurrent downloads do not collide.
  const temp = join(dir, `.${fileName}.${process.pid}-${randomBytes(4).toString('hex')}.partial`);
  const bar = progressBar(options.progress ?? Boolean(process.stderr.isTTY), fileName);
  if (bar === null && options.progress !== false) process.stderr.write(`Downloading: "${url}" to ${target}\n`);

  let written = 0;
  let total: number | undefined;
  let hash: Hash = createHash('sha256');
  let lastError: TransferError | undefined;
  try {
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0 && retryDelayMs > 0) await new Promise((r) => setTimeout(r, retryDelayMs * attempt));
      try {
        const resume = written > 0;
        const { response: res, url: finalUrl } = await request(url, resume ? { Range: `bytes=${written}-` } : {}, maxRedirects, timeoutMs);
        const status = res.statusCode ?? 0;
        let append = false;
        if (status === 206 && resume && rangeStart(res) === written) {
          append = true;
        } else if (status === 200) {
          // The server ignored the Range (or this is the first try): start over.
          written = 0;
          hash = createHash('sha256');
        } else {
          res.resume();
          if (status === 206 || status === 416) {
            // A range we did not ask for, or one the server cannot serve: the next try fetches it all.
            written = 0;
            hash = createHash('sha256');
          }
          const retry = status >= 500 || status === 408 || status === 429 || status === 206 || status === 416;
          throw new TransferError(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''} from ${finalUrl}`, retry, status);
        }
        const length = Number(res.headers['content-length']);
        if (Number.isFinite(length)) total = (append ? written : 0) + length;
        bar?.update(written, total);
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            written += chunk.length;
            hash.update(chunk);
            bar?.update(written, total);
            done(null, chunk);
          },
        });
        try {
          await pipeline(res, counter, createWriteStream(temp, { flags: append ? 'a' : 'w' }));
        } catch (e) {
          throw new TransferError(`connection broken after ${written} bytes: ${(e as Error).message}`, true);
        }
        if (total !== undefined && written !== total) {
          throw new TransferError(`connection closed after ${written} of ${total} bytes`, true);
        }
        lastError = undefined;
        break;
      } catch (e) {
        if (!(e instanceof TransferError)) throw e;
        lastError = e;
        if (!e.retry) break;
      }
    }
    if (lastError) {
      throw new DownloadError(`Cannot download ${url}: ${lastError.message}`, url, lastError.status, { cause: lastError });
    }
    const digest = hash.digest('hex');
    if (hashPrefix && !digest.startsWith(hashPrefix)) {
      throw new InvalidFileError(
        `invalid hash value (expected "${hashPrefix}", got "${digest}") for ${url}: the download is corrupt or not the file its name declares`,
      );
    }
    await rename(temp, target);
    return target;
  } finally {
    bar?.stop();
    await rm(temp, { force: true });
  }
}
