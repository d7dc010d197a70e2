// Part "bench": resnet50 on the subject through the public API, end to end (float32 host tensor in →
// `model.forward` → float32 host tensor out), one forward in flight, per (dtype, batch). Each cell: the
// first forward (compile, plan, capture) timed on its own, a warm-up, then timed forwards until the cell's
// share of the budget is spent: iterations chosen by time, not count. The convolution algorithms are
// timed when compiling (`benchmark: true`), as PyTorch's side runs with cudnn.benchmark=True;
// GPU_CHECK_OURS_BENCHMARK=0 leaves them to the heuristics. Each cell records the paths its convs took
// (cuDNN graph API, legacy fused call, conv + epilogue kernel: `lastForwardStats(model).describe()`). Then
// the legacy cells (GPU_CHECK_LEGACY_CELLS, default float16 at batch 1 and 256) run again with the graph
// API off (compileGraph's `cudnn: { graphApi: false }`, see compileLegacy), so the table shows what it
// changed. Results go to WORK/bench.json.
import path from 'node:path';
import { mulberry32, uniformArray } from './random.mjs';
import { ResultFile, describeError } from './results.mjs';
import { imagesPerSecond, summarizeTimes } from './stats.mjs';
import { convPathsOf, pathsLine } from './paths.mjs';
import { listFromEnv, numberFromEnv, place } from './subject.mjs';
import { HOST_PATH_CASES, measureHostPath } from './host-path.mjs';

const IMAGE = [3, 224, 224];

/**
 * The cells in the order they run: the targets' dtype first, and within a dtype batch 1 and 256 (the
 * targets' batches) before the others.
 * @param {readonly string[]} dtypes @param {readonly number[]} batches
 * @returns {{ dtype: string, batch: number }[]}
 */
export function benchCells(dtypes, batches) {
  const rank = (/** @type {number} */ b) => (b === 1 ? 0 : b === 256 ? 1 : 2);
  const orderedBatches = [...batches].sort((a, b) => rank(a) - rank(b) || a - b);
  return dtypes.flatMap((dtype) => orderedBatches.map((batch) => ({ dtype, batch })));
}

/**
 * Times `run` for about `seconds` after `warmupSeconds` of warm-up: at least `minIterations` timed runs,
 * and never past `hardSeconds` in all.
 * @param {() => Promise<unknown>} run
 * @param {{ seconds: number, warmupSeconds: number, minIterations: number, hardSeconds: number }} limits
 * @returns {Promise<number[]>} milliseconds per run
 */
