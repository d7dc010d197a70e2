/**
 * The served model: loading (architecture, weights, labels, transforms), batch execution over compiled
 * chunks checked row by row against the public `forward` / `forwardFeatures` of the same weights, image
 * decoding checked against `preprocess(readImage(…))`, and its errors.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DisposedError, Executable, IMAGENET_CATEGORIES, InvalidArgumentError, Tensor, cifar10Classes, imagenetMean, imagenetStd, manualSeed, preprocess, readImage,
  resnet18, resnet20, saveSafetensors, type Module,
} from '../../lib/index.js';
import { maxRequestImagePixels } from '../../lib/server/image-decode.js';
import { HttpError } from '../../lib/server/http-error.js';
import { proportionalResize, type ModelLogger } from '../../lib/server/model-source.js';
import {
  ServedModel, chunkSizes, compiledBatchSizesFor, cpuThreadsPerInstance, defaultCpuInstanceCount, type ModelInput,
} from '../../lib/server/served-model.js';
import { getNumThreads } from '../../lib/runtime/threads.js';
import type { ResolvedModelOptions } from '../../lib/server/types.js';
import { maxRelativeError, randomizeBatchNorms, uniform } from '../helpers/helpers.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

const dogJpg = dataPath('images', 'dog.jpg');
const haveDog = dataAbsent('decoding dog.jpg as preprocess does', dogJpg) === null;

/** A logger that keeps what it was told. */
function recordingLogger(): ModelLogger & { infos: [object, string?][]; warns: [object, string?][] } {
  const infos: [object, string?][] = [];
  const warns: [object, string?][] = [];
  return { infos, warns, info: (o, msg) => infos.push([o, msg]), warn: (o, msg) => warns.push([o, msg]) };
}

/** Resolved options as `resolveServerOptions` returns them, with the server's defaults. */
function modelOptions(
  arch: string,
  overrides: Partial<Omit<ResolvedModelOptions, 'batching'>> & { maxBatchSize?: number; preferredBatchSizes?: number[]; instanceCount?: number | null } = {},
): ResolvedModelOptions {
  const { maxBatchSize = 8, preferredBatchSizes = [], instanceCount = null, ...rest } = overrides;
  return {
    name: arch, version: '1', arch, weights: null, device: 'cpu', dtype: 'float32', benchmark: false, inputSize: null,
    inputDatatype: 'FP32', inputLayout: 'NCHW', imageDecoder: 'auto',
    batching: { maxBatchSize, preferredBatchSizes, maxQueueDelayMicroseconds: 1000, maxQueueSize: 64, instanceCount, defaultTimeoutMicroseconds: 0 },
    ...rest,
  };
}

/**
 * The uint8 NCHW pixels the served model decodes to, normalised in preprocess's float steps (ToTensor's
 * division, then Normalize): equal to preprocess's output when the pixels are the same.
 */
function normalizedLikePreprocess(input: ModelInput, mean: readonly number[], std: readonly number[]): Float32Array {
  expect(input.dtype).toBe('uint8');
  expect(input.layout).toBe('nchw');
  const pixels = Buffer.concat(input.segments);
  const plane = pixels.length / input.samples / 3;
  return Float32Array.from(pixels, (p, i) => {
    const c = Math.floor(i / plane) % 3;
    return Math.fround(Math.fround(p / 255) - Math.fround(mean[c]!)) / Math.fround(std[c]!);
  });
}

/** Row `r` of an `[N, size]` array. */
function row(values: Float32Array, r: number, size: number): Float32Array {
  return values.subarray(r * size, (r + 1) * size);
}

/**
 * `execute` on batches 1..max equals the reference model row by row: each row against a batch-1 run of
 * the reference's public `forwardNodes` (the classifier's output is `forward`'s, `avgpool` the features
 * `forwardFeatures` flattens), so one reference compile serves every batch size.
 */
