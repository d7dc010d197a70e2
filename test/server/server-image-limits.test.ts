/**
 * Hostile images against `resnet serve` (issue 14, defect 1): thin PNGs of a few hundred bytes that the resize would
 * blow up (2000x1 → 512000x256 pixels: seconds of work; 30000x1 → `Invalid typed array length`, a 500) get a 400
 * naming the element and saying why, on every decoding path: the calling thread (the server from TypeScript
 * sources), the image workers (the compiled server) and the GPU decoder's CPU fallback (a fake nvJPEG). On the
 * workers, a client that disconnects takes its images with it (the pipeline's counters say how many were
 * cancelled rather than decoded), and a connection with many images does not hold every worker while another
 * connection's image waits.
 *
 * The thin images are made with sharp here. The worker tests need the compiled dist/ (npm run build:ts).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { useGpuImageDecoderProvider } from '../../lib/server/image-decoder-choice.js';
import { fakeProvider } from '../helpers/fake-gpu-image-decoder.js';
import { resnet20Server } from '../helpers/server-helpers.js';
import { distCreateServer, metric, send, sendThenCut } from '../helpers/server-threads-helpers.js';

const dist = (path: string) => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));
const built = existsSync(dist('vision/pipeline-worker.js'));
if (!built) console.log('server-image-limits: the image-worker cases skipped, dist/ is not built (npm run build:ts)');

/** A PNG of one colour. */
function flatPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 150 } } }).png().toBuffer();
}

/** A JPEG of `width × height` with a pattern (not flat, so decoding and resizing do real work). */
async function photo(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) raw[(y * width + x) * 3 + c] = (x * (c + 1) + y * 2 + ((x * y) >> 7)) & 255;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
}

/** The JSON body of a BYTES request. */
function bytesBody(images: Buffer[]): string {
  return JSON.stringify({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [images.length], data: images.map((b) => b.toString('base64')) }] });
}

async function infer(server: InferenceServer, images: Buffer[]): Promise<{ status: number; body: { error?: string } }> {
  const res = await server.app.inject({ method: 'POST', url: '/v2/models/resnet20/infer', payload: bytesBody(images) });
  return { status: res.statusCode, body: res.json() };
}

let thin: Buffer;
let thinner: Buffer;
let small: Buffer;
beforeAll(async () => {
  thin = await flatPng(2000, 1);
  thinner = await flatPng(30000, 1);
  small = await photo(64, 48);
});

/** The 400 of element `element` refused for its aspect ratio. */
function thinRefusal(element: number, image: Buffer, width: number, resized: string): RegExp {
  return new RegExp(
    `^input 'input' element ${element} cannot be preprocessed within the limits: image buffer \\(${image.length} bytes\\) is ${width}x1, ` +
      `an aspect ratio of ${width}:1, past the limit of 100:1: resized so that its shorter side is \\d+ \\(${resized}\\), .*` +
      'Crop or pad it nearer to square before preprocessing it',
  );
}

describe('thin images on the calling thread (the server from TypeScript sources)', () => {
  let server: InferenceServer;
  beforeAll(async () => {
    // At 224 the unbounded resize of 30000x1 asked for 6,720,000x224x3 bytes: past what a typed array holds.
    server = resnet20Server({ inputSize: 224, maxBatchSize: 2, instanceCount: 1 });
    await server.start({ listen: false });
  }, 120_000);
  afterAll(() => server?.close());

  it('answers a 2000x1 and a 30000x1 PNG with 400 naming the element, and still serves images', async () => {
    expect(thin.length).toBeLessThan(200);
    const first = await infer(server, [thin]);
    expect(first.status).toBe(400);
    expect(first.body.error).toMatch(thinRefusal(0, thin, 2000, '448000x224'));
    const second = await infer(server, [small, thinner]);
    expect(second.status).toBe(400);
    expect(second.body.error).toMatch(thinRefusal(1, thinner, 30000, '6720000x224'));
    expect((await infer(server, [small, small])).status).toBe(200);
  });
});

