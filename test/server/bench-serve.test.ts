// The pure parts of bench:serve's load generator (bench/serve/*.mjs), each against values worked out
// here or an independent reference: flag parsing and bounds, the split of a concurrency level over client
// processes, the latency histogram against exact nearest-rank percentiles of the same samples, merging
// tallies, CPU use from /proc against process.cpuUsage(), the request bodies byte by byte, the check of an
// answer, the JPEG corpus (decoded back with sharp), the shared-memory region files, and the report.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultClients, parseOptions, UsageError } from '../../bench/serve/options.mjs';
import { splitConcurrency } from '../../bench/serve/concurrency.mjs';
import { bucketOf, bucketRange, LatencyHistogram } from '../../bench/serve/histogram.mjs';
import { coresBetween, coresFromCpuUsage, clockTicksPerSecond, parseProcStat, sampleProcess } from '../../bench/serve/cpu-use.mjs';
import { countFailure, describeFailures, mergeTallies, newTally, tallyFromJSON, tallyToJSON, unaccounted } from '../../bench/serve/tally.mjs';
import {
  bytesTensor, checkAnswer, fp32Request, jpegRequests, modelGeometry, serverMessage, shmLayout, shmRequest, uint8Request,
} from '../../bench/serve/requests.mjs';
import { findPhotos, imagenetSize, makeJpegCorpus, planJpegVariants } from '../../bench/serve/jpeg-corpus.mjs';
import { createRegion, poisonRegion, readRegion, regionOf, sweepRegions, unlinkRegion } from '../../bench/serve/shm.mjs';
import { renderReport } from '../../bench/serve/report.mjs';
import { rng } from '../helpers/helpers.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

const photosDir = dataPath('images');
const havePhotos = dataAbsent('the JPEG corpus encoding (photos to cut it from)', photosDir) === null;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'bench-serve-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('flags', () => {
  it('has perf_analyzer-like defaults and collects the server flags', () => {
    const o = parseOptions(['--model', 'resnet50=IMAGENET1K_V2', '--max-batch-size', '16', '--device', 'cuda'], { cpus: 16 });
    expect(o).toMatchObject({
      spec: 'resnet50=IMAGENET1K_V2', arch: 'resnet50', inputs: ['fp32'], levels: [1, 2, 4, 8, 16, 32], clients: 4,
      imagesPerRequest: 1, shmDatatype: 'uint8', duration: 10, warmup: 3, rounds: 3, threads: 16, json: false,
    });
    expect(o.serverArgs).toEqual(['--device', 'cuda', '--max-batch-size', '16']);
    expect(o.server.device).toBe('cuda');
    const p = parseOptions(['--input', 'jpeg,shm,uint8', '--concurrency', '1,64', '--clients', '3', '--images-per-request', '8', '--shm-datatype', 'fp32'], { cpus: 2 });
    expect(p).toMatchObject({ inputs: ['jpeg', 'shm', 'uint8'], levels: [1, 64], clients: 3, imagesPerRequest: 8, shmDatatype: 'fp32' });
    // One client process per four CPUs, 1 to 4.
    expect([1, 2, 7, 8, 16, 64].map(defaultClients)).toEqual([1, 1, 1, 2, 4, 4]);
  });

  it('bounds every count and names the flag in the error', () => {
    const bad: [string[], RegExp][] = [
      [['--concurrency', '0'], /--concurrency expects an integer in 1\.\.1024 but received "0"/],
      [['--concurrency', '1025'], /--concurrency expects an integer in 1\.\.1024/],
      [['--concurrency', '1,2,3,4,5,6,7,8,9,10,11,12,13'], /--concurrency lists 13 values; at most 12/],
      [['--concurrency', '4,4'], /--concurrency lists 4 twice/],
      [['--concurrency', '2.5'], /--concurrency expects an integer/],
      [['--input', 'fp16'], /--input expects one of fp32, uint8, jpeg, shm but received "fp16"/],
      [['--input', 'jpeg,jpeg'], /--input lists "jpeg" twice/],
      [['--clients', '65'], /--clients expects an integer in 1\.\.64/],
      [['--images-per-request', '0'], /--images-per-request expects an integer in 1\.\.256/],
      [['--shm-datatype', 'fp16'], /--shm-datatype expects one of uint8, fp32/],
      [['--duration', '601'], /--duration expects an integer in 1\.\.600/],
      [['--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseOptions(argv, { cpus: 2 }), argv.join(' ')).toThrow(message);
      expect(() => parseOptions(argv, { cpus: 2 })).toThrow(UsageError);
    }
  });
});

