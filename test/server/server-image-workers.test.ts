/**
 * The server's image pipeline (lib/server/image-decode.ts over lib/vision/pipeline.ts): the same pixels as
 * preparing the images on the calling thread, the client's bad element reported by index, a full queue answered
 * 503 with Retry-After, and the event loop left free while a large photo is prepared. Worker threads run from the
 * compiled `dist/` (a worker needs JavaScript), so this needs `npm run build:ts` first.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { resnet20Server } from '../helpers/server-helpers.js';
import { checkpoint, distCreateServer } from '../helpers/server-threads-helpers.js';
import { dataAbsent } from '../helpers/test-data.js';

const dist = (path: string) => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));
const built = existsSync(dist('vision/pipeline-worker.js'));
if (!built) console.log('server-image-workers: skipped, dist/ is not built (npm run build:ts)');
const haveCheckpoint = built && dataAbsent('BYTES requests end to end on the compiled server', checkpoint) === null;

type Decoding = typeof import('../../lib/server/image-decode.js');
type Pipelines = typeof import('../../lib/vision/pipeline.js');
type GpuImagesModule = typeof import('../../lib/server/gpu-images.js');

async function load(): Promise<Decoding & Pipelines & GpuImagesModule> {
  const decoding = (await import(dist('server/image-decode.js'))) as Decoding;
  const pipelines = (await import(dist('vision/pipeline.js'))) as Pipelines;
  const gpuImages = (await import(dist('server/gpu-images.js'))) as GpuImagesModule;
  return { ...decoding, ...pipelines, ...gpuImages };
}

const transforms = { resizeSize: 256, cropSize: 224, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;

/** A JPEG of `width × height` with a pattern (not flat, so the resize does real work). */
async function photo(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31 + (i >> 9)) & 255;
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** The longest gap between 2 ms interval ticks while `work` runs. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 2);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(longest, performance.now() - last);
}

