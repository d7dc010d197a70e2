// What binutils' readelf and the dynamic loader's ldd say about a shared object: its NEEDED libraries and
// RUNPATH, the symbol versions it requires, and where each of its libraries resolves. Linux only; the prebuild
// and its tests read their answers.
import { execFileSync } from 'node:child_process';

/** The environment without LD_LIBRARY_PATH (and LD_PRELOAD), so that ldd resolves as a fresh machine would. */
export function cleanLoaderEnv() {
  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  delete env.LD_PRELOAD;
  return env;
}

function run(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', env: cleanLoaderEnv(), stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (error) {
    if (error.code === 'ENOENT') throw new Error(`${command} not found: install binutils (apt-get install binutils)`, { cause: error });
    throw new Error(`${command} ${args.join(' ')} failed: ${String(error.stderr || error.message).trim()}`, { cause: error });
  }
}

/**
 * The dynamic section of `file`: NEEDED sonames in order, RUNPATH and RPATH entries, SONAME.
 * @param {string} file
 * @returns {{ needed: string[], runpath: string[], rpath: string[], soname: string | null }}
 */
export function dynamicSection(file) {
  const text = run('readelf', ['-d', '-W', file]);
  const needed = [];
  let runpath = [];
  let rpath = [];
  let soname = null;
  for (const line of text.split('\n')) {
    const value = /\[(.*)\]\s*$/.exec(line)?.[1];
    if (value === undefined) continue;
    if (line.includes('(NEEDED)')) needed.push(value);
    else if (line.includes('(RUNPATH)')) runpath = value.split(':');
    else if (line.includes('(RPATH)')) rpath = value.split(':');
    else if (line.includes('(SONAME)')) soname = value;
  }
  return { needed, runpath, rpath, soname };
}

/**
 * The symbol versions `file` requires (its .gnu.version_r), by the library that defines them, e.g.
 * `{ 'libc.so.6': ['GLIBC_2.2.5', 'GLIBC_2.34'] }`.
 * @param {string} file
 * @returns {Record<string, string[]>}
 */
export function versionNeeds(file) {
  const text = run('readelf', ['-V', '-W', file]);
  const section = text.split(/Version needs section/)[1] ?? '';
  const needs = {};
  let library = null;
  for (const line of section.split('\n')) {
    const fileMatch = /File:\s*(\S+)/.exec(line);
    if (fileMatch) {
      library = fileMatch[1];
      needs[library] ??= [];
      continue;
    }
    const nameMatch = /Name:\s*(\S+)/.exec(line);
    if (nameMatch && library) needs[library].push(nameMatch[1]);
  }
  return needs;
}

/** Compares dotted versions numerically ('2.34' > '2.4'). */
export function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The highest version of each symbol-version family (GLIBC, GLIBCXX, CXXABI, GCC) that any of `files` requires
 * from the libraries named in `from`: the oldest C and C++ runtime they run on.
 * @param {string[]} files
 * @param {readonly string[]} from sonames, e.g. libc.so.6 and libstdc++.so.6
 * @returns {Record<string, string>}
 */
export function highestVersionNeeds(files, from) {
  const highest = {};
  for (const file of files) {
    for (const [library, names] of Object.entries(versionNeeds(file))) {
      if (!from.includes(library)) continue;
      for (const name of names) {
        const match = /^([A-Z]+)_([0-9.]+)$/.exec(name);
        if (!match) continue;
        const [, family, version] = match;
        if (highest[family] === undefined || compareVersions(version, highest[family]) > 0) highest[family] = version;
      }
    }
  }
  return highest;
}

/**
 * Where the dynamic loader finds each library `file` needs, directly or not (ldd, LD_LIBRARY_PATH unset):
 * soname → absolute path, or null for 'not found'. The vDSO, which is no file, is left out.
 * @param {string} file
 * @returns {Map<string, string | null>}
 */
export function resolvedLibraries(file) {
  const text = run('ldd', [file]);
  const resolved = new Map();
  for (const line of text.split('\n')) {
    const arrow = /^\s*(\S+)\s+=>\s+(not found|(\/\S+))/.exec(line);
    if (arrow) {
      resolved.set(arrow[1], arrow[3] ?? null);
      continue;
    }
    const direct = /^\s*(\/\S+)\s+\(0x/.exec(line);  // the dynamic loader itself: /lib64/ld-linux-x86-64.so.2
    if (direct) resolved.set(direct[1].split('/').pop(), direct[1]);
  }
  return resolved;
}
