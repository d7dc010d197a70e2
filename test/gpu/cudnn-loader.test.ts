// The cuDNN loader (native/src/cuda/cudnn_loader.h) on a machine without cuDNN: the candidate list (order,
// folders vs files, duplicates), the status names and error mapping, and load() itself in child processes
// (it runs once per process) against this machine and against fake libcudnn.so.9 files built here with g++:
// cuDNN 8, cuDNN 9 with a function missing, a complete cuDNN 9 whose dispatcher needs its sibling
// libcudnn_graph.so.9 preloaded, and one found only through a (fake) python3's nvidia-cudnn package.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { addonPathVariable, loadNative } from '../../lib/runtime/native.js';

interface LoaderEnvironment {
  cudnnPath?: string;
  cudaHomes?: string[];
  pythonCudnnDirs?: string[];
}
interface Candidate {
  path: string;
  source: string;
}
type LoadResult = { ok: true; path: string; version: number } | { ok: false; code: string; message: string };
interface CudnnLoaderTesting {
  candidates(environment: LoaderEnvironment): Candidate[];
  environment(): Required<LoaderEnvironment>;
  statusName(code: number): string;
  error(code: number, what: string): { code: string; message: string };
  load(): LoadResult;
  functionNames(): string[];
  sublibraries(): string[];
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = process.env[addonPathVariable] ? path.resolve(process.env[addonPathVariable]) : path.join(root, 'build', 'Release', 'resnet_cudnn.node');
const loader = (loadNative() as unknown as { testing: { cudnnLoader: CudnnLoaderTesting } }).testing.cudnnLoader;
const hasGxx = spawnSync('g++', ['--version']).status === 0;

const scratch = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'resnet-cudnn-loader-')));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function folder(...parts: string[]): string {
  const made = path.join(scratch, ...parts);
  mkdirSync(made, { recursive: true });
  return made;
}

const soname = 'libcudnn.so.9';
const libraryPath: Candidate = { path: soname, source: 'library path (LD_LIBRARY_PATH, ld.so.cache)' };
const cudaTarget = process.arch === 'arm64' ? 'targets/sbsa-linux/lib' : 'targets/x86_64-linux/lib';
const cudaInstall = (home: string, lib: string): Candidate => ({ path: `${home}/${lib}/${soname}`, source: 'CUDA install' });
const python = (dir: string): Candidate => ({ path: `${dir}/${soname}`, source: 'Python package nvidia-cudnn' });

