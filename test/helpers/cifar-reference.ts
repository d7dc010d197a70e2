/**
 * A plain float64 forward pass of the CIFAR-10 ResNets, written straight from upstream's resnet.py
 * (akamaster/pytorch_resnet_cifar10), for tests. It reads the model's weights but none of the library's
 * tracing, lowering or native code: BatchNorm is applied as BatchNorm (not folded), the option-A
 * shortcut as slicing and zero padding (not as a convolution). Convolutions are im2col and a float64
 * matrix product (each output a plain sum over the kernel taps): the test runs this on 520 images for
 * each of four checkpoints, and this form is about twice as fast as direct loops in V8.
 */
import type { BatchNorm2d } from '../../lib/nn/batchnorm.js';
import type { Conv2d } from '../../lib/nn/conv.js';
import type { CifarBasicBlock, CifarResNet } from '../../lib/models/cifar.js';

/** An NCHW float64 feature map. */
export interface Map64 {
  data: Float64Array;
  n: number;
  c: number;
  h: number;
  w: number;
}

/**
 * One image's patches as the columns of a matrix (im2col): row `(c·kh + ky)·kw + kx` (the weights'
 * order) holds, for every output position y·ow + x, the input the kernel tap (ky, kx) of channel c
 * sees there, zero where it falls on the padding. A row is a strided copy of one input plane.
 */
function im2col(x: Map64, image: number, kh: number, kw: number, stride: readonly number[], padding: readonly number[], oh: number, ow: number, cols: Float64Array): void {
  const [sh, sw] = stride as [number, number];
  const [ph, pw] = padding as [number, number];
  const positions = oh * ow;
  cols.fill(0);
  for (let c = 0; c < x.c; c++) {
    const plane = (image * x.c + c) * x.h * x.w;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const row = ((c * kh + ky) * kw + kx) * positions;
        // The output columns whose input column ox·sw − pw + kx lies inside the image.
        const first = Math.max(0, Math.ceil((pw - kx) / sw));
        const last = Math.min(ow - 1, Math.floor((x.w - 1 + pw - kx) / sw));
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh - ph + ky;
          if (iy < 0 || iy >= x.h) continue;
          const src = plane + iy * x.w - pw + kx;
          const dst = row + oy * ow;
          if (sw === 1) cols.set(x.data.subarray(src + first, src + last + 1), dst + first);
          else for (let ox = first; ox <= last; ox++) cols[dst + ox] = x.data[src + ox * sw]!;
        }
      }
    }
  }
}

/**
 * `out[o·positions + p] = Σ_k weights[o·depth + k] · cols[k·positions + p]`, k ascending: the
 * convolution as a float64 matrix product. Tiles of 4 output channels × 4 positions keep sixteen sums
 * in locals, so each weight loaded serves four positions and each input four channels; the edges go
 * one channel or one position at a time. Each sum is a plain float64 sum in k order whatever the tile.
 */
function gemm(weights: Float64Array, cols: Float64Array, out: Float64Array, outOffset: number, channels: number, positions: number, depth: number): void {
  const tiledChannels = channels - (channels % 4);
  const tiledPositions = positions - (positions % 4);
  for (let o = 0; o < tiledChannels; o += 4) {
    const w0 = o * depth;
    const w1 = w0 + depth;
    const w2 = w1 + depth;
    const w3 = w2 + depth;
    for (let p = 0; p < tiledPositions; p += 4) {
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = 0, c = p; k < depth; k++, c += positions) {
        const x0 = cols[c]!;
        const x1 = cols[c + 1]!;
        const x2 = cols[c + 2]!;
        const x3 = cols[c + 3]!;
        const v0 = weights[w0 + k]!;
        s00 += v0 * x0; s01 += v0 * x1; s02 += v0 * x2; s03 += v0 * x3;
        const v1 = weights[w1 + k]!;
        s10 += v1 * x0; s11 += v1 * x1; s12 += v1 * x2; s13 += v1 * x3;
        const v2 = weights[w2 + k]!;
        s20 += v2 * x0; s21 += v2 * x1; s22 += v2 * x2; s23 += v2 * x3;
        const v3 = weights[w3 + k]!;
        s30 += v3 * x0; s31 += v3 * x1; s32 += v3 * x2; s33 += v3 * x3;
      }
      let d = outOffset + o * positions + p;
      out[d] = s00; out[d + 1] = s01; out[d + 2] = s02; out[d + 3] = s03;
      d += positions;
      out[d] = s10; out[d + 1] = s11; out[d + 2] = s12; out[d + 3] = s13;
      d += positions;
      out[d] = s20; out[d + 1] = s21; out[d + 2] = s22; out[d + 3] = s23;
      d += positions;
      out[d] = s30; out[d + 1] = s31; out[d + 2] = s32; out[d + 3] = s33;
    }
  }
  // The edges: channels past the last whole tile (all positions), positions past it (tiled channels).
  for (let o = 0; o < channels; o++) {
    for (let p = o < tiledChannels ? tiledPositions : 0; p < positions; p++) {
      let sum = 0;
      for (let k = 0; k < depth; k++) sum += weights[o * depth + k]! * cols[k * positions + p]!;
      out[outOffset + o * positions + p] = sum;
    }
  }
}

