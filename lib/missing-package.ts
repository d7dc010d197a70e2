/**
 * Packages imported only when a feature needs them (the server's fastify and prom-client, the bench chart's
 * vega, the CLI's own), and the error when one is not installed: it names the npm command that fixes it,
 * rather than Node's `Cannot find package` with a stack.
 * @module
 */
import { MissingDependencyError } from './errors.js';

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
 * The error a feature reports when `packages` (what `purpose` needs) cannot all be imported:
 * `resnet serve needs fastify and prom-client, and fastify is not installed: npm i fastify prom-client`.
 */
export function missingPackageError(purpose: string, packages: readonly string[], missing: string, cause?: unknown): MissingDependencyError {
  const needs = packages.length === 1 ? packages[0]! : `${packages.slice(0, -1).join(', ')} and ${packages.at(-1)!}`;
  return new MissingDependencyError(`${purpose} needs ${needs}, and ${missing} is not installed: npm i ${packages.join(' ')}`, packages, { cause });
}
