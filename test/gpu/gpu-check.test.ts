// The GPU check (scripts/gpu-check.sh), on this machine without a GPU: its pure pieces (error metrics,
// statistics, the table, target evaluation, the summary) against values worked out here, and the whole
// script run end to end — no GPU, PyTorch hidden — then as a dry run with the CPU backend standing in for
// the GPU, then (where a python3 has torch and torchvision) with the PyTorch reference on the CPU.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as lib from '../../lib/index.js';
import { backendInfo } from '../../lib/index.js';
import { compileLegacy } from '../../scripts/gpu-check/bench.mjs';
import { imagesPerSecond, maxRelativeError, median, percentile, relativeL2, summarizeTimes } from '../../scripts/gpu-check/stats.mjs';
import { formatError, formatMs, formatPercent, formatRate, formatRatio, formatTable, oneLine } from '../../scripts/gpu-check/table.mjs';
import {
  HOST_PATH_GOALS, RESNET50_FLOP_PER_IMAGE, SERVE_GOALS, evaluateHostPathTargets, evaluateServeTargets, evaluateTargets, nextServeLevel, type Target,
} from '../../scripts/gpu-check/targets.mjs';
import { convPathsOf, pathsLine } from '../../scripts/gpu-check/paths.mjs';
import { buildSummary, parseParts, renderSummary, type SummaryInputs } from '../../scripts/gpu-check/summary.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'gpu-check-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('error metrics and statistics', () => {
  it('relative L2 is ‖a − e‖ / ‖e‖', () => {
    // ‖(3, 4)‖ = 5; a − e = (0.3, −0.4), ‖·‖ = 0.5
    expect(relativeL2([3.3, 3.6], [3, 4])).toBeCloseTo(0.1, 12);
    expect(relativeL2(new Float32Array([1, 2, 3]), new Float32Array([1, 2, 3]))).toBe(0);
    expect(relativeL2([0, 0], [0, 0])).toBe(0);
    expect(relativeL2([1, 0], [0, 0])).toBe(Infinity);
    expect(relativeL2([NaN, 1], [1, 1])).toBeNaN();
    expect(relativeL2([Infinity, 1], [1, 1])).toBeNaN();
    expect(() => relativeL2([1], [1, 2])).toThrow(RangeError);
  });

  it('a NaN error fails every tolerance', () => {
    expect(relativeL2([NaN], [1]) <= 1).toBe(false);
  });

  it('max relative error is the worst element over the largest reference value', () => {
    expect(maxRelativeError([1, 2.5, -4], [1, 2, -5])).toBeCloseTo(1 / 5, 12);
    expect(maxRelativeError([0, 0], [0, 0])).toBe(0);
    expect(maxRelativeError([NaN], [1])).toBeNaN();
  });

  it('percentiles interpolate between closest ranks (numpy default)', () => {
    // numpy.percentile([1, 2, 3, 4], 90) = 3.7; [1, 2, 3, 4, 10] median 3
    expect(percentile([4, 1, 3, 2], 90)).toBeCloseTo(3.7, 12);
    expect(median([10, 1, 3, 2, 4])).toBe(3);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(percentile([], 50)).toBeNaN();
    const s = summarizeTimes([2, 1, 4, 3]);
    expect(s).toEqual({ iterations: 4, medianMs: 2.5, p90Ms: 3.7, minMs: 1, meanMs: 2.5 });
    expect(imagesPerSecond(256, 128)).toBe(2000);
  });
});

describe('report formatting', () => {
  it('formats numbers for the table', () => {
    expect([formatMs(0.8123), formatMs(42.126), formatMs(421.34), formatMs(undefined)]).toEqual(['0.812', '42.13', '421.3', '—']);
    expect([formatRate(12345.6), formatRate(12.34), formatRate(NaN)]).toEqual(['12346', '12.3', '—']);
    expect([formatRatio(1.5234), formatPercent(0.35123), formatError(3.24e-6), formatError(0), formatError(NaN)]).toEqual(['1.52×', '35.1%', '3.2e-6', '0', 'NaN']);
    expect(oneLine('a\n  b \n\nc', 100)).toBe('a / b / c');
    expect(oneLine('abcdef', 4)).toBe('abc…');
  });

  it('pads a Markdown table, right-aligning where asked, escaping pipes', () => {
    const text = formatTable(['name', 'n'], [['a|b', '1'], ['long name', '100']], { align: ['l', 'r'] });
    expect(text).toBe(['| name      |   n |', '| --------- | --: |', '| a\\|b      |   1 |', '| long name | 100 |'].join('\n'));
    expect(() => formatTable(['a', 'b'], [['1']])).toThrow(RangeError);
  });
});