async function expectMatchesReference(served: ServedModel, reference: Module, classifier: string, seed: number): Promise<void> {
  const [, h, w] = served.signature.inputs[0]!.sampleShape as [number, number, number];
  const sample = 3 * h * w;
  const [classes, features] = served.signature.outputs.map((o) => o.sampleShape[0]!) as [number, number];
  for (let n = 1; n <= served.signature.maxBatchSize; n++) {
    const input = uniform(n * sample, seed + n);
    const before = served.engineCalls;
    const [logits, pooled] = await served.execute(input, n);
    expect(served.engineCalls - before).toBe(chunkSizes(n, served.compiledBatchSizes).length);
    expect(logits!.length).toBe(n * classes);
    expect(pooled!.length).toBe(n * features);
    for (let r = 0; r < n; r++) {
      const x = Tensor.from(input.slice(r * sample, (r + 1) * sample), [1, 3, h, w]);
      const expected = await reference.forwardNodes(x, [classifier, 'avgpool']);
      const expectedLogits = expected[classifier]!.data as Float32Array;
      const expectedFeatures = expected.avgpool!.data as Float32Array;
      expect(maxRelativeError(row(logits!, r, classes), expectedLogits), `logits, batch ${n} row ${r}`).toBeLessThanOrEqual(1e-5);
      expect(maxRelativeError(row(pooled!, r, features), expectedFeatures), `features, batch ${n} row ${r}`).toBeLessThanOrEqual(1e-5);
    }
  }
}

describe('CPU instances', () => {
  it('default to 2 when there are 2 or more compute threads, else 1', () => {
    expect(defaultCpuInstanceCount(1)).toBe(1);
    expect(defaultCpuInstanceCount(2)).toBe(2);
    expect(defaultCpuInstanceCount(16)).toBe(2);
  });

  it('split the compute threads between them, at least 1 each', () => {
    expect(cpuThreadsPerInstance(2, 2)).toBe(1);
    expect(cpuThreadsPerInstance(16, 2)).toBe(8);
    expect(cpuThreadsPerInstance(7, 2)).toBe(3);
    expect(cpuThreadsPerInstance(2, 3)).toBe(1);
    expect(cpuThreadsPerInstance(1, 1)).toBe(1);
    expect(cpuThreadsPerInstance(4, 1)).toBe(4);
  });
});

describe('batch sizes', () => {
  it('compiles 1, the powers of two below the maximum, the preferred sizes and the maximum', () => {
    expect(compiledBatchSizesFor(8, [])).toEqual([1, 2, 4, 8]);
    expect(compiledBatchSizesFor(6, [3])).toEqual([1, 2, 3, 4, 6]);
    expect(compiledBatchSizesFor(1, [])).toEqual([1]);
    expect(compiledBatchSizesFor(16, [6, 16])).toEqual([1, 2, 4, 6, 8, 16]);
  });

  it('splits a batch greedily into compiled sizes, largest first', () => {
    expect(chunkSizes(7, [1, 2, 4, 8])).toEqual([4, 2, 1]);
    expect(chunkSizes(8, [1, 2, 4, 8])).toEqual([8]);
    expect(chunkSizes(7, [1, 2, 4, 6, 8])).toEqual([6, 1]);
    expect(chunkSizes(13, [1, 2, 4, 6, 8, 16])).toEqual([8, 4, 1]);
  });

  it('keeps the crop-to-resize ratio of the weights at another input size, truncated', () => {
    expect(proportionalResize(256, 224, 64)).toBe(73);
    expect(proportionalResize(232, 224, 64)).toBe(66);
    expect(proportionalResize(256, 224, 224)).toBe(256);
    expect(proportionalResize(32, 32, 40)).toBe(40);
  });
});

