// Which decoder takes each image of a batch (native/src/cuda/image_batch_plan.h, image_header.h) through
// `testing.imageDecode`: PNG and WebP sizes against sharp's metadata; each image's route and reason (hardware
// engines, nvJPEG's GPU backend, CPU workers, refused) for real and hand-edited files; the pixel limit applied to
// every format before any decode; the decode buffer's layout; nvJPEG's verdicts applied on top.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { adobe, decode, exif, find, fixtures, H, makeFiles, W, withFrameMarker, withSampling, withSegments, type Capabilities } from '../helpers/jpeg-files.js';

let made: Awaited<ReturnType<typeof makeFiles>>;
beforeAll(async () => {
  made = await makeFiles();
});

describe('PNG and WebP sizes from their headers', () => {
  it('match sharp\'s metadata (PNG IHDR; WebP VP8, VP8L and VP8X)', async () => {
    const files: [string, Buffer][] = [
      ['grey.png', readFileSync(path.join(fixtures, 'grey.png'))], ['rgba.png', readFileSync(path.join(fixtures, 'rgba.png'))],
      ['lossless.webp', readFileSync(path.join(fixtures, 'lossless.webp'))], ['made png', made.png], ['lossy webp', made.webpLossy], ['webp with alpha', made.webpAlpha],
    ];
    for (const [name, bytes] of files) {
      const meta = await sharp(bytes).metadata();
      expect(decode.sniff(bytes), name).toEqual({ format: meta.format === 'png' ? 'PNG' : 'WebP', width: meta.width, height: meta.height, error: '' });
    }
    expect(decode.sniff(made.webpAlpha).format).toBe('WebP');
    expect(Buffer.from(made.webpAlpha.subarray(12, 16)).toString('latin1')).toBe('VP8X');
  });

  it('a cut-off header leaves the size unknown and says why', () => {
    expect(decode.sniff(made.png.subarray(0, 20))).toMatchObject({ format: 'PNG', width: 0, error: expect.stringContaining('IHDR') });
    expect(decode.sniff(made.webpLossy.subarray(0, 24))).toMatchObject({ format: 'WebP', width: 0, error: expect.stringContaining('VP8') });
    expect(decode.sniff(Buffer.from('GIF89a'))).toMatchObject({ format: 'unknown', width: 0, error: '' });
  });
});

// ---- plans ------------------------------------------------------------------------------------------------------

