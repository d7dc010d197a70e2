// Text formatting of the GPU check's report: number formats and one table formatter whose output is both
// a padded table on a terminal and a Markdown table in summary.md. Pure functions.

/** What a cell shows when there is no measurement. */
export const MISSING = '—';

/**
 * @param {unknown} value
 * @returns {value is number}
 */
function isNumber(value) {
  return typeof value === 'number' && !Number.isNaN(value);
}

/**
 * Milliseconds with about four significant digits: 0.812, 4.213, 42.13, 421.3.
 * @param {number | null | undefined} ms
 * @returns {string}
 */
export function formatMs(ms) {
  if (!isNumber(ms) || !Number.isFinite(ms)) return MISSING;
  if (ms >= 100) return ms.toFixed(1);
  if (ms >= 10) return ms.toFixed(2);
  return ms.toFixed(3);
}

/**
 * Images per second: whole numbers from 100 up, one decimal below.
 * @param {number | null | undefined} rate
 * @returns {string}
 */
export function formatRate(rate) {
  if (!isNumber(rate) || !Number.isFinite(rate)) return MISSING;
  return rate >= 100 ? Math.round(rate).toString() : rate.toFixed(1);
}

/**
 * A ratio as `1.52×`.
 * @param {number | null | undefined} ratio
 * @returns {string}
 */
export function formatRatio(ratio) {
  if (!isNumber(ratio) || !Number.isFinite(ratio)) return MISSING;
  return `${ratio.toFixed(2)}×`;
}

/**
 * A fraction as a percentage with one decimal: 0.3512 → `35.1%`.
 * @param {number | null | undefined} fraction
 * @returns {string}
 */
export function formatPercent(fraction) {
  if (!isNumber(fraction) || !Number.isFinite(fraction)) return MISSING;
  return `${(fraction * 100).toFixed(1)}%`;
}

/**
 * An error metric: `0`, `3.2e-6`, `NaN`, `Infinity`; missing as {@link MISSING}.
 * @param {number | string | null | undefined} error
 * @returns {string}
 */
export function formatError(error) {
  if (typeof error === 'string') return error;
  if (typeof error !== 'number') return MISSING;
  if (Number.isNaN(error)) return 'NaN';
  if (!Number.isFinite(error)) return error > 0 ? 'Infinity' : '-Infinity';
  if (error === 0) return '0';
  return error.toExponential(1);
}

/**
 * A table as padded Markdown: a header row, an alignment row, then the rows. Cells are strings; `align`
 * gives 'l' or 'r' per column (default left). Pipes inside cells are escaped.
 * @param {readonly string[]} headers
 * @param {readonly (readonly string[])[]} rows
 * @param {{ align?: readonly ('l' | 'r')[] }} [options]
 * @returns {string}
 */
export function formatTable(headers, rows, options = {}) {
  const columns = headers.length;
  for (const [index, row] of rows.entries()) {
    if (row.length !== columns) throw new RangeError(`formatTable: row ${index} has ${row.length} cells, the header ${columns}`);
  }
  const escape = (/** @type {string} */ cell) => String(cell).replaceAll('|', '\\|').replaceAll('\n', ' ');
  const header = headers.map(escape);
  const body = rows.map((row) => row.map(escape));
  const align = headers.map((_, i) => options.align?.[i] ?? 'l');
  // Three dashes at least: Markdown needs them in the alignment row.
  const widths = header.map((h, i) => Math.max(3, h.length, ...body.map((row) => row[i].length)));
  const pad = (/** @type {string} */ cell, /** @type {number} */ i) => (align[i] === 'r' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]));
  const line = (/** @type {string[]} */ cells) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

/**
 * Text on one line: its lines trimmed and joined with ' / ', cut to `max` characters with an ellipsis.
 * @param {unknown} text
 * @param {number} [max]
 * @returns {string}
 */
export function oneLine(text, max = Infinity) {
  const line = String(text)
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .join(' / ');
  return line.length > max ? `${line.slice(0, Math.max(0, max - 1))}…` : line;
}
