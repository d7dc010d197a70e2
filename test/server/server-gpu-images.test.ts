// BYTES images on the GPU decoder's server path (lib/server/gpu-images.ts, image-decoder-choice.ts), with the native
// decoder replaced by test/fake-gpu-image-decoder.ts through useGpuImageDecoderProvider: it routes by the native
// plan and "decodes" with sharp and the GPU kernel's host emulation, so every row is computed from real pixels.
// Against a CPU-only server (--image-decoder cpu) with the same checkpoint: a mixed batch's CPU-routed rows are
// equal, its GPU-routed slots hold what the kernel computes; concurrent requests share one decode call, a lone one
// is not delayed; a pixel buffer is reused only once the run reading it has settled (a client that left mid-run
// included); errors name the element in the CPU path's words; the pixel limit refuses before decoding; nvJPEG's
// failures (one image, a whole call) fall back to the CPU. What only a GPU shows (nvJPEG itself, the DMA copies,
// the worker threads) is the GPU check's (scripts/gpu-check/serve.mjs, its jpeg kind).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { GpuImages, gpuDecodeBatchImages } from '../../lib/server/gpu-images.js';
import { decodeAndPreprocess } from '../../lib/server/image-decode.js';
import { cpuDecoderReason, createImageDecoder, imageDecoderName, useGpuImageDecoderProvider } from '../../lib/server/image-decoder-choice.js';
import type { ModelInput } from '../../lib/server/served-model.js';
import { FakeGpuImageDecoder, fakeGpuPixels, fakeProvider } from '../helpers/fake-gpu-image-decoder.js';
import { decode as imageDecode, find, makeFiles } from '../helpers/jpeg-files.js';
import { resnet20Server, type InferResponse } from '../helpers/server-helpers.js';
import { checkpoint, deferred, holdNextBatch } from '../helpers/server-threads-helpers.js';
import { dataAbsent } from '../helpers/test-data.js';

const haveCheckpoint = dataAbsent('BYTES images on the GPU decoder (both servers need the same resnet20 weights)', checkpoint) === null;

const transforms = { resizeSize: 32, cropSize: 32 }; // resnet20's (CIFAR): resize and crop to the input size
const sample = 3 * 32 * 32;
let files: Awaited<ReturnType<typeof makeFiles>>;
let gpu: InferenceServer;
let cpu: InferenceServer;
let fake: FakeGpuImageDecoder;
const provider = fakeProvider();

/** A copy of a JPEG whose frame claims `width` × `height` (the pixel data stays the small image's). */
function withFrameSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  const sof = find(out, 0xc0);
  out.writeUInt16BE(height, sof + 5);
  out.writeUInt16BE(width, sof + 7);
  return out;
}

async function infer(server: InferenceServer, images: Buffer[]): Promise<{ status: number; body: InferResponse & { error?: string } }> {
  const res = await server.app.inject({
    method: 'POST', url: '/v2/models/resnet20/infer',
    payload: JSON.stringify({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [images.length], data: images.map((b) => b.toString('base64')) }] }),
  });
  return { status: res.statusCode, body: res.json() };
}

/** Row `i` of output `name` (10 logits or 64 features) of a response. */
function row(body: InferResponse, name: string, i: number): number[] {
  const output = body.outputs.find((o) => o.name === name)!;
  const width = output.shape[1]!;
  return (output.data as number[]).slice(i * width, (i + 1) * width);
}

/** Captures a copy of every input the model's next runs get. */
function captureInputs(server: InferenceServer): { inputs: Buffer[]; restore: () => void } {
  const model = server.models.get('resnet20')!;
  const original = model.run.bind(model);
  const inputs: Buffer[] = [];
  const spy = vi.spyOn(model, 'run').mockImplementation((batch, options) => {
    for (const input of batch) inputs.push(Buffer.concat(input.segments));
    return original(batch, options);
  });
  return { inputs, restore: () => spy.mockRestore() };
}

/** The route the decoder's plan gives `image` on its own. */
function routeOf(image: Uint8Array): string {
  return imageDecode.planBatch([image], { hardwareEngines: 7, gpuBackend: true, maxPixels: 24_000_000 }).images[0]!.route;
}