describe('concurrency over client processes', () => {
  it('splits evenly, larger shares first, never an empty process', () => {
    expect(splitConcurrency(8, 3)).toEqual([3, 3, 2]);
    expect(splitConcurrency(1, 4)).toEqual([1]);
    expect(splitConcurrency(256, 4)).toEqual([64, 64, 64, 64]);
    expect(splitConcurrency(5, 1)).toEqual([5]);
    for (let total = 1; total <= 70; total++) {
      for (let clients = 1; clients <= 9; clients++) {
        const shares = splitConcurrency(total, clients);
        expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
        expect(shares.length).toBe(Math.min(total, clients));
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
      }
    }
    expect(() => splitConcurrency(0, 2)).toThrow(RangeError);
    expect(() => splitConcurrency(4, 0)).toThrow(RangeError);
  });
});

/** The exact nearest-rank q-quantile of `samples`: the ⌈q·n⌉-th smallest. */
function nearestRank(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

describe('latency histogram', () => {
  it('has contiguous buckets, each holding the values mapped to it, at most 1/256 of the value wide', () => {
    let expectedLow = 0;
    for (let i = 0; i < 4000; i++) {
      const [low, high] = bucketRange(i);
      expect(low).toBe(expectedLow);
      expect(bucketOf(low)).toBe(i);
      expect(bucketOf(high - 1)).toBe(i);
      if (low >= 512) expect((high - low) / low).toBeLessThanOrEqual(1 / 256);
      expectedLow = high;
    }
    // Around powers of two, where log2 of a float may round.
    for (let e = 9; e < 38; e++) for (const v of [2 ** e - 1, 2 ** e, 2 ** e + 1]) {
      const [low, high] = bucketRange(bucketOf(v));
      expect(v >= low && v < high, `${v} in [${low}, ${high})`).toBe(true);
    }
  });

  it('reads p50/p90/p99 within 0.2 % of the exact nearest-rank values; merging equals recording the union', () => {
    const random = rng(11);
    // Log-normal around 5 ms with a long tail, like server latencies, plus sub-millisecond ones.
    const a = Array.from({ length: 60_000 }, () => Math.exp(Math.log(5) + 0.6 * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())));
    const b = Array.from({ length: 40_000 }, () => 0.05 + random() * 0.9);
    const ha = new LatencyHistogram();
    const hb = new LatencyHistogram();
    a.forEach((v) => ha.record(v));
    b.forEach((v) => hb.record(v));
    const all = [...a, ...b];
    const merged = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(ha.toJSON()))).merge(hb);
    const direct = new LatencyHistogram();
    all.forEach((v) => direct.record(v));
    expect(Array.from(merged.counts)).toEqual(Array.from(direct.counts));
    expect(merged.count).toBe(100_000);
    expect(merged.min).toBe(Math.min(...all));
    expect(merged.max).toBe(Math.max(...all));
    expect(merged.mean()).toBeCloseTo(all.reduce((s, v) => s + v, 0) / all.length, 9);
    for (const q of [0.1, 0.5, 0.9, 0.99, 0.999]) {
      const exact = nearestRank(all, q);
      // Half a bucket (0.2 %) plus the rounding to whole microseconds.
      expect(Math.abs(merged.quantile(q) - exact), `q ${q}`).toBeLessThanOrEqual(exact * 0.002 + 0.0005);
    }
    expect(merged.quantile(1)).toBe(merged.max);
    const s = merged.summary();
    expect(s.p50).toBe(merged.quantile(0.5));
    expect(s.p99).toBe(merged.quantile(0.99));
  });

  it('is empty as NaN and survives a JSON round trip empty', () => {
    const h = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(new LatencyHistogram().toJSON())));
    expect(h.count).toBe(0);
    expect(h.quantile(0.5)).toBeNaN();
    expect(h.summary().max).toBeNaN();
    expect(() => LatencyHistogram.fromJSON({ count: 1, min: 1, max: 1, sumMs: 1, buckets: [[1e9, 1]] })).toThrow(RangeError);
  });
});

