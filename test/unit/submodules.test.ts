/**
 * Any module lowers and runs on its own (a whole stage, one block), checked against onnxruntime-node on
 * the same module exported to ONNX.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { resnet50, Tensor, toOnnxBytes, manualSeed, type Module } from '../../lib/index.js';
import { maxRelativeError, randomizeBatchNorms, uniform } from '../helpers/helpers.js';

async function compare(module: Module, sample: number[], batch: number): Promise<number> {
  const shape = [batch, ...sample];
  const data = uniform(shape.reduce((a, b) => a * b, 1), 21);
  const ours = await module.forward(Tensor.from(data, shape));
  const session = await ort.InferenceSession.create(toOnnxBytes(module, { inputShape: sample }), { intraOpNumThreads: 2 });
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', data, shape) });
    const theirs = out[session.outputNames[0]!]!;
    expect(ours.shape).toEqual(theirs.dims);
    return maxRelativeError(ours.data as Float32Array, theirs.data as Float32Array);
  } finally {
    await session.release();
  }
}

describe('submodules run on their own', () => {
  manualSeed(31);
  const model = resnet50();
  randomizeBatchNorms(model, 32);

  it('model.layer3 on [2, 512, 14, 14] → [2, 1024, 7, 7]', async () => {
    expect(await compare(model.layer3, [512, 14, 14], 2)).toBeLessThanOrEqual(1e-4);
  });

  it('one Bottleneck with a projection shortcut (layer2.0) and one without (layer2.1)', async () => {
    expect(await compare(model.getSubmodule('layer2.0'), [256, 20, 20], 1)).toBeLessThanOrEqual(1e-4);
    expect(await compare(model.getSubmodule('layer2.1'), [512, 9, 9], 3)).toBeLessThanOrEqual(1e-4);
  });

  it('a lone BatchNorm2d and a lone conv', async () => {
    expect(await compare(model.bn1, [64, 5, 7], 2)).toBeLessThanOrEqual(1e-5);
    expect(await compare(model.conv1, [3, 17, 23], 2)).toBeLessThanOrEqual(1e-5);
  });
});
