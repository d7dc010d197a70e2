// Part "ops": our GPU backend against our CPU backend, op by op (graphs.mjs, every precision), the input
// conversion (every input form: uint8/float16/float32, NCHW/NHWC, segments, pinned memory; normalisation
// fused), concurrent runs of one executable (concurrency.mjs), then every torchvision variant at a small
// size in float32 (variants.mjs). Results go to WORK/ops.json.
import path from 'node:path';
import { OP_CASES } from './graphs.mjs';
import { mulberry32, uniformArray } from './random.mjs';
import { ResultFile, describeError } from './results.mjs';
import { toleranceOf } from './tolerances.mjs';
import { compareOnSubject } from './compare.mjs';
import { checkVariants } from './variants.mjs';
import { checkConcurrentRuns } from './concurrency.mjs';

/** The batch of the op cases: odd, so no kernel may assume pairs. */
const OP_BATCH = 3;

/**
 * Runs the op cases, then the variants, within `deadline`.
 * @param {any} lib @param {import('./subject.mjs').Subject} subject @param {string} work
 * @param {import('./results.mjs').Deadline} deadline
 */
export async function runOps(lib, subject, work, deadline) {
  const results = new ResultFile(path.join(work, 'ops.json'), { part: 'ops', subject: subject.label, dryRun: subject.dryRun });
  if (!subject.usable) {
    results.data.skipped = subject.reason;
    results.save();
    console.log(`ops: skipped: ${subject.reason}`);
    return;
  }
  const random = mulberry32(20240611);
  for (const opCase of OP_CASES) {
    if (!deadline.allows(3)) {
      results.push('checks', { group: 'op', name: opCase.name, skipped: 'out of time (the part\'s time budget)' });
      continue;
    }
    let prepared;
    let reference;
    let input;
    try {
      const graph = opCase.build();
      const perSample = graph.values[graph.input].shape.reduce((a, b) => a * b, 1);
      input = uniformArray(OP_BATCH * perSample, random);
      prepared = lib.prepareGraph(graph);
      const cpu = await lib.compileGraph(prepared, { backend: 'cpu', batch: OP_BATCH });
      try {
        reference = await cpu.run(input);
      } finally {
        cpu.dispose();
      }
    } catch (error) {
      prepared?.dispose();
      results.push('checks', { group: 'op', name: opCase.name, precision: 'float32', passed: false, message: `CPU reference failed: ${describeError(error)}` });
      console.log(`ops: FAIL ${opCase.name}: CPU reference failed: ${describeError(error)}`);
      continue;
    }
    for (const precision of subject.precisions) {
      const record = { group: 'op', name: opCase.name, precision, batch: OP_BATCH };
      try {
        const outcome = await compareOnSubject(lib, subject, prepared, OP_BATCH, precision, input, reference);
        results.push('checks', { ...record, ...outcome, metric: 'relative L2 vs our CPU backend' });
        console.log(`ops: ${outcome.passed ? 'ok  ' : 'FAIL'} ${opCase.name} ${precision}: ${outcome.error.toExponential(2)} (≤ ${outcome.tolerance})`);
      } catch (error) {
        results.push('checks', { ...record, passed: false, tolerance: toleranceOf(precision), message: describeError(error) });
        console.log(`ops: FAIL ${opCase.name} ${precision}: ${describeError(error)}`);
      }
    }
    prepared.dispose();
  }
  await checkInputConversion(lib, subject, results, deadline);
  await checkConcurrentRuns(lib, subject, results, deadline);
  await checkVariants(lib, subject, results, deadline);
}

/** torchvision's ImageNet normalisation, applied to 8-bit pixels: `(x / 255 - mean) / std`. */
const IMAGENET_NORMALIZATION = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/**
 * The input conversion (the host input in every form: uint8, float16 and float32, NCHW and NHWC, as one
 * array, as segments laid end to end, and in pinned memory the engine lent (`allocateInput`) → the device's
 * layout and dtype, normalisation fused): the stem conv compiled with normalisation (applied to every
 * dtype here), against the CPU backend fed the same pixels as uint8 NCHW (the CPU backend gives every
 * form the same output, bit for bit: test/native/input-forms.test.ts).
 * @param {any} lib @param {import('./subject.mjs').Subject} subject
 * @param {import('./results.mjs').ResultFile} results @param {import('./results.mjs').Deadline} deadline
 */
