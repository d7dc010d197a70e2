// scripts/install.mjs (npm's `install` script) in fake installed packages: a prebuilt binary that loads ends it
// at once, without a build; one that does not load, or RESNET_CUDNN_BUILD_FROM_SOURCE=1, leads to a source build
// with cmake-js where it resolves and cmake runs, else with node-gyp (npm's, from npm_config_node_gyp); a failed
// build exits non-zero with what to install; `npm install` in the package's own checkout does nothing. The build
// tools are fakes that record their arguments and copy this checkout's addon where the real ones would write it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const builtAddon = path.join(root, 'build', 'Release', 'resnet_cudnn.node');
const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64' ? 'the prebuilt binary path is linux-x64 only'
  : !existsSync(builtAddon) ? 'build/Release/resnet_cudnn.node is missing: npm run build:native'
  : !existsSync(path.join(root, 'dist', 'runtime', 'addon-resolution.js')) ? 'dist/ is missing: npm run build:ts'
  : null;
if (skipReason) console.warn(`install script tests skipped: ${skipReason}`);

const scratch = mkdtempSync(path.join(os.tmpdir(), 'install-script-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// A build tool: records its arguments and working folder, then writes build/Release/resnet_cudnn.node (a copy of
// FAKE_ADDON) unless FAKE_FAIL is set.
const fakeTool = `const fs = require('fs');
fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify({ tool: process.env.FAKE_NAME, args: process.argv.slice(2), cwd: process.cwd() }) + '\\n');
if (process.env.FAKE_FAIL) { console.error('fake build failed'); process.exit(2); }
fs.mkdirSync('build/Release', { recursive: true });
fs.copyFileSync(process.env.FAKE_ADDON, 'build/Release/resnet_cudnn.node');
`;

interface FakePackage {
  root: string;
  log: string;
  gyp: string;
}

function fakePackage(name: string, options: { prebuild?: 'loads' | 'broken'; cmakeJs?: boolean }): FakePackage {
  const pkg = path.join(scratch, name, 'node_modules', 'resnet-cudnn');
  mkdirSync(path.join(pkg, 'scripts'), { recursive: true });
  copyFileSync(path.join(root, 'scripts', 'install.mjs'), path.join(pkg, 'scripts', 'install.mjs'));
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'resnet-cudnn', version: '0.0.0', type: 'module' }));
  symlinkSync(path.join(root, 'dist'), path.join(pkg, 'dist'));
  if (options.prebuild) {
    mkdirSync(path.join(pkg, 'prebuilds', 'linux-x64'), { recursive: true });
    const file = path.join(pkg, 'prebuilds', 'linux-x64', 'resnet_cudnn.node');
    if (options.prebuild === 'loads') copyFileSync(builtAddon, file);
    else writeFileSync(file, 'not an ELF file');
  }
  if (options.cmakeJs) {
    // Beside the package, where npm puts its dependencies.
    const cmakeJs = path.join(scratch, name, 'node_modules', 'cmake-js');
    mkdirSync(path.join(cmakeJs, 'bin'), { recursive: true });
    writeFileSync(path.join(cmakeJs, 'package.json'), JSON.stringify({ name: 'cmake-js', version: '0.0.0' }));
    writeFileSync(path.join(cmakeJs, 'bin', 'cmake-js'), fakeTool);
  }
  const gyp = path.join(scratch, name, 'node-gyp.cjs');
  writeFileSync(gyp, fakeTool);
  return { root: pkg, log: path.join(scratch, name, 'tools.log'), gyp };
}

function install(pkg: FakePackage, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string; tools: { tool: string; args: string[]; cwd: string }[]; ms: number } {
  const started = Date.now();
  const base = { ...process.env };
  delete base.RESNET_CUDNN_BUILD_FROM_SOURCE;
  delete base.npm_config_nodedir;
  const run = spawnSync(process.execPath, [path.join(pkg.root, 'scripts', 'install.mjs')], {
    cwd: pkg.root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...base, INIT_CWD: path.dirname(path.dirname(pkg.root)), npm_config_node_gyp: pkg.gyp, FAKE_LOG: pkg.log, FAKE_ADDON: builtAddon, ...env },
  });
  const tools = existsSync(pkg.log) ? readFileSync(pkg.log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { tool: string; args: string[]; cwd: string }) : [];
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, tools, ms: Date.now() - started };
}

