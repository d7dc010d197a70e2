/**
 * ImagePipeline (lib/vision/pipeline.ts) and preprocessAsync: the same bits as readImage + preprocess on the
 * calling thread, for the fixture images and the shared photos, in every output form; the queue bound, aborts,
 * hostile files and close() with work in flight; the event loop kept turning while photos are prepared; a
 * process that used the shared pipeline exits by itself.
 *
 * Worker threads need JavaScript, so everything here is imported from the compiled dist/ (one module graph, so
 * the error classes and Tensor are the pipeline's own): run `npm run build:ts` first, or the file skips and says so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../lib/tensor.js';
import { pngHeader } from '../helpers/png-header.js';
import { dataAbsent, dataPath, missingData } from '../helpers/test-data.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const distFile = (path: string) => join(root, 'dist', path);
const built = existsSync(distFile('vision/pipeline-worker.js'));
if (!built) console.log('image-pipeline: skipped, dist/ is not built (npm run build:ts)');
const fixtures = join(root, 'test', 'fixtures', 'images');
const photosDir = dataPath('images');
const photoNames = ['dog.jpg', 'grace_hopper.jpg'];
const photoFiles = photoNames.map((name) => join(photosDir, name));
// Said only when the file runs at all (without dist/ the whole file is skipped, and says so above).
const havePhotos = (built ? dataAbsent('the photo comparisons of the image pipeline', ...photoFiles) : missingData(...photoFiles)) === null;

type Pipeline = typeof import('../../lib/vision/pipeline.js');
type Transforms = typeof import('../../lib/vision/transforms.js');
type Image = typeof import('../../lib/vision/image.js');
type Errors = typeof import('../../lib/errors.js');
type Tensors = typeof import('../../lib/tensor.js');
let lib: Pipeline & Transforms & Image & Errors & Tensors;

beforeAll(async () => {
  if (!built) return;
  lib = {
    ...(await import(distFile('vision/pipeline.js')) as Pipeline),
    ...(await import(distFile('vision/transforms.js')) as Transforms),
    ...(await import(distFile('vision/image.js')) as Image),
    ...(await import(distFile('errors.js')) as Errors),
    ...(await import(distFile('tensor.js')) as Tensors),
  };
});

const fixtureFiles = ['exif6.jpg', 'grey.png', 'rgba.png', 'lossless.webp'].map((name) => join(fixtures, name));

/** torchvision's presets and the other interpolations (the bicubic and nearest resamplers differ from bilinear). */
const presets = [
  { name: 'IMAGENET1K_V1', options: { resizeSize: 256, cropSize: 224 } },
  { name: 'IMAGENET1K_V2', options: { resizeSize: 232, cropSize: 224 } },
  { name: 'bicubic', options: { resizeSize: 256, cropSize: 224, interpolation: 'bicubic' as const } },
  { name: 'nearest, crop larger than the image', options: { resizeSize: 40, cropSize: 64, interpolation: 'nearest' as const } },
];

/** Byte-for-byte equality of two typed arrays (float32 compared by bits: -0 and NaN payloads included). */
function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Settles to the error a promise rejects with (or fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; element?: number }> {
  return promise.then(() => { throw new Error('expected a rejection'); }, (error: unknown) => error as Error);
}