/**
 * Zero-padded 2-D convolution without bias (every conv of these networks), as im2col and a float64
 * matrix product per image. This reference runs on 520 images for each of four checkpoints, so it
 * is written for speed (no closures, no bounds tests in the inner loop) while staying plain float64.
 */
export function conv2d(x: Map64, conv: Conv2d): Map64 {
  const [kh, kw] = conv.kernelSize;
  const o = conv.outChannels;
  const oh = Math.floor((x.h + 2 * conv.padding[0] - kh) / conv.stride[0]) + 1;
  const ow = Math.floor((x.w + 2 * conv.padding[1] - kw) / conv.stride[1]) + 1;
  const depth = x.c * kh * kw;
  const positions = oh * ow;
  const weights = Float64Array.from(conv.weight.data as Float32Array);
  const cols = new Float64Array(depth * positions);
  const out = new Float64Array(x.n * o * positions);
  for (let n = 0; n < x.n; n++) {
    im2col(x, n, kh, kw, conv.stride, conv.padding, oh, ow, cols);
    gemm(weights, cols, out, n * o * positions, o, positions, depth);
  }
  return { data: out, n: x.n, c: o, h: oh, w: ow };
}

/**
 * Inference BatchNorm, (x − mean) / √(var + eps) · γ + β, written over `x`'s own data: the reference
 * only applies it to a convolution's fresh output, and new arrays per layer cost a fifth of its time.
 */
export function batchNormInPlace(x: Map64, bn: BatchNorm2d): Map64 {
  const gamma = bn.weight.data as Float32Array;
  const beta = bn.bias.data as Float32Array;
  const mean = bn.runningMean.data as Float32Array;
  const variance = bn.runningVar.data as Float32Array;
  const plane = x.h * x.w;
  for (let n = 0; n < x.n; n++) {
    for (let c = 0; c < x.c; c++) {
      const base = (n * x.c + c) * plane;
      const m = mean[c]!;
      const inv = 1 / Math.sqrt(variance[c]! + bn.eps);
      const g = gamma[c]!;
      const b = beta[c]!;
      for (let i = base; i < base + plane; i++) x.data[i] = (x.data[i]! - m) * inv * g + b;
    }
  }
  return x;
}

/** max(x, 0), over `x`'s own data. */
export function reluInPlace(x: Map64): Map64 {
  const data = x.data;
  for (let i = 0; i < data.length; i++) if (!(data[i]! > 0)) data[i] = 0;
  return x;
}

/** `a += b` elementwise for two maps of one shape. */
export function addInPlace(a: Map64, b: Map64): Map64 {
  if (a.data.length !== b.data.length) throw new Error('add: shapes differ');
  for (let i = 0; i < a.data.length; i++) a.data[i] = a.data[i]! + b.data[i]!;
  return a;
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
  let out = reluInPlace(batchNormInPlace(conv2d(x, block.conv1), block.bn1));
  out = batchNormInPlace(conv2d(out, block.conv2), block.bn2);
  const changesShape = block.stride !== 1 || block.conv1.inChannels !== block.conv1.outChannels;
  const shortcut = changesShape ? optionA(x, block.conv1.outChannels) : x;
  return reluInPlace(addInPlace(out, shortcut));
}

/** Upstream's `ResNet.forward`: logits `[N, classes]` as a flat row-major array. */
export function cifarResNet(x: Map64, model: CifarResNet): Float64Array {
  let y = reluInPlace(batchNormInPlace(conv2d(x, model.conv1), model.bn1));
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
