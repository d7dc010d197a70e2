/**
 * The package's root folder, found from a module inside it.
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const packageName = 'resnet-cudnn';
const found = new Map<string, string>();

/**
 * The folder of resnet-cudnn's package.json, walking up from `moduleUrl` (a module's `import.meta.url`).
 * Walking rather than counting `..` because the same module runs from `lib/` (tests), `dist/` (ESM) and
 * `dist/cjs/` (CommonJS, one level deeper, beside a package.json of its own that only sets the module type).
 */
export function packageRootOf(moduleUrl: string): string {
  const start = path.dirname(fileURLToPath(moduleUrl));
  const cached = found.get(start);
  if (cached !== undefined) return cached;
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (nameOf(path.join(dir, 'package.json')) === packageName) {
      found.set(start, dir);
      return dir;
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`resnet-cudnn: no package.json named "${packageName}" above ${start}; the package's files were moved apart`);
    }
  }
}

/** The manifest's `name`, or undefined when there is no readable manifest there. */
function nameOf(manifest: string): string | undefined {
  try {
    const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown };
    return typeof parsed.name === 'string' ? parsed.name : undefined;
  } catch {
    return undefined;
  }
}
