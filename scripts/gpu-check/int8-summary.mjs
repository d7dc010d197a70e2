// The int8 part's row of the summary (int8.mjs): its cells beside the bench part's FP16 device-only figures, the
// agreement with the CPU backend, and the GPU targets for INT8/FP8 (issue 15): batch 256 device-only
// ≥ 60,000 img/s on an H100, faster than our FP16 at every batch from 32, top-1 agreement with the CPU's int8
// ≥ 99 %. Pure: the parts' JSON in, rows and targets out.
import { formatPercent, formatRate, formatRatio } from './table.mjs';

/** The GPU goals for INT8/FP8 (issue 15, "Speed" and "Accuracy"). */
export const INT8_GOALS = Object.freeze({ deviceB256ImgPerSec: 60_000, fromBatch: 32, top1Agreement: 0.99 });

/**
 * @param {any} int8  int8.json, or undefined when the part left none
 * @param {readonly any[]} benchCells  bench.json's cells (FP16 device-only per batch)
 */
export function int8RowsOf(int8, benchCells) {
  const fp16 = (/** @type {number} */ batch) => benchCells.find((c) => c.dtype === 'float16' && c.batch === batch && !c.legacy && c.deviceImgPerSec > 0);
  return (int8?.cells ?? []).map((/** @type {any} */ c) => {
    const half = fp16(c.batch);
    return {
      batch: c.batch,
      int8DeviceImgPerSec: c.deviceImgPerSec ?? null,
      float16DeviceImgPerSec: half?.deviceImgPerSec ?? null,
      ratio: c.deviceImgPerSec > 0 && half ? c.deviceImgPerSec / half.deviceImgPerSec : null,
      error: c.error ?? c.skipped ?? null,
    };
  });
}

/**
 * @param {any} int8 @param {ReturnType<typeof int8RowsOf>} rows @param {string | undefined} why  overrides (a dry run)
 * @returns {import('./targets.mjs').Target[]}
 */
export function evaluateInt8Targets(int8, rows, why) {
  const g = INT8_GOALS;
  const rate = (/** @type {number} */ v) => `${formatRate(v)} img/s`;
  const reason = why ?? int8?.skipped ?? (int8 ? undefined : 'the int8 part left no results');
  /** @type {import('./targets.mjs').Target[]} */
  const targets = [];
  const notMeasured = (/** @type {string} */ id, /** @type {string} */ label, /** @type {number} */ goal, /** @type {string} */ text) => targets.push({ id, label, status: 'not measured', value: null, goal, shortfall: null, text: `not measured: ${text}` });
  const verdict = (/** @type {string} */ id, /** @type {string} */ label, /** @type {number} */ value, /** @type {number} */ goal, /** @type {boolean} */ met, /** @type {string} */ text) =>
    targets.push({ id, label, status: met ? 'met' : 'missed', value, goal, shortfall: met ? 0 : (goal - value) / goal, text });

  const b256Label = `INT8/FP8 batch 256 device-only ≥ ${g.deviceB256ImgPerSec.toLocaleString('en-US')} img/s`;
  const b256 = rows.find((r) => r.batch === 256);
  if (reason === undefined && b256?.int8DeviceImgPerSec) {
    const v = b256.int8DeviceImgPerSec;
    verdict('int8-device-b256', b256Label, v, g.deviceB256ImgPerSec, v >= g.deviceB256ImgPerSec, `${rate(v)} (FP16: ${b256.float16DeviceImgPerSec ? rate(b256.float16DeviceImgPerSec) : 'not measured'})`);
  } else notMeasured('int8-device-b256', b256Label, g.deviceB256ImgPerSec, reason ?? b256?.error ?? 'batch 256 was not measured');

  const fasterLabel = `INT8/FP8 faster than our FP16 at every batch from ${g.fromBatch} (device-only)`;
  const compared = rows.filter((r) => r.batch >= g.fromBatch);
  if (reason === undefined && compared.length > 0 && compared.every((r) => r.ratio !== null)) {
    const worst = compared.reduce((w, r) => (r.ratio < w.ratio ? r : w));
    const text = compared.map((r) => `b${r.batch} ${formatRatio(r.ratio)}`).join(', ');
    verdict('int8-faster-than-fp16', fasterLabel, worst.ratio, 1, worst.ratio > 1, `INT8/FP16: ${text}`);
  } else notMeasured('int8-faster-than-fp16', fasterLabel, 1, reason ?? compared.find((r) => r.ratio === null)?.error ?? (compared.length === 0 ? `no batch ≥ ${g.fromBatch} was measured` : 'an FP16 bench cell is missing'));

  const agreeLabel = `INT8 top-1 agreement with the CPU's int8 ≥ ${formatPercent(g.top1Agreement)}`;
  const agreement = int8?.agreement?.subjectInt8VsCpuInt8;
  if (reason === undefined && typeof agreement?.top1Agreement === 'number') {
    const v = agreement.top1Agreement;
    verdict('int8-top1-cpu', agreeLabel, v, g.top1Agreement, v >= g.top1Agreement, `${formatPercent(v)} of ${agreement.images} images, relative L2 ${agreement.relativeL2.toExponential(2)}; ${int8.quantization}`);
  } else notMeasured('int8-top1-cpu', agreeLabel, g.top1Agreement, reason ?? agreement?.error ?? 'no agreement was measured');
  return targets;
}
