// The addon's NativeGpuImageDecoder (native/src/js_gpu_image_decoder.cc over cuda/gpu/gpu_image_decoder_pool.h): its
// arguments are checked alike in every build; a build without CUDA refuses to make one with
// ERR_BACKEND_UNAVAILABLE saying why (run this file against such a build: RESNET_CUDNN_ADDON pointing at the
// resnet_cudnn.node of `npx cmake-js compile --release --out build-cpu --CDRESNET_CPU_ONLY=ON`); a CUDA build
// without a GPU refuses with ERR_NO_GPU. On a machine whose imageDecoder is nvJPEG, real images are decoded: a
// JPEG on the GPU, close to the CPU path's pixels (nvJPEG's IDCT and torchvision's resize against libjpeg and
// Pillow), and a PNG sent back to the CPU with its output untouched.
import { describe, expect, it } from 'vitest';
import { allocateHostMemory } from '../../lib/runtime/host-memory.js';
import { loadNative, type NativeGpuImageDecoder } from '../../lib/runtime/native.js';
import { decodeAndPreprocess } from '../../lib/server/image-decode.js';
import { makeFiles } from '../helpers/jpeg-files.js';

const native = loadNative();
const info = native.info();
const cudaReason = info.backends.cuda.available ? '' : info.backends.cuda.reason;
const builtWithoutCuda = /^built without CUDA/.test(cudaReason);
const options = { resizeSize: 36, cropSize: 32 };

function failure(make: () => unknown): { code?: string; message: string } {
  try {
    make();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected it to throw');
}

const make = (...args: unknown[]) => () => new (native.NativeGpuImageDecoder as unknown as new (...a: unknown[]) => NativeGpuImageDecoder)(...args);

describe('NativeGpuImageDecoder: arguments, in every build', () => {
  it.each([
    ['a device past 1023', [1024, options, 1e6, 0], 'NativeGpuImageDecoder: Expected an integer in [0, 1023] for device but received 1024'],
    ['no options', [0, undefined, 1e6, 0], 'NativeGpuImageDecoder: Expected an object { resizeSize, cropSize, mean?, std?, layout? } for options but received undefined'],
    ['no crop size', [0, { resizeSize: 36 }, 1e6, 0], 'NativeGpuImageDecoder: Expected options.resizeSize and options.cropSize (integers ≥ 1)'],
    ['a crop size of 0', [0, { resizeSize: 36, cropSize: 0 }, 1e6, 0], /Expected an integer in \[1, 2147483647\] for cropSize but received 0$/],
    ['another layout', [0, { ...options, layout: 'chw' }, 1e6, 0], 'NativeGpuImageDecoder: Expected "nchw" or "nhwc" for options.layout but received "chw"'],
    ['a std of 0', [0, { ...options, std: [1, 0, 1] }, 1e6, 0], 'NativeGpuImageDecoder: Expected an array of 3 positive numbers for options.std but received an array of length 3'],
    ['two means', [0, { ...options, mean: [0.5, 0.5] }, 1e6, 0], /Expected an array of 3 finite numbers for options\.mean/],
    ['no pixel limit', [0, options, 0, 0], /Expected an integer in \[1, \d+\] for maxPixels but received 0$/],
    ['a negative byte budget', [0, options, 1e6, -1], /Expected an integer in \[0, \d+\] for maxDecodedBytes but received -1$/],
  ])('refuses %s', (_what, args, message) => {
    const error = failure(make(...args));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });
});

describe('NativeGpuImageDecoder where it cannot run', () => {
  it.runIf(builtWithoutCuda)('a build without CUDA has none, and says so', () => {
    const error = failure(make(0, options, 1e6, 0));
    expect(error.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(error.message).toMatch(/^built without CUDA: this addon has no GPU image decoder \(.*\); decode images on the CPU, or install the CUDA toolkit/);
  });

  it.runIf(/NVIDIA driver|no CUDA device/.test(cudaReason))('a CUDA build without a GPU says what is missing', () => {
    const error = failure(make(0, options, 1e6, 0));
    expect(error.code).toBe('ERR_NO_GPU');
    expect(error.message).toBe(cudaReason);
  });
});

describe.runIf(info.imageDecoder.decoder !== 'cpu-workers')('NativeGpuImageDecoder on this GPU (skipped: no nvJPEG here)', () => {
  it('decodes a JPEG on the GPU into pinned memory and sends a PNG back to the CPU, its output untouched', async () => {
    const files = await makeFiles();
    const decoder = make(0, options, 24_000_000, 1 << 26)();
    const bytes = decoder.imageBytes;
    expect(bytes).toBe(3 * 32 * 32);
    const memory = new Uint8Array(allocateHostMemory(2 * bytes, { backend: 'cuda', device: 0 })).fill(7);
    const outputs = [memory.subarray(0, bytes), memory.subarray(bytes)];
    const report = await decoder.decode([files.baseline420, files.png], outputs);
    expect(report.routes[0]).toMatch(/^nvJPEG (hardware|GPU)$/);
    expect(report.reasons[0]).toBe('');
    expect(report).toMatchObject({ routes: [report.routes[0], 'CPU'] });
    expect(report.reasons[1]).toMatch(/PNG/);
    expect(outputs[1]!.every((value) => value === 7)).toBe(true);
    const cpu = await decodeAndPreprocess([files.baseline420], { ...options, interpolation: 'bilinear', mean: [0, 0, 0], std: [1, 1, 1] });
    if (!cpu.ok) throw new Error(cpu.message);
    let total = 0;
    for (let i = 0; i < bytes; i++) total += Math.abs(outputs[0]![i]! - cpu.data[i]!);
    console.log(`gpu-image-decoder: mean absolute difference from the CPU path ${(total / bytes).toFixed(3)} levels`);
    expect(total / bytes).toBeLessThan(3);
    expect(decoder.decoderCount).toBe(1);
    decoder.dispose();
    await expect(decoder.decode([files.baseline420], [outputs[0]!])).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });

  it('refuses outputs that are not one image each, before anything runs', async () => {
    const decoder = make(0, options, 24_000_000, 0)();
    const image = Buffer.from('not decoded');
    await expect(decoder.decode([image], [new Uint8Array(10)])).rejects.toMatchObject({
      code: 'ERR_INVALID_SHAPE', message: 'NativeGpuImageDecoder: Expected 3072 bytes (3 × crop² pixels) for outputs[0] but received 10',
    });
    await expect(decoder.decode([image, image], [new Uint8Array(3072)])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT', message: 'NativeGpuImageDecoder: Expected one output per image (2) but received 1',
    });
    await expect(decoder.decode([], [])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(decoder.decoderCount).toBe(0);
    decoder.dispose();
  });
});
