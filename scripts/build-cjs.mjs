#!/usr/bin/env node
// The CommonJS build: every ESM module tsc wrote to dist/ becomes a CommonJS module in dist/cjs/, file by
// file (no bundling, so worker scripts and relative paths keep their shape), with esbuild. The .d.ts files are
// copied beside them, where dist/cjs/package.json makes TypeScript read them as CommonJS declarations.
// Why not tsc twice: `import.meta.url` is an error under `module: commonjs`, and tsc would turn the lazy
// `import()` of ESM-only packages into `require()`; esbuild keeps `import()` and lets us define import.meta.url.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const esmDir = path.join(root, 'dist');
const cjsDir = path.join(esmDir, 'cjs');
// The CLI is an ESM program (bin), never required: it stays out of the CommonJS build.
const skipped = new Set(['cjs', 'cli']);
const moduleUrlShim = 'const __moduleUrl = require("node:url").pathToFileURL(__filename).href;';

rmSync(cjsDir, { recursive: true, force: true });
let modules = 0;
for (const relative of walk(esmDir, '')) {
  const source = path.join(esmDir, relative);
  const target = path.join(cjsDir, relative);
  mkdirSync(path.dirname(target), { recursive: true });
  if (relative.endsWith('.d.ts')) {
    copyFileSync(source, target);
  } else if (relative.endsWith('.js')) {
    const code = readFileSync(source, 'utf8');
    const usesModuleUrl = code.includes('import.meta.url');
    const result = transformSync(code, {
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      sourcefile: relative,
      define: usesModuleUrl ? { 'import.meta.url': '__moduleUrl' } : {},
      banner: usesModuleUrl ? moduleUrlShim : '',
      logLevel: 'error',
    });
    if (result.code.includes('import.meta')) throw new Error(`${relative}: import.meta other than import.meta.url has no CommonJS form`);
    writeFileSync(target, result.code);
    modules += 1;
  }
}
writeFileSync(path.join(cjsDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
console.log(`build-cjs: ${modules} modules → dist/cjs`);

function* walk(dir, prefix) {
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) {
      if (prefix === '' && skipped.has(entry.name)) continue;
      yield* walk(dir, relative);
    } else {
      yield relative;
    }
  }
}
