/**
 * The compiled server in a process of its own (test/fixtures/serve-dist.mjs): for tests whose clients must
 * not share an event loop with the server (a client and a server on one loop take turns, which hides races
 * on the wire), or that limit the server's process, such as its open files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerOptions } from '../../lib/server/types.js';

const script = fileURLToPath(new URL('../fixtures/serve-dist.mjs', import.meta.url));

/** A server process: where it listens, and how to stop it. */
export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): void;
}

/**
 * Starts `createServer(options)` of dist/ in a child process (under `ulimit -n openFiles` when given) and
 * resolves once it listens. Its stderr goes to the test's.
 */
export async function startServerProcess(options: ServerOptions, limits: { openFiles?: number } = {}): Promise<ServerProcess> {
  const ulimit = limits.openFiles === undefined ? '' : `ulimit -n ${limits.openFiles} && `;
  const child = spawn('bash', ['-c', `${ulimit}exec "$0" "$1" "$2"`, process.execPath, script, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^listening (\S+)$/m.exec(out);
      if (match !== null) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the server process exited (${code}) before listening: ${out}`)));
  });
  return { url, port: Number(new URL(url).port), child, stop: () => child.kill('SIGKILL') };
}
