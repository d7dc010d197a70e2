/**
 * The image workers: the same floats as preparing the images on the calling thread, the client's bad
 * element reported by index, and the event loop left free while a large photo is prepared. They run
 * from the compiled `dist/` (a worker needs JavaScript), so this needs `npm run build:ts` first.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../dist/server/image-workers.js', import.meta.url));
const built = existsSync(dist);
if (!built) console.log('server-image-workers: skipped, dist/ is not built (npm run build:ts)');

type Pool = import('../../lib/server/image-workers.js').ImageWorkerPool;
type Decode = typeof import('../../lib/server/image-decode.js').decodeAndPreprocess;

async function load(): Promise<{ pool: Pool; decode: Decode }> {
  const workers = (await import(dist)) as typeof import('../../lib/server/image-workers.js');
  const decoding = (await import(fileURLToPath(new URL('../../dist/server/image-decode.js', import.meta.url)))) as typeof import('../../lib/server/image-decode.js');
  expect(workers.ImageWorkerPool.available()).toBe(true);
  return { pool: new workers.ImageWorkerPool(2), decode: decoding.decodeAndPreprocess };
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

describe.runIf(built)('ImageWorkerPool', () => {
  it('gives exactly the floats of the calling-thread path, for several images at once', async () => {
    const { pool, decode } = await load();
    const images = [await photo(320, 240), await photo(300, 500)];
    const [onWorker, here] = await Promise.all([pool.run(images, transforms), decode(images, transforms)]);
    expect(onWorker.ok && here.ok).toBe(true);
    if (!onWorker.ok || !here.ok) return;
    expect(onWorker.data.length).toBe(2 * 3 * 224 * 224);
    expect(onWorker.data).toEqual(here.data);
    // The caller's buffers are left usable (copied to the worker, not transferred).
    expect(images[0]!.length).toBeGreaterThan(0);
  });

  it('reports the first element that is not an image, and keeps serving', async () => {
    const { pool } = await load();
    const good = await photo(64, 64);
    const result = await pool.run([good, Buffer.from('not an image'), good], transforms);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.element).toBe(1);
    expect((await pool.run([good], transforms)).ok).toBe(true);
  });

  it('leaves the event loop free while a 12 MP photo is prepared', async () => {
    const { pool, decode } = await load();
    const big = [await photo(4000, 3000)];
    await pool.run(big, transforms); // workers started and warm
    const here = await longestStall(() => decode(big, transforms));
    const onWorker = await longestStall(() => pool.run(big, transforms));
    console.log(`server-image-workers: longest event-loop stall ${here.toFixed(0)} ms on the calling thread, ${onWorker.toFixed(0)} ms with a worker`);
    expect(onWorker).toBeLessThan(here / 2);
  });
});
