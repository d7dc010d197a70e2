/**
 * The quantization commands as a user runs them (the built CLI in a child process), on the shared resnet20
 * checkpoint and CIFAR-10 subset, each checked against the library run in process on the same inputs:
 * - `resnet quantize` writes a file whose scales are the ones it printed and the ones `quantize()` gives
 *   on the same 32 calibration images;
 * - `resnet eval-cifar10 --dtype int8` counts what the quantized model counts in process, from a quantized
 *   file or calibrating itself, with the float32 count beside;
 * - `resnet bench --weights quantized.safetensors --dtype int8` times the file's scales;
 * - `resnet export --weights quantized.safetensors` writes the QDQ model `toOnnxBytes` writes for the
 *   loaded quantized model, and onnxruntime runs it to the same classes;
 * - bad input (missing files, weights of another model, no calibration image, wrong extensions, options
 *   that do not go together) is refused with the CLI's exit codes.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tracer, loadQuantized, quantize, readCifar10, resnet20, toOnnxBytes, type Module } from '../../lib/index.js';
import { normalizedSlice } from '../../lib/cli/cifar-data.js';
import { readStateDictFile, readWeightsFile } from '../../lib/cli/convert.js';
import { cliBuilt, resnet } from '../helpers/cli-runner.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

const checkpoint = dataPath('cifar10-resnets', 'resnet20-12fca82f.th');
const subset = dataPath('cifar10', 'test_subset_500.bin');
const absent = dataAbsent('the quantization commands', checkpoint, subset);
if (!cliBuilt) console.log('skipping the quantization commands: dist/cli/main.js is not built (npm run build:ts)');

const calibrationImages = 32;

interface QuantizeJson {
  images: number;
  method: string;
  perChannel: boolean;
  quantizedConvs: number;
  outputs: Record<string, { scale: number; dtype: string }>;
}

interface EvalJson {
  model: string;
  dtype: string;
  images: number;
  correct: number;
  float32?: { correct: number };
  quantization?: { source: string; method: string; images?: number };
}

async function floatResnet20(): Promise<Module> {
  const model = resnet20();
  model.loadStateDict(await readStateDictFile(checkpoint, 'module.'));
  return model;
}

/** Correct top-1 predictions of `model` on every image of the subset, 100 at a time. */
async function correctOn(model: Module, pixels: Uint8Array, labels: ArrayLike<number>): Promise<number> {
  let correct = 0;
  for (let start = 0; start < labels.length; start += 100) {
    const count = Math.min(100, labels.length - start);
    (await model.forward(normalizedSlice(pixels, start, count))).argmax().forEach((p, i) => {
      if (p === labels[start + i]) correct++;
    });
  }
  return correct;
}

