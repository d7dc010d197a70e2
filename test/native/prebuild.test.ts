// The prebuilt package (scripts/prebuild/package.mjs) made from this checkout's build/Release addon into a
// temporary folder: RUNPATH $ORIGIN on every file (readelf), every library each file needs found inside the
// folder or among the base-system libraries (ldd, LD_LIBRARY_PATH unset), the manifest against the files
// themselves (sha256, GLIBC versions from objdump), and a resnet18 forward through the packaged addon in a child
// process with no LD_LIBRARY_PATH: the same logits as the build it came from, with oneDNN, libgomp and the
// OpenCL loader mapped from the folder. Where `unshare` may make a mount namespace (root), the forward runs
// again with the system's copies of those libraries hidden, as on a machine without oneDNN.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lower, manualSeed, resnet18, Tracer } from '../../lib/index.js';
import { loadNative } from '../../lib/runtime/native.js';
import { packagePrebuild, unresolvedOutside } from '../../scripts/prebuild/package.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const builtAddon = path.join(root, 'build', 'Release', 'resnet_cudnn.node');
const child = path.join(root, 'test', 'fixtures', 'addon-forward-child.mjs');
const hasTool = (tool: string): boolean => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64' ? 'prebuilt binaries are made on linux-x64 only'
  : !existsSync(builtAddon) ? 'build/Release/resnet_cudnn.node is missing: npm run build:native'
  : !hasTool('patchelf') ? 'patchelf is not installed (apt-get install patchelf; scripts/setup.sh installs it)'
  : null;
if (skipReason) console.warn(`prebuild tests skipped: ${skipReason}`);

/** Sonames every machine that runs Node has; written out here so that a wider list in the packager fails this test. */
const baseSystem = ['linux-vdso.so.1', 'ld-linux-x86-64.so.2', 'libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'librt.so.1', 'libgcc_s.so.1', 'libstdc++.so.6'];

const noLoaderPath = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  delete env.LD_PRELOAD;
  return env;
};
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const sharedObjects = (folder: string): string[] => readdirSync(folder).filter((name) => name.endsWith('.node') || /\.so(\.|$)/.test(name)).sort();

interface Manifest {
  platform: string;
  addon: { file: string; sha256: string; version: string };
  bundled: { file: string; sha256: string }[];
  napiVersion: number;
  glibc: string;
  onednn: string;
  cuda: { backend: boolean; version: string | null };
}

