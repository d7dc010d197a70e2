// Every torchvision variant, lowered as the library lowers it, on the subject against our CPU backend:
// float32, batch 2, a small image, random weights with non-trivial BatchNorm statistics.
import { mulberry32, uniformArray } from './random.mjs';
import { describeError } from './results.mjs';
import { listFromEnv, numberFromEnv } from './subject.mjs';
import { compareOnSubject } from './compare.mjs';

/**
 * Millions of parameters (DESIGN.md), cheapest first so that a short budget still covers the most
 * variants. Building, lowering and compiling a variant takes time about in proportion.
 */
export const VARIANT_MPARAMS = {
  resnet18: 11.7, resnet34: 21.8, resnet50: 25.6, resnext50_32x4d: 25.0, resnet101: 44.5, wide_resnet50_2: 68.9,
  resnet152: 60.2, resnext101_64x4d: 83.5, resnext101_32x8d: 88.8, wide_resnet101_2: 126.9,
};
export const VARIANTS_BY_COST = Object.keys(VARIANT_MPARAMS);

/** Seconds per million parameters assumed before the first variant has been timed (a slow machine's). */
const DEFAULT_SECONDS_PER_MPARAM = 0.3;

const BATCH = 2;

/**
 * Gives every BatchNorm non-trivial statistics and affine parameters (torchvision's init makes BN nearly
 * the identity, which would leave the folding into the convs untested). As test/helpers/helpers.ts does.
 * @param {any} model @param {number} seed
 */
export function randomizeBatchNorms(model, seed) {
  const random = mulberry32(seed);
  for (const [, m] of model.namedModules()) {
    if (m.constructor.name !== 'BatchNorm2d') continue;
    const fill = (/** @type {{ data: Float32Array }} */ t, /** @type {number} */ lo, /** @type {number} */ hi) => {
      for (let i = 0; i < t.data.length; i++) t.data[i] = lo + (hi - lo) * random();
    };
    fill(m.weight, 0.5, 1.5);
    fill(m.bias, -0.2, 0.2);
    fill(m.runningMean, -0.2, 0.2);
    fill(m.runningVar, 0.5, 2);
  }
  model.markWeightsChanged();
}

/**
 * The variants to check: GPU_CHECK_VARIANTS or all, cheapest first; a model the library lists that is not
 * in {@link VARIANTS_BY_COST} is checked last rather than missed.
 * @param {any} lib
 * @returns {string[]}
 */
export function variantsToCheck(lib) {
  const known = lib.listModels();
  const ordered = [...VARIANTS_BY_COST.filter((n) => known.includes(n)), ...known.filter((/** @type {string} */ n) => !VARIANTS_BY_COST.includes(n))];
  const wanted = listFromEnv('GPU_CHECK_VARIANTS', ordered);
  return ordered.filter((n) => wanted.includes(n));
}

/**
 * @param {any} lib @param {import('./subject.mjs').Subject} subject
 * @param {import('./results.mjs').ResultFile} results @param {import('./results.mjs').Deadline} deadline
 */
export async function checkVariants(lib, subject, results, deadline) {
  const size = numberFromEnv('GPU_CHECK_VARIANT_SIZE', 64);
  const random = mulberry32(7);
  let secondsPerMparam = DEFAULT_SECONDS_PER_MPARAM;
  for (const [index, name] of variantsToCheck(lib).entries()) {
    const record = { group: 'variant', name: `${name} ${size}×${size}`, precision: 'float32', batch: BATCH };
    // Started only when it should finish in time, judged by the variants timed so far: a part killed at
    // its limit loses the check in flight.
    const mparams = /** @type {Record<string, number>} */ (VARIANT_MPARAMS)[name] ?? 130;
    const estimate = 3 + 1.3 * secondsPerMparam * mparams;
    if (!deadline.allows(estimate)) {
      results.push('checks', { ...record, skipped: `out of time (the part's time budget: ${Math.max(0, deadline.left()).toFixed(0)} s left, about ${estimate.toFixed(0)} s needed)` });
      console.log(`variants: skipped ${name}: out of time`);
      continue;
    }
    const start = performance.now();
    let prepared;
    try {
      lib.manualSeed(1000 + index);
      const model = lib.getModel(name);
      randomizeBatchNorms(model, 2000 + index);
      prepared = lib.prepareGraph(lib.lower(lib.Tracer.trace(model, [3, size, size])));
      const input = uniformArray(BATCH * 3 * size * size, random);
      const cpu = await lib.compileGraph(prepared, { backend: 'cpu', batch: BATCH });
      let reference;
      try {
        reference = await cpu.run(input);
      } finally {
        cpu.dispose();
      }
      const outcome = await compareOnSubject(lib, subject, prepared, BATCH, 'float32', input, reference);
      results.push('checks', { ...record, ...outcome, metric: 'relative L2 of the logits vs our CPU backend' });
      console.log(`variants: ${outcome.passed ? 'ok  ' : 'FAIL'} ${name}: ${outcome.error.toExponential(2)} (≤ ${outcome.tolerance})`);
    } catch (error) {
      results.push('checks', { ...record, passed: false, tolerance: 1e-4, message: describeError(error) });
      console.log(`variants: FAIL ${name}: ${describeError(error)}`);
    } finally {
      prepared?.dispose();
    }
    secondsPerMparam = Math.max(index === 0 ? 0 : secondsPerMparam, (performance.now() - start) / 1000 / mparams);
  }
}
