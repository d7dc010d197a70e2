/**
 * Concurrent forwards on one model: different batch sizes at once (each compiles its own executable,
 * first calls share one compilation) give the same answers as one-at-a-time calls.
 */
import { describe, expect, it } from 'vitest';
import { resnet18, Tensor, manualSeed } from '../../lib/index.js';
import { uniform } from '../helpers/helpers.js';

describe('concurrent forward', () => {
  it('eight overlapping forwards of mixed batch sizes equal sequential ones', async () => {
    manualSeed(8);
    const model = resnet18({ numClasses: 7 });
    const batches = [1, 3, 2, 1, 3, 2, 4, 1];
    const inputs = batches.map((n, i) => Tensor.from(uniform(n * 3 * 40 * 40, 100 + i), [n, 3, 40, 40]));
    const together = await Promise.all(inputs.map((x) => model.forward(x)));
    for (let i = 0; i < inputs.length; i++) {
      const alone = await model.forward(inputs[i]!);
      expect(together[i]!.shape).toEqual([batches[i], 7]);
      expect(Array.from(together[i]!.data as Float32Array)).toEqual(Array.from(alone.data as Float32Array));
    }
    // Each row of a batch equals that image run alone (no cross-talk inside a batch).
    const batch3 = inputs[1]!;
    const firstImage = Tensor.from((batch3.data as Float32Array).slice(0, 3 * 40 * 40), [1, 3, 40, 40]);
    const single = await model.forward(firstImage);
    const row = (together[1]!.data as Float32Array).subarray(0, 7);
    for (let c = 0; c < 7; c++) expect(row[c]).toBeCloseTo((single.data as Float32Array)[c]!, 4);
  });
});