describe('resnet20 (CIFAR-10), random weights', () => {
  const log = recordingLogger();
  let served: ServedModel;
  let reference: ReturnType<typeof resnet20>;

  beforeAll(async () => {
    // The same seed before each build: the served model's random weights equal the reference's.
    manualSeed(2020);
    served = await ServedModel.load(modelOptions('resnet20', { name: 'cifar', version: '3', maxBatchSize: 8, preferredBatchSizes: [6] }), log);
    manualSeed(2020);
    reference = resnet20();
  });
  afterAll(() => served?.dispose());

  it('declares its signature: input [3, 32, 32] (FP32 or images), labelled logits [10], features [64]', () => {
    expect(served.signature).toEqual({
      name: 'cifar', version: '3', platform: 'resnet_cudnn', maxBatchSize: 8,
      inputs: [{
        name: 'input', datatype: 'FP32', sampleShape: [3, 32, 32], layout: 'NCHW', image: { channels: 3, height: 32, width: 32 },
        accepts: ['FP32', 'FP16', 'UINT8', 'BYTES'],
      }],
      outputs: [
        { name: 'output', datatype: 'FP32', sampleShape: [10], labels: cifar10Classes },
        { name: 'features', datatype: 'FP32', sampleShape: [64], labels: null },
      ],
    });
    expect(served.device).toBe('cpu');
    expect(served.compiledBatchSizes).toEqual([1, 2, 4, 6, 8]);
    const threads = getNumThreads();
    expect(served.batching.instanceCount).toBe(defaultCpuInstanceCount(threads));
    expect(served.threadsPerInstance).toBe(cpuThreadsPerInstance(threads, defaultCpuInstanceCount(threads)));
    expect(served.batching.maxQueueSize).toBe(64);
  });

  it('warns that random weights give meaningless outputs, and logs what it compiled', () => {
    expect(log.warns).toHaveLength(1);
    expect(log.warns[0]![1]).toMatch(/random initialisation.*meaningless/);
    expect(log.infos).toHaveLength(1);
    const [fields] = log.infos[0]!;
    expect(fields).toMatchObject({
      model: 'cifar', device: 'cpu', batchSizes: [1, 2, 4, 6, 8], weights: 'random',
      threads: getNumThreads(), threadsPerInstance: served.threadsPerInstance,
    });
    // resnet20's 0.27 M parameters, BatchNorm folded: at least the conv and linear weights in float32.
    expect((fields as { weightBytes: number }).weightBytes).toBeGreaterThanOrEqual(269_000 * 4 * 0.95);
    expect((fields as { loadMs: number }).loadMs).toBeGreaterThanOrEqual(0);
  });

  it('executes every batch size 1..8 (3, 5, 7 as chunks) as the model itself does (logits and features), row by row', async () => {
    expect(served.engineCalls).toBe(0); // the warm-up runs are not counted
    await expectMatchesReference(served, reference, 'linear', 100);
    // 1 + 1 + 2 (2+1) + 1 + 2 (4+1) + 1 + 2 (6+1) + 1
    expect(served.engineCalls).toBe(11);
  });

  it('runs a batch alone with every thread, with the same results as on its instance\'s share', async () => {
    const sample = 3 * 32 * 32;
    for (const n of [1, 5, 8]) {
      const input = uniform(n * sample, 700 + n);
      const before = served.engineCalls;
      const [wideLogits, wideFeatures] = await served.execute(input, n, { alone: true });
      const [logits, features] = await served.execute(input, n);
      expect(served.engineCalls - before).toBe(2 * chunkSizes(n, served.compiledBatchSizes).length);
      expect(maxRelativeError(wideLogits!, logits!), `logits, batch ${n}`).toBeLessThanOrEqual(1e-5);
      expect(maxRelativeError(wideFeatures!, features!), `features, batch ${n}`).toBeLessThanOrEqual(1e-5);
    }
  });

  it('runs concurrent batches independently', async () => {
    const sample = 3 * 32 * 32;
    const inputs = [3, 5, 8].map((n, i) => ({ n, input: uniform(n * sample, 300 + i) }));
    const together = await Promise.all(inputs.map(({ input, n }) => served.execute(input, n)));
    for (const [i, { input, n }] of inputs.entries()) {
      const alone = await served.execute(input, n);
      expect(together[i]![0]).toEqual(alone[0]);
      expect(together[i]![1]).toEqual(alone[1]);
    }
  });

  it('runs inputs of several forms in one batch, and settles only once every chunk has (one failing)', async () => {
    const pixels = Uint8Array.from(uniform(3 * 3 * 32 * 32, 44), (v) => Math.floor((v + 1) * 127));
    const floats = uniform(2 * 3 * 32 * 32, 45);
    const [fromPixels, fromFloats] = await served.run([
      { dtype: 'uint8', layout: 'nchw', samples: 3, segments: [pixels.subarray(0, 1000), pixels.subarray(1000)] },
      { dtype: 'float32', layout: 'nchw', samples: 2, segments: [new Uint8Array(floats.buffer)] },
    ], { alone: true });
    const [pixelsAlone] = await served.run([{ dtype: 'uint8', layout: 'nchw', samples: 3, segments: [pixels] }], { alone: true });
    const [floatsAlone] = await served.run([{ dtype: 'float32', layout: 'nchw', samples: 2, segments: [new Uint8Array(floats.buffer)] }], { alone: true });
    expect(maxRelativeError(fromPixels![0]!, pixelsAlone![0]!)).toBeLessThan(1e-5);
    expect(maxRelativeError(fromFloats![1]!, floatsAlone![1]!)).toBeLessThan(1e-5);

    // 3 samples run as chunks 2 + 1: the first fails at once, the second is slow. The caller frees the inputs
    // when run() settles, so it must not settle before the slow chunk has.
    const original = Executable.prototype.run;
    let slowDone = false;
    const spy = vi.spyOn(Executable.prototype, 'run')
      .mockImplementationOnce(async () => { throw new Error('chunk failed'); })
      .mockImplementationOnce(async function (this: Executable, input) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        const result = await original.call(this, input);
        slowDone = true;
        return result;
      });
    try {
      await expect(served.run([{ dtype: 'uint8', layout: 'nchw', samples: 3, segments: [pixels] }], { alone: true })).rejects.toThrow('chunk failed');
      expect(slowDone).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('rejects a batch size outside 1..maxBatchSize and an input of the wrong length', async () => {
    await expect(served.execute(new Float32Array(9 * 3 * 32 * 32), 9)).rejects.toThrow(/batch size from 1 to 8/);
    await expect(served.execute(new Float32Array(0), 0)).rejects.toThrow(/batch size from 1 to 8/);
    await expect(served.execute(new Float32Array(3 * 32 * 32), 2)).rejects.toThrow(/2 × 3072 float32 input values/);
  });

  it('decodes images with the CIFAR transforms and names the element that is not an image', async () => {
    const png = await sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 200, g: 30, b: 90 } } }).png().toBuffer();
    const decoded = await served.decodeImages([png, png]);
    const expected = preprocess([await readImage(png), await readImage(png)], {
      resizeSize: 32, cropSize: 32, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
    });
    expect(normalizedLikePreprocess(decoded, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])).toEqual(expected.data);
    // The engine normalises the pixels itself: the logits match those of preprocess's floats.
    const [fromPixels] = await served.execute(decoded, undefined, { alone: true });
    const [fromFloats] = await served.execute(expected.data as Float32Array, 2, { alone: true });
    expect(maxRelativeError(fromPixels!, fromFloats!)).toBeLessThan(1e-5);

    const truncated = png.subarray(0, png.length / 2);
    for (const [bad, index] of [[Buffer.from('definitely not an image'), 1], [truncated, 2]] as const) {
      const elements = [png, png, png];
      elements[index] = bad;
      const error = await served.decodeImages(elements).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(400);
      expect((error as HttpError).message).toMatch(new RegExp(`^input 'input' element ${index} is not a decodable image: `));
    }
    // A few kilobytes of PNG that would decode to 72 MB of pixels: refused from its header.
    const bomb = await sharp({ create: { width: 4900, height: 4900, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toBuffer();
    expect(bomb.length).toBeLessThan(200_000);
    const error = await served.decodeImages([png, bomb]).catch((e: unknown) => e);
    expect((error as HttpError).status).toBe(400);
    expect((error as HttpError).message).toMatch(
      new RegExp(`^input 'input' element 1 is not a decodable image: .*4900x4900 is 24010000 pixels, more than the limit of ${maxRequestImagePixels} `));
  });
});

