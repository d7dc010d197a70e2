/**
 * The server's options: resolveServerOptions (every check, the defaults), parseModelSpec and
 * readConfigFile. Pure: no model is built.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { parseModelSpec, readConfigFile, resolveServerOptions } from '../../lib/server/options.js';
import { serverDefaults } from '../../lib/server/types.js';
import { hostMemoryTarget, defaultBodyArenaBytes, defaultHttpThreads, maxBodyArenaBytes } from '../../lib/server/ingest.js';

const temp = mkdtempSync(join(tmpdir(), 'resnet-server-options-'));

function file(name: string, content: string | Buffer): string {
  const path = join(temp, name);
  writeFileSync(path, content);
  return path;
}

/** resolveServerOptions with one model whose fields are `model`'s, and server fields `server`. */
function resolveWith(model: Record<string, unknown>, server: Record<string, unknown> = {}) {
  return resolveServerOptions({ models: [{ arch: 'resnet20', ...model }], ...server });
}

function refused(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('expected an InvalidArgumentError, but nothing was thrown');
}

async function refusedAsync(run: () => Promise<unknown>): Promise<string> {
  const error = await run().then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidArgumentError);
  return (error as Error).message;
}

describe('resolveServerOptions', () => {
  it('applies every default', () => {
    expect(resolveServerOptions({ models: [{ arch: 'resnet18' }] })).toEqual({
      models: [{
        name: 'resnet18', version: '1', arch: 'resnet18', weights: null, device: 'cpu', dtype: 'float32', benchmark: false, inputSize: null,
        inputDatatype: 'FP32', inputLayout: 'NCHW', imageDecoder: 'auto',
        batching: { maxBatchSize: 8, preferredBatchSizes: [], maxQueueDelayMicroseconds: 0, maxQueueSize: 64, instanceCount: null, defaultTimeoutMicroseconds: 0 },
      }],
      host: '0.0.0.0', port: 8000, grpcPort: 8001, maxBodyBytes: 32 * 1024 * 1024, authToken: null, shutdownTimeoutMs: 30_000, logLevel: 'info', threads: null,
      serverName: 'resnet-cudnn', allowShm: false, maxShmRegions: 256, maxShmBytes: 8 * 1024 ** 3,
      httpThreads: null, bodyArenaBytes: Math.min(256 * 1024 ** 2, Math.floor(totalmem() / 8 / 1024 ** 2) * 1024 ** 2),
      seed: null,
      maxJsonBodyBytes: 4 * 1024 * 1024, maxJsonValues: 1024 * 1024, maxConnections: null, idleConnectionTimeoutMs: 10_000, keepAliveTimeoutMs: 5000,
    });
    expect(serverDefaults.port).toBe(8000);
  });

  it('keeps every field given, and sorts the preferred batch sizes', () => {
    const resolved = resolveServerOptions({
      models: [
        {
          arch: 'resnet18', name: 'small.v2_x-1', version: '12', weights: 'IMAGENET1K_V1', device: 'auto', dtype: 'float16', benchmark: true,
          inputSize: 64, inputDatatype: 'UINT8', imageDecoder: 'cpu', maxBatchSize: 16, preferredBatchSizes: [8, 2, 16], maxQueueDelayMicroseconds: 0, maxQueueSize: 1, instanceCount: 3,
          defaultTimeoutMicroseconds: 3_600_000_000,
        },
        { arch: 'resnet20', weights: 'runs/lr=0.1/best.th', device: 'cuda:1', dtype: 'tf32' },
      ],
      host: '127.0.0.1', port: 0, maxBodyBytes: 1024, authToken: 'abc.DEF-~+/=', shutdownTimeoutMs: 0, logLevel: 'silent', threads: 1,
      serverName: 'edge-1', allowShm: true, maxShmRegions: 1, maxShmBytes: 4096, httpThreads: 3, bodyArenaBytes: 0, seed: 42,
    });
    expect(resolved.models[0]).toEqual({
      name: 'small.v2_x-1', version: '12', arch: 'resnet18', weights: 'IMAGENET1K_V1', device: 'auto', dtype: 'float16', benchmark: true, inputSize: 64,
      inputDatatype: 'UINT8', inputLayout: 'NHWC', imageDecoder: 'cpu',
      batching: { maxBatchSize: 16, preferredBatchSizes: [2, 8, 16], maxQueueDelayMicroseconds: 0, maxQueueSize: 1, instanceCount: 3, defaultTimeoutMicroseconds: 3_600_000_000 },
    });
    expect(resolved.models[1]).toMatchObject({ name: 'resnet20', arch: 'resnet20', weights: 'runs/lr=0.1/best.th', device: 'cuda:1', dtype: 'tf32' });
    expect(resolved).toMatchObject({ host: '127.0.0.1', port: 0, maxBodyBytes: 1024, authToken: 'abc.DEF-~+/=', shutdownTimeoutMs: 0, logLevel: 'silent', threads: 1, serverName: 'edge-1', allowShm: true, maxShmRegions: 1, maxShmBytes: 4096, httpThreads: 3, bodyArenaBytes: 0, seed: 42 });
  });

  it('refuses unknown keys at every level, naming the key and listing the valid ones', () => {
    expect(refused(() => resolveWith({}, { prot: 8000 }))).toBe(
      'Expected one of models, host, port, grpcPort, maxBodyBytes, authToken, shutdownTimeoutMs, logLevel, threads, serverName, allowShm, maxShmRegions, maxShmBytes, '
      + 'httpThreads, bodyArenaBytes, seed, maxJsonBodyBytes, maxJsonValues, maxConnections, idleConnectionTimeoutMs, keepAliveTimeoutMs for an option of server options but received "prot"',
    );
    const message = refused(() => resolveWith({ maxBatch: 4 }));
    expect(message).toMatch(/^Expected one of arch, name, version, weights, device, dtype, benchmark, inputSize, inputDatatype, inputLayout, imageDecoder, maxBatchSize, preferredBatchSizes, /);
    expect(message).toMatch(/ for an option of models\[0\] but received "maxBatch"$/);
    // A JSON `__proto__` key is an own key like any other, not a prototype.
    expect(refused(() => resolveServerOptions(JSON.parse('{"models":[{"arch":"resnet20"}],"__proto__":{"port":1}}')))).toMatch(/received "__proto__"$/);
  });

  it('refuses what is not a plain object where one belongs', () => {
    expect(refused(() => resolveServerOptions(null))).toBe('Expected an object for server options but received null');
    expect(refused(() => resolveServerOptions([]))).toBe('Expected an object for server options but received []');
    expect(refused(() => resolveServerOptions({ models: ['resnet18'] }))).toBe('Expected an object for models[0] but received "resnet18"');
    expect(refused(() => resolveServerOptions({ models: [new Map()] }))).toMatch(/^Expected an object for models\[0\]/);
  });

  it('needs at least one model, each with a known architecture', () => {
    expect(refused(() => resolveServerOptions({}))).toBe('Expected an array of at least one model ({ arch, … }) for models but received undefined');
    expect(refused(() => resolveServerOptions({ models: [] }))).toBe('Expected an array of at least one model ({ arch, … }) for models but received []');
    expect(refused(() => resolveServerOptions({ models: [{ name: 'x' }] }))).toMatch(/^Expected an architecture \(one of resnet101, .*resnet20, .*\) for models\[0\]\.arch but received undefined$/);
    expect(refused(() => resolveWith({ arch: 'resnet19' }))).toMatch(/^Expected one of resnet101, resnet152, resnet18, .* for models\[0\]\.arch but received "resnet19"$/);
  });

  it('checks the ranges of the integer fields, at both ends', () => {
    const cases: [string, Record<string, unknown>, Record<string, unknown>, number, number][] = [
      ['port', {}, { port: 0 }, -1, 65536],
      ['maxBodyBytes', {}, { maxBodyBytes: 1024 }, 1023, 2 * 1024 ** 3 + 1],
      ['shutdownTimeoutMs', {}, { shutdownTimeoutMs: 3_600_000 }, -1, 3_600_001],
      ['threads', {}, { threads: availableParallelism() }, 0, availableParallelism() + 1],
      ['maxShmRegions', {}, { maxShmRegions: 65_536 }, 0, 65_537],
      ['maxShmBytes', {}, { maxShmBytes: 2 ** 40 }, 0, 2 ** 40 + 1],
      ['httpThreads', {}, { httpThreads: 64 }, 0, 65],
      ['bodyArenaBytes', {}, { bodyArenaBytes: Math.floor(totalmem() / 2 / 1024 ** 2) * 1024 ** 2 }, -1, Math.floor(totalmem() / 2 / 1024 ** 2) * 1024 ** 2 + 1],
      ['seed', {}, { seed: Number.MAX_SAFE_INTEGER }, -1, 2 ** 53],
      ['maxJsonBodyBytes', {}, { maxJsonBodyBytes: 1024 }, 1023, 2 * 1024 ** 3 + 1],
      ['maxJsonValues', {}, { maxJsonValues: 2 ** 31 }, 1023, 2 ** 31 + 1],
      ['maxConnections', {}, { maxConnections: 1 }, 0, 1_000_001],
      ['idleConnectionTimeoutMs', {}, { idleConnectionTimeoutMs: 3_600_000 }, 0, 3_600_001],
      ['keepAliveTimeoutMs', {}, { keepAliveTimeoutMs: 1 }, 0, 3_600_001],
      ['models[0].maxBatchSize', { maxBatchSize: 1024 }, {}, 0, 1025],
      ['models[0].maxQueueSize', { maxQueueSize: 1 }, {}, 0, 1_000_001],
      ['models[0].instanceCount', { instanceCount: 64 }, {}, 0, 65],
      ['models[0].inputSize', { inputSize: 16 }, {}, 15, 4097],
      ['models[0].maxQueueDelayMicroseconds', { maxQueueDelayMicroseconds: 3_600_000_000 }, {}, -1, 3_600_000_001],
      ['models[0].defaultTimeoutMicroseconds', { defaultTimeoutMicroseconds: 0 }, {}, -1, 3_600_000_001],
    ];
    for (const [name, model, server, low, high] of cases) {
      expect(() => resolveWith(model, server), name).not.toThrow();
      const key = name.replace('models[0].', '');
      const place = name.startsWith('models') ? 'model' : 'server';
      for (const bad of [low, high, 1.5, '8', true, Number.NaN]) {
        const message = refused(() => (place === 'model' ? resolveWith({ [key]: bad }) : resolveWith({}, { [key]: bad })));
        expect(message, `${name} = ${String(bad)}`).toMatch(new RegExp(`^Expected .* for ${name.replace(/[[\].]/g, '\\$&')} but received `));
      }
    }
    expect(refused(() => resolveWith({}, { port: 70000 }))).toBe('Expected an integer from 0 to 65535 for port but received 70000');
  });

  it('takes gRPC on 8001 by default, on any free port with port 0, on none with null; never on the HTTP port', () => {
    expect(resolveWith({}).grpcPort).toBe(8001);
    expect(resolveWith({}, { port: 0 }).grpcPort).toBe(0);
    expect(resolveWith({}, { port: 0, grpcPort: 9001 }).grpcPort).toBe(9001);
    expect(resolveWith({}, { grpcPort: 0 }).grpcPort).toBe(0);
    expect(resolveWith({}, { grpcPort: null }).grpcPort).toBeNull();
    expect(refused(() => resolveWith({}, { grpcPort: 70000 }))).toBe('Expected an integer from 0 to 65535, or null for no gRPC endpoint for grpcPort but received 70000');
    expect(refused(() => resolveWith({}, { grpcPort: 'off' }))).toBe('Expected an integer from 0 to 65535, or null for no gRPC endpoint for grpcPort but received "off"');
    expect(refused(() => resolveWith({}, { port: 9000, grpcPort: 9000 }))).toBe(
      'Expected a port other than the HTTP port (9000), or null for no gRPC endpoint for grpcPort but received 9000');
    expect(refused(() => resolveWith({}, { port: 8001 }))).toMatch(/^Expected a port other than the HTTP port \(8001\)/);
    expect(resolveWith({}, { port: 0, grpcPort: 0 }).grpcPort).toBe(0);
  });

  it('checks names, versions, host, token, log level and server name', () => {
    expect(refused(() => resolveWith({ name: 'a/b' }))).toBe('Expected a name of 1 to 128 characters A-Z a-z 0-9 _ . - (not . or ..) for models[0].name but received "a/b"');
    for (const name of ['', '.', '..', 'a b', 'é', 'x'.repeat(129)]) expect(() => resolveWith({ name }), name).toThrow(InvalidArgumentError);
    expect(resolveWith({ name: '...' }).models[0]!.name).toBe('...');
    expect(refused(() => resolveWith({ version: 2 }))).toBe('Expected a positive integer as a string ("1") for models[0].version but received 2');
    for (const version of ['0', '01', '-1', '1.0', '', ' 1']) expect(() => resolveWith({ version }), version).toThrow(InvalidArgumentError);
    for (const host of ['', 'a b', 'http://x', 'x'.repeat(254)]) expect(() => resolveWith({}, { host }), host).toThrow(InvalidArgumentError);
    for (const host of ['::', '::1', 'localhost', 'fe80::1%eth0']) expect(resolveWith({}, { host }).host).toBe(host);
    for (const authToken of ['', 'a b', 'tok\n', 'é']) expect(() => resolveWith({}, { authToken }), authToken).toThrow(InvalidArgumentError);
    // A bad token is never echoed: it may be a real secret with a stray newline.
    expect(() => resolveWith({}, { authToken: 's3cret-value\n' })).toThrow(
      'Expected a token of 1 to 4096 visible ASCII characters (no spaces or newlines) for authToken but received a string of 13 characters (not shown)');
    expect(resolveWith({}, { authToken: null }).authToken).toBeNull();
    expect(refused(() => resolveWith({}, { logLevel: 'verbose' }))).toBe(
      "Expected 'fatal', 'error', 'warn', 'info', 'debug', 'trace' or 'silent' for logLevel but received \"verbose\"",
    );
    expect(() => resolveWith({}, { serverName: 'my server' })).toThrow(InvalidArgumentError);
    expect(() => resolveWith({ benchmark: 'yes' })).toThrow('Expected a boolean for models[0].benchmark but received "yes"');
    expect(() => resolveWith({}, { allowShm: 'true' })).toThrow('Expected a boolean for allowShm but received "true"');
    expect(refused(() => resolveWith({ inputDatatype: 'INT8' }))).toBe("Expected 'FP32', 'FP16' or 'UINT8' for models[0].inputDatatype but received \"INT8\"");
    expect(refused(() => resolveWith({ inputLayout: 'nhwc' }))).toBe("Expected 'NCHW' or 'NHWC' for models[0].inputLayout but received \"nhwc\"");
    expect(resolveWith({ inputDatatype: 'UINT8' }).models[0]!.inputLayout).toBe('NHWC');
    expect(resolveWith({ inputDatatype: 'UINT8', inputLayout: 'NCHW' }).models[0]!.inputLayout).toBe('NCHW');
    expect(resolveWith({ inputDatatype: 'FP16' }).models[0]!.inputLayout).toBe('NCHW');
    expect(refused(() => resolveWith({ imageDecoder: 'gpu' }))).toBe("Expected 'auto' or 'cpu' for models[0].imageDecoder but received \"gpu\"");
  });

  it('checks devices and dtypes with the runtime wording, and float32, bfloat16 or int8 with a weights file only on the CPU', () => {
    expect(refused(() => resolveWith({ device: 'gpu' }))).toBe(`Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for models[0].device but received "gpu"`);
    expect(refused(() => resolveWith({ device: 'cuda:01' }))).toMatch(/for models\[0\]\.device but received "cuda:01"$/);
    expect(refused(() => resolveWith({ dtype: 'half' }))).toBe(`Expected 'float32', 'tf32', 'float16', 'bfloat16' or 'int8' for models[0].dtype but received "half"`);
    expect(refused(() => resolveWith({ dtype: 'float16' }))).toMatch(/^Expected 'float32' or 'bfloat16' on device 'cpu', or 'int8' with a quantized weights file .* for models\[0\]\.dtype but received "float16"$/);
    // int8 runs a quantized weights file: refused with none (random weights) or a registry name, passed with a file (checked when it loads).
    expect(refused(() => resolveWith({ dtype: 'int8' }))).toMatch(/or 'int8' with a quantized weights file .* but received "int8"$/);
    expect(refused(() => resolveWith({ dtype: 'int8', arch: 'resnet18', weights: 'IMAGENET1K_V1' }))).toMatch(/or 'int8' with a quantized weights file/);
    expect(resolveWith({ dtype: 'int8', weights: 'resnet20-int8.safetensors' }).models[0]!.dtype).toBe('int8');
    // Whether this CPU runs bfloat16 natively is resolvePlacement's decision, when the model loads.
    expect(resolveWith({ dtype: 'bfloat16' }).models[0]!.dtype).toBe('bfloat16');
    // 'auto' falls back to float32 on the CPU when it lands there; that is the runtime's decision.
    expect(resolveWith({ device: 'auto', dtype: 'bfloat16' }).models[0]!.dtype).toBe('bfloat16');
  });

  it('checks preferred batch sizes against maxBatchSize, and distinct', () => {
    expect(refused(() => resolveWith({ maxBatchSize: 4, preferredBatchSizes: [2, 8] }))).toBe(
      'Expected a batch size from 1 to maxBatchSize (4) for models[0].preferredBatchSizes[1] but received 8',
    );
    expect(refused(() => resolveWith({ preferredBatchSizes: [4, 2, 4] }))).toBe('Expected distinct batch sizes for models[0].preferredBatchSizes but received [4,2,4]');
    expect(refused(() => resolveWith({ preferredBatchSizes: 4 }))).toBe('Expected an array of batch sizes for models[0].preferredBatchSizes but received 4');
    expect(resolveWith({ preferredBatchSizes: [] }).models[0]!.batching.preferredBatchSizes).toEqual([]);
  });

  it('checks weights against the architecture: its family names, or a checkpoint file', () => {
    expect(resolveWith({ arch: 'resnet50', weights: 'DEFAULT' }).models[0]!.weights).toBe('DEFAULT');
    expect(resolveWith({ arch: 'resnet50', weights: 'ResNet50_Weights.IMAGENET1K_V2' }).models[0]!.weights).toBe('ResNet50_Weights.IMAGENET1K_V2');
    expect(resolveWith({ arch: 'resnet50', weights: '/m/r50.SAFETENSORS' }).models[0]!.weights).toBe('/m/r50.SAFETENSORS');
    expect(resolveWith({ weights: null }).models[0]!.weights).toBeNull();
    expect(refused(() => resolveWith({ arch: 'resnet50', weights: 'IMAGENET1K_V3' }))).toBe(
      'Expected a weights name of ResNet50_Weights (IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT) or a checkpoint file (.pth, .pt, .th, .tar, .safetensors) for models[0].weights but received "IMAGENET1K_V3"',
    );
    expect(refused(() => resolveWith({ arch: 'resnet18', weights: 'ResNet50_Weights.IMAGENET1K_V1' }))).toMatch(/^Expected a weights name of ResNet18_Weights/);
    expect(refused(() => resolveWith({ weights: 'DEFAULT' }))).toBe(
      'Expected a checkpoint file (.pth, .pt, .th, .tar, .safetensors); resnet20 has no named weights for models[0].weights but received "DEFAULT"',
    );
    expect(() => resolveWith({ arch: 'resnet18', weights: 3 })).toThrow(/for models\[0\]\.weights but received 3$/);
  });

  it('refuses two models of the same name and version, and takes versions of one name', () => {
    expect(refused(() => resolveServerOptions({ models: [{ arch: 'resnet18' }, { arch: 'resnet20', name: 'x' }, { arch: 'resnet34', name: 'resnet18' }] }))).toBe(
      'Expected a name and version no other model has (models[0] is resnet18 version 1) for models[2].name but received "resnet18"',
    );
    const versions = resolveServerOptions({ models: [{ arch: 'resnet18', name: 'm' }, { arch: 'resnet34', name: 'm', version: '2' }] }).models;
    expect(versions.map((m) => [m.name, m.version, m.arch])).toEqual([['m', '1', 'resnet18'], ['m', '2', 'resnet34']]);
    expect(resolveServerOptions({ models: [{ arch: 'resnet18' }, { arch: 'resnet18', name: 'other' }] }).models.map((m) => m.name)).toEqual(['resnet18', 'other']);
  });

  it('treats undefined as absent', () => {
    expect(resolveWith({ maxBatchSize: undefined }, { port: undefined }).port).toBe(8000);
  });
});

