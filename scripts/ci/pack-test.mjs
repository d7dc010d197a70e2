#!/usr/bin/env node
// The packaging test: what a user gets from `npm i resnet-cudnn`. It packs the repository with `npm pack`,
// installs the tarball into an empty folder with no compiler on PATH, then, still with no compiler and no
// LD_LIBRARY_PATH:
//   - runs a forward from ESM and from CommonJS (same numbers, from the bundled prebuild);
//   - checks that `import 'resnet-cudnn'` loads none of the server's or the CLI's dependencies;
//   - typechecks a strict TypeScript consumer (ESM and CommonJS files);
//   - checks with ldd that every library of the prebuild resolves inside the package or to the base system;
//   - imports `resnet-cudnn/server` once its optional peers are installed.
// It prints a table, writes the figures as JSON (the README's install section quotes them), and exits 1 on any
// failure. Needs `npm run build` and `npm run prebuild` first.
// Usage: node scripts/ci/pack-test.mjs [report.json]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseSystemLibraries, consumerSources, lddProblems } from './pack-consumer.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const reportFile = path.resolve(process.argv[2] ?? path.join(root, 'build', 'pack-report.json'));
const platformDir = `${process.platform}-${process.arch}`;
const results = [];
const figures = { platform: platformDir, node: process.version };

function check(name, fn) {
  const started = performance.now();
  try {
    const detail = fn();
    results.push({ name, ok: true, detail: detail ?? '', seconds: (performance.now() - started) / 1000 });
  } catch (error) {
    results.push({ name, ok: false, detail: String(error?.message ?? error).split('\n').slice(0, 12).join('\n'), seconds: (performance.now() - started) / 1000 });
  }
}

for (const needed of ['dist/index.js', 'dist/cjs/index.js', `prebuilds/${platformDir}/resnet_cudnn.node`]) {
  if (!existsSync(path.join(root, needed))) {
    console.error(`pack-test: ${needed} is missing; run \`npm run build && npm run prebuild\` first`);
    process.exit(1);
  }
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'resnet-pack-'));
const app = path.join(scratch, 'app');
const home = path.join(scratch, 'home');
const bin = path.join(scratch, 'bin');
mkdirSync(app);
mkdirSync(home);
mkdirSync(bin);

// A PATH with node, npm and sh (npm runs install scripts through `sh`) and nothing else: no cc, c++, g++,
// cmake, make or python.
symlinkSync(process.execPath, path.join(bin, 'node'));
symlinkSync('/bin/sh', path.join(bin, 'sh'));
const npmCli = findNpmCli();
writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nexec "${path.join(bin, 'node')}" "${npmCli}" "$@"\n`, { mode: 0o755 });
const bareEnv = {
  PATH: bin,
  HOME: home,
  // The user's npm cache, so a CI run does not fetch every dependency again; registry settings stay the user's.
  npm_config_cache: process.env.npm_config_cache ?? path.join(os.homedir(), '.npm'),
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
  ...(process.env.npm_config_registry ? { npm_config_registry: process.env.npm_config_registry } : {}),
};

let tarball;
check('npm pack', () => {
  const out = execFileSync(process.execPath, [npmCli, 'pack', '--json', '--pack-destination', scratch], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [packed] = JSON.parse(out);
  tarball = path.join(scratch, packed.filename);
  figures.tarballBytes = packed.size;
  figures.unpackedBytes = packed.unpackedSize;
  figures.files = packed.entryCount;
  const names = packed.files.map((file) => file.path);
  for (const required of [`prebuilds/${platformDir}/resnet_cudnn.node`, 'dist/index.js', 'dist/cjs/index.js', 'LICENSE']) {
    if (!names.includes(required)) throw new Error(`the tarball lacks ${required}`);
  }
  const leaked = names.filter((name) => name.startsWith('test/') || name.startsWith('build/') || name.endsWith('.d.ts.map'));
  if (leaked.length > 0) throw new Error(`the tarball carries ${leaked.slice(0, 5).join(', ')}`);
  const maps = names.filter((name) => name.endsWith('.js.map'));
  for (const map of maps.slice(0, 20)) {
    const parsed = JSON.parse(readFileSync(path.join(root, map), 'utf8'));
    if (!Array.isArray(parsed.sourcesContent) || parsed.sourcesContent.some((content) => typeof content !== 'string')) {
      throw new Error(`${map} points at sources it does not carry`);
    }
  }
  return `${(packed.size / 2 ** 20).toFixed(1)} MiB packed, ${(packed.unpackedSize / 2 ** 20).toFixed(1)} MiB unpacked, ${packed.entryCount} files`;
});

check('install, no compiler on PATH', () => {
  writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ name: 'pack-consumer', version: '1.0.0', private: true }, null, 2)}\n`);
  const started = performance.now();
  const install = spawnSync(path.join(bin, 'npm'), ['install', '--no-package-lock', tarball], { cwd: app, env: bareEnv, encoding: 'utf8' });
  figures.installSeconds = (performance.now() - started) / 1000;
  if (install.status !== 0) throw new Error(`npm install failed (${install.status}):\n${install.stderr.slice(-2000)}`);
  const installed = path.join(app, 'node_modules', 'resnet-cudnn');
  if (existsSync(path.join(installed, 'build'))) throw new Error('the install compiled the addon (node_modules/resnet-cudnn/build exists)');
  figures.installedBytes = folderBytes(path.join(app, 'node_modules'));
  figures.installedPackages = readdirSync(path.join(app, 'node_modules')).flatMap((name) => (name.startsWith('@') ? readdirSync(path.join(app, 'node_modules', name)) : [name])).filter((name) => !name.startsWith('.')).length;
  return `${figures.installSeconds.toFixed(1)} s; node_modules ${(figures.installedBytes / 2 ** 20).toFixed(1)} MiB in ${figures.installedPackages} packages`;
});