describe('targets', () => {
  const byId = (targets: Target[]) => Object.fromEntries(targets.map((t) => [t.id, t]));

  it('evaluates each target from the medians, with the shortfall of a miss', () => {
    const t = byId(evaluateTargets({
      oursB256Ms: 100, eagerB256Ms: 120, eagerB256E2eMs: 150, compileB256Ms: 90,
      oursB1Ms: 0.9, eagerB1Ms: 3, eagerB1E2eMs: 3.5, compileB1Ms: 1.2,
      peakTflops: 700, fp32ParityWorst: 3e-6, fp32ParityCount: 3,
    }));
    // 120/100 = 1.2× eager, asked 1.5×: missed by (1.5 − 1.2)/1.5 = 20%
    expect(t['fp16-b256-vs-eager']).toMatchObject({ status: 'missed', value: 1.2, goal: 1.5 });
    expect(t['fp16-b256-vs-eager']!.shortfall).toBeCloseTo(0.2, 12);
    expect(t['fp16-b256-vs-eager']!.text).toContain('missed by 20.0%');
    // 90/100 = 0.9 of torch.compile's throughput: missed by 10%
    expect(t['fp16-b256-vs-compile']!.status).toBe('missed');
    expect(t['fp16-b256-vs-compile']!.shortfall).toBeCloseTo(0.1, 12);
    // 256 images × 8.18 GFLOP in 0.1 s = 20.94 TFLOP/s = 2.99% of 700
    const fraction = (256 * 8.18e9) / 0.1 / 700e12;
    expect(RESNET50_FLOP_PER_IMAGE).toBe(8.18e9);
    expect(t['fp16-b256-peak']!.value).toBeCloseTo(fraction, 12);
    expect(t['fp16-b256-peak']!.status).toBe('missed');
    // 0.9 / 3 = 0.3 ≤ 1/3: met; 0.9 ≤ 1.2: met; 0.9 < 1: met
    expect(t['fp16-b1-vs-eager']).toMatchObject({ status: 'met', shortfall: 0 });
    expect(t['fp16-b1-vs-eager']!.value).toBeCloseTo(0.3, 12);
    expect(t['fp16-b1-vs-compile']).toMatchObject({ status: 'met', value: 0.9 });
    expect(t['fp16-b1-under-1ms']).toMatchObject({ status: 'met', value: 0.9 });
    expect(t['fp32-parity']).toMatchObject({ status: 'met', value: 3e-6 });
  });

  it('1 ms is a strict bound; a NaN parity error is a miss', () => {
    const t = byId(evaluateTargets({ oursB1Ms: 1, fp32ParityWorst: NaN, fp32ParityCount: 1 }));
    expect(t['fp16-b1-under-1ms']!.status).toBe('missed');
    expect(t['fp32-parity']!.status).toBe('missed');
  });

  it('says why a target was not measured', () => {
    const t = byId(evaluateTargets({ oursB256Ms: 100, notes: { eagerB256Ms: 'PyTorch sees no GPU', compileB256Ms: 'torch.compile default: timeout' } }));
    expect(t['fp16-b256-vs-eager']).toMatchObject({ status: 'not measured', value: null, shortfall: null, text: 'not measured: PyTorch sees no GPU' });
    expect(t['fp16-b256-vs-compile']!.text).toBe('not measured: torch.compile default: timeout');
    expect(t['fp32-parity']!.status).toBe('not measured');
  });
});

describe('engine host-path targets (issue 12)', () => {
  const byId = (targets: Target[]) => Object.fromEntries(targets.map((t) => [t.id, t]));
  const record = (batch: number, dtype: string, shareOfDevice: number, extra: object = {}) => ({
    batch, dtype, layout: dtype === 'uint8' ? 'nhwc' : 'nchw', inFlight: 3, shareOfDevice, e2eImgPerSec: 25_000 * shareOfDevice, deviceImgPerSec: 25_000, ...extra,
  });

  it('judges each share of device-only, the batch-1 p50 and the batch-256 device-only rate', () => {
    expect(HOST_PATH_GOALS).toEqual({ deviceB256ImgPerSec: 30_000, uint8B256Share: 0.85, uint8B32Share: 0.7, float32B256Share: 0.6, uint8B1P50Ms: 0.4 });
    const t = byId(evaluateHostPathTargets([
      record(256, 'uint8', 0.86),
      record(32, 'uint8', 0.69),
      record(256, 'float32', 0.6),
      record(1, 'uint8', NaN, { inFlight: 1, e2eMedianMs: 0.41, e2eP90Ms: 0.5, deviceMedianMs: 0.33 }),
    ], 29_000, undefined));
    expect(t['engine-device-b256']).toMatchObject({ status: 'missed', value: 29_000 });
    expect(t['engine-device-b256']!.shortfall).toBeCloseTo(1 / 30, 12);
    expect(t['e2e-uint8-b256']).toMatchObject({ status: 'met', value: 0.86 });
    expect(t['e2e-uint8-b256']!.text).toContain('21500 img/s with 3 in flight vs 25000 img/s device-only');
    expect(t['e2e-uint8-b32']).toMatchObject({ status: 'missed', value: 0.69 });
    expect(t['e2e-float32-b256']).toMatchObject({ status: 'met', value: 0.6 }); // exactly the goal
    expect(t['e2e-uint8-b1-p50']).toMatchObject({ status: 'missed', value: 0.41 });
  });

  it('says why a figure is missing: the record\'s own reason, or the run\'s', () => {
    const t = byId(evaluateHostPathTargets([{ batch: 32, dtype: 'uint8', skipped: "out of time (the part's time budget)" }], undefined, undefined));
    expect(t['e2e-uint8-b32']!.text).toBe("not measured: out of time (the part's time budget)");
    expect(t['e2e-float32-b256']!.text).toBe('not measured: float32 batch 256 was not measured');
    const dry = evaluateHostPathTargets([record(256, 'uint8', 0.99)], 40_000, 'a dry run measures no GPU figures');
    expect(dry).toHaveLength(5);
    expect(dry.every((x) => x.status === 'not measured')).toBe(true);
  });
});

