// Part "int8": resnet50 quantized, compiled at precision 'int8' on the subject (on the GPU: FP8 E4M3 convs on
// Hopper, native/src/cuda/plan_fp8.h), against the issue's GPU target: device-only img/s at batch 32…256 (≥ 60,000
// img/s at 256 on an H100, faster than our FP16 from batch 32: the summary sets them beside the bench part's FP16
// cells of the same model), and top-1 agreement of its logits with the CPU backend's int8 on the same images (and,
// for scale, with float32).
//
// The quantization is MADE UP (int8-graph.mjs: ranges of one float32 run on uniform images, weight scales
// max|w|/127), not quantize()'s: results.json says so (`quantization`). Agreement between two engines running the
// same quantized graph does not depend on how good the scales are. Results go to WORK/int8.json; a compile that
// refuses (a backend without int8, a GPU older than Hopper) is recorded with its error, not a failure of the part.
import path from 'node:path';
import { timeRuns } from './bench.mjs';
import { quantizeWithRanges, valueRanges, weightRounding } from './int8-graph.mjs';
import { mulberry32, uniformArray } from './random.mjs';
import { ResultFile, describeError } from './results.mjs';
import { imagesPerSecond, summarizeTimes } from './stats.mjs';
import { listFromEnv, numberFromEnv } from './subject.mjs';

const IMAGE = [3, 224, 224];
const PIXELS = 3 * 224 * 224;

/** Top-1 agreement and relative L2 of two [n, classes] logit arrays. */
export function agreementOf(/** @type {Float32Array} */ a, /** @type {Float32Array} */ b, /** @type {number} */ n) {
  const classes = a.length / n;
  const argmax = (/** @type {Float32Array} */ x, /** @type {number} */ i) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (x[i * classes + c] > x[i * classes + best]) best = c;
    return best;
  };
  let same = 0;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) if (argmax(a, i) === argmax(b, i)) same++;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return { images: n, top1Agreement: same / n, relativeL2: Math.sqrt(diff / norm) };
}

/**
 * @param {any} lib @param {import('./subject.mjs').Subject} subject @param {string} work
 * @param {import('./results.mjs').Deadline} deadline
 */
export async function runInt8(lib, subject, work, deadline) {
  const results = new ResultFile(path.join(work, 'int8.json'), { part: 'int8', subject: subject.label, dryRun: subject.dryRun, model: 'resnet50', image: IMAGE });
  if (!subject.usable) {
    results.data.skipped = subject.reason;
    results.save();
    console.log(`int8: skipped: ${subject.reason}`);
    return;
  }
  const batches = listFromEnv('GPU_CHECK_INT8_BATCHES', subject.dryRun ? ['1', '2'] : ['256', '32', '64', '128']).map(Number);
  const agreeBatch = subject.dryRun ? 2 : 64;
  const calibrationBatch = subject.dryRun ? 1 : 8;
  const maxCellSeconds = numberFromEnv('GPU_CHECK_CELL_SECONDS', subject.dryRun ? 0.3 : 0.8);
  const on = { backend: subject.backend, device: subject.ordinal };
  results.data.quantization = `made up: value ranges of one float32 run on ${calibrationBatch} uniform image(s), weight scales max|w|/127 per channel (scripts/gpu-check/int8-graph.mjs), not quantize()`;

  lib.manualSeed(50);
  const graph = lib.lower(lib.Tracer.trace(lib.getModel('resnet50'), IMAGE));
  const random = mulberry32(99);
  const ranges = await valueRanges(lib, graph, { ...on, precision: 'float32' }, calibrationBatch, uniformArray(calibrationBatch * PIXELS, random, 0, 1));
  const quantized = quantizeWithRanges(graph, ranges, await weightRounding());
  results.save();

  // Correctness: the subject's int8 against the CPU's int8 (and both against the CPU's float32).
  const images = uniformArray(agreeBatch * PIXELS, random, 0, 1);
  /** @type {Record<string, Float32Array | { error: string }>} */
  const logits = {};
  for (const [name, target, precision, g] of /** @type {const} */ ([
    ['subjectInt8', on, 'int8', quantized],
    ['cpuInt8', { backend: 'cpu' }, 'int8', quantized],
    ['cpuFloat32', { backend: 'cpu' }, 'float32', graph],
  ])) {
    try {
      const executable = await lib.compileGraph(g, { ...target, precision, batch: agreeBatch });
      try {
        logits[name] = (await executable.run(images))[0];
      } finally {
        executable.dispose();
      }
    } catch (error) {
      logits[name] = { error: describeError(error) };
    }
  }
  const compare = (/** @type {string} */ a, /** @type {string} */ b) => {
    const [x, y] = [logits[a], logits[b]];
    if (!(x instanceof Float32Array)) return { error: `${a}: ${x?.error}` };
    if (!(y instanceof Float32Array)) return { error: `${b}: ${y?.error}` };
    return agreementOf(x, y, agreeBatch);
  };
  results.data.agreement = { subjectInt8VsCpuInt8: compare('subjectInt8', 'cpuInt8'), subjectInt8VsCpuFloat32: compare('subjectInt8', 'cpuFloat32'), cpuInt8VsCpuFloat32: compare('cpuInt8', 'cpuFloat32') };
  results.save();
  console.log(`int8: agreement over ${agreeBatch} images: ${JSON.stringify(results.data.agreement)}`);

  // Speed: device-only (CUDA events) per batch; FP16 is the bench part's.
  const cells = batches.map((batch) => ({ dtype: 'int8', batch }));
  results.data.cellsPlanned = cells.length;
  for (const [index, cell] of cells.entries()) {
    const share = (deadline.left() - 2) / (cells.length - index);
    if (share < 1.5) {
      results.push('cells', { ...cell, skipped: "out of time (the part's time budget)" });
      continue;
    }
    let executable;
    try {
      const started = performance.now();
      executable = await lib.compileGraph(quantized, { ...on, precision: cell.dtype, batch: cell.batch });
      const input = uniformArray(cell.batch * PIXELS, random, 0, 1);
      await executable.run(input);
      const firstMs = performance.now() - started;
      /** @type {number[]} */
      const deviceTimes = [];
      const times = await timeRuns(async () => {
        await executable.run(input);
        if (executable.lastRunDeviceMs >= 0) deviceTimes.push(executable.lastRunDeviceMs);
      }, { seconds: Math.min(maxCellSeconds, Math.max(0.2, (share - 1.2) * 0.6)), warmupSeconds: 0.2, minIterations: 5, hardSeconds: share });
      const stats = summarizeTimes(times);
      const deviceMs = deviceTimes.length > 0 ? summarizeTimes(deviceTimes).medianMs : undefined;
      const record = { ...cell, ...stats, imgPerSec: imagesPerSecond(cell.batch, stats.medianMs), firstMs, ...(deviceMs === undefined ? {} : { deviceMs, deviceImgPerSec: imagesPerSecond(cell.batch, deviceMs) }) };
      results.push('cells', record);
      console.log(`int8: ${cell.dtype} b${cell.batch}: ${stats.medianMs.toFixed(3)} ms median, ${record.imgPerSec.toFixed(1)} img/s${deviceMs === undefined ? '' : `; device-only ${deviceMs.toFixed(3)} ms, ${record.deviceImgPerSec?.toFixed(1)} img/s`}`);
    } catch (error) {
      results.push('cells', { ...cell, error: describeError(error) });
      console.log(`int8: ${cell.dtype} b${cell.batch}: FAILED: ${describeError(error)}`);
    } finally {
      executable?.dispose();
    }
  }
}
