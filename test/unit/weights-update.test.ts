/**
 * Weights flow: a safetensors round trip gives the same answers, and changing weights after a first
 * forward (loadStateDict, or in-place edits announced with markWeightsChanged) gives the new answer.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resnet18, Tensor, manualSeed, saveSafetensors, loadSafetensors } from '../../lib/index.js';
import { maxRelativeError, randomizeBatchNorms, uniform } from '../helpers/helpers.js';

const input = Tensor.from(uniform(2 * 3 * 48 * 48, 9), [2, 3, 48, 48]);

describe('weights after a first forward', () => {
  it('loadStateDict from another model gives that model\'s answer; a safetensors round trip keeps it', async () => {
    manualSeed(1);
    const a = resnet18({ numClasses: 10 });
    manualSeed(2);
    const b = resnet18({ numClasses: 10 });
    randomizeBatchNorms(b, 3);
    const before = await a.forward(input);
    const expected = await b.forward(input);
    expect(maxRelativeError(before.data as Float32Array, expected.data as Float32Array)).toBeGreaterThan(1e-2);

    const file = join(mkdtempSync(join(tmpdir(), 'resnet-')), 'b.safetensors');
    await saveSafetensors(file, b.stateDict());
    a.loadStateDict(await loadSafetensors(file));
    const after = await a.forward(input);
    expect(Array.from(after.data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
  });

  it('in-place edits take effect after markWeightsChanged', async () => {
    manualSeed(4);
    const model = resnet18({ numClasses: 10 });
    const first = await model.forward(input);
    (model.fc.bias!.data as Float32Array).fill(100);
    model.markWeightsChanged();
    const second = await model.forward(input);
    const a = first.data as Float32Array;
    const b = second.data as Float32Array;
    const fcBias = Float32Array.from(a, () => 0);
    // Only the bias changed, so every logit moves by (100 − old bias).
    manualSeed(4);
    const oldBias = resnet18({ numClasses: 10 }).fc.bias!.data as Float32Array;
    for (let i = 0; i < a.length; i++) fcBias[i] = a[i]! - oldBias[i % 10]! + 100;
    expect(maxRelativeError(b, fcBias)).toBeLessThan(1e-5);
  });
});
