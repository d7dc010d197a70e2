/**
 * `summary(model, inputSize)` against torchinfo 1.8's own printed results for torchvision's models: the
 * tables and totals in torchinfo's test outputs (tests/test_output/resnet50.out at [2, 3, 224, 224],
 * resnet152.out at [1, 3, 224, 224], resnet18_depth_consistency.out at [1, 3, 64, 64]) and the usual
 * figures at [1, 3, 224, 224] (resnet18: 11,689,512 parameters, 1.81 G mult-adds; resnet50: 25,557,032 and
 * 4.09 G). The total mult-adds are also recomputed here from the layers themselves, torchinfo's way.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BatchNorm2d, Conv2d, Linear, macsPerSample, resnet18, resnet50, resnet152, summary, type Module } from '../../lib/index.js';

/** The summary's closing lines, from "Total params" on, without the dividers. */
function totalsOf(table: string): string[] {
  const lines = table.split('\n');
  return lines.slice(lines.findIndex((l) => l.startsWith('Total params'))).filter((l) => !l.startsWith('='));
}

/**
 * torchinfo's total mult-adds for a torchvision ResNet on one image, from the layers rather than the trace:
 * every conv's weight × output pixels (= the usual conv MACs), fc's weight and bias, and each BatchNorm's
 * weight and bias (2·C).
 */
function torchinfoMacsPerImage(model: Module, size: number): number {
  let bn = 0;
  for (const m of model.modules()) if (m instanceof BatchNorm2d) bn += 2 * m.numFeatures;
  const fc = model.modules().filter((m): m is Linear => m instanceof Linear)[0]!;
  return macsPerSample(model, [3, size, size]) + fc.outFeatures + bn;
}

