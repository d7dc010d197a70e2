/**
 * `resnet serve`'s flags and how they combine with a config file into one {@link ServerOptions}:
 * server flags override the file; `--model` flags replace its models; the model flags (`--device` …
 * `--input-size`) apply to every `--model` and fill the fields the file's models leave unset.
 * @module
 */
import { type Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { InvalidArgumentError, invalidArgument } from '../errors.js';
import { integerIn, type Check } from '../server/option-checks.js';
import { readTokenFile } from '../server/token-file.js';
import { logLevels, modelFieldChecks, parseModelSpec, serverFieldChecks } from '../server/resolve-options.js';
import type { BatchingOptions, ImageDatatype, LogLevel, ModelOptions, ServerOptions, TensorLayout } from '../server/types.js';
import type { ComputeDType, DeviceSpec } from '../runtime/device.js';
import { UsageError } from './outcome.js';

/** The environment variable that carries the bearer token when `--auth-token` is not given. */
export const authTokenVariable = 'RESNET_SERVE_AUTH_TOKEN';

/** The parsed flags of `resnet serve` (commander's camelCase names). */
export interface ServeFlags {
  config?: string;
  model?: ModelOptions[];
  host?: string;
  port?: number;
  /** `off`: no gRPC endpoint (commander turns a parsed null into ''). */
  grpcPort?: number | 'off';
  device?: DeviceSpec;
  dtype?: ComputeDType;
  benchmark?: boolean;
  maxBatchSize?: number;
  preferredBatchSizes?: number[];
  maxQueueDelayUs?: number;
  maxQueueSize?: number;
  instanceCount?: number;
  defaultTimeoutUs?: number;
  inputSize?: number;
  inputDatatype?: ImageDatatype;
  inputLayout?: TensorLayout;
  imageDecoder?: 'auto' | 'cpu';
  threads?: number;
  maxBodyBytes?: number;
  authToken?: string;
  authTokenFile?: string;
  shutdownTimeoutMs?: number;
  logLevel?: LogLevel;
  allowShm?: boolean;
  maxShmRegions?: number;
  maxShmBytes?: number;
  httpThreads?: number;
  bodyArenaBytes?: number;
  seed?: number;
  maxJsonBodyBytes?: number;
  maxJsonValues?: number;
  maxConnections?: number;
  idleConnectionTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

/** A commander parser that reports a bad value with the options' own wording. */
function flagParser<T>(parse: (value: string, previous: T | undefined) => T): (value: string, previous: T | undefined) => T {
  return (value, previous) => {
    try {
      return parse(value, previous);
    } catch (error) {
      throw new CommanderArgumentError(error instanceof Error ? error.message : String(error));
    }
  };
}

/** An integer flag checked by `rule`; a non-numeral is reported as typed (`"8k"`), not as NaN. */
function integerFlag(flag: string, rule: Check<number>): (value: string, previous: number | undefined) => number {
  return flagParser((value) => {
    if (!/^[+-]?[0-9]+$/.test(value)) throw invalidArgument(rule.what, flag, value);
    return rule(Number(value), flag);
  });
}

function stringFlag<T>(flag: string, rule: Check<T>): (value: string, previous: T | undefined) => T {
  return flagParser((value) => rule(value, flag));
}

/** `--grpc-port N`, or `off`: no gRPC endpoint. */
function grpcPortFlag(flag: string): (value: string, previous: number | 'off' | undefined) => number | 'off' {
  const port = integerFlag(flag, integerIn(0, 65535, 'an integer from 0 to 65535, or off for no gRPC endpoint'));
  return (value) => (value === 'off' ? 'off' : port(value, undefined));
}

/** `--preferred-batch-sizes 4,8`; each at least 1 here, each at most maxBatchSize once resolved. */
function batchSizesFlag(flag: string): (value: string, previous: number[] | undefined) => number[] {
  const size = modelFieldChecks.maxBatchSize;
  return flagParser((value) => value.split(',').map((part) => {
    const trimmed = part.trim();
    if (!/^[0-9]+$/.test(trimmed)) throw invalidArgument(`comma-separated batch sizes (${size.what})`, flag, value);
    return size(Number(trimmed), flag);
  }));
}

/** Registers `serve`'s options and description on `command`; the caller adds the action. */
export function serveFlags(command: Command): Command {
  return command
    .description('serve models with the Open Inference Protocol (KServe V2, as Triton) over HTTP and gRPC; logs are JSON lines on stdout')
    .option('-c, --config <file>', 'JSON config file with the options of createServer (flags override it)')
    .option('-m, --model <spec>', 'a model to serve, ARCH or ARCH=WEIGHTS (a weights name or a checkpoint file); repeatable; replaces the config file\'s models',
      flagParser<ModelOptions[]>((value, previous) => [...(previous ?? []), parseModelSpec(value, '--model')]))
    .option('--host <host>', 'interface to listen on (default 0.0.0.0)', stringFlag('--host', serverFieldChecks.host))
    .option('-p, --port <n>', 'port to listen on, 0 for any free one (default 8000)', integerFlag('--port', serverFieldChecks.port))
    .option('--grpc-port <n>', 'port of the gRPC endpoint (Triton\'s GRPCInferenceService), 0 for any free one, off for none (default 8001, or 0 with --port 0)',
      grpcPortFlag('--grpc-port'))
    .option('--device <device>', 'model default: cpu, cuda, cuda:N or auto (default cpu)', stringFlag('--device', modelFieldChecks.device))
    .option('--dtype <dtype>', 'model default: float32, tf32, float16, bfloat16 or int8 (tf32 and float16 need a GPU; bfloat16 a GPU or a CPU with AVX512-BF16 or AMX; int8 the CPU and a quantized weights file from resnet quantize)', stringFlag('--dtype', modelFieldChecks.dtype))
    .option('--benchmark', 'model default: time cuDNN\'s algorithms when compiling (GPU only)')
    .option('--max-batch-size <n>', 'model default: largest batch formed, and largest a request may carry (default 8)', integerFlag('--max-batch-size', modelFieldChecks.maxBatchSize))
    .option('--preferred-batch-sizes <list>', 'model default: comma-separated batch sizes the batcher prefers (e.g. 4,8)', batchSizesFlag('--preferred-batch-sizes'))
    .option('--max-queue-delay-us <n>', 'model default: how long a request may wait for others to join its batch (default 0)',
      integerFlag('--max-queue-delay-us', modelFieldChecks.maxQueueDelayMicroseconds))
    .option('--max-queue-size <n>', 'model default: requests that may wait; beyond, 503 with Retry-After (default 64)', integerFlag('--max-queue-size', modelFieldChecks.maxQueueSize))
    .option('--instance-count <n>', 'model default: batches executing at once (default 4 on a GPU; on the CPU 2, each on half the threads, or 1 with one thread)', integerFlag('--instance-count', modelFieldChecks.instanceCount))
    .option('--default-timeout-us <n>', 'model default: queue timeout of a request that sets none, 0 for none (default 0)',
      integerFlag('--default-timeout-us', modelFieldChecks.defaultTimeoutMicroseconds))
    .option('--input-size <n>', 'model default: input height and width (default the weights\' crop size)', integerFlag('--input-size', modelFieldChecks.inputSize))
    .option('--input-datatype <type>', 'model default: the input\'s declared datatype in metadata and /config, FP32, FP16 or UINT8 (every form is accepted; default FP32)',
      stringFlag('--input-datatype', modelFieldChecks.inputDatatype))
    .option('--input-layout <layout>', 'model default: the input\'s declared layout, NCHW or NHWC (default NHWC for UINT8, else NCHW)',
      stringFlag('--input-layout', modelFieldChecks.inputLayout))
    .option('--image-decoder <decoder>', 'model default: what decodes BYTES images, auto (nvJPEG on the model\'s GPU where usable, else the CPU workers) or cpu (default auto)',
      stringFlag('--image-decoder', modelFieldChecks.imageDecoder))
    .option('-t, --threads <n>', 'CPU compute threads, split between a CPU model\'s instances (default all the process may use)', integerFlag('--threads', serverFieldChecks.threads))
    .option('--max-body-bytes <n>', 'largest request body; larger gets 413 (default 33554432, 32 MiB)', integerFlag('--max-body-bytes', serverFieldChecks.maxBodyBytes))
    .addOption(new Option('--auth-token <token>', `require "Authorization: Bearer <token>" on every route but /v2/health/*; `
      + `visible to every user in ps: prefer --auth-token-file or ${authTokenVariable}`)
      .argParser(stringFlag('--auth-token', serverFieldChecks.authToken)))
    .option('--auth-token-file <file>', 'the bearer token as --auth-token, read from FILE (a trailing newline is dropped)')
    .option('--shutdown-timeout-ms <n>', 'how long SIGTERM waits for in-flight requests and open connections before exiting 1 (default 30000)',
      integerFlag('--shutdown-timeout-ms', serverFieldChecks.shutdownTimeoutMs))
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(logLevels))
    .option('--allow-shm', 'accept Triton\'s system shared-memory extension: local clients pass tensors through POSIX shared memory (default off)')
    .option('--max-shm-regions <n>', 'with --allow-shm: shared-memory regions registered at once (default 256)',
      integerFlag('--max-shm-regions', serverFieldChecks.maxShmRegions))
    .option('--max-shm-bytes <n>', 'with --allow-shm: bytes of shared memory mapped at once, all regions (default 8589934592, 8 GiB)',
      integerFlag('--max-shm-bytes', serverFieldChecks.maxShmBytes))
    .option('--http-threads <n>', 'threads that take HTTP requests on the one port (SO_REUSEPORT): each reads, parses and answers its own '
      + 'connections, the models run on the main thread (default 1 when every model is on the CPU, else min(4, CPUs - 1))',
    integerFlag('--http-threads', serverFieldChecks.httpThreads))
    .option('--body-arena-bytes <n>', 'bytes of request-body memory registered with the engine (pinned on a GPU, read in place), split between '
      + 'the HTTP threads; 0 for none (default 268435456, 256 MiB, or an eighth of the memory where less)',
    integerFlag('--body-arena-bytes', serverFieldChecks.bodyArenaBytes))
    .option('--seed <n>', 'seed of the random initialisation of models served without weights: the same seed, the same outputs (default a new one each start)',
      integerFlag('--seed', serverFieldChecks.seed))
    .option('--max-json-body-bytes <n>', 'largest JSON body, or JSON header before binary data; larger gets 413 (default 4194304, 4 MiB: '
      + 'parsing JSON holds the event loop)', integerFlag('--max-json-body-bytes', serverFieldChecks.maxJsonBodyBytes))
    .option('--max-json-values <n>', 'largest JSON request in values, counted before parsing (a number or string 1, an array or object 8, '
      + 'a key 64); more gets 413 (default 1048576: one FP32 224x224 image is 150528)', integerFlag('--max-json-values', serverFieldChecks.maxJsonValues))
    .option('--max-connections <n>', 'connections held at once, split between the HTTP threads; past it new ones are closed at once '
      + '(default the open-file limit less 128, at most 10000)', integerFlag('--max-connections', serverFieldChecks.maxConnections))
    .option('--idle-connection-timeout-ms <n>', 'a new connection that sends nothing within this is closed, and a request head that takes '
      + 'longer from its first byte gets 408 (default 10000)', integerFlag('--idle-connection-timeout-ms', serverFieldChecks.idleConnectionTimeoutMs))
    .option('--keep-alive-timeout-ms <n>', 'how long a keep-alive connection stays open between requests (default 5000)',
      integerFlag('--keep-alive-timeout-ms', serverFieldChecks.keepAliveTimeoutMs));
}

/** Copies the keys of `from` whose value is defined. */
function defined<T extends object>(from: T): Partial<T> {
  return Object.fromEntries(Object.entries(from).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * The warning `resnet serve` prints when the token is on its command line, or null.
 */
export function commandLineTokenWarning(flags: ServeFlags): string | null {
  if (flags.authToken === undefined) return null;
  return 'resnet serve: warning: --auth-token puts the token on the command line, where every user of this machine can read it '
    + `(ps, /proc/PID/cmdline): use --auth-token-file FILE or ${authTokenVariable} instead`;
}

/**
 * The token `--auth-token-file` names, read; undefined without the flag.
 * @throws UsageError when `--auth-token` is given too; InvalidArgumentError when the file cannot be read
 *   or holds no token (see readTokenFile).
 */
export async function tokenFromFileFlag(flags: ServeFlags): Promise<string | undefined> {
  if (flags.authTokenFile === undefined) return undefined;
  if (flags.authToken !== undefined) {
    throw new UsageError('--auth-token and --auth-token-file both give the token: use one (--auth-token-file keeps it out of ps)');
  }
  return readTokenFile(flags.authTokenFile, `--auth-token-file ${JSON.stringify(flags.authTokenFile)}`);
}

/**
 * The options `resnet serve` runs with: the config file's (when given) under the flags, as the module
 * comment says; the bearer token from `--auth-token`, else `--auth-token-file` (`fileToken`, read by
 * {@link tokenFromFileFlag}), else `RESNET_SERVE_AUTH_TOKEN` (when non-empty), else the config file's.
 * Validation of the whole is `createServer`'s; this only combines.
 * @throws InvalidArgumentError when no model is given anywhere, or the token variable is malformed.
 */
export function serveOptions(config: ServerOptions | undefined, flags: ServeFlags, env: NodeJS.ProcessEnv = process.env, fileToken?: string): ServerOptions {
  const modelDefaults: Partial<ModelOptions & BatchingOptions> = defined({
    device: flags.device,
    dtype: flags.dtype,
    benchmark: flags.benchmark,
    inputSize: flags.inputSize,
    inputDatatype: flags.inputDatatype,
    inputLayout: flags.inputLayout,
    imageDecoder: flags.imageDecoder,
    maxBatchSize: flags.maxBatchSize,
    preferredBatchSizes: flags.preferredBatchSizes,
    maxQueueDelayMicroseconds: flags.maxQueueDelayUs,
    maxQueueSize: flags.maxQueueSize,
    instanceCount: flags.instanceCount,
    defaultTimeoutMicroseconds: flags.defaultTimeoutUs,
  });
  const specs = flags.model !== undefined && flags.model.length > 0 ? flags.model : (config?.models ?? []);
  if (specs.length === 0) {
    throw new InvalidArgumentError('resnet serve needs a model: --model ARCH[=WEIGHTS] (repeatable), or a config file with "models"');
  }
  const models = specs.map((model) => ({ ...modelDefaults, ...defined(model) }) as ModelOptions);
  const fromEnv = env[authTokenVariable];
  const envToken = fromEnv === undefined || fromEnv === '' ? undefined : serverFieldChecks.authToken(fromEnv, authTokenVariable);
  const authToken = flags.authToken ?? fileToken ?? envToken;
  return {
    ...config,
    ...defined({
      host: flags.host,
      port: flags.port,
      grpcPort: flags.grpcPort === 'off' ? null : flags.grpcPort,
      maxBodyBytes: flags.maxBodyBytes,
      shutdownTimeoutMs: flags.shutdownTimeoutMs,
      logLevel: flags.logLevel,
      threads: flags.threads,
      authToken,
      allowShm: flags.allowShm,
      maxShmRegions: flags.maxShmRegions,
      maxShmBytes: flags.maxShmBytes,
      httpThreads: flags.httpThreads,
      bodyArenaBytes: flags.bodyArenaBytes,
      seed: flags.seed,
      maxJsonBodyBytes: flags.maxJsonBodyBytes,
      maxJsonValues: flags.maxJsonValues,
      maxConnections: flags.maxConnections,
      idleConnectionTimeoutMs: flags.idleConnectionTimeoutMs,
      keepAliveTimeoutMs: flags.keepAliveTimeoutMs,
    }),
    models,
  };
}