describe.runIf(built)('ImagePipeline: the same bits as the calling thread', () => {
  it.each(presets)('preprocessAsync equals preprocess(readImage(…)) on the fixtures, by path and by bytes ($name)', async ({ options }) => {
    const files = fixtureFiles;
    const expected = lib.preprocess(await Promise.all(files.map((file) => lib.readImage(file))), options);
    const byPath = await lib.preprocessAsync(files, options);
    const byBytes = await lib.preprocessAsync(files.map((file) => readFileSync(file)), options);
    for (const got of [byPath, byBytes]) {
      expect(got.shape).toEqual(expected.shape);
      expect(got.dtype).toBe('float32');
      expect(sameBits(got.data, expected.data)).toBe(true);
    }
  });

  it.runIf(havePhotos).each(presets)('equals it on the photos, one call each and as a batch ($name)', async ({ options }) => {
    const images = await Promise.all(photoFiles.map((file) => lib.readImage(file)));
    const expected = lib.preprocess(images, options);
    const batch = await lib.preprocessAsync(photoFiles, options);
    expect(sameBits(batch.data, expected.data)).toBe(true);
    for (const [n, file] of photoFiles.entries()) {
      const one = await lib.preprocessAsync(readFileSync(file), options);
      expect(one.shape).toEqual([1, ...expected.shape.slice(1)]);
      expect(sameBits(one.data, lib.preprocess(images[n]!, options).data)).toBe(true);
    }
  });

  it('takes decoded tensors, leaving them usable, and decode() equals readImage', async () => {
    const files = havePhotos ? [...fixtureFiles, ...photoFiles] : fixtureFiles;
    await using pipeline = new lib.ImagePipeline({ threads: 2 });
    for (const file of files) {
      const expected = await lib.readImage(file);
      const decoded = await pipeline.decode(readFileSync(file));
      expect(decoded.shape).toEqual(expected.shape);
      expect(sameBits(decoded.data, expected.data)).toBe(true);
      const fromTensor = await pipeline.preprocess(expected, presets[1]!.options);
      expect(sameBits(fromTensor.data, lib.preprocess(expected, presets[1]!.options).data)).toBe(true);
      expect(expected.data.byteLength).toBe(expected.shape.reduce((a, b) => a * b, 1)); // not transferred away
    }
  });

  it('gives the uint8 crops as they are (NCHW) and interleaved (NHWC, marked nhwc)', async () => {
    await using pipeline = new lib.ImagePipeline({ threads: 2 });
    const images = await Promise.all(fixtureFiles.map((file) => lib.readImage(file)));
    const crops = images.map((image) => lib.centerCrop(lib.resize(image, 232), 224).data);
    const nchw = await pipeline.preprocess(fixtureFiles, { resizeSize: 232, dtype: 'uint8' });
    expect(nchw.dtype).toBe('uint8');
    expect(nchw.shape).toEqual([images.length, 3, 224, 224]);
    expect(nchw.layout).toBe('nchw');
    const sample = 3 * 224 * 224;
    crops.forEach((crop, n) => expect(sameBits(nchw.data.subarray(n * sample, (n + 1) * sample), crop)).toBe(true));
    const nhwc = await pipeline.preprocess(fixtureFiles, { resizeSize: 232, dtype: 'uint8', layout: 'nhwc' });
    expect(nhwc.shape).toEqual([images.length, 224, 224, 3]);
    expect(nhwc.layout).toBe('nhwc');
    const area = 224 * 224;
    crops.forEach((crop, n) => {
      for (const i of [0, 1, 12_345, area - 1]) {
        for (let c = 0; c < 3; c++) expect(nhwc.data[n * sample + 3 * i + c]).toBe(crop[c * area + i]);
      }
    });
    // Float32 NHWC is the same permutation of preprocess's floats.
    const floats = lib.preprocess(images[0]!, { resizeSize: 232 });
    const floatsNhwc = await pipeline.preprocess(fixtureFiles[0]!, { resizeSize: 232, layout: 'nhwc' });
    for (const i of [0, 777, area - 1]) {
      for (let c = 0; c < 3; c++) expect(Object.is(floatsNhwc.data[3 * i + c], floats.data[c * area + i])).toBe(true);
    }
  });
});

