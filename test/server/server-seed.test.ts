/**
 * `seed` (`--seed N`): models served without weights start from `new Generator(seed)`. Two servers with the
 * same seed answer the same logits, bit for bit; another seed answers others; and both are the library's
 * model built from that generator (`getCifarModel(arch, { generator })`), run on its own. The option is
 * checked as every option is, from createServer, a config file and the flag.
 */
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { serveFlags, serveOptions, type ServeFlags } from '../../lib/cli/serve-options.js';
import { Generator, Tensor, getCifarModel } from '../../lib/index.js';
import { resolveServerOptions } from '../../lib/server/options.js';
import type { InferenceServer } from '../../lib/server/index.js';
import { maxRelativeError } from '../helpers/helpers.js';
import { binaryInfer, bytesOf, floatsOf, inputValues, resnet20Server, splitResponse } from '../helpers/server-helpers.js';

const servers: InferenceServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** The logits a server (seeded with `seed`, or not) answers for `values`, over its HTTP route. */
async function servedLogits(seed: number | undefined, values: Float32Array): Promise<Float32Array> {
  const server = resnet20Server({}, seed === undefined ? {} : { seed });
  servers.push(server);
  await server.start({ listen: false });
  const { body, headerLength } = binaryInfer({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
    outputs: [{ name: 'output', parameters: { binary_data: true } }],
  }, bytesOf(values));
  const res = await server.app.inject({
    method: 'POST', url: '/v2/models/resnet20/infer', payload: body, headers: { 'inference-header-content-length': String(headerLength) },
  });
  expect(res.statusCode, res.body).toBe(200);
  return floatsOf(splitResponse(res.rawPayload, res.headers['inference-header-content-length'] as string).binary);
}

describe('seed', () => {
  it('makes servers without weights agree, bit for bit, with each other and with the library\'s model from that seed', async () => {
    const values = inputValues(1, 5);
    const [a, b, other, unseeded] = [await servedLogits(7, values), await servedLogits(7, values), await servedLogits(8, values), await servedLogits(undefined, values)];
    expect(a).toEqual(b);
    expect(maxRelativeError(other, a)).toBeGreaterThan(0.01);
    expect(maxRelativeError(unseeded, a)).toBeGreaterThan(0.01);
    for (const [seed, served] of [[7, a], [8, other]] as const) {
      const model = getCifarModel('resnet20', { generator: new Generator(seed) });
      const expected = (await model.forward(Tensor.from(values, [1, 3, 32, 32]))).data as Float32Array;
      expect(maxRelativeError(served, expected)).toBeLessThan(1e-5);
    }
  }, 60_000);

  it('is a whole number from 0 to 2^53 - 1, from createServer, a config file or --seed', () => {
    const models = [{ arch: 'resnet20' }];
    expect(resolveServerOptions({ models }).seed).toBeNull();
    expect(resolveServerOptions({ models, seed: 0 }).seed).toBe(0);
    expect(resolveServerOptions({ models, seed: Number.MAX_SAFE_INTEGER }).seed).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of [-1, 1.5, 2 ** 53, '7']) {
      expect(() => resolveServerOptions({ models, seed: bad })).toThrow(
        `Expected a whole number from 0 to 9007199254740991 for seed but received ${JSON.stringify(bad)}`,
      );
    }
    const parse = (args: string[]) => serveFlags(new Command()).exitOverride().configureOutput({ writeErr: () => {} }).parse(args, { from: 'user' }).opts<ServeFlags>();
    const flags = parse(['--model', 'resnet20', '--seed', '42']);
    expect(flags.seed).toBe(42);
    expect(serveOptions({ models, seed: 1 }, flags, {}).seed).toBe(42);
    expect(serveOptions({ models, seed: 1 }, {}, {}).seed).toBe(1);
    expect(() => parse(['--seed', 'x'])).toThrow('Expected a whole number from 0 to 9007199254740991 for --seed but received "x"');
    expect(() => parse(['--seed', '9007199254740992'])).toThrow('Expected a whole number from 0 to 9007199254740991 for --seed but received 9007199254740992');
  });
});
