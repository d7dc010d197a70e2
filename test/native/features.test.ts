/**
 * Embeddings: `forwardFeatures` (the pooled vector `fc` reads) and `forwardNodes` (named intermediate
 * outputs from one run), checked against the public forward of the whole model and of its submodules.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, Tensor, Tracer, lower, manualSeed, resnet18, resnet50 } from '../../lib/index.js';
import { maxRelativeError, randomizeBatchNorms, uniform } from '../helpers/helpers.js';

/** `features · fcᵀ + bias` in float64: the classifier applied outside our engine. */
function linearFloat64(features: Tensor, weight: Tensor, bias: Tensor): Float64Array {
  const [n, inF] = features.shape as [number, number];
  const outF = weight.shape[0]!;
  const x = features.data as Float32Array;
  const w = weight.data as Float32Array;
  const b = bias.data as Float32Array;
  const out = new Float64Array(n * outF);
  for (let s = 0; s < n; s++) {
    for (let o = 0; o < outF; o++) {
      let acc = b[o]!;
      for (let i = 0; i < inF; i++) acc += w[o * inF + i]! * x[s * inF + i]!;
      out[s * outF + o] = acc;
    }
  }
  return out;
}

describe('forwardFeatures and forwardNodes', () => {
  manualSeed(41);
  const model = resnet18();
  randomizeBatchNorms(model, 42);
  const shape = [2, 3, 64, 64];
  const input = Tensor.from(uniform(2 * 3 * 64 * 64, 43), shape);

  it('resnet18: forwardFeatures is [N, 512] and fc of it (float64) gives the logits of forward', async () => {
    const features = await model.forwardFeatures(input);
    expect(features.shape).toEqual([2, 512]);
    const logits = await model.forward(input);
    const viaFeatures = linearFloat64(features, model.fc.weight, model.fc.bias!);
    expect(maxRelativeError(logits.data as Float32Array, viaFeatures)).toBeLessThanOrEqual(1e-4);
    // The plain forward still answers logits after the feature graph was cached beside it.
    expect((await model.forward(input)).shape).toEqual([2, 1000]);
  });

  it('resnet50: forwardFeatures is [N, 2048]', async () => {
    manualSeed(44);
    const big = resnet50();
    const features = await big.forwardFeatures(Tensor.from(uniform(3 * 64 * 64, 45), [1, 3, 64, 64]));
    expect(features.shape).toEqual([1, 2048]);
  });

  it("'layer3' equals the public submodule forwards chained; 'avgpool' is [N, C, 1, 1] and forwardFeatures' values", async () => {
    const nodes = await model.forwardNodes(input, ['layer3', 'avgpool']);
    expect(Object.keys(nodes)).toEqual(['layer3', 'avgpool']);
    let y: Tensor = input;
    for (const m of [model.conv1, model.bn1, model.relu, model.maxpool, model.layer1, model.layer2, model.layer3]) {
      y = await m.forward(y);
    }
    expect(nodes.layer3.shape).toEqual([2, 256, 4, 4]);
    expect(nodes.layer3.shape).toEqual(y.shape);
    expect(maxRelativeError(nodes.layer3.data as Float32Array, y.data as Float32Array)).toBeLessThanOrEqual(1e-4);

    expect(nodes.avgpool.shape).toEqual([2, 512, 1, 1]);
    const features = await model.forwardFeatures(input);
    expect(maxRelativeError(nodes.avgpool.data as Float32Array, features.data as Float32Array)).toBeLessThanOrEqual(1e-6);
  });

  it('names of one value (a stage and its last block) each get their own tensor', async () => {
    const nodes = await model.forwardNodes(input, ['layer4', 'layer4.1']);
    expect(nodes.layer4.data).toEqual(nodes['layer4.1'].data);
    expect(nodes.layer4.data).not.toBe(nodes['layer4.1'].data);
  });

  it('an unknown name throws, listing the valid names; empty and repeated lists throw', async () => {
    const error = await model.forwardNodes(input, ['layer5']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const message = (error as Error).message;
    expect(message).toContain('"layer5"');
    for (const name of ['conv1', 'layer3', 'layer4.1.conv2', 'avgpool', 'fc']) expect(message).toContain(name);
    await expect(model.forwardNodes(input, [])).rejects.toThrow(InvalidArgumentError);
    await expect(model.forwardNodes(input, ['layer3', 'layer3'])).rejects.toThrow(InvalidArgumentError);
  });

  it('the lowered graph for the features has no linear (fc is pruned), with the same fusions', () => {
    const trace = Tracer.trace(model, [3, 64, 64]);
    const graph = lower(trace, { outputs: [trace.moduleOutputs.get('avgpool')!] });
    const ops = graph.ops.map((o) => o.op);
    expect(ops).not.toContain('linear');
    expect(ops).not.toContain('flatten');
    expect(ops.filter((o) => o === 'conv')).toHaveLength(20);
    expect(ops.at(-1)).toBe('adaptive_avgpool');
    expect(graph.values[graph.outputs[0]!]!.shape).toEqual([512, 1, 1]);

    // Only what layer2 needs: no layer3/layer4 convs (stem 1 + layer1 4 + layer2 5 incl. downsample).
    const early = lower(trace, { outputs: [trace.moduleOutputs.get('layer2')!] });
    expect(early.ops.filter((o) => o.op === 'conv')).toHaveLength(10);
    expect(early.ops.map((o) => o.op)).not.toContain('adaptive_avgpool');
  });
});