/** The CPU path's pixels of `images` (uint8 NCHW at resnet20's size). */
async function cpuPixelsOf(images: readonly Uint8Array[]): Promise<Uint8Array> {
  const result = await decodeAndPreprocess(images, { ...transforms, interpolation: 'bilinear', mean: [0, 0, 0], std: [1, 1, 1] });
  if (!result.ok) throw new Error(result.message);
  return result.data;
}

describe.runIf(haveCheckpoint)('BYTES images on the GPU decoder (a fake nvJPEG)', () => {
  beforeAll(async () => {
    files = await makeFiles();
    useGpuImageDecoderProvider(provider);
    gpu = resnet20Server({ weights: checkpoint, instanceCount: 2 });
    cpu = resnet20Server({ weights: checkpoint, imageDecoder: 'cpu' });
    await Promise.all([gpu.start(), cpu.start({ listen: false })]);
    useGpuImageDecoderProvider(null);
    expect(provider.decoders).toHaveLength(1); // the CPU-only server never made one
    fake = provider.decoders[0]!;
  }, 120_000);
  afterAll(async () => {
    await Promise.all([gpu?.close(), cpu?.close()]);
    if (fake !== undefined) await vi.waitFor(() => expect(fake.disposed).toBe(true));
  });

  it('names the decoder in use as resnet info names it, and why; --image-decoder cpu keeps the CPU workers', () => {
    expect(gpu.models.get('resnet20')!.imageDecoder).toEqual({ decoder: 'nvjpeg-hardware', name: 'nvJPEG hardware (7 engines)', reason: 'a fake nvJPEG (tests)' });
    expect(cpu.models.get('resnet20')!.imageDecoder).toEqual({ decoder: 'cpu-workers', name: 'CPU workers', reason: "imageDecoder is 'cpu' (--image-decoder cpu)" });
  });

  it('decodes a mixed batch: GPU routes by the kernel, the rest by the CPU workers, each into its own slot', async () => {
    const images = [files.baseline420, files.png, files.progressive, files.webpLossy, files.grey, files.cmyk, files.baseline444];
    const callsBefore = fake.calls.length;
    const capture = captureInputs(gpu);
    let answer;
    try {
      answer = await infer(gpu, images);
    } finally {
      capture.restore();
    }
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(fake.calls.length).toBe(callsBefore + 1);
    const { planned } = fake.calls.at(-1)!;
    expect(planned).toEqual(['nvJPEG hardware', 'CPU', 'nvJPEG GPU', 'CPU', 'nvJPEG hardware', 'CPU', 'nvJPEG hardware']);

    // Each slot as its decoder made it: the kernel's pixels for GPU routes, the CPU path's for the others.
    const [pixels] = capture.inputs;
    expect(pixels!.length).toBe(images.length * sample);
    const cpuPixels = await cpuPixelsOf(images);
    for (const [i, route] of planned.entries()) {
      const slot = pixels!.subarray(i * sample, (i + 1) * sample);
      const fromCpu = cpuPixels.subarray(i * sample, (i + 1) * sample);
      if (route === 'CPU') {
        expect(Buffer.compare(slot, fromCpu), `image ${i}`).toBe(0);
      } else {
        expect(Buffer.compare(slot, await fakeGpuPixels(images[i]!, 32, 32)), `image ${i}`).toBe(0);
        // torchvision's tensor resize against Pillow's: a fraction of a level apart on average (measured 0.19),
        // where a wrong image or slot is tens of levels away.
        let total = 0;
        for (let k = 0; k < sample; k++) total += Math.abs(slot[k]! - fromCpu[k]!);
        expect(total / sample, `image ${i}`).toBeLessThan(0.5);
      }
    }

    // The CPU-routed rows equal the CPU-only server's; every row is the engine's on the pixels above.
    const reference = await infer(cpu, images);
    expect(reference.status).toBe(200);
    const model = gpu.models.get('resnet20')!;
    const input: ModelInput = { dtype: 'uint8', layout: 'nchw', samples: images.length, segments: [pixels!] };
    const [logits] = await model.execute(input, undefined, { alone: true });
    for (const [i, route] of planned.entries()) {
      expect(row(answer.body, 'output', i)).toEqual(Array.from(logits!.subarray(i * 10, (i + 1) * 10)));
      if (route === 'CPU') {
        expect(row(answer.body, 'output', i), `image ${i}`).toEqual(row(reference.body, 'output', i));
        expect(row(answer.body, 'features', i), `image ${i}`).toEqual(row(reference.body, 'features', i));
      }
    }
  });

  it('decodes concurrent requests\' images in one call, each request getting its own rows; a lone request starts at once', async () => {
    const model = gpu.models.get('resnet20')!;
    const gate = deferred();
    fake.gate = gate.promise;
    const first = fake.calls.length;
    const requests = [[files.baseline420], [files.grey], [files.baseline444, files.progressive], [files.png], [files.greyProgressive, files.baseline420, files.webpAlpha]];
    const decoding: Promise<ModelInput>[] = [];
    try {
      decoding.push(model.decodeImages(requests[0]!));
      expect(fake.calls.length).toBe(first + 1); // a lone request: its call started with no wait
      decoding.push(model.decodeImages(requests[1]!));
      expect(fake.calls.length).toBe(first + 2); // the second decode instance
      for (const images of requests.slice(2)) decoding.push(model.decodeImages(images));
      expect(fake.calls.length).toBe(first + 2); // both busy: the rest wait, together
    } finally {
      gate.resolve();
      fake.gate = null;
    }
    const inputs = await Promise.all(decoding);
    expect(fake.calls.length).toBe(first + 3);
    expect(fake.calls[first + 2]!.images).toEqual(requests.slice(2).flat());
    for (const [r, input] of inputs.entries()) {
      const images = requests[r]!;
      expect(input.samples).toBe(images.length);
      const fromCpu = await cpuPixelsOf(images);
      const pixels = Buffer.concat(input.segments);
      for (const [i, image] of images.entries()) {
        const want = routeOf(image) === 'CPU' ? fromCpu.subarray(i * sample, (i + 1) * sample) : await fakeGpuPixels(image, 32, 32);
        expect(Buffer.compare(pixels.subarray(i * sample, (i + 1) * sample), want), `request ${r} image ${i}`).toBe(0);
      }
      input.release!();
    }
  });

  it('reuses a request\'s pixel buffer only once the run reading it has settled, also when its client left mid-run', async () => {
    const hold = holdNextBatch(gpu.models.get('resnet20')!);
    const bufferOfLastCall = () => fake.calls.at(-1)!.buffers[0]!;
    try {
      const controller = new AbortController();
      const held = fetch(`${gpu.address!.url}/v2/models/resnet20/infer`, {
        method: 'POST', signal: controller.signal,
        body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: [files.baseline420.toString('base64')] }] }),
      }).catch((error: unknown) => error);
      await hold.started;
      const heldBuffer = bufferOfLastCall();
      controller.abort(); // the client leaves: its answer is dropped at once, its run goes on reading the buffer
      expect(await held).toBeInstanceOf(Error);
      for (let i = 0; i < 3; i++) {
        expect((await infer(gpu, [files.baseline444])).status).toBe(200);
        expect(bufferOfLastCall()).not.toBe(heldBuffer);
      }
      hold.open();
      await hold.done;
      await new Promise((resolve) => setImmediate(resolve)); // the batcher's own continuation, which releases it
      // Once the held run has settled its buffer is back (the last returned): a request of its size class gets it.
      expect((await infer(gpu, [files.grey])).status).toBe(200);
      expect(bufferOfLastCall()).toBe(heldBuffer);
    } finally {
      hold.open();
      hold.restore();
    }
  });

  it('names the first element that is not a decodable image, in the CPU path\'s words', async () => {
    const truncated = files.baseline420.subarray(0, files.baseline420.length - 40);
    // libvips keeps one error buffer for the process: when other images of the request decode at the same time,
    // sharp may read "Unknown error" instead of libvips' own words, on either path. Compared up to that reason.
    const upToTheReason = (message: string | undefined) => message?.replace(/(Cannot decode image buffer \(\d+ bytes\): ).*$/, '$1…');
    const cases: [Buffer[], RegExp][] = [
      [[files.png, Buffer.from('not an image at all'), files.baseline420], /^input 'input' element 1 is not a decodable image: Cannot decode image buffer \(19 bytes\): /],
      [[files.baseline444, truncated], /^input 'input' element 1 is not a decodable image: Cannot decode image buffer \(\d+ bytes\): /],
      [[files.baseline420, files.progressive, Buffer.from('GIF89a garbage')], /^input 'input' element 2 is not a decodable image: /],
    ];
    for (const [images, message] of cases) {
      const [got, want] = [await infer(gpu, images), await infer(cpu, images)];
      expect(got.status).toBe(400);
      expect(want.status).toBe(400);
      expect(got.body.error).toMatch(message);
      expect(upToTheReason(got.body.error)).toBe(upToTheReason(want.body.error));
    }
    expect((await infer(gpu, [])).body.error).toBe((await infer(cpu, [])).body.error);
  });

  it('refuses an image over the pixel limit before anything decodes it, as the CPU path does', async () => {
    const bomb = withFrameSize(files.baseline420, 6000, 4001); // 24,006,000 pixels: one row past 24 MP
    const [got, want] = [await infer(gpu, [files.baseline444, bomb]), await infer(cpu, [files.baseline444, bomb])];
    expect(fake.calls.at(-1)!.planned).toEqual(['nvJPEG hardware', 'refused']);
    expect(got.status).toBe(400);
    expect(got.body.error).toBe(want.body.error);
    expect(got.body.error).toMatch(/^input 'input' element 1 is not a decodable image: .*6000x4001 is 24006000 pixels, more than the limit of 24000000/);
  });

  it('decodes on the CPU what nvJPEG fails on, and every image of a call that failed as a whole', async () => {
    const images = [files.baseline420, files.grey, files.baseline444];
    const want = await infer(cpu, images);
    fake.failWhen = (image) => Buffer.compare(image, files.grey) === 0;
    try {
      const got = await infer(gpu, images);
      expect(got.status).toBe(200);
      expect(row(got.body, 'output', 1)).toEqual(row(want.body, 'output', 1));
      expect(row(got.body, 'output', 0)).not.toEqual(row(want.body, 'output', 0)); // the kernel's pixels, not Pillow's
    } finally {
      fake.failWhen = null;
    }
    fake.failure = new Error('a fake CUDA failure');
    try {
      const got = await infer(gpu, images);
      expect(got.status).toBe(200);
      for (let i = 0; i < images.length; i++) expect(row(got.body, 'features', i)).toEqual(row(want.body, 'features', i));
    } finally {
      fake.failure = null;
    }
  });
});