describe('tallies', () => {
  it('accounts for every request and merges clients by adding', () => {
    const one = newTally();
    one.sent = 10;
    one.okInWindow = 6;
    one.okOutsideWindow = 2;
    one.latency.record(4);
    countFailure(one, 'HTTP 503', 'HTTP 503: queue full', true);
    countFailure(one, 'HTTP 503', 'HTTP 503: later message', false);
    one.cpuMs = 300;
    one.windowMs = 1000;
    const two = newTally();
    two.sent = 5;
    two.okInWindow = 3;
    countFailure(two, 'ECONNRESET', 'socket hang up', true);
    two.cpuMs = 100;
    two.windowMs = 1010;
    expect(unaccounted(one)).toBe(0);
    expect(unaccounted(two)).toBe(1); // one request in no bucket: lost
    const merged = mergeTallies([tallyFromJSON(JSON.parse(JSON.stringify(tallyToJSON(one)))), two]);
    expect(merged).toMatchObject({ sent: 15, okInWindow: 9, okOutsideWindow: 2, cpuMs: 400, windowMs: 1010 });
    expect(merged.failures).toEqual({
      'HTTP 503': { count: 2, inWindow: 1, message: 'HTTP 503: queue full' },
      ECONNRESET: { count: 1, inWindow: 1, message: 'socket hang up' },
    });
    expect(merged.latency.count).toBe(1);
    expect(unaccounted(merged)).toBe(1);
    expect(describeFailures(merged.failures)).toBe('HTTP 503 ×2, ECONNRESET ×1');
    expect(describeFailures({})).toBe('0');
  });
});

describe('CPU use', () => {
  it('reads utime and stime after the command name, whatever it holds', () => {
    // Fields 3.. after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    const line = '4242 (node (a) b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 11 0 999 1000 200\n';
    expect(parseProcStat(line)).toEqual({ utimeTicks: 1234, stimeTicks: 567 });
    expect(() => parseProcStat('garbage')).toThrow(/not a \/proc\/PID\/stat line/);
    expect(() => parseProcStat('1 (x) S 1 2')).toThrow(/no utime and stime/);
  });

  it('turns samples into cores', () => {
    // 150 ticks at 100 Hz over 500 ms: 3 cores
    expect(coresBetween({ ticks: 1000, atMs: 10_000 }, { ticks: 1150, atMs: 10_500 }, 100)).toBeCloseTo(3, 12);
    expect(coresBetween({ ticks: 1, atMs: 5 }, { ticks: 2, atMs: 5 }, 100)).toBeNaN();
    // 250 ms user + 50 ms system over 600 ms: 0.5 cores
    expect(coresFromCpuUsage({ user: 1_000_000, system: 0 }, { user: 1_250_000, system: 50_000 }, 600)).toBeCloseTo(0.5, 12);
  });

  it.runIf(existsSync('/proc/self/stat'))('agrees with process.cpuUsage() on a busy loop', () => {
    const before = sampleProcess(process.pid)!;
    const usage = process.cpuUsage();
    // Until 0.5 s of CPU time is used (the machine is shared: wall time would not say how much).
    const until = performance.now() + 20_000;
    let x = 0;
    while (performance.now() < until && process.cpuUsage(usage).user < 500_000) for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const after = sampleProcess(process.pid)!;
    const used = process.cpuUsage(usage);
    const procSeconds = (after.ticks - before.ticks) / clockTicksPerSecond();
    const usageSeconds = (used.user + used.system) / 1e6;
    // Two clock ticks of granularity at either end, and the test's own threads beside.
    expect(Math.abs(procSeconds - usageSeconds)).toBeLessThan(0.05);
    expect(procSeconds).toBeGreaterThan(0.4);
    expect(sampleProcess(2 ** 22 + 12345)).toBeNull();
  });
});

const geometry = { model: 'm', version: '1', inputName: 'input', height: 4, width: 5, outputName: 'output', classes: 10 };