const sources = consumerSources();
for (const [name, text] of Object.entries(sources)) writeFileSync(path.join(app, name), text);
const outputs = {};
for (const [label, file] of [['ESM', 'forward.mjs'], ['CommonJS', 'forward.cjs']]) {
  check(`forward from ${label}`, () => {
    const run = spawnSync(path.join(bin, 'node'), [file], { cwd: app, env: bareEnv, encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) throw new Error(`exit ${run.status}:\n${(run.stderr || run.stdout).slice(-2000)}`);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1));
    outputs[label] = report;
    const expectedAddon = path.join(realpathSync(app), 'node_modules', 'resnet-cudnn', 'prebuilds', platformDir, 'resnet_cudnn.node');
    if (report.addon !== expectedAddon) throw new Error(`the addon came from ${report.addon}, not the bundled prebuild ${expectedAddon}`);
    if (report.heavyModules.length > 0) throw new Error(`importing resnet-cudnn loaded ${report.heavyModules.join(', ')}`);
    if (!report.logits.every(Number.isFinite)) throw new Error('non-finite logits');
    return `logits[0..3] ${report.logits.slice(0, 3).map((v) => v.toFixed(5)).join(' ')}, backend ${report.backend}`;
  });
}
check('ESM and CommonJS agree', () => {
  const esm = outputs.ESM?.logits;
  const cjs = outputs.CommonJS?.logits;
  if (!esm || !cjs) throw new Error('a forward failed');
  const worst = Math.max(...esm.map((value, i) => Math.abs(value - cjs[i])));
  if (worst !== 0) throw new Error(`the logits differ by up to ${worst}`);
  return `${esm.length} logits, bit for bit`;
});

check('strict TypeScript consumer', () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = spawnSync(path.join(bin, 'node'), [tsc, '-p', 'tsconfig.json'], { cwd: app, env: bareEnv, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stdout.slice(-3000) || run.stderr.slice(-3000));
  return 'consumer.mts (import) and consumer.cts (require) with strict, nodenext';
});

check('ldd: every library resolves inside the package', () => {
  const folder = path.join(app, 'node_modules', 'resnet-cudnn', 'prebuilds', platformDir);
  const problems = lddProblems(folder, baseSystemLibraries);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return `${readdirSync(folder).filter((name) => /\.(node|so)(\.|$)/.test(name)).length} binaries`;
});

check('resnet-cudnn/server with its optional peers', () => {
  const missing = spawnSync(path.join(bin, 'node'), ['server.mjs'], { cwd: app, env: bareEnv, encoding: 'utf8' });
  if (missing.status === 0) throw new Error('resnet-cudnn/server imported without fastify installed');
  const peers = 'fastify, prom-client, @grpc\\/grpc-js and @grpc\\/proto-loader, and \\S+ is not installed: npm i fastify prom-client @grpc\\/grpc-js @grpc\\/proto-loader';
  if (!new RegExp(`resnet-cudnn\\/server needs ${peers}`).test(missing.stderr)) throw new Error(`the error does not give the npm i line:\n${missing.stderr.slice(-800)}`);
  const install = spawnSync(path.join(bin, 'npm'), ['install', '--no-package-lock', 'fastify@^5', 'prom-client@^15', '@grpc/grpc-js@^1.14', '@grpc/proto-loader@^0.8'],
    { cwd: app, env: bareEnv, encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`npm install of the server's peers failed:\n${install.stderr.slice(-1500)}`);
  for (const file of ['server.mjs', 'server.cjs']) {
    const run = spawnSync(path.join(bin, 'node'), [file], { cwd: app, env: bareEnv, encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) throw new Error(`${file}: exit ${run.status}\n${run.stderr.slice(-1500)}`);
  }
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const typed = spawnSync(path.join(bin, 'node'), [tsc, '-p', 'tsconfig.server.json'], { cwd: app, env: bareEnv, encoding: 'utf8' });
  if (typed.status !== 0) throw new Error(`server types: ${typed.stdout.slice(-2000)}`);
  return 'names the npm i line without its peers; with them, ESM and CommonJS answer /v2/health/ready and open gRPC, and its types check';
});

figures.checks = results.map(({ name, ok }) => ({ name, ok }));
mkdirSync(path.dirname(reportFile), { recursive: true });
writeFileSync(reportFile, `${JSON.stringify(figures, null, 2)}\n`);

const width = Math.max(...results.map((result) => result.name.length));
console.log(`\nPackaging test (${platformDir}, Node ${process.version})`);
for (const result of results) {
  const lines = result.detail.split('\n');
  console.log(`${result.ok ? 'PASS' : 'FAIL'}  ${result.name.padEnd(width)}  ${result.seconds.toFixed(1).padStart(5)} s  ${lines[0]}`);
  for (const line of lines.slice(1)) console.log(`      ${' '.repeat(width)}           ${line}`);
}
const failed = results.filter((result) => !result.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
if (failed === 0) rmSync(scratch, { recursive: true, force: true });
else console.log(`(kept ${scratch} for a look)`);
process.exit(failed === 0 ? 0 : 1);

function findNpmCli() {
  const candidates = [
    process.env.npm_execpath,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ];
  const found = candidates.find((candidate) => candidate && candidate.endsWith('npm-cli.js') && existsSync(candidate));
  if (!found) throw new Error('pack-test: cannot find npm-cli.js beside node');
  return found;
}

function folderBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}
