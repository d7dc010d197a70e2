// The addon loader's choice (lib/runtime/addon-resolution.ts) over fake package folders: the order ($RESNET_CUDNN_ADDON,
// the local build, the prebuilt binary), the prebuilt binary left out on musl and on platforms without one, and the
// one NativeLoadError when nothing loads: each candidate with why it failed (not found, the dynamic loader's own
// message through Node's real require, not an addon) and the fixes for the platform. The real require loads a
// garbage file and a shared object built here with g++ whose NEEDED library is gone.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NativeLoadError } from '../../lib/errors.js';
import { addonCandidates, currentPlatform, resolveAddon, type AddonLoader, type AddonPlatform } from '../../lib/runtime/addon-resolution.js';

const glibcX64: AddonPlatform = { platform: 'linux', arch: 'x64', libc: 'glibc' };
const muslX64: AddonPlatform = { platform: 'linux', arch: 'x64', libc: 'musl' };
const darwinArm: AddonPlatform = { platform: 'darwin', arch: 'arm64', libc: null };

const scratch = mkdtempSync(path.join(os.tmpdir(), 'addon-loader-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A fake package root with the files asked for (empty files: the fake loader never reads them). */
function fakePackage(name: string, files: { override?: boolean; local?: boolean; prebuild?: boolean }): { root: string; override: string; local: string; prebuild: string } {
  const root = path.join(scratch, name);
  const override = path.join(root, 'elsewhere', 'custom.node');
  const local = path.join(root, 'build', 'Release', 'resnet_cudnn.node');
  const prebuild = path.join(root, 'prebuilds', 'linux-x64', 'resnet_cudnn.node');
  for (const [present, file] of [[files.override, override], [files.local, local], [files.prebuild, prebuild]] as const) {
    if (!present) continue;
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '');
  }
  return { root, override, local, prebuild };
}

const addonMarker = Symbol('addon');
type FakeAddon = { [addonMarker]: string };

/** A loader over the real file system whose load() returns a fake addon, or throws for the files in `broken`. */
function recordingLoader(broken: Record<string, string> = {}): AddonLoader<FakeAddon> & { loaded: string[] } {
  const loaded: string[] = [];
  return {
    loaded,
    exists: existsSync,
    load(file) {
      loaded.push(file);
      if (broken[file] !== undefined) throw new Error(broken[file]);
      return { [addonMarker]: file };
    },
    isAddon: (module): module is FakeAddon => typeof module === 'object' && module !== null && addonMarker in module,
  };
}

function loadError(run: () => unknown): NativeLoadError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(NativeLoadError);
    return error as NativeLoadError;
  }
  throw new Error('expected a NativeLoadError');
}

