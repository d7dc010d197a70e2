// Small graphs, one per kind of op the backends run (lib/compile/graph.ts's op list), built by hand with
// seeded weights: the op-level parity cases of the GPU check. Each covers what a GPU path may get wrong
// on its own: strides, padding, dilation, groups (ResNeXt's and depthwise), the residual add and ReLU
// fused into a conv, channel counts that need padding for alignment (the stem's 3), odd sizes, pooling
// windows, the NCHW order of a flatten over a spatial value, and several outputs.
import { mulberry32, uniformArray } from './random.mjs';

/** @typedef {readonly [number, number]} Pair */

/**
 * PyTorch's pooling/conv output size (ceil mode: the last window must start inside the input or its
 * left padding).
 * @param {number} size @param {number} k @param {number} s @param {number} p @param {number} d @param {boolean} ceil
 * @returns {number}
 */
export function windowOutputSize(size, k, s, p, d, ceil) {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

/** Builds a graph value by value; every op gets the next value id. */
export class GraphBuilder {
  /**
   * @param {readonly number[]} inputShape  per sample, [C, H, W]
   * @param {number} seed
   */
  constructor(inputShape, seed) {
    /** @type {{ shape: number[] }[]} */
    this.values = [{ shape: [...inputShape] }];
    /** @type {object[]} */
    this.ops = [];
    this.random = mulberry32(seed);
  }

  /** @param {number} id */
  shape(id) {
    return this.values[id].shape;
  }

  /** @param {number[]} shape */
  value(shape) {
    return this.values.push({ shape }) - 1;
  }

  /**
   * A conv with bias (BN already folded), optional residual and ReLU; weights scaled by 1/√fan-in so
   * outputs stay near unit scale.
   * @param {number} src
   * @param {{ outChannels: number, kernel?: Pair, stride?: Pair, padding?: Pair, dilation?: Pair, groups?: number, residual?: number, relu?: boolean }} spec
   */
  conv(src, spec) {
    const [c, h, w] = this.shape(src);
    const kernel = spec.kernel ?? [3, 3];
    const stride = spec.stride ?? [1, 1];
    const padding = spec.padding ?? [0, 0];
    const dilation = spec.dilation ?? [1, 1];
    const groups = spec.groups ?? 1;
    const fanIn = (c / groups) * kernel[0] * kernel[1];
    const oh = windowOutputSize(h, kernel[0], stride[0], padding[0], dilation[0], false);
    const ow = windowOutputSize(w, kernel[1], stride[1], padding[1], dilation[1], false);
    const dst = this.value([spec.outChannels, oh, ow]);
    this.ops.push({
      op: 'conv', src, dst, residual: spec.residual ?? -1, relu: spec.relu ?? false, outChannels: spec.outChannels,
      kernel, stride, padding, dilation, groups,
      weight: uniformArray(spec.outChannels * fanIn, this.random, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn)),
      bias: uniformArray(spec.outChannels, this.random, -0.5, 0.5),
    });
    return dst;
  }

  /**
   * @param {number} src
   * @param {{ kernel: Pair, stride: Pair, padding?: Pair, dilation?: Pair, ceilMode?: boolean }} spec
   */
  maxpool(src, spec) {
    const [c, h, w] = this.shape(src);
    const padding = spec.padding ?? [0, 0];
    const dilation = spec.dilation ?? [1, 1];
    const ceilMode = spec.ceilMode ?? false;
    const oh = windowOutputSize(h, spec.kernel[0], spec.stride[0], padding[0], dilation[0], ceilMode);
    const ow = windowOutputSize(w, spec.kernel[1], spec.stride[1], padding[1], dilation[1], ceilMode);
    const dst = this.value([c, oh, ow]);
    this.ops.push({ op: 'maxpool', src, dst, kernel: spec.kernel, stride: spec.stride, padding, dilation, ceilMode });
    return dst;
  }

  /** @param {number} src @param {Pair} size */
  adaptiveAvgPool(src, size) {
    const dst = this.value([this.shape(src)[0], size[0], size[1]]);
    this.ops.push({ op: 'adaptive_avgpool', src, dst });
    return dst;
  }

  /** @param {number} src */
  flatten(src) {
    const dst = this.value([this.shape(src).reduce((a, b) => a * b, 1)]);
    this.ops.push({ op: 'flatten', src, dst });
    return dst;
  }

  /** @param {number} src @param {number} outFeatures */
  linear(src, outFeatures) {
    const inFeatures = this.shape(src)[0];
    const bound = 1 / Math.sqrt(inFeatures);
    const dst = this.value([outFeatures]);
    this.ops.push({
      op: 'linear', src, dst, outFeatures,
      weight: uniformArray(outFeatures * inFeatures, this.random, -bound, bound),
      bias: uniformArray(outFeatures, this.random, -bound, bound),
    });
    return dst;
  }

  /** @param {number} src */
  relu(src) {
    const dst = this.value([...this.shape(src)]);
    this.ops.push({ op: 'relu', src, dst });
    return dst;
  }

  /** @param {number} a @param {number} b @param {boolean} relu */
  add(a, b, relu) {
    const dst = this.value([...this.shape(a)]);
    this.ops.push({ op: 'add', a, b, dst, relu });
    return dst;
  }

  /**
   * The graph, returning `outputs`.
   * @param {readonly number[]} outputs
   */
  graph(outputs) {
    return { values: this.values, input: 0, outputs: [...outputs], ops: this.ops };
  }
}

/**
 * @typedef {object} OpCase
 * @property {string} name
 * @property {() => { values: { shape: number[] }[], input: number, outputs: number[], ops: object[] }} build
 */