/** Splits a binary-tensor body by its declared header length. */
function split(req: { body: Buffer; headers: Record<string, string> }) {
  const n = Number(req.headers['inference-header-content-length']);
  return { header: JSON.parse(req.body.subarray(0, n).toString()), binary: req.body.subarray(n) };
}

describe('requests', () => {
  it('reads the geometry from model metadata, NCHW or NHWC', () => {
    const nchw = { name: 'resnet50', versions: ['2'], inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 200] }], outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 1000] }, { name: 'features', shape: [-1, 2048] }] };
    expect(modelGeometry(nchw)).toEqual({ model: 'resnet50', version: '2', inputName: 'input', height: 224, width: 200, outputName: 'output', classes: 1000 });
    const nhwc = { name: 'x', inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [-1, 96, 64, 3] }], outputs: [{ name: 'logits', shape: [-1, 10] }] };
    expect(modelGeometry(nhwc)).toMatchObject({ version: '1', inputName: 'pixels', height: 96, width: 64, outputName: 'logits', classes: 10 });
    expect(() => modelGeometry({ inputs: [] })).toThrow(/no 4-d image input/);
  });

  it('builds FP32 NCHW and UINT8 NHWC binary-tensor bodies', () => {
    const f = fp32Request(geometry, 2);
    expect(f.headers['content-type']).toBe('application/octet-stream');
    const fp = split(f);
    expect(fp.header).toEqual({
      inputs: [{ name: 'input', shape: [2, 3, 4, 5], datatype: 'FP32', parameters: { binary_data_size: 2 * 3 * 4 * 5 * 4 } }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    });
    expect(fp.binary.length).toBe(480);
    expect(fp.binary.readFloatLE(4 * 7)).toBeCloseTo(Math.sin(0.007) * 2, 6);
    const u = split(uint8Request(geometry, 3));
    expect(u.header.inputs).toEqual([{ name: 'input', shape: [3, 4, 5, 3], datatype: 'UINT8', parameters: { binary_data_size: 180 } }]);
    expect(u.binary.length).toBe(180);
    expect(new Set(u.binary).size).toBeGreaterThan(100);
  });

  it('lays BYTES out as 4-byte little-endian lengths, and cycles requests through the corpus', () => {
    const images = [Buffer.from('aa'), Buffer.from('bbb'), Buffer.from('c')];
    expect(bytesTensor(images.slice(0, 2))).toEqual(Buffer.from([2, 0, 0, 0, 0x61, 0x61, 3, 0, 0, 0, 0x62, 0x62, 0x62]));
    const requests = jpegRequests(geometry, 2, images);
    expect(requests).toHaveLength(3);
    const last = split(requests[2]!);
    expect(last.header.inputs).toEqual([{ name: 'input', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 4 + 1 + 4 + 2 } }]);
    expect(last.binary).toEqual(bytesTensor([images[2]!, images[0]!]));
  });

  it('puts a shared-memory slot\'s output after its input on a 64-byte boundary and names both in JSON', () => {
    // uint8 [2,4,5,3] = 120 bytes → output at 128, 2×10 FP32 = 80 bytes
    expect(shmLayout(geometry, 2, 'uint8')).toEqual({ inputBytes: 120, outputOffset: 128, outputBytes: 80, byteSize: 208 });
    expect(shmLayout(geometry, 1, 'fp32')).toEqual({ inputBytes: 240, outputOffset: 256, outputBytes: 40, byteSize: 296 });
    const req = shmRequest(geometry, 2, 'uint8', 'r0');
    expect(req.headers).toEqual({ 'content-type': 'application/json' });
    expect(JSON.parse(req.body.toString())).toEqual({
      inputs: [{ name: 'input', shape: [2, 4, 5, 3], datatype: 'UINT8', parameters: { shared_memory_region: 'r0', shared_memory_byte_size: 120, shared_memory_offset: 0 } }],
      outputs: [{ name: 'output', parameters: { shared_memory_region: 'r0', shared_memory_byte_size: 80, shared_memory_offset: 128 } }],
    });
  });

  it('checks an answer and repeats the server\'s own words when it refuses', () => {
    const header = Buffer.from(JSON.stringify({ model_name: 'm', outputs: [{ name: 'output', datatype: 'FP32', shape: [2, 10], parameters: { binary_data_size: 80 } }] }));
    const good = { status: 200, headerLength: String(header.length), body: Buffer.concat([header, Buffer.alloc(80)]) };
    expect(() => checkAnswer(good, geometry, 2)).not.toThrow();
    expect(() => checkAnswer({ ...good, body: good.body.subarray(0, -4) }, geometry, 2)).toThrow('76 bytes of binary output, expected 80');
    expect(() => checkAnswer(good, geometry, 3)).toThrow('output \'output\' is FP32 [2,10], expected FP32 [3,10]');
    const refused = { status: 400, headerLength: undefined, body: Buffer.from('{"error":"inference input \'input\' data-type is \'UINT8\', but model \'m\' expects \'FP32\' or \'BYTES\'"}') };
    expect(() => checkAnswer(refused, geometry, 1)).toThrow("HTTP 400: inference input 'input' data-type is 'UINT8', but model 'm' expects 'FP32' or 'BYTES'");
    const shm = { status: 200, headerLength: undefined, body: Buffer.from(JSON.stringify({ outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 10], parameters: { shared_memory_region: 'r0' } }] })) };
    expect(() => checkAnswer(shm, geometry, 1, 'r0')).not.toThrow();
    expect(() => checkAnswer(shm, geometry, 1, 'r1')).toThrow("was not written to shared-memory region 'r1'");
    expect(serverMessage(404, '{"error":"Not Found","message":"Route POST:/x not found"}')).toBe('HTTP 404: Not Found: Route POST:/x not found');
    expect(serverMessage(502, '<html>bad gateway</html>')).toBe('HTTP 502: <html>bad gateway</html>');
    expect(serverMessage(500, '')).toBe('HTTP 500: (empty body)');
  });
});