describe('candidate order', () => {
  it('tries the override, then the local build, then the prebuilt binary (glibc linux-x64)', () => {
    const pkg = fakePackage('order', {});
    const found = addonCandidates(pkg.root, { RESNET_CUDNN_ADDON: pkg.override }, glibcX64);
    expect(found.candidates.map((c) => c.file)).toEqual([pkg.override, pkg.local, pkg.prebuild]);
    expect(found.candidates.map((c) => c.label)).toEqual(['$RESNET_CUDNN_ADDON', 'local build', 'prebuilt binary']);
    expect(found.skipped).toEqual([]);
    expect(addonCandidates(pkg.root, {}, glibcX64).candidates.map((c) => c.file)).toEqual([pkg.local, pkg.prebuild]);
    // A relative override is taken from the working directory, as the user typed it.
    expect(addonCandidates(pkg.root, { RESNET_CUDNN_ADDON: 'rel/x.node' }, glibcX64).candidates[0]!.file).toBe(path.resolve('rel/x.node'));
  });

  it('leaves the prebuilt binary out on musl and where the package ships none, and says why', () => {
    const pkg = fakePackage('skip', {});
    const musl = addonCandidates(pkg.root, {}, muslX64);
    expect(musl.candidates.map((c) => c.file)).toEqual([pkg.local]);
    expect(musl.skipped).toEqual(['prebuilt binary: musl libc: the prebuilt binary for linux-x64 needs glibc']);
    const mac = addonCandidates(pkg.root, {}, darwinArm);
    expect(mac.candidates.map((c) => c.file)).toEqual([pkg.local]);
    expect(mac.skipped).toEqual(['prebuilt binary: the package ships prebuilt binaries for linux-x64 only, not darwin-arm64']);
    expect(addonCandidates(pkg.root, {}, { platform: 'linux', arch: 'arm64', libc: 'glibc' }).skipped[0]).toContain('not linux-arm64');
  });

  it('loads the first that exists and loads, and no later one', () => {
    const all = fakePackage('all', { override: true, local: true, prebuild: true });
    const loader = recordingLoader();
    const first = resolveAddon(addonCandidates(all.root, { RESNET_CUDNN_ADDON: all.override }, glibcX64), loader);
    expect(first.candidate.file).toBe(all.override);
    expect(first.addon[addonMarker]).toBe(all.override);
    expect(loader.loaded).toEqual([all.override]);

    const local = resolveAddon(addonCandidates(all.root, {}, glibcX64), recordingLoader());
    expect(local.candidate.label).toBe('local build');

    const onlyPrebuild = fakePackage('only-prebuild', { prebuild: true });
    const prebuildLoader = recordingLoader();
    expect(resolveAddon(addonCandidates(onlyPrebuild.root, { RESNET_CUDNN_ADDON: onlyPrebuild.override }, glibcX64), prebuildLoader).candidate.file).toBe(onlyPrebuild.prebuild);
    expect(prebuildLoader.loaded).toEqual([onlyPrebuild.prebuild]);  // the missing files were never loaded
  });

  it('goes on past a candidate that fails to load or is not the addon', () => {
    const all = fakePackage('fallthrough', { override: true, local: true, prebuild: true });
    const loader = recordingLoader({ [all.override]: 'bad override' });
    const notAddon = { ...loader, load: (file: string) => (file === all.local ? { something: 'else' } : loader.load(file)) };
    const resolved = resolveAddon(addonCandidates(all.root, { RESNET_CUDNN_ADDON: all.override }, glibcX64), notAddon);
    expect(resolved.candidate.file).toBe(all.prebuild);
    expect(loader.loaded).toEqual([all.override, all.prebuild]);
  });
});

describe('the error when nothing loads', () => {
  it('lists every candidate in order with why, and on glibc linux-x64 says to reinstall (or force a source build)', () => {
    const pkg = fakePackage('none-glibc', { prebuild: true });
    const loader = recordingLoader({ [pkg.prebuild]: 'libdnnl.so.2: cannot open shared object file: No such file or directory' });
    const error = loadError(() => resolveAddon(addonCandidates(pkg.root, { RESNET_CUDNN_ADDON: pkg.override }, glibcX64), loader));
    expect(error.code).toBe('ERR_NATIVE_LOAD');
    const lines = error.message.split('\n');
    expect(lines[0]).toBe('Could not load the resnet-cudnn native addon on linux-x64 (glibc).');
    expect(lines.slice(1, 5)).toEqual([
      'Tried, in order:',
      `  - $RESNET_CUDNN_ADDON ${pkg.override}: not found`,
      `  - local build ${pkg.local}: not found`,
      `  - prebuilt binary ${pkg.prebuild}: failed to load: libdnnl.so.2: cannot open shared object file: No such file or directory`,
    ]);
    expect(error.message).not.toContain('Not tried');
    expect(error.message).toContain('reinstall the package, which ships a prebuilt binary for this platform: rm -rf node_modules/resnet-cudnn && npm install');
    expect(error.message).toContain('libdnnl is bundled beside it');
    expect(error.message).toContain('RESNET_CUDNN_BUILD_FROM_SOURCE=1 npm rebuild resnet-cudnn');
    expect(error.message).toContain('apt-get install cmake g++ make libdnnl-dev ocl-icd-opencl-dev');
  });

  it('on musl and elsewhere says to build from source, and names the prebuilt binary it left out', () => {
    const pkg = fakePackage('none-musl', { local: true, prebuild: true });
    const error = loadError(() => resolveAddon(addonCandidates(pkg.root, {}, muslX64), recordingLoader({ [pkg.local]: 'Error relocating: symbol not found' })));
    expect(error.message.split('\n')).toEqual(expect.arrayContaining([
      'Could not load the resnet-cudnn native addon on linux-x64 (musl).',
      `  - local build ${pkg.local}: failed to load: Error relocating: symbol not found`,
      'Not tried:',
      '  - prebuilt binary: musl libc: the prebuilt binary for linux-x64 needs glibc',
      '  - build from source: npm rebuild resnet-cudnn (needs cmake >= 3.19, a C++17 compiler and oneDNN; on Debian/Ubuntu: apt-get install cmake g++ make libdnnl-dev ocl-icd-opencl-dev)',
    ]));
    expect(error.message).not.toContain('reinstall');
    const mac = loadError(() => resolveAddon(addonCandidates(fakePackage('none-mac', {}).root, {}, darwinArm), recordingLoader()));
    expect(mac.message).toContain('on darwin-arm64.');
    expect(mac.message).toContain('  - build from source: npm rebuild resnet-cudnn');
  });

  it('says when a loaded module is not the addon', () => {
    const pkg = fakePackage('not-addon', { local: true });
    const loader = { ...recordingLoader(), load: () => ({ compile: 1 }) };
    expect(loadError(() => resolveAddon(addonCandidates(pkg.root, {}, muslX64), loader)).message).toContain(
      `  - local build ${pkg.local}: not a resnet-cudnn addon (compile, info or NativeExecutable missing)`,
    );
  });
});