/** @type {OpCase[]} */
export const OP_CASES = [
  {
    name: 'conv 3x3 s1 p1 + relu (64→64, 14×14)',
    build: () => { const g = new GraphBuilder([64, 14, 14], 1); return g.graph([g.conv(0, { outChannels: 64, padding: [1, 1], relu: true })]); },
  },
  {
    name: 'stem conv 7x7 s2 p3 + relu (3→64, 32×32: 3 channels padded for alignment)',
    build: () => { const g = new GraphBuilder([3, 32, 32], 2); return g.graph([g.conv(0, { outChannels: 64, kernel: [7, 7], stride: [2, 2], padding: [3, 3], relu: true })]); },
  },
  {
    name: 'downsample conv 1x1 s2, no relu (64→128, 16×16)',
    build: () => { const g = new GraphBuilder([64, 16, 16], 3); return g.graph([g.conv(0, { outChannels: 128, kernel: [1, 1], stride: [2, 2] })]); },
  },
  {
    name: 'conv 3x3 s2 p1 + relu, odd size (128→128, 15×15)',
    build: () => { const g = new GraphBuilder([128, 15, 15], 4); return g.graph([g.conv(0, { outChannels: 128, stride: [2, 2], padding: [1, 1], relu: true })]); },
  },
  {
    name: 'conv 3x3 dilation 2 p2 + relu (64→64, 12×12)',
    build: () => { const g = new GraphBuilder([64, 12, 12], 5); return g.graph([g.conv(0, { outChannels: 64, padding: [2, 2], dilation: [2, 2], relu: true })]); },
  },
  {
    name: 'grouped conv 3x3, 32 groups + relu (ResNeXt, 128→128, 14×14)',
    build: () => { const g = new GraphBuilder([128, 14, 14], 6); return g.graph([g.conv(0, { outChannels: 128, padding: [1, 1], groups: 32, relu: true })]); },
  },
  {
    name: 'grouped conv 3x3 s2, 32 groups (256→256, 9×9)',
    build: () => { const g = new GraphBuilder([256, 9, 9], 7); return g.graph([g.conv(0, { outChannels: 256, stride: [2, 2], padding: [1, 1], groups: 32 })]); },
  },
  {
    name: 'depthwise conv 1x1 (a lone BatchNorm, 64 channels, 8×8)',
    build: () => { const g = new GraphBuilder([64, 8, 8], 8); return g.graph([g.conv(0, { outChannels: 64, kernel: [1, 1], groups: 64 })]); },
  },
  {
    name: 'unaligned channels conv 3x3 p1 + relu (5→7, 9×9)',
    build: () => { const g = new GraphBuilder([5, 9, 9], 9); return g.graph([g.conv(0, { outChannels: 7, padding: [1, 1], relu: true })]); },
  },
  {
    name: 'grouped conv with unpaddable groups (6→10, 2 groups, 8×8)',
    build: () => { const g = new GraphBuilder([6, 8, 8], 10); return g.graph([g.conv(0, { outChannels: 10, padding: [1, 1], groups: 2, relu: true })]); },
  },
  {
    name: 'conv 1x1 + residual + relu, both outputs (bottleneck end, 64→256, 14×14)',
    build: () => {
      const g = new GraphBuilder([64, 14, 14], 11);
      const shortcut = g.conv(0, { outChannels: 256, kernel: [1, 1] });
      return g.graph([shortcut, g.conv(0, { outChannels: 256, kernel: [1, 1], residual: shortcut, relu: true })]);
    },
  },
  {
    name: 'conv 3x3 + residual, no relu (64→64, 10×10)',
    build: () => {
      const g = new GraphBuilder([64, 10, 10], 12);
      const a = g.conv(0, { outChannels: 64, padding: [1, 1], relu: true });
      return g.graph([g.conv(a, { outChannels: 64, padding: [1, 1], residual: 0 })]);
    },
  },
  {
    name: 'standalone add + relu, and relu (64 channels, 7×7)',
    build: () => {
      const g = new GraphBuilder([64, 7, 7], 13);
      const a = g.conv(0, { outChannels: 64, kernel: [1, 1] });
      return g.graph([g.add(a, 0, true), g.relu(a)]);
    },
  },
  {
    name: 'maxpool 3x3 s2 p1 (ResNet stem, 64 channels, 17×17)',
    build: () => { const g = new GraphBuilder([64, 17, 17], 14); return g.graph([g.maxpool(0, { kernel: [3, 3], stride: [2, 2], padding: [1, 1] })]); },
  },
  {
    name: 'maxpool 2x2 s2 ceil mode (16 channels, 7×7)',
    build: () => { const g = new GraphBuilder([16, 7, 7], 15); return g.graph([g.maxpool(0, { kernel: [2, 2], stride: [2, 2], ceilMode: true })]); },
  },
  {
    name: 'global average pool (512 channels, 7×7 → 1×1)',
    build: () => { const g = new GraphBuilder([512, 7, 7], 16); return g.graph([g.adaptiveAvgPool(0, [1, 1])]); },
  },
  {
    name: 'adaptive average pool, uneven windows (32 channels, 7×7 → 3×3)',
    build: () => { const g = new GraphBuilder([32, 7, 7], 17); return g.graph([g.adaptiveAvgPool(0, [3, 3])]); },
  },
  {
    name: 'flatten 256×2×2 (NCHW order) + linear 1024→1000',
    build: () => { const g = new GraphBuilder([256, 2, 2], 18); return g.graph([g.linear(g.flatten(0), 1000)]); },
  },
  {
    name: 'classifier head: global pool + flatten + linear 2048→1000',
    build: () => { const g = new GraphBuilder([2048, 7, 7], 19); return g.graph([g.linear(g.flatten(g.adaptiveAvgPool(0, [1, 1])), 1000)]); },
  },
];