describe('serving targets', () => {
  const byId = (targets: Target[]) => Object.fromEntries(targets.map((t) => [t.id, t]));
  const level = (concurrency: number, imgPerSec: number, p50Ms: number, p99Ms: number) => ({ concurrency, imgPerSec, p50Ms, p99Ms });

  it('judges throughput at the lowest concurrency that reaches it, and p99 there', () => {
    expect(SERVE_GOALS).toEqual({ uint8: 12_000, shm: 20_000, jpeg: 8_000, fp32: 4_000 });
    const t = byId(evaluateServeTargets({
      uint8: { levels: [level(1, 1100, 0.8, 1.4), level(32, 9000, 3.2, 6), level(128, 12_500, 9, 61), level(512, 13_000, 38, 70)] },
      shm: { levels: [level(64, 15_000, 4, 9), level(256, 19_000, 13, 30)], why: 'stopped at concurrency 1024: HTTP 503: queue full' },
      jpeg: { levels: [], why: "the server refused it: HTTP 400: input 'input' element 0 is not a decodable image" },
    }));
    // uint8 reaches 12,000 first at 128, where p99 is 61 ms: missed by 22 %
    expect(t['serve-uint8']).toMatchObject({ status: 'met', value: 12_500 });
    expect(t['serve-uint8']!.text).toContain('at concurrency 128');
    expect(t['serve-uint8-p99']).toMatchObject({ status: 'missed', value: 61, goal: 50 });
    expect(t['serve-uint8-p99']!.shortfall).toBeCloseTo(0.22, 12);
    expect(t['serve-uint8-c1-p50']).toMatchObject({ status: 'met', value: 0.8 });
    // shm never reaches 20,000: its best level is quoted, and p99 has no concurrency to be judged at
    expect(t['serve-shm']).toMatchObject({ status: 'missed', value: 19_000 });
    expect(t['serve-shm']!.shortfall).toBeCloseTo(0.05, 12);
    expect(t['serve-shm']!.text).toContain('best at concurrency 256 (p50 13.00 ms, p99 30.00 ms); stopped at concurrency 1024');
    expect(t['serve-shm-p99']!.status).toBe('not measured');
    expect(t['serve-shm-p99']!.text).toContain('no level reached 20000 img/s (best 19000 img/s at concurrency 256');
    // jpeg refused, fp32 absent: not measured, with the server's words where there are some
    expect(t['serve-jpeg']!.text).toBe("not measured: the server refused it: HTTP 400: input 'input' element 0 is not a decodable image");
    expect(t['serve-fp32']).toMatchObject({ status: 'not measured', text: 'not measured: fp32 was not measured' });
  });

  it('a p50 of exactly 1 ms at concurrency 1 is met; a dry run measures none', () => {
    expect(byId(evaluateServeTargets({ uint8: { levels: [level(1, 900, 1, 1.5)] } }))['serve-uint8-c1-p50']!.status).toBe('met');
    expect(byId(evaluateServeTargets({ uint8: { levels: [level(1, 900, 1.01, 1.5)] } }))['serve-uint8-c1-p50']!.status).toBe('missed');
    const dry = evaluateServeTargets({ fp32: { levels: [level(4, 50, 60, 80)] } }, 'a dry run measures no GPU figures');
    expect(dry).toHaveLength(9);
    expect(dry.every((x) => x.status === 'not measured' && x.text === 'not measured: a dry run measures no GPU figures')).toBe(true);
  });

  it('raises the concurrency ×4 until the goal, a p99 over 50 ms, saturation or the cap', () => {
    const plan = { start: 32, factor: 4, max: 1024 };
    expect(nextServeLevel([], 12_000, plan)).toBe(32);
    expect(nextServeLevel([level(32, 5000, 3, 8)], 12_000, plan)).toBe(128);
    expect(nextServeLevel([level(32, 5000, 3, 8), level(128, 9000, 8, 20)], 12_000, plan)).toBe(512);
    expect(nextServeLevel([level(32, 12_000, 3, 8)], 12_000, plan)).toBeNull(); // reached
    expect(nextServeLevel([level(32, 5000, 3, 51)], 12_000, plan)).toBeNull(); // p99 past 50 ms
    expect(nextServeLevel([level(32, 5000, 3, NaN)], 12_000, plan)).toBeNull();
    expect(nextServeLevel([level(32, 5000, 3, 8), level(128, 5400, 9, 30)], 12_000, plan)).toBeNull(); // < 10 % more
    expect(nextServeLevel([level(512, 5000, 3, 8)], 12_000, plan)).toBeNull(); // 2048 > 1024
  });
});

