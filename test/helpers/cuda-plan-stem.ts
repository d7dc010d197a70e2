/**
 * Test-side references for the stem's forms (native/src/cuda/plan_stem.h): where each form's filter must hold
 * each of the graph's weights (worked out here from the original tap's side: tap (ky, kx) of a conv with
 * stride b falls in tap (⌊ky/b⌋, ⌊kx/b⌋) of the space-to-depth conv, at cell position (ky mod b, kx mod b)),
 * and what a plan laid out for a form keeps of the direct plan (everything but the input value, the input
 * step's arrangement and the stem conv's geometry and filter).
 */
import { expect } from 'vitest';
import type { Graph } from '../../lib/index.js';
import { elementBytes, readElements, roundTo, type CudaPlan, type StemFormName } from './cuda-plan-reference.js';

/**
 * Rows (or columns) of the space-to-depth input for a stem of kernel k and stride s whose output has `out`
 * rows: the form's conv (kernel ⌈k/s⌉, stride 1, no padding) must give `out` rows from it.
 */
export function expectedSpaceToDepthSize(out: number, kernel: number, stride: number): number {
  return out + Math.ceil(kernel / stride) - 1;
}

/**
 * Every form's filter in the blob: aligned, sized KRSC [k_stored, kernel, stored channels], apart from every
 * conv step's entries and from each other, and holding each graph weight (rounded to the storage type) where
 * the form reads it, zero everywhere else.
 */
export function checkStemWeights(graph: Graph, plan: CudaPlan): void {
  const { stem } = plan;
  const step = plan.steps[stem.step]!;
  const op = graph.ops[step.opIndex]!;
  if (op.op !== 'conv') throw new Error(`the stem step comes from a ${op.op}`);
  const size = elementBytes(plan.storage);
  const kStored = plan.values[step.dst]!.storedChannels;
  const channels = graph.values[graph.input]!.shape[0]!;
  const [kh, kw] = op.kernel;
  // Entries of the blob: [start, end) of every conv step's filter and bias and of every form's filter.
  const entries: [number, number, string][] = [];
  plan.steps.forEach((s, i) => {
    if (s.kind !== 'conv') return;
    if (i !== stem.step) entries.push([s.filterOffset, s.filterOffset + s.filterBytes, `step ${i} filter`]);
    entries.push([s.biasOffset, s.biasOffset + s.biasBytes, `step ${i} bias`]);
  });
  for (const form of stem.forms) {
    expect(form.filterOffset % 256).toBe(0);
    expect(form.filterBytes).toBe(kStored * form.kernel[0] * form.kernel[1] * form.storedChannels * size);
    entries.push([form.filterOffset, form.filterOffset + form.filterBytes, `${form.form} filter`]);
    const expected = new Float64Array(form.filterBytes / size);
    const b = form.block;
    for (let k = 0; k < op.outChannels; k++)
      for (let ky = 0; ky < kh; ky++)
        for (let kx = 0; kx < kw; kx++)
          for (let c = 0; c < channels; c++) {
            const tap = (k * form.kernel[0] + Math.floor(ky / b)) * form.kernel[1] + Math.floor(kx / b);
            const channel = ((ky % b) * b + (kx % b)) * channels + c;
            expected[tap * form.storedChannels + channel] = roundTo(plan.storage, op.weight[((k * channels + c) * kh + ky) * kw + kx]!);
          }
    const got = readElements(plan.weightBlob, form.filterOffset, expected.length, plan.storage);
    const wrong = expected.findIndex((e, i) => got[i] !== e);
    expect(wrong, `${form.form}: filter element ${wrong} is ${got[wrong]}, expected ${expected[wrong]}`).toBe(-1);
  }
  entries.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < entries.length; i++) {
    expect(entries[i]![0], `${entries[i]![2]} overlaps ${entries[i - 1]![2]}`).toBeGreaterThanOrEqual(entries[i - 1]![1]);
  }
  expect(entries[entries.length - 1]![1]).toBeLessThanOrEqual(plan.weightBlobBytes);
}

/**
 * `laid` is `direct` laid out for `form`: the same stem record (but the choice), blob, arena and offsets; the
 * input value has the form's geometry, the input step its arrangement, the stem conv its kernel, stride,
 * padding and filter, and that conv still gives the stem's output size; nothing else differs.
 */
export function checkStemForm(direct: CudaPlan, laid: CudaPlan, form: StemFormName): void {
  const option = direct.stem.forms.find((f) => f.form === form)!;
  expect(option, `${form} is offered`).toBeDefined();
  expect(direct.stem.chosen).toBe('direct');
  expect(laid.stem).toEqual({ ...direct.stem, chosen: form });
  expect(Buffer.compare(laid.weightBlob, direct.weightBlob)).toBe(0);
  expect([laid.arenaBytes, laid.weightBlobBytes]).toEqual([direct.arenaBytes, direct.weightBlobBytes]);
  const input = laid.steps[0]!.dst;
  laid.values.forEach((v, id) => {
    if (id !== input) {
      expect(v).toEqual(direct.values[id]);
      return;
    }
    const { h, w, channels, storedChannels, bytes } = option;
    expect(v).toEqual({ ...direct.values[id]!, h, w, channels, storedChannels, bytes });
    expect(bytes).toBe(v.n * h * w * storedChannels * elementBytes(laid.storage));
    expect(bytes).toBeLessThanOrEqual(laid.stem.inputArenaBytes);
  });
  laid.steps.forEach((s, i) => {
    if (i === 0) expect(s).toEqual({ ...direct.steps[0]!, block: option.block, padding: option.inputPadding });
    else if (i === laid.stem.step) {
      const { kernel, stride, padding, filterOffset, filterBytes } = option;
      expect(s).toEqual({ ...direct.steps[i]!, kernel, stride, padding, filterOffset, filterBytes });
      const out = laid.values[s.dst]!;
      expect(Math.floor((option.h + 2 * padding[0] - kernel[0]) / stride[0]) + 1).toBe(out.h);
      expect(Math.floor((option.w + 2 * padding[1] - kernel[1]) / stride[1]) + 1).toBe(out.w);
    } else expect(s).toEqual(direct.steps[i]);
  });
}
