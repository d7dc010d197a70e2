// Packaging a built addon as a prebuilt binary: the addon, plus every shared library it needs that a base
// glibc system lacks (oneDNN, libgomp, the OpenCL loader oneDNN links), copied beside it. The addon finds
// them through its RUNPATH $ORIGIN (CMakeLists.txt links it so); the copied libraries were built by others,
// so patchelf gives them RUNPATH $ORIGIN too (libdnnl.so.2 needs libOpenCL.so.1 and libgomp.so.1, and a
// library's own RUNPATH is what finds its NEEDED). manifest.json records what the folder holds and needs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanLoaderEnv, dynamicSection, highestVersionNeeds, resolvedLibraries } from './elf.mjs';

/** Sonames every Linux machine that runs Node has (glibc and GCC's C/C++ runtime): never bundled. */
export const baseSystemLibraries = Object.freeze([
  'linux-vdso.so.1',
  'ld-linux-x86-64.so.2',
  'ld-linux-aarch64.so.1',
  'libc.so.6',
  'libm.so.6',
  'libdl.so.2',
  'libpthread.so.0',
  'librt.so.1',
  'libgcc_s.so.1',
  'libstdc++.so.6',
]);

/** The addon's file name in the folder. */
export const addonFileName = 'resnet_cudnn.node';

