/**
 * Our int8 engine against onnxruntime-node running the QDQ export of the same quantized model (issue 15): an
 * independent engine for the same integers (weights, int32 biases and scales from one lowering). Top-1
 * agreement of at least 99%, and the logit differences printed: on a real CIFAR-10 checkpoint and images, and
 * on a random-weight ResNet-50 at 224 on crops of the shared photos. The export's default layout leaves the
 * residual convs in float so onnxruntime adds the residual before rounding, as our engines do.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  Tensor, cifarResNetNormalization, extractStateDict, getCifarModel, loadCheckpoint, manualSeed, quantize, readCifar10, resnet50, toOnnxBytes,
  type Module,
} from '../../lib/index.js';
import { argmaxRows, relativeL2 } from '../helpers/helpers.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';
import { photoCrops, photoFiles } from '../helpers/photo-crops.js';

async function onnxruntime(model: Module, sample: number[], x: Tensor<'float32'>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(toOnnxBytes(model, { inputShape: sample }), { intraOpNumThreads: 2 });
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x.data as Float32Array, x.shape as number[]) });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** Agreement and logit differences of ours against onnxruntime, printed. */
function compare(name: string, ours: Float32Array, theirs: Float32Array, classes: number): number {
  const a = argmaxRows(ours, classes);
  const b = argmaxRows(theirs, classes);
  const agree = a.filter((p, i) => p === b[i]).length / a.length;
  let maxDiff = 0;
  let range = 0;
  for (let i = 0; i < ours.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - theirs[i]!));
    range = Math.max(range, Math.abs(theirs[i]!));
  }
  console.log(
    `${name}: int8 top-1 agreement with onnxruntime's QDQ ${(agree * 100).toFixed(1)}% over ${a.length} inputs; ` +
      `logits: relative L2 ${relativeL2(ours, theirs).toExponential(2)}, largest difference ${maxDiff.toExponential(2)} (largest |logit| ${range.toFixed(2)})`,
  );
  return agree;
}

const cifar = dataPath('cifar10', 'test_subset_500.bin');
const checkpoints = [['resnet20', dataPath('cifar10-resnets', 'resnet20-12fca82f.th')]] as const;

describe.skipIf(dataAbsent('int8 against onnxruntime on CIFAR-10', cifar, ...checkpoints.map(([, f]) => f)) !== null)('int8 against onnxruntime: CIFAR-10 checkpoints', () => {
  for (const [name, file] of checkpoints) {
    it(`${name}: the same top-1 as onnxruntime on the QDQ export on at least 99% of 500 images`, async () => {
      const { images } = await readCifar10(cifar);
      const { mean, std } = cifarResNetNormalization;
      const plane = 32 * 32;
      const x = Tensor.from(Float32Array.from(images.data as Uint8Array, (p, i) => (p / 255 - mean[Math.floor(i / plane) % 3]!) / std[Math.floor(i / plane) % 3]!), [500, 3, 32, 32]);
      const model = getCifarModel(name);
      model.loadStateDict(extractStateDict(await loadCheckpoint(file), { stripPrefix: 'module.' }));
      const calibration = Tensor.from((x.data as Float32Array).slice(0, 256 * 3 * plane), [256, 3, 32, 32]);
      const q = await quantize(model, { calibration });
      const ours = (await q.forward(x)).data as Float32Array;
      expect(compare(name, ours, await onnxruntime(q, [3, 32, 32], x), 10)).toBeGreaterThanOrEqual(0.99);
    }, 300_000);
  }
});

describe.skipIf(dataAbsent('int8 against onnxruntime at 224', ...photoFiles) !== null)('int8 against onnxruntime: random ResNet-50 at 224', () => {
  it('resnet50: the same top-1 as onnxruntime on the QDQ export on at least 99% of 32 photo crops', async () => {
    manualSeed(15);
    const model = resnet50();
    const q = await quantize(model, { calibration: await photoCrops(16, 1) });
    const x = await photoCrops(32, 3);
    const ours = (await q.forward(x)).data as Float32Array;
    expect(compare('resnet50', ours, await onnxruntime(q, [3, 224, 224], x), 1000)).toBeGreaterThanOrEqual(0.99);
  }, 600_000);
});