describe('summary', () => {
  const inputs: SummaryInputs = {
    dryRun: false,
    parts: parseParts('env\tok\t0\t3\t\nops\tok\t0\t40\t\ntorch_bench\ttimeout\t124\t95\tkilled at its 95 s limit\n'),
    nvidiaSmi: ['NVIDIA H100 80GB HBM3, 580.159.04, 81559 MiB, 00000000:00:05.0'],
    nodeEnv: { probes: [{ label: 'as started', node: 'v20', info: { backends: { cpu: {}, cuda: { available: false, reason: 'cuDNN 9 not found' } } } }] },
    ops: { checks: [
      { group: 'op', name: 'conv', precision: 'float32', error: 2e-7, tolerance: 1e-4, passed: true },
      { group: 'op', name: 'conv', precision: 'float16', error: 'NaN', tolerance: 2e-2, passed: false },
      { group: 'variant', name: 'resnet18', precision: 'float32', skipped: 'out of time' },
    ] },
    bench: { cells: [
      { dtype: 'float16', batch: 256, medianMs: 100, p90Ms: 110, imgPerSec: 2560, iterations: 10, finite: true, firstMs: 9000, paths: { total: 54, graphApi: 50, fused: 3, unfused: 1, graphPlanMs: 812, stem: { form: 'space_to_depth', how: 'timed', ms: { direct: 1.23, space_to_depth: 0.61, four_channel: 0.9 }, paths: { direct: 'fused IMPLICIT_PRECOMP_GEMM', space_to_depth: 'graph engine 7', four_channel: 'unfused IMPLICIT_GEMM' } } } },
      { dtype: 'float16', batch: 1, medianMs: 0.5, p90Ms: 0.6, imgPerSec: 2000, iterations: 100, finite: false },
      // The same cell with the graph API off: its own row in the paths table, never ours in the main table.
      { dtype: 'float16', batch: 256, legacy: true, medianMs: 160, deviceMs: 150, p90Ms: 170, imgPerSec: 1600, iterations: 10, finite: true, paths: { total: 54, graphApi: 0, fused: 36, unfused: 18, graphNote: 'off' } },
    ] },
    serve: {
      model: 'resnet50 float16', clients: 4, durationMs: 2500, loadSeconds: 21.5, shmNote: 'resnet serve has no --allow-shm yet: started without it',
      rows: { count: 16, worstRelativeL2: 2e-3, tolerance: 1e-2, precision: 'float16', passed: true },
      kinds: {
        uint8: { levels: [], why: "the server refused it: HTTP 400: inference input 'input' data-type is 'UINT8'" },
        fp32: { levels: [
          { concurrency: 16, imgPerSec: 2500, p50Ms: 6.1, p99Ms: 9.5, averageBatch: 5.2, serverCores: 1.4, loadgenCores: 0.6, errors: 0, failures: '0' },
          { concurrency: 64, imgPerSec: 4200, p50Ms: 14.9, p99Ms: 'NaN', averageBatch: 'NaN', serverCores: 1.9, loadgenCores: 1.1, errors: 3, failures: 'HTTP 503 ×3' },
        ] },
      },
    },
    torchBench: {
      peak: { tflops: 800 },
      eager: [{ dtype: 'float16', batch: 256, device: { medianMs: 200, p90Ms: 210 }, e2e: { medianMs: 250, p90Ms: 260 } }],
      compile: [{ mode: 'default', batch: 256, dtype: 'float16', status: 'ok', medianMs: 125, compileSeconds: 40 }],
    },
  };

  it('counts passed, failed and skipped checks, with failed parts and non-finite logits failing', () => {
    const s = buildSummary(inputs);
    // a GPU is visible but ours is unavailable; the NaN op; the non-finite bench cell; the part that timed out
    expect(s.checks.failed).toBe(4);
    expect(s.checks.passed).toBe(2); // the op in FP32, the serve part's rows
    expect(s.checks.skipped).toBe(1);
    expect(s.ok).toBe(false);
    expect(s.environment.gpu).toBe('NVIDIA H100 80GB HBM3');
    expect(s.environment.ours).toEqual({ available: false, reason: 'cuDNN 9 not found' });
    const names = s.checks.list.filter((c) => !c.skipped && !c.passed).map((c) => c.name);
    expect(names).toEqual(['CUDA backend available', 'conv', 'bench resnet50 float16 b1', 'part torch_bench']);
  });

  it('puts ours, eager and torch.compile side by side', () => {
    const s = buildSummary(inputs);
    const row = s.bench.rows.find((r) => r.batch === 256);
    expect(row.ratioEagerDevice).toBe(2); // 200 ms / 100 ms
    expect(row.ratioEagerE2e).toBe(2.5);
    expect(row.ratioCompile).toBe(1.25);
    expect(row.eagerDevice.imgPerSec).toBe(1280);
    expect(row.fractionOfFp16Peak).toBeCloseTo((2560 * 8.18e9) / 800e12, 12);
    expect(s.bench.rows.map((r) => r.batch)).toEqual([1, 256]);
    const target = s.targets.find((t) => t.id === 'fp16-b256-vs-eager')!;
    expect(target.status).toBe('met');
  });

  it('puts each cell\'s conv paths beside the same cell with the graph API off', () => {
    const s = buildSummary(inputs);
    expect(s.bench.rows.find((r) => r.batch === 256).ours.medianMs).toBe(100); // not the legacy cell's 160
    const row = s.bench.paths.find((r: any) => r.batch === 256);
    expect(row).toMatchObject({ ms: 100, legacyMs: 150, speedup: 1.5, paths: { graphApi: 50, fused: 3, unfused: 1, stem: { form: 'space_to_depth', ms: { direct: 1.23 } } } });
    expect(s.bench.paths.map((r: any) => r.batch)).toEqual([256, 1]);
    const text = renderSummary(s);
    expect(text).toMatch(/\| float16 \|\s+256 \|\s+54 \|\s+50 \|\s+3 \|\s+1 \| space_to_depth \(timed: direct 1\.23, space_to_depth 0\.61, four_channel 0\.9 ms\)\s+\|\s+812 \|\s+9000 \|\s+100\.0 \|\s+150\.0 \|\s+1\.50× \|/);
  });

  it('renders the targets table last', () => {
    const text = renderSummary(buildSummary(inputs));
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('# GPU check: FAIL: 2 checks passed, 4 failed, 1 skipped');
    expect(lines.at(-1)).toMatch(/^\| FP32 \(TF32 off\) logits within 1e-4 relative L2 of torchvision +\| not measured +\|/);
    // Ours device-only (not measured in this fixture), then ours end to end.
    expect(text).toMatch(/\| float16 \|\s+256 \|\s+— \|\s+2560 \|/);
  });
});