describe.skipIf(skipReason !== null)('scripts/install.mjs', () => {
  it('uses a prebuilt binary that loads, quickly, and builds nothing', () => {
    const pkg = fakePackage('prebuilt', { prebuild: 'loads', cmakeJs: true });
    const run = install(pkg);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('resnet-cudnn: using the prebuilt binary prebuilds/linux-x64/resnet_cudnn.node');
    expect(run.tools).toEqual([]);
    expect(existsSync(path.join(pkg.root, 'build'))).toBe(false);
    expect(run.ms).toBeLessThan(20_000);
  });

  it('builds with cmake-js when the prebuilt binary does not load', () => {
    const pkg = fakePackage('broken-cmake', { prebuild: 'broken', cmakeJs: true });
    const run = install(pkg, { FAKE_NAME: 'cmake-js' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/the prebuilt binary prebuilds\/linux-x64\/resnet_cudnn\.node does not load \(.*(invalid ELF header|file too short).*\); building from source/);
    expect(run.stdout).toContain('building from source with cmake-js');
    expect(run.tools).toEqual([{ tool: 'cmake-js', args: ['compile', '--release', '--out', 'build'], cwd: pkg.root }]);
    expect(run.stdout).toContain('resnet-cudnn: built build/Release/resnet_cudnn.node');
  });

  it('builds with node-gyp where cmake-js does not resolve, with the local Node headers', () => {
    const pkg = fakePackage('gyp', { cmakeJs: false });
    const run = install(pkg, { FAKE_NAME: 'node-gyp' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('no prebuilt binary fits (prebuilds/linux-x64/resnet_cudnn.node is missing); building from source');
    expect(run.stdout).toContain('building from source with node-gyp (binding.gyp: CPU backend only; cmake-js not found)');
    const prefix = path.resolve(path.dirname(process.execPath), '..');
    const nodeDir = existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
    expect(run.tools).toEqual([{ tool: 'node-gyp', args: ['rebuild', ...nodeDir], cwd: pkg.root }]);
  });

  it('builds from source when RESNET_CUDNN_BUILD_FROM_SOURCE=1, even with a prebuilt binary that loads', () => {
    const pkg = fakePackage('forced', { prebuild: 'loads', cmakeJs: true });
    const run = install(pkg, { RESNET_CUDNN_BUILD_FROM_SOURCE: '1', FAKE_NAME: 'cmake-js' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('RESNET_CUDNN_BUILD_FROM_SOURCE is set: building from source');
    expect(run.tools.map((t) => t.tool)).toEqual(['cmake-js']);
    expect(existsSync(path.join(pkg.root, 'build', 'Release', 'resnet_cudnn.node'))).toBe(true);
    // 0 leaves the choice to the prebuilt binary.
    const unforced = fakePackage('unforced', { prebuild: 'loads', cmakeJs: true });
    expect(install(unforced, { RESNET_CUDNN_BUILD_FROM_SOURCE: '0' }).tools).toEqual([]);
  });

  it('exits non-zero with what to install when the build fails', () => {
    const pkg = fakePackage('fails', { prebuild: 'broken' });
    const run = install(pkg, { FAKE_NAME: 'node-gyp', FAKE_FAIL: '1' });
    expect(run.status).toBe(1);
    expect(run.tools.map((t) => t.tool)).toEqual(['node-gyp']);
    expect(run.stderr).toContain('resnet-cudnn: could not build the native addon from source: the build failed (its output is above)');
    expect(run.stderr).toContain('  Debian/Ubuntu: apt-get install cmake g++ make libdnnl-dev ocl-icd-opencl-dev');
    expect(run.stderr).toContain('Then run: npm rebuild resnet-cudnn');
  });

  it('exits non-zero when the build finishes but its addon does not load', () => {
    const pkg = fakePackage('bad-build', { cmakeJs: false });
    const garbage = path.join(scratch, 'garbage.node');
    writeFileSync(garbage, 'not an ELF file');
    const run = install(pkg, { FAKE_NAME: 'node-gyp', FAKE_ADDON: garbage });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/could not build the native addon from source: .*(invalid ELF header|file too short)/);
  });

  it('does nothing in the package\'s own checkout (npm install there: npm run build builds it)', () => {
    const pkg = fakePackage('own-checkout', { prebuild: 'broken', cmakeJs: true });
    const run = install(pkg, { INIT_CWD: pkg.root });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('installing the package\'s own checkout: build the addon with npm run build');
    expect(run.tools).toEqual([]);
  });
});
