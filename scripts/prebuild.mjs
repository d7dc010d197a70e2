#!/usr/bin/env node
// `npm run prebuild`: packages build/Release/resnet_cudnn.node as prebuilds/<platform>-<arch>/ with the shared
// libraries it needs beside it and manifest.json (scripts/prebuild/package.mjs). It compiles only when the
// build is missing or stale (older than a native source, linked without RUNPATH $ORIGIN, another package
// version, or without the CUDA backend), so CI, which has just run `npm run build`, does not build twice.
//   node scripts/prebuild.mjs [--out DIR] [--allow-cpu-only]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonInfo, cudaCompiledIn, packagePrebuild, runpathIsOrigin } from './prebuild/package.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addon = path.join(root, 'build', 'Release', 'resnet_cudnn.node');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

function newestSource() {
  let newest = { file: path.join(root, 'CMakeLists.txt'), mtime: statSync(path.join(root, 'CMakeLists.txt')).mtimeMs };
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (statSync(file).mtimeMs > newest.mtime) newest = { file, mtime: statSync(file).mtimeMs };
    }
  };
  walk(path.join(root, 'native'));
  return newest;
}

/** Why the existing build cannot be packaged as it is, or null when it can. */
function staleness(allowCpuOnly) {
  if (!existsSync(addon)) return 'no build yet';
  const source = newestSource();
  if (source.mtime > statSync(addon).mtimeMs) return `${path.relative(root, source.file)} is newer than the build`;
  if (!runpathIsOrigin(addon)) return 'the build has no RUNPATH $ORIGIN';
  let info;
  try {
    info = addonInfo(addon);
  } catch (error) {
    return error.message;
  }
  if (info.addonVersion !== pkg.version) return `the build is version ${info.addonVersion}, the package ${pkg.version}`;
  if (!allowCpuOnly && !cudaCompiledIn(info)) return 'the build has no CUDA backend';
  return null;
}

function main(argv) {
  let outDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  let allowCpuOnly = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') outDir = path.resolve(argv[++i] ?? '');
    else if (argv[i] === '--allow-cpu-only') allowCpuOnly = true;
    else throw new Error(`unknown argument ${argv[i]} (expected --out DIR or --allow-cpu-only)`);
  }
  const stale = staleness(allowCpuOnly);
  if (stale) {
    console.log(`prebuild: building first (${stale})`);
    const build = spawnSync('npm', ['run', 'build:native'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build:native failed (its output is above)');
  } else {
    console.log(`prebuild: packaging the existing ${path.relative(root, addon)}`);
  }
  const manifest = packagePrebuild({ addon, outDir, napiVersion: Math.max(...pkg.binary.napi_versions), allowCpuOnly });
  console.log(`prebuild: wrote ${path.relative(root, outDir) || outDir}: ${[manifest.addon.file, ...manifest.bundled.map((entry) => entry.file)].join(', ')}, manifest.json`);
  console.log(`prebuild: oneDNN ${manifest.onednn}, CUDA backend ${manifest.cuda.backend ? `yes (CUDA ${manifest.cuda.version})` : 'no'}, needs ${Object.entries(manifest.requires).map(([family, version]) => `${family} ${version}`).join(', ')}`);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  console.error(`prebuild: ${error.message}`);
  process.exit(1);
}