describe.runIf(built)('ImagePipeline: bounds, aborts, hostile files, close', () => {
  const small = () => readFileSync(fixtureFiles[0]!);

  it('refuses a call that does not fit the queue whole, with ERR_QUEUE_FULL saying how to raise it', async () => {
    await using pipeline = new lib.ImagePipeline({ threads: 1, maxQueue: 2 });
    const tooMany = await rejection(pipeline.preprocess([small(), small(), small(), small()]));
    expect(tooMany).toBeInstanceOf(lib.QueueFullError);
    expect(tooMany.code).toBe('ERR_QUEUE_FULL');
    expect(tooMany.message).toMatch(/4 images asked for, room for 3 .*raise maxQueue \(new ImagePipeline\(\{ maxQueue \}\)\)/);
    expect(pipeline.stats.pending).toBe(0); // nothing of it was admitted
    // 1 running + 2 waiting fill it; the next is refused until they are done.
    const admitted = [pipeline.preprocess(small()), pipeline.preprocess(small()), pipeline.preprocess(small())];
    expect(pipeline.stats.pending).toBe(3);
    expect((await rejection(pipeline.preprocess(small()))).code).toBe('ERR_QUEUE_FULL');
    const results = await Promise.all(admitted);
    const expected = lib.preprocess(await lib.readImage(fixtureFiles[0]!));
    for (const result of results) expect(sameBits(result.data, expected.data)).toBe(true);
    expect(pipeline.stats.pending).toBe(0);
    expect((await pipeline.preprocess([small(), small(), small()])).shape[0]).toBe(3);
  });

  it('rejects with the signal\'s reason: aborted before the call, while queued, and while running', async () => {
    await using pipeline = new lib.ImagePipeline({ threads: 1 });
    await pipeline.preprocess(small()); // a thread is ready
    const done = pipeline.stats.completed;

    const before = new AbortController();
    before.abort(new Error('cancelled by the caller'));
    expect((await rejection(pipeline.preprocess(small(), { signal: before.signal }))).message).toBe('cancelled by the caller');
    expect(pipeline.stats.pending).toBe(0);

    const running = pipeline.preprocess(fixtureFiles); // takes the only thread, the rest waits
    const queued = new AbortController();
    const waiting = pipeline.preprocess(small(), { signal: queued.signal });
    expect(pipeline.stats.pending).toBe(fixtureFiles.length + 1);
    queued.abort();
    expect((await rejection(waiting)).name).toBe('AbortError');
    expect(pipeline.stats.pending).toBe(fixtureFiles.length);
    expect(pipeline.stats.cancelled).toBe(1);
    const expected = lib.preprocess(await Promise.all(fixtureFiles.map((file) => lib.readImage(file))));
    expect(sameBits((await running).data, expected.data)).toBe(true);
    expect(pipeline.stats.completed).toBe(done + fixtureFiles.length); // the aborted image never ran

    const stop = new AbortController();
    const stopped = pipeline.preprocess(small(), { signal: stop.signal });
    setImmediate(() => stop.abort(new Error('stop')));
    expect((await rejection(stopped)).message).toBe('stop');
    expect(pipeline.stats.cancelled).toBe(2);
    // The thread it ran on was replaced; the pipeline goes on.
    expect(sameBits((await pipeline.preprocess(small())).data, expected.data.subarray(0, 3 * 224 * 224))).toBe(true);
  });

  it('refuses hostile files with InvalidFileError from the worker (the element named), and keeps working', async () => {
    await using pipeline = new lib.ImagePipeline({ threads: 2 });
    const truncated = readFileSync(join(fixtures, 'exif6.jpg')).subarray(0, 4000);
    const bomb = pngHeader(100_000, 100_000);
    const cases: [Uint8Array, RegExp][] = [
      [truncated, /Cannot decode image buffer \(4000 bytes\)/],
      [bomb, /100000x100000 is 10000000000 pixels, more than the limit of 89478485 .*raise maxPixels/],
      [Buffer.from('this is not an image'), /unsupported image format/],
    ];
    for (const [bytes, message] of cases) {
      const error = await rejection(pipeline.preprocess([small(), bytes, small()]));
      expect(error).toBeInstanceOf(lib.InvalidFileError);
      expect(error.code).toBe('ERR_INVALID_FILE');
      expect(error.element).toBe(1);
      expect(error.message).toMatch(message);
      expect(error.stack).toContain('image-pipeline.test.ts'); // the caller's frames, not the worker's
    }
    // The pipeline's own limit, and one call's lower one.
    const limited = new lib.ImagePipeline({ threads: 1, maxPixels: 1000 });
    expect((await rejection(limited.decode(small()))).message).toMatch(/more than the limit of 1000/);
    await limited.close();
    expect((await rejection(pipeline.decode(small(), { maxPixels: 100 }))).message).toMatch(/more than the limit of 100 /);
    expect((await rejection(pipeline.decode(join(fixtures, 'no-such.png')))).message).toMatch(/Cannot read image file .*ENOENT/);
    const after = await pipeline.preprocess(small());
    expect(sameBits(after.data, lib.preprocess(await lib.readImage(fixtureFiles[0]!)).data)).toBe(true);
  });

  it('checks its options and inputs as preprocess does', async () => {
    expect(() => new lib.ImagePipeline({ threads: 0 })).toThrow(lib.InvalidArgumentError);
    expect(() => new lib.ImagePipeline({ maxQueue: -1 })).toThrow('Expected a non-negative integer for maxQueue but received -1');
    expect(() => new lib.ImagePipeline({ vipsThreads: 1.5 })).toThrow(lib.InvalidArgumentError);
    await using pipeline = new lib.ImagePipeline({ threads: 1 });
    const image = await lib.readImage(fixtureFiles[0]!);
    await expect(pipeline.preprocess([])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(pipeline.preprocess(image, { resizeSize: 0 })).rejects.toThrow('Expected a positive integer for resizeSize but received 0');
    await expect(pipeline.preprocess(image, { std: [1, 0, 1] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(pipeline.preprocess(image, { dtype: 'int8' as 'uint8' })).rejects.toThrow("Expected 'float32' or 'uint8' for dtype");
    await expect(pipeline.preprocess(image, { layout: 'chw' as 'nchw' })).rejects.toThrow("Expected 'nchw' or 'nhwc' for layout");
    await expect(pipeline.preprocess([image, 42 as unknown as string])).rejects.toThrow(/for images\[1\] but received 42/);
    await expect(pipeline.preprocess(lib.Tensor.zeros([1, 8, 8], 'uint8'))).rejects.toMatchObject({ code: 'ERR_INVALID_SHAPE' });
    await expect(pipeline.preprocess(image, { signal: {} as AbortSignal })).rejects.toThrow('Expected an AbortSignal for signal');
    expect(pipeline.stats.completed).toBe(0);
  });

  it('close() finishes the work accepted; cancelQueued rejects what waits and keeps what runs', async () => {
    const expected = lib.preprocess(await lib.readImage(fixtureFiles[0]!));
    for (const cancelQueued of [false, true]) {
      const pipeline = new lib.ImagePipeline({ threads: 1 });
      await pipeline.preprocess(small()); // a thread is ready, so the next image runs at once
      const running = pipeline.preprocess(small());
      const waiting = pipeline.preprocess(small()).then((t) => t, (error: unknown) => error as Error);
      const closed = pipeline.close({ cancelQueued });
      expect(pipeline.close()).toBe(closed); // idempotent
      expect((await rejection(pipeline.preprocess(small()))).code).toBe('ERR_DISPOSED');
      await closed;
      expect(sameBits((await running).data, expected.data)).toBe(true);
      const last = await waiting;
      if (cancelQueued) {
        expect(last).toBeInstanceOf(lib.DisposedError);
        expect((last as Error).message).toMatch(/still queued when the ImagePipeline was closed with cancelQueued/);
      } else {
        expect(sameBits((last as Tensor<'float32'>).data, expected.data)).toBe(true);
      }
      expect(pipeline.stats).toMatchObject({ threads: 0, pending: 0 });
    }
  });
});

describe.runIf(built)('ImagePipeline: off the event loop', () => {
  it('keeps the event loop turning while 8 photos are prepared, where preprocess holds it', async () => {
    const files = havePhotos ? [...photoFiles, ...photoFiles, ...photoFiles, ...photoFiles] : [...fixtureFiles, ...fixtureFiles];
    const images = await Promise.all(files.map((file) => lib.readImage(file)));
    await using pipeline = new lib.ImagePipeline({ threads: 2 });
    await pipeline.preprocess(images.slice(0, 2)); // threads started

    /** setImmediate ticks of this thread while `work` runs. */
    async function ticksDuring(work: () => Promise<unknown>): Promise<number> {
      let ticks = 0;
      let running = true;
      const tick = (): void => {
        ticks++;
        if (running) setImmediate(tick);
      };
      setImmediate(tick);
      await work();
      running = false;
      return ticks;
    }
    const here = await ticksDuring(async () => lib.preprocess(images));
    const ticks = await ticksDuring(() => pipeline.preprocess(images));
    console.log(`image-pipeline: ${ticks} event-loop ticks while ${images.length} images were prepared on the pipeline, ${here} on the calling thread`);
    expect(here).toBe(0);
    // Each image holds a thread for tens of milliseconds of resizing; a tick is microseconds. A pipeline that ran the
    // work here between ticks would get about one tick per image.
    expect(ticks).toBeGreaterThan(100 * images.length);
    expect(pipeline.stats.threads).toBe(2);
  });

  it('lets a process that used preprocessAsync (and never closed it) exit by itself', () => {
    const script = `
      import { preprocessAsync } from ${JSON.stringify(distFile('vision/pipeline.js'))};
      const x = await preprocessAsync(${JSON.stringify(fixtureFiles[1])});
      console.log(JSON.stringify(x.shape));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(child.signal).toBeNull(); // not killed by the timeout: it exited on its own
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toBe('[1,3,224,224]');
  });

  it('says what to do when its worker script is missing (running from TypeScript sources)', async () => {
    const fromSources = await import('../../lib/vision/pipeline.js');
    expect(fromSources.ImagePipeline.available()).toBe(false);
    expect(() => new fromSources.ImagePipeline()).toThrow(/worker script .*pipeline-worker\.js.*run from the compiled package/);
  });
});