describe('summary of the serve part', () => {
  const parts = parseParts('serve\tfailed\t1\t80\t\n');
  const serve = {
    model: 'resnet50 float16', clients: 4, durationMs: 2500, loadSeconds: 21.5, imageDecoder: 'nvJPEG hardware (7 engines)',
    rows: { count: 16, worstRelativeL2: 'NaN', tolerance: 1e-2, precision: 'float16', passed: false },
    kinds: {
      uint8: { levels: [{ concurrency: 1, imgPerSec: 1100, p50Ms: 0.8, p99Ms: 1.3, averageBatch: 1, serverCores: 1, loadgenCores: 0.2, errors: 0, failures: '0' }] },
      fp32: { levels: [{ concurrency: 64, imgPerSec: 4200, p50Ms: 14.9, p99Ms: 40, averageBatch: 'NaN', serverCores: 1.9, loadgenCores: 1.1, errors: 3, failures: 'HTTP 503 ×3' }] },
      jpeg: { levels: [], why: 'skipped: no photos for the JPEG input' },
    },
  };

  it('checks the rows, tables the levels, evaluates the serving targets before the issue\'s', () => {
    const s = buildSummary({ dryRun: false, parts, serve });
    const rowCheck = s.checks.list.find((c) => c.group === 'serve');
    expect(rowCheck).toMatchObject({ passed: false, tolerance: 1e-2, precision: 'float16' });
    expect(rowCheck.error).toBeNaN();
    expect(s.checks.list.find((c) => c.name === 'part serve').message).toBe('exited with status 1 (see bench.log)');
    const t = Object.fromEntries(s.serve.targets.map((x) => [x.id, x]));
    expect(t['serve-fp32']).toMatchObject({ status: 'met', value: 4200 });
    expect(t['serve-fp32-p99']).toMatchObject({ status: 'met', value: 40 });
    expect(t['serve-uint8-c1-p50']).toMatchObject({ status: 'met', value: 0.8 });
    expect(t['serve-jpeg']!.text).toBe('not measured: skipped: no photos for the JPEG input');
    const text = renderSummary(s);
    expect(text).toMatch(/\| fp32 +\| +64 \| +4200 \| +14\.90 \| +40\.00 \| +— \| +1\.90 \| +1\.10 \| HTTP 503 ×3 +\|/);
    expect(text).toContain('- jpeg: skipped: no photos for the JPEG input');
    expect(text).toContain('JPEG images (the jpeg input) decoded by: nvJPEG hardware (7 engines).\n');
    const fellBack = renderSummary(buildSummary({
      dryRun: false, parts, serve: { ...serve, imageDecoder: 'CPU workers', imageDecoderNote: 'the GPU image decoder was not in use: CPU workers (see bench.log)' },
    }));
    expect(fellBack).toContain('JPEG images (the jpeg input) decoded by: CPU workers. **the GPU image decoder was not in use: CPU workers (see bench.log).**');
    expect(text.indexOf('## Serving targets')).toBeLessThan(text.indexOf('## Targets (issue 3)'));
    expect(text).toMatch(/\| serve FP32 over HTTP ≥ 4,000 img\/s +\| met +\| met \(4200 img\/s vs 4000 img\/s asked\); at concurrency 64/);
  });

  it('measures no serving target in a dry run, and says so when the part left nothing', () => {
    const dry = buildSummary({ dryRun: true, parts: [], serve });
    expect(dry.serve.rows).toHaveLength(2); // the CPU's figures are still tabled
    expect(dry.serve.targets.every((x) => x.text === 'not measured: a dry run measures no GPU figures')).toBe(true);
    const none = buildSummary({ dryRun: false, parts: [] });
    expect(none.serve.targets.every((x) => x.text === 'not measured: the serve part left no results')).toBe(true);
    expect(renderSummary(none)).toContain('Nothing measured.');
    const skipped = buildSummary({ dryRun: false, parts: [], serve: { skipped: 'CUDA backend unavailable: no GPU' } });
    expect(skipped.checks.list).toContainEqual({ group: 'serve', name: 'serve part', skipped: 'CUDA backend unavailable: no GPU' });
    expect(skipped.serve.targets[0]!.text).toBe('not measured: CUDA backend unavailable: no GPU');
  });
});

