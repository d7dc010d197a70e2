/**
 * Lowering: which ops fuse, which stay, and that folding BatchNorm keeps the numbers
 * (checked against a float64 evaluation of the unfused BatchNorm formula).
 */
import { describe, expect, it } from 'vitest';
import {
  BatchNorm2d, Conv2d, Linear, ReLU, Sequential, Tracer, lower, manualSeed, resnet18, resnet50, Module,
  type ConvOp, type TraceValue,
} from '../../lib/index.js';
import { randomizeBatchNorms } from '../helpers/helpers.js';

function counts(ops: readonly { op: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of ops) out[o.op] = (out[o.op] ?? 0) + 1;
  return out;
}

describe('lower', () => {
  it('resnet50: every BatchNorm, ReLU and residual add fuses into a conv', () => {
    manualSeed(1);
    const graph = lower(Tracer.trace(resnet50(), [3, 224, 224]));
    expect(counts(graph.ops)).toEqual({ conv: 53, maxpool: 1, adaptive_avgpool: 1, linear: 1 });
    const convs = graph.ops.filter((o): o is ConvOp => o.op === 'conv');
    expect(convs.filter((c) => c.residual >= 0)).toHaveLength(16);
    // The stem, then three ReLUs per block (after conv1, conv2 and the fused add): 1 + 16·3.
    expect(convs.filter((c) => c.relu)).toHaveLength(49);
    expect(graph.outputs).toHaveLength(1);
    expect(graph.values[graph.outputs[0]!]!.shape).toEqual([1000]);
  });

  it('resnet18: 20 convs, 8 fused residual adds', () => {
    manualSeed(1);
    const graph = lower(Tracer.trace(resnet18(), [3, 64, 64]));
    expect(counts(graph.ops)).toEqual({ conv: 20, maxpool: 1, adaptive_avgpool: 1, linear: 1 });
    expect(graph.ops.filter((o) => o.op === 'conv' && o.residual >= 0)).toHaveLength(8);
  });

  it('folds BatchNorm into the conv: w·γ/√(σ²+ε) and (b−μ)·γ/√(σ²+ε)+β', () => {
    manualSeed(3);
    const conv = new Conv2d(2, 3, 1, { bias: true });
    const bn = new BatchNorm2d(3);
    const net = new Sequential<Module>(conv, bn);
    randomizeBatchNorms(net, 5);
    const graph = lower(Tracer.trace(net, [2, 4, 4]));
    expect(graph.ops).toHaveLength(1);
    const op = graph.ops[0] as ConvOp;
    const w = conv.weight.data as Float32Array;
    const b = conv.bias!.data as Float32Array;
    for (let o = 0; o < 3; o++) {
      const g = (bn.weight.data as Float32Array)[o]!;
      const beta = (bn.bias.data as Float32Array)[o]!;
      const mu = (bn.runningMean.data as Float32Array)[o]!;
      const v = (bn.runningVar.data as Float32Array)[o]!;
      const s = g / Math.sqrt(v + 1e-5);
      for (let i = 0; i < 2; i++) expect(op.weight[o * 2 + i]).toBeCloseTo(w[o * 2 + i]! * s, 6);
      expect(op.bias[o]).toBeCloseTo((b[o]! - mu) * s + beta, 6);
    }
    // The module's own weights are untouched.
    expect(op.weight).not.toBe(w);
  });

  it('a lone BatchNorm becomes a depthwise 1x1 conv; a ReLU with two readers stays separate', () => {
    class Fork extends Module {
      readonly bn = this.registerModule('bn', new BatchNorm2d(4));
      readonly relu = this.registerModule('relu', new ReLU());
      readonly conv = this.registerModule('conv', new Conv2d(4, 4, 3, { padding: 1 }));
      trace(t: Tracer, x: TraceValue): TraceValue {
        const y = t.call(this.bn, x);
        const c = t.call(this.conv, y);
        // y is read twice (by the conv and by the add): the conv's ReLU cannot absorb a shared value.
        const s = t.add(c, y);
        return t.call(this.relu, s);
      }
    }
    const graph = lower(Tracer.trace(new Fork(), [4, 5, 5]));
    const [first, second] = graph.ops as ConvOp[];
    expect(first!.op).toBe('conv');
    expect(first!.groups).toBe(4);
    expect(first!.kernel).toEqual([1, 1]);
    expect(second!.residual).toBe(first!.dst);
    expect(second!.relu).toBe(true);
    expect(graph.ops).toHaveLength(2);
  });

  it('flatten before linear is free; a trailing flatten stays', () => {
    class Head extends Module {
      readonly fc = this.registerModule('fc', new Linear(12, 2));
      trace(t: Tracer, x: TraceValue): TraceValue {
        return t.call(this.fc, t.flatten(x));
      }
    }
    class Tail extends Module {
      trace(t: Tracer, x: TraceValue): TraceValue {
        return t.flatten(x);
      }
    }
    expect(counts(lower(Tracer.trace(new Head(), [3, 2, 2])).ops)).toEqual({ linear: 1 });
    const tail = lower(Tracer.trace(new Tail(), [3, 2, 2]));
    expect(counts(tail.ops)).toEqual({ flatten: 1 });
    expect(tail.values[tail.outputs[0]!]!.shape).toEqual([12]);
  });
});
