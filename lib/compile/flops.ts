/**
 * Multiply–accumulate counts of a traced module, for GFLOP/s figures (1 MAC = 2 FLOP).
 * Counts convolutions and linear layers, as the usual ResNet figures do (ResNet-50 ≈ 4.1 GMAC at 224).
 * @module
 */
import type { Trace } from '../nn/trace.js';

/** MACs of one sample through the traced module. */
export function macsPerSample(trace: Trace): number {
  let macs = 0;
  for (const node of trace.nodes) {
    if (node.op === 'conv2d') {
      const m = node.module;
      const [, oh, ow] = trace.values[node.output]!.shape as [number, number, number];
      macs += m.outChannels * oh * ow * (m.inChannels / m.groups) * m.kernelSize[0] * m.kernelSize[1];
    } else if (node.op === 'linear') {
      macs += node.module.inFeatures * node.module.outFeatures;
    }
  }
  return macs;
}