describe('parseModelSpec', () => {
  it('reads ARCH and ARCH=WEIGHTS, splitting at the first =', () => {
    expect(parseModelSpec('resnet50')).toEqual({ arch: 'resnet50' });
    expect(parseModelSpec('resnet18=IMAGENET1K_V1')).toEqual({ arch: 'resnet18', weights: 'IMAGENET1K_V1' });
    expect(parseModelSpec('resnet18=path/to/file.pth')).toEqual({ arch: 'resnet18', weights: 'path/to/file.pth' });
    expect(parseModelSpec('resnet20=runs/lr=0.1/best.th')).toEqual({ arch: 'resnet20', weights: 'runs/lr=0.1/best.th' });
  });

  it('refuses an unknown architecture, empty weights and weights of another family', () => {
    expect(refused(() => parseModelSpec('resnet19=x.pth', '--model'))).toMatch(/^Expected one of resnet101, .* for the architecture of --model "resnet19=x.pth" but received "resnet19"$/);
    expect(refused(() => parseModelSpec('', '--model'))).toMatch(/but received ""$/);
    expect(refused(() => parseModelSpec('resnet18=', '--model'))).toBe('Expected ARCH=WEIGHTS for --model but received "resnet18=": the weights after "=" are empty');
    expect(refused(() => parseModelSpec('resnet18=IMAGENET1K_V2'))).toMatch(/^Expected a weights name of ResNet18_Weights \(IMAGENET1K_V1, DEFAULT\) .* for the weights of model spec "resnet18=IMAGENET1K_V2" but received "IMAGENET1K_V2"$/);
    expect(refused(() => parseModelSpec('resnet20=DEFAULT'))).toMatch(/resnet20 has no named weights/);
  });
});

