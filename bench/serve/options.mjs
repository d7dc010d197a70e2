// @ts-check
/**
 * `npm run bench:serve`'s flags: parsed, every count and time bounded (a typo cannot start an hour-long
 * run), and the flags that go to `resnet serve` unchanged collected.
 * @module
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The repository root (this file is bench/serve/options.mjs). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The photos the JPEG corpus is cut from, unless `--photos` names others: `images/` of the test data folder
 * (RESNET_CUDNN_DATA, else ../shared/data from the repository root, as test/helpers/test-data.ts).
 */
export const defaultPhotos = path.join(
  process.env.RESNET_CUDNN_DATA ? path.resolve(process.env.RESNET_CUDNN_DATA) : path.resolve(repoRoot, '..', 'shared', 'data'),
  'images',
);

/** What a request carries: see bench/serve/requests.mjs. */
export const inputKinds = /** @type {const} */ (['fp32', 'uint8', 'jpeg', 'shm']);
/** @typedef {typeof inputKinds[number]} InputKind */

/** The datatypes a shared-memory input may have. */
export const shmDatatypes = /** @type {const} */ (['uint8', 'fp32']);

/** Flags handed to `resnet serve` unchanged (model and batching settings). */
export const passThrough = [
  'device', 'dtype', 'input-size', 'max-batch-size', 'preferred-batch-sizes', 'max-queue-delay-us', 'max-queue-size',
  'instance-count', 'default-timeout-us', 'max-body-bytes', 'http-threads', 'body-arena-bytes',
];

/** A bad flag: the message says what was expected; bench:serve prints it without a stack. */
export class UsageError extends Error {
  /** @override */
  name = 'UsageError';
}

/**
 * The integer flag `--name`, within min..max.
 * @param {string} name @param {unknown} value @param {number} min @param {number} max
 * @returns {number}
 * @throws UsageError naming the flag, the range and what was given
 */
export function integer(name, value, min, max) {
  const n = Number(value);
  if (typeof value !== 'string' || !/^\s*\d+\s*$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${name} expects an integer in ${min}..${max} but received ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * A comma list whose items each pass `item`, at most `most` of them, no repeats.
 * @template T
 * @param {string} name @param {string} value @param {number} most @param {(part: string) => T} item
 * @returns {T[]}
 */
function list(name, value, most, item) {
  const items = value.split(',').map((part) => item(part.trim()));
  if (items.length > most) throw new UsageError(`--${name} lists ${items.length} values; at most ${most}`);
  const repeated = items.find((v, i) => items.indexOf(v) !== i);
  if (repeated !== undefined) throw new UsageError(`--${name} lists ${JSON.stringify(repeated)} twice`);
  return items;
}

/**
 * @param {string} name @param {string} value @param {readonly string[]} allowed
 * @returns {string}
 */
function oneOf(name, value, allowed) {
  if (!allowed.includes(value)) throw new UsageError(`--${name} expects one of ${allowed.join(', ')} but received ${JSON.stringify(value)}`);
  return value;
}

/** The client processes by default: one per four CPUs, 1..4 (the rest are the server's). */
export function defaultClients(/** @type {number} */ cpus) {
  return Math.max(1, Math.min(4, Math.floor(cpus / 4)));
}

/**
 * Parses bench:serve's command line.
 * @param {string[]} argv the arguments after the script
 * @param {{ cpus: number }} machine
 * @throws UsageError naming the flag and what it expects
 */
export function parseOptions(argv, machine) {
  /** @type {Record<string, string | boolean | undefined>} */
  let flags;
  try {
    ({ values: flags } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string', default: 'resnet18' },
        input: { type: 'string', default: 'fp32' },
        concurrency: { type: 'string', default: '1,2,4,8,16,32' },
        clients: { type: 'string', default: String(defaultClients(machine.cpus)) },
        'images-per-request': { type: 'string', default: '1' },
        'shm-datatype': { type: 'string', default: 'uint8' },
        photos: { type: 'string', default: defaultPhotos },
        'jpeg-count': { type: 'string', default: '24' },
        duration: { type: 'string', default: '10' },
        warmup: { type: 'string', default: '3' },
        soak: { type: 'string', default: '0' },
        rounds: { type: 'string', default: '3' },
        threads: { type: 'string', default: String(machine.cpus) },
        'engine-iters': { type: 'string', default: '20' },
        'ready-timeout': { type: 'string', default: '300' },
        json: { type: 'boolean', default: false },
        ...Object.fromEntries(passThrough.map((name) => [name, { type: /** @type {const} */ ('string') }])),
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const spec = String(flags.model);
  const inputs = /** @type {InputKind[]} */ (list('input', String(flags.input), inputKinds.length, (v) => oneOf('input', v, inputKinds)));
  const serverArgs = [];
  for (const name of passThrough) if (flags[name] !== undefined) serverArgs.push(`--${name}`, String(flags[name]));
  return {
    spec,
    arch: spec.split('=')[0] ?? spec,
    inputs,
    levels: list('concurrency', String(flags.concurrency), 12, (v) => integer('concurrency', v, 1, 1024)),
    clients: integer('clients', flags.clients, 1, 64),
    imagesPerRequest: integer('images-per-request', flags['images-per-request'], 1, 256),
    shmDatatype: /** @type {typeof shmDatatypes[number]} */ (oneOf('shm-datatype', String(flags['shm-datatype']), shmDatatypes)),
    photos: path.resolve(String(flags.photos)),
    jpegCount: integer('jpeg-count', flags['jpeg-count'], 1, 256),
    duration: integer('duration', flags.duration, 1, 600),
    warmup: integer('warmup', flags.warmup, 0, 60),
    soak: integer('soak', flags.soak, 0, 3600),
    rounds: integer('rounds', flags.rounds, 1, 20),
    threads: integer('threads', flags.threads, 1, 1024),
    engineIters: integer('engine-iters', flags['engine-iters'], 1, 1000),
    readyTimeout: integer('ready-timeout', flags['ready-timeout'], 1, 3600),
    json: Boolean(flags.json),
    /** Pass-through flags by name (`device`, `dtype`, …), as given. */
    server: /** @type {Record<string, string | undefined>} */ (Object.fromEntries(passThrough.map((name) => [name, flags[name]]))),
    serverArgs,
  };
}

/** @typedef {ReturnType<typeof parseOptions>} BenchOptions */
