#!/usr/bin/env node
// npm's `install` script. Where the package ships a prebuilt binary for this platform (glibc Linux on x64) and
// it loads, there is nothing to do. Otherwise, or with RESNET_CUDNN_BUILD_FROM_SOURCE=1, it builds the addon
// from source into build/Release/: with cmake-js (CMakeLists.txt: the CPU backend, and the CUDA backend where
// nvcc is found) when cmake-js resolves and cmake runs, else with node-gyp (binding.gyp: the CPU backend only).
// A failed build exits non-zero with what to install. The loader (lib/runtime/addon-resolution.ts) prefers a
// local build to the prebuilt binary, so a forced source build is the one that loads.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const localBuild = path.join(root, 'build', 'Release', 'resnet_cudnn.node');

function say(line) {
  console.log(`resnet-cudnn: ${line}`);
}

/** Loads `file` in a child process (a bad binary must not take npm down); null when it loads, else why not. */
function loadFailure(file) {
  const script = 'const info = require(process.argv[1]).info(); if (!info.backends.cpu.available) throw new Error("no CPU backend");';
  const check = spawnSync(process.execPath, ['-e', script, file], { encoding: 'utf8', timeout: 120_000 });
  if (check.status === 0) return null;
  const lines = `${check.stderr ?? ''}${check.error?.message ?? ''}`.split('\n').map((line) => line.trim());
  return lines.find((line) => /Error/.test(line)) ?? lines.find((line) => line !== '') ?? `exit status ${check.status}`;
}

function runs(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  return result.status === 0;
}

function commandExists(command) {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The Node headers of the running node, where its installation ships them, so node-gyp needs no download. */
function localNodeDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

/** Builds with cmake-js or node-gyp; true when a build finished. */
function buildFromSource() {
  let cmakeJs = null;
  try {
    cmakeJs = createRequire(path.join(root, 'package.json')).resolve('cmake-js/bin/cmake-js');
  } catch {
    // not installed (e.g. --omit of dependencies): node-gyp below
  }
  if (cmakeJs && commandExists('cmake')) {
    say('building from source with cmake-js (CMakeLists.txt)');
    return runs(process.execPath, [cmakeJs, 'compile', '--release', '--out', 'build']);
  }
  say(`building from source with node-gyp (binding.gyp: CPU backend only; ${cmakeJs ? 'cmake not found' : 'cmake-js not found'})`);
  const nodeDir = process.env.npm_config_nodedir ? [] : localNodeDir() ? [`--nodedir=${localNodeDir()}`] : [];
  const gyp = process.env.npm_config_node_gyp;
  if (gyp && existsSync(gyp)) return runs(process.execPath, [gyp, 'rebuild', ...nodeDir]);
  return runs('npx', ['--yes', 'node-gyp', 'rebuild', ...nodeDir]);
}

async function main() {
  // Shared with the loader: dist/ is what the published package runs.
  const resolution = path.join(root, 'dist', 'runtime', 'addon-resolution.js');
  if (!existsSync(resolution)) {
    say(`${path.relative(root, resolution)} is missing (an unbuilt checkout): run npm run build`);
    return 0;
  }
  const { buildFromSourceVariable, currentPlatform, prebuildFile, sourceBuildAptLine } = await import(pathToFileURL(resolution).href);
  const forced = !['', '0', 'false', undefined].includes(process.env[buildFromSourceVariable]);
  // `npm install` in the package's own checkout: `npm run build` builds it there.
  if (!forced && process.env.INIT_CWD && path.resolve(process.env.INIT_CWD) === root) {
    say('installing the package\'s own checkout: build the addon with npm run build');
    return 0;
  }
  if (!forced) {
    const prebuild = prebuildFile(root, currentPlatform());
    if ('file' in prebuild && existsSync(prebuild.file)) {
      const failure = loadFailure(prebuild.file);
      if (failure === null) {
        say(`using the prebuilt binary ${path.relative(root, prebuild.file)}`);
        return 0;
      }
      say(`the prebuilt binary ${path.relative(root, prebuild.file)} does not load (${failure}); building from source`);
    } else {
      say(`no prebuilt binary fits (${'reason' in prebuild ? prebuild.reason : `${path.relative(root, prebuild.file)} is missing`}); building from source`);
    }
  } else {
    say(`${buildFromSourceVariable} is set: building from source`);
  }
  const failure = buildFromSource() ? loadFailure(localBuild) : 'the build failed (its output is above)';
  if (failure === null) {
    say(`built ${path.relative(root, localBuild)}`);
    return 0;
  }
  console.error([
    `resnet-cudnn: could not build the native addon from source: ${failure}`,
    'A source build needs cmake >= 3.19 (or python3 for node-gyp), make, a C++17 compiler and oneDNN:',
    `  Debian/Ubuntu: ${sourceBuildAptLine}`,
    '  the CUDA backend also needs the CUDA toolkit (nvcc) and cmake',
    `Then run: ${forced ? `${buildFromSourceVariable}=1 ` : ''}npm rebuild resnet-cudnn`,
  ].join('\n'));
  return 1;
}

process.exitCode = await main();