describe('batch plans', () => {
  const h100: Capabilities = { hardwareEngines: 7, gpuBackend: true, maxPixels: 24_000_000 };

  it('routes each image as nvJPEG and the hardware engines can take it, with the reason', () => {
    const truncated = made.baseline420.subarray(0, made.baseline420.length - 30);
    const inputs: [string, Buffer, string, string | RegExp][] = [
      ['baseline 4:2:0', made.baseline420, 'nvJPEG hardware', ''],
      ['baseline 4:4:4', made.baseline444, 'nvJPEG hardware', ''],
      ['baseline grey', made.grey, 'nvJPEG hardware', ''],
      ['baseline 4:2:2', withSampling(made.baseline444, [[2, 1], [1, 1], [1, 1]]), 'nvJPEG hardware', ''],
      ['baseline 4:4:0', withSampling(made.baseline444, [[1, 2], [1, 1], [1, 1]]), 'nvJPEG hardware', ''],
      ['progressive', made.progressive, 'nvJPEG GPU', 'progressive JPEG: the hardware engines decode baseline JPEGs only'],
      ['progressive grey', made.greyProgressive, 'nvJPEG GPU', 'progressive JPEG: the hardware engines decode baseline JPEGs only'],
      ['extended sequential', withFrameMarker(made.baseline444, 0xc1), 'nvJPEG GPU', 'extended sequential JPEG: the hardware engines decode baseline JPEGs only'],
      ['baseline 4:1:1', withSampling(made.baseline444, [[4, 1], [1, 1], [1, 1]]), 'nvJPEG GPU', '4:1:1 subsampling: the hardware engines do not decode it'],
      ['CMYK', made.cmyk, 'CPU', 'CMYK JPEG (4 components): its colour conversion needs the CPU decoder'],
      ['RGB-coded', withSegments(made.baseline444, [adobe(0)], true), 'CPU', /^RGB-coded JPEG/],
      ['lossless', withFrameMarker(made.baseline444, 0xc3), 'CPU', 'lossless JPEG (SOF marker 0xFFC3): nvJPEG decodes Huffman-coded DCT JPEGs only'],
      ['arithmetic', withFrameMarker(made.baseline444, 0xc9), 'CPU', /^arithmetic-coded JPEG/],
      ['12-bit', (() => { const b = Buffer.from(made.baseline444); b[find(b, 0xc0) + 4] = 12; return b; })(), 'CPU', '12-bit samples: nvJPEG decodes 8-bit JPEGs only'],
      ['odd sampling', withSampling(made.baseline444, [[3, 1], [1, 1], [1, 1]]), 'CPU', 'chroma sampling factors 3x1, 1x1, 1x1 (Y, Cb, Cr) are not a subsampling nvJPEG decodes'],
      ['EXIF-rotated', readFileSync(path.join(fixtures, 'exif6.jpg')), 'CPU', /^EXIF orientation 6: the CPU decoder rotates/],
      ['EXIF orientation 1', withSegments(made.baseline420, [exif(1, false)]), 'nvJPEG hardware', ''],
      ['truncated', truncated, 'CPU', 'the JPEG ends before its EOI marker (truncated)'],
      ['garbage after SOI', Buffer.from([0xff, 0xd8, 0xff, 0x00, 1, 2]), 'CPU', /^unreadable JPEG header: a stuffed/],
      ['PNG', made.png, 'CPU', 'PNG: nvJPEG decodes JPEG only'],
      ['WebP', made.webpLossy, 'CPU', 'WebP: nvJPEG decodes JPEG only'],
      ['GIF', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), 'CPU', 'not a JPEG: the CPU decoder reads other formats'],
      ['empty', Buffer.alloc(0), 'CPU', 'empty input'],
    ];
    const plan = decode.planBatch(inputs.map(([, bytes]) => bytes), h100);
    inputs.forEach(([name, , route, reason], i) => {
      expect(plan.images[i]!.route, name).toBe(route);
      if (reason instanceof RegExp) expect(plan.images[i]!.reason, name).toMatch(reason);
      else expect(plan.images[i]!.reason, name).toBe(reason);
    });
    expect(plan.images[0]).toMatchObject({ format: 'JPEG', width: W, height: H, pixels: W * H, decodedPitch: 3 * W });
  });

  it("lays out the decode buffer: nvJPEG's images only, in input order, 256-byte aligned, RGB rows", () => {
    const inputs = [made.baseline420, made.png, made.progressive, made.grey];
    const plan = decode.planBatch(inputs, h100);
    const decoded = plan.images.filter((p) => p.route.startsWith('nvJPEG'));
    expect(decoded).toHaveLength(3);
    let end = 0;
    for (const image of decoded) {
      expect(image.decodedOffset % 256).toBe(0);
      expect(image.decodedOffset).toBeGreaterThanOrEqual(end);
      expect(image.decodedPitch).toBe(3 * image.width);
      end = image.decodedOffset + image.decodedPitch * image.height;
    }
    expect(plan.decodedBytes).toBe(end);
    expect(plan.images[1]).toMatchObject({ route: 'CPU', decodedOffset: 0, decodedPitch: 0 });
  });

  it('without hardware engines the GPU backend takes every JPEG nvJPEG decodes; without nvJPEG the CPU takes all', () => {
    const inputs = [made.baseline420, made.progressive, made.png];
    expect(decode.planBatch(inputs, { gpuBackend: true }).images.map((p) => [p.route, p.reason])).toEqual([
      ['nvJPEG GPU', 'this GPU has no hardware JPEG engines'],
      ['nvJPEG GPU', 'this GPU has no hardware JPEG engines'],
      ['CPU', 'PNG: nvJPEG decodes JPEG only'],
    ]);
    const none = decode.planBatch(inputs, {});
    expect(none.images.map((p) => p.route)).toEqual(['CPU', 'CPU', 'CPU']);
    expect(none.images[0]!.reason).toBe('nvJPEG is not available (no GPU, or nvJPEG not loaded)');
    expect(none.decodedBytes).toBe(0);
  });

  it('refuses images above the pixel limit before any decode, whatever their format', () => {
    const limit = W * H - 1;
    const plan = decode.planBatch([made.baseline420, made.png, made.webpLossy, made.cmyk, Buffer.from('GIF89a', 'latin1')], { ...h100, maxPixels: limit });
    for (const [i, format] of ['JPEG', 'PNG', 'WebP', 'JPEG'].entries()) {
      expect(plan.images[i]).toMatchObject({ route: 'refused', reason: `${format} of ${W}x${H} is ${W * H} pixels, more than the limit of ${limit}` });
    }
    expect(plan.images[4]!.route).toBe('CPU'); // size unknown: the CPU decoder checks it from its own header read
    expect(decode.planBatch([made.baseline420], { ...h100, maxPixels: W * H }).images[0]!.route).toBe('nvJPEG hardware');
  });

  it('sends a JPEG past the aspect-ratio bound to the CPU workers, whose budget refuses it as on every other route', async () => {
    const thin = await sharp({ create: { width: 2000, height: 8, channels: 3, background: { r: 9, g: 99, b: 199 } } }).jpeg().toBuffer();
    const square = await sharp({ create: { width: 800, height: 8, channels: 3, background: { r: 9, g: 99, b: 199 } } }).jpeg().toBuffer();
    // 2000:8 is 250:1, past the default of 100 (lib/vision/budget.ts); 800:8 is exactly 100:1, within it.
    expect(decode.planBatch([thin], h100).images[0]).toMatchObject({ route: 'CPU', reason: "an aspect ratio past 100:1: the CPU workers' budget refuses it" });
    expect(decode.planBatch([square], h100).images[0]!.route).toBe('nvJPEG hardware');
    expect(decode.planBatch([thin], { ...h100, maxAspectRatio: 300 }).images[0]!.route).toBe('nvJPEG hardware');
    expect(decode.planBatch([thin], { ...h100, maxAspectRatio: 0 }).images[0]!.route).toBe('nvJPEG hardware');
  });

  it("applies nvJPEG's verdicts: unreadable or differently sized → CPU, refused by the hardware → GPU backend", () => {
    const inputs = [made.baseline420, made.baseline444, made.progressive, made.grey, made.png];
    const ok = { infoOk: true, components: 3, width: W, height: H };
    const verdicts = [
      { ...ok, hardwareChecked: true, hardwareSupported: false },
      { infoOk: false, detail: 'nvjpegGetImageInfo failed: NVJPEG_STATUS_BAD_JPEG (3)' },
      { ...ok, width: W + 1 },
      { ...ok, components: 1, hardwareChecked: true, hardwareSupported: true },
      null,
    ];
    const plan = decode.planBatch(inputs, h100, verdicts);
    expect(plan.images.map((p) => [p.route, p.reason])).toEqual([
      ['nvJPEG GPU', 'the hardware decoder refuses it (nvjpegDecodeBatchedSupported)'],
      ['CPU', 'nvJPEG cannot read it: nvjpegGetImageInfo failed: NVJPEG_STATUS_BAD_JPEG (3)'],
      ['CPU', `nvJPEG reads ${W + 1}x${H} with 3 components where the header says ${W}x${H} with 3`],
      ['nvJPEG hardware', ''],
      ['CPU', 'PNG: nvJPEG decodes JPEG only'],
    ]);
    expect(plan.images[2]!.decodedPitch).toBe(0);
    expect(decode.planBatch(inputs.slice(0, 1), { hardwareEngines: 7 }, verdicts.slice(0, 1)).images[0]).toMatchObject({ route: 'CPU', reason: 'the hardware decoder refuses it and there is no GPU backend' });
  });
});
