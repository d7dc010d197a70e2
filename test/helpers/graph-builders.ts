/**
 * Hand-built native graphs for the op-level tests (CPU against float64, GPU against CPU): a conv op with
 * random weights (fan-in scaled) and a graph from value shapes and ops. Each test file passes its own
 * seeded generator, so its values do not depend on which other tests ran.
 */
import type { ConvOp, Graph, GraphOp, Pair } from '../../lib/compile/graph.js';

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

/** `length` values of a sine wave: deterministic, non-trivial input or weights. */
export function wave(length: number, frequency: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i * frequency));
}

/**
 * A stem conv and `depth` 3x3 convs (with ReLU) at `channels` channels, ending in a 7x7 adaptive pool: a
 * graph whose runs take long enough (tens of ms and up) for scheduling tests.
 */
export function convStack(depth: number, channels: number, size: number): Graph {
  const values: { shape: number[] }[] = [{ shape: [3, size, size] }];
  const ops: GraphOp[] = [];
  for (let i = 0; i < depth; i++) {
    const inChannels = i === 0 ? 3 : channels;
    values.push({ shape: [channels, size, size] });
    ops.push({
      op: 'conv', src: i, dst: i + 1, residual: -1, relu: true, outChannels: channels,
      kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1,
      weight: wave(channels * inChannels * 9, 0.37 + i).map((v) => v * Math.sqrt(2 / (inChannels * 9))),
      bias: wave(channels, 0.11),
    });
  }
  values.push({ shape: [channels, 7, 7] });
  ops.push({ op: 'adaptive_avgpool', src: depth, dst: depth + 1 });
  return { values, input: 0, outputs: [depth + 1], ops };
}
