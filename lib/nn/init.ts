/**
 * Parameter initialisation, as `torch.nn.init`: the functions fill a float32 tensor in place and
 * return it. Fans follow PyTorch's `_calculate_fan_in_and_fan_out`: for a weight `[O, I, kH, kW]`,
 * fan_in = I·kH·kW and fan_out = O·kH·kW (a grouped conv's I is already in/groups; O is not divided).
 * @module
 */
import { InvalidArgumentError, invalidArgument } from '../errors.js';
import { resolveGenerator } from '../random.js';
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';

/** The nonlinearities {@link calculateGain} knows. */
export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu';

/** Options shared by the Kaiming initialisers. */
export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (only for `leaky_relu`; default 0). */
  a?: number;
  /** Preserve the variance of the forward pass (`fan_in`, default) or of the backward pass (`fan_out`). */
  mode?: 'fan_in' | 'fan_out';
  /** Default `leaky_relu`, as PyTorch. */
  nonlinearity?: Nonlinearity;
  /** Default: the process-wide generator. */
  generator?: Generator;
}

/** `[fanIn, fanOut]` of a weight of at least two dimensions. */
export function calculateFanInAndFanOut(tensor: Tensor): [number, number] {
  if (tensor.ndim < 2) {
    throw new InvalidArgumentError('Fan in and fan out can not be computed for tensor with fewer than 2 dimensions');
  }
  let receptiveField = 1;
  for (const d of tensor.shape.slice(2)) receptiveField *= d;
  return [tensor.shape[1]! * receptiveField, tensor.shape[0]! * receptiveField];
}

/** PyTorch's recommended gain for a nonlinearity (`param` is leaky_relu's negative slope, default 0.01). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv2d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      if (typeof slope !== 'number' || !Number.isFinite(slope)) throw invalidArgument('a finite number', 'negative slope', slope);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    default:
      throw invalidArgument('linear, conv2d, sigmoid, tanh, relu or leaky_relu', 'nonlinearity', nonlinearity);
  }
}

function kaimingStd(tensor: Tensor, options: KaimingOptions): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(tensor);
  const mode = options.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') throw invalidArgument('"fan_in" or "fan_out"', 'mode', mode);
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  return calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0) / Math.sqrt(fan);
}

function floatData(tensor: Tensor): Float32Array {
  if (tensor.dtype !== 'float32') throw invalidArgument('a float32 tensor', 'tensor', tensor.dtype);
  return tensor.data as Float32Array;
}

/** Fills with U(low, high). */
export function uniform_(tensor: Tensor, low = 0, high = 1, generator?: Generator): Tensor {
  resolveGenerator(generator).fillUniform(floatData(tensor), low, high);
  return tensor;
}

/** Fills with N(mean, std²). */
export function normal_(tensor: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  resolveGenerator(generator).fillNormal(floatData(tensor), mean, std);
  return tensor;
}

/** Fills with one value. */
export function constant_(tensor: Tensor, value: number): Tensor {
  floatData(tensor).fill(value);
  return tensor;
}

/** Fills with zeros. */
export function zeros_(tensor: Tensor): Tensor {
  return constant_(tensor, 0);
}

/** Fills with ones. */
export function ones_(tensor: Tensor): Tensor {
  return constant_(tensor, 1);
}

/** He et al.'s uniform initialisation: U(-b, b) with b = gain·√(3 / fan). */
export function kaimingUniform_(tensor: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(tensor, options);
  return uniform_(tensor, -bound, bound, options.generator);
}

/** He et al.'s normal initialisation: N(0, std²) with std = gain / √fan. */
export function kaimingNormal_(tensor: Tensor, options: KaimingOptions = {}): Tensor {
  return normal_(tensor, 0, kaimingStd(tensor, options), options.generator);
}
