// nvJPEG's run-time loader (native/src/cuda/nvjpeg_loader.h, the sibling of cuDNN's on the shared search in
// library_search.h / library_open.h) and the GPU decoder's nvJPEG calls (nvjpeg_session.h), on a machine without
// nvJPEG or a GPU. The candidate list is checked as data; load() runs in child processes (once per process)
// against this machine and against libraries built here with g++: an nvJPEG 11, one without a function, a file
// that is not nvJPEG, and test/fixtures/fake-nvjpeg.cc, a fake that checks the documented call order (a handle
// before what is made from it, nvjpegGetImageInfo before a batched decode, the decoupled phases in order,
// everything destroyed, children before parents) and writes a known pattern where a decode's pixels go.
// What this shows: where nvJPEG is looked for, which errors a missing or wrong one gives, that the decoder's
// calls follow the API's rules, route each image as its plan says and clean up after failures. What only a GPU
// shows: that real nvJPEG decodes the images (scripts/gpu-check.sh's territory).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonPathVariable, loadNative } from '../../lib/runtime/native.js';

interface Environment {
  nvjpegPath?: string;
  cudaHomes?: string[];
  pythonDirs?: string[];
}
interface Candidate {
  path: string;
  source: string;
}
type LoadResult = { ok: true; path: string; major: number; minor: number; patch: number } | { ok: false; code: string; message: string };
interface NvjpegLoaderTesting {
  candidates(environment: Environment): Candidate[];
  statusName(code: number): string;
  error(code: number, what: string): { code: string; message: string };
  functionNames(): string[];
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = process.env[addonPathVariable] ? path.resolve(process.env[addonPathVariable]) : path.join(root, 'build', 'Release', 'resnet_cudnn.node');
const loader = (loadNative() as unknown as { testing: { nvjpegLoader: NvjpegLoaderTesting } }).testing.nvjpegLoader;
const hasGxx = spawnSync('g++', ['--version']).status === 0;

const scratch = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'resnet-nvjpeg-loader-')));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function folder(...parts: string[]): string {
  const made = path.join(scratch, ...parts);
  mkdirSync(made, { recursive: true });
  return made;
}

const so13 = 'libnvjpeg.so.13';
const so12 = 'libnvjpeg.so.12';
const libraryPath = (soname: string): Candidate => ({ path: soname, source: 'library path (LD_LIBRARY_PATH, ld.so.cache)' });
const cudaTarget = process.arch === 'arm64' ? 'targets/sbsa-linux/lib' : 'targets/x86_64-linux/lib';
const inFolder = (dir: string, source: string): Candidate[] => [{ path: `${dir}/${so13}`, source }, { path: `${dir}/${so12}`, source }];
const python = 'Python package nvidia-nvjpeg';

