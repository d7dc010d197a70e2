/**
 * The file-handling `resnet` commands (classify, convert, eval-cifar10) as a user runs them: the compiled
 * CLI in a child process (needs `npm run build:ts`; skipped with a message otherwise).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, cliBuilt, resnet } from '../helpers/cli-runner.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Generator, IMAGENET_CATEGORIES, getCifarModel, ResNet18_Weights, Tensor, getModel, loadSafetensors, loadStateDictFile, preprocess,
  readImage, saveCheckpoint, type StateDict,
} from '../../lib/index.js';
import { randomizeBatchNorms } from '../helpers/helpers.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

const built = cliBuilt;
if (!built) console.warn(`test/cli-io.test.ts: skipped, ${cli} is missing (run npm run build:ts)`);
const dogJpg = dataPath('images', 'dog.jpg');
const hasDog = dataAbsent('resnet classify on a photo', dogJpg) === null;
const cifarCheckpoint = dataPath('cifar10-resnets', 'resnet20-12fca82f.th');
const cifarData = dataPath('cifar10', 'test_first20_exact.bin');
const hasCifar = dataAbsent('resnet eval-cifar10 on the exact test images', cifarCheckpoint, cifarData) === null;

const temp = mkdtempSync(join(tmpdir(), 'resnet-cli-io-'));


/** An error exits 1 (2: a wrong command line) with exactly one line on stderr, naming what went wrong. */
function expectOneLineError(result: { stderr: string; code: number }, text: RegExp, code = 1): void {
  expect(result.code).toBe(code);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^resnet: /);
  expect(lines[0]).toMatch(text);
}

function expectSameStateDict(actual: StateDict, expected: StateDict): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, tensor] of Object.entries(expected)) {
    expect(actual[name]!.dtype, name).toBe(tensor.dtype);
    expect(actual[name]!.shape, name).toEqual(tensor.shape);
    expect([...actual[name]!.data], name).toEqual([...tensor.data]);
  }
}

describe.runIf(built)('resnet convert', () => {
  // Several dtypes and shapes, with the DataParallel prefix on some keys.
  const original: StateDict = {
    'module.conv.weight': Tensor.from(Float32Array.from({ length: 2 * 3 * 3 * 3 }, (_, i) => Math.fround(Math.sin(i) * 3)), [2, 3, 3, 3]),
    'module.bn.num_batches_tracked': Tensor.from([7n], []),
    'fc.bias': Tensor.from(Float32Array.of(-1.5, 0, 2.25e-8), [3]),
    'half': Tensor.from(Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001), [2, 2], 'float16'),
  };
  const pth = join(temp, 'in.pth');
  beforeAll(async () => saveCheckpoint(original, pth));

  it('.pth → .safetensors → .pt keeps every key, dtype, shape and value', async () => {
    const st = join(temp, 'round.safetensors');
    const back = join(temp, 'round.pt');
    const first = await resnet('convert', pth, st);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('4 tensors');
    expectSameStateDict(await loadSafetensors(st), original);
    expect((await resnet('convert', st, back)).code).toBe(0);
    expectSameStateDict(await loadStateDictFile(back), original);
  });

  it('--strip-prefix module. removes the prefix where it is', async () => {
    const st = join(temp, 'stripped.safetensors');
    expect((await resnet('convert', pth, st, '--strip-prefix', 'module.')).code).toBe(0);
    const got = await loadSafetensors(st);
    expect(Object.keys(got).sort()).toEqual(['bn.num_batches_tracked', 'conv.weight', 'fc.bias', 'half']);
    expect([...got['conv.weight']!.data]).toEqual([...original['module.conv.weight']!.data]);
  });

  it('a missing input or a corrupt file exit 1 with one line, an unknown extension 2', async () => {
    expectOneLineError(await resnet('convert', join(temp, 'absent.pth'), join(temp, 'x.safetensors')), /Cannot read checkpoint .*absent\.pth.*ERR_INVALID_FILE/);
    expectOneLineError(await resnet('convert', pth, join(temp, 'x.onnx')), /format of OUT .*x\.onnx.*extension/, 2);
    const junk = join(temp, 'junk.safetensors');
    writeFileSync(junk, 'not a safetensors file');
    expectOneLineError(await resnet('convert', junk, join(temp, 'x.pth')), /junk\.safetensors|safetensors.*\[ERR_INVALID_FILE\]/);
  });
});

