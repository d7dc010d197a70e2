/**
 * The GPU check's int8 part, apart from a GPU: its made-up quantization (scripts/gpu-check/int8-graph.mjs), the
 * agreement it measures (int8.mjs) and its summary rows and targets (int8-summary.mjs, issue 15's GPU goals).
 */
import { describe, expect, it } from 'vitest';
import { lower, manualSeed, resnet18, Tracer, type Graph } from '../../lib/index.js';
import { quantizeWeightToGrid } from '../../lib/nn/quantization.js';
import { quantizeWithRanges } from '../../scripts/gpu-check/int8-graph.mjs';
import { agreementOf } from '../../scripts/gpu-check/int8.mjs';
import { INT8_GOALS, evaluateInt8Targets, int8RowsOf } from '../../scripts/gpu-check/int8-summary.mjs';

describe('int8 part: made-up quantization', () => {
  it('uint8 after a ReLU (and its max pool), int8 elsewhere, scales from the ranges; weights on per-channel grids of max|w|/127', () => {
    manualSeed(71);
    const graph = lower(Tracer.trace(resnet18(), [3, 32, 32]));
    const ranges = graph.values.map((_, i) => 2 + i);
    const q = quantizeWithRanges(graph, ranges, quantizeWeightToGrid) as Graph;
    const stem = q.ops[0]!;
    const pool = q.ops[1]!;
    if (stem.op !== 'conv' || pool.op !== 'maxpool') throw new Error('resnet18 starts with the stem conv and the max pool');
    expect(q.values[stem.dst]!.quant).toEqual({ scale: ranges[stem.dst]! / 255, dtype: 'uint8' });
    expect(q.values[pool.dst]!.quant).toEqual(q.values[pool.src]!.quant);
    expect(q.values[q.input]!.quant).toEqual({ scale: ranges[q.input]! / 127, dtype: 'int8' });
    // Per channel: the scale is max|w| / 127, every weight an integer number of steps, the largest exactly 127.
    const problems: string[] = [];
    for (const [i, op] of q.ops.entries()) {
      const original = graph.ops[i]!;
      if (op.op !== 'conv' || original.op !== 'conv') continue;
      const per = op.weight.length / op.outChannels;
      for (let o = 0; o < op.outChannels; o++) {
        const scale = op.weightScales![o]!;
        let max = 0;
        for (let j = o * per; j < (o + 1) * per; j++) max = Math.max(max, Math.abs(original.weight[j]!));
        if (Math.abs(scale - max / 127) > 1e-6 * scale) problems.push(`op ${i} channel ${o}: scale ${scale} for max ${max}`);
        let largest = 0;
        for (let j = o * per; j < (o + 1) * per; j++) {
          const steps = op.weight[j]! / scale;
          if (Math.abs(steps - Math.round(steps)) > 1e-3) problems.push(`op ${i} weight ${j}: ${steps} steps`);
          largest = Math.max(largest, Math.abs(Math.round(steps)));
        }
        if (largest !== 127) problems.push(`op ${i} channel ${o}: largest ${largest} steps`);
      }
    }
    expect(problems).toEqual([]);
    expect(graph.values.every((v) => v.quant === undefined)).toBe(true); // the input graph is left as it was
  });
});

describe('int8 part: agreement and targets', () => {
  it('top-1 agreement and relative L2 of two logit batches', () => {
    const a = Float32Array.from([1, 3, 2, 5, 0, 1]);
    const b = Float32Array.from([1, 2, 3, 5, 0, 1]);
    const r = agreementOf(a, b, 2);
    expect(r.images).toBe(2);
    expect(r.top1Agreement).toBe(0.5);
    expect(r.relativeL2).toBeCloseTo(Math.sqrt(2 / 40), 12);
  });

  const bench = [
    { dtype: 'float16', batch: 32, deviceImgPerSec: 20_000 },
    { dtype: 'float16', batch: 256, deviceImgPerSec: 40_000 },
    { dtype: 'float16', batch: 256, deviceImgPerSec: 10_000, legacy: true },
  ];

  it('pairs each int8 cell with the bench part\'s FP16 device-only cell (not its legacy rerun) and judges issue 15\'s goals', () => {
    expect(INT8_GOALS).toEqual({ deviceB256ImgPerSec: 60_000, fromBatch: 32, top1Agreement: 0.99 });
    const int8 = {
      quantization: 'made up',
      cells: [{ dtype: 'int8', batch: 256, deviceImgPerSec: 61_000 }, { dtype: 'int8', batch: 32, deviceImgPerSec: 19_000 }],
      agreement: { subjectInt8VsCpuInt8: { images: 64, top1Agreement: 0.984375, relativeL2: 0.01 } },
    };
    const rows = int8RowsOf(int8, bench);
    expect(rows).toEqual([
      { batch: 256, int8DeviceImgPerSec: 61_000, float16DeviceImgPerSec: 40_000, ratio: 1.525, error: null },
      { batch: 32, int8DeviceImgPerSec: 19_000, float16DeviceImgPerSec: 20_000, ratio: 0.95, error: null },
    ]);
    const t = Object.fromEntries(evaluateInt8Targets(int8, rows, undefined).map((x) => [x.id, x]));
    expect(t['int8-device-b256']).toMatchObject({ status: 'met', value: 61_000 });
    expect(t['int8-faster-than-fp16']).toMatchObject({ status: 'missed', value: 0.95 });
    expect(t['int8-faster-than-fp16']!.text).toContain('b32');
    expect(t['int8-top1-cpu']).toMatchObject({ status: 'missed', value: 0.984375 });
    expect(t['int8-top1-cpu']!.text).toContain('made up');
  });

  it('a refusal, a missing part or a dry run: not measured, saying why', () => {
    const refused = { cells: [{ dtype: 'int8', batch: 256, error: 'ERR_UNSUPPORTED: the CUDA backend plans int8 graphs as FP8 convolutions but does not run them yet' }], agreement: { subjectInt8VsCpuInt8: { error: 'subjectInt8: ERR_UNSUPPORTED: …' } } };
    const t = evaluateInt8Targets(refused, int8RowsOf(refused, bench), undefined);
    expect(t.map((x) => x.status)).toEqual(['not measured', 'not measured', 'not measured']);
    expect(t[0]!.text).toContain('does not run them yet');
    expect(t[2]!.text).toContain('subjectInt8: ERR_UNSUPPORTED');
    expect(evaluateInt8Targets(undefined, [], undefined).every((x) => x.text === 'not measured: the int8 part left no results')).toBe(true);
    const dry = evaluateInt8Targets({ cells: [{ dtype: 'int8', batch: 256, deviceImgPerSec: 1 }] }, [], 'a dry run measures no GPU figures');
    expect(dry.every((x) => x.text === 'not measured: a dry run measures no GPU figures')).toBe(true);
  });
});
