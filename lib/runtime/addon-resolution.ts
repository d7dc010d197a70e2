/**
 * Where the native addon may be, and the choice among those places: the user's override
 * (`$RESNET_CUDNN_ADDON`), then a local source build (`build/Release/`), then the prebuilt binary shipped in
 * the package (`prebuilds/linux-x64/`, glibc Linux on x64 only). A local build exists only where someone built
 * from source on purpose (the published package has none; the install script builds one only when the prebuilt
 * binary does not load, or when told to), so it wins over the prebuilt binary, as in node-gyp-build: otherwise
 * `RESNET_CUDNN_BUILD_FROM_SOURCE=1 npm rebuild` would build an addon that is never loaded, and a developer's
 * fresh build would lose to a stale `npm run prebuild`. The choice is a pure function of the
 * candidate paths and a loader, so that its order and its message are tested without the real addon; when
 * nothing loads it throws one {@link NativeLoadError} that says what was tried, why each failed, and what
 * to do on this platform (sharp's habit).
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NativeLoadError } from '../errors.js';

/** Environment variable naming an addon binary to load before any other. */
export const addonPathVariable = 'RESNET_CUDNN_ADDON';

/** The addon's file name, in `prebuilds/<platform>-<arch>/` and in `build/Release/`. */
export const addonFileName = 'resnet_cudnn.node';

/** Platforms with a prebuilt binary in the package, as `<platform>-<arch>` folder names (glibc only). */
export const prebuiltPlatforms: readonly string[] = ['linux-x64'];

/** What a source build needs on Debian/Ubuntu (cmake ≥ 3.19, a C++17 compiler, oneDNN and the OpenCL headers its CMake config looks for). */
export const sourceBuildAptLine = 'apt-get install cmake g++ make libdnnl-dev ocl-icd-opencl-dev';

/** Environment variable that makes the install script build from source even where a prebuilt binary loads. */
export const buildFromSourceVariable = 'RESNET_CUDNN_BUILD_FROM_SOURCE';

/** The C library of a Linux process; null elsewhere. */
export type Libc = 'glibc' | 'musl' | null;

/** The facts the choice depends on: Node's `process.platform` and `process.arch`, and the C library. */
export interface AddonPlatform {
  readonly platform: string;
  readonly arch: string;
  readonly libc: Libc;
}

/** One place the addon may be. */
export interface AddonCandidate {
  /** What it is, for the message: `$RESNET_CUDNN_ADDON`, `prebuilt binary` or `local build`. */
  readonly label: string;
  /** Absolute path of the `.node` file. */
  readonly file: string;
}

/** The places to try, in order, and those left out with the reason (e.g. the prebuilt binary on musl). */
export interface AddonCandidates {
  readonly platform: AddonPlatform;
  readonly candidates: readonly AddonCandidate[];
  readonly skipped: readonly string[];
}

/** The C library this process runs on: the dynamic loader it has mapped says (cheaper than `process.report`). */
export function detectLibc(): Libc {
  if (process.platform !== 'linux') return null;
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    if (/\/ld-musl-[^/\s]*\.so/.test(maps)) return 'musl';
    if (/\/libc\.so\.6\b/.test(maps)) return 'glibc';
  } catch {
    // no /proc: ask Node, which knows the glibc it runs on
  }
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** This process's platform. */
export function currentPlatform(): AddonPlatform {
  return { platform: process.platform, arch: process.arch, libc: detectLibc() };
}

/**
 * The prebuilt binary's folder for `platform` (`linux-x64`), or why the package ships none that fits.
 */
export function prebuildFolder(platform: AddonPlatform): { folder: string } | { reason: string } {
  const folder = `${platform.platform}-${platform.arch}`;
  if (!prebuiltPlatforms.includes(folder)) return { reason: `the package ships prebuilt binaries for ${prebuiltPlatforms.join(', ')} only, not ${folder}` };
  if (platform.libc !== 'glibc') return { reason: `${platform.libc ?? 'this'} libc: the prebuilt binary for ${folder} needs glibc` };
  return { folder };
}

/** The prebuilt binary's path in the package at `root`, or why there is none for `platform`. */
export function prebuildFile(root: string, platform: AddonPlatform): { file: string } | { reason: string } {
  const found = prebuildFolder(platform);
  return 'folder' in found ? { file: path.join(root, 'prebuilds', found.folder, addonFileName) } : found;
}