describe('readConfigFile', () => {
  it('reads a JSON config whose result resolves as createServer would', async () => {
    const content = {
      port: 9000,
      logLevel: 'warn',
      models: [{ arch: 'resnet20', weights: 'w.th', maxBatchSize: 4, preferredBatchSizes: [4] }, { arch: 'resnet18', name: 'small', version: '2' }],
    };
    const options = await readConfigFile(file('ok.json', `\uFEFF${JSON.stringify(content, null, 2)}\n`));
    expect(options).toEqual(content);
    expect(resolveServerOptions(options).models.map((m) => `${m.name}/${m.version}`)).toEqual(['resnet20/1', 'small/2']);
  });

  it('refuses duplicate keys, naming the file and the key', async () => {
    const path = file('dup.json', '{"models": [{"arch": "resnet20", "arch": "resnet18"}]}');
    expect(await refusedAsync(() => readConfigFile(path))).toBe(`config file ${JSON.stringify(path)} is not valid JSON: duplicate key "arch" at position 33`);
  });

  it('refuses malformed JSON, a non-object, invalid UTF-8, another extension, a missing or a huge file', async () => {
    const label = (p: string) => `config file ${JSON.stringify(p)}`;
    const truncated = file('cut.json', '{"models": [');
    expect(await refusedAsync(() => readConfigFile(truncated))).toBe(`${label(truncated)} is not valid JSON: unexpected end of text at position 12`);
    const comment = file('comment.json', '{"port": 1 // no comments in JSON\n}');
    expect(await refusedAsync(() => readConfigFile(comment))).toMatch(/is not valid JSON: expected "," at position 11$/);
    const array = file('array.json', '[]');
    expect(await refusedAsync(() => readConfigFile(array))).toBe(`${label(array)}: Expected an object for ${label(array)} but received []`);
    const latin1 = file('latin1.json', Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]));
    expect(await refusedAsync(() => readConfigFile(latin1))).toBe(`${label(latin1)} is not valid UTF-8`);
    const yaml = file('config.yaml', 'port: 1');
    expect(await refusedAsync(() => readConfigFile(yaml))).toBe(`${label(yaml)}: expected a .json file`);
    const missing = join(temp, 'missing.json');
    expect(await refusedAsync(() => readConfigFile(missing))).toMatch(new RegExp(`^Cannot read ${label(missing).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`));
    expect(await refusedAsync(() => readConfigFile(temp + '/'))).toMatch(/expected a \.json file$/);
    const folder = join(temp, 'folder.json');
    mkdirSync(folder);
    expect(await refusedAsync(() => readConfigFile(folder))).toMatch(/^Cannot read config file ".*folder\.json": (not a regular file|EISDIR)/);
    const huge = file('huge.json', `{"serverName": "${'x'.repeat(1024 * 1024)}"}`);
    expect(await refusedAsync(() => readConfigFile(huge))).toBe(`${label(huge)} is ${1024 * 1024 + 18} bytes; a config file may have at most 1048576`);
  });

  it('refuses a field resolveServerOptions refuses, naming the file and the field', async () => {
    const path = file('bad.json', JSON.stringify({ models: [{ arch: 'resnet20', maxBatchSize: 0 }] }));
    expect(await refusedAsync(() => readConfigFile(path))).toBe(
      `config file ${JSON.stringify(path)}: Expected an integer from 1 to 1024 for models[0].maxBatchSize but received 0`,
    );
    const unknown = file('unknown.json', JSON.stringify({ models: [{ arch: 'resnet20' }], listen: 80 }));
    expect(await refusedAsync(() => readConfigFile(unknown))).toMatch(/: Expected one of models, host, port, .* for an option of config file ".*unknown\.json" but received "listen"$/);
    // Integer literals beyond 2^53 stay out of range rather than rounding into it.
    const big = file('big.json', '{"models": [{"arch": "resnet20"}], "port": 18446744073709551616}');
    expect(await refusedAsync(() => readConfigFile(big))).toMatch(/for port but received 18446744073709552000$/);
  });

  it('leaves to the flags what they may still complete: the models, and a model\'s device', async () => {
    // Server settings only: `--model` brings the models.
    expect(await readConfigFile(file('no-models.json', JSON.stringify({ port: 9000, logLevel: 'warn' })))).toEqual({ port: 9000, logLevel: 'warn' });
    // float16 with no device: `--device cuda` may still come; resolving the merged options decides.
    const half = { models: [{ arch: 'resnet50', dtype: 'float16' }] };
    expect(await readConfigFile(file('half.json', JSON.stringify(half)))).toEqual(half);
    expect(() => resolveServerOptions(half)).toThrow("Expected 'float32' or 'bfloat16' on device 'cpu'");
    expect(resolveServerOptions({ models: [{ ...half.models[0], device: 'cuda' }] }).models[0]).toMatchObject({ device: 'cuda', dtype: 'float16' });
    // A models field that is not a list is refused all the same.
    expect(await refusedAsync(() => readConfigFile(file('empty.json', JSON.stringify({ models: 3 }))))).toMatch(/an array of at least one model/);
  });
});