describe('JPEG corpus', () => {
  const photos = [{ width: 1546, height: 1213 }, { width: 512, height: 600 }];

  it('plans distinct crops inside the photos, of the output\'s aspect, landscape and portrait', () => {
    const variants = planJpegVariants(photos, 24);
    expect(variants).toHaveLength(24);
    expect(new Set(variants.map((v) => JSON.stringify(v))).size).toBe(24);
    expect(new Set(variants.map((v) => v.photo))).toEqual(new Set([0, 1]));
    expect(new Set(variants.map((v) => v.quality)).size).toBeGreaterThanOrEqual(4);
    expect(variants.some((v) => v.mirror)).toBe(true);
    for (const v of variants) {
      const p = photos[v.photo]!;
      expect(v.crop.left).toBeGreaterThanOrEqual(0);
      expect(v.crop.top).toBeGreaterThanOrEqual(0);
      expect(v.crop.left + v.crop.width).toBeLessThanOrEqual(p.width);
      expect(v.crop.top + v.crop.height).toBeLessThanOrEqual(p.height);
      expect([v.width, v.height]).toContainEqual(imagenetSize.width);
      // The crop has the output's aspect to within a pixel of rounding.
      expect(Math.abs(v.crop.width / v.crop.height - v.width / v.height)).toBeLessThan(0.01);
    }
    expect(variants.filter((v) => v.height > v.width).length).toBeGreaterThan(0);
    expect(() => planJpegVariants([], 1)).toThrow(RangeError);
  });

  it('says what is missing when there are no photos', () => {
    expect(() => findPhotos(path.join(scratch, 'absent'))).toThrow(/no photos for the JPEG input: cannot read .*absent.*pass --photos DIR/);
    writeFileSync(path.join(scratch, 'notes.txt'), 'x');
    expect(() => findPhotos(scratch)).toThrow(/holds no \.jpg, \.png or \.webp file/);
  });

  it.runIf(havePhotos)('encodes distinct baseline ImageNet-sized JPEGs that decode back (the test data\'s photos)', async () => {
    const corpus = await makeJpegCorpus(findPhotos(photosDir), 12);
    expect(corpus).toHaveLength(12);
    expect(new Set(corpus.map((b) => createHash('sha256').update(b).digest('hex'))).size).toBe(12);
    for (const jpeg of corpus) {
      const meta = await sharp(jpeg).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.isProgressive).toBe(false);
      expect(meta.chromaSubsampling).toBe('4:2:0');
      expect([meta.width, meta.height].sort()).toEqual([375, 500]);
      expect(jpeg.length).toBeGreaterThan(10_000);
      expect(jpeg.length).toBeLessThan(400_000);
    }
  });
});

