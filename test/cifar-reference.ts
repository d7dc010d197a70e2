/**
 * A plain float64 forward pass of the CIFAR-10 ResNets, written straight from upstream's resnet.py
 * (akamaster/pytorch_resnet_cifar10), for tests. It reads the model's weights but none of the library's
 * tracing, lowering or native code: BatchNorm is applied as BatchNorm (not folded), the option-A
 * shortcut as slicing and zero padding (not as a convolution).
 */
import type { BatchNorm2d } from '../lib/nn/batchnorm.js';
import type { Conv2d } from '../lib/nn/conv.js';
import type { CifarBasicBlock, CifarResNet } from '../lib/models/cifar.js';

/** An NCHW float64 feature map. */
export interface Map64 {
  data: Float64Array;
  n: number;
  c: number;
  h: number;
  w: number;
}

/**
 * Zero-padded 2-D convolution without bias (every conv of these networks). Each input plane is copied
 * once into a zero-bordered buffer, so the inner loops carry no bounds checks: this reference runs on
 * 500 images per checkpoint, and plainness must not make it unusably slow.
 */
export function conv2d(x: Map64, conv: Conv2d): Map64 {
  const [kh, kw] = conv.kernelSize;
  const [sh, sw] = conv.stride;
  const [ph, pw] = conv.padding;
  const o = conv.outChannels;
  const weight = conv.weight.data as Float32Array;
  const oh = Math.floor((x.h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((x.w + 2 * pw - kw) / sw) + 1;
  const padH = x.h + 2 * ph;
  const padW = x.w + 2 * pw;
  const padded = new Float64Array(x.c * padH * padW);
  const out = new Float64Array(x.n * o * oh * ow);
  for (let n = 0; n < x.n; n++) {
    for (let ic = 0; ic < x.c; ic++) {
      for (let y = 0; y < x.h; y++) {
        const src = ((n * x.c + ic) * x.h + y) * x.w;
        padded.set(x.data.subarray(src, src + x.w), (ic * padH + y + ph) * padW + pw);
      }
    }
    for (let oc = 0; oc < o; oc++) {
      const dst = out.subarray((n * o + oc) * oh * ow, (n * o + oc + 1) * oh * ow);
      for (let ic = 0; ic < x.c; ic++) {
        for (let ky = 0; ky < kh; ky++) {
          // The three taps of a kernel row at once when kw = 3 (all these networks' convs): a third of
          // the loads and stores of the output.
          if (kw === 3) {
            const wBase = ((oc * x.c + ic) * kh + ky) * 3;
            const w0 = weight[wBase]!;
            const w1 = weight[wBase + 1]!;
            const w2 = weight[wBase + 2]!;
            for (let y = 0; y < oh; y++) {
              const row = (ic * padH + y * sh + ky) * padW;
              const dstRow = y * ow;
              for (let xo = 0; xo < ow; xo++) {
                const p = row + xo * sw;
                dst[dstRow + xo] += w0 * padded[p]! + w1 * padded[p + 1]! + w2 * padded[p + 2]!;
              }
            }
            continue;
          }
          for (let kx = 0; kx < kw; kx++) {
            const wv = weight[((oc * x.c + ic) * kh + ky) * kw + kx]!;
            for (let y = 0; y < oh; y++) {
              const row = (ic * padH + y * sh + ky) * padW + kx;
              const dstRow = y * ow;
              for (let xo = 0; xo < ow; xo++) dst[dstRow + xo] += wv * padded[row + xo * sw]!;
            }
          }
        }
      }
    }
  }
  return { data: out, n: x.n, c: o, h: oh, w: ow };
}

/** Inference BatchNorm: (x − mean) / √(var + eps) · γ + β. */
export function batchNorm(x: Map64, bn: BatchNorm2d): Map64 {
  const gamma = bn.weight.data as Float32Array;
  const beta = bn.bias.data as Float32Array;
  const mean = bn.runningMean.data as Float32Array;
  const variance = bn.runningVar.data as Float32Array;
  const out = new Float64Array(x.data.length);
  const plane = x.h * x.w;
  for (let n = 0; n < x.n; n++) {
    for (let c = 0; c < x.c; c++) {
      const base = (n * x.c + c) * plane;
      const inv = 1 / Math.sqrt(variance[c]! + bn.eps);
      for (let i = 0; i < plane; i++) out[base + i] = (x.data[base + i]! - mean[c]!) * inv * gamma[c]! + beta[c]!;
    }
  }
  return { ...x, data: out };
}

/** max(x, 0). */
export function relu(x: Map64): Map64 {
  return { ...x, data: x.data.map((v) => (v > 0 ? v : 0)) };
}

/** Elementwise sum of two maps of one shape. */
export function add(a: Map64, b: Map64): Map64 {
  if (a.data.length !== b.data.length) throw new Error('add: shapes differ');
  return { ...a, data: a.data.map((v, i) => v + b.data[i]!) };
}

/** `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))`. */
export function optionA(x: Map64, planes: number): Map64 {
  const pad = Math.floor(planes / 4);
  const c = x.c + 2 * pad;
  const h = Math.ceil(x.h / 2);
  const w = Math.ceil(x.w / 2);
  const out = new Float64Array(x.n * c * h * w);
  for (let n = 0; n < x.n; n++) {
    for (let ic = 0; ic < x.c; ic++) {
      for (let y = 0; y < h; y++) {
        for (let xo = 0; xo < w; xo++) {
          out[((n * c + ic + pad) * h + y) * w + xo] = x.data[((n * x.c + ic) * x.h + 2 * y) * x.w + 2 * xo]!;
        }
      }
    }
  }
  return { data: out, n: x.n, c, h, w };
}

/** Upstream's `BasicBlock.forward`. */
export function basicBlock(x: Map64, block: CifarBasicBlock): Map64 {
  let out = relu(batchNorm(conv2d(x, block.conv1), block.bn1));
  out = batchNorm(conv2d(out, block.conv2), block.bn2);
  const changesShape = block.stride !== 1 || block.conv1.inChannels !== block.conv1.outChannels;
  const shortcut = changesShape ? optionA(x, block.conv1.outChannels) : x;
  return relu(add(out, shortcut));
}

/** Upstream's `ResNet.forward`: logits `[N, classes]` as a flat row-major array. */
export function cifarResNet(x: Map64, model: CifarResNet): Float64Array {
  let y = relu(batchNorm(conv2d(x, model.conv1), model.bn1));
  for (const layer of [model.layer1, model.layer2, model.layer3]) for (const block of layer) y = basicBlock(y, block);
  // F.avg_pool2d(out, out.size()[3]) on the square 8×8 map: the mean of each channel.
  const plane = y.h * y.w;
  const classes = model.linear.outFeatures;
  const weight = model.linear.weight.data as Float32Array;
  const bias = model.linear.bias!.data as Float32Array;
  const logits = new Float64Array(y.n * classes);
  for (let n = 0; n < y.n; n++) {
    const pooled = new Float64Array(y.c);
    for (let c = 0; c < y.c; c++) {
      let sum = 0;
      for (let i = 0; i < plane; i++) sum += y.data[(n * y.c + c) * plane + i]!;
      pooled[c] = sum / plane;
    }
    for (let k = 0; k < classes; k++) {
      let s = bias[k]!;
      for (let c = 0; c < y.c; c++) s += weight[k * y.c + c]! * pooled[c]!;
      logits[n * classes + k] = s;
    }
  }
  return logits;
}

/** Upstream's test-time preprocessing of uint8 CHW pixels: x / 255, then (x − mean[c]) / std[c]. */
export function normalizePixels(pixels: Uint8Array, n: number, mean: readonly number[], std: readonly number[]): Map64 {
  const plane = 32 * 32;
  const data = new Float64Array(n * 3 * plane);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / plane) % 3;
    data[i] = (pixels[i]! / 255 - mean[c]!) / std[c]!;
  }
  return { data, n, c: 3, h: 32, w: 32 };
}
