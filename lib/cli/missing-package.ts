/**
 * Imports for the `resnet` command that name a missing package with the npm command that installs it
 * (`resnet serve`'s fastify and prom-client: optional peers of the library).
 * @module
 */
import { missingPackageError, missingPackageOf } from '../missing-package.js';

/** Imports a module by specifier; `(specifier) => import(specifier)` unless a test gives another. */
export type Importer = (specifier: string) => Promise<unknown>;

/** The default {@link Importer}. */
export const nativeImport: Importer = (specifier) => import(specifier);

/**
 * Imports each of `packages` (so that a missing one is named before anything else runs), then `module`.
 * @throws MissingDependencyError naming the npm command when one of the packages is missing; any other
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