describe.skipIf(absent !== null || !cliBuilt)('resnet quantize, eval-cifar10 --dtype int8, export of a quantized file', () => {
  let dir: string;
  let quantizedFile: string;
  let report: QuantizeJson;
  let pixels: Uint8Array;
  let labels: ArrayLike<number>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'resnet-quantize-cli-'));
    quantizedFile = join(dir, 'resnet20-int8.safetensors');
    const data = await readCifar10(subset);
    pixels = data.images.data as Uint8Array;
    labels = data.labels;
    const { stdout, stderr, code } = await resnet(
      'quantize', '--model', 'resnet20', '--weights', checkpoint, '--calibration', subset, '--calibration-images', String(calibrationImages),
      '--out', quantizedFile, '--json',
    );
    expect(code, stderr).toBe(0);
    report = JSON.parse(stdout) as QuantizeJson;
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('quantize writes the scales it printed, the ones quantize() gives on the same images', async () => {
    // Every traced convolution: the 19 Conv2d modules and the two option-A shortcuts, which trace as convs.
    const convs = new Set(Tracer.trace(resnet20(), [3, 32, 32]).nodes.filter((n) => n.op === 'conv2d').map((n) => n.path)).size;
    expect(convs).toBe(21);
    expect(report).toMatchObject({ images: calibrationImages, method: 'minmax', perChannel: true, inputScale: null, quantizedConvs: convs });
    const { quantization } = await readWeightsFile(quantizedFile);
    expect(quantization).not.toBeNull();
    expect(Object.fromEntries(quantization!.activations)).toEqual(report.outputs);
    expect(quantization!.weightScales.size).toBe(convs);

    // quantize()'s defaults, as the command's: minmax, per-channel, the input and stem float.
    const expected = (await quantize(await floatResnet20(), { calibration: normalizedSlice(pixels, 0, calibrationImages) })).quantization!;
    expect(Object.fromEntries(quantization!.activations)).toEqual(Object.fromEntries(expected.activations));
    for (const [path, scales] of expected.weightScales) expect(quantization!.weightScales.get(path), path).toEqual(scales);
    expect(quantization!.input).toBeNull();
    expect(expected.input).toBeNull();
  });

  it('quantize --quantize-input --method entropy --per-tensor writes the input scale and per-tensor weight scales quantize() gives', async () => {
    const out = join(dir, 'resnet20-int8-input.safetensors');
    const { stdout, stderr, code } = await resnet(
      'quantize', '--model', 'resnet20', '--weights', checkpoint, '--calibration', subset, '--calibration-images', '16', '--batch', '8',
      '--method', 'entropy', '--per-tensor', '--quantize-input', '--out', out,
    );
    expect(code, stderr).toBe(0);
    const { quantization } = await readWeightsFile(out);
    const calibration = [normalizedSlice(pixels, 0, 8), normalizedSlice(pixels, 8, 8)];
    const expected = (await quantize(await floatResnet20(), { calibration, method: 'entropy', perChannel: false, quantizeInput: true })).quantization!;
    expect(quantization).toMatchObject({ method: 'entropy', perChannel: false });
    expect(quantization!.input).toEqual(expected.input);
    expect(quantization!.input).not.toBeNull();
    expect(Object.fromEntries(quantization!.activations)).toEqual(Object.fromEntries(expected.activations));
    for (const [path, scales] of expected.weightScales) expect(quantization!.weightScales.get(path), path).toEqual(scales);
    expect(stdout).toContain(`(the input too, scale ${expected.input!.scale})`);
    expect(stdout).toContain('calibrated on the first 16 images');
  }, 60_000);

  it('eval-cifar10 --dtype int8 counts what the quantized model counts in process, with the float32 count', async () => {
    const quantized = await loadQuantized(resnet20(), quantizedFile);
    quantized.to({ dtype: 'int8' });
    const int8Correct = await correctOn(quantized, pixels, labels);
    const floatCorrect = await correctOn(await floatResnet20(), pixels, labels);

    const fromFile = await resnet('eval-cifar10', '--model', 'resnet20', '--weights', quantizedFile, '--data', subset, '--dtype', 'int8', '--json');
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout)).toEqual({
      model: 'resnet20', dtype: 'int8', images: labels.length, correct: int8Correct, accuracy: int8Correct / labels.length,
      float32: { correct: floatCorrect, accuracy: floatCorrect / labels.length }, quantization: { source: 'file', method: 'minmax' },
    });

    // Calibrating itself on the same first 32 images (one batch of 32, as quantize ran) gives the same model.
    const calibrated = await resnet(
      'eval-cifar10', '--model', 'resnet20', '--weights', checkpoint, '--data', subset, '--dtype', 'int8',
      '--calibration-images', String(calibrationImages), '--batch', '32', '--json',
    );
    expect(calibrated.code, calibrated.stderr).toBe(0);
    const result = JSON.parse(calibrated.stdout) as EvalJson;
    expect(result).toMatchObject({ dtype: 'int8', correct: int8Correct, float32: { correct: floatCorrect }, quantization: { source: 'calibrated', method: 'minmax', images: calibrationImages } });
    console.log(`resnet20 on ${labels.length} subset images: int8 ${int8Correct}, float32 ${floatCorrect} (calibrated on ${calibrationImages})`);
  }, 60_000);

  it('export --weights of a quantized file writes its QDQ model, which onnxruntime runs to the same classes', async () => {
    const out = join(dir, 'resnet20-int8.onnx');
    const { stdout, stderr, code } = await resnet('export', '--model', 'resnet20', '--weights', quantizedFile, '--out', out);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('int8 QDQ');
    const quantized = await loadQuantized(resnet20(), quantizedFile);
    const written = new Uint8Array(await readFile(out));
    expect(Buffer.from(written).equals(Buffer.from(toOnnxBytes(quantized, { opset: 17, dynamicBatch: true, inputShape: [3, 32, 32] })))).toBe(true);

    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(written);
    const n = 64;
    const x = normalizedSlice(pixels, 0, n);
    const theirs = (Object.values(await session.run({ input: new ort.Tensor('float32', x.data, [n, 3, 32, 32]) }))[0]!.data as Float32Array);
    await session.release();
    quantized.to({ dtype: 'int8' });
    const ours = (await quantized.forward(x)).argmax();
    const agree = ours.filter((c, i) => {
      const row = theirs.subarray(i * 10, i * 10 + 10);
      return row.indexOf(Math.max(...row)) === c;
    }).length;
    console.log(`resnet20 int8: onnxruntime's QDQ top-1 agrees with ours on ${agree}/${n} images`);
    expect(agree).toBeGreaterThanOrEqual(n - 1);
  }, 60_000);

  it('bench --weights of a quantized file runs its scales, without calibrating', async () => {
    const { stdout, stderr, code } = await resnet('bench', '--model', 'resnet20', '--weights', quantizedFile, '--dtype', 'int8', '--batch', '4', '--iters', '2', '--warmup', '1', '--threads', '1');
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`resnet-cudnn (cpu) int8: the scales of ${quantizedFile} (minmax)`);
    expect(stdout).not.toContain('not run');
    expect(stdout).toMatch(/resnet20\s+4\s+resnet-cudnn \(cpu\)\s+\d+\.\d+/);
  }, 60_000);

  it('refuses bad input with the exit codes of the CLI', async () => {
    const emptyDir = join(dir, 'no-images');
    await mkdir(emptyDir);
    const out = join(dir, 'refused.safetensors');
    const base = ['quantize', '--model', 'resnet20', '--weights', checkpoint, '--calibration', subset, '--out', out, '--json'];
    const withArg = (name: string, value: string) => base.map((a, i) => (base[i - 1] === name ? value : a));
    const cases: [string[], number, string, RegExp][] = [
      [withArg('--weights', join(dir, 'missing.th')), 1, 'ERR_INVALID_FILE', /missing\.th/],
      [withArg('--model', 'resnet32'), 1, 'ERR_STATE_DICT', /does not fit resnet32/],
      [withArg('--calibration', emptyDir), 1, 'ERR_INVALID_ARGUMENT', /holds no image/],
      [withArg('--calibration', join(dir, 'absent')), 1, 'ERR_INVALID_ARGUMENT', /cannot be read/],
      [withArg('--out', join(dir, 'out.onnx')), 2, 'ERR_INVALID_ARGUMENT', /must be a \.safetensors file/],
      [[...base, '--method', 'kl'], 2, 'ERR_USAGE', /--method/],
      [['eval-cifar10', '--model', 'resnet20', '--weights', quantizedFile, '--data', subset, '--dtype', 'int8', '--calibration', subset, '--json'], 2, 'ERR_INVALID_ARGUMENT', /already quantized/],
      [['eval-cifar10', '--model', 'resnet20', '--weights', checkpoint, '--data', subset, '--calibration-images', '8', '--json'], 2, 'ERR_INVALID_ARGUMENT', /--calibration-images goes with --dtype int8/],
    ];
    const results = await Promise.all(cases.map(([args]) => resnet(...args)));
    results.forEach((result, i) => {
      const [args, exitCode, errorCode, message] = cases[i]!;
      const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string } };
      expect({ exit: result.code, code: error.code }, `${args.join(' ')}: ${error.message}`).toEqual({ exit: exitCode, code: errorCode });
      expect(error.message).toMatch(message);
    });
  }, 60_000);
});