async function checkInputConversion(lib, subject, results, deadline) {
  const graph = OP_CASES[1].build(); // the stem: 3 input channels
  const random = mulberry32(4242);
  const [n, c, size] = [OP_BATCH, 3, 32];
  const pixels = Uint8Array.from({ length: n * c * size * size }, () => Math.floor(random() * 256));
  const nhwc = new Uint8Array(pixels.length);
  for (let b = 0; b < n; b++)
    for (let k = 0; k < c; k++)
      for (let p = 0; p < size * size; p++) nhwc[(b * size * size + p) * c + k] = pixels[(b * c + k) * size * size + p];
  const halves = Uint16Array.from(pixels, (v) => lib.floatToHalf(v)); // 0..255 are exact halves
  const pieces = (/** @type {Uint8Array} */ bytes) => [bytes.subarray(0, 7), bytes.subarray(7, bytes.length - 100), bytes.subarray(bytes.length - 100)];
  /** Each form as `run` takes it; a function gets the executable (for memory it allocates). */
  const inputs = /** @type {[string, any][]} */ ([
    ['uint8 NCHW', pixels],
    ['float32 NCHW', Float32Array.from(pixels)],
    ['uint8 NHWC', { data: nhwc, dtype: 'uint8', layout: 'nhwc' }],
    ['float16 NCHW', { data: halves, dtype: 'float16' }],
    ['float32 NHWC', { data: Float32Array.from(nhwc), dtype: 'float32', layout: 'nhwc' }],
    ['uint8 NHWC in 3 segments', { data: pieces(nhwc), dtype: 'uint8', layout: 'nhwc' }],
    ['uint8 NHWC in pinned memory (allocateInput)', (/** @type {any} */ executable) => {
      const lent = executable.allocateInput({ dtype: 'uint8', layout: 'nhwc' });
      lent.set(nhwc);
      return { data: lent, dtype: 'uint8', layout: 'nhwc' };
    }],
  ]);
  let reference;
  try {
    const cpu = await lib.compileGraph(graph, { backend: 'cpu', batch: OP_BATCH, normalization: IMAGENET_NORMALIZATION });
    try {
      reference = await cpu.run(pixels);
    } finally {
      cpu.dispose();
    }
  } catch (error) {
    results.push('checks', { group: 'op', name: 'input conversion', precision: 'float32', passed: false, message: `CPU reference failed: ${describeError(error)}` });
    console.log(`ops: FAIL input conversion: CPU reference failed: ${describeError(error)}`);
    return;
  }
  let prepared;
  try {
    prepared = lib.prepareGraph(graph);
    for (const [kind, input] of inputs) {
      const name = `input conversion: ${kind}, ImageNet normalisation fused (stem conv 7x7)`;
      if (!deadline.allows(3)) {
        results.push('checks', { group: 'op', name, skipped: "out of time (the part's time budget)" });
        continue;
      }
      for (const precision of subject.precisions) {
        const record = { group: 'op', name, precision, batch: OP_BATCH };
        try {
          const outcome = await compareOnSubject(lib, subject, prepared, OP_BATCH, precision, input, reference, { normalization: IMAGENET_NORMALIZATION });
          results.push('checks', { ...record, ...outcome, metric: 'relative L2 vs our CPU backend' });
          console.log(`ops: ${outcome.passed ? 'ok  ' : 'FAIL'} ${name} ${precision}: ${outcome.error.toExponential(2)} (≤ ${outcome.tolerance})`);
        } catch (error) {
          results.push('checks', { ...record, passed: false, tolerance: toleranceOf(precision), message: describeError(error) });
          console.log(`ops: FAIL ${name} ${precision}: ${describeError(error)}`);
        }
      }
    }
  } finally {
    prepared?.dispose();
  }
}