describe('conv paths from describe()', () => {
  // As CudaExecutable::describe writes it (native/src/cuda/gpu/executable_describe.cc).
  const text = [
    'CUDA executable on device 0: float16, batch 256; weights 51462144 bytes, activations 411041792 bytes, workspace 1048576 bytes',
    'convs: 54 (50 graph API, 3 fused, 1 unfused: cudnnConvolutionForward + epilogue kernel)',
    'graph API: plans built in 812 ms',
    'float32 input: CUDA graph replay',
    'uint8 input: CUDA graph replay',
    '  conv step 1 (graph op 0): 224x224x8 -> 112x112x64, kernel 7x7, stride 2, groups 1, relu; graph API, engine 12 (runtime compiled), workspace 0 (timed ms: graph engine 12 0.0512, fused 0.07, unfused 0.09); graph API: 1 configuration(s) refused at finalize (first: engine 3: finalizing the plan: CUDNN_STATUS_NOT_SUPPORTED (3000))',
    '',
  ].join('\n');

  it('reads the counts and the graph plans\' build time', () => {
    expect(convPathsOf(text)).toEqual({ total: 54, graphApi: 50, fused: 3, unfused: 1, graphPlanMs: 812 });
    expect(pathsLine(convPathsOf(text))).toBe('54 convs: 50 graph API, 3 fused, 1 unfused (graph plans built in 812 ms)');
  });

  it('reads why the graph plans were dropped, the graph API switched off, and eager runs', () => {
    const dropped = text.replace('plans built in 812 ms', "plans built in 812 ms; the graph API's plans were not used: the forward could not be captured with them (cudaStreamEndCapture failed: cudaErrorStreamCaptureInvalidated)")
      .replace('float32 input: CUDA graph replay', 'float32 input: eager launches (capture failed: cudaGraphInstantiate failed: cudaErrorNotSupported)');
    const paths = convPathsOf(dropped)!;
    expect(paths.graphNote).toBe("the graph API's plans were not used: the forward could not be captured with them (cudaStreamEndCapture failed: cudaErrorStreamCaptureInvalidated)");
    expect(paths.eager).toBe('capture failed: cudaGraphInstantiate failed: cudaErrorNotSupported');
    expect(convPathsOf(text.replace('graph API: plans built in 812 ms', 'graph API: off (RESNET_CUDNN_GRAPH=0)'))!.graphNote).toBe('off');
    expect(convPathsOf('')).toBeUndefined();
    expect(pathsLine(undefined)).toBe('conv paths not reported');
  });
});

