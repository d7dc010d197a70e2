/**
 * `resnet serve`: how flags, the config file and the environment combine (serveOptions, in process), and
 * the command as a user runs it (the compiled CLI in a child process; needs `npm run build:ts`, skipped
 * with a message otherwise): ready after load, an infer round trip checked against PyTorch's logits, gRPC beside
 * HTTP, a graceful SIGTERM, a second signal and the shutdown deadline, a model that fails to load, bad flags.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { cifar10Classes, readCifar10 } from '../../lib/io/cifar10.js';
import { cifarResNetNormalization, getCifarModel } from '../../lib/models/cifar.js';
import { saveCheckpoint } from '../../lib/io/torch-save.js';
import { serveFlags, serveOptions, type ServeFlags } from '../../lib/cli/serve-options.js';
import { Command } from 'commander';
import type { ServerOptions } from '../../lib/server/types.js';
import { bearer, inferenceClient } from '../helpers/grpc-client.js';
import { maxRelativeError } from '../helpers/helpers.js';
import { cli, cliBuilt } from '../helpers/cli-runner.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';
import { killServers, serve, type Serving } from '../helpers/serve-process.js';

const built = cliBuilt;
if (!built) console.warn(`test/server-cli.test.ts: skipped the command, ${cli} is missing (run npm run build:ts)`);
const checkpoint = dataPath('cifar10-resnets', 'resnet20-12fca82f.th');
const cifarExact = dataPath('cifar10', 'test_first20_exact.bin');
const hasCifar = dataAbsent('resnet serve\'s round trip against PyTorch', checkpoint, cifarExact) === null;
/** PyTorch's float64 logits of resnet20-12fca82f on test_first20_exact.bin (generator: fixtures/cifar/torch-cifar-resnets.py). */
const torchLogits = (JSON.parse(readFileSync(new URL('../fixtures/cifar/torch-cifar-resnets.json', import.meta.url), 'utf8')) as {
  models: Record<string, { exactLogits: number[] }>;
}).models.resnet20!.exactLogits;

const temp = mkdtempSync(join(tmpdir(), 'resnet-serve-cli-'));
const run = promisify(execFile);

