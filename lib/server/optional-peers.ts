/**
 * The server's optional peer dependencies, fastify and prom-client: `npm i resnet-cudnn` does not install them
 * (most users never serve), so the server loads them when the first server is created and, when they are
 * missing, says what to install.
 * @module
 */
import { createRequire } from 'node:module';
import { MissingDependencyError } from '../errors.js';

const require = createRequire(import.meta.url);

/** What the server needs, with the ranges package.json declares as peers. */
export const serverPeers = ['fastify@^5', 'prom-client@^15'] as const;

/**
 * `require(name)` for one of the server's peers.
 * @throws MissingDependencyError naming the `npm i` line, when the package is not installed.
 */
export function requireServerPeer<T>(name: 'fastify' | 'prom-client'): T {
  try {
    return require(name) as T;
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code !== 'MODULE_NOT_FOUND' || !String((cause as Error).message).includes(`'${name}'`)) throw cause;
    throw new MissingDependencyError(
      `resnet-cudnn/server needs ${name}, an optional peer dependency that is not installed: run \`npm i ${serverPeers.join(' ')}\``,
      [...serverPeers],
      { cause },
    );
  }
}
