/**
 * Packages the `resnet` command imports only when it needs them, and the message when one is not
 * installed: the server's (fastify, prom-client: optional peers of the library, needed by `resnet serve`
 * only) and the command's own (commander, cli-progress). The message names the npm command that fixes it,
 * rather than Node's `Cannot find package` with a stack.
 * @module
 */
import { UnsupportedError } from '../errors.js';

/** Imports a module by specifier; `(specifier) => import(specifier)` unless a test gives another. */
export type Importer = (specifier: string) => Promise<unknown>;

/** The default {@link Importer}. */
export const nativeImport: Importer = (specifier) => import(specifier);

/**
 * The package an import failed to find (`'fastify'` for `Cannot find package 'fastify' imported from …`
 * or `Cannot find module 'prom-client'`), or null when `error` is not a missing package.
 */
export function missingPackageOf(error: unknown): string | null {
  const e = error as { code?: unknown; message?: unknown };
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' && e?.code !== 'MODULE_NOT_FOUND') return null;
  const m = /Cannot find (?:package|module) '((?:@[^/']+\/)?[^/']+)[^']*'/.exec(String(e.message));
  // A relative or absolute path is a file of this package gone missing, not a package to install.
  if (!m || m[1]!.startsWith('.') || m[1]!.startsWith('/')) return null;
  return m[1]!;
}

/**
 * The error a command reports when `packages` (what `purpose` needs) cannot all be imported:
 * `resnet serve needs fastify and prom-client, and fastify is not installed: npm i fastify prom-client`.
 */
export function missingPackageError(purpose: string, packages: readonly string[], missing: string, cause?: unknown): UnsupportedError {
  const needs = packages.length === 1 ? packages[0]! : `${packages.slice(0, -1).join(', ')} and ${packages.at(-1)!}`;
  return new UnsupportedError(`${purpose} needs ${needs}, and ${missing} is not installed: npm i ${packages.join(' ')}`, { cause });
}

/**
 * Imports each of `packages` (so that a missing one is named before anything else runs), then `module`.
 * @throws UnsupportedError naming the npm command when one of the packages is missing; any other
 *   import error as it is.
 */
export async function importWithPackages<T>(
  purpose: string, packages: readonly string[], module: () => Promise<T>, importer: Importer = nativeImport,
): Promise<T> {
  try {
    for (const name of packages) await importer(name);
    return await module();
  } catch (error) {
    const missing = missingPackageOf(error);
    if (missing !== null) throw missingPackageError(purpose, packages.includes(missing) ? packages : [missing], missing, error);
    throw error;
  }
}
