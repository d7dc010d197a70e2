/**
 * `resnet bench --chart FILE.svg`: images per second by batch size, one line per engine, each point the
 * median with a bar from the 10th to the 90th percentile of the timed runs (in img/s: the slowest tenth of
 * runs gives the low end). Drawn with vega-lite compiled to vega and rendered to SVG in Node (vega's SVG
 * string renderer needs no canvas). vega and vega-lite are optional: imported only when a chart is asked
 * for, with an install hint when they are missing.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { missingPackageError, missingPackageOf } from '../missing-package.js';
import type { BenchRow } from './bench.js';

/** One plotted point: an engine at a batch size. */
export interface ChartPoint {
  engine: string;
  batch: number;
  /** The median, as in the table. */
  imgPerSec: number;
  /** img/s at the 90th percentile of the run times (the slow end of the bar). */
  imgPerSecLow: number;
  /** img/s at the 10th percentile of the run times (the fast end). */
  imgPerSecHigh: number;
  /** The point's text for screen readers and the SVG's aria-label: the table's numbers. */
  label: string;
}

/** The chart's heading: the model, dtype and device, and the CPU or GPU by name. */
export interface ChartTitle {
  text: string;
  subtitle: string;
}

/** The name of the data set in the spec (and in the vega view: `view.data(chartDataName)`). */
export const chartDataName = 'bench';

/** The points the chart plots, from the table's rows. */
export function chartPoints(rows: readonly BenchRow[]): ChartPoint[] {
  return rows.map((r) => {
    const low = (r.batch * 1000) / r.msP90;
    const high = (r.batch * 1000) / r.msP10;
    return {
      engine: r.engine,
      batch: r.batch,
      imgPerSec: r.imgPerSec,
      imgPerSecLow: low,
      imgPerSecHigh: high,
      label: `${r.engine}, batch ${r.batch}: ${r.imgPerSec.toFixed(2)} img/s (p10–p90 of runs: ${low.toFixed(2)}–${high.toFixed(2)})`,
    };
  });
}

/** The vega-lite spec of the chart (data inline, named {@link chartDataName}). */
export function chartSpec(rows: readonly BenchRow[], title: ChartTitle): Record<string, unknown> {
  const engines = [...new Set(rows.map((r) => r.engine))];
  const y = { type: 'quantitative', title: 'images per second (median; bars: p10–p90 of runs)', scale: { zero: true } };
  const color = { field: 'engine', type: 'nominal', title: 'engine', scale: { domain: engines }, sort: engines };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title.text, subtitle: title.subtitle, anchor: 'start' },
    data: { name: chartDataName, values: chartPoints(rows) },
    width: 520,
    height: 320,
    config: { font: 'sans-serif' },
    encoding: {
      x: { field: 'batch', type: 'ordinal', title: 'batch size', sort: 'ascending', axis: { labelAngle: 0 } },
      color: { ...color, legend: { labelLimit: 0 } },
    },
    layer: [
      // One line per engine (labelled with its name), its points labelled with the table's numbers.
      { mark: { type: 'line' }, encoding: { y: { field: 'imgPerSec', ...y }, description: { field: 'engine' } } },
      {
        mark: { type: 'point', filled: true, size: 50 },
        encoding: { y: { field: 'imgPerSec', ...y }, description: { field: 'label' }, tooltip: { field: 'label' } },
      },
      {
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: { y: { field: 'imgPerSecLow', ...y }, y2: { field: 'imgPerSecHigh' }, description: { field: 'label' } },
      },
    ],
  };
}

type Vega = typeof import('vega');
type VegaLite = typeof import('vega-lite');

/**
 * vega and vega-lite, imported on first use.
 * @throws MissingDependencyError saying how to install them when they are missing (`runBench` calls this before
 *   measuring anything, so a missing package costs no benchmark time).
 */
export async function loadVega(): Promise<{ vega: Vega; vegaLite: VegaLite }> {
  try {
    const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
    return { vega, vegaLite };
  } catch (cause) {
    const missing = missingPackageOf(cause);
    if (missing === null) throw cause;
    throw missingPackageError('--chart', ['vega', 'vega-lite'], missing, cause);
  }
}

/** A rendered chart and the data the vega view held when it drew it. */
export interface RenderedChart {
  svg: string;
  /** The view's copy of {@link chartDataName}: what was plotted. */
  plotted: ChartPoint[];
}

/** Renders the chart of `rows` to an SVG string (no canvas, no browser). */
export async function renderChart(rows: readonly BenchRow[], title: ChartTitle): Promise<RenderedChart> {
  const { vega, vegaLite } = await loadVega();
  const compiled = vegaLite.compile(chartSpec(rows, title) as unknown as Parameters<VegaLite['compile']>[0]);
  const view = new vega.View(vega.parse(compiled.spec), { renderer: 'none' });
  try {
    await view.runAsync();
    const plotted = (view.data(chartDataName) as ChartPoint[]).map((p) => ({ ...p }));
    return { svg: await view.toSVG(), plotted };
  } finally {
    view.finalize();
  }
}

/** Renders the chart of `rows` and writes it to `file`. */
export async function writeChart(file: string, rows: readonly BenchRow[], title: ChartTitle): Promise<RenderedChart> {
  const chart = await renderChart(rows, title);
  await writeFile(file, chart.svg);
  return chart;
}
