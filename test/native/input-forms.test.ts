/**
 * The input forms a run takes (the CPU backend here; the CUDA backend's input kernel is the same per-element
 * function, checked in cuda-kernels.test.ts): uint8 and float16 as well as float32, NCHW and NHWC, a batch as
 * several arrays laid end to end, memory lent to runs (allocated by the engine, or registered) read in
 * place, and a normalisation that applies to some dtypes only. The reference is the float32 NCHW run of the
 * same executable on values this file converts itself, in plain JS.
 */
import { describe, expect, it } from 'vitest';
import {
  Tensor, compileGraph, floatToHalf, registerHostMemory, resnet18, allocateHostMemory, type InputDType, type InputLayout,
} from '../../lib/index.js';
import { loadNative } from '../../lib/runtime/native.js';
import type { Graph } from '../../lib/compile/graph.js';
import { convStack } from '../helpers/graph-builders.js';
import { codeOf, rng } from '../helpers/helpers.js';

const [n, c, h, w] = [3, 3, 9, 7];
const elements = n * c * h * w;

/** Pixels 0..255, NHWC, seeded. */
function pixelsNhwc(seed: number): Uint8Array {
  const random = rng(seed);
  return Uint8Array.from({ length: elements }, () => Math.floor(random() * 256));
}