describe('thin images on the GPU decoder\'s CPU fallback (a fake nvJPEG)', () => {
  let server: InferenceServer;
  beforeAll(async () => {
    useGpuImageDecoderProvider(fakeProvider());
    try {
      server = resnet20Server({ instanceCount: 1 });
      await server.start({ listen: false });
    } finally {
      useGpuImageDecoderProvider(null);
    }
  }, 120_000);
  afterAll(() => server?.close());

  it('refuses the PNGs it sends to the CPU in the same words, the element counted in the request', async () => {
    expect(server.models.get('resnet20')!.imageDecoder.decoder).toBe('nvjpeg-hardware');
    const answer = await infer(server, [small, small, thin]); // the JPEGs on the "GPU", the PNG on the CPU
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(thinRefusal(2, thin, 2000, '64000x32'));
  });

  it('sends a thin JPEG, which the GPU could take, to the CPU workers, so it is refused as on a CPU model', async () => {
    const thinJpeg = await sharp({ create: { width: 2000, height: 8, channels: 3, background: { r: 40, g: 90, b: 160 } } }).jpeg().toBuffer();
    const answer = await infer(server, [small, thinJpeg]);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(new RegExp(
      `^input 'input' element 1 cannot be preprocessed within the limits: image buffer \\(${thinJpeg.length} bytes\\) is 2000x8, ` +
        'an aspect ratio of 250:1, past the limit of 100:1'));
  });
});

describe.runIf(built)('thin images, cancelled work and fair shares on the image workers (the compiled server)', () => {
  type Decoding = typeof import('../../lib/server/image-decode.js');
  let server: InferenceServer;
  let pipeline: NonNullable<ReturnType<Decoding['serverImagePipeline']>>;
  let heavy: Buffer;
  beforeAll(async () => {
    const decoding = (await import(dist('server/image-decode.js'))) as Decoding;
    pipeline = decoding.serverImagePipeline()!;
    const createServer = await distCreateServer();
    // Twelve photos as base64 JSON are about 6 MB: past the default JSON limit, which these tests are not about.
    server = createServer({
      models: [{ arch: 'resnet20', instanceCount: 1, maxBatchSize: 16 }], host: '127.0.0.1', port: 0, logLevel: 'silent', maxJsonBodyBytes: 16 * 1024 * 1024,
    });
    await server.start();
    heavy = await photo(1000, 1000); // a few hundred milliseconds of a worker here
  }, 120_000);
  afterAll(() => server?.close());

  const request = (images: Buffer[]) => ({ method: 'POST', path: '/v2/models/resnet20/infer', headers: { 'content-type': 'application/json' }, body: bytesBody(images) });

  it('answers the thin PNGs with 400 from their headers, before decoding them', async () => {
    const done = pipeline.stats.completed;
    const answer = await send(server, request([small, thinner, thin]));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body.toString()).error).toMatch(thinRefusal(1, thinner, 30000, '960000x32'));
    expect(pipeline.stats.completed - done).toBe(3); // each image ran once, and the thin ones stopped at the header
  });

  it("cancels a disconnected client's images, waiting and running, instead of decoding them", async () => {
    const canceledBefore = await metric(server, 'nv_inference_request_failure', 'model="resnet20",version="1",reason="CANCELED"');
    const before = { ...pipeline.stats };
    const images = Array.from({ length: 8 }, () => heavy);
    const { cut, outcome } = await sendThenCut(server, request(images));
    await vi.waitFor(() => expect(pipeline.stats.pending).toBeGreaterThan(0), { timeout: 10_000, interval: 2 });
    cut();
    await outcome;
    await vi.waitFor(() => expect(pipeline.stats.pending).toBe(0), { timeout: 30_000, interval: 10 });
    const cancelled = pipeline.stats.cancelled - before.cancelled;
    const completed = pipeline.stats.completed - before.completed;
    console.log(`server-image-limits: of 8 images of a client that left, ${cancelled} cancelled, ${completed} decoded`);
    expect(cancelled + completed).toBe(8);
    expect(cancelled).toBeGreaterThanOrEqual(6); // two workers: at most the images on them when it left could finish
    await vi.waitFor(async () => {
      expect(await metric(server, 'nv_inference_request_failure', 'model="resnet20",version="1",reason="CANCELED"')).toBe(canceledBefore + 1);
    }, { timeout: 10_000, interval: 10 });
  });

  it("serves other connections' images while one connection's many images are still waiting", async () => {
    const many = send(server, request(Array.from({ length: 12 }, () => heavy)));
    await vi.waitFor(() => expect(pipeline.stats.pending).toBe(12), { timeout: 10_000, interval: 2 });
    // Three more connections, one small image each: each takes the next worker that frees, before the first
    // connection's waiting images (which all waited behind one another's, unordered, before).
    const others = await Promise.all([1, 2, 3].map(() => send(server, request([small]))));
    expect(others.map((answer) => answer.status)).toEqual([200, 200, 200]);
    const stillPending = pipeline.stats.pending;
    console.log(`server-image-limits: three other connections answered with ${stillPending} of the first's 12 images still pending`);
    expect(stillPending).toBeGreaterThanOrEqual(8); // about two of them decoded meanwhile, on a worker each
    expect((await many).status).toBe(200);
  });
});
