/**
 * `lower(trace, { quantization })`: the int8 annotations of the fused graph (graph.ts, "Quantized graphs"),
 * checked op by op against the scales given and against the unannotated float graph.
 */
import { describe, expect, it } from 'vitest';
import {
  Conv2d, Tracer, lower, lowerWithPaths, manualSeed, quantizeWeightToGrid, resnet18, roundHalfEven,
  type ConvOp, type ModelQuantization, type ValueQuantization,
} from '../../lib/index.js';
import { randomizeBatchNorms } from '../helpers/helpers.js';

manualSeed(3);
const model = resnet18();
randomizeBatchNorms(model, 5);
const trace = Tracer.trace(model, [3, 64, 64]);
const float = lowerWithPaths(trace);
const floatConvs = float.graph.ops.filter((op): op is ConvOp => op.op === 'conv');
const paths = floatConvs.map((op) => float.convPaths.get(op)!);

/** Distinct, recognisable scales per conv: activation i has scale (i + 1)/1000, weight channel o of conv i (i + 1)·(o + 1)·1e-5. */
function handMadeQuantization(skip: string[] = []): ModelQuantization {
  const activations = new Map<string, ValueQuantization>();
  const weightScales = new Map<string, Float32Array>();
  floatConvs.forEach((op, i) => {
    const path = paths[i]!;
    if (skip.includes(path)) return;
    activations.set(path, { scale: Math.fround((i + 1) / 1000), dtype: op.relu ? 'uint8' : 'int8' });
    weightScales.set(path, Float32Array.from({ length: op.outChannels }, (_, o) => (i + 1) * (o + 1) * 1e-5));
  });
  return { method: 'minmax', perChannel: true, input: { scale: Math.fround(2.5 / 127), dtype: 'int8' }, activations, weightScales };
}

/** Elements that differ (vitest's deep equality is slow on millions of floats). */
function mismatches(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

describe('lower with quantization', () => {
  it('annotates the input, every conv dst and weights, and the maxpool dst with its src quantization', () => {
    const quantization = handMadeQuantization();
    const graph = lower(trace, { quantization });
    expect(graph.values[graph.input]!.quant).toEqual(quantization.input);
    const convs = graph.ops.filter((op): op is ConvOp => op.op === 'conv');
    expect(convs).toHaveLength(20);
    convs.forEach((op, i) => {
      const path = paths[i]!;
      expect(graph.values[op.dst]!.quant).toEqual(quantization.activations.get(path));
      expect([...op.weightScales!]).toEqual([...quantization.weightScales.get(path)!]);
      // The folded float weight, put on the grid: every element is scale[o]·q with q an integer in [−127, 127].
      const folded = floatConvs[i]!.weight;
      const perOut = folded.length / op.outChannels;
      let offGrid = 0;
      for (let k = 0; k < folded.length; k++) {
        const s = op.weightScales![Math.floor(k / perOut)]!;
        const q = Math.min(127, Math.max(-127, roundHalfEven(folded[k]! / s)));
        if (op.weight[k] !== Math.fround(s * q)) offGrid++;
      }
      expect(offGrid).toBe(0);
      expect(mismatches(op.weight, quantizeWeightToGrid(Float32Array.from(folded), op.weightScales!))).toBe(0);
      // The bias on the accumulator's grid (s_x · s_w[o] in float32, a whole number of steps, ties to even):
      // the nearest such point to the folded float bias, as onnxruntime's int32 bias.
      const sx = graph.values[op.src]!.quant!.scale;
      op.bias.forEach((b, o) => {
        const step = Math.fround(Math.fround(sx) * op.weightScales![o]!);
        const steps = b / step;
        // Exact but for float32's storage of q · step (24-bit mantissa: a few ulps of a large q).
        expect(Math.abs(steps - Math.round(steps))).toBeLessThanOrEqual(Math.max(1e-3, Math.abs(steps) * 2 ** -21));
        expect(Math.round(steps)).toBe(roundHalfEven(floatConvs[i]!.bias[o]! / step));
      });
      // Everything else is the float graph's.
      expect({ ...op, weight: 0, bias: 0, weightScales: 0 }).toEqual({ ...floatConvs[i]!, weight: 0, bias: 0, weightScales: 0 });
    });
    const pool = graph.ops.find((op) => op.op === 'maxpool')!;
    expect(graph.values[pool.dst]!.quant).toEqual(quantization.activations.get('conv1'));
    expect(graph.values[pool.dst]!.quant!.dtype).toBe('uint8');
    // Values no conv or maxpool writes stay float: the pooled features and the logits.
    for (const op of graph.ops.filter((o) => o.op === 'adaptive_avgpool' || o.op === 'linear')) expect(graph.values[op.dst]!.quant).toBeUndefined();
  });

  it('leaves a conv without scales float, and the module untouched', () => {
    const before = Float32Array.from((model.getSubmodule('layer1.0.conv1') as Conv2d).weight.data as Float32Array);
    const graph = lower(trace, { quantization: handMadeQuantization(['layer2.0.downsample.0']) });
    const i = paths.indexOf('layer2.0.downsample.0');
    const op = graph.ops.filter((o): o is ConvOp => o.op === 'conv')[i]!;
    expect(op.weightScales).toBeUndefined();
    expect(graph.values[op.dst]!.quant).toBeUndefined();
    expect(mismatches(op.weight, floatConvs[i]!.weight)).toBe(0);
    expect([...((model.getSubmodule('layer1.0.conv1') as Conv2d).weight.data as Float32Array)]).toEqual([...before]);
  });

  it('without quantization the graph carries no annotation', () => {
    const graph = lower(trace);
    expect(graph.values.every((v) => v.quant === undefined)).toBe(true);
    expect(graph.ops.every((op) => op.op !== 'conv' || op.weightScales === undefined)).toBe(true);
  });

  it('refuses weight scales of the wrong length, naming the conv', () => {
    const quantization = handMadeQuantization();
    (quantization.weightScales as Map<string, Float32Array>).set('layer3.1.conv2', new Float32Array(3).fill(0.1));
    expect(() => lower(trace, { quantization })).toThrow(/layer3\.1\.conv2 has 256 output channels but its quantization has 3 weight scales/);
  });
});