function writeJson(name: string, content: unknown): string {
  const path = join(temp, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('serveOptions: flags over the config file', () => {
  const config: ServerOptions = {
    host: '0.0.0.0', port: 9000, logLevel: 'warn', authToken: 'from-file', shutdownTimeoutMs: 5000,
    models: [{ arch: 'resnet20', weights: 'a.th', maxBatchSize: 4 }, { arch: 'resnet18', name: 'small', device: 'auto' }],
  };

  it('flags override server fields; model flags fill what the file\'s models leave unset', () => {
    const flags: ServeFlags = { port: 0, device: 'cpu', maxBatchSize: 16, maxQueueDelayUs: 500, benchmark: true, threads: 1 };
    expect(serveOptions(config, flags, {})).toEqual({
      host: '0.0.0.0', port: 0, logLevel: 'warn', authToken: 'from-file', shutdownTimeoutMs: 5000, threads: 1,
      models: [
        { arch: 'resnet20', weights: 'a.th', maxBatchSize: 4, device: 'cpu', maxQueueDelayMicroseconds: 500, benchmark: true },
        { arch: 'resnet18', name: 'small', device: 'auto', maxBatchSize: 16, maxQueueDelayMicroseconds: 500, benchmark: true },
      ],
    });
  });

  it('--model replaces the file\'s models and takes every model flag', () => {
    const flags: ServeFlags = {
      model: [{ arch: 'resnet50' }, { arch: 'resnet18', weights: 'IMAGENET1K_V1' }],
      dtype: 'float16', device: 'cuda:1', inputSize: 160, preferredBatchSizes: [2, 4], maxQueueSize: 3, instanceCount: 5, defaultTimeoutUs: 7,
    };
    const defaults = { dtype: 'float16', device: 'cuda:1', inputSize: 160, preferredBatchSizes: [2, 4], maxQueueSize: 3, instanceCount: 5, defaultTimeoutMicroseconds: 7 };
    expect(serveOptions(config, flags, {}).models).toEqual([{ arch: 'resnet50', ...defaults }, { arch: 'resnet18', weights: 'IMAGENET1K_V1', ...defaults }]);
    expect(serveOptions(undefined, flags, {})).toEqual({ models: serveOptions(config, flags, {}).models });
  });

  it('takes the token from --auth-token, else RESNET_SERVE_AUTH_TOKEN, else the file', () => {
    expect(serveOptions(config, { authToken: 'flag' }, { RESNET_SERVE_AUTH_TOKEN: 'env' }).authToken).toBe('flag');
    expect(serveOptions(config, {}, { RESNET_SERVE_AUTH_TOKEN: 'env' }).authToken).toBe('env');
    expect(serveOptions(config, {}, { RESNET_SERVE_AUTH_TOKEN: '' }).authToken).toBe('from-file');
    expect(() => serveOptions(config, {}, { RESNET_SERVE_AUTH_TOKEN: 'two words' })).toThrow(
      'Expected a token of 1 to 4096 visible ASCII characters (no spaces or newlines) for RESNET_SERVE_AUTH_TOKEN but received a string of 9 characters (not shown)',
    );
  });

  it('parses the shared-memory flags and passes them on; without --allow-shm the file decides', () => {
    const parsed = serveFlags(new Command()).exitOverride()
      .parse(['--model', 'resnet20', '--allow-shm', '--max-shm-regions', '3', '--max-shm-bytes', '65536'], { from: 'user' })
      .opts<ServeFlags>();
    expect(parsed).toMatchObject({ allowShm: true, maxShmRegions: 3, maxShmBytes: 65536 });
    expect(serveOptions(config, parsed, {})).toMatchObject({ allowShm: true, maxShmRegions: 3, maxShmBytes: 65536 });
    expect(serveOptions({ ...config, allowShm: true }, {}, {}).allowShm).toBe(true);
    expect(serveOptions(config, {}, {}).allowShm).toBeUndefined();
    expect(() => serveFlags(new Command()).exitOverride().configureOutput({ writeErr: () => {} })
      .parse(['--max-shm-regions', '0'], { from: 'user' })).toThrow('Expected an integer from 1 to 65536 for --max-shm-regions but received 0');
  });

  it('parses the JSON body limit and the connection flags and passes them on', () => {
    const parsed = serveFlags(new Command()).exitOverride()
      .parse(['--model', 'resnet20', '--max-json-body-bytes', '2048', '--max-connections', '50', '--idle-connection-timeout-ms', '300',
        '--keep-alive-timeout-ms', '700'], { from: 'user' })
      .opts<ServeFlags>();
    const given = { maxJsonBodyBytes: 2048, maxConnections: 50, idleConnectionTimeoutMs: 300, keepAliveTimeoutMs: 700 };
    expect(parsed).toMatchObject(given);
    expect(serveOptions({ ...config, maxConnections: 10 }, parsed, {})).toMatchObject(given);
    expect(serveOptions({ ...config, maxConnections: 10 }, {}, {}).maxConnections).toBe(10);
    const refuse = (args: string[]) => () => serveFlags(new Command()).exitOverride().configureOutput({ writeErr: () => {} }).parse(args, { from: 'user' });
    expect(refuse(['--max-connections', '0'])).toThrow('Expected an integer from 1 to 1000000 for --max-connections but received 0');
    expect(refuse(['--max-json-body-bytes', '1k'])).toThrow('Expected a byte count from 1024 (1 KiB) to 2147483648 (2 GiB) for --max-json-body-bytes but received "1k"');
  });

  it('parses --http-threads and --body-arena-bytes and passes them on', () => {
    const parsed = serveFlags(new Command()).exitOverride()
      .parse(['--model', 'resnet20', '--http-threads', '3', '--body-arena-bytes', '0'], { from: 'user' })
      .opts<ServeFlags>();
    expect(parsed).toMatchObject({ httpThreads: 3, bodyArenaBytes: 0 });
    expect(serveOptions({ ...config, httpThreads: 2 }, parsed, {})).toMatchObject({ httpThreads: 3, bodyArenaBytes: 0 });
    expect(serveOptions({ ...config, httpThreads: 2 }, {}, {}).httpThreads).toBe(2);
    const refuse = (args: string[]) => () => serveFlags(new Command()).exitOverride().configureOutput({ writeErr: () => {} }).parse(args, { from: 'user' });
    expect(refuse(['--http-threads', '0'])).toThrow('Expected an integer from 1 to 64 for --http-threads but received 0');
    expect(refuse(['--body-arena-bytes', '-1'])).toThrow(/Expected a byte count from 0 to \d+ \(half this machine's memory\) for --body-arena-bytes but received -1/);
    // --help says the default.
    const help = serveFlags(new Command()).helpInformation().replace(/\s+/g, ' ');
    expect(help).toMatch(/--http-threads <n> .*\(default 1 when every model is on the CPU, else min\(4, CPUs - 1\)\)/);
  });

  it('parses --grpc-port N, 0 and off (null: no endpoint), and passes it on over the file\'s', () => {
    const parse = (args: string[]) => serveFlags(new Command()).exitOverride().configureOutput({ writeErr: () => {} })
      .parse(['--model', 'resnet20', ...args], { from: 'user' }).opts<ServeFlags>();
    expect(parse(['--grpc-port', '9001']).grpcPort).toBe(9001);
    expect(parse(['--grpc-port', '0']).grpcPort).toBe(0);
    expect(parse(['--grpc-port', 'off']).grpcPort).toBe('off');
    expect(parse([]).grpcPort).toBeUndefined();
    expect(serveOptions({ ...config, grpcPort: 7001 }, parse(['--grpc-port', 'off']), {}).grpcPort).toBeNull();
    expect(serveOptions({ ...config, grpcPort: 7001 }, parse([]), {}).grpcPort).toBe(7001);
    expect(() => parse(['--grpc-port', 'none'])).toThrow('Expected an integer from 0 to 65535, or off for no gRPC endpoint for --grpc-port but received "none"');
    expect(() => parse(['--grpc-port', '65536'])).toThrow('Expected an integer from 0 to 65535, or off for no gRPC endpoint for --grpc-port but received 65536');
  });

  it('parses --image-decoder as a model default, and refuses what is neither auto nor cpu', () => {
    const parsed = serveFlags(new Command()).exitOverride().parse(['--model', 'resnet20', '--image-decoder', 'cpu'], { from: 'user' }).opts<ServeFlags>();
    expect(parsed.imageDecoder).toBe('cpu');
    expect(serveOptions(config, parsed, {}).models).toEqual([{ arch: 'resnet20', imageDecoder: 'cpu' }]);
    // A model of the file that chose its own decoder keeps it.
    expect(serveOptions({ models: [{ arch: 'resnet20', imageDecoder: 'auto' }] }, { imageDecoder: 'cpu' }, {}).models).toEqual([{ arch: 'resnet20', imageDecoder: 'auto' }]);
    expect(() => serveFlags(new Command()).exitOverride().configureOutput({ writeErr: () => {} })
      .parse(['--image-decoder', 'nvjpeg'], { from: 'user' })).toThrow("Expected 'auto' or 'cpu' for --image-decoder but received \"nvjpeg\"");
  });

  it('needs a model from somewhere', () => {
    expect(() => serveOptions(undefined, { port: 1 }, {})).toThrow(InvalidArgumentError);
    expect(() => serveOptions({ models: [] }, { model: [] }, {})).toThrow('resnet serve needs a model: --model ARCH[=WEIGHTS] (repeatable), or a config file with "models"');
  });
});

afterEach(killServers);

/**
 * One inference of FP32 `values` (`n` samples of 3×size×size), asking for `outputs`: JSON, or with
 * `binary` the values as the binary part (no JSON to build or parse, so the time is the model's).
 */
async function infer(url: string, values: Float32Array, n: number, size: number, outputs: unknown[], binary = false): Promise<{ status: number; body: any; at: number }> {
  const shape = [n, 3, size, size];
  const input = binary
    ? { name: 'input', datatype: 'FP32', shape, parameters: { binary_data_size: values.byteLength } }
    : { name: 'input', datatype: 'FP32', shape, data: Array.from(values) };
  const header = Buffer.from(JSON.stringify({ inputs: [input], outputs }));
  const response = await fetch(`${url}/v2/models/resnet20/infer`, {
    method: 'POST',
    headers: binary ? { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' } : {},
    body: binary ? Buffer.concat([header, Buffer.from(values.buffer, values.byteOffset, values.byteLength)]) : header,
  });
  return { status: response.status, body: await response.json(), at: performance.now() };
}

/** The status of GET `path`, or the network error's code when the server no longer answers. */
async function statusOf(url: string, path: string): Promise<number | string> {
  try {
    return (await fetch(url + path)).status;
  } catch (error) {
    return String(((error as { cause?: { code?: string } }).cause?.code) ?? error);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A resnet20 server whose one inference takes long enough to signal in the middle of: a 384×384 input
 * (144 times the work of 32×32). Resolves with how long one inference took once warm.
 */
async function slowServer(extra: string[]): Promise<{ server: Serving; input: Float32Array; inferMs: number }> {
  const server = await serve(['--model', 'resnet20', '--input-size', '384', '--max-batch-size', '1', '--max-queue-delay-us', '0',
    '--host', '127.0.0.1', '--port', '0', ...extra]);
  const input = new Float32Array(3 * 384 * 384).map((_, i) => Math.sin(i));
  const started = performance.now();
  expect((await infer(server.url, input, 1, 384, [{ name: 'output' }], true)).status).toBe(200);
  return { server, input, inferMs: performance.now() - started };
}

describe.runIf(built)('resnet serve', () => {
  it.runIf(hasCifar)('serves a config file\'s model with flags over it: ready, and logits as PyTorch\'s', async () => {
    const config = writeJson('serve.json', {
      host: '0.0.0.0', port: 8000, logLevel: 'info',
      models: [{ arch: 'resnet20', weights: checkpoint, maxBatchSize: 4, maxQueueDelayMicroseconds: 100 }],
    });
    const server = await serve(['--config', config, '--host', '127.0.0.1', '--port', '0', '--max-queue-delay-us', '5', '--max-queue-size', '7']);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.url).not.toBe('http://127.0.0.1:8000');
    expect(server.logs.some((entry) => entry.msg === `Server listening at ${server.url}`)).toBe(true);
    expect(await statusOf(server.url, '/v2/health/ready')).toBe(200);
    // The file's maxBatchSize and delay stand (a model's own fields beat the flags); the flag fills the queue size.
    const modelConfig = (await (await fetch(`${server.url}/v2/models/resnet20/config`)).json()) as any;
    expect(modelConfig.max_batch_size).toBe(4);
    expect(modelConfig.dynamic_batching.max_queue_delay_microseconds).toBe(100);
    expect(modelConfig.dynamic_batching.default_queue_policy.max_queue_size).toBe(7);

    const { images } = await readCifar10(cifarExact);
    const { mean, std } = cifarResNetNormalization;
    const n = 3;
    const input = Float32Array.from((images.data as Uint8Array).subarray(0, n * 3072), (p, i) => (p / 255 - mean[Math.floor(i / 1024) % 3]!) / std[Math.floor(i / 1024) % 3]!);
    const { status, body } = await infer(server.url, input, n, 32, [{ name: 'output' }, { name: 'features' }]);
    expect(status, JSON.stringify(body)).toBe(200);
    const output = body.outputs.find((o: { name: string }) => o.name === 'output');
    expect(output).toMatchObject({ datatype: 'FP32', shape: [n, 10] });
    const expected = torchLogits.slice(0, n * 10);
    expect(maxRelativeError(output.data, expected)).toBeLessThan(1e-4);
    expect(body.outputs.find((o: { name: string }) => o.name === 'features')).toMatchObject({ datatype: 'FP32', shape: [n, 64] });
    const top = await infer(server.url, input, n, 32, [{ name: 'output', parameters: { classification: 1 } }]);
    for (let i = 0; i < n; i++) {
      const row = expected.slice(i * 10, i * 10 + 10);
      const best = row.indexOf(Math.max(...row));
      expect(top.body.outputs[0].data[i]).toMatch(new RegExp(`^[0-9.e+-]+:${best}:${cifar10Classes[best]}$`));
    }
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  });

  it('serves gRPC on --grpc-port beside HTTP, and says where in its ready log', async () => {
    const server = await serve(['--model', 'resnet20', '--host', '127.0.0.1', '--port', '0', '--grpc-port', '0', '--auth-token', 'cli-grpc']);
    const ready = server.logs.find((entry) => entry.msg === 'server ready')!;
    expect(ready.grpc).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(ready.grpc).not.toBe(`127.0.0.1:${new URL(server.url).port}`);
    const client = inferenceClient(ready.grpc as string);
    try {
      expect(await client.call('ServerReady', {})).toEqual({ ready: true });
      const metadata = await client.call('ModelMetadata', { name: 'resnet20' }, { metadata: bearer('cli-grpc') });
      expect(metadata).toMatchObject({ name: 'resnet20', versions: ['1'] });
    } finally {
      client.close();
    }
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('SIGTERM turns it not-ready, lets an inference in progress finish, and exits 0', async () => {
    const { server, input, inferMs } = await slowServer([]);
    console.log(`server-cli: one 384x384 resnet20 inference took ${inferMs.toFixed(0)} ms`);
    const request = infer(server.url, input, 1, 384, [{ name: 'output' }], true);
    // A quarter into the inference, measured on this machine, so it is under way wherever this runs.
    await sleep(inferMs / 4);
    const signalledAt = performance.now();
    server.child.kill('SIGTERM');
    await server.logged('shutting down: not ready, finishing in-flight requests');
    expect(await statusOf(server.url, '/v2/health/ready')).not.toBe(200);
    const answer = await request;
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.at).toBeGreaterThan(signalledAt);
    expect(answer.body.outputs[0]).toMatchObject({ name: 'output', shape: [1, 10] });
    const exit = await server.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at).toBeGreaterThanOrEqual(answer.at - 50);
    // The one plain line of a ready server, and nothing else.
    expect(server.stderr()).toMatch(/^resnet serve: ready on http:\/\/127\.0\.0\.1:\d+: resnet20 \(cpu, images: CPU workers\)\n$/);
  });

  it('a second signal exits 1 at once', async () => {
    const { server, input, inferMs } = await slowServer([]);
    const request = infer(server.url, input, 1, 384, [{ name: 'output' }], true).catch(() => null);
    await sleep(inferMs / 4);
    server.child.kill('SIGTERM');
    await server.logged('shutting down: not ready, finishing in-flight requests');
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(1);
    await request;
    expect(server.logs.map((entry) => entry.msg)).toContain('second signal: exiting without waiting for in-flight requests');
  });

  it('exits 1 when in-flight work outlasts --shutdown-timeout-ms', async () => {
    const { server, input, inferMs } = await slowServer(['--shutdown-timeout-ms', '1']);
    const request = infer(server.url, input, 1, 384, [{ name: 'output' }], true).catch(() => null);
    await sleep(inferMs / 4);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(1);
    await request;
    expect(server.logs.map((entry) => entry.msg)).toContain('shutdown deadline passed: exiting');
  });

  it('a weights file that is missing or does not fit: exit 1 before listening, the message once on stderr', async () => {
    const missing = join(temp, 'missing.th');
    const other = join(temp, 'resnet32.th');
    await saveCheckpoint(getCifarModel('resnet32').stateDict(), other);
    for (const [weights, message] of [[missing, /missing\.th.*\[ERR_INVALID_FILE\]/], [other, /resnet32\.th" does not fit resnet20: .*\[ERR_STATE_DICT\]/]] as const) {
      const result = await run(process.execPath, [cli, 'serve', '--model', `resnet20=${weights}`, '--port', '0', '--host', '127.0.0.1']).then(
        () => ({ code: 0, stdout: '', stderr: '' }), (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(result.code).toBe(1);
      // No log line at all: nothing listened, so none says "Server listening" or "server failed to start".
      expect(result.stdout).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^resnet: /);
      expect(lines[0]).toMatch(message);
    }
  });

  it('refuses bad flags and missing models with exit 2, a bad config file with exit 1, each with a message', async () => {
    const resnet = async (...args: string[]) => run(process.execPath, [cli, 'serve', ...args]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    const duplicate = writeJson('dup.json', '{"port": 1, "port": 2, "models": [{"arch": "resnet20"}]}');
    const results = await Promise.all([
      resnet('--model', 'resnet20', '--port', '70000'),
      resnet('--model', 'resnet20', '--max-batch-size', '8k'),
      resnet('--model', 'resnet19'),
      resnet('--model', 'resnet20', '--preferred-batch-sizes', '4,x'),
      resnet('--model', 'resnet20', '--bogus'),
      resnet('--config', duplicate),
      resnet('--port', '0'),
      resnet('--model', 'resnet20', '--model', 'resnet20=x.th'),
      resnet('--model', 'resnet20', '--dtype', 'float16'),
    ]);
    const expected = [
      'Expected an integer from 0 to 65535 for --port but received 70000',
      'Expected an integer from 1 to 1024 for --max-batch-size but received "8k"',
      'for the architecture of --model "resnet19" but received "resnet19"',
      'Expected comma-separated batch sizes (an integer from 1 to 1024) for --preferred-batch-sizes but received "4,x"',
      "error: unknown option '--bogus'",
      `resnet: config file ${JSON.stringify(duplicate)} is not valid JSON: duplicate key "port" at position 12 [ERR_INVALID_ARGUMENT]`,
      'resnet: resnet serve needs a model: --model ARCH[=WEIGHTS] (repeatable), or a config file with "models" [ERR_INVALID_ARGUMENT]',
      'resnet: Expected a name and version no other model has (models[0] is resnet20 version 1) for models[1].name but received "resnet20" [ERR_INVALID_ARGUMENT]',
      "resnet: Expected 'float32' or 'bfloat16' on device 'cpu'",
    ];
    // The config file (index 5) is no command-line mistake; the rest are.
    results.forEach((result, i) => {
      expect(result.code, expected[i]).toBe(i === 5 ? 1 : 2);
      expect(result.stderr).toContain(expected[i]);
    });
  });
});
