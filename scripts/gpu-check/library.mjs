// The library under test, as built: `dist/` and the addon in `build/Release`. The check imports the
// package entry point only (it installs the forward executor and the device resolver) and node builtins:
// a GPU machine has no dev dependencies.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root: this file is `scripts/gpu-check/library.mjs`. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Imports `dist/index.js`. A failure (dist not built, a runtime dependency such as protobufjs missing
 * from node_modules, the addon failing to load later) is returned, not thrown, with the fix.
 * @returns {Promise<{ lib: any, error?: undefined } | { lib?: undefined, error: string }>}
 */
export async function loadLibrary() {
  const entry = path.join(repoRoot, 'dist', 'index.js');
  try {
    return { lib: await import(pathToFileURL(entry).href) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = /Cannot find (package|module)/.test(message)
      ? 'build it (npm run build) here, and on a machine without npm pack the runtime packages with scripts/gpu-check/pack-device.sh and carry .device'
      : 'rebuild with npm run build';
    return { error: `cannot import ${entry}: ${message} (${hint})` };
  }
}
