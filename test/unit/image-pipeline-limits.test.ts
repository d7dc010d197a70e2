/**
 * The ImagePipeline's limits (lib/vision/pipeline.ts): the work budget checked before the work (an encoded thin
 * image refused from its header, a thin tensor before the call is admitted, the pipeline's `maxPixels` bounding the
 * resize too), its threads shared fairly between clients (the order calls finish in, on one thread, where the
 * unfair queue served them first come first served), and what an abort cancelled, counted.
 *
 * Worker threads need JavaScript, so everything is imported from the compiled dist/: run `npm run build:ts` first, or
 * the file skips and says so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { pngHeader } from '../helpers/png-header.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const distFile = (path: string) => join(root, 'dist', path);
const built = existsSync(distFile('vision/pipeline-worker.js'));
if (!built) console.log('image-pipeline-limits: skipped, dist/ is not built (npm run build:ts)');
const small = readFileSync(join(root, 'test', 'fixtures', 'images', 'exif6.jpg'));

type Pipeline = typeof import('../../lib/vision/pipeline.js');
type Errors = typeof import('../../lib/errors.js');
type Tensors = typeof import('../../lib/tensor.js');
let lib: Pipeline & Errors & Tensors;

beforeAll(async () => {
  if (!built) return;
  lib = {
    ...(await import(distFile('vision/pipeline.js')) as Pipeline),
    ...(await import(distFile('errors.js')) as Errors),
    ...(await import(distFile('tensor.js')) as Tensors),
  };
});

/** Settles to the error a promise rejects with (or fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; element?: number }> {
  return promise.then(() => { throw new Error('expected a rejection'); }, (error: unknown) => error as Error);
}

describe.runIf(built)('ImagePipeline: the work budget', () => {
  it('refuses a thin encoded image from its header, before decoding it, naming the element', async () => {
    await using pipeline = new lib.ImagePipeline({ threads: 1 });
    const thin = await sharp({ create: { width: 2000, height: 1, channels: 3, background: '#808080' } }).png().toBuffer();
    const error = await rejection(pipeline.preprocess([small, thin]));
    expect(error).toBeInstanceOf(lib.ImageBudgetError);
    expect(error.code).toBe('ERR_IMAGE_BUDGET');
    expect(error.element).toBe(1);
    expect(error.message).toMatch(new RegExp(`^image buffer \\(${thin.length} bytes\\) is 2000x1, an aspect ratio of 2000:1, past the limit of 100:1`));
    expect(error.stack).toContain('image-pipeline-limits.test.ts'); // the caller's frames
    // A header alone, with no pixel data to decode: refused by the budget, not by the decoder.
    const header = await rejection(pipeline.preprocess(pngHeader(30_000, 1)));
    expect(header).toBeInstanceOf(lib.ImageBudgetError);
    expect(header.message).toMatch(/is 30000x1, an aspect ratio of 30000:1/);
    // decode() alone has no resize, and so no budget beyond the decoder's own limit.
    expect((await pipeline.decode(thin)).shape).toEqual([3, 1, 2000]);
  });

  it('refuses a thin tensor before the call is admitted, and bounds the resize with its own maxPixels', async () => {
    await using pipeline = new lib.ImagePipeline({ threads: 1, maxPixels: 24_000_000 });
    const thin = lib.Tensor.zeros([3, 1, 30_000], 'uint8');
    const error = await rejection(pipeline.preprocess([lib.Tensor.zeros([3, 8, 8], 'uint8'), thin]));
    expect(error).toBeInstanceOf(lib.ImageBudgetError);
    expect(error.element).toBe(1);
    expect(error.message).toMatch(/^images\[1\] is 30000x1, an aspect ratio of 30000:1/);
    expect(pipeline.stats).toMatchObject({ pending: 0, completed: 0 });
    await expect(pipeline.preprocess(small, { resizeSize: 100_000 })).rejects.toThrow(
      'Expected resizeSize at most 4898 but received 100000: it makes every image at least 100000x100000 = 10000000000 pixels, more than the limit of 24000000',
    );
    // 90x1 at 256 is 23040x256 = 5,898,240 pixels: within 24 MP, past a call's 5 MP.
    const wide = lib.Tensor.zeros([3, 1, 90], 'uint8');
    await expect(pipeline.preprocess(wide, { maxPixels: 5_000_000 })).rejects.toThrow(/23040x256 = 5898240 pixels, more than the limit of 5000000/);
    expect((await pipeline.preprocess(wide, { cropSize: 8 })).shape).toEqual([1, 3, 8, 8]);
  });
});

describe.runIf(built)('ImagePipeline: fair shares and cancelled work', () => {
  /** The order in which `calls` settle. */
  async function finishOrder(calls: Record<string, Promise<unknown>>): Promise<string[]> {
    const order: string[] = [];
    await Promise.all(Object.entries(calls).map(([name, call]) => call.then(() => order.push(name))));
    return order;
  }

  it("serves a client's one image after one of another client's many, not after all of them", async () => {
    await using pipeline = new lib.ImagePipeline({ threads: 1 });
    await pipeline.preprocess(small); // the thread is up
    // On one thread: the hog's first image runs, the other client's image is next, then the hog's other seven.
    const base = pipeline.stats.completed;
    const hog = pipeline.preprocess(Array.from({ length: 8 }, () => small), { client: 'hog' });
    await pipeline.preprocess(small, { client: 'other' });
    expect(pipeline.stats.completed - base).toBe(2);
    await hog;
    const many = [small, small, small, small];
    // Named clients: the hog's second call queues behind its first, the other client's image goes next.
    expect(await finishOrder({
      hog: pipeline.preprocess(many, { client: 'hog' }),
      hogAgain: pipeline.preprocess(small, { client: 'hog' }),
      other: pipeline.preprocess(small, { client: 'other' }),
    })).toEqual(['other', 'hog', 'hogAgain']);
    // Without a client each call is one of its own.
    expect(await finishOrder({ batch: pipeline.preprocess(many), single: pipeline.preprocess(small) })).toEqual(['single', 'batch']);
    expect(pipeline.stats).toMatchObject({ pending: 0, clients: 0 });
  });

  it('counts the images an abort dropped from the queue and the one it abandoned running, which keeps its thread until done', async () => {
    await using pipeline = new lib.ImagePipeline({ threads: 1 });
    await pipeline.preprocess(small);
    const done = pipeline.stats.completed;
    const controller = new AbortController();
    const call = pipeline.preprocess([small, small, small, small], { signal: controller.signal, client: 'gone' });
    expect(pipeline.stats).toMatchObject({ pending: 4, clients: 1 });
    controller.abort();
    expect((await rejection(call)).name).toBe('AbortError');
    // 3 dropped while waiting, 1 abandoned on its thread: none of them completed. The abandoned image still holds
    // the thread (its client is still counted) until its decode ends: terminating the thread would leak libvips' memory.
    expect(pipeline.stats).toMatchObject({ pending: 0, cancelled: 4, completed: done, clients: 1, threads: 1 });
    expect((await pipeline.preprocess(small)).shape).toEqual([1, 3, 224, 224]);
    // The next image ran after it on the same thread; the abandoned one's result was dropped, not counted as completed.
    expect(pipeline.stats).toMatchObject({ pending: 0, cancelled: 4, completed: done + 1, clients: 0, threads: 1 });
  });
});