export async function timeRuns(run, limits) {
  const begin = performance.now();
  const elapsed = () => (performance.now() - begin) / 1000;
  for (let i = 0; i < 2 || elapsed() < limits.warmupSeconds; i++) {
    if (elapsed() > limits.hardSeconds / 2) break;
    await run();
  }
  const times = [];
  const timedBegin = performance.now();
  while (times.length < limits.minIterations || (performance.now() - timedBegin) / 1000 < limits.seconds) {
    if (elapsed() > limits.hardSeconds && times.length > 0) break;
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return times;
}

/**
 * A legacy cell's executable: `model`'s forward graph compiled with cuDNN's graph API off (`module.to` has no
 * such option, so the graph is traced and compiled here, as `model.forward` would compile it). Its `run` takes
 * the input's float32 data and returns the output arrays.
 * @param {any} lib @param {any} model @param {{ backend: string, ordinal: number }} subject
 * @param {{ dtype: string, batch: number, benchmark: boolean, image: readonly number[] }} cell
 * @returns {Promise<any>} an Executable
 */
export async function compileLegacy(lib, model, subject, { dtype, batch, benchmark, image }) {
  return lib.compileGraph(lib.lower(lib.Tracer.trace(model, image)), {
    backend: subject.backend,
    device: subject.ordinal,
    batch,
    precision: dtype,
    ...(benchmark ? { benchmark } : {}),
    cudnn: { graphApi: false },
  });
}

/**
 * @param {any} lib @param {import('./subject.mjs').Subject} subject @param {string} work
 * @param {import('./results.mjs').Deadline} deadline
 */
export async function runBench(lib, subject, work, deadline) {
  const results = new ResultFile(path.join(work, 'bench.json'), { part: 'bench', subject: subject.label, dryRun: subject.dryRun, model: 'resnet50', image: IMAGE });
  if (!subject.usable) {
    results.data.skipped = subject.reason;
    results.save();
    console.log(`bench: skipped: ${subject.reason}`);
    return;
  }
  const dtypes = listFromEnv('GPU_CHECK_DTYPES', subject.dryRun ? ['float32'] : ['float16', 'bfloat16', 'tf32', 'float32']);
  const batches = listFromEnv('GPU_CHECK_BATCHES', subject.dryRun ? ['1', '2'] : ['1', '8', '32', '128', '256']).map(Number);
  const maxCellSeconds = numberFromEnv('GPU_CHECK_CELL_SECONDS', subject.dryRun ? 0.3 : 0.8);
  const benchmark = process.env.GPU_CHECK_OURS_BENCHMARK !== '0';
  const cells = benchCells(dtypes, batches);
  // The host path (host-path.mjs) runs in the dtype of the targets, FP16 (the dry run's float32 on the CPU).
  const hostDtype = dtypes.includes('float16') ? 'float16' : dtypes[0];
  results.data.cellsPlanned = cells.length;
  results.data.benchmark = benchmark;
  /** Dtypes whose algorithm search failed once: their later cells go straight to the heuristics. */
  const searchFailed = new Set();

  lib.manualSeed(50);
  const model = lib.getModel('resnet50');
  const random = mulberry32(99);
  /** @type {Map<number, any>} */
  const inputs = new Map();
  const inputOf = (/** @type {number} */ batch) => {
    let x = inputs.get(batch);
    if (!x) inputs.set(batch, (x = lib.Tensor.from(uniformArray(batch * 3 * 224 * 224, random, 0, 1), [batch, ...IMAGE])));
    return x;
  };

  /**
   * One cell: the first forward (compile) timed alone, then timed forwards for `seconds`. With `legacy`, the
   * graph API is off for its compile (compileLegacy; the model's own executables are dropped first, freeing
   * their GPU memory).
   * @param {{ dtype: string, batch: number }} record @param {number} seconds @param {number} share @param {boolean} legacy
   */
  const measureCell = async (record, seconds, share, legacy) => {
    const { dtype, batch } = record;
    const label = `${dtype} b${batch}${legacy ? ' (legacy API only)' : ''}`;
    /** The legacy cell's executable, disposed at the end of the cell. */
    let executable;
    try {
      const x = inputOf(batch);
      /** The output of the last forward: a Tensor, or for a legacy cell the executable's first output array. */
      let last;
      let tuned = benchmark && !searchFailed.has(dtype);
      if (legacy) place(model, 'cpu', 'float32'); // drops the model's executables, and their GPU memory
      /** What the first forward compiles: the model's placement (it compiles when run), or the legacy executable. */
      const compile = async () => {
        if (legacy) executable = await compileLegacy(lib, model, subject, { dtype, batch, benchmark: tuned, image: IMAGE });
        else place(model, subject.device, dtype, tuned);
      };
      const forward = legacy
        ? async () => {
          last = (await executable.run(x.data))[0];
        }
        : async () => {
          last = await model.forward(x);
        };
      const described = () => (legacy ? executable.describe() : lib.lastForwardStats?.(model)?.describe?.());
      const deviceMsOfLast = () => (legacy ? executable.lastRunDeviceMs : lib.lastForwardStats?.(model)?.deviceMs ?? -1);
      let firstStart = performance.now();
      try {
        await compile();
        await forward();
      } catch (error) {
        if (!tuned) throw error;
        // A failure of the algorithm search is a finding of its own; the heuristics still give a number.
        results.push('cells', { ...record, ...(legacy ? { legacy: true } : {}), benchmark: true, error: describeError(error) });
        console.log(`bench: ${label} with benchmark: true FAILED: ${describeError(error)}; again with the heuristics`);
        tuned = false;
        searchFailed.add(dtype);
        executable?.dispose();
        executable = undefined;
        firstStart = performance.now();
        await compile();
        await forward();
      }
      const firstMs = performance.now() - firstStart;
      const description = described();
      const paths = convPathsOf(description);
      /** GPU time of each timed forward (CUDA events, input copy excluded), as PyTorch's device-only timing. */
      const deviceTimes = [];
      const timed = async () => {
        await forward();
        const measured = deviceMsOfLast();
        if (measured >= 0) deviceTimes.push(measured);
      };
      const times = await timeRuns(timed, { seconds, warmupSeconds: Math.min(0.3, seconds / 2), minIterations: 5, hardSeconds: Math.max(3 * seconds, share) });
      const stats = summarizeTimes(times);
      const deviceMs = deviceTimes.length > 0 ? summarizeTimes(deviceTimes).medianMs : undefined;
      const data = /** @type {Float32Array} */ (legacy ? last : /** @type {{ data: Float32Array }} */ (last).data);
      const finite = data.every(Number.isFinite);
      const cell = { ...record, ...(legacy ? { legacy: true } : {}), benchmark: tuned, ...stats, imgPerSec: imagesPerSecond(batch, stats.medianMs), firstMs, finite, ...(deviceMs === undefined ? {} : { deviceMs, deviceImgPerSec: imagesPerSecond(batch, deviceMs) }), ...(paths ? { paths } : {}) };
      results.push('cells', cell);
      console.log(`bench: ${label}: ${stats.medianMs.toFixed(3)} ms median, p90 ${stats.p90Ms.toFixed(3)}, ${cell.imgPerSec.toFixed(1)} img/s (${stats.iterations} runs; first ${firstMs.toFixed(0)} ms)${deviceMs === undefined ? '' : `; device-only ${deviceMs.toFixed(3)} ms median, ${cell.deviceImgPerSec.toFixed(1)} img/s`}${finite ? '' : ' NON-FINITE OUTPUT'}; ${pathsLine(paths)}`);
      // The whole choice, once per dtype and batch: which engine each conv took, and what each path measured.
      if (description) console.log(`bench: ${label}: what compiling chose:\n${description}`);
    } catch (error) {
      results.push('cells', { ...record, ...(legacy ? { legacy: true } : {}), error: describeError(error) });
      console.log(`bench: ${label}: FAILED: ${describeError(error)}`);
    } finally {
      executable?.dispose();
    }
  };

  const legacyCells = subject.dryRun ? [] : listFromEnv('GPU_CHECK_LEGACY_CELLS', ['float16:1', 'float16:256']).map((text) => {
    const [dtype, batch] = text.split(':');
    return { dtype: dtype ?? '', batch: Number(batch) };
  }).filter((c) => cells.some((m) => m.dtype === c.dtype && m.batch === c.batch));
  results.data.legacyCellsPlanned = legacyCells.length;
  // The legacy cells run right after their counterparts (the targets' cells, first in the order), before the
  // budget thins out: they are what tells whether the graph API paid.
  const lastCounterpart = Math.max(-1, ...legacyCells.map((l) => cells.findIndex((m) => m.dtype === l.dtype && m.batch === l.batch)));
  const allCells = [
    ...cells.slice(0, lastCounterpart + 1).map((c) => ({ ...c, legacy: false })),
    ...legacyCells.map((c) => ({ ...c, legacy: true })),
    ...cells.slice(lastCounterpart + 1).map((c) => ({ ...c, legacy: false })),
  ];
  for (const [index, { dtype, batch, legacy }] of allCells.entries()) {
    const record = { dtype, batch };
    // Each remaining cell gets an equal share; a cell needs ~2 s beyond its timing (first forward, warm-up).
    const share = (deadline.left() - 2) / (allCells.length - index);
    if (share < 1.5) {
      results.push('cells', { ...record, ...(legacy ? { legacy: true } : {}), skipped: "out of time (the part's time budget)" });
      console.log(`bench: skipped ${dtype} b${batch}${legacy ? ' (legacy API only)' : ''}: out of time`);
      continue;
    }
    const seconds = Math.min(maxCellSeconds, Math.max(0.2, (share - 1.2) * 0.6));
    await measureCell(record, seconds, share, legacy);
    // The host path right after the target dtype's largest batch, while the model is placed for it.
    if (!legacy && dtype === hostDtype && batch === Math.max(...batches) && !results.data.hostPath) {
      const cases = subject.dryRun ? HOST_PATH_CASES.map((c) => ({ ...c, batch: Math.min(c.batch, 2) })) : HOST_PATH_CASES;
      // Its share of what is left, a quarter at most: the other cells still have to run.
      const hostEnd = performance.now() / 1000 + Math.max(6, deadline.left() / 4);
      const hostDeadline = { left: () => Math.min(deadline.left() - 2, hostEnd - performance.now() / 1000) };
      results.data.hostPath = await measureHostPath(lib, model, hostDeadline, { seconds: Math.min(maxCellSeconds, 0.8) }, cases);
      results.save();
    }
  }
  try {
    place(model, 'cpu', 'float32');
  } catch {
    // recorded with the cells
  }
}