describe.runIf(built)('resnet classify', () => {
  const weightsFile = join(temp, 'random-resnet18.pth');
  const model = getModel('resnet18', { generator: new Generator(21) });
  beforeAll(async () => {
    // Random BatchNorm statistics so that the logits are spread out, not a near-tie of 1000 classes.
    randomizeBatchNorms(model, 22);
    await saveCheckpoint(model.stateDict(), weightsFile);
  });

  it.skipIf(!hasDog)('--weights FILE --json: top classes sorted, named, and top-1 as the library API gives', async () => {
    const { stdout, code, stderr } = await resnet('classify', dogJpg, dogJpg, '--model', 'resnet18', '--weights', weightsFile, '--topk', '5', '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const results = JSON.parse(stdout) as { image: string; top: { index: number; name: string; probability: number }[] }[];
    expect(results).toHaveLength(2);
    const { resizeSize, cropSize, mean, std } = ResNet18_Weights.DEFAULT.transforms();
    const logits = await model.forward(preprocess(await readImage(dogJpg), { resizeSize, cropSize, mean, std }));
    const want = logits.softmax().topk(5);
    for (const { image, top } of results) {
      expect(image).toBe(dogJpg);
      expect(top).toHaveLength(5);
      for (const c of top) {
        expect(Object.keys(c).sort()).toEqual(['index', 'name', 'probability']);
        expect(c.name).toBe(IMAGENET_CATEGORIES[c.index]);
        expect(c.probability).toBeGreaterThan(0);
      }
      const probabilities = top.map((c) => c.probability);
      expect(probabilities).toEqual([...probabilities].sort((a, b) => b - a));
      expect(probabilities.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
      expect(top[0]!.index).toBe(logits.argmax()[0]);
      expect(top.map((c) => c.index)).toEqual(want.indices[0]);
    }
  }, 120_000);

  it.skipIf(!hasDog)('prints a readable table without --json', async () => {
    const { stdout, code } = await resnet('classify', dogJpg, '-m', 'resnet18', '-w', weightsFile, '-k', '2');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(dogJpg);
    expect(lines[1]).toMatch(/^\s+\d+\.\d\d%\s+\S.* \(\d+\)$/);
  }, 120_000);

  it('a bad image or a missing file exit 1 with one line, a bad weights name 2 (listing the names)', async () => {
    const notImage = join(temp, 'not-an-image.jpg');
    writeFileSync(notImage, 'plain text, not a JPEG');
    expectOneLineError(await resnet('classify', notImage, '-m', 'resnet18', '-w', weightsFile), /not-an-image\.jpg.*\[ERR_INVALID_FILE\]/);
    expectOneLineError(await resnet('classify', join(temp, 'absent.png'), '-m', 'resnet18', '-w', weightsFile), /absent\.png.*\[ERR_INVALID_FILE\]/);
    // A readable image from the repository's fixtures, so that it is the absent checkpoint that fails.
    const image = fileURLToPath(new URL('../fixtures/images/exif6.jpg', import.meta.url));
    expectOneLineError(await resnet('classify', image, '-m', 'resnet18', '-w', join(temp, 'absent.pth')), /absent\.pth.*\[ERR_INVALID_FILE\]/);
    // The name is checked before any image is read or anything downloaded.
    expectOneLineError(await resnet('classify', notImage, '-m', 'resnet18', '-w', 'IMAGENET1K_V9'),
      /IMAGENET1K_V9.*choose one of IMAGENET1K_V1, DEFAULT \(= IMAGENET1K_V1\) \(ResNet18_Weights\).*\[ERR_INVALID_ARGUMENT\]/, 2);
  }, 120_000);
});

describe.runIf(built)('resnet eval-cifar10', () => {
  it.skipIf(!hasCifar)('resnet20 gets the 20 exact test images right (README table), with progress on stderr', async () => {
    const { stdout, stderr, code } = await resnet('eval-cifar10', '--model', 'resnet20', '--weights', cifarCheckpoint, '--data', cifarData, '--batch', '8', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ model: 'resnet20', dtype: 'float32', images: 20, correct: 20, accuracy: 1 });
    // Not a terminal here: the progress helper writes a line per step (8, 16, then the last 4).
    expect(stderr.trim().split('\n')).toEqual(['… resnet20: 8/20 images', '… resnet20: 16/20 images', '… resnet20: 20/20 images']);
  }, 120_000);

  it('a missing checkpoint, missing data or weights of another model exit 1 with one line', async () => {
    const weights = join(temp, 'random-resnet20.th');
    await saveCheckpoint(getCifarModel('resnet20', { generator: new Generator(3) }).stateDict(), weights);
    const data = join(temp, 'absent.bin');
    expectOneLineError(await resnet('eval-cifar10', '--weights', join(temp, 'absent.th'), '--data', data), /absent\.th.*\[ERR_INVALID_FILE\]/);
    expectOneLineError(await resnet('eval-cifar10', '--weights', weights, '--data', data), /CIFAR-10 data .*absent\.bin.*\[ERR_INVALID_FILE\]/);
    expectOneLineError(await resnet('eval-cifar10', '--model', 'resnet32', '--weights', weights, '--data', data), /\[ERR_STATE_DICT\]/);
  }, 120_000);
});