describe('ingest defaults', () => {
  it('takes HTTP on the main thread alone when every model computes on the CPU, else on up to 4 threads leaving a core free', () => {
    expect(defaultHttpThreads(['cpu'], 64)).toBe(1);
    expect(defaultHttpThreads(['cpu', 'cpu'], 2)).toBe(1);
    expect(defaultHttpThreads(['cuda:0'], 1)).toBe(1);
    expect(defaultHttpThreads(['cuda:0'], 2)).toBe(1);
    expect(defaultHttpThreads(['cpu', 'cuda:1'], 3)).toBe(2);
    expect(defaultHttpThreads(['cuda:0'], 5)).toBe(4);
    expect(defaultHttpThreads(['cuda:0'], 128)).toBe(4);
  });

  it('registers body memory for the first GPU a model uses, else for the CPU', () => {
    expect(hostMemoryTarget(['cpu'])).toEqual({ backend: 'cpu' });
    expect(hostMemoryTarget(['cpu', 'cuda:1', 'cuda:0'])).toEqual({ backend: 'cuda', device: 1 });
  });

  it('sizes the body arena at 256 MiB, or an eighth of the memory where less; at most half of it', () => {
    const mib = 1024 ** 2;
    expect(defaultBodyArenaBytes(64 * 1024 * mib)).toBe(256 * mib);
    expect(defaultBodyArenaBytes(1024 * mib)).toBe(128 * mib);
    expect(defaultBodyArenaBytes(1000 * mib + 12345)).toBe(125 * mib);
    expect(maxBodyArenaBytes(16 * 1024 * mib)).toBe(8 * 1024 * mib);
  });
});
