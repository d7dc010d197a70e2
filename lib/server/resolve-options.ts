/**
 * Validation of the server's options (re-exported by `options.ts`): {@link resolveServerOptions} checks
 * every field of a {@link ServerOptions} (from `createServer`, a config file or the CLI's flags) and
 * applies the defaults;
 * {@link parseModelSpec} reads the CLI's `--model ARCH[=WEIGHTS]`. The same per-field rules serve all
 * three sources, so a value is refused with the same words wherever it came from.
 * @module
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, invalidArgument } from '../errors.js';
import { listCifarModels } from '../models/cifar.js';
import { listModels } from '../models/registry.js';
import { getModelWeights } from '../models/weights.js';
import { checkComputeDType, parseDevice, type ComputeDType, type DeviceSpec } from '../runtime/device.js';
import { defaultBodyArenaBytes, maxBodyArenaBytes } from './ingest.js';
import { booleanCheck, integerIn, oneOf, plainObject, secretMatching, stringMatching, type Check } from './option-checks.js';
import { isWeightsFile, weightsFileExtensions } from './weights-file.js';
import {
  serverDefaults, type LogLevel, type ModelOptions, type ResolvedBatchingOptions, type ResolvedModelOptions, type ResolvedServerOptions,
  type ServerOptions,
} from './types.js';

/** The log levels `logLevel` accepts, most severe first. */
export const logLevels: readonly LogLevel[] = Object.freeze(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** One hour, the longest delay, timeout or deadline any option takes. */
const hourMicroseconds = 3_600_000_000;
const hourMilliseconds = 3_600_000;

/** Every architecture a model may have: the ImageNet registry's and the CIFAR-10 ones. */
function architectures(): string[] {
  return [...listModels(), ...listCifarModels()];
}

const arch: Check<string> = Object.assign(
  (value: unknown, name: string): string => {
    const known = architectures();
    if (typeof value !== 'string' || !known.includes(value)) throw invalidArgument(`one of ${known.join(', ')}`, name, value);
    return value;
  },
  { what: 'an architecture of listModels() or listCifarModels()' },
);

/**
 * The per-field rules of a model's options (`arch` and `weights` aside, which depend on each other).
 * The CLI checks its flags with these under the flags' names. @internal
 */
export const modelFieldChecks = Object.freeze({
  // `.` and `..` would be rewritten away by URL normalisation in clients before they reach the route.
  name: stringMatching(/^(?!\.\.?$)[A-Za-z0-9_.-]+$/, 128, 'a name of 1 to 128 characters A-Z a-z 0-9 _ . - (not . or ..)'),
  version: stringMatching(/^[1-9][0-9]{0,17}$/, 18, 'a positive integer as a string ("1")'),
  device: Object.assign((value: unknown, name: string): DeviceSpec => {
    parseDevice(value, name);
    return value as DeviceSpec;
  }, { what: "'cpu', 'cuda', 'cuda:N' or 'auto'" }) satisfies Check<DeviceSpec>,
  dtype: Object.assign((value: unknown, name: string): ComputeDType => checkComputeDType(value, name), {
    what: "'float32', 'tf32', 'float16', 'bfloat16' or 'int8'",
  }) satisfies Check<ComputeDType>,
  benchmark: booleanCheck,
  inputSize: integerIn(16, 4096),
  inputDatatype: oneOf(['FP32', 'FP16', 'UINT8'] as const),
  inputLayout: oneOf(['NCHW', 'NHWC'] as const),
  imageDecoder: oneOf(['auto', 'cpu'] as const),
  maxBatchSize: integerIn(1, 1024),
  maxQueueDelayMicroseconds: integerIn(0, hourMicroseconds, `a whole number of microseconds from 0 to ${hourMicroseconds} (an hour)`),
  maxQueueSize: integerIn(1, 1_000_000),
  instanceCount: integerIn(1, 64),
  defaultTimeoutMicroseconds: integerIn(0, hourMicroseconds, `a whole number of microseconds from 0 to ${hourMicroseconds} (an hour)`),
});

/** The per-field rules of the server-wide options. The CLI checks its flags with these. @internal */
export const serverFieldChecks = Object.freeze({
  host: stringMatching(/^[A-Za-z0-9.:%_-]+$/, 253, 'a host name or IP address (0.0.0.0, ::, 127.0.0.1, localhost)'),
  port: integerIn(0, 65535),
  grpcPort: integerIn(0, 65535, 'an integer from 0 to 65535, or null for no gRPC endpoint'),
  maxBodyBytes: integerIn(1024, 2 * 1024 ** 3, 'a byte count from 1024 (1 KiB) to 2147483648 (2 GiB)'),
  // It travels in an `Authorization` header, so only characters a header value carries verbatim.
  authToken: secretMatching(/^[\x21-\x7e]+$/, 4096, 'a token of 1 to 4096 visible ASCII characters (no spaces or newlines)'),
  shutdownTimeoutMs: integerIn(0, hourMilliseconds, `a whole number of milliseconds from 0 to ${hourMilliseconds} (an hour)`),
  logLevel: oneOf(logLevels),
  threads: Object.assign((value: unknown, name: string): number => {
    const max = availableParallelism();
    return integerIn(1, max, `an integer from 1 to ${max} (the CPUs this process may use)`)(value, name);
  }, { what: 'an integer from 1 to the CPUs this process may use' }) satisfies Check<number>,
  serverName: stringMatching(/^[A-Za-z0-9_.-]+$/, 128, 'a name of 1 to 128 characters A-Z a-z 0-9 _ . -'),
  allowShm: booleanCheck,
  maxShmRegions: integerIn(1, 65_536),
  maxShmBytes: integerIn(1, 2 ** 40, 'a byte count from 1 to 1099511627776 (1 TiB)'),
  httpThreads: integerIn(1, 64),
  bodyArenaBytes: Object.assign((value: unknown, name: string): number => {
    const max = maxBodyArenaBytes();
    return integerIn(0, max, `a byte count from 0 to ${max} (half this machine's memory)`)(value, name);
  }, { what: "a byte count from 0 to half this machine's memory" }) satisfies Check<number>,
  seed: integerIn(0, Number.MAX_SAFE_INTEGER, `a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`),
  maxJsonBodyBytes: integerIn(1024, 2 * 1024 ** 3, 'a byte count from 1024 (1 KiB) to 2147483648 (2 GiB)'),
  maxJsonValues: integerIn(1024, 2 ** 31, 'a count from 1024 to 2147483648'),
  maxConnections: integerIn(1, 1_000_000),
  idleConnectionTimeoutMs: integerIn(1, hourMilliseconds, `a whole number of milliseconds from 1 to ${hourMilliseconds} (an hour)`),
  keepAliveTimeoutMs: integerIn(1, hourMilliseconds, `a whole number of milliseconds from 1 to ${hourMilliseconds} (an hour)`),
});

const modelKeys = [
  'arch', 'name', 'version', 'weights', 'device', 'dtype', 'benchmark', 'inputSize', 'inputDatatype', 'inputLayout',
  'imageDecoder', 'maxBatchSize', 'preferredBatchSizes', 'maxQueueDelayMicroseconds', 'maxQueueSize', 'instanceCount', 'defaultTimeoutMicroseconds',
] as const satisfies readonly (keyof ModelOptions)[];

const serverKeys = [
  'models', 'host', 'port', 'grpcPort', 'maxBodyBytes', 'authToken', 'shutdownTimeoutMs', 'logLevel', 'threads', 'serverName',
  'allowShm', 'maxShmRegions', 'maxShmBytes', 'httpThreads', 'bodyArenaBytes', 'seed',
  'maxJsonBodyBytes', 'maxJsonValues', 'maxConnections', 'idleConnectionTimeoutMs', 'keepAliveTimeoutMs',
] as const satisfies readonly (keyof ServerOptions)[];

/**
 * Checks a weights value against the architecture: a checkpoint path (by its extension), or for an
 * ImageNet architecture a weights name of its family (`IMAGENET1K_V2`, `DEFAULT`,
 * `ResNet50_Weights.IMAGENET1K_V2`). CIFAR architectures have no registry weights, only files.
 */
function checkWeights(architecture: string, value: unknown, name: string): string {
  const file = `a checkpoint file (${weightsFileExtensions.join(', ')})`;
  if (typeof value === 'string' && isWeightsFile(value)) return value;
  if (!listModels().includes(architecture as never)) throw invalidArgument(`${file}; ${architecture} has no named weights`, name, value);
  const family = getModelWeights(architecture);
  const names = [...family.members().map((w) => w.name), 'DEFAULT'];
  const what = `a weights name of ${family.enumName} (${names.join(', ')}) or ${file}`;
  if (typeof value !== 'string') throw invalidArgument(what, name, value);
  try {
    family.verify(value);
  } catch {
    throw invalidArgument(what, name, value);
  }
  return value;
}

/** `record[key]` through `rule` under `name.key`, or `fallback` when it is absent. */
function field<T, F>(record: Record<string, unknown>, key: string, at: string, rule: Check<T>, fallback: F): T | F {
  const value = record[key];
  return value === undefined ? fallback : rule(value, `${at}.${key}`);
}

function resolveBatching(record: Record<string, unknown>, at: string): ResolvedBatchingOptions {
  const maxBatchSize = field(record, 'maxBatchSize', at, modelFieldChecks.maxBatchSize, serverDefaults.maxBatchSize);
  const preferred = record.preferredBatchSizes;
  const preferredName = `${at}.preferredBatchSizes`;
  if (preferred !== undefined && !Array.isArray(preferred)) throw invalidArgument('an array of batch sizes', preferredName, preferred);
  const sizeRule = integerIn(1, maxBatchSize, `a batch size from 1 to maxBatchSize (${maxBatchSize})`);
  const preferredBatchSizes = (preferred ?? []).map((size: unknown, i: number) => sizeRule(size, `${preferredName}[${i}]`));
  const repeated = preferredBatchSizes.findIndex((size, i) => preferredBatchSizes.indexOf(size) !== i);
  if (repeated >= 0) throw invalidArgument('distinct batch sizes', preferredName, preferred);
  return {
    maxBatchSize,
    preferredBatchSizes: preferredBatchSizes.sort((a, b) => a - b),
    maxQueueDelayMicroseconds: field(record, 'maxQueueDelayMicroseconds', at, modelFieldChecks.maxQueueDelayMicroseconds, serverDefaults.maxQueueDelayMicroseconds),
    maxQueueSize: field(record, 'maxQueueSize', at, modelFieldChecks.maxQueueSize, serverDefaults.maxQueueSize),
    instanceCount: field(record, 'instanceCount', at, modelFieldChecks.instanceCount, null),
    defaultTimeoutMicroseconds: field(record, 'defaultTimeoutMicroseconds', at, modelFieldChecks.defaultTimeoutMicroseconds, serverDefaults.defaultTimeoutMicroseconds),
  };
}

function resolveModel(value: unknown, at: string, partial: boolean): ResolvedModelOptions {
  const record = plainObject(value, at, modelKeys);
  if (record.arch === undefined) throw invalidArgument(`an architecture (one of ${architectures().join(', ')})`, `${at}.arch`, undefined);
  const architecture = arch(record.arch, `${at}.arch`);
  const device = field(record, 'device', at, modelFieldChecks.device, 'cpu');
  const dtype = field(record, 'dtype', at, modelFieldChecks.dtype, 'float32');
  // resolvePlacement refuses this too, but only when the model loads; say it before anything starts.
  // Not for a config file on its own: the CLI's --device may still fill an unset device.
  // bfloat16 passes: whether this CPU runs it natively is resolvePlacement's to say, with the ISA it lacks.
  // int8 passes with a weights file: whether it is quantized is known when the model loads (ServedModel.load).
  const weightsFile = typeof record.weights === 'string' && isWeightsFile(record.weights);
  if (!partial && device === 'cpu' && dtype !== 'float32' && dtype !== 'bfloat16' && !(dtype === 'int8' && weightsFile)) {
    throw invalidArgument(
      "'float32' or 'bfloat16' on device 'cpu', or 'int8' with a quantized weights file (the CPU backend runs float32, bfloat16 with AVX512-BF16 or AMX, and int8 models written by resnet quantize; use device 'cuda' or 'auto')",
      `${at}.dtype`, dtype,
    );
  }
  const inputDatatype = field(record, 'inputDatatype', at, modelFieldChecks.inputDatatype, serverDefaults.inputDatatype);
  return {
    name: field(record, 'name', at, modelFieldChecks.name, architecture),
    version: field(record, 'version', at, modelFieldChecks.version, serverDefaults.version),
    arch: architecture,
    weights: record.weights === undefined || record.weights === null ? null : checkWeights(architecture, record.weights, `${at}.weights`),
    device,
    dtype,
    benchmark: field(record, 'benchmark', at, modelFieldChecks.benchmark, false),
    inputSize: field(record, 'inputSize', at, modelFieldChecks.inputSize, null),
    inputDatatype,
    inputLayout: field(record, 'inputLayout', at, modelFieldChecks.inputLayout, inputDatatype === 'UINT8' ? 'NHWC' : 'NCHW'),
    imageDecoder: field(record, 'imageDecoder', at, modelFieldChecks.imageDecoder, 'auto'),
    batching: resolveBatching(record, at),
  };
}

/**
 * Validates options and applies the defaults ({@link serverDefaults}). Every field is checked (type
 * and range), unknown keys at any level are refused by name with the valid ones listed, and model
 * name and version pairs must be unique. Pure: it reads no file and loads no model (weights files are opened on load).
 * @param options - a {@link ServerOptions}, typically from user code or a config file.
 * @throws InvalidArgumentError "Expected … for models[0].maxBatchSize but received …".
 */
export function resolveServerOptions(options: unknown): ResolvedServerOptions {
  return resolveServer(options, 'server options');
}

/**
 * {@link resolveServerOptions} with `where` naming the options object in messages. `partial` checks
 * options that others will complete (a config file before the CLI's flags): `models` may be absent,
 * and checks between fields that a flag could still change are left for the complete options.
 * @internal
 */
export function resolveServer(options: unknown, where: string, partial = false): ResolvedServerOptions {
  const record = plainObject(options, where, serverKeys);
  const given = partial && record.models === undefined ? [] : record.models;
  if (!Array.isArray(given) || (given.length === 0 && !partial)) {
    throw invalidArgument('an array of at least one model ({ arch, … })', 'models', record.models);
  }
  const models = given.map((model: unknown, i: number) => resolveModel(model, `models[${i}]`, partial));
  // One name may be served in several versions (`/versions/N`; the highest answers unversioned URLs).
  models.forEach((model, i) => {
    const first = models.findIndex((m) => m.name === model.name && m.version === model.version);
    if (first !== i) {
      throw invalidArgument(`a name and version no other model has (models[${first}] is ${model.name} version ${model.version})`, `models[${i}].name`, model.name);
    }
  });
  const top = <K extends keyof typeof serverFieldChecks, F>(key: K, fallback: F): ReturnType<(typeof serverFieldChecks)[K]> | F => {
    const value = record[key];
    return value === undefined ? fallback : (serverFieldChecks[key](value, key) as ReturnType<(typeof serverFieldChecks)[K]>);
  };
  const port = top('port', serverDefaults.port);
  const grpcPort = record.grpcPort === null ? null : top('grpcPort', port === 0 ? 0 : serverDefaults.grpcPort);
  if (grpcPort !== null && grpcPort !== 0 && grpcPort === port && !partial) {
    throw invalidArgument(`a port other than the HTTP port (${port}), or null for no gRPC endpoint`, 'grpcPort', grpcPort);
  }
  return {
    models,
    host: top('host', serverDefaults.host),
    port,
    grpcPort,
    maxBodyBytes: top('maxBodyBytes', serverDefaults.maxBodyBytes),
    authToken: record.authToken === null ? null : top('authToken', null),
    shutdownTimeoutMs: top('shutdownTimeoutMs', serverDefaults.shutdownTimeoutMs),
    logLevel: top('logLevel', serverDefaults.logLevel),
    threads: top('threads', null),
    serverName: top('serverName', serverDefaults.serverName),
    allowShm: top('allowShm', serverDefaults.allowShm),
    maxShmRegions: top('maxShmRegions', serverDefaults.maxShmRegions),
    maxShmBytes: top('maxShmBytes', serverDefaults.maxShmBytes),
    httpThreads: top('httpThreads', null),
    bodyArenaBytes: top('bodyArenaBytes', defaultBodyArenaBytes()),
    seed: record.seed === null ? null : top('seed', null),
    maxJsonBodyBytes: top('maxJsonBodyBytes', serverDefaults.maxJsonBodyBytes),
    maxJsonValues: top('maxJsonValues', serverDefaults.maxJsonValues),
    maxConnections: top('maxConnections', null),
    idleConnectionTimeoutMs: top('idleConnectionTimeoutMs', serverDefaults.idleConnectionTimeoutMs),
    keepAliveTimeoutMs: top('keepAliveTimeoutMs', serverDefaults.keepAliveTimeoutMs),
  };
}

/**
 * Reads the CLI's model spec: `ARCH` (random weights, for load tests) or `ARCH=WEIGHTS`, where WEIGHTS
 * is a weights name of the architecture's family (`resnet18=IMAGENET1K_V1`) or a checkpoint path
 * (`resnet18=path/to/file.pth`). The spec splits at its first `=`: architecture names have none, so a
 * path may contain `=` (`resnet18=runs/lr=0.1/best.pth`).
 * @param name - the flag or field it came from, for messages.
 * @throws InvalidArgumentError for an unknown architecture, empty or unknown weights.
 */
export function parseModelSpec(spec: string, name = 'model spec'): ModelOptions {
  if (typeof spec !== 'string') throw invalidArgument('ARCH or ARCH=WEIGHTS', name, spec);
  const split = spec.indexOf('=');
  const architecture = arch(split < 0 ? spec : spec.slice(0, split), `the architecture of ${name} ${JSON.stringify(spec)}`);
  if (split < 0) return { arch: architecture };
  const weights = spec.slice(split + 1);
  if (weights === '') throw new InvalidArgumentError(`Expected ARCH=WEIGHTS for ${name} but received ${JSON.stringify(spec)}: the weights after "=" are empty`);
  return { arch: architecture, weights: checkWeights(architecture, weights, `the weights of ${name} ${JSON.stringify(spec)}`) };
}
