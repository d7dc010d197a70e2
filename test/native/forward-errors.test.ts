/**
 * Bad inputs to `forward`: each gives a typed error with a message that says what was wrong, and
 * the model stays usable afterwards.
 */
import { describe, expect, it } from 'vitest';
import { Conv2d, resnet18, Tensor, manualSeed, ShapeError, DTypeError, type ResNet } from '../../lib/index.js';
import { uniform } from '../helpers/helpers.js';

manualSeed(5);
const model: ResNet = resnet18({ numClasses: 10 });

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string; error: unknown }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { code: string; message: string };
    return { code: e.code, message: e.message, error };
  }
  throw new Error('expected a rejection');
}

describe('forward input errors', () => {
  it('wrong rank', async () => {
    const r = await rejection(model.forward(Tensor.from(uniform(3 * 32 * 32, 1), [3, 32, 32])));
    expect(r.error).toBeInstanceOf(ShapeError);
    expect(r.code).toBe('ERR_INVALID_SHAPE');
    expect(r.message).toBe("forward: expected a 4-D input [N, C, H, W] (or [N, H, W, C] with layout 'nhwc') but received shape [3, 32, 32]");
  });

  it('wrong channel count names the layer', async () => {
    const r = await rejection(model.forward(Tensor.from(uniform(4 * 32 * 32, 1), [1, 4, 32, 32])));
    expect(r.code).toBe('ERR_INVALID_SHAPE');
    expect(r.message).toBe(
      'Conv2d (in conv1): expected input with 3 channels but received 4 channels (input shape [N, 4, 32, 32])',
    );
  });

  it('too small spatial size', async () => {
    // torchvision's ResNets accept any H, W >= 1 (every stride-2 layer pads); an empty image is too small.
    const r = await rejection(model.forward(Tensor.from(new Float32Array(0), [1, 3, 0, 0])));
    expect(r.code).toBe('ERR_INVALID_SHAPE');
    expect(r.message).toBe(
      'Conv2d (in conv1): input spatial size 0x0 is too small for kernel 7x7 with padding 3x3 and dilation 1x1; use a larger input image',
    );
    const conv = new Conv2d(3, 8, 5);
    const r2 = await rejection(conv.forward(Tensor.from(uniform(27, 1), [1, 3, 3, 3])));
    expect(r2.message).toBe(
      'Conv2d: input spatial size 3x3 is too small for kernel 5x5 with padding 0x0 and dilation 1x1; use a larger input image',
    );
  });

  it('data length that does not match the shape', () => {
    expect(() => Tensor.from(new Float32Array(10), [1, 3, 2, 2])).toThrow(
      'Tensor.from: data has 10 elements but shape [1, 3, 2, 2] needs 12',
    );
  });

  it('wrong dtype', async () => {
    const r = await rejection(model.forward(Tensor.from(new Int32Array(3 * 8 * 8), [1, 3, 8, 8])));
    expect(r.error).toBeInstanceOf(DTypeError);
    expect(r.message).toBe("forward: expected a float32, float16 or uint8 tensor but received int32; convert it with tensor.to('float32')");
  });

  it('NaN passes through without crashing, and the model still answers afterwards', async () => {
    const data = uniform(2 * 3 * 32 * 32, 2);
    data[0] = NaN;
    const y = await model.forward(Tensor.from(data, [2, 3, 32, 32]));
    const logits = y.data as Float32Array;
    expect(logits).toHaveLength(20);
    // oneDNN's ReLU and max pool (like MLAS's in onnxruntime) use max(), which may drop a NaN where
    // PyTorch would propagate it, so the first sample may come out finite or NaN; it must not crash.
    // The second sample never sees the NaN.
    expect(Array.from(logits.subarray(10)).every(Number.isFinite)).toBe(true);
    const again = await model.forward(Tensor.from(uniform(2 * 3 * 32 * 32, 3), [2, 3, 32, 32]));
    expect(Array.from(again.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('uint8 input equals the same values as float32', async () => {
    const bytes = new Uint8Array(3 * 32 * 32).map((_, i) => (i * 37) % 256);
    const a = await model.forward(Tensor.from(bytes, [1, 3, 32, 32]));
    const b = await model.forward(Tensor.from(Float32Array.from(bytes), [1, 3, 32, 32]));
    expect(Array.from(a.data as Float32Array)).toEqual(Array.from(b.data as Float32Array));
  });
});
