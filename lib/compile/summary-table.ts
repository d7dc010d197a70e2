/**
 * The text of a `summary` table, laid out as torchinfo 1.8 prints it: a 40-character layer column (wider,
 * in steps of 5, when a name needs it), 25-character value columns, `├─`/`│    └─` indents, Python's
 * number formats (`11,689,512`, `1.81`).
 * @internal
 * @module
 */
import type { ModelSummary, SummaryColumn, SummaryRow } from './summary.js';

const columnWidth = 25;
const columnTitles: Readonly<Record<SummaryColumn, string>> = { outputShape: 'Output Shape', params: 'Param #', macs: 'Mult-Adds' };

/** An integer with thousands separators, as Python's `f"{n:,}"`. */
function pyInt(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * `v` with two decimals, as Python's `f"{v:.2f}"` (with `separators`, `f"{v:,.2f}"`). Python rounds an exact
 * tie to even, `toFixed` up; with two decimals a binary double is an exact tie only at an odd multiple of 1/8.
 */
function pyFixed2(v: number, separators: boolean): string {
  let text: string;
  if (Number.isInteger(v * 8) && !Number.isInteger(v * 4)) {
    const lower = Math.floor(v * 100);
    text = ((lower % 2 === 0 ? lower : lower + 1) / 100).toFixed(2);
  } else {
    text = v.toFixed(2);
  }
  if (!separators) return text;
  const [whole, fraction] = text.split('.') as [string, string];
  return `${pyInt(Number(whole))}.${fraction}`;
}

/** torchinfo's mult-adds total: millions, billions or trillions, an integer printed without decimals. */
function pyMacs(macs: number): string {
  const [unit, value] = macs >= 1e12 ? ['T', macs / 1e12] : macs >= 1e9 ? ['G', macs / 1e9] : ['M', macs / 1e6];
  return ` (${unit}): ${Number.isInteger(value) ? pyInt(value) : pyFixed2(value, true)}`;
}

function rowName(row: SummaryRow): string {
  const indent = row.depth === 0 ? '' : row.depth === 1 ? '├─' : `${'│    '.repeat(row.depth - 1)}└─`;
  return `${indent}${row.className}${row.depth > 0 ? `: ${row.depth}-${row.depthIndex}` : ''}`;
}

function paramsCell(row: SummaryRow, atDepthLimit: boolean): string {
  if (row.params === 0) return '--';
  if (row.recursive) return '(recursive)';
  if (atDepthLimit || row.leaf) return pyInt(row.params);
  return row.ownParams > 0 ? pyInt(row.ownParams) : '--';
}

function macsCell(row: SummaryRow, atDepthLimit: boolean): string {
  if (row.macs <= 0) return '--';
  return row.leaf || atDepthLimit ? pyInt(row.macs) : '--';
}

/** The summary table for `rows` and `totals`, rows deeper than `depth` left out. */
export function formatTable(
  rows: readonly SummaryRow[],
  totals: Omit<ModelSummary, 'rows' | 'table' | 'toString'>,
  { depth, columns }: { depth: number; columns: readonly SummaryColumn[] },
): string {
  // torchinfo sizes the name column over every row, the hidden ones included.
  const longest = Math.max(0, ...rows.map((r) => `${r.className}${r.depth > 0 ? `: ${r.depth}-${r.depthIndex}` : ''}`.length + r.depth * 5 + 1));
  const nameWidth = longest >= 40 ? Math.ceil(longest / 5) * 5 : 40;
  const line = (name: string, cells: readonly string[]): string =>
    `${[name.padEnd(nameWidth), ...cells.map((c) => c.padEnd(columnWidth))].join(' ')}`.trimEnd();
  const divider = '='.repeat(columns.length * columnWidth + nameWidth);

  const out = [divider, line('Layer (type:depth-idx)', columns.map((c) => columnTitles[c])), divider];
  for (const row of rows) {
    if (row.depth > depth) continue;
    const atDepthLimit = row.depth === depth;
    const cells = columns.map((c) =>
      c === 'outputShape' ? `[${row.outputShape.join(', ')}]` : c === 'params' ? paramsCell(row, atDepthLimit) : macsCell(row, atDepthLimit),
    );
    out.push(line(rowName(row), cells));
  }
  // torchinfo 1.8 writes sizes with `:0.2f`, without thousands separators.
  const mb = (bytes: number): string => pyFixed2(bytes / 1e6, false);
  out.push(
    divider,
    `Total params: ${pyInt(totals.totalParams)}`,
    `Trainable params: ${pyInt(totals.trainableParams)}`,
    `Non-trainable params: ${pyInt(totals.nonTrainableParams)}`,
    `Total mult-adds${pyMacs(totals.totalMultAdds)}`,
    divider,
    `Input size (MB): ${mb(totals.inputBytes)}`,
    `Forward/backward pass size (MB): ${mb(totals.forwardBackwardBytes)}`,
    `Params size (MB): ${mb(totals.paramBytes)}`,
    `Estimated Total Size (MB): ${mb(totals.totalBytes)}`,
    divider,
  );
  return out.join('\n');
}
