/**
 * A name for each client connection, unique in the process across HTTP threads (`<thread id>:<n>`), so that a
 * request that travels to the main thread still says which connection it came from: the image workers are shared
 * fairly between connections (vision/fair-queue.ts), whichever thread received them.
 * @module
 */
import { threadId } from 'node:worker_threads';

const keys = new WeakMap<object, string>();
let next = 0;

/** The name of `socket`'s connection: the same for every request on it, kept as long as the socket lives. */
export function connectionKey(socket: object): string {
  let key = keys.get(socket);
  if (key === undefined) {
    key = `${threadId}:${next++}`;
    keys.set(socket, key);
  }
  return key;
}
