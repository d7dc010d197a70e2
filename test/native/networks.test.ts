/**
 * Whole networks against onnxruntime-node: the same random weights exported to ONNX (unfused: Conv,
 * BatchNormalization, Relu, Add, …) and run by an engine we did not write.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { getModel, Tensor, toOnnxBytes, manualSeed, type ResNetFactoryOptions } from '../../lib/index.js';
import { maxRelativeError, randomizeBatchNorms, uniform } from '../helpers/helpers.js';

interface Case {
  name: string;
  size: number;
  options?: ResNetFactoryOptions;
  label?: string;
}

const cases: Case[] = [
  { name: 'resnet18', size: 224 },
  { name: 'resnet50', size: 224 },
  { name: 'resnet34', size: 64 },
  { name: 'resnet101', size: 64 },
  { name: 'resnet152', size: 64 },
  { name: 'resnext50_32x4d', size: 64 },
  { name: 'resnext101_32x8d', size: 64 },
  { name: 'resnext101_64x4d', size: 64 },
  { name: 'wide_resnet50_2', size: 64 },
  { name: 'wide_resnet101_2', size: 64 },
  { name: 'resnet50', size: 96, options: { replaceStrideWithDilation: [false, true, true] }, label: 'resnet50 dilated [false, true, true]' },
];

describe('whole networks vs onnxruntime-node (float32, batch 2)', () => {
  for (const c of cases) {
    it(`${c.label ?? c.name} at ${c.size}x${c.size}: logits within 1e-4`, async () => {
      manualSeed(42);
      const model = getModel(c.name, c.options);
      randomizeBatchNorms(model, 7);
      const shape = [2, 3, c.size, c.size];
      const data = uniform(2 * 3 * c.size * c.size, 11);
      const ours = await model.forward(Tensor.from(data, shape));
      expect(ours.shape).toEqual([2, 1000]);

      const session = await ort.InferenceSession.create(toOnnxBytes(model, { inputShape: shape.slice(1), dynamicBatch: true }), {
        intraOpNumThreads: 2,
      });
      try {
        const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', data, shape) });
        const theirs = result[session.outputNames[0]!]!.data as Float32Array;
        expect(theirs.length).toBe(2000);
        const err = maxRelativeError(ours.data as Float32Array, theirs);
        expect(err).toBeLessThanOrEqual(1e-4);
        // The two samples' logits differ, so a mixed-up batch dimension would not pass unnoticed.
        const logits = ours.data as Float32Array;
        expect(maxRelativeError(logits.subarray(0, 1000), logits.subarray(1000))).toBeGreaterThan(1e-3);
      } finally {
        await session.release();
      }
    });
  }
});