describe('resnet18 at inputSize 64, weights from a file', () => {
  let dir: string;
  let served: ServedModel;
  let reference: ReturnType<typeof resnet18>;
  const log = recordingLogger();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'server-model-'));
    manualSeed(1818);
    reference = resnet18();
    randomizeBatchNorms(reference, 19);
    const file = join(dir, 'resnet18.safetensors');
    await saveSafetensors(file, reference.stateDict());
    served = await ServedModel.load(modelOptions('resnet18', { weights: file, inputSize: 64, maxBatchSize: 2, instanceCount: 3 }), log);
  });
  afterAll(async () => {
    served?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('declares [3, 64, 64] in, ImageNet-labelled logits [1000] and features [512] out', () => {
    const [input] = served.signature.inputs;
    const [output, features] = served.signature.outputs;
    expect(input!.sampleShape).toEqual([3, 64, 64]);
    expect(output!.sampleShape).toEqual([1000]);
    expect(output!.labels).toEqual(IMAGENET_CATEGORIES);
    expect(features!.sampleShape).toEqual([512]);
    expect(served.compiledBatchSizes).toEqual([1, 2]);
    expect(served.batching.instanceCount).toBe(3);
    expect(log.warns).toHaveLength(0);
  });

  it('executes batches 1..2 as the model itself does (logits and features), row by row', async () => {
    await expectMatchesReference(served, reference, 'fc', 500);
    expect(served.engineCalls).toBe(2);
  });

  const dogTest = `decodes dog.jpg exactly as preprocess(readImage(…)) with the DEFAULT transforms scaled to 64`;
  it.runIf(haveDog)(dogTest, async () => {
    const bytes = await readFile(dogJpg);
    const decoded = await served.decodeImages([bytes, bytes]);
    const image = await readImage(dogJpg);
    // ResNet18_Weights.DEFAULT: resize 256, crop 224 → resize 73, crop 64 at input size 64.
    const expected = preprocess([image, image], { resizeSize: 73, cropSize: 64 });
    expect(normalizedLikePreprocess(decoded, imagenetMean, imagenetStd)).toEqual(expected.data);
  });

  it('frees its executables on dispose; execute rejects afterwards', async () => {
    served.dispose();
    await expect(served.execute(new Float32Array(3 * 64 * 64), 1)).rejects.toThrow(DisposedError);
    served.dispose(); // idempotent
  });
});

