// @ts-check
/**
 * `npm run soak`'s flags: parsed, every count and time bounded, and the flags that go to `resnet serve`
 * collected (named ones, and everything after a second `--` verbatim, for server flags this tool does not
 * know yet, such as those another change adds).
 * @module
 */
import { parseArgs } from 'node:util';
import { integer, UsageError } from '../serve/options.mjs';

export { UsageError };

/** Server flags the soak passes on by name, unchanged. */
export const passThrough = [
  'device', 'max-batch-size', 'preferred-batch-sizes', 'max-queue-delay-us', 'max-queue-size', 'instance-count',
  'default-timeout-us', 'max-body-bytes', 'http-threads', 'body-arena-bytes', 'image-decoder', 'shutdown-timeout-ms',
];

/**
 * Parses the soak's command line.
 * @param {string[]} argv the arguments after the script
 * @param {{ cpus: number }} machine
 * @throws UsageError naming the flag and what it expects
 */
export function parseSoakOptions(argv, machine) {
  /** @type {Record<string, string | boolean | undefined>} */
  let flags;
  /** @type {string[]} */
  let extra;
  try {
    ({ values: flags, positionals: extra } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string', default: 'resnet18' },
        seed: { type: 'string', default: '14' },
        weights: { type: 'string' },
        duration: { type: 'string', default: '300' },
        warmup: { type: 'string', default: '20' },
        settle: { type: 'string', default: '60' },
        'valid-clients': { type: 'string', default: '4' },
        'image-clients': { type: 'string', default: '4' },
        'json-clients': { type: 'string', default: '2' },
        'slow-clients': { type: 'string', default: '8' },
        'idle-connections': { type: 'string', default: '300' },
        'keepalive-connections': { type: 'string', default: '50' },
        'probe-interval-ms': { type: 'string', default: '500' },
        'sample-interval-ms': { type: 'string', default: '2000' },
        'request-timeout': { type: 'string', default: '120' },
        threads: { type: 'string', default: String(machine.cpus) },
        'ready-timeout': { type: 'string', default: '300' },
        json: { type: 'string' },
        ...Object.fromEntries(passThrough.map((name) => [name, { type: /** @type {const} */ ('string') }])),
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  // Positionals are only accepted after `--` (verbatim server flags): parseArgs returns both alike, so
  // check that every one of them comes after the terminator.
  const terminator = argv.indexOf('--');
  const verbatim = terminator === -1 ? [] : argv.slice(terminator + 1);
  if (extra.length !== verbatim.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}: server flags the soak does not know go after \`--\``);
  }
  const serverArgs = [];
  for (const name of passThrough) if (flags[name] !== undefined) serverArgs.push(`--${name}`, String(flags[name]));
  serverArgs.push(...verbatim);
  const model = String(flags.model);
  if (model.includes('=')) throw new UsageError(`--model takes an architecture (resnet18, resnet20, …); weights come from --weights FILE or --seed N, got ${JSON.stringify(model)}`);
  return {
    model,
    seed: integer('seed', flags.seed, 0, 2 ** 31),
    weights: typeof flags.weights === 'string' ? flags.weights : null,
    duration: integer('duration', flags.duration, 1, 7200),
    warmup: integer('warmup', flags.warmup, 2, 600),
    settle: integer('settle', flags.settle, 2, 600),
    validClients: integer('valid-clients', flags['valid-clients'], 1, 64),
    imageClients: integer('image-clients', flags['image-clients'], 0, 64),
    jsonClients: integer('json-clients', flags['json-clients'], 0, 64),
    slowClients: integer('slow-clients', flags['slow-clients'], 0, 1024),
    idleConnections: integer('idle-connections', flags['idle-connections'], 0, 10_000),
    keepaliveConnections: integer('keepalive-connections', flags['keepalive-connections'], 0, 10_000),
    probeIntervalMs: integer('probe-interval-ms', flags['probe-interval-ms'], 50, 60_000),
    sampleIntervalMs: integer('sample-interval-ms', flags['sample-interval-ms'], 200, 60_000),
    requestTimeout: integer('request-timeout', flags['request-timeout'], 1, 3600),
    threads: integer('threads', flags.threads, 1, 1024),
    readyTimeout: integer('ready-timeout', flags['ready-timeout'], 1, 3600),
    json: typeof flags.json === 'string' ? flags.json : null,
    serverArgs,
  };
}

/** @typedef {ReturnType<typeof parseSoakOptions>} SoakOptions */