describe('GpuImages on its own: its buffers and its fallbacks', () => {
  function images(log = { infos: [] as string[], warns: [] as string[] }) {
    const decoder = new FakeGpuImageDecoder({ ...transforms, layout: 'nchw' }, 24_000_000);
    const gpuImages = new GpuImages({
      decoder, transforms: { ...transforms, interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, inputName: 'input',
      maxBatchSize: 4, allocate: (bytes) => new ArrayBuffer(bytes), model: 'm',
      log: { info: (_o, msg) => log.infos.push(msg ?? ''), warn: (_o, msg) => log.warns.push(msg ?? '') },
    });
    return { decoder, gpuImages, log };
  }

  beforeAll(async () => {
    files ??= await makeFiles();
  });

  it('gives a request\'s buffer back when the input is released, and at once when decoding it failed', async () => {
    const { gpuImages } = images();
    const input = await gpuImages.decode([files.baseline420, files.png]);
    expect(gpuImages.buffers).toEqual({ leased: 1, allocations: 1 });
    input.release!();
    expect(gpuImages.buffers.leased).toBe(0);
    await expect(gpuImages.decode([files.png, Buffer.from('nope')])).rejects.toThrow(/^input 'input' element 1 is not a decodable image: /);
    expect(gpuImages.buffers).toEqual({ leased: 0, allocations: 1 }); // the same buffer, given back after the 400
    await expect(gpuImages.decode([])).rejects.toThrow("input 'input' has no elements");
    expect(gpuImages.counts).toEqual({ gpu: 1, cpu: 1, calls: 2 }); // the failed request's images count nowhere
  });

  it('decodes a batch whose native call failed on the CPU workers, saying so', async () => {
    const { decoder, gpuImages, log } = images();
    decoder.failure = new Error('a fake CUDA failure');
    const input = await gpuImages.decode([files.baseline420, files.grey]);
    expect(Buffer.concat(input.segments)).toEqual(Buffer.from(await cpuPixelsOf([files.baseline420, files.grey])));
    expect(log.warns).toEqual(['model m: decoding images on the GPU failed; decoding them on the CPU workers']);
    expect(gpuImages.counts).toEqual({ gpu: 0, cpu: 2, calls: 1 });
    input.release!();
  });

  it('takes a request of more images than a decode batch holds to the CPU path whole', async () => {
    const { decoder, gpuImages } = images();
    const many = Array.from({ length: gpuDecodeBatchImages + 1 }, () => files.baseline444);
    const input = await gpuImages.decode(many);
    expect(decoder.calls).toHaveLength(0);
    expect(input.samples).toBe(many.length);
    expect(input.release).toBeUndefined();
    expect(gpuImages.buffers.allocations).toBe(0);
  });

  it('after dispose, lets the native decoder go once its calls are done, and decodes on the CPU', async () => {
    const { decoder, gpuImages } = images();
    const gate = deferred();
    decoder.gate = gate.promise;
    const running = gpuImages.decode([files.baseline420]);
    const disposed = gpuImages.dispose();
    await new Promise((resolve) => setImmediate(resolve));
    expect(decoder.disposed).toBe(false); // a call is in flight
    gate.resolve();
    (await running).release!();
    await disposed;
    expect(decoder.disposed).toBe(true);
    const after = await gpuImages.decode([files.baseline420]);
    expect(decoder.calls).toHaveLength(1);
    expect(Buffer.concat(after.segments)).toEqual(Buffer.from(await cpuPixelsOf([files.baseline420])));
  });
});

describe('choosing a model\'s image decoder', () => {
  const bilinear = { ...transforms, interpolation: 'bilinear' as const, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.25, 0.25, 0.25] as [number, number, number] };
  const hardware = { decoder: 'nvjpeg-hardware' as const, hardwareEngines: 1, reason: 'nvJPEG 13.0.2 from /x' };

  it('takes the GPU decoder unless told cpu, the machine has none, or the weights resize otherwise than bilinearly', () => {
    expect(cpuDecoderReason('auto', bilinear, hardware)).toBeNull();
    expect(cpuDecoderReason('auto', bilinear, { ...hardware, decoder: 'nvjpeg-gpu' })).toBeNull();
    expect(cpuDecoderReason('cpu', bilinear, hardware)).toBe("imageDecoder is 'cpu' (--image-decoder cpu)");
    expect(cpuDecoderReason('auto', bilinear, { decoder: 'cpu-workers', hardwareEngines: 0, reason: 'no GPU: no NVIDIA driver' })).toBe('no GPU: no NVIDIA driver');
    expect(cpuDecoderReason('auto', { ...bilinear, interpolation: 'bicubic' }, hardware)).toBe('the weights resize with bicubic interpolation; the GPU resize is bilinear only');
    expect(imageDecoderName(hardware)).toBe('nvJPEG hardware (1 engine)');
  });

  it('keeps the CPU workers, with a warning, when the GPU decoder fails its warm-up; the fake is let go', async () => {
    const failing = fakeProvider();
    const create = failing.create.bind(failing);
    failing.create = (...args) => {
      const decoder = create(...args) as FakeGpuImageDecoder;
      decoder.failure = new Error('a fake CUDA failure');
      return decoder;
    };
    const warns: string[] = [];
    useGpuImageDecoderProvider(failing);
    try {
      const chosen = await createImageDecoder({
        setting: 'auto', device: 'cuda:0', transforms: bilinear, maxBatchSize: 8, inputName: 'input', model: 'm',
        log: { info: () => {}, warn: (_o, msg) => warns.push(msg ?? '') },
      });
      expect(chosen).toMatchObject({ decoder: 'cpu-workers', name: 'CPU workers', reason: 'the GPU image decoder did not work on cuda:0: a fake CUDA failure' });
      expect(warns).toEqual(['model m: the GPU image decoder did not work on cuda:0: a fake CUDA failure; images are decoded by the CPU workers']);
      expect(failing.decoders[0]!.calls).toHaveLength(2); // one warm-up decode per instance, at once
      expect(failing.decoders[0]!.disposed).toBe(true);
    } finally {
      useGpuImageDecoderProvider(null);
    }
  });
});
