/**
 * The server's optional peer dependencies, fastify and prom-client (HTTP and metrics) and @grpc/grpc-js and
 * @grpc/proto-loader (the gRPC endpoint): `npm i resnet-cudnn` does not install them (most users never serve),
 * so the server loads them when the first server is created (the gRPC pair when a server starts its gRPC
 * endpoint) and, when they are missing, says what to install.
 * @module
 */
import { createRequire } from 'node:module';
import { missingPackageError, missingPackageOf } from '../missing-package.js';

const require = createRequire(import.meta.url);

/** What the server needs besides the library's own packages (package.json declares them as optional peers). */
export const serverPackages: readonly string[] = Object.freeze(['fastify', 'prom-client', '@grpc/grpc-js', '@grpc/proto-loader']);

/** The packages a server needs: all of {@link serverPackages}, or without the gRPC pair when its endpoint is off. */
export function serverPackagesFor(grpc: boolean): readonly string[] {
  return grpc ? serverPackages : serverPackages.filter((name) => !name.startsWith('@grpc/'));
}

/**
 * `require(name)` for one of the server's peers.
 * @throws MissingDependencyError naming the `npm i` line, when the package is not installed.
 */
export function requireServerPeer<T>(name: 'fastify' | 'prom-client' | '@grpc/grpc-js' | '@grpc/proto-loader'): T {
  try {
    return require(name) as T;
  } catch (cause) {
    if (missingPackageOf(cause) !== name) throw cause;
    throw missingPackageError('resnet-cudnn/server', serverPackages, name, cause);
  }
}
