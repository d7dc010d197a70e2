/**
 * The server's config file: a {@link ServerOptions} as JSON, read strictly.
 * @module
 */
import { extname } from 'node:path';
import { InvalidArgumentError, ResnetError, invalidArgument } from '../errors.js';
import { parseStrictJson, type JsonValue } from '../io/strict-json.js';
import { openOptionFile } from './option-file.js';
import { resolveServer } from './resolve-options.js';
import { readTokenFile } from './token-file.js';
import type { ServerOptions } from './types.js';

/** Far beyond any real config (a few hundred bytes per model); bounds what a wrong path makes us read. */
const maxConfigBytes = 1024 * 1024;

/** The strict reader's value as plain JSON: objects as plain objects, integer literals as numbers. */
function toPlain(value: JsonValue): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, toPlain(v)]));
  if (Array.isArray(value)) return value.map(toPlain);
  // Every integer option is far below 2^53; a larger literal stays out of range as a number.
  return typeof value === 'bigint' ? Number(value) : value;
}

async function readBounded(path: string, label: string): Promise<Buffer> {
  const file = await openOptionFile(path, label);
  try {
    const stats = await file.stat();
    const size = stats.size;
    if (!stats.isFile()) throw new InvalidArgumentError(`Cannot read ${label}: not a regular file`);
    if (size > maxConfigBytes) throw new InvalidArgumentError(`${label} is ${size} bytes; a config file may have at most ${maxConfigBytes}`);
    // Read one byte past the limit: a file that grows after stat is still caught.
    const buffer = Buffer.alloc(maxConfigBytes + 1);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    if (bytesRead > maxConfigBytes) throw new InvalidArgumentError(`${label} is over ${maxConfigBytes} bytes, the most a config file may have`);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/**
 * Reads a config file: one JSON object with the fields of {@link ServerOptions} (camelCase, the same
 * names as `createServer`'s options), `models` included; it is validated here as
 * `resolveServerOptions` would, so the result can go straight to `createServer`. The file must end in
 * `.json`, hold UTF-8 JSON (a leading byte-order mark is skipped) of at most 1 MiB, and repeat no key.
 * In `resnet serve`, flags override the file's server fields, `--model` flags replace its models, and
 * the model flags (`--device` … `--input-size`) fill fields its models leave unset.
 *
 * One field is the file's own: `authTokenFile`, a file that holds the bearer token (a path as given,
 * relative to the working directory, as weights paths are), read here into `authToken` (see
 * {@link readTokenFile}), so that the token need not be written into the config.
 *
 * @example
 * ```json
 * {
 *   "port": 8000,
 *   "logLevel": "info",
 *   "httpThreads": 4,
 *   "models": [
 *     { "arch": "resnet50", "weights": "IMAGENET1K_V2", "device": "cuda", "dtype": "float16",
 *       "maxBatchSize": 32, "preferredBatchSizes": [16, 32], "maxQueueDelayMicroseconds": 2000 },
 *     { "arch": "resnet18", "name": "small", "version": "2", "weights": "/models/resnet18-finetuned.pth" }
 *   ]
 * }
 * ```
 * @throws InvalidArgumentError naming the file and the problem: unreadable, too large, not `.json`,
 * not valid UTF-8 JSON, a duplicate key, or a field `resolveServerOptions` refuses; an `authTokenFile`
 * that cannot be read or holds no token, or one given with `authToken`.
 */
export async function readConfigFile(path: string): Promise<ServerOptions> {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(`Expected a config file path but received ${JSON.stringify(path)}`);
  const label = `config file ${JSON.stringify(path)}`;
  if (extname(path).toLowerCase() !== '.json') throw new InvalidArgumentError(`${label}: expected a .json file`);
  const bytes = await readBounded(path, label);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (error) {
    throw new InvalidArgumentError(`${label} is not valid UTF-8`, { cause: error });
  }
  let options: unknown;
  let tokenFile: string | undefined;
  try {
    options = toPlain(parseStrictJson(text, label));
    tokenFile = takeTokenFile(options);
    // Partial: `models` may come from --model, and a model's device from --device.
    resolveServer(options, label, true);
  } catch (error) {
    if (!(error instanceof ResnetError)) throw error;
    // The strict reader names the file already; field errors name only the field.
    const message = error.message.startsWith(label) ? error.message : `${label}: ${error.message}`;
    throw new InvalidArgumentError(message, { cause: error });
  }
  if (tokenFile !== undefined) {
    (options as ServerOptions).authToken = await readTokenFile(tokenFile, `the authTokenFile ${JSON.stringify(tokenFile)} of ${label}`);
  }
  return options as ServerOptions;
}

/**
 * Removes `authTokenFile` (the one field of the file that is no option of `createServer`) from the file's
 * object and returns it: a path, read into `authToken`. Both at once are refused.
 */
function takeTokenFile(options: unknown): string | undefined {
  if (typeof options !== 'object' || options === null || !Object.hasOwn(options, 'authTokenFile')) return undefined;
  const record = options as Record<string, unknown>;
  const path = record.authTokenFile;
  delete record.authTokenFile;
  if (typeof path !== 'string' || path === '') throw invalidArgument('a file path', 'authTokenFile', path);
  if (record.authToken !== undefined && record.authToken !== null) {
    throw new InvalidArgumentError('authToken and authTokenFile both give the token: keep one (authTokenFile keeps the token out of this file)');
  }
  return path;
}
