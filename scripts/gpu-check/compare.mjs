// Comparing the subject's outputs with reference outputs: the check every parity case shares.
import { maxRelativeError, relativeL2 } from './stats.mjs';
import { toleranceOf } from './tolerances.mjs';

/**
 * Compares the outputs of one run with the reference outputs.
 * @param {Float32Array[]} got @param {Float32Array[]} want
 * @returns {{ error: number, maxRelative: number }} the worst over the outputs
 */
export function compareOutputs(got, want) {
  if (got.length !== want.length) throw new Error(`${got.length} outputs, expected ${want.length}`);
  let error = 0;
  let maxRelative = 0;
  for (let k = 0; k < want.length; k++) {
    if (got[k].length !== want[k].length) throw new Error(`output ${k} has ${got[k].length} values, expected ${want[k].length}`);
    const e = relativeL2(got[k], want[k]);
    const m = maxRelativeError(got[k], want[k]);
    error = Number.isNaN(e) || Number.isNaN(error) ? NaN : Math.max(error, e);
    maxRelative = Number.isNaN(m) || Number.isNaN(maxRelative) ? NaN : Math.max(maxRelative, m);
  }
  return { error, maxRelative };
}

/**
 * Compiles `prepared` on the subject in `precision` (with `extra` compile options, e.g. normalization)
 * and compares a run on `input` with `want`.
 * @param {any} lib @param {import('./subject.mjs').Subject} subject @param {any} prepared
 * @param {number} batch @param {string} precision @param {any} input what `run` takes, or a function of the executable giving it
 * @param {Float32Array[]} want
 * @param {Record<string, unknown>} [extra]
 * @returns {Promise<{ error: number, maxRelative: number, tolerance: number, passed: boolean, compileMs: number }>}
 */
export async function compareOnSubject(lib, subject, prepared, batch, precision, input, want, extra = {}) {
  const tolerance = toleranceOf(precision);
  const start = performance.now();
  const executable = await lib.compileGraph(prepared, { ...extra, backend: subject.backend, batch, precision, device: subject.ordinal });
  const compileMs = performance.now() - start;
  try {
    // A function builds the input from the executable (memory it allocates: allocateInput).
    const got = await executable.run(typeof input === 'function' ? input(executable) : input);
    const { error, maxRelative } = compareOutputs(got, want);
    return { error, maxRelative, tolerance, passed: error <= tolerance, compileMs };
  } finally {
    executable.dispose();
  }
}