function sha256(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function patchelf(args) {
  try {
    execFileSync('patchelf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    if (error.code === 'ENOENT') throw new Error('patchelf not found: it sets RUNPATH $ORIGIN on the bundled libraries (apt-get install patchelf)', { cause: error });
    throw new Error(`patchelf ${args.join(' ')} failed: ${String(error.stderr || error.message).trim()}`, { cause: error });
  }
}

/**
 * What the addon at `file` says about itself, loaded in a child process without LD_LIBRARY_PATH (a binary that
 * cannot load must not take this process down): its version and backends.
 * @param {string} file
 * @returns {{ addonVersion: string, backends: { cpu: { version: string }, cuda: { available: boolean, reason?: string } } }}
 */
export function addonInfo(file) {
  const script = 'const a = require(process.argv[1]); process.stdout.write(JSON.stringify(a.info()));';
  try {
    const out = execFileSync(process.execPath, ['-e', script, file], { encoding: 'utf8', env: cleanLoaderEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out);
  } catch (error) {
    throw new Error(`${file} does not load: ${String(error.stderr || error.message).trim()}`, { cause: error });
  }
}

/** Whether the CUDA backend is compiled into an addon, from its info(): only a build without it says so. */
export function cudaCompiledIn(info) {
  return info.backends.cuda.available || !/^built without CUDA/.test(info.backends.cuda.reason ?? '');
}

/**
 * The CUDA compiler version and the GPU code (sm_XX: machine code, compute_XX: PTX) a CMake build folder
 * recorded, where it has them: the compiler's version from CMake's probe, the code from the nvcc flags of the
 * generated build files (Ninja's build.ninja or Make's flags.make).
 */
function cudaBuildFacts(buildDir) {
  const facts = { version: null, code: null };
  const cmakeFiles = path.join(buildDir, 'CMakeFiles');
  if (!existsSync(cmakeFiles)) return facts;
  for (const entry of readdirSync(cmakeFiles)) {
    const file = path.join(cmakeFiles, entry, 'CMakeCUDACompiler.cmake');
    if (existsSync(file)) facts.version = /set\(CMAKE_CUDA_COMPILER_VERSION "([^"]+)"\)/.exec(readFileSync(file, 'utf8'))?.[1] ?? facts.version;
  }
  const flagFiles = [path.join(buildDir, 'build.ninja'), path.join(cmakeFiles, 'resnet_cudnn.dir', 'flags.make')].filter((file) => existsSync(file));
  const code = new Set();
  for (const file of flagFiles) {
    for (const match of readFileSync(file, 'utf8').matchAll(/--generate-code=arch=compute_\d+,code=\[([^\]]+)\]/g)) {
      for (const target of match[1].split(',')) code.add(target);
    }
  }
  if (code.size > 0) facts.code = [...code].sort();
  return facts;
}

/** Whether a RUNPATH is exactly $ORIGIN (what the folder needs: nothing outside it is searched first). */
export function runpathIsOrigin(file) {
  const { runpath } = dynamicSection(file);
  return runpath.length === 1 && runpath[0] === '$ORIGIN';
}

/**
 * Every library `folder`'s files need that resolves neither inside `folder` nor to a base-system library
 * (ldd, LD_LIBRARY_PATH unset), as 'file: soname => where'. Empty when the folder is self-contained.
 * @param {string} folder
 */
export function unresolvedOutside(folder) {
  const problems = [];
  const inside = realpathSync(folder);
  for (const name of readdirSync(folder).filter((entry) => entry.endsWith('.node') || /\.so(\.|$)/.test(entry))) {
    for (const [soname, where] of resolvedLibraries(path.join(folder, name))) {
      if (baseSystemLibraries.includes(soname)) continue;
      if (where !== null && path.dirname(realpathSync(where)) === inside) continue;
      problems.push(`${name}: ${soname} => ${where ?? 'not found'}`);
    }
  }
  return problems;
}

/**
 * Packages the addon at `addon` into `outDir` (replaced whole: built in a sibling temporary folder, then
 * renamed), with the libraries it needs beside it and manifest.json. Nothing is compiled.
 * @param {{ addon: string, outDir: string, buildDir?: string, napiVersion: number, allowCpuOnly?: boolean }} options
 *   `buildDir`: the CMake build folder, for the CUDA version (default: two folders above the addon);
 *   `allowCpuOnly`: package an addon without the CUDA backend (refused otherwise).
 * @returns {object} the manifest
 */
export function packagePrebuild({ addon, outDir, buildDir = path.dirname(path.dirname(addon)), napiVersion, allowCpuOnly = false }) {
  if (process.platform !== 'linux') throw new Error(`prebuilt binaries are made on Linux only (this is ${process.platform})`);
  if (!existsSync(addon)) throw new Error(`${addon} not found: build it first (npm run build:native)`);
  if (!runpathIsOrigin(addon)) {
    throw new Error(`${addon} has no RUNPATH $ORIGIN (it was linked before CMakeLists.txt set it): rebuild it with npm run build:native`);
  }
  const info = addonInfo(addon);
  const cuda = cudaCompiledIn(info);
  if (!cuda && !allowCpuOnly) {
    throw new Error(`${addon} was built without the CUDA backend (${info.backends.cuda.reason}); install the CUDA toolkit and rebuild, or pass --allow-cpu-only`);
  }

  const staging = `${outDir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    copyFileSync(addon, path.join(staging, addonFileName));
    const bundled = [];
    for (const [soname, where] of resolvedLibraries(addon)) {
      if (baseSystemLibraries.includes(soname)) continue;
      if (where === null) throw new Error(`${addon} needs ${soname}, which the dynamic loader does not find here: install it before packaging`);
      const target = path.join(staging, soname);
      copyFileSync(realpathSync(where), target);
      chmodSync(target, 0o755);
      if (!runpathIsOrigin(target)) patchelf(['--set-rpath', '$ORIGIN', target]);
      bundled.push({ file: soname, from: realpathSync(where) });
    }
    const problems = unresolvedOutside(staging);
    if (problems.length > 0) throw new Error(`the packaged folder is not self-contained:\n  ${problems.join('\n  ')}`);
    const packaged = addonInfo(path.join(staging, addonFileName));  // loads from the folder, with the copies
    const files = [addonFileName, ...bundled.map((entry) => entry.file)].map((name) => path.join(staging, name));
    const cudaFacts = cudaBuildFacts(buildDir);
    const systemNeeds = highestVersionNeeds(files, baseSystemLibraries);
    const manifest = {
      platform: `${process.platform}-${process.arch}`,
      libc: 'glibc',
      addon: { file: addonFileName, sha256: sha256(path.join(staging, addonFileName)), bytes: statSync(path.join(staging, addonFileName)).size, version: packaged.addonVersion },
      bundled: bundled.map((entry) => ({ file: entry.file, sha256: sha256(path.join(staging, entry.file)), bytes: statSync(path.join(staging, entry.file)).size, from: entry.from })),
      napiVersion,
      // The newest symbol version of each base-system runtime that any file here needs: the oldest system it loads on.
      glibc: systemNeeds.GLIBC ?? null,
      requires: systemNeeds,
      onednn: packaged.backends.cpu.version,
      cuda: { backend: cuda, version: cuda ? cudaFacts.version : null, code: cuda ? cudaFacts.code : null, runtime: cuda ? 'cudart linked in statically; the driver, cuDNN and nvJPEG are loaded at run time' : null },
    };
    writeFileSync(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(path.dirname(outDir), { recursive: true });
    renameSync(staging, outDir);
    return manifest;
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}