describe.runIf(process.platform === 'linux')('with Node\'s own require', () => {
  const require = createRequire(import.meta.url);
  const nodeLoader: AddonLoader<unknown> = { exists: existsSync, load: (file) => require(file) as unknown, isAddon: (m): m is unknown => typeof (m as { info?: unknown }).info === 'function' };

  it('carries the dynamic loader\'s message: a missing NEEDED library, a file that is no ELF', () => {
    const pkg = fakePackage('real-dlopen', {});
    // A shared object that needs libdnnl.so.99, which is built, linked against and then removed.
    const work = path.join(scratch, 'real-dlopen-work');
    mkdirSync(work, { recursive: true });
    writeFileSync(path.join(work, 'dep.cc'), 'extern "C" int fake_dnnl_version() { return 99; }\n');
    writeFileSync(path.join(work, 'addon.cc'), 'extern "C" int fake_dnnl_version();\nextern "C" int use() { return fake_dnnl_version(); }\n');
    execFileSync('g++', ['-shared', '-fPIC', '-Wl,-soname,libdnnl.so.99', '-o', path.join(work, 'libdnnl.so.99'), path.join(work, 'dep.cc')]);
    mkdirSync(path.dirname(pkg.local), { recursive: true });
    execFileSync('g++', ['-shared', '-fPIC', '-o', pkg.local, path.join(work, 'addon.cc'), path.join(work, 'libdnnl.so.99')]);
    rmSync(path.join(work, 'libdnnl.so.99'));
    mkdirSync(path.dirname(pkg.prebuild), { recursive: true });
    writeFileSync(pkg.prebuild, 'not an ELF file');

    const error = loadError(() => resolveAddon(addonCandidates(pkg.root, {}, glibcX64), nodeLoader));
    expect(error.message).toContain(`  - local build ${pkg.local}: failed to load: libdnnl.so.99: cannot open shared object file: No such file or directory`);
    expect(error.message).toMatch(new RegExp(`  - prebuilt binary ${pkg.prebuild.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: failed to load: .*(invalid ELF header|file too short)`));
  });

  it('detects this machine\'s C library as Node\'s own report does', () => {
    const header = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header;
    expect(currentPlatform()).toEqual({ platform: 'linux', arch: process.arch, libc: header.glibcVersionRuntime ? 'glibc' : 'musl' });
  });
});
