// What info() says the server's image decoder is, and why (native/src/cuda/image_decoder_choice.h): the choice as
// a pure function of the facts (`testing.imageDecoder.choose`), this machine's answer (no GPU here: the CPU
// workers, saying why), and how `resnet info` prints it (describeImageDecoder; the CLI itself in cli.test.ts).
import { describe, expect, it } from 'vitest';
import { describeImageDecoder } from '../../lib/cli/info.js';
import { backendInfo, type ImageDecoderInfo } from '../../lib/index.js';
import { loadNative } from '../../lib/runtime/native.js';

interface Facts {
  cudaBuilt?: boolean;
  noCudaReason?: string;
  gpu?: boolean;
  noGpuReason?: string;
  nvjpegLoaded?: boolean;
  nvjpegError?: string;
  nvjpegPath?: string;
  nvjpegVersion?: string;
  session?: boolean;
  sessionError?: string;
  hardwareEngines?: number;
  noHardwareReason?: string;
}
const choose = (loadNative() as unknown as { testing: { imageDecoder: { choose(facts: Facts): ImageDecoderInfo } } }).testing.imageDecoder.choose;

describe('the image decoder choice', () => {
  const loaded: Facts = { cudaBuilt: true, gpu: true, nvjpegLoaded: true, nvjpegPath: '/site/nvidia/cu13/lib/libnvjpeg.so.13', nvjpegVersion: '13.0.2', session: true };

  it('hardware engines first: nvJPEG with the engines, naming the library', () => {
    expect(choose({ ...loaded, hardwareEngines: 7 })).toEqual({
      decoder: 'nvjpeg-hardware', hardwareEngines: 7, nvjpegPath: loaded.nvjpegPath, nvjpegVersion: '13.0.2',
      reason: 'nvJPEG 13.0.2 from /site/nvidia/cu13/lib/libnvjpeg.so.13: baseline JPEGs go to the 7 hardware JPEG engines, other JPEGs to nvJPEG\'s GPU backend, other formats to the CPU workers',
    });
    expect(choose({ ...loaded, hardwareEngines: 1 }).reason).toContain('the 1 hardware JPEG engine,');
  });

  it('no engines: nvJPEG\'s GPU backend, saying why there are none', () => {
    const choice = choose({ ...loaded, hardwareEngines: 0, noHardwareReason: 'nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE) failed: NVJPEG_STATUS_ARCH_MISMATCH (7)' });
    expect(choice).toMatchObject({ decoder: 'nvjpeg-gpu', hardwareEngines: 0 });
    expect(choice.reason).toBe('nvJPEG 13.0.2 from /site/nvidia/cu13/lib/libnvjpeg.so.13, no hardware JPEG engines (nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE) failed: NVJPEG_STATUS_ARCH_MISMATCH (7)): JPEGs go to nvJPEG\'s GPU backend, other formats to the CPU workers');
  });

  it('the CPU workers otherwise, with the first thing missing as the reason', () => {
    expect(choose({ noCudaReason: 'no nvcc' })).toEqual({ decoder: 'cpu-workers', hardwareEngines: 0, reason: 'built without CUDA: no nvcc' });
    expect(choose({ cudaBuilt: true, noGpuReason: 'no NVIDIA driver' }).reason).toBe('no GPU: no NVIDIA driver');
    expect(choose({ cudaBuilt: true, gpu: true, nvjpegError: 'Tried, in order:\n  - a\n  - b' }).reason).toBe('nvJPEG not found: Tried, in order:\n  - a\n  - b');
    const noHandle = choose({ ...loaded, session: false, sessionError: 'nvjpegCreateEx(NVJPEG_BACKEND_DEFAULT) failed: NVJPEG_STATUS_ALLOCATOR_FAILURE (5)' });
    expect(noHandle).toMatchObject({ decoder: 'cpu-workers', nvjpegVersion: '13.0.2' });
    expect(noHandle.reason).toMatch(/loaded, but no nvJPEG handle could be made on device 0: .*ALLOCATOR_FAILURE/);
  });
});

describe("this machine's image decoder", () => {
  const info = backendInfo();
  const cuda = info.backends.cuda;
  const cudaReason = cuda.available ? '' : cuda.reason;

  it('is read lazily (a getter on info()), and JSON includes it', () => {
    expect(typeof Object.getOwnPropertyDescriptor(info, 'imageDecoder')?.get).toBe('function');
    expect(JSON.parse(JSON.stringify(info)).imageDecoder).toEqual(info.imageDecoder);
  });

  it.runIf(/^built without CUDA/.test(cudaReason))('in a build without CUDA: the CPU workers, saying so', () => {
    expect(info.imageDecoder).toMatchObject({ decoder: 'cpu-workers', hardwareEngines: 0 });
    expect(info.imageDecoder.reason).toMatch(/^built without CUDA: /);
  });

  it.runIf(/NVIDIA driver|no CUDA device/.test(cudaReason))('without a GPU: the CPU workers, because there is no GPU (the CUDA backend\'s own reason)', () => {
    expect(info.imageDecoder).toEqual({ decoder: 'cpu-workers', hardwareEngines: 0, reason: `no GPU: ${cudaReason}` });
  });
});

describe('resnet info, image decoder line', () => {
  it('names the decoder and says why; a reason of several lines continues indented', () => {
    expect(describeImageDecoder({ decoder: 'nvjpeg-hardware', hardwareEngines: 7, reason: 'nvJPEG 13.0.2 from /x: baseline JPEGs go to …' })).toEqual([
      'image decoder: nvJPEG hardware (7 engines) (nvJPEG 13.0.2 from /x: baseline JPEGs go to …)',
    ]);
    expect(describeImageDecoder({ decoder: 'nvjpeg-gpu', hardwareEngines: 0, reason: 'no engines' })).toEqual(['image decoder: nvJPEG GPU backend (no engines)']);
    expect(describeImageDecoder({ decoder: 'cpu-workers', hardwareEngines: 0, reason: 'nvJPEG not found: Tried, in order:\n  - a\n  - b\n' })).toEqual([
      'image decoder: CPU workers (nvJPEG not found: Tried, in order:',
      '        - a',
      '        - b)',
    ]);
  });
});