describe('loading errors and weights files', () => {
  it('refuses an unknown architecture, listing both families', async () => {
    const error = await ServedModel.load(modelOptions('resnet19'), recordingLogger()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/resnet18.*resnet50.*resnet20.*resnet1202.*but received "resnet19"/);
  });

  it('refuses a registry weights name for a CIFAR model, and an unknown weights name', async () => {
    await expect(ServedModel.load(modelOptions('resnet20', { weights: 'DEFAULT' }), recordingLogger())).rejects.toThrow(/checkpoint file.*no registry weights/);
    await expect(ServedModel.load(modelOptions('resnet18', { weights: 'IMAGENET9K' }), recordingLogger())).rejects.toThrow(/Unknown value 'IMAGENET9K' for ResNet18_Weights/);
  });

  it('serves a fine-tuned CIFAR checkpoint (DataParallel keys, 5 classes) without labels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'server-model-'));
    try {
      manualSeed(55);
      const reference = resnet20({ numClasses: 5 });
      randomizeBatchNorms(reference, 56);
      const prefixed = Object.fromEntries(Object.entries(reference.stateDict()).map(([k, v]) => [`module.${k}`, v]));
      const file = join(dir, 'finetuned.safetensors');
      await saveSafetensors(file, prefixed);
      const served = await ServedModel.load(modelOptions('resnet20', { weights: file, maxBatchSize: 3 }), recordingLogger());
      try {
        expect(served.signature.outputs[0]).toMatchObject({ sampleShape: [5], labels: null });
        await expectMatchesReference(served, reference, 'linear', 700);
      } finally {
        served.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the file and the keys when a checkpoint does not fit the architecture', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'server-model-'));
    try {
      const file = join(dir, 'wrong.safetensors');
      await saveSafetensors(file, resnet20().stateDict());
      // resnet32 has two more blocks per stage than resnet20.
      await expect(ServedModel.load(modelOptions('resnet32', { weights: file }), recordingLogger())).rejects.toThrow(/wrong\.safetensors" does not fit resnet32: \d+ missing keys \(layer1\.3\./);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