describe('bench: the legacy cells', () => {
  it('compile the model\'s forward graph with the graph API off, as model.forward compiles it (the CPU backend standing in)', async () => {
    lib.manualSeed(8);
    const model = lib.resnet18({ numClasses: 10 });
    const x = lib.Tensor.from(Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 32, 32]);
    const executable = await compileLegacy(lib, model, { backend: 'cpu', ordinal: 0 }, { dtype: 'float32', batch: 2, benchmark: false, image: [3, 32, 32] });
    try {
      const [out] = await executable.run(x.data as Float32Array);
      const want = (await model.forward(x)).data as Float32Array;
      expect(out).toHaveLength(2 * 10);
      expect(relativeL2(out!, want)).toBeLessThanOrEqual(1e-6);
      expect(executable.describe()).toBe(''); // the CPU backend reports no conv paths
    } finally {
      executable.dispose();
    }
  });
});

// ---- the whole script -----------------------------------------------------------------------------------

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  out: string;
  summary: any;
  summaryMd: string;
}

/** A folder whose `torch` package fails to import: prepended to PYTHONPATH, it hides any installed torch. */
function torchBlocker(): string {
  const dir = path.join(scratch, 'no-torch');
  mkdirSync(path.join(dir, 'torch'), { recursive: true });
  writeFileSync(path.join(dir, 'torch', '__init__.py'), 'raise ImportError("torch is hidden by test/gpu-check.test.ts")\n');
  return dir;
}

function runCheck(name: string, env: Record<string, string>, limitSeconds: number): Run {
  const out = path.join(scratch, name);
  const result = spawnSync('bash', [path.join(root, 'scripts', 'gpu-check.sh'), out], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: limitSeconds * 1000,
    maxBuffer: 64 * 1024 * 1024,
  });
  let summary: any;
  let summaryMd = '';
  try {
    summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    summaryMd = readFileSync(path.join(out, 'summary.md'), 'utf8');
  } catch {
    // asserted below
  }
  return { status: result.status, signal: result.signal, stdout: result.stdout, out, summary, summaryMd };
}