describe('cudnn candidates', () => {
  it('with nothing configured: the library path only', () => {
    expect(loader.candidates({})).toEqual([libraryPath]);
  });

  it('in order: RESNET_CUDNN_PATH, the library path, each CUDA home, each Python package folder', () => {
    const named = folder('order', 'named');
    const cudaA = folder('order', 'cuda-a');
    const cudaB = path.join(scratch, 'order', 'cuda-b'); // need not exist
    const pyA = folder('order', 'site-a', 'nvidia', 'cudnn', 'lib');
    const pyB = folder('order', 'site-b', 'nvidia', 'cudnn', 'lib');
    expect(loader.candidates({ cudnnPath: named, cudaHomes: [cudaA, cudaB], pythonCudnnDirs: [pyA, pyB] })).toEqual([
      { path: `${named}/${soname}`, source: 'RESNET_CUDNN_PATH' },
      libraryPath,
      cudaInstall(cudaA, 'lib64'),
      cudaInstall(cudaA, 'lib'),
      cudaInstall(cudaA, cudaTarget),
      cudaInstall(cudaB, 'lib64'),
      cudaInstall(cudaB, 'lib'),
      cudaInstall(cudaB, cudaTarget),
      python(pyA),
      python(pyB),
    ]);
  });

  it('RESNET_CUDNN_PATH naming a folder means libcudnn.so.9 in it; naming a file means that file', () => {
    const dir = folder('named-forms', 'lib');
    const file = path.join(dir, 'libcudnn-custom.so');
    writeFileSync(file, '');
    expect(loader.candidates({ cudnnPath: dir })[0]).toEqual({ path: `${dir}/${soname}`, source: 'RESNET_CUDNN_PATH' });
    expect(loader.candidates({ cudnnPath: `${dir}/` })[0]).toEqual({ path: `${dir}/${soname}`, source: 'RESNET_CUDNN_PATH' });
    expect(loader.candidates({ cudnnPath: file })[0]).toEqual({ path: file, source: 'RESNET_CUDNN_PATH' });
    // A path that does not exist is taken as a file: dlopen's own message then says what is wrong with it.
    const missing = path.join(dir, 'no-such-libcudnn.so.9');
    expect(loader.candidates({ cudnnPath: missing })).toEqual([{ path: missing, source: 'RESNET_CUDNN_PATH' }, libraryPath]);
  });

  it('lists each library once: trailing slashes, symbolic links and folders named twice', () => {
    const home = folder('dedup', 'cuda-13.0');
    for (const lib of ['lib64', 'lib', cudaTarget]) folder('dedup', 'cuda-13.0', lib);
    const link = path.join(scratch, 'dedup', 'cuda');
    symlinkSync(home, link); // /usr/local/cuda -> /usr/local/cuda-13.0
    const linkedLibs = folder('dedup', 'cuda-linked-libs');
    folder('dedup', 'cuda-linked-libs', 'lib');
    symlinkSync('lib', path.join(linkedLibs, 'lib64')); // lib64 -> lib: one folder under two names
    const py = folder('dedup', 'site', 'nvidia', 'cudnn', 'lib');
    expect(
      loader.candidates({
        cudnnPath: py,
        cudaHomes: [home, `${home}/`, link, linkedLibs],
        pythonCudnnDirs: [py, `${py}//`, path.join(py, '..', 'lib')],
      }),
    ).toEqual([
      { path: `${py}/${soname}`, source: 'RESNET_CUDNN_PATH' },
      libraryPath,
      cudaInstall(home, 'lib64'),
      cudaInstall(home, 'lib'),
      cudaInstall(home, cudaTarget),
      cudaInstall(linkedLibs, 'lib64'),
      cudaInstall(linkedLibs, cudaTarget),
    ]);
  });

  it('a RESNET_CUDNN_PATH of the bare soname is the library path search, listed once', () => {
    expect(loader.candidates({ cudnnPath: soname })).toEqual([{ path: soname, source: 'RESNET_CUDNN_PATH' }]);
  });

  it('rejects a malformed environment with ERR_INVALID_ARGUMENT', () => {
    const bad = (value: unknown) => () => loader.candidates(value as LoaderEnvironment);
    expect(bad({ cudaHomes: '/usr/local/cuda' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(bad({ cudnnPath: 3 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(bad(undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

// cuDNN 9's status codes (reference/cudnn.md §2.e), written out here rather than read from the addon.
const statusNames: ReadonlyArray<readonly [number, string]> = [
  [0, 'SUCCESS'],
  [1001, 'NOT_INITIALIZED'],
  [1002, 'SUBLIBRARY_VERSION_MISMATCH'],
  [1003, 'SERIALIZATION_VERSION_MISMATCH'],
  [1004, 'DEPRECATED'],
  [1005, 'LICENSE_ERROR'],
  [1006, 'RUNTIME_IN_PROGRESS'],
  [1007, 'RUNTIME_FP_OVERFLOW'],
  [1008, 'SUBLIBRARY_LOADING_FAILED'],
  [2000, 'BAD_PARAM'],
  [2001, 'INVALID_VALUE'],
  [2002, 'BAD_PARAM_NULL_POINTER'],
  [2003, 'BAD_PARAM_MISALIGNED_POINTER'],
  [2004, 'BAD_PARAM_NOT_FINALIZED'],
  [2005, 'BAD_PARAM_OUT_OF_BOUND'],
  [2006, 'BAD_PARAM_SIZE_INSUFFICIENT'],
  [2007, 'BAD_PARAM_STREAM_MISMATCH'],
  [2008, 'BAD_PARAM_SHAPE_MISMATCH'],
  [2009, 'BAD_PARAM_DUPLICATED_ENTRIES'],
  [2010, 'BAD_PARAM_ATTRIBUTE_TYPE'],
  [2011, 'BAD_PARAM_CUDA_GRAPH_MISMATCH'],
  [2012, 'BAD_PARAM_DESCRIPTOR_TYPE'],
  [3000, 'NOT_SUPPORTED'],
  [3001, 'NOT_SUPPORTED_GRAPH_PATTERN'],
  [3002, 'NOT_SUPPORTED_SHAPE'],
  [3003, 'NOT_SUPPORTED_DATA_TYPE'],
  [3004, 'NOT_SUPPORTED_LAYOUT'],
  [3005, 'NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER'],
  [3006, 'NOT_SUPPORTED_INCOMPATIBLE_CUDART'],
  [3007, 'NOT_SUPPORTED_ARCH_MISMATCH'],
  [3008, 'NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING'],
  [3009, 'NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE'],
  [3010, 'NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT'],
  [3011, 'NOT_SUPPORTED_PADDING'],
  [3012, 'NOT_SUPPORTED_BAD_LAUNCH_PARAM'],
  [3013, 'NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API'],
  [3014, 'NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE'],
  [4000, 'INTERNAL_ERROR'],
  [4001, 'INTERNAL_ERROR_COMPILATION_FAILED'],
  [4002, 'INTERNAL_ERROR_UNEXPECTED_VALUE'],
  [4003, 'INTERNAL_ERROR_HOST_ALLOCATION_FAILED'],
  [4004, 'INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED'],
  [4005, 'INTERNAL_ERROR_BAD_LAUNCH_PARAM'],
  [4006, 'INTERNAL_ERROR_TEXTURE_CREATION_FAILED'],
  [5000, 'EXECUTION_FAILED'],
  [5001, 'EXECUTION_FAILED_CUDA_DRIVER'],
  [5002, 'EXECUTION_FAILED_CUBLAS'],
  [5003, 'EXECUTION_FAILED_CUDART'],
  [5004, 'EXECUTION_FAILED_CURAND'],
];

/** The error code the loader's contract gives a failed cuDNN call with `status`. */
function expectedCode(status: number): string {
  if (status === 4003 || status === 4004) return 'ERR_GPU_OUT_OF_MEMORY';
  if (status >= 3000 && status < 4000) return 'ERR_UNSUPPORTED';
  if (status === 1002) return 'ERR_CUDNN_VERSION';
  if (status === 1008) return 'ERR_CUDNN_NOT_FOUND';
  return 'ERR_BACKEND';
}

describe('cudnn status names and errors', () => {
  it('names every cuDNN 9 status code', () => {
    for (const [code, name] of statusNames) expect(loader.statusName(code), `status ${code}`).toBe(`CUDNN_STATUS_${name}`);
  });

  it('names anything else CUDNN_STATUS_UNKNOWN', () => {
    for (const code of [1, 14, 999, 1009, 2999, 3999, 6000, 8191, -1, 100000]) expect(loader.statusName(code), `status ${code}`).toBe('CUDNN_STATUS_UNKNOWN');
  });

  it('turns a failed call into a coded error naming the call, the status, and cuDNN\'s own texts', () => {
    for (const [code, name] of statusNames.filter(([code]) => code !== 0)) {
      const failure = loader.error(code, 'cudnnConvolutionForward (layer1.0.conv1)');
      expect(failure.code, `status ${code}`).toBe(expectedCode(code));
      expect(failure.message.startsWith(`cudnnConvolutionForward (layer1.0.conv1) failed: CUDNN_STATUS_${name} (${code}): text from cudnnGetErrorString; text from cudnnGetLastErrorString`), failure.message).toBe(true);
    }
  });

  it('says what to do for the failures a user can act on', () => {
    expect(loader.error(4004, 'cudnnCreate').message).toMatch(/smaller batch/);
    expect(loader.error(3000, 'cudnnConvolutionForward').message).toMatch(/float32.*cpu/);
    expect(loader.error(1002, 'cudnnCreate').message).toMatch(/RESNET_CUDNN_PATH/);
    expect(loader.error(3005, 'cudnnCreate').message).toMatch(/update the driver/);
  });
});

// ---- load() in child processes: it runs once per process, and each case needs its own environment ----

/** load() in a fresh node process with `env` (RESNET_CUDNN_PATH and CUDA_HOME/CUDA_PATH only as given). */
function loadInChild(env: Record<string, string>, call = 'load'): LoadResult & Record<string, unknown> {
  const base = { ...process.env };
  for (const name of ['RESNET_CUDNN_PATH', 'CUDA_HOME', 'CUDA_PATH']) delete base[name];
  const script = `const addon = require(${JSON.stringify(addonPath)});
process.stdout.write(JSON.stringify(addon.testing.cudnnLoader.${call}()));`;
  const output = execFileSync(process.execPath, ['-e', script], { env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(output) as LoadResult & Record<string, unknown>;
}

/** Whether this machine has a real cuDNN 9 the loader would find (then the "not found" cases cannot hold). */
function machineHasCudnn(): boolean {
  const ldconfig = spawnSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' });
  if (ldconfig.stdout?.includes(soname)) return true;
  const searchDirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), '/usr/local/cuda/lib64', '/usr/local/cuda/lib'].filter(Boolean);
  if (searchDirs.some((dir) => existsSync(path.join(dir, soname)))) return true;
  const py = spawnSync('python3', ['-c', "import importlib.util as u; print(u.find_spec('nvidia.cudnn') is not None)"], { encoding: 'utf8', timeout: 30_000 });
  return py.stdout?.trim() === 'True';
}
const hasCudnn = machineHasCudnn();

/** Builds a shared library from C++ source; `soname` sets DT_SONAME. */
function buildLibrary(file: string, source: string, libSoname?: string): string {
  const sourceFile = `${file}.cc`;
  writeFileSync(sourceFile, source);
  execFileSync('g++', ['-shared', '-fPIC', '-o', file, sourceFile, ...(libSoname ? [`-Wl,-soname,${libSoname}`] : []), '-ldl']);
  return file;
}

/** A fake dispatcher: every function the loader resolves, unless in `leaveOut`; cudnnGetVersion's body given. */
function fakeCudnnSource(versionBody: string, leaveOut: string[] = []): string {
  const names = loader.functionNames().filter((name) => name !== 'cudnnGetVersion' && !leaveOut.includes(name));
  return [
    '#include <dlfcn.h>',
    '#include <stddef.h>',
    `extern "C" size_t cudnnGetVersion(void) { ${versionBody} }`,
    ...names.map((name) => `extern "C" int ${name}(void) { return 0; }`),
  ].join('\n');
}

describe('cudnn load', () => {
  it('exposes the functions of cudnn_api.h (the legacy and the graph API), cuDNN\'s own names, each once', () => {
    const names = loader.functionNames();
    expect(names.length).toBe(35);
    expect(new Set(names).size).toBe(names.length);
    for (const name of ['cudnnGetVersion', 'cudnnGetErrorString', 'cudnnGetLastErrorString', 'cudnnConvolutionBiasActivationForward', 'cudnnAddTensor', 'cudnnGetConvolutionForwardAlgorithm_v7', 'cudnnBackendCreateDescriptor', 'cudnnBackendSetAttribute', 'cudnnBackendGetAttribute', 'cudnnBackendFinalize', 'cudnnBackendExecute', 'cudnnBackendDestroyDescriptor']) {
      expect(names).toContain(name);
    }
  });

  it.runIf(!hasCudnn)('without cuDNN on this machine: ERR_CUDNN_NOT_FOUND listing every place tried and the fixes', () => {
    const named = folder('not-found', 'named');
    const cudaHome = folder('not-found', 'cuda');
    const result = loadInChild({ RESNET_CUDNN_PATH: named, CUDA_HOME: cudaHome });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('ERR_CUDNN_NOT_FOUND');
    const lines = result.message.split('\n');
    const tried = [`RESNET_CUDNN_PATH: ${named}/${soname}: `, `library path (LD_LIBRARY_PATH, ld.so.cache): ${soname}: `, `CUDA install: ${cudaHome}/lib64/${soname}: `, `CUDA install: ${cudaHome}/lib/${soname}: `];
    const at = tried.map((start) => lines.findIndex((line) => line.startsWith(`  - ${start}`)));
    expect(at.every((i) => i > 0), result.message).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at); // in search order
    expect(result.message).toMatch(/No such file or directory/);
    expect(result.message).toContain('pip install nvidia-cudnn-cu13');
    expect(result.message).toContain('nvidia-cudnn-cu12');
    expect(result.message).toContain('point RESNET_CUDNN_PATH at libcudnn.so.9');
    expect(result.message).toContain('apt-get install libcudnn9');
  });

  it.runIf(hasCudnn)('with cuDNN on this machine: loads it', () => {
    const result = loadInChild({});
    expect(result).toMatchObject({ ok: true });
    if (result.ok) expect(Math.floor(result.version / 10000)).toBe(9);
  });

  describe.runIf(hasGxx)('with fake libraries built here', () => {
    it('a cuDNN 8 named by RESNET_CUDNN_PATH: ERR_CUDNN_VERSION naming the version and the file', () => {
      const file = buildLibrary(path.join(folder('v8'), soname), fakeCudnnSource('return 8907;'));
      const result = loadInChild({ RESNET_CUDNN_PATH: file });
      expect(result).toMatchObject({ ok: false, code: 'ERR_CUDNN_VERSION' });
      if (result.ok) return;
      expect(result.message).toContain(`found cuDNN 8.9.7 at ${file}`);
      expect(result.message).toContain('needs cuDNN 9.x');
    });

    it('a library that only exports cudnnGetVersion() = 8907: ERR_CUDNN_VERSION, even though functions are missing', () => {
      const file = buildLibrary(path.join(folder('v8-bare'), soname), '#include <stddef.h>\nextern "C" size_t cudnnGetVersion(void) { return 8907; }\n');
      const result = loadInChild({ RESNET_CUDNN_PATH: file });
      expect(result).toMatchObject({ ok: false, code: 'ERR_CUDNN_VERSION' });
      if (!result.ok) expect(result.message).toContain('found cuDNN 8.9.7');
    });

    it('a cuDNN 9 without one of the functions: ERR_CUDNN_VERSION naming it', () => {
      const file = buildLibrary(path.join(folder('v9-incomplete'), soname), fakeCudnnSource('return 90300;', ['cudnnAddTensor']));
      const result = loadInChild({ RESNET_CUDNN_PATH: file });
      expect(result).toMatchObject({ ok: false, code: 'ERR_CUDNN_VERSION' });
      if (!result.ok) expect(result.message).toMatch(/cuDNN 9\.3\.0 at .* does not export cudnnAddTensor,/);
    });

    it('a file that is not cuDNN: ERR_CUDNN_VERSION saying so', () => {
      const file = buildLibrary(path.join(folder('not-cudnn'), 'libother.so'), 'extern "C" int other(void) { return 1; }\n');
      const result = loadInChild({ RESNET_CUDNN_PATH: file });
      expect(result).toMatchObject({ ok: false, code: 'ERR_CUDNN_VERSION' });
      if (!result.ok) expect(result.message).toContain('does not export cudnnGetVersion');
    });

    it('a complete cuDNN 9 in a RESNET_CUDNN_PATH folder loads, its sibling sub-library preloaded first', () => {
      const dir = folder('v9-folder');
      // Like the real dispatcher, the fake one asks for its sub-library by bare soname, which only works when
      // the loader has preloaded it from the same folder: otherwise the version reads 0 and loading fails.
      buildLibrary(path.join(dir, 'libcudnn_graph.so.9'), 'extern "C" int fake_graph(void) { return 1; }\n', 'libcudnn_graph.so.9');
      const file = buildLibrary(path.join(dir, soname), fakeCudnnSource('return dlopen("libcudnn_graph.so.9", RTLD_NOW | RTLD_NOLOAD) ? 90300 : 0;'));
      expect(loadInChild({ RESNET_CUDNN_PATH: dir })).toEqual({ ok: true, path: file, version: 90300 });
      expect(loadInChild({ RESNET_CUDNN_PATH: file })).toEqual({ ok: true, path: file, version: 90300 });
      // The same dispatcher without its sibling: the fake really depends on the preload.
      const alone = path.join(folder('v9-alone'), soname);
      execFileSync('cp', [file, alone]);
      expect(loadInChild({ RESNET_CUDNN_PATH: alone })).toMatchObject({ ok: false, code: 'ERR_CUDNN_VERSION' });
    });
  });

  it.runIf(!hasCudnn)('RESNET_CUDNN_PATH naming a missing file: the search goes on and reports it among the places tried', () => {
    const missing = path.join(folder('missing-named'), soname);
    const result = loadInChild({ RESNET_CUDNN_PATH: missing, CUDA_HOME: folder('missing-named', 'cuda') });
    expect(result).toMatchObject({ ok: false, code: 'ERR_CUDNN_NOT_FOUND' });
    if (!result.ok) expect(result.message).toContain(`  - RESNET_CUDNN_PATH: ${missing}: cannot open shared object file`);
  });

  describe.runIf(hasGxx && !hasCudnn)('found through python3', () => {
    /** A folder holding an executable `python3` shell script with `body`, for the front of PATH. */
    function fakePython(name: string, body: string): string {
      const bin = folder(name, 'bin');
      writeFileSync(path.join(bin, 'python3'), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return bin;
    }

    it("loads the cuDNN in the folder python3's nvidia-cudnn package reports", () => {
      const lib = folder('python-found', 'site-packages', 'nvidia', 'cudnn', 'lib');
      const file = buildLibrary(path.join(lib, soname), fakeCudnnSource('return 90600;'));
      const bin = fakePython('python-found', `echo ${lib}`);
      const env = { PATH: `${bin}:${process.env.PATH ?? ''}`, CUDA_HOME: folder('python-found', 'cuda') };
      const environment = loadInChild(env, 'environment') as unknown as Required<LoaderEnvironment>;
      expect(environment.pythonCudnnDirs[0]).toBe(lib);
      expect(environment.cudaHomes).toEqual([env.CUDA_HOME, '/usr/local/cuda']);
      expect(loadInChild(env)).toEqual({ ok: true, path: file, version: 90600 });
    });

    it('gives up on a python3 that hangs, within the time limit, and still reports not found', () => {
      const bin = fakePython('python-hangs', 'sleep 120');
      const started = Date.now();
      const result = loadInChild({ PATH: `${bin}:${process.env.PATH ?? ''}` });
      const seconds = (Date.now() - started) / 1000;
      expect(seconds).toBeLessThan(30); // the probe's limit is 10 s; a hang would hit the child's 60 s timeout
      expect(seconds).toBeGreaterThan(9);
      expect(result).toMatchObject({ ok: false, code: 'ERR_CUDNN_NOT_FOUND' });
      // The killed probe leaves nothing running.
      const left = spawnSync('pgrep', ['-f', `${bin}/python3`], { encoding: 'utf8' });
      expect(left.stdout.trim()).toBe('');
    });

    it("ignores a python3 that fails, floods its output, or prints what is not a folder", () => {
      const lib = folder('python-odd', 'site-packages', 'nvidia', 'cudnn', 'lib');
      const dirsWith = (name: string, body: string) =>
        (loadInChild({ PATH: `${fakePython(name, body)}:${process.env.PATH ?? ''}` }, 'environment') as unknown as Required<LoaderEnvironment>).pythonCudnnDirs;
      expect(dirsWith('python-ok', `echo relative/lib; echo /no/such/folder; echo ${lib}`)).toEqual([lib]);
      expect(dirsWith('python-fails', `echo ${lib}; exit 3`)).toEqual([]);
      expect(dirsWith('python-floods', `echo ${lib}; head -c 100000 /dev/zero`)).toEqual([]);
    });
  });
});

describe('cudnn sub-libraries', () => {
  it('preloads the seven sub-libraries of the cuDNN 9 wheel, libcudnn_graph first', () => {
    expect(loader.sublibraries()).toEqual([
      'libcudnn_graph.so.9',
      'libcudnn_ops.so.9',
      'libcudnn_cnn.so.9',
      'libcudnn_adv.so.9',
      'libcudnn_heuristic.so.9',
      'libcudnn_engines_precompiled.so.9',
      'libcudnn_engines_runtime_compiled.so.9',
    ]);
  });
});