describe('summary', () => {
  it('resnet50 on [2, 3, 224, 224]: torchinfo’s table rows and totals', () => {
    const s = summary(resnet50(), [2, 3, 224, 224], { columns: ['outputShape', 'params'] });
    // torchinfo's tests/test_output/resnet50.out, first rows and totals, as printed.
    const expectedHead = [
      '==========================================================================================',
      'Layer (type:depth-idx)                   Output Shape              Param #',
      '==========================================================================================',
      'ResNet                                   [2, 1000]                 --',
      '├─Conv2d: 1-1                            [2, 64, 112, 112]         9,408',
      '├─BatchNorm2d: 1-2                       [2, 64, 112, 112]         128',
      '├─ReLU: 1-3                              [2, 64, 112, 112]         --',
      '├─MaxPool2d: 1-4                         [2, 64, 56, 56]           --',
      '├─Sequential: 1-5                        [2, 256, 56, 56]          --',
      '│    └─Bottleneck: 2-1                   [2, 256, 56, 56]          --',
      '│    │    └─Conv2d: 3-1                  [2, 64, 56, 56]           4,096',
      '│    │    └─BatchNorm2d: 3-2             [2, 64, 56, 56]           128',
      '│    │    └─ReLU: 3-3                    [2, 64, 56, 56]           --',
      '│    │    └─Conv2d: 3-4                  [2, 64, 56, 56]           36,864',
      '│    │    └─BatchNorm2d: 3-5             [2, 64, 56, 56]           128',
      '│    │    └─ReLU: 3-6                    [2, 64, 56, 56]           --',
      '│    │    └─Conv2d: 3-7                  [2, 256, 56, 56]          16,384',
      '│    │    └─BatchNorm2d: 3-8             [2, 256, 56, 56]          512',
      '│    │    └─Sequential: 3-9              [2, 256, 56, 56]          16,896',
      '│    │    └─ReLU: 3-10                   [2, 256, 56, 56]          --',
      '│    └─Bottleneck: 2-2                   [2, 256, 56, 56]          --',
      '│    │    └─Conv2d: 3-11                 [2, 64, 56, 56]           16,384',
    ];
    const expectedTail = [
      '│    │    └─ReLU: 3-142                  [2, 512, 7, 7]            --',
      '│    │    └─Conv2d: 3-143                [2, 512, 7, 7]            2,359,296',
      '│    │    └─BatchNorm2d: 3-144           [2, 512, 7, 7]            1,024',
      '│    │    └─ReLU: 3-145                  [2, 512, 7, 7]            --',
      '│    │    └─Conv2d: 3-146                [2, 2048, 7, 7]           1,048,576',
      '│    │    └─BatchNorm2d: 3-147           [2, 2048, 7, 7]           4,096',
      '│    │    └─ReLU: 3-148                  [2, 2048, 7, 7]           --',
      '├─AdaptiveAvgPool2d: 1-9                 [2, 2048, 1, 1]           --',
      '├─Linear: 1-10                           [2, 1000]                 2,049,000',
      '==========================================================================================',
      'Total params: 25,557,032',
      'Trainable params: 25,557,032',
      'Non-trainable params: 0',
      'Total mult-adds (G): 8.18',
      '==========================================================================================',
      'Input size (MB): 1.20',
      'Forward/backward pass size (MB): 355.66',
      'Params size (MB): 102.23',
      'Estimated Total Size (MB): 459.10',
      '==========================================================================================',
    ];
    const lines = s.table.split('\n');
    expect(lines.slice(0, expectedHead.length)).toEqual(expectedHead);
    expect(lines.slice(-expectedTail.length)).toEqual(expectedTail);
    expect(String(s)).toBe(s.table);
    expect(inspect(s)).toBe(s.table);
  });

  it('resnet152 on [1, 3, 224, 224] and resnet18 on [1, 3, 64, 64]: torchinfo’s totals', () => {
    expect(totalsOf(summary(resnet152(), [1, 3, 224, 224]).table)).toEqual([
      'Total params: 60,192,808', 'Trainable params: 60,192,808', 'Non-trainable params: 0', 'Total mult-adds (G): 11.51',
      'Input size (MB): 0.60', 'Forward/backward pass size (MB): 360.87', 'Params size (MB): 240.77', 'Estimated Total Size (MB): 602.25',
    ]);
    const small = summary(resnet18(), [1, 3, 64, 64], { depth: 1 });
    expect(totalsOf(small.table)).toEqual([
      'Total params: 11,689,512', 'Trainable params: 11,689,512', 'Non-trainable params: 0', 'Total mult-adds (M): 148.57',
      'Input size (MB): 0.05', 'Forward/backward pass size (MB): 3.25', 'Params size (MB): 46.76', 'Estimated Total Size (MB): 50.06',
    ]);
    // resnet18_depth_consistency.out at depth 1: each layer's output shape and total parameters.
    const layers = small.rows.filter((r) => r.depth === 1 && r.className === 'Sequential').map((r) => [r.outputShape, r.params]);
    expect(layers).toEqual([[[1, 64, 16, 16], 147_968], [[1, 128, 8, 8], 525_568], [[1, 256, 4, 4], 2_099_712], [[1, 512, 2, 2], 8_393_728]]);
    expect(small.table).toContain('├─Sequential: 1-8                        [1, 512, 2, 2]            8,393,728');
    expect(small.table.split('\n').filter((l) => l.startsWith('│'))).toEqual([]); // depth 2 and below hidden
  });

  it('[1, 3, 224, 224]: resnet18 11,689,512 params, 1.81 G; resnet50 25,557,032, 4.09 G; totals recomputed from the layers', () => {
    for (const [model, params, gmacs] of [[resnet18(), 11_689_512, '1.81'], [resnet50(), 25_557_032, '4.09']] as const) {
      const s = summary(model, [1, 3, 224, 224]);
      expect(s.totalParams).toBe(params);
      expect(s.trainableParams).toBe(params);
      expect(s.nonTrainableParams).toBe(0);
      expect(s.table).toContain(`Total mult-adds (G): ${gmacs}`);
      expect(s.totalMultAdds).toBe(torchinfoMacsPerImage(model, 224));
      expect(s.inputBytes).toBe(1 * 3 * 224 * 224 * 4);
      expect(s.paramBytes).toBe(params * 4);
      expect(s.totalBytes).toBe(s.inputBytes + s.forwardBackwardBytes + s.paramBytes);
      // Mult-adds scale with the batch.
      expect(summary(model, [3, 3, 224, 224]).totalMultAdds).toBe(3 * s.totalMultAdds);
    }
  });

  it('rows as data: call order, per-depth numbering, reused modules, torchinfo’s per-layer mult-adds', () => {
    const s = summary(resnet18(), [4, 3, 32, 32]);
    expect(s.rows[0]).toMatchObject({ path: '', className: 'ResNet', depth: 0, outputShape: [4, 1000], params: 11_689_512, leaf: false });
    const stem = s.rows[1]!;
    // conv1: 9,408 weights × 4 images × 16 × 16 output pixels.
    expect(stem).toMatchObject({ path: 'conv1', className: 'Conv2d', depth: 1, depthIndex: 1, outputShape: [4, 64, 16, 16], params: 9408, macs: 9408 * 4 * 16 * 16, leaf: true });
    expect(s.rows[2]).toMatchObject({ path: 'bn1', macs: 4 * 128 });
    // A block's relu is called twice: two rows, the second one marked recursive.
    const relus = s.rows.filter((r) => r.path === 'layer1.0.relu');
    expect(relus.map((r) => r.recursive)).toEqual([false, true]);
    expect(relus.map((r) => r.depthIndex)).toEqual([3, 6]);
    const downsample = s.rows.find((r) => r.path === 'layer2.0.downsample')!;
    expect(downsample).toMatchObject({ className: 'Sequential', depth: 3, params: 128 * 64 + 2 * 128, ownParams: 0, leaf: false });
    const inside = s.rows.filter((r) => r.path.startsWith('layer2.0.downsample.'));
    expect(downsample.macs).toBe(inside.reduce((n, r) => n + r.macs, 0));
    const fc = s.rows.at(-1)!;
    expect(fc).toMatchObject({ path: 'fc', className: 'Linear', outputShape: [4, 1000], macs: 4 * 513_000 });
    expect(s.rows.reduce((n, r) => n + (r.leaf ? r.macs : 0), 0)).toBe(s.totalMultAdds);
    // The table hides depth 4 (the downsample's conv and BN) but numbers it: the next depth-3 row keeps counting.
    expect(s.table).not.toContain('4-1');
  });

  it('counts a model with edited children (a new head) and any layer class', () => {
    const model = resnet18();
    model.fc = new Linear(512, 10);
    const s = summary(model, [1, 3, 64, 64], { columns: ['macs'] });
    expect(s.totalParams).toBe(11_689_512 - 513_000 + 5130);
    expect(s.rows.at(-1)).toMatchObject({ outputShape: [1, 10], macs: 5130 });
    expect(s.table.split('\n')[1]).toBe('Layer (type:depth-idx)                   Mult-Adds');
    const conv = summary(new Conv2d(3, 8, 3, { padding: 1 }), [2, 3, 10, 10]);
    expect(conv.rows).toHaveLength(1);
    expect(conv.totalMultAdds).toBe((8 * 3 * 9 + 8) * 2 * 10 * 10);
  });

  it('bad arguments are typed errors', () => {
    const model = resnet18();
    for (const size of [undefined, [1], [0, 3, 32, 32], [1, 3, 32.5, 32], '1,3,32,32']) {
      expect(() => summary(model, size as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => summary(model, [1, 4, 32, 32])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SHAPE' }));
    for (const options of [{ depth: -1 }, { columns: ['params', 'kernel'] }, { columns: ['macs', 'macs'] }, { verbose: 2 }, 3]) {
      expect(() => summary(model, [1, 3, 32, 32], options as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => summary({} as never, [1, 3, 32, 32])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
