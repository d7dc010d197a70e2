// The engine's host path in the summary (issue 12 §1): bench.json's `hostPath` records as a table, and
// their targets. Pure: the records come in, records and lines go out.
import { evaluateHostPathTargets } from './targets.mjs';
import { MISSING, formatMs, formatPercent, formatRate, formatTable, oneLine } from './table.mjs';
import { numberFromJson } from './results.mjs';

/** A number read back from bench.json; NaN where there is none. @param {unknown} value */
const num = (value) => numberFromJson(value) ?? NaN;

/**
 * @param {{ dryRun: boolean; bench?: any }} inputs
 * @param {number | undefined} deviceB256ImgPerSec  the FP16 batch-256 bench cell's device-only img/s
 */
export function hostPathOf(inputs, deviceB256ImgPerSec) {
  /** @type {any[]} */
  const records = inputs.bench?.hostPath ?? [];
  const rows = records.map((r) => ({
    ...r,
    e2eImgPerSec: num(r.e2eImgPerSec), deviceImgPerSec: num(r.deviceImgPerSec), shareOfDevice: num(r.shareOfDevice),
    e2eMedianMs: num(r.e2eMedianMs), e2eP90Ms: num(r.e2eP90Ms), deviceMedianMs: r.deviceMedianMs === null ? null : num(r.deviceMedianMs),
  }));
  const why = inputs.dryRun ? 'a dry run measures no GPU figures'
    : inputs.bench === undefined ? 'the bench part left no results'
      : inputs.bench.skipped ?? (records.length === 0 ? 'the bench part did not reach the host path (its FP16 batch-256 cell)' : undefined);
  return { rows, targets: evaluateHostPathTargets(rows, deviceB256ImgPerSec, why) };
}

/**
 * The host-path section of summary.md.
 * @param {ReturnType<typeof hostPathOf>} hp
 * @returns {string[]}
 */
export function renderHostPath(hp) {
  const lines = ['', '## Engine host path: resnet50 FP16, input in engine memory (allocateInput), several runs in flight', ''];
  if (hp.rows.length > 0) {
    lines.push(formatTable(
      ['input', 'batch', 'in flight', 'e2e img/s', 'device-only img/s', 'share', 'e2e p50 ms (one at a time)', 'note'],
      hp.rows.map((r) => [
        `${r.dtype} ${String(r.layout).toUpperCase()}`, String(r.batch), String(r.inFlight),
        formatRate(r.e2eImgPerSec), formatRate(r.deviceImgPerSec), formatPercent(r.shareOfDevice),
        Number.isFinite(r.e2eMedianMs) ? formatMs(r.e2eMedianMs) : MISSING,
        oneLine(r.skipped ?? r.error ?? '', 120),
      ]),
      { align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'] },
    ));
  } else lines.push('Nothing measured.');
  lines.push('', '## Engine host-path targets (issue 12)', '');
  lines.push(formatTable(['target', 'status', 'measured'], hp.targets.map((x) => [x.label, x.status, oneLine(x.text, 300)])));
  return lines;
}