describe.skipIf(skipReason !== null)('the prebuilt package', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'prebuild-'));
  const folder = path.join(scratch, 'prebuilds', 'linux-x64');
  let manifest: Manifest;
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  beforeAll(() => {
    manifest = packagePrebuild({ addon: builtAddon, outDir: folder, napiVersion: 8 }) as Manifest;
  });

  it('holds the addon and the non-base libraries it needs, nothing else', () => {
    const files = readdirSync(folder).sort();
    expect(files).toEqual(['libOpenCL.so.1', 'libdnnl.so.2', 'libgomp.so.1', 'manifest.json', 'resnet_cudnn.node'].sort());
    expect(readdirSync(path.dirname(folder))).toEqual(['linux-x64']);  // no staging folder left behind
  });

  it('has RUNPATH $ORIGIN, and nothing else, on the addon and on every bundled library', () => {
    for (const name of sharedObjects(folder)) {
      const dynamic = execFileSync('readelf', ['-d', '-W', path.join(folder, name)], { encoding: 'utf8' });
      const runpaths = dynamic.split('\n').filter((line) => /\((RUNPATH|RPATH)\)/.test(line));
      expect(runpaths, name).toHaveLength(1);
      expect(runpaths[0], name).toMatch(/\(RUNPATH\)\s+Library runpath: \[\$ORIGIN\]$/);
    }
  });

  it('resolves every needed library inside the folder or to the base system (ldd, LD_LIBRARY_PATH unset)', () => {
    const inside = realpathSync(folder);
    for (const name of sharedObjects(folder)) {
      const ldd = execFileSync('ldd', [path.join(folder, name)], { encoding: 'utf8', env: noLoaderPath() });
      const lines = ldd.split('\n').filter((line) => line.trim() !== '');
      expect(lines.length, name).toBeGreaterThan(2);
      for (const line of lines) {
        expect(line, `${name}: ${line}`).not.toContain('not found');
        const soname = line.trim().split(/\s+/)[0]!.split('/').pop()!;
        const target = /=>\s+(\/\S+)/.exec(line)?.[1];
        const ok = baseSystem.includes(soname) || (target !== undefined && path.dirname(realpathSync(target)) === inside);
        expect(ok, `${name}: ${line.trim()}`).toBe(true);
      }
    }
    // The addon reaches all three bundled libraries, libOpenCL.so.1 through libdnnl.so.2's own RUNPATH.
    const addonLdd = execFileSync('ldd', [path.join(folder, 'resnet_cudnn.node')], { encoding: 'utf8', env: noLoaderPath() });
    for (const lib of ['libdnnl.so.2', 'libgomp.so.1', 'libOpenCL.so.1']) expect(addonLdd).toContain(`${lib} => ${inside}/`);
  });

  it('finds what a folder without RUNPATH on its copies would miss', () => {
    const bare = path.join(scratch, 'bare');
    mkdirSync(bare);
    copyFileSync(path.join(folder, 'resnet_cudnn.node'), path.join(bare, 'resnet_cudnn.node'));
    copyFileSync(realpathSync('/usr/lib/x86_64-linux-gnu/libdnnl.so.2'), path.join(bare, 'libdnnl.so.2'));  // no RUNPATH: needs the system's libOpenCL
    const problems = unresolvedOutside(bare) as string[];
    expect(problems.some((line) => line.startsWith('libdnnl.so.2: libOpenCL.so.1 => '))).toBe(true);
    expect(problems.some((line) => line.startsWith('resnet_cudnn.node: libgomp.so.1 => '))).toBe(true);
  });

  it('writes a manifest that matches the files', () => {
    const written = JSON.parse(readFileSync(path.join(folder, 'manifest.json'), 'utf8')) as Manifest;
    expect(written).toEqual(manifest);
    expect(written.platform).toBe('linux-x64');
    expect(written.addon.sha256).toBe(sha256(path.join(folder, 'resnet_cudnn.node')));
    expect(written.addon.sha256).toBe(sha256(builtAddon));  // the addon is copied as it was built, never patched
    expect(written.bundled.map((entry) => entry.file).sort()).toEqual(['libOpenCL.so.1', 'libdnnl.so.2', 'libgomp.so.1']);
    for (const entry of written.bundled) expect(entry.sha256, entry.file).toBe(sha256(path.join(folder, entry.file)));
    expect(written.napiVersion).toBe(8);
    const info = loadNative().info();
    expect(written.addon.version).toBe(info.addonVersion);
    expect(written.onednn).toBe(info.backends.cpu.version);
    expect(written.cuda.backend).toBe(info.backends.cuda.available || !info.backends.cuda.reason.startsWith('built without CUDA'));
    if (written.cuda.backend) expect(written.cuda.version).toMatch(/^\d+\.\d+/);
    // The newest GLIBC_x.y any file references (objdump's dynamic symbol table) is the glibc the folder needs.
    const glibc = sharedObjects(folder)
      .flatMap((name) => [...execFileSync('objdump', ['-T', path.join(folder, name)], { encoding: 'utf8', maxBuffer: 64 << 20 }).matchAll(/\bGLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]!))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .pop();
    expect(written.glibc).toBe(glibc);
  });

  describe('a forward through it in a child process', () => {
    manualSeed(5);
    const model = resnet18({ numClasses: 10 });
    const graph = lower(Tracer.trace(model, [3, 32, 32]));
    const batch = 2;
    const input = Float32Array.from({ length: batch * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37) + 0.25 * Math.cos(i * 0.011));
    let expected: Float32Array;

    beforeAll(async () => {
      using executable = await loadNative().compile(graph, { backend: 'cpu', batch, threads: 1 }).then((e) => ({ e, [Symbol.dispose]: () => e.dispose() }));
      expected = (await executable.e.run(input))[0]!;
    });

    function forward(command: string[], addonFile: string): { outputs: Float32Array[]; mapped: string[]; onednn: string } {
      const request = path.join(scratch, 'request.bin');
      const answer = path.join(scratch, 'answer.bin');
      rmSync(answer, { force: true });
      writeFileSync(request, serialize({ addonFile, graph, batch, input }));
      const run = spawnSync(command[0]!, [...command.slice(1), child, request, answer], { encoding: 'utf8', env: noLoaderPath(), timeout: 120_000 });
      expect(run.status, run.stderr).toBe(0);
      return deserialize(readFileSync(answer)) as { outputs: Float32Array[]; mapped: string[]; onednn: string };
    }

    it('gives the logits of the build it came from, with the bundled libraries mapped', () => {
      const result = forward([process.execPath], path.join(folder, 'resnet_cudnn.node'));
      expect(result.outputs).toHaveLength(1);
      expect(result.outputs[0]!.length).toBe(batch * 10);
      expect(Array.from(result.outputs[0]!)).toEqual(Array.from(expected));
      const inside = realpathSync(folder);
      expect(result.mapped.map((file) => path.basename(file)).sort()).toEqual(['libOpenCL.so.1', 'libdnnl.so.2', 'libgomp.so.1']);
      for (const file of result.mapped) expect(path.dirname(file), file).toBe(inside);
    });

    const unshare = spawnSync('unshare', ['-m', '--propagation', 'private', 'true'], { stdio: 'ignore' }).status === 0;
    it.runIf(unshare)('runs with the system\'s oneDNN, libgomp and OpenCL loader hidden (a mount namespace)', () => {
      const hidden = ['libdnnl.so.2', 'libgomp.so.1', 'libOpenCL.so.1'].map((name) => realpathSync(path.join('/usr/lib/x86_64-linux-gnu', name)));
      const mounts = hidden.map((file) => `mount --bind /dev/null ${file}`).join(' && ');
      // The system's own addon build cannot load there: the hiding works.
      const system = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec "$0" -e "require(process.argv[1])" "$1"`, process.execPath, builtAddon], { encoding: 'utf8', env: noLoaderPath() });
      expect(system.status).not.toBe(0);
      expect(system.stderr).toMatch(/libdnnl\.so\.2: file too short/);
      const result = forward(['unshare', '-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec "$@"`, 'sh', process.execPath], path.join(folder, 'resnet_cudnn.node'));
      expect(Array.from(result.outputs[0]!)).toEqual(Array.from(expected));
    });
    if (!unshare) console.warn('prebuild: the hidden-libraries run is skipped: unshare cannot make a mount namespace here (needs root)');
  });
});
