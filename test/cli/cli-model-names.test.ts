/**
 * The CLI's model names (lib/cli/model-names.ts): `bench` and `export` take torchvision's ImageNet
 * ResNets and the paper's CIFAR-10 ones, `classify` only the former and `eval-cifar10` only the latter,
 * each refusal naming the command that takes the name; `getModel`/`listModels` stay torchvision's.
 * In-process (no build needed): the subcommands' run functions, not the compiled binary.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import * as ort from 'onnxruntime-node';
import { CifarResNet, Generator, ResNet, Tensor, listModels, loadSafetensors, saveSafetensors, resnet20 } from '../../lib/index.js';
import { runBench } from '../../lib/cli/bench.js';
import { runClassify } from '../../lib/cli/classify.js';
import { runEvalCifar10 } from '../../lib/cli/eval-cifar10.js';
import { runExport } from '../../lib/cli/export.js';
import { buildNamedModel, checkModelName, defaultInputSize, modelFamily } from '../../lib/cli/model-names.js';
import { maxRelativeError, uniform } from '../helpers/helpers.js';

const temp = mkdtempSync(join(tmpdir(), 'resnet-model-names-'));

describe('CLI model names', () => {
  it('knows both families, which do not overlap; the registry stays torchvision-only', () => {
    expect(modelFamily('resnet50')).toBe('imagenet');
    expect(modelFamily('wide_resnet101_2')).toBe('imagenet');
    expect(modelFamily('resnet20')).toBe('cifar10');
    expect(modelFamily('resnet1202')).toBe('cifar10');
    expect(modelFamily('resnet19')).toBeNull();
    expect(listModels()).not.toContain('resnet20');
    expect(defaultInputSize('resnet56')).toBe(32);
    expect(defaultInputSize('resnet18')).toBe(224);
    expect(buildNamedModel('resnet20', { numClasses: 7 })).toBeInstanceOf(CifarResNet);
    expect(buildNamedModel('resnet18', { numClasses: 7 })).toBeInstanceOf(ResNet);
    expect((buildNamedModel('resnet20', { numClasses: 7 }) as CifarResNet).linear.outFeatures).toBe(7);
  });

  it('refuses unknown names listing both families, and a family a command does not take naming the right command', () => {
    expect(() => checkModelName('resnet19')).toThrow(
      /^Unknown model "resnet19"; choose one of resnet101, .*wide_resnet50_2 \(torchvision, ImageNet\) or resnet20, .*resnet1202 \(CIFAR-10\)$/,
    );
    expect(() => checkModelName('resnet20', ['imagenet'])).toThrow(/resnet20 is a CIFAR-10 network .*use resnet eval-cifar10/);
    expect(() => checkModelName('resnet50', ['cifar10'])).toThrow(/resnet50 is a torchvision ImageNet network: .*resnet20, resnet32/);
  });

  it('classify refuses a CIFAR-10 name and eval-cifar10 an ImageNet one, before reading any file', async () => {
    await expect(runClassify(['no-such.jpg'], { model: 'resnet32', weights: 'DEFAULT', topk: 5 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/resnet32 is a CIFAR-10 network/),
    });
    await expect(runEvalCifar10({ model: 'resnet18', weights: 'no-such.th', data: 'no-such.bin', batch: 10 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/resnet18 is a torchvision ImageNet network/),
    });
  });

  it('export writes a CIFAR-10 network as ONNX at 32x32 by default, and onnxruntime agrees with our forward', async () => {
    const model = resnet20({ generator: new Generator(31), numClasses: 10 });
    const weights = join(temp, 'resnet20.safetensors');
    await saveSafetensors(weights, model.stateDict());
    const out = join(temp, 'resnet20.onnx');
    await runExport({ model: 'resnet20', out, weights, opset: 17 });
    const x = uniform(2 * 3 * 32 * 32, 32, -2, 2);
    const session = await ort.InferenceSession.create(out);
    const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, [2, 3, 32, 32]) });
    const theirs = result[session.outputNames[0]!]!.data as Float32Array;
    model.loadStateDict(await loadSafetensors(weights));
    const ours = (await model.forward(Tensor.from(x, [2, 3, 32, 32]))).data as Float32Array;
    expect(theirs.length).toBe(20);
    expect(maxRelativeError(theirs, ours)).toBeLessThan(1e-4);
  });

  it('bench runs a CIFAR-10 network, at 32x32 by default', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const rows = await runBench({ model: 'resnet20', batches: [2], iters: 1, warmup: 1 });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ model: 'resnet20', batch: 2, device: 'cpu' });
      expect(rows[0]!.imgPerSec).toBeGreaterThan(0);
      expect(String(log.mock.calls[0]?.[0])).toMatch(/^resnet20, 32x32, float32 on cpu/);
    } finally {
      log.mockRestore();
    }
  });
});
