/**
 * Multiply–accumulate counts of a traced module, for GFLOP/s figures (1 MAC = 2 FLOP).
 * Counts convolutions and linear layers, as the usual ResNet figures do (ResNet-50 ≈ 4.1 GMAC at 224).
 * @module
 */
import { invalidArgument } from '../errors.js';
import { Module } from '../nn/module.js';
import { Tracer, type Trace } from '../nn/trace.js';

/** The default per-sample input of {@link macsPerSample} given a module: one ImageNet image. */
const imagenetSample: readonly number[] = [3, 224, 224];

/**
 * MACs of one sample through a module: given a {@link Trace} (`Tracer.trace(model, [3, 224, 224])`), or a
 * Module and its per-sample input shape `[C, H, W]` (default `[3, 224, 224]`), which is traced here.
 * @throws InvalidArgumentError when the first argument is neither a Module nor a Trace, or the shape is not
 *   an array of positive integers (the message says what to pass); ShapeError when the module cannot take
 *   that shape.
 */
export function macsPerSample(source: Trace | Module, sampleShape: readonly number[] = imagenetSample): number {
  const trace = source instanceof Module ? Tracer.trace(source, sampleShape) : source;
  if (typeof trace !== 'object' || trace === null || !Array.isArray(trace.nodes) || !Array.isArray(trace.values)) {
    throw invalidArgument('a Module (macsPerSample(model, [3, 224, 224])) or a Trace (Tracer.trace(model, [3, 224, 224]))', 'macsPerSample source', source);
  }
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