/** The same values reordered from [n, h, w, c] to [n, c, h, w]. */
function toNchw<T extends Uint8Array | Float32Array | Uint16Array>(nhwc: T): T {
  const out = new (nhwc.constructor as new (length: number) => T)(nhwc.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = nhwc[((b * h + y) * w + x) * c + k]!;
  return out;
}

/** A stem conv then a 3x3 conv and a pool: every input element reaches the output. */
function smallGraph(): Graph {
  const g = convStack(2, 8, 9);
  // convStack makes square inputs; this file uses 9×7 to catch a swapped H and W.
  return { ...g, values: [{ shape: [c, h, w] }, { shape: [8, h, w] }, { shape: [8, h, w] }, ...g.values.slice(3)] };
}

async function run(executable: Awaited<ReturnType<typeof compileGraph>>, data: ArrayBufferView | ArrayBufferView[], dtype: InputDType, layout: InputLayout) {
  return (await executable.run({ data, dtype, layout }))[0]!;
}

describe('run input forms (CPU backend)', () => {
  it('uint8, float16 and float32, NCHW and NHWC, give the float32 NCHW logits bit for bit', async () => {
    const executable = await compileGraph(smallGraph(), { backend: 'cpu', batch: n, threads: 1 });
    const pixels = pixelsNhwc(1);
    const reference = (await executable.run(Float32Array.from(toNchw(pixels))))[0]!;
    const halves = Uint16Array.from(pixels, (p) => floatToHalf(p)); // integers 0..255 are exact halves
    const forms: [string, ArrayBufferView, InputDType, InputLayout][] = [
      ['uint8 nhwc', pixels, 'uint8', 'nhwc'],
      ['uint8 nchw', toNchw(pixels), 'uint8', 'nchw'],
      ['float16 nhwc', halves, 'float16', 'nhwc'],
      ['float16 nchw', toNchw(halves), 'float16', 'nchw'],
      ['float32 nhwc', Float32Array.from(pixels), 'float32', 'nhwc'],
    ];
    for (const [what, data, dtype, layout] of forms) expect(Array.from(await run(executable, data, dtype, layout)), what).toEqual(Array.from(reference));
    executable.dispose();
  });

  it('float16 inputs are read as halves, not as their bits', async () => {
    const executable = await compileGraph(smallGraph(), { backend: 'cpu', batch: n, threads: 1 });
    const random = rng(7);
    const values = Float32Array.from({ length: elements }, () => random() * 4 - 2);
    const halves = Uint16Array.from(values, (v) => floatToHalf(v));
    const rounded = Float32Array.from(halves, (bits) => Tensor.from(Uint16Array.of(bits), [1], 'float16').toFloat32().data[0]!);
    const expected = (await executable.run(rounded))[0]!;
    expect(Array.from(await run(executable, halves, 'float16', 'nchw'))).toEqual(Array.from(expected));
    executable.dispose();
  });

  it('a batch given as several arrays laid end to end equals the same batch in one array', async () => {
    const executable = await compileGraph(smallGraph(), { backend: 'cpu', batch: n, threads: 1 });
    const pixels = pixelsNhwc(2);
    const whole = await run(executable, pixels, 'uint8', 'nhwc');
    const image = h * w * c;
    // Cut inside an image and across images; one piece is a view into a larger buffer at an odd offset.
    const padded = new Uint8Array(pixels.length + 5);
    padded.set(pixels, 3);
    const pieces = [pixels.subarray(0, 5), padded.subarray(3 + 5, 3 + image + 17), pixels.subarray(image + 17)];
    expect(Array.from(await run(executable, pieces, 'uint8', 'nhwc'))).toEqual(Array.from(whole));
    // Float32 as bytes (Uint8Array views) and as Float32Arrays.
    const floats = Float32Array.from(toNchw(pixels));
    const bytes = new Uint8Array(floats.buffer);
    const reference = (await executable.run(floats))[0]!;
    expect(Array.from(await run(executable, [bytes.subarray(0, 400), bytes.subarray(400)], 'float32', 'nchw'))).toEqual(Array.from(reference));
    expect(Array.from(await run(executable, [floats.subarray(0, 100), floats.subarray(100)], 'float32', 'nchw'))).toEqual(Array.from(reference));
    executable.dispose();
  });

  it('normalises only the dtypes the normalisation names, in the same float steps as torchvision', async () => {
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const scale = 1 / 255;
    const normalized = await compileGraph(smallGraph(), { backend: 'cpu', batch: n, threads: 1, normalization: { scale, mean, std, inputs: ['uint8'] } });
    const plain = await compileGraph(smallGraph(), { backend: 'cpu', batch: n, threads: 1 });
    const pixels = pixelsNhwc(3);
    const nchw = toNchw(pixels);
    const f = Math.fround;
    const byHand = Float32Array.from(nchw, (p, i) => {
      const k = Math.floor(i / (h * w)) % c;
      return f(f(f(p * f(scale)) - f(mean[k]!)) / f(std[k]!));
    });
    const expected = (await plain.run(byHand))[0]!;
    expect(Array.from(await run(normalized, pixels, 'uint8', 'nhwc'))).toEqual(Array.from(expected));
    // A float32 input is the model's input as it is: not normalised again.
    const floats = Float32Array.from(nchw);
    expect(Array.from((await normalized.run(floats))[0]!)).toEqual(Array.from((await plain.run(floats))[0]!));
    normalized.dispose();
    plain.dispose();
  });

  it('copies ordinary arrays before run() returns, and reads lent memory in place', async () => {
    const executable = await compileGraph(smallGraph(), { backend: 'cpu', batch: n, threads: 1 });
    const pixels = pixelsNhwc(4);
    const expected = await run(executable, pixels, 'uint8', 'nhwc');
    const scratch = Uint8Array.from(pixels);
    const pending = run(executable, scratch, 'uint8', 'nhwc');
    scratch.fill(0); // after run() returned: the run has its own copy
    expect(Array.from(await pending)).toEqual(Array.from(expected));

    const before = loadNative().hostMemoryRanges();
    const lent = executable.allocateInput({ dtype: 'uint8', layout: 'nhwc' });
    expect(lent).toBeInstanceOf(Uint8Array);
    expect(lent.length).toBe(elements);
    expect(loadNative().hostMemoryRanges()).toBe(before + 1);
    lent.set(pixels);
    expect(Array.from(await run(executable, lent, 'uint8', 'nhwc'))).toEqual(Array.from(expected));
    // A shared arena registered with the engine (what the server's HTTP threads write into).
    const shared = new Uint8Array(new SharedArrayBuffer(elements + 64));
    shared.set(pixels, 64);
    const registration = registerHostMemory(shared, { backend: 'cpu' });
    expect(registration.bytes).toBe(elements + 64);
    expect(registration.pinned).toBe(false); // nothing to pin on the CPU
    expect(loadNative().hostMemoryRanges()).toBe(before + 2);
    expect(Array.from(await run(executable, [shared.subarray(64, 100), pixels.subarray(36)], 'uint8', 'nhwc'))).toEqual(Array.from(expected));
    expect(codeOf(() => registerHostMemory(shared.subarray(10, 20), { backend: 'cpu' }))).toBe('ERR_INVALID_ARGUMENT'); // overlaps
    registration.dispose();
    registration.dispose();
    expect(loadNative().hostMemoryRanges()).toBe(before + 1);
    executable.dispose();
  });

  it('survives a getter that disposes the executable while run() reads its arguments', async () => {
    const executable = await compileGraph(smallGraph(), { backend: 'cpu', batch: n, threads: 1 });
    const pixels = pixelsNhwc(8);
    const expected = await run(executable, pixels, 'uint8', 'nhwc');
    const segments: Uint8Array[] = [pixels.subarray(0, 10), pixels.subarray(10)];
    Object.defineProperty(segments, 1, {
      get() {
        executable.dispose();
        return pixels.subarray(10);
      },
    });
    // The run began before the dispose: it finishes with what it took, as runs already queued do.
    expect(Array.from(await run(executable, segments, 'uint8', 'nhwc'))).toEqual(Array.from(expected));
    await expect(run(executable, pixels, 'uint8', 'nhwc')).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });

  it('refuses inputs it cannot read, with codes and messages that say what to do', async () => {
    const executable = await compileGraph(smallGraph(), { backend: 'cpu', batch: n, threads: 1 });
    const reasons = async (input: unknown) => {
      try {
        await executable.run(input as Float32Array);
      } catch (error) {
        return `${(error as { code: string }).code}: ${(error as Error).message}`;
      }
      return 'resolved';
    };
    expect(await reasons({ data: new Uint8Array(elements), dtype: 'int8' })).toMatch(/ERR_INVALID_ARGUMENT: .*"float32", "float16" or "uint8" for dtype/);
    expect(await reasons({ data: new Uint8Array(elements), dtype: 'uint8', layout: 'chw' })).toMatch(/ERR_INVALID_ARGUMENT: .*"nchw" or "nhwc"/);
    expect(await reasons({ data: new Float32Array(elements), dtype: 'uint8' })).toMatch(/ERR_INVALID_ARGUMENT: .*segment 0/);
    expect(await reasons({ data: new Uint8Array(elements * 2 + 1), dtype: 'float16' })).toMatch(/ERR_INVALID_ARGUMENT: .*whole number of float16/);
    expect(await reasons({ data: new Uint8Array(elements - 1), dtype: 'uint8' })).toMatch(/ERR_INVALID_SHAPE: Expected 567 elements/);
    expect(await reasons({ data: [new Uint8Array(elements - 1), new Uint8Array(2)], dtype: 'uint8' })).toMatch(/ERR_INVALID_SHAPE: .*received 568/);
    expect(await reasons({ data: [], dtype: 'uint8' })).toMatch(/ERR_INVALID_ARGUMENT: Expected a Float32Array or Uint8Array, or 1 to 65536 typed arrays/);
    expect(await reasons({ data: [new Uint8Array(elements), 'x'], dtype: 'uint8' })).toMatch(/ERR_INVALID_ARGUMENT: .*received an array of length 2/);
    expect(await reasons(new Uint16Array(elements))).toMatch(/ERR_INVALID_ARGUMENT: .*dtype/);
    expect(await reasons({ dtype: 'uint8' })).toMatch(/ERR_INVALID_ARGUMENT: .*received an object/);
    expect(codeOf(() => executable.allocateInput({ dtype: 'int8' as 'uint8' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => allocateHostMemory(0, { backend: 'cpu' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => allocateHostMemory(16, { backend: 'gpu' as 'cpu' }))).toBe('ERR_INVALID_ARGUMENT');
    executable.dispose();
  });
});

describe('Module.forward input forms and allocateInput', () => {
  it('a uint8 NHWC batch from allocateInput equals the float32 NCHW batch', async () => {
    const model = resnet18();
    const input = model.allocateInput(2, { dtype: 'uint8', layout: 'nhwc', size: [40, 24] }) as Tensor<'uint8'>;
    expect(input.shape).toEqual([2, 40, 24, 3]);
    expect(input.layout).toBe('nhwc');
    expect(input.dtype).toBe('uint8');
    const random = rng(5);
    input.data.set(Uint8Array.from({ length: input.numel }, () => Math.floor(random() * 256)));
    const nchw = new Float32Array(input.numel);
    for (let b = 0; b < 2; b++)
      for (let y = 0; y < 40; y++)
        for (let x = 0; x < 24; x++)
          for (let k = 0; k < 3; k++) nchw[((b * 3 + k) * 40 + y) * 24 + x] = input.data[((b * 40 + y) * 24 + x) * 3 + k]!;
    const expected = await model.forward(Tensor.from(nchw, [2, 3, 40, 24]));
    expect(Array.from((await model.forward(input)).data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
    const halves = model.allocateInput(2, { dtype: 'float16', size: [40, 24] }) as Tensor<'float16'>;
    expect(halves.shape).toEqual([2, 3, 40, 24]);
    halves.data.set(Uint16Array.from(nchw, (v) => floatToHalf(v)));
    expect(Array.from((await model.forward(halves)).data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
  });

  it('refuses bad allocateInput options and layouts on tensors that are not 4-D', () => {
    const model = resnet18();
    expect(codeOf(() => model.allocateInput(0))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => model.allocateInput(1, { layout: 'hwc' as 'nhwc' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => model.allocateInput(1, { size: [224] as unknown as number }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => model.allocateInput(1, { dtype: 'float64' as 'float32' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => Tensor.zeros([3, 4]).asLayout('nhwc'))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => Tensor.zeros([1, 3, 4, 4]).asLayout('hwc' as 'nhwc'))).toBe('ERR_INVALID_ARGUMENT');
  });
});
