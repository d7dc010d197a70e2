// What the parts of the check put under test, and the knobs a rerun may turn (all optional).
import { PRECISIONS } from './tolerances.mjs';
import { describeError } from './results.mjs';

/**
 * @typedef {object} Subject  the backend the checks and benchmarks measure against our CPU backend and PyTorch
 * @property {boolean} usable
 * @property {string} [reason]     why not, when not usable
 * @property {boolean} dryRun      the CPU backend stands in for the GPU (GPU_CHECK_DRY_RUN=cpu)
 * @property {'cuda' | 'cpu'} backend
 * @property {string} device       as `module.to({ device })` takes it
 * @property {number} ordinal      as `compileGraph({ device })` takes it
 * @property {readonly string[]} precisions
 * @property {string} label
 */

/**
 * The subject for this run. Normally the CUDA backend on cuda:0, in every precision; unusable (with the
 * backend's own reason) when `backendInfo()` says CUDA is unavailable. With GPU_CHECK_DRY_RUN=cpu the CPU
 * backend stands in, float32 only: a rehearsal of the check's own code on a machine without a GPU, whose
 * figures are labelled as such and are never GPU figures.
 * @param {any} lib  the imported dist/index.js
 * @returns {Subject}
 */
export function subjectOf(lib) {
  const base = { dryRun: false, backend: /** @type {const} */ ('cuda'), device: 'cuda:0', ordinal: 0, precisions: PRECISIONS, label: 'cuda:0' };
  const dry = process.env.GPU_CHECK_DRY_RUN;
  if (dry !== undefined && dry !== '') {
    if (dry !== 'cpu') return { ...base, usable: false, reason: `GPU_CHECK_DRY_RUN=${dry}: only "cpu" is known` };
    return { usable: true, dryRun: true, backend: 'cpu', device: 'cpu', ordinal: 0, precisions: ['float32'], label: 'cpu (dry run: the CPU backend stands in for the GPU)' };
  }
  let cuda;
  try {
    cuda = lib.backendInfo().backends.cuda;
  } catch (error) {
    return { ...base, usable: false, reason: `backendInfo() failed: ${describeError(error)}` };
  }
  if (!cuda?.available) return { ...base, usable: false, reason: `CUDA backend unavailable: ${cuda?.reason ?? 'backendInfo() gave no reason'}` };
  return { ...base, usable: true, label: `cuda:0 (${cuda.deviceName})` };
}

/**
 * A comma-separated list from the environment, or `fallback` when unset or empty.
 * @param {string} name
 * @param {readonly string[]} fallback
 * @returns {string[]}
 */
export function listFromEnv(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return [...fallback];
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * A positive number from the environment, or `fallback`.
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
export function numberFromEnv(name, fallback) {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * Places `model` with `module.to` (the API under test).
 * @param {any} model @param {string} device @param {string} dtype @param {boolean} [benchmark]
 */
export function place(model, device, dtype, benchmark = false) {
  if (typeof model.to !== 'function') throw new Error('model.to() is missing from dist/: rebuild with npm run build');
  model.to({ device, dtype, benchmark });
}