describe.runIf(built)("the server's image pipeline", () => {
  it('gives exactly the pixels of the calling-thread path, for several images at once', async () => {
    const { serverImagePipeline, decodeOnPipeline, decodeAndPreprocess } = await load();
    const pipeline = serverImagePipeline()!;
    expect(pipeline.maxPixels).toBe(24_000_000);
    const images = [await photo(320, 240), await photo(300, 500)];
    // A request's elements are views of its pooled body: only their own bytes go to the threads.
    const body = Buffer.concat([Buffer.from('header'), images[0]!, images[1]!]);
    const views = [body.subarray(6, 6 + images[0]!.length), body.subarray(6 + images[0]!.length)];
    const [onWorker, here] = await Promise.all([decodeOnPipeline(pipeline, views, transforms), decodeAndPreprocess(images, transforms)]);
    expect(onWorker.ok && here.ok).toBe(true);
    if (!onWorker.ok || !here.ok) return;
    expect(onWorker.data.length).toBe(2 * 3 * 224 * 224);
    expect(Buffer.compare(onWorker.data, here.data)).toBe(0); // (a diff of 300 KB of pixels would take the reporter minutes)
    // The caller's buffers are left usable (copied to the worker, not transferred).
    expect(body.length).toBeGreaterThan(0);
    expect(views[1]!.equals(images[1]!)).toBe(true);
  });

  it('reports the first element that is not an image, and keeps serving', async () => {
    const { serverImagePipeline, decodeOnPipeline } = await load();
    const pipeline = serverImagePipeline()!;
    const good = await photo(64, 64);
    const result = await decodeOnPipeline(pipeline, [good, Buffer.from('not an image'), good, Buffer.from('nor this')], transforms);
    expect(result).toMatchObject({ ok: false, element: 1, message: expect.stringMatching(/unsupported image format/) });
    expect((await decodeOnPipeline(pipeline, [good], transforms)).ok).toBe(true);
  });

  it('answers a full queue with 503 and Retry-After, and serves again once it drains', async () => {
    const { ImagePipeline, decodeOnPipeline } = await load();
    await using pipeline = new ImagePipeline({ threads: 1, maxQueue: 1 });
    const good = await photo(64, 64);
    const first = decodeOnPipeline(pipeline, [good, good], transforms);
    const refused = await decodeOnPipeline(pipeline, [good], transforms).then(() => null, (error: unknown) => error);
    expect(refused).toMatchObject({ status: 503, reason: 'REJECTED', headers: { 'retry-after': '1' } });
    expect((refused as Error).message).toMatch(/^the image decoders are busy \(The ImagePipeline's queue is full/);
    expect((await first).ok).toBe(true);
    expect((await decodeOnPipeline(pipeline, [good], transforms)).ok).toBe(true);
  });

  it("takes the GPU decoder's CPU-routed images (and a failed call's) into their slots, naming a bad one by its index", async () => {
    const { serverImagePipeline, decodeAndPreprocess, GpuImages } = await load();
    const pipeline = serverImagePipeline()!;
    const gpuFill = 7; // what the stand-in "GPU" writes, unlike any crop of these photos
    let failCall = false;
    const decoder = {
      // Even images "on the GPU", odd ones routed to the CPU, as nvJPEG's plan routes PNGs and CMYK JPEGs.
      decode: (images: readonly Uint8Array[], outputs: readonly Uint8Array[]) => {
        if (failCall) return Promise.reject(new Error('a CUDA failure'));
        outputs.forEach((output, i) => { if (i % 2 === 0) output.fill(gpuFill); });
        return Promise.resolve({
          routes: images.map((_, i) => (i % 2 === 0 ? 'nvJPEG hardware' : 'CPU')),
          reasons: images.map((_, i) => (i % 2 === 0 ? '' : 'PNG')),
        });
      },
      dispose: () => {},
    };
    const warns: string[] = [];
    const log = { info: () => {}, warn: (_: object, message: string) => warns.push(message), error: () => {} };
    const images = new GpuImages({
      decoder, transforms, inputName: 'input', maxBatchSize: 8, allocate: (bytes) => new ArrayBuffer(bytes), log, model: 'm',
    } as ConstructorParameters<typeof GpuImages>[0]);
    const photos = [await photo(320, 240), await photo(300, 500), await photo(64, 64), await photo(500, 300)];
    const expected = await decodeAndPreprocess(photos, transforms);
    if (!expected.ok) throw new Error(expected.message);
    const sample = 3 * 224 * 224;
    const slot = (data: Uint8Array, i: number) => data.subarray(i * sample, (i + 1) * sample);

    const done = pipeline.stats.completed;
    const input = await images.decode(photos);
    const pixels = input.segments[0]!;
    for (const i of [0, 2]) expect(slot(pixels, i).every((v) => v === gpuFill)).toBe(true);
    for (const i of [1, 3]) expect(Buffer.compare(slot(pixels, i), slot(expected.data, i))).toBe(0);
    expect(pipeline.stats.completed - done).toBe(2); // the CPU-routed images went to the worker threads
    input.release?.();

    const bad = await images.decode([photos[0]!, Buffer.from('no image'), photos[2]!]).then(() => null, (error: unknown) => error);
    expect(bad).toMatchObject({ status: 400, message: expect.stringMatching(/^input 'input' element 1 is not a decodable image: .*unsupported image format/) });

    failCall = true;
    const fallback = await images.decode(photos);
    expect(Buffer.compare(fallback.segments[0]!, expected.data)).toBe(0);
    expect(warns).toEqual(['model m: decoding images on the GPU failed; decoding them on the CPU workers']);
    fallback.release?.();
    await images.dispose();
  });

  it.runIf(haveCheckpoint)('answers BYTES requests end to end as the calling-thread path does (the compiled server)', async () => {
    const { serverImagePipeline } = await load();
    const createServer = await distCreateServer();
    const model = { arch: 'resnet20' as const, weights: checkpoint, imageDecoder: 'cpu' as const };
    const servers: InferenceServer[] = [
      createServer({ models: [model], host: '127.0.0.1', port: 0, logLevel: 'silent' }), // images on the pipeline's threads
      resnet20Server(model), // from TypeScript sources: images on the calling thread
    ];
    try {
      await Promise.all(servers.map((server) => server.start({ listen: false })));
      const png = await sharp(await photo(40, 30)).png().toBuffer();
      const infer = async (server: InferenceServer, images: Buffer[]) => {
        const res = await server.app.inject({
          method: 'POST', url: '/v2/models/resnet20/infer',
          payload: JSON.stringify({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [images.length], data: images.map((b) => b.toString('base64')) }] }),
        });
        return { status: res.statusCode, body: res.json() as unknown };
      };
      const images = [await photo(320, 240), png, await photo(33, 90)];
      const done = serverImagePipeline()!.stats.completed;
      const [onThreads, here] = await Promise.all(servers.map((server) => infer(server, images)));
      expect(onThreads!.status).toBe(200);
      expect(onThreads).toEqual(here);
      expect(serverImagePipeline()!.stats.completed - done).toBe(images.length);
      const bad = await Promise.all(servers.map((server) => infer(server, [images[0]!, Buffer.from('no image')])));
      expect(bad[0]).toEqual({ status: 400, body: { error: expect.stringMatching(/^input 'input' element 1 is not a decodable image: /) } });
      expect(bad[0]).toEqual(bad[1]);
    } finally {
      await Promise.all(servers.map((server) => server.close()));
    }
  });

  it('leaves the event loop free while a 12 MP photo is prepared', async () => {
    const { serverImagePipeline, decodeOnPipeline, decodeAndPreprocess } = await load();
    const pipeline = serverImagePipeline()!;
    const big = [await photo(4000, 3000)];
    await decodeOnPipeline(pipeline, big, transforms); // threads started and warm
    const here = await longestStall(() => decodeAndPreprocess(big, transforms));
    const onWorker = await longestStall(() => decodeOnPipeline(pipeline, big, transforms));
    console.log(`server-image-workers: longest event-loop stall ${here.toFixed(0)} ms on the calling thread, ${onWorker.toFixed(0)} ms with a worker`);
    expect(onWorker).toBeLessThan(here / 2);
  });
});