/** A python3 that imports torch, torchvision and numpy, or undefined. */
function pythonWithTorch(): string | undefined {
  for (const python of [process.env.GPU_CHECK_TEST_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!python) continue;
    const r = spawnSync(python, ['-c', 'import torch, torchvision, numpy'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return python;
  }
  return undefined;
}

const cuda = backendInfo().backends.cuda;
if (cuda.available) console.log('gpu-check.test.ts: this machine has a usable GPU; the no-GPU expectations below are skipped');

describe.runIf(!cuda.available)('gpu-check.sh without a GPU', () => {
  it('reports the CUDA backend unavailable with its reason, skips PyTorch cleanly, exits 0 and prints the table last', () => {
    // Every part's least time fits the budget (ops 30 + parity 20 + bench 40 + serve 40 + summary 15), so none
    // is skipped for time: each must skip for its own reason.
    const run = runCheck('plain', { PYTHONPATH: torchBlocker(), GPU_CHECK_BUDGET: '160' }, 190);
    expect(run.signal).toBeNull(); // did not hang
    expect(run.status).toBe(0);
    expect(run.summaryMd).not.toBe('');
    expect(run.stdout.trimEnd().endsWith(run.summaryMd.trimEnd())).toBe(true);
    expect(run.summaryMd.trimEnd().split('\n').at(-1)).toMatch(/^\| FP32 \(TF32 off\) logits/);

    const s = run.summary;
    expect(s.ok).toBe(true);
    expect(s.environment.ours).toEqual({ available: false, reason: cuda.available ? '' : cuda.reason });
    expect(s.checks.failed).toBe(0);
    expect(s.checks.passed).toBe(0);
    const skipped = s.checks.list.filter((c: any) => c.skipped).map((c: any) => `${c.name}: ${c.skipped}`);
    expect(skipped).toContain(`CUDA backend available: no GPU here: ${cuda.available ? '' : cuda.reason}`);
    expect(skipped.some((line: string) => line.startsWith('ops part: CUDA backend unavailable:'))).toBe(true);
    expect(skipped.some((line: string) => /^parity part: no PyTorch reference: .*torch is hidden by test\/gpu-check.test.ts/.test(line))).toBe(true);

    const parts = Object.fromEntries(s.parts.map((p: any) => [p.name, p]));
    expect(parts.env.status).toBe('ok');
    expect(parts.torch_reference).toMatchObject({ status: 'skipped' });
    expect(parts.torch_reference.note).toContain('cannot import torch');
    expect(parts.torch_bench.status).toBe('skipped');
    expect(s.environment.torch.version).toBeNull();
    expect(s.targets.every((t: any) => t.status === 'not measured')).toBe(true);
    for (const log of ['env.log', 'ops.log', 'parity.log', 'bench.log']) expect(readFileSync(path.join(run.out, log), 'utf8')).not.toBe('');
    expect(parts.serve.status).toBe('ok');
    expect(skipped.some((line: string) => line.startsWith('serve part: CUDA backend unavailable:'))).toBe(true);
    expect(readFileSync(path.join(run.out, 'bench.log'), 'utf8')).toContain('serve: skipped: CUDA backend unavailable:');
  }, 200_000);

  it('as a dry run, runs every Node part on the CPU backend and passes', () => {
    const run = runCheck('dry', {
      PYTHONPATH: torchBlocker(),
      GPU_CHECK_DRY_RUN: 'cpu',
      GPU_CHECK_BUDGET: '150',
      GPU_CHECK_VARIANTS: 'resnet18',
      GPU_CHECK_BATCHES: '1,2',
      GPU_CHECK_CELL_SECONDS: '0.2',
    }, 180);
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    expect(run.stdout.trimEnd().endsWith(run.summaryMd.trimEnd())).toBe(true);
    const s = run.summary;
    expect(s.dryRun).toBe(true);
    expect(run.summaryMd).toContain('**DRY RUN**');
    expect(s.checks.failed).toBe(0);
    const checks = s.checks.list.filter((c: any) => c.group === 'op' || c.group === 'variant');
    expect(checks.length).toBeGreaterThan(10);
    // The same backend on both sides: the comparison itself is what is rehearsed.
    for (const c of checks) {
      expect(c).toMatchObject({ passed: true, precision: 'float32' });
      expect(c.error).toBeLessThanOrEqual(1e-6);
    }
    const rows = s.bench.rows.map((r: any) => [r.dtype, r.batch, r.ours.imgPerSec > 0, r.ours.medianMs > 0]);
    expect(rows).toEqual([['float32', 1, true, true], ['float32', 2, true, true]]);
    // The serve part: its rows check, its FP32 level measured by the load generator, no target judged.
    expect(s.checks.list.find((c: any) => c.group === 'serve')).toMatchObject({ passed: true, precision: 'float32' });
    const fp32 = s.serve.rows.find((r: any) => r.kind === 'fp32');
    expect(fp32).toMatchObject({ concurrency: 4, errors: 0, unaccounted: 0, processes: 2 });
    expect(fp32.imgPerSec).toBeGreaterThan(0);
    expect(s.serve.imageDecoder).toBe('CPU workers'); // a model on the CPU: from the server's readiness line
    expect(s.serve.targets.every((t: any) => t.text === 'not measured: a dry run measures no GPU figures')).toBe(true);
    expect(run.summaryMd).toContain('## Serving targets');
  }, 190_000);
});

const torchPython = pythonWithTorch();
if (!torchPython) console.log('gpu-check.test.ts: no python3 here imports torch, torchvision and numpy: the PyTorch reference run is skipped');

describe.runIf(torchPython !== undefined && !cuda.available)('gpu-check.sh with PyTorch on the CPU', () => {
  it("hands torchvision's weights over through safetensors: our CPU logits match PyTorch's", () => {
    const run = runCheck('torch', {
      GPU_CHECK_PYTHON: torchPython!,
      GPU_CHECK_PARTS: 'torch_reference,parity',
      GPU_CHECK_REFERENCE_MODELS: 'resnet18',
      GPU_CHECK_REFERENCE_SIZE: '64',
      GPU_CHECK_BUDGET: '150',
    }, 180);
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    const s = run.summary;
    expect(s.environment.torch.version).toMatch(/^\d/);
    expect(s.torchReference).toMatchObject({ device: 'cpu', input: { shape: [4, 3, 64, 64] } });
    const parity = s.checks.list.filter((c: any) => c.group === 'torch' && !c.skipped);
    expect(parity).toHaveLength(1);
    expect(parity[0]).toMatchObject({ model: 'resnet18', device: 'cpu', precision: 'float32', passed: true });
    expect(parity[0].error).toBeLessThanOrEqual(1e-4);
    expect(parity[0].error).toBeGreaterThan(0); // two different engines: not bit-identical
  }, 190_000);
});
