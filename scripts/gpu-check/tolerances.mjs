// The numbers the GPU check holds results to (issue 3: "FP32 with TF32 off ≤ 1e-4; FP16 ≤ 2e-2 and BF16
// ≤ 6e-2 against the FP32 reference", relative L2).

/**
 * Relative L2 error allowed against a float32 reference, by the precision the GPU computed in. TF32 is not
 * in the issue; it gets float16's bound because both feed the tensor cores a 10-bit mantissa.
 * @type {Readonly<Record<'float32' | 'tf32' | 'float16' | 'bfloat16', number>>}
 */
export const TOLERANCES = Object.freeze({ float32: 1e-4, tf32: 2e-2, float16: 2e-2, bfloat16: 6e-2 });

/** The precisions of the CUDA backend, in the order the checks run them. */
export const PRECISIONS = Object.freeze(/** @type {const} */ (['float32', 'tf32', 'float16', 'bfloat16']));

/**
 * The tolerance for `precision`.
 * @param {string} precision
 * @returns {number}
 */
export function toleranceOf(precision) {
  const tolerance = /** @type {Record<string, number>} */ (TOLERANCES)[precision];
  if (tolerance === undefined) throw new RangeError(`no tolerance for precision ${JSON.stringify(precision)}`);
  return tolerance;
}
