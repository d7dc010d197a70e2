/**
 * Serving an int8 model on the CPU: a quantized weights file (the shared resnet20 checkpoint, quantized
 * here on 32 images of the CIFAR subset) served at dtype 'int8' answers over HTTP with the top-1 classes
 * and logits of the same quantized model run in process; int8 without a quantized file is refused, before
 * anything starts when no file is given, at load with the command to run when the file is float.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotQuantizedError, Tensor, quantize, readCifar10, resnet20, saveQuantized, type Module } from '../../lib/index.js';
import { normalizedSlice } from '../../lib/cli/cifar-data.js';
import { readStateDictFile } from '../../lib/cli/convert.js';
import { createServer } from '../../lib/server/index.js';
import { resolveServerOptions } from '../../lib/server/resolve-options.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';
import { bytesOf, floatsOf, splitResponse } from '../helpers/server-helpers.js';

const checkpoint = dataPath('cifar10-resnets', 'resnet20-12fca82f.th');
const subset = dataPath('cifar10', 'test_subset_500.bin');
const absent = dataAbsent('serving a quantized resnet20', checkpoint, subset);

const images = 64;

describe.skipIf(absent !== null)('resnet serve --dtype int8 on the CPU', () => {
  let dir: string;
  let quantizedFile: string;
  let quantized: Module;
  let inputs: Tensor<'float32'>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'resnet-serve-int8-'));
    const model = resnet20();
    model.loadStateDict(await readStateDictFile(checkpoint, 'module.'));
    const pixels = (await readCifar10(subset)).images.data as Uint8Array;
    quantized = await quantize(model, { calibration: normalizedSlice(pixels, 0, 32), method: 'entropy' });
    quantizedFile = join(dir, 'resnet20-int8.safetensors');
    await saveQuantized(quantizedFile, quantized);
    // Images the calibration did not see.
    inputs = normalizedSlice(pixels, 100, images);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers over HTTP with the top-1 and logits of the quantized model in process', async () => {
    const server = createServer({
      models: [{ arch: 'resnet20', weights: quantizedFile, dtype: 'int8', maxBatchSize: 16 }],
      host: '127.0.0.1', port: 0, logLevel: 'silent',
    });
    await server.start();
    try {
      // Four requests of 16 at once: the server batches them as it likes.
      const perRequest = 16;
      const answers = await Promise.all(Array.from({ length: images / perRequest }, async (_, k) => {
        const values = inputs.data.subarray(k * perRequest * 3 * 32 * 32, (k + 1) * perRequest * 3 * 32 * 32);
        const header = {
          inputs: [{ name: 'input', datatype: 'FP32', shape: [perRequest, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
          outputs: [{ name: 'output', parameters: { binary_data: true } }],
        };
        const json = Buffer.from(JSON.stringify(header));
        const res = await fetch(`${server.address!.url}/v2/models/resnet20/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
          body: Buffer.concat([json, bytesOf(values)]),
        });
        const body = Buffer.from(await res.arrayBuffer());
        expect(res.status, body.toString()).toBe(200);
        const { header: answer, binary } = splitResponse(body, res.headers.get('inference-header-content-length') ?? undefined);
        expect(answer.outputs[0]).toMatchObject({ name: 'output', datatype: 'FP32', shape: [perRequest, 10] });
        return floatsOf(binary);
      }));
      const served = Float32Array.from(answers.flatMap((a) => Array.from(a)));

      expect(quantized.dtype).toBe('int8');
      const local = (await quantized.forward(inputs)).toFloat32();
      const servedTop1 = Array.from({ length: images }, (_, n) => argmax(served.subarray(n * 10, n * 10 + 10)));
      expect(servedTop1).toEqual(local.argmax());
      // The same integer convolutions: the logits differ by float rounding at most (batches may split differently).
      let worst = 0;
      for (let i = 0; i < served.length; i++) worst = Math.max(worst, Math.abs(served[i]! - local.data[i]!));
      expect(worst).toBeLessThan(1e-3);
    } finally {
      await server.close();
    }
  }, 30_000);

  it('refuses int8 on the CPU without a weights file before loading, and a float file at load', async () => {
    expect(() => resolveServerOptions({ models: [{ arch: 'resnet20', dtype: 'int8' }] })).toThrow(
      /^Expected 'float32' or 'bfloat16' on device 'cpu', or 'int8' with a quantized weights file .* for models\[0\]\.dtype but received "int8"$/,
    );
    expect(resolveServerOptions({ models: [{ arch: 'resnet20', weights: quantizedFile, dtype: 'int8' }] }).models[0]!.dtype).toBe('int8');
    const server = createServer({ models: [{ arch: 'resnet20', weights: checkpoint, dtype: 'int8' }], host: '127.0.0.1', port: 0, logLevel: 'silent' });
    const refusal = await server.start().then(() => null, (error: unknown) => error);
    await server.close();
    expect(refusal).toBeInstanceOf(NotQuantizedError);
    expect((refusal as Error).message).toContain(`${JSON.stringify(checkpoint)} has no quantization scales: write one with \`resnet quantize --model resnet20`);
  });
});

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
