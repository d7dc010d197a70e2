/**
 * `resnet bench --chart`: the SVG that vega renders from the benchmark's rows, read back as XML (a strict
 * well-formedness check in test/helpers/xml.ts): one line per engine, the axis titles, the heading, and
 * points whose labels, whose positions on the y axis and whose data in the vega view are the table's medians.
 * The CLI test (bench-pytorch.test.ts) checks the same against a real run's --json rows.
 */
import { describe, expect, it } from 'vitest';
import { chartPoints, renderChart } from '../../lib/cli/bench-chart.js';
import type { BenchRow } from '../../lib/cli/bench.js';
import { findAll, parseXml, textOf, type XmlElement } from '../helpers/xml.js';

const engines = ['resnet-cudnn (cpu)', 'onnxruntime-node 1.30.0', 'pytorch 2.13.0+cpu eager', 'pytorch 2.13.0+cpu torch.compile'];
const batches = [1, 8, 32];

/** Rows as runBench makes them, with medians and spreads that differ per engine and batch. */
function rows(): BenchRow[] {
  return engines.flatMap((engine, e) =>
    batches.map((batch, b) => {
      const msMedian = (batch * 1000) / (40 + 17 * e + 23 * b + e * b * 3.3);
      const imgPerSec = (batch * 1000) / msMedian;
      return { model: 'resnet18', batch, engine, device: 'cpu', dtype: 'float32', imgPerSec, msMedian, msP10: msMedian * (0.9 - 0.01 * e), msP90: msMedian * (1.2 + 0.02 * b), gflops: 1 };
    }),
  );
}

const byRole = (root: XmlElement, role: string): XmlElement[] => findAll(root, (e) => e.attributes['aria-roledescription'] === role);

/** The y of a point mark: its transform is translate(x,y). */
function pointY(element: XmlElement): number {
  const match = /translate\(([-\d.e]+),([-\d.e]+)\)/.exec(element.attributes.transform ?? '');
  if (!match) throw new Error(`no translate in ${element.attributes.transform}`);
  return Number(match[2]);
}

describe('bench chart', () => {
  const title = { text: 'resnet18 64×64, float32 on cpu', subtitle: 'AMD EPYC 9B14 & co, 2 thread(s); img/s by batch size, medians' };

  it('is well-formed SVG with one line per engine, axis titles and the heading', async () => {
    const { svg } = await renderChart(rows(), title);
    const root = parseXml(svg);
    expect(root.name).toBe('svg');
    expect(root.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    // One line mark (in its own group of the line's path group) per engine, named by it, in the rows' order.
    const lines = byRole(root, 'line mark');
    expect(lines.map((l) => l.attributes['aria-label'])).toEqual(engines);
    const series = findAll(root, (e) => e.name === 'g' && (e.attributes.class ?? '').includes('role-mark') && e.children.some((c) => c.attributes['aria-roledescription'] === 'line mark'));
    expect(series).toHaveLength(engines.length);
    const axes = byRole(root, 'axis').map((a) => a.attributes['aria-label']);
    expect(axes).toContainEqual(expect.stringContaining("X-axis titled 'batch size' for a discrete scale with 3 values: 1, 8, 32"));
    expect(axes).toContainEqual(expect.stringContaining("Y-axis titled 'images per second (median; bars: p10–p90 of runs)'"));
    const heading = findAll(root, (e) => (e.attributes.class ?? '').includes('role-title')).map(textOf).join(' | ');
    expect(heading).toContain('resnet18 64×64, float32 on cpu');
    expect(heading).toContain('AMD EPYC 9B14 & co, 2 thread(s)'); // the & escaped and read back
    const legend = byRole(root, 'legend')[0]!;
    expect(legend.attributes['aria-label']).toContain(`4 values: ${engines.join(', ')}`);
  });

  it('plots the medians of the table: labels, data in the view and positions on the y axis', async () => {
    const table = rows();
    const { svg, plotted } = await renderChart(table, title);
    // The view's own copy of the data: the rows' medians and the p10/p90 spreads in img/s.
    expect(plotted.map((p) => [p.engine, p.batch, p.imgPerSec])).toEqual(table.map((r) => [r.engine, r.batch, r.imgPerSec]));
    plotted.forEach((p, i) => {
      expect(p.imgPerSecLow).toBe((table[i]!.batch * 1000) / table[i]!.msP90);
      expect(p.imgPerSecHigh).toBe((table[i]!.batch * 1000) / table[i]!.msP10);
      expect(p.imgPerSecLow).toBeLessThan(p.imgPerSec);
      expect(p.imgPerSecHigh).toBeGreaterThan(p.imgPerSec);
    });
    const root = parseXml(svg);
    const points = byRole(root, 'point');
    expect(points).toHaveLength(table.length);
    const labelled = points.map((p) => {
      const match = /^(.*), batch (\d+): ([\d.]+) img\/s /.exec(p.attributes['aria-label'] ?? '');
      expect(match, p.attributes['aria-label']).not.toBeNull();
      return { engine: match![1]!, batch: Number(match![2]), text: match![3]!, y: pointY(p) };
    });
    // The labels carry the table's figures as the table prints them (toFixed(2)).
    expect(labelled.map((p) => [p.engine, p.batch, p.text])).toEqual(table.map((r) => [r.engine, r.batch, r.imgPerSec.toFixed(2)]));
    // On a linear axis from zero, y is an affine function of img/s: fit it on two points, check all.
    const [a, b] = [labelled[0]!, labelled[labelled.length - 1]!];
    const [va, vb] = [table[0]!.imgPerSec, table[table.length - 1]!.imgPerSec];
    const slope = (b.y - a.y) / (vb - va);
    expect(slope).toBeLessThan(0); // faster is higher
    labelled.forEach((p, i) => expect(p.y).toBeCloseTo(a.y + slope * (table[i]!.imgPerSec - va), 6));
    // The p10–p90 bars span the spread, on the same axis.
    const bars = byRole(root, 'rule mark');
    expect(bars).toHaveLength(table.length);
    bars.forEach((bar, i) => {
      const y0 = pointY(bar);
      const y1 = y0 + Number(bar.attributes.y2);
      const [top, bottom] = [Math.min(y0, y1), Math.max(y0, y1)];
      expect(top).toBeCloseTo(a.y + slope * (plotted[i]!.imgPerSecHigh - va), 6);
      expect(bottom).toBeCloseTo(a.y + slope * (plotted[i]!.imgPerSecLow - va), 6);
    });
  });

  it('labels each point with the median and the p10–p90 spread in img/s', () => {
    const [first] = chartPoints(rows());
    expect(first!.label).toBe(`resnet-cudnn (cpu), batch 1: ${first!.imgPerSec.toFixed(2)} img/s (p10–p90 of runs: ${first!.imgPerSecLow.toFixed(2)}–${first!.imgPerSecHigh.toFixed(2)})`);
  });
});
