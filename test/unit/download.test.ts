/**
 * downloadToCache on undici: hash-checked, atomic, resumed, bounded, cancellable, through the
 * environment's proxy. Every request goes to servers on 127.0.0.1 started here (a file server and a
 * forward proxy, test/helpers/download-server.ts) or to undici's MockAgent with the network disabled;
 * nothing leaves the machine.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockAgent } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DownloadError, checkpointsDir, downloadToCache, hashPrefixOf, isUnreachable, torchHome } from '../../lib/io/download.js';
import { loadPretrained } from '../../lib/models/pretrained.js';
import { startFileServer, startForwardProxy, type FileServer, type ForwardProxy } from '../helpers/download-server.js';

// 200 kB of bytes that are not all alike, so that a misplaced range changes the hash.
const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff));
const sha = createHash('sha256').update(payload).digest('hex');
const half = payload.length >> 1;
const name = `tiny-${sha.slice(0, 8)}.pth`;
const quick = { progress: false, retryDelayMs: 0, timeoutMs: 5000 } as const;
const proxyVariables = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];

let files: FileServer;
let proxy: ForwardProxy;
let dir = '';
const savedEnv: Record<string, string | undefined> = {};

beforeAll(async () => {
  files = await startFileServer(payload);
  proxy = await startForwardProxy();
});

afterAll(async () => {
  await files.close();
  await proxy.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'download-test-'));
  // The machine's own proxy settings must not steer these requests; each test sets what it needs.
  for (const key of proxyVariables) {
    savedEnv[key] = process.env[key];
    delete process.env[key];
  }
});

afterEach(() => {
  files.reset();
  proxy.forwarded.length = 0;
  rmSync(dir, { recursive: true, force: true });
  for (const key of proxyVariables) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
});

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('downloadToCache', () => {
  it('downloads, verifies the hash prefix, and a second call is a cache hit with no request', async () => {
    const path = await downloadToCache(`${files.origin}/models/${name}`, { ...quick, dir });
    expect(path).toBe(join(dir, name));
    expect(sha256(path)).toBe(sha);
    expect(files.requests).toHaveLength(1);
    expect(files.requests[0]!.range).toBeUndefined();
    await downloadToCache(`${files.origin}/models/${name}`, { ...quick, dir });
    expect(files.requests).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([name]);
  });

  it('a connection broken mid-body is resumed with a Range request (and If-Range with the ETag)', async () => {
    files.behaviour = 'break-once';
    const path = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir });
    expect(sha256(path)).toBe(sha);
    expect(files.requests.map((r) => [r.range, r.ifRange])).toEqual([[undefined, undefined], [`bytes=${half}-`, '"v1"']]);
  });

  it('when the server ignores Range (200) the retry starts over and still verifies', async () => {
    files.behaviour = 'no-range';
    const path = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir });
    expect(sha256(path)).toBe(sha);
    expect(files.requests.map((r) => r.range)).toEqual([undefined, `bytes=${half}-`]);
    expect(readdirSync(dir)).toEqual([name]);
  });

  it('a connection that keeps breaking fails after the bounded retries: no final file, the partial kept for later', async () => {
    files.behaviour = 'break-always';
    const err = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir, retries: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/^Cannot download .*connection/);
    expect(files.requests).toHaveLength(3);
    expect(readdirSync(dir)).toEqual([`${name}.partial`]);
    expect(statSync(join(dir, `${name}.partial`)).size).toBe(100);
  });

  it('a wrong hash is an InvalidFileError and leaves no file under the final name, nor a partial one', async () => {
    const err = await downloadToCache(`${files.origin}/tiny-deadbeef.pth`, { ...quick, dir }).catch((e) => e);
    expect(err.name).toBe('InvalidFileError');
    expect(err.code).toBe('ERR_INVALID_FILE');
    expect(err.message).toContain(`invalid hash value (expected "deadbeef", got "${sha}")`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a 404 is a DownloadError with the status, not retried, nothing left', async () => {
    files.behaviour = '404';
    const err = await downloadToCache(`${files.origin}/missing-${sha.slice(0, 8)}.pth`, { ...quick, dir }).catch((e) => e);
    expect(err.name).toBe('DownloadError');
    expect(err.status).toBe(404);
    expect(err.message).toContain('HTTP 404');
    expect(isUnreachable(err)).toBe(false);
    expect(files.requests).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('follows redirects, and gives up on a redirect loop after the bound', async () => {
    files.behaviour = 'redirect';
    const path = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir });
    expect(sha256(path)).toBe(sha);
    expect(files.requests.map((r) => r.path)).toEqual([`/${name}`, `/final/${name}`]);
    files.requests.length = 0;
    files.behaviour = 'redirect-loop';
    const err = await downloadToCache(`${files.origin}/loop-${sha.slice(0, 8)}.pth`, { ...quick, dir, maxRedirects: 3 }).catch((e) => e);
    expect(err.message).toContain('more than 3 redirects');
    expect(files.requests).toHaveLength(4);
  });

  it('refuses a file larger than maxBytes, from its Content-Length or from what arrives, keeping nothing', async () => {
    files.behaviour = 'too-large';
    const declared = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir }).catch((e) => e);
    expect(declared).toBeInstanceOf(DownloadError);
    expect(declared.message).toContain(`larger than maxBytes (${10 * 2 ** 30} > ${2 ** 31} bytes)`);
    files.behaviour = 'ok';
    const streamed = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir, maxBytes: 1000 }).catch((e) => e);
    expect(streamed.message).toMatch(/larger than maxBytes \(\d+ > 1000 bytes\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unreachable host is a DownloadError that isUnreachable recognises, not retried', async () => {
    // A port that was just free: nothing listens there.
    const closed = await startForwardProxy();
    await closed.close();
    const err = await downloadToCache(`${closed.url}/${name}`, { ...quick, dir }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.networkCode).toBe('ECONNREFUSED');
    expect(isUnreachable(err)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an existing file is reused without any request (a file PyTorch already downloaded)', async () => {
    writeFileSync(join(dir, 'resnet18-f37072fd.pth'), 'pretend');
    const path = await downloadToCache(`${files.origin}/resnet18-f37072fd.pth`, { ...quick, dir });
    expect(readFileSync(path, 'utf8')).toBe('pretend');
    expect(files.requests).toHaveLength(0);
  });

  it('a complete partial file left by an earlier call is verified and renamed (the server answers 416)', async () => {
    writeFileSync(join(dir, `${name}.partial`), payload);
    const path = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir });
    expect(sha256(path)).toBe(sha);
    expect(files.requests.map((r) => r.range)).toEqual([`bytes=${payload.length}-`]);
    expect(readdirSync(dir)).toEqual([name]);
  });

  it('a partial file of another version (wrong hash once resumed) is fetched once more, whole', async () => {
    writeFileSync(join(dir, `${name}.partial`), Buffer.alloc(1000, 0x55));
    const path = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir });
    expect(sha256(path)).toBe(sha);
    expect(files.requests.map((r) => r.range)).toEqual(['bytes=1000-', undefined]);
  });

  it('a partial file locked by a live download is left alone; a lock whose process is gone is taken over', async () => {
    const partial = join(dir, `${name}.partial`);
    writeFileSync(partial, payload.subarray(0, 10));
    writeFileSync(`${partial}.lock`, String(process.pid));
    expect(sha256(await downloadToCache(`${files.origin}/${name}`, { ...quick, dir }))).toBe(sha);
    expect(files.requests.map((r) => r.range)).toEqual([undefined]);
    expect(readdirSync(dir).sort()).toEqual([name, `${name}.partial`, `${name}.partial.lock`]);
    expect(statSync(partial).size).toBe(10);
    rmSync(join(dir, name));
    files.requests.length = 0;
    // No process has this pid (Linux's largest is 2^22).
    writeFileSync(`${partial}.lock`, String(2 ** 31 - 2));
    expect(sha256(await downloadToCache(`${files.origin}/${name}`, { ...quick, dir }))).toBe(sha);
    expect(files.requests.map((r) => r.range)).toEqual(['bytes=10-']);
    expect(readdirSync(dir)).toEqual([name]);
  });

  it("the cache folder is torch.hub's: TORCH_HOME, else XDG_CACHE_HOME/torch, else ~/.cache/torch", () => {
    expect(torchHome({ TORCH_HOME: '/x/th', XDG_CACHE_HOME: '/x/xdg' })).toBe('/x/th');
    expect(torchHome({ XDG_CACHE_HOME: '/x/xdg' })).toBe('/x/xdg/torch');
    expect(torchHome({ HOME: '/h' })).toMatch(/\.cache\/torch$/);
    expect(checkpointsDir({ TORCH_HOME: '/x/th' })).toBe('/x/th/hub/checkpoints');
    expect(hashPrefixOf('resnet50-11ad3fa6.pth')).toBe('11ad3fa6');
    expect(hashPrefixOf('wide_resnet50_2-95faca4d.pth')).toBe('95faca4d');
    expect(hashPrefixOf('model.pth')).toBeUndefined();
  });
});

describe('downloadToCache through the environment\'s proxy', () => {
  for (const variable of ['HTTP_PROXY', 'http_proxy']) {
    it(`${variable} sends the request through the proxy`, async () => {
      process.env[variable] = proxy.url;
      const url = `${files.origin}/${name}`;
      expect(sha256(await downloadToCache(url, { ...quick, dir }))).toBe(sha);
      expect(proxy.forwarded).toEqual([url]);
      expect(files.requests.map((r) => r.via)).toEqual(['1.1 test-proxy']);
    });
  }

  it('NO_PROXY (and no_proxy) naming the host bypasses the proxy', async () => {
    process.env.HTTP_PROXY = proxy.url;
    for (const variable of ['NO_PROXY', 'no_proxy']) {
      process.env[variable] = 'example.invalid,127.0.0.1';
      expect(sha256(await downloadToCache(`${files.origin}/${name}`, { ...quick, dir }))).toBe(sha);
      expect(proxy.forwarded).toEqual([]);
      expect(files.requests.map((r) => r.via)).toEqual([undefined]);
      delete process.env[variable];
      rmSync(join(dir, name));
      files.requests.length = 0;
    }
  });

  it('a proxy that cannot be reached is an unreachable-host DownloadError', async () => {
    const closed = await startForwardProxy();
    await closed.close();
    process.env.HTTP_PROXY = closed.url;
    const err = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir }).catch((e) => e);
    expect(isUnreachable(err)).toBe(true);
    expect(files.requests).toHaveLength(0);
  });
});

describe('downloadToCache with an AbortSignal', () => {
  it('abort mid-transfer rejects with AbortError at once and keeps the partial file; the next call resumes it', async () => {
    files.behaviour = 'stall';
    const controller = new AbortController();
    const url = `${files.origin}/${name}`;
    const download = downloadToCache(url, { ...quick, dir, timeoutMs: 60_000, signal: controller.signal });
    await files.stalled;
    const partial = join(dir, `${name}.partial`);
    // Wait until the first half is on disk (bounded: 5 s).
    for (let i = 0; i < 500 && !(existsSync(partial) && statSync(partial).size === half); i++) await new Promise((r) => setTimeout(r, 10));
    const abortedAt = performance.now();
    controller.abort();
    const err = await download.catch((e) => e);
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    expect(err.name).toBe('AbortError');
    expect(readdirSync(dir)).toEqual([`${name}.partial`]);
    expect(readFileSync(partial).equals(payload.subarray(0, half))).toBe(true);

    const path = await downloadToCache(url, { ...quick, dir });
    expect(files.requests.map((r) => r.range)).toEqual([undefined, `bytes=${half}-`]);
    expect(sha256(path)).toBe(sha);
    expect(readdirSync(dir)).toEqual([name]);
  });

  it('an aborted signal rejects before any request with its reason; a custom reason is passed on', async () => {
    const err = await downloadToCache(`${files.origin}/${name}`, { ...quick, dir, signal: AbortSignal.abort() }).catch((e) => e);
    expect(err.name).toBe('AbortError');
    const reason = new Error('user cancelled');
    const controller = new AbortController();
    files.behaviour = 'stall';
    const download = downloadToCache(`${files.origin}/${name}`, { ...quick, dir, signal: controller.signal });
    await files.stalled;
    controller.abort(reason);
    expect(await download.catch((e) => e)).toBe(reason);
    expect(files.requests).toHaveLength(1);
  });

  it('loadPretrained(name, { signal }) aborts the DEFAULT weights\' download promptly (network disabled: a MockAgent)', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    // The answer would come in 30 s; the abort must not wait for it.
    agent.get('https://download.pytorch.org').intercept({ path: '/models/resnet18-f37072fd.pth' }).reply(200, 'late').delay(30_000);
    const controller = new AbortController();
    const loading = loadPretrained('resnet18', { ...quick, dir, dispatcher: agent, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    const err = await loading.catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(existsSync(join(dir, 'resnet18-f37072fd.pth'))).toBe(false);
    await agent.close();
  });
});