describe.runIf(existsSync('/dev/shm'))('shared-memory region files', () => {
  it('creates the file at its size with the input at offset 0, reads back, and sweeps only its prefix', () => {
    const prefix = `resnet-bench-test-${process.pid}`;
    const region = createRegion(regionOf(prefix, 1, 2), 300, Buffer.from([1, 2, 3]));
    expect(region).toMatchObject({ name: `${prefix}-c1-s2`, key: `/${prefix}-c1-s2`, file: `/dev/shm/${prefix}-c1-s2`, byteSize: 300 });
    expect(statSync(region.file).size).toBe(300);
    expect(statSync(region.file).mode & 0o777).toBe(0o600);
    expect([...readFileSync(region.file).subarray(0, 5)]).toEqual([1, 2, 3, 0, 0]);
    poisonRegion(region, 256, 44);
    expect(readRegion(region, 250, 10)).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 255, 255, 255, 255]));
    const other = createRegion(regionOf(`${prefix}x`, 0, 0), 8, Buffer.alloc(0));
    createRegion(regionOf(prefix, 0, 0), 8, Buffer.alloc(0));
    expect(sweepRegions(prefix)).toBe(2);
    expect(existsSync(region.file)).toBe(false);
    expect(existsSync(other.file)).toBe(true);
    unlinkRegion(other);
    expect(existsSync(other.file)).toBe(false);
  });
});

describe('report', () => {
  it('prints one row per kind and level, the failures in the server\'s words, and the shutdown last', () => {
    const row = {
      concurrency: 8, imgPerSec: 120.04, requestsPerSecond: 120.04, latency: { p50: 60.123, p90: 70, p99: 80.5 }, averageBatch: 4.2,
      serverCores: 1.73, loadgenCores: 0.11, errors: 2, failures: { 'HTTP 503': { count: 2, inWindow: 2, message: 'HTTP 503: queue full' } },
      serverFailures: {}, engineImgPerSec: 150, engineBatch: 4, engineRatio: 0.8003,
    };
    const text = renderReport({
      model: 'resnet18', serverArgs: ['--model', 'resnet18'], threads: 2, clients: 2, imagesPerRequest: 1, warmup: 1, duration: 2, engineIters: 5, shmDatatype: 'uint8',
      kinds: [
        { kind: 'fp32', rows: [row], failure: null, skipped: null },
        { kind: 'shm', rows: [], failure: 'registering shared-memory region \'r\': HTTP 404: no route', skipped: null },
        { kind: 'jpeg', rows: [], failure: null, skipped: 'no photos' },
      ],
      engines: [{ note: 'engine on FP32 input: resnet bench has no --input-dtype uint8 yet' }],
      rounds: [], soak: null, shutdown: { code: 0, signal: null, killed: false },
    });
    const lines = text.trimEnd().split('\n');
    const header = lines.findIndex((l) => l.startsWith('input'));
    expect(lines[header]!.split(/\s{2,}/)).toEqual(['input', 'concurrency', 'img/s', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'avg batch', 'server CPU', 'loadgen CPU', 'errors', 'engine img/s', 'server/engine']);
    expect(lines[header + 2]!.split(/\s{2,}/)).toEqual(['fp32', '8', '120.0', '120.0', '60.12', '70.00', '80.50', '4.20', '1.73', '0.11', '2', '150.0 (b4)', '0.800']);
    expect(text).toContain("shm uint8: not measured: registering shared-memory region 'r': HTTP 404: no route");
    expect(text).toContain('jpeg: skipped: no photos');
    expect(text).toContain('fp32 at concurrency 8: errors HTTP 503 ×2 (first: HTTP 503: HTTP 503: queue full)');
    expect(text).toContain('note: engine on FP32 input');
    expect(lines.at(-1)).toBe('server shutdown on SIGTERM: exit 0');
  });
});
