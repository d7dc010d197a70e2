/**
 * Hand-built native graphs for the op-level tests (CPU against float64, GPU against CPU): a conv op with
 * random weights (fan-in scaled) and a graph from value shapes and ops. Each test file passes its own
 * seeded generator, so its values do not depend on which other tests ran.
 */
import type { ConvOp, Graph, GraphOp, Pair } from '../lib/compile/graph.js';

export interface ConvSpec {
  src: number;
  dst: number;
  inChannels: number;
  outChannels: number;
  kernel?: Pair;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  residual?: number;
  relu?: boolean;
}

/** Builders drawing from `random` (a generator in [0, 1), e.g. `rng(seed)`). */
export function graphBuilders(random: () => number) {
  /** `length` values uniform in [-scale, scale). */
  function randomArray(length: number, scale = 1): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = (random() * 2 - 1) * scale;
    return out;
  }

  /** A conv op (3×3, stride 1, no padding unless given) with weights scaled by 1/√fan-in. */
  function conv(spec: ConvSpec): ConvOp {
    const kernel = spec.kernel ?? [3, 3];
    const groups = spec.groups ?? 1;
    const fanIn = (spec.inChannels / groups) * kernel[0] * kernel[1];
    return {
      op: 'conv',
      src: spec.src,
      dst: spec.dst,
      residual: spec.residual ?? -1,
      relu: spec.relu ?? false,
      outChannels: spec.outChannels,
      kernel,
      stride: spec.stride ?? [1, 1],
      padding: spec.padding ?? [0, 0],
      dilation: spec.dilation ?? [1, 1],
      groups,
      weight: randomArray(spec.outChannels * fanIn, 1 / Math.sqrt(fanIn)),
      bias: randomArray(spec.outChannels, 0.5),
    };
  }

  return { randomArray, conv };
}

/** A graph whose value 0 is the input. */
export function graphOf(shapes: readonly (readonly number[])[], ops: readonly GraphOp[], outputs: readonly number[]): Graph {
  return { values: shapes.map((shape) => ({ shape })), input: 0, outputs, ops };
}