describe('nvjpeg candidates', () => {
  it('with nothing configured: libnvjpeg.so.13, then .12, on the library path', () => {
    expect(loader.candidates({})).toEqual([libraryPath(so13), libraryPath(so12)]);
  });

  it('in order: RESNET_NVJPEG_PATH, the library path, each CUDA home, each Python folder; .13 before .12 in each', () => {
    const named = folder('order', 'named');
    const cuda = folder('order', 'cuda');
    const cu13 = folder('order', 'site', 'nvidia', 'cu13', 'lib');
    const cu12 = folder('order', 'site', 'nvidia', 'nvjpeg', 'lib');
    expect(loader.candidates({ nvjpegPath: named, cudaHomes: [cuda], pythonDirs: [cu13, cu12] })).toEqual([
      ...inFolder(named, 'RESNET_NVJPEG_PATH'),
      libraryPath(so13),
      libraryPath(so12),
      ...inFolder(`${cuda}/lib64`, 'CUDA install'),
      ...inFolder(`${cuda}/lib`, 'CUDA install'),
      ...inFolder(`${cuda}/${cudaTarget}`, 'CUDA install'),
      ...inFolder(cu13, python),
      ...inFolder(cu12, python),
    ]);
  });

  it('RESNET_NVJPEG_PATH naming a file means that file only; a missing path is taken as a file', () => {
    const file = path.join(folder('named-file'), 'libnvjpeg-custom.so');
    writeFileSync(file, '');
    expect(loader.candidates({ nvjpegPath: file })).toEqual([{ path: file, source: 'RESNET_NVJPEG_PATH' }, libraryPath(so13), libraryPath(so12)]);
    const missing = path.join(scratch, 'no-such', so12);
    expect(loader.candidates({ nvjpegPath: missing })[0]).toEqual({ path: missing, source: 'RESNET_NVJPEG_PATH' });
  });

  it('lists each library once: symbolic links, trailing slashes, a folder named twice, a soname named as the path', () => {
    const home = folder('dedup', 'cuda-13.0');
    for (const lib of ['lib64', 'lib', cudaTarget]) folder('dedup', 'cuda-13.0', lib);
    const link = path.join(scratch, 'dedup', 'cuda');
    symlinkSync(home, link);
    const site = folder('dedup', 'site', 'nvidia', 'cu13', 'lib');
    const list = loader.candidates({ nvjpegPath: so12, cudaHomes: [home, `${home}/`, link], pythonDirs: [site, `${site}//`, `${site}/../lib`] });
    expect(list).toEqual([
      { path: so12, source: 'RESNET_NVJPEG_PATH' },
      libraryPath(so13),
      ...inFolder(`${home}/lib64`, 'CUDA install'),
      ...inFolder(`${home}/lib`, 'CUDA install'),
      ...inFolder(`${home}/${cudaTarget}`, 'CUDA install'),
      ...inFolder(site, python),
    ]);
  });

  it('rejects a malformed environment with ERR_INVALID_ARGUMENT', () => {
    expect(() => loader.candidates({ cudaHomes: 'x' } as unknown as Environment)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => loader.candidates({ nvjpegPath: 1 } as unknown as Environment)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

// nvJPEG's status codes (NVIDIA's nvJPEG documentation, "API Return Status Codes"), written out here.
const statusNames: ReadonlyArray<readonly [number, string, string]> = [
  [0, 'SUCCESS', ''],
  [1, 'NOT_INITIALIZED', 'ERR_BACKEND'],
  [2, 'INVALID_PARAMETER', 'ERR_BACKEND'],
  [3, 'BAD_JPEG', 'ERR_INVALID_FILE'],
  [4, 'JPEG_NOT_SUPPORTED', 'ERR_UNSUPPORTED'],
  [5, 'ALLOCATOR_FAILURE', 'ERR_GPU_OUT_OF_MEMORY'],
  [6, 'EXECUTION_FAILED', 'ERR_BACKEND'],
  [7, 'ARCH_MISMATCH', 'ERR_UNSUPPORTED'],
  [8, 'INTERNAL_ERROR', 'ERR_BACKEND'],
  [9, 'IMPLEMENTATION_NOT_SUPPORTED', 'ERR_UNSUPPORTED'],
  [10, 'INCOMPLETE_BITSTREAM', 'ERR_INVALID_FILE'],
];

describe('nvjpeg status names and errors', () => {
  it('names every status code, and anything else NVJPEG_STATUS_UNKNOWN', () => {
    for (const [code, name] of statusNames) expect(loader.statusName(code)).toBe(`NVJPEG_STATUS_${name}`);
    for (const code of [11, 100, -1]) expect(loader.statusName(code)).toBe('NVJPEG_STATUS_UNKNOWN');
  });

  it('turns a failed call into a coded error naming the call and the status', () => {
    for (const [code, name, errorCode] of statusNames.filter(([code]) => code !== 0)) {
      const failure = loader.error(code, 'nvjpegDecodeBatched');
      expect(failure.code, `status ${code}`).toBe(errorCode);
      expect(failure.message.startsWith(`nvjpegDecodeBatched failed: NVJPEG_STATUS_${name} (${code})`), failure.message).toBe(true);
    }
    expect(loader.error(3, 'x').message).toContain('corrupt');
    expect(loader.error(5, 'x').message).toMatch(/memory ran out/);
  });

  it('resolves the 29 functions of nvjpeg_api.h, by nvJPEG\'s own names, each once', () => {
    const names = loader.functionNames();
    expect(names).toHaveLength(29);
    expect(new Set(names).size).toBe(29);
    for (const name of ['nvjpegCreateEx', 'nvjpegGetHardwareDecoderInfo', 'nvjpegGetImageInfo', 'nvjpegDecodeBatchedInitialize', 'nvjpegDecodeBatched', 'nvjpegDecodeBatchedSupported', 'nvjpegDecodeJpegHost', 'nvjpegDecodeJpegTransferToDevice', 'nvjpegDecodeJpegDevice']) {
      expect(names).toContain(name);
    }
  });
});

// ---- load() and the session in child processes: nvJPEG loads once per process ----

/** Runs `expression` (over `addon`) in a fresh node with `env` (RESNET_NVJPEG_PATH, CUDA_HOME and the fake's knobs only as given). */
function inChild<T>(env: Record<string, string>, expression: string): T {
  const base = { ...process.env };
  for (const name of Object.keys(base)) if (name.startsWith('FAKE_NVJPEG_') || ['RESNET_NVJPEG_PATH', 'CUDA_HOME', 'CUDA_PATH'].includes(name)) delete base[name];
  const script = `const addon = require(${JSON.stringify(addonPath)});
const fs = require('fs');
process.stdout.write(JSON.stringify(${expression}, (k, v) => (v instanceof Uint8Array ? Array.from(v) : v)));`;
  const output = execFileSync(process.execPath, ['-e', script], { env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(output) as T;
}
const loadInChild = (env: Record<string, string>): LoadResult => inChild<LoadResult>(env, 'addon.testing.nvjpegLoader.load()');

/** Whether this machine has an nvJPEG the loader would find (then the "not found" cases cannot hold). */
function machineHasNvjpeg(): boolean {
  const ldconfig = spawnSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' });
  if (ldconfig.stdout?.includes(so13) || ldconfig.stdout?.includes(so12)) return true;
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), '/usr/local/cuda/lib64', '/usr/local/cuda/lib', `/usr/local/cuda/${cudaTarget}`].filter(Boolean);
  if (dirs.some((dir) => existsSync(path.join(dir, so13)) || existsSync(path.join(dir, so12)))) return true;
  const py = spawnSync('python3', ['-c', "import importlib.util as u; print(any(u.find_spec(n) is not None for n in ('nvidia.cu13', 'nvidia.nvjpeg')))"], { encoding: 'utf8', timeout: 30_000 });
  return py.stdout?.trim() === 'True';
}
const hasNvjpeg = machineHasNvjpeg();

function buildLibrary(file: string, source: string, extra: string[] = []): string {
  writeFileSync(`${file}.cc`, source);
  execFileSync('g++', ['-std=c++17', '-shared', '-fPIC', '-o', file, `${file}.cc`, ...extra]);
  return file;
}

/** A library exporting every function the loader resolves as a stub, but those in `leaveOut`, with this version. */
function stubNvjpeg(version: [number, number, number], leaveOut: string[] = []): string {
  const names = loader.functionNames().filter((name) => name !== 'nvjpegGetProperty' && !leaveOut.includes(name));
  return [
    `extern "C" int nvjpegGetProperty(int type, int* value) { const int v[3] = {${version.join(', ')}}; *value = v[type]; return 0; }`,
    ...names.map((name) => `extern "C" int ${name}(void) { return 0; }`),
  ].join('\n');
}

const fakeSource = path.join(root, 'test', 'fixtures', 'fake-nvjpeg.cc');
let fakeBuilt = '';
/** The fake nvJPEG, built once, copied into `dir` as `soname`. */
function fakeIn(dir: string, soname: string): string {
  if (!fakeBuilt) {
    fakeBuilt = path.join(folder('fake-build'), 'libfake-nvjpeg.so');
    execFileSync('g++', ['-std=c++17', '-Wall', '-Werror', '-shared', '-fPIC', '-o', fakeBuilt, fakeSource]);
  }
  const file = path.join(dir, soname);
  execFileSync('cp', [fakeBuilt, file]);
  return file;
}

describe('nvjpeg load', () => {
  it.runIf(!hasNvjpeg)('without nvJPEG on this machine: ERR_NVJPEG_NOT_FOUND listing every place tried, in order, and the fixes', () => {
    const named = folder('not-found', 'named');
    const cuda = folder('not-found', 'cuda');
    const result = loadInChild({ RESNET_NVJPEG_PATH: named, CUDA_HOME: cuda });
    expect(result).toMatchObject({ ok: false, code: 'ERR_NVJPEG_NOT_FOUND' });
    if (result.ok) return;
    const lines = result.message.split('\n');
    const tried = [`RESNET_NVJPEG_PATH: ${named}/${so13}: `, `RESNET_NVJPEG_PATH: ${named}/${so12}: `, `library path (LD_LIBRARY_PATH, ld.so.cache): ${so13}: `, `library path (LD_LIBRARY_PATH, ld.so.cache): ${so12}: `, `CUDA install: ${cuda}/lib64/${so13}: `];
    const at = tried.map((start) => lines.findIndex((line) => line.startsWith(`  - ${start}`)));
    expect(at.every((i) => i > 0), result.message).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(result.message).toContain('pip install nvidia-nvjpeg');
    expect(result.message).toContain('nvidia-nvjpeg-cu12');
    expect(result.message).toContain('point RESNET_NVJPEG_PATH at libnvjpeg.so.13');
  });

  describe.runIf(hasGxx)('with libraries built here', () => {
    it('an nvJPEG 11: ERR_NVJPEG_VERSION naming the version and the file', () => {
      const file = buildLibrary(path.join(folder('v11'), so12), stubNvjpeg([11, 9, 0]));
      const result = loadInChild({ RESNET_NVJPEG_PATH: file });
      expect(result).toMatchObject({ ok: false, code: 'ERR_NVJPEG_VERSION' });
      if (!result.ok) expect(result.message).toContain(`found nvJPEG 11.9.0 at ${file}`);
    });

    it('an nvJPEG 13 without one of the functions: ERR_NVJPEG_VERSION naming it', () => {
      const file = buildLibrary(path.join(folder('v13-incomplete'), so13), stubNvjpeg([13, 0, 1], ['nvjpegDecodeBatchedSupported']));
      const result = loadInChild({ RESNET_NVJPEG_PATH: file });
      expect(result).toMatchObject({ ok: false, code: 'ERR_NVJPEG_VERSION' });
      if (!result.ok) expect(result.message).toMatch(/nvJPEG 13\.0\.1 at .* does not export nvjpegDecodeBatchedSupported,/);
    });

    it('a file that is not nvJPEG: ERR_NVJPEG_VERSION saying so', () => {
      const file = buildLibrary(path.join(folder('not-nvjpeg'), 'libother.so'), 'extern "C" int other(void) { return 1; }\n');
      const result = loadInChild({ RESNET_NVJPEG_PATH: file });
      expect(result).toMatchObject({ ok: false, code: 'ERR_NVJPEG_VERSION' });
      if (!result.ok) expect(result.message).toContain('does not export nvjpegGetProperty');
    });

    it('a folder holding both sonames loads libnvjpeg.so.13; named as a file, .12 loads', () => {
      const dir = folder('both');
      const thirteen = fakeIn(dir, so13);
      const twelve = fakeIn(dir, so12);
      expect(loadInChild({ RESNET_NVJPEG_PATH: dir, FAKE_NVJPEG_VERSION: '13.0.2' })).toEqual({ ok: true, path: thirteen, major: 13, minor: 0, patch: 2 });
      expect(loadInChild({ RESNET_NVJPEG_PATH: twelve, FAKE_NVJPEG_VERSION: '12.3.3' })).toEqual({ ok: true, path: twelve, major: 12, minor: 3, patch: 3 });
    });

    it.runIf(!hasNvjpeg)('the first candidate that opens decides: a CUDA home before a Python folder', () => {
      const cuda = folder('first-wins', 'cuda');
      const inCuda = fakeIn(folder('first-wins', 'cuda', 'lib64'), so12);
      const lib = folder('first-wins', 'site', 'nvidia', 'cu13', 'lib');
      fakeIn(lib, so13);
      const bin = folder('first-wins', 'bin');
      writeFileSync(path.join(bin, 'python3'), `#!/bin/sh\necho ${lib}\n`, { mode: 0o755 });
      const env = { CUDA_HOME: cuda, PATH: `${bin}:${process.env.PATH ?? ''}`, FAKE_NVJPEG_VERSION: '12.4.0' };
      expect(loadInChild(env)).toMatchObject({ ok: true, path: inCuda, major: 12 });
    });

    it.runIf(!hasNvjpeg)("found through python3's nvidia.cu13 package (CUDA 13's wheel layout)", () => {
      const lib = folder('python-found', 'site', 'nvidia', 'cu13', 'lib');
      const file = fakeIn(lib, so13);
      const bin = folder('python-found', 'bin');
      // The fake python3 answers as the probe's script does: one lib folder per line.
      writeFileSync(path.join(bin, 'python3'), `#!/bin/sh\necho ${lib}\n`, { mode: 0o755 });
      const env = { PATH: `${bin}:${process.env.PATH ?? ''}`, CUDA_HOME: folder('python-found', 'cuda') };
      expect(inChild<Environment>(env, 'addon.testing.nvjpegLoader.environment()').pythonDirs?.[0]).toBe(lib);
      expect(loadInChild(env)).toMatchObject({ ok: true, path: file, major: 13 });
    });
  });
});

// ---- the decoder's nvJPEG calls against the fake ----

interface PlannedImage {
  route: string;
  reason: string;
  width: number;
  height: number;
  decodedOffset: number;
  decodedPitch: number;
}
interface SessionResult {
  hardwareEngines: number;
  noHardwareReason: string;
  planned: { images: PlannedImage[]; decodedBytes: number };
  plan: { images: PlannedImage[]; decodedBytes: number };
  statuses: { code: string; message: string }[];
  decoded: number[];
  batchedCalls: number;
  decoupledImages: number;
  synchronizations: number;
}

/** A noisy RGB image as encoded bytes (sharp/libvips), so that every JPEG here is a real one. */
async function encoded(width: number, height: number, as: 'baseline' | 'progressive' | 'grey' | 'png', seed: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + seed * 17 + ((i * i) % 7)) & 255;
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
  if (as === 'png') return image.png().toBuffer();
  if (as === 'grey') return image.toColourspace('b-w').jpeg({ quality: 90 }).toBuffer();
  return image.jpeg({ quality: 90, progressive: as === 'progressive', chromaSubsampling: '4:2:0' }).toBuffer();
}

/** `bytes` without its last 40 (its EOI and the end of its scan). */
const truncated = (bytes: Buffer): Buffer => bytes.subarray(0, bytes.length - 40);

/** The fake's pattern for an image of `length` bytes, `width` × `height`, as RGB rows of `pitch` bytes. */
function pattern(length: number, width: number, height: number): Uint8Array {
  const s = length % 251;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      out[p] = (7 * x + 3 * y + s) & 255;
      out[p + 1] = (x + 5 * y + 3 * s) & 255;
      out[p + 2] = (x * y + s) & 255;
    }
  }
  return out;
}

describe.runIf(hasGxx)('the decoder\'s nvJPEG calls against a fake nvJPEG that checks them', () => {
  let images: Buffer[] = [];
  let imagesFile = '';
  beforeAll(async () => {
    images = [
      await encoded(40, 24, 'baseline', 1), // 0: hardware
      await encoded(33, 17, 'progressive', 2), // 1: GPU backend
      await encoded(16, 16, 'png', 3), // 2: CPU
      await encoded(21, 30, 'grey', 4), // 3: hardware (grey baseline)
      await encoded(25, 19, 'progressive', 5), // 4: GPU backend
      await encoded(18, 12, 'progressive', 6), // 5: GPU backend
      truncated(await encoded(30, 20, 'baseline', 7)), // 6: truncated inside its scan → CPU
    ];
    imagesFile = path.join(folder('session'), 'images.json');
    writeFileSync(imagesFile, JSON.stringify(images.map((b) => Array.from(b))));
  });

  let runs = 0;
  /** One session run in a child process with the fake as nvJPEG; its result, log lines and the thrown error if any. */
  function session(env: Record<string, string>, options: Record<string, number> = {}): { result?: SessionResult; error?: { code: string; message: string }; log: string[] } {
    const dir = folder(`session-${runs++}`);
    fakeIn(dir, so13);
    const log = path.join(dir, 'log.txt');
    const outcome = inChild<{ result?: SessionResult; error?: { code: string; message: string } }>(
      { RESNET_NVJPEG_PATH: dir, FAKE_NVJPEG_LOG: log, ...env },
      `(() => { const images = JSON.parse(fs.readFileSync(${JSON.stringify(imagesFile)}, 'utf8')).map((a) => Uint8Array.from(a));
        try { return { result: addon.testing.nvjpegSession.run(images, ${JSON.stringify(options)}) }; }
        catch (e) { return { error: { code: e.code, message: e.message } }; } })()`,
    );
    return { ...outcome, log: readFileSync(log, 'utf8').trim().split('\n') };
  }

  /** Checks that every image the result says was decoded holds the fake's pattern at its planned place. */
  function expectDecoded(result: SessionResult, indices: number[]): void {
    for (const i of indices) {
      const image = result.plan.images[i]!;
      expect(result.statuses[i]!.code, `image ${i}: ${result.statuses[i]!.message}`).toBe('');
      expect(image.decodedPitch).toBe(image.width * 3);
      expect(image.decodedOffset % 256).toBe(0);
      const got = result.decoded.slice(image.decodedOffset, image.decodedOffset + image.width * image.height * 3);
      expect(Buffer.from(got).equals(Buffer.from(pattern(images[i]!.length, image.width, image.height))), `image ${i} pixels`).toBe(true);
    }
  }

  it('7 hardware engines: baseline JPEGs in one batched call, the others one by one, nothing broken or leaked', () => {
    const { result, log } = session({ FAKE_NVJPEG_ENGINES: '7' });
    expect(log.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(log.at(-1)).toBe('live 0');
    expect(result!.hardwareEngines).toBe(7);
    expect(result!.plan.images.map((i) => i.route)).toEqual(['nvJPEG hardware', 'nvJPEG GPU', 'CPU', 'nvJPEG hardware', 'nvJPEG GPU', 'nvJPEG GPU', 'CPU']);
    expect(result!.plan.images[2]!.reason).toBe('PNG: nvJPEG decodes JPEG only');
    expect(result!.plan.images[6]!.reason).toBe('the JPEG ends before its EOI marker (truncated)');
    expect(result!.batchedCalls).toBe(1);
    expect(result!.decoupledImages).toBe(3);
    expect(result!.synchronizations).toBe(1); // the third decoupled image reuses the first one's pinned buffer
    expectDecoded(result!, [0, 1, 3, 4, 5]);
    // The documented order: the handle with the hardware backend, its engines, then what is made from it; every
    // image's info before the batched decode; the handle destroyed last.
    const first = (prefix: string) => log.findIndex((line) => line.startsWith(prefix));
    expect(log[0]).toBe('nvjpegCreateEx backend=3');
    expect(log[1]).toBe('nvjpegGetHardwareDecoderInfo engines=7');
    expect(first('nvjpegJpegStateCreate')).toBeGreaterThan(1);
    expect(log.filter((line) => line.startsWith('nvjpegGetImageInfo'))).toHaveLength(5);
    const lastInfo = log.length - 1 - [...log].reverse().findIndex((line) => line.startsWith('nvjpegGetImageInfo'));
    expect(lastInfo).toBeLessThan(first('nvjpegDecodeBatchedInitialize'));
    expect(log[first('nvjpegDecodeBatchedInitialize')]).toBe('nvjpegDecodeBatchedInitialize backend=3 batch=2 format=5');
    expect(log[first('nvjpegDecodeBatched ')]).toBe('nvjpegDecodeBatched backend=3 n=2 stream=0x5eed');
    expect(log.filter((line) => line.startsWith('nvjpegDecodeJpegDevice')).map((line) => line.split(' ')[1])).toEqual(['33x17', '25x19', '18x12']);
    expect(log.at(-2)).toBe('nvjpegDestroy handle');
  });

  it('no hardware engines (nvJPEG refuses the backend): every JPEG through the GPU backend, no batched state', () => {
    const { result, log } = session({ FAKE_NVJPEG_ENGINES: 'none' });
    expect(log.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(log.at(-1)).toBe('live 0');
    expect(log.slice(0, 2)).toEqual(['nvjpegCreateEx backend=3 refused', 'nvjpegCreateEx backend=0']);
    expect(log.some((line) => line.startsWith('nvjpegJpegStateCreate'))).toBe(false);
    expect(result!.hardwareEngines).toBe(0);
    expect(result!.noHardwareReason).toContain('NVJPEG_STATUS_ARCH_MISMATCH');
    expect(result!.plan.images.map((i) => i.route)).toEqual(['nvJPEG GPU', 'nvJPEG GPU', 'CPU', 'nvJPEG GPU', 'nvJPEG GPU', 'nvJPEG GPU', 'CPU']);
    expect(result!.plan.images[0]!.reason).toBe('this GPU has no hardware JPEG engines');
    expect(result!.batchedCalls).toBe(0);
    expect(result!.decoupledImages).toBe(5);
    expect(result!.synchronizations).toBe(3);
    expectDecoded(result!, [0, 1, 3, 4, 5]);
  });

  it("nvJPEG's verdicts go back into the plan: a refused hardware image to the GPU backend, a size it reads differently to the CPU", () => {
    const { result, log } = session({ FAKE_NVJPEG_ENGINES: '2', FAKE_NVJPEG_HW_REFUSE_WIDTH: '40', FAKE_NVJPEG_MISREPORT_WIDTH: '25' });
    expect(log.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(result!.planned.images[0]!.route).toBe('nvJPEG hardware');
    expect(result!.plan.images[0]).toMatchObject({ route: 'nvJPEG GPU', reason: 'the hardware decoder refuses it (nvjpegDecodeBatchedSupported)' });
    expect(result!.plan.images[4]).toMatchObject({ route: 'CPU', reason: 'nvJPEG reads 26x19 with 3 components where the header says 25x19 with 3' });
    expect(result!.plan.images[4]!.decodedPitch).toBe(0);
    expectDecoded(result!, [0, 1, 3, 5]);
  });

  it('a failed batched decode fails its images only, with the status as a coded error', () => {
    const { result, log } = session({ FAKE_NVJPEG_ENGINES: '7', FAKE_NVJPEG_FAIL: 'nvjpegDecodeBatched:1:6' });
    expect(log.at(-1)).toBe('live 0');
    for (const i of [0, 3]) {
      expect(result!.statuses[i]).toEqual({ code: 'ERR_BACKEND', message: 'nvjpegDecodeBatched failed: NVJPEG_STATUS_EXECUTION_FAILED (6): the GPU failed while decoding; if it persists, restart the process' });
    }
    expectDecoded(result!, [1, 4, 5]);
  });

  it('a corrupt image in the decoupled path fails that image only (ERR_INVALID_FILE)', () => {
    const { result, log } = session({ FAKE_NVJPEG_ENGINES: '7', FAKE_NVJPEG_FAIL: 'nvjpegDecodeJpegHost:2:3' });
    expect(log.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(log.at(-1)).toBe('live 0');
    expect(result!.statuses[4]).toMatchObject({ code: 'ERR_INVALID_FILE' });
    expect(result!.statuses[4]!.message).toContain('nvjpegDecodeJpegHost failed: NVJPEG_STATUS_BAD_JPEG (3)');
    expectDecoded(result!, [0, 1, 3, 5]);
  });

  it('a failure while the session is made is a coded error, and what was made before it is destroyed', () => {
    const { result, error, log } = session({ FAKE_NVJPEG_ENGINES: '7', FAKE_NVJPEG_FAIL: 'nvjpegBufferDeviceCreate:1:5' });
    expect(result).toBeUndefined();
    expect(error).toMatchObject({ code: 'ERR_GPU_OUT_OF_MEMORY' });
    expect(error!.message).toContain('nvjpegBufferDeviceCreate failed: NVJPEG_STATUS_ALLOCATOR_FAILURE (5)');
    expect(log.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(log.at(-1)).toBe('live 0');
    expect(log.filter((line) => line.startsWith('nvjpegBufferPinnedDestroy'))).toHaveLength(2);
  });

  it('the decode memory budget sends the images that do not fit to the CPU, saying so', () => {
    const { result } = session({ FAKE_NVJPEG_ENGINES: '7' }, { maxDecodedBytes: 40 * 24 * 3 + 33 * 17 * 3 + 256 });
    expect(result!.plan.images.map((i) => i.route)).toEqual(['nvJPEG hardware', 'nvJPEG GPU', 'CPU', 'CPU', 'CPU', 'CPU', 'CPU']);
    expect(result!.plan.images[3]!.reason).toMatch(/GPU decode memory \(\d+ bytes\) is taken by the images before it/);
    expectDecoded(result!, [0, 1]);
  });
});