/** The places to try for the package at `root`, in order: the override in `env`, the local build, the prebuilt binary. */
export function addonCandidates(root: string, env: Readonly<Record<string, string | undefined>>, platform: AddonPlatform): AddonCandidates {
  const candidates: AddonCandidate[] = [];
  const skipped: string[] = [];
  // An override that loses to the default would be none: it comes first.
  const override = env[addonPathVariable];
  if (override) candidates.push({ label: `$${addonPathVariable}`, file: path.resolve(override) });
  candidates.push({ label: 'local build', file: path.join(root, 'build', 'Release', addonFileName) });
  const prebuild = prebuildFile(root, platform);
  if ('file' in prebuild) candidates.push({ label: 'prebuilt binary', file: prebuild.file });
  else skipped.push(`prebuilt binary: ${prebuild.reason}`);
  return { platform, candidates, skipped };
}

/** How {@link resolveAddon} reaches the file system and the module loader (Node's `existsSync` and `require` in use). */
export interface AddonLoader<T> {
  exists(file: string): boolean;
  /** Loads the file; throws what `require` throws (the dynamic loader's message for a missing library). */
  load(file: string): unknown;
  /** Whether a loaded module is the addon. */
  isAddon(module: unknown): module is T;
}

/** The addon that loaded and where it came from. */
export interface ResolvedAddon<T> {
  readonly addon: T;
  readonly candidate: AddonCandidate;
}

/**
 * Loads the first candidate that exists, loads and is the addon.
 * @throws NativeLoadError when none does: each candidate with why it failed, the candidates left out, and the fixes.
 */
export function resolveAddon<T>(found: AddonCandidates, loader: AddonLoader<T>): ResolvedAddon<T> {
  const failures: string[] = [];
  for (const candidate of found.candidates) {
    const where = `${candidate.label} ${candidate.file}`;
    if (!loader.exists(candidate.file)) {
      failures.push(`${where}: not found`);
      continue;
    }
    let module: unknown;
    try {
      module = loader.load(candidate.file);
    } catch (error) {
      failures.push(`${where}: failed to load: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (loader.isAddon(module)) return { addon: module, candidate };
    failures.push(`${where}: not a resnet-cudnn addon (compile, info or NativeExecutable missing)`);
  }
  throw new NativeLoadError(loadFailureMessage(found, failures));
}

function platformName(platform: AddonPlatform): string {
  return `${platform.platform}-${platform.arch}${platform.libc ? ` (${platform.libc})` : ''}`;
}

function loadFailureMessage(found: AddonCandidates, failures: readonly string[]): string {
  const prebuilt = 'folder' in prebuildFolder(found.platform);
  const missingDnnl = failures.some((line) => line.includes('libdnnl'));
  const sourceNeeds = `cmake >= 3.19, a C++17 compiler and oneDNN; on Debian/Ubuntu: ${sourceBuildAptLine}`;
  const fixes = prebuilt
    ? [
        '  - reinstall the package, which ships a prebuilt binary for this platform: rm -rf node_modules/resnet-cudnn && npm install',
        `    (a prebuilt binary that fails to load above names what it lacks${missingDnnl ? '; libdnnl is bundled beside it, so a missing libdnnl means an incomplete install' : ''})`,
        `  - or build from source: ${buildFromSourceVariable}=1 npm rebuild resnet-cudnn (needs ${sourceNeeds})`,
      ]
    : [
        `  - build from source: npm rebuild resnet-cudnn (needs ${sourceNeeds})${missingDnnl ? '  <- libdnnl could not be loaded: install oneDNN' : ''}`,
      ];
  return [
    `Could not load the resnet-cudnn native addon on ${platformName(found.platform)}.`,
    'Tried, in order:',
    ...failures.map((line) => `  - ${line}`),
    ...(found.skipped.length > 0 ? ['Not tried:', ...found.skipped.map((line) => `  - ${line}`)] : []),
    'To fix it:',
    ...fixes,
    `  - or point ${addonPathVariable} at a built ${addonFileName}`,
    '  - use Node.js 20 or later (Node-API 8)',
  ].join('\n');
}
