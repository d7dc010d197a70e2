/**
 * `quantize`: calibration on the native CPU engine (float32), the model it returns, the scales it computes
 * against values observed independently (`forwardNodes`), saving and loading quantized safetensors through
 * the library, CLI and server paths, and the refusals.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  NotQuantizedError, StateDictError, Tensor, Tracer, compileGraph, loadQuantized, lower, loadSafetensorsFile, lowerWithPaths, quantize, quantizedSafetensors,
  resnet20, resnet32, saveQuantized, saveSafetensors, weightScalesOf, type ConvOp, type ModelQuantization,
} from '../../lib/index.js';
import { loadWeightsFile } from '../../lib/cli/convert.js';
import { loadModelSource } from '../../lib/server/model-source.js';
import { randomizeBatchNorms, relativeL2, uniform } from '../helpers/helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'quantize-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function model20(seed: number) {
  const model = resnet20();
  randomizeBatchNorms(model, seed);
  return model;
}

const calibration = [Tensor.from(uniform(6 * 3 * 32 * 32, 1, -2, 2), [6, 3, 32, 32]), Tensor.from(uniform(4 * 3 * 32 * 32, 2, -2.5, 2.5), [4, 3, 32, 32])];

function maxAbs(data: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]!));
  return m;
}

function expectSameQuantization(a: ModelQuantization, b: ModelQuantization): void {
  expect(b.method).toBe(a.method);
  expect(b.perChannel).toBe(a.perChannel);
  expect(b.input).toEqual(a.input);
  const sorted = <V>(m: ReadonlyMap<string, V>) => [...m].sort(([x], [y]) => x.localeCompare(y));
  expect(sorted(b.activations)).toEqual(sorted(a.activations));
  expect(sorted(b.weightScales).map(([k, v]) => [k, [...v]])).toEqual(sorted(a.weightScales).map(([k, v]) => [k, [...v]]));
}

describe('quantize', () => {
  const model = model20(7);
  let q: Awaited<ReturnType<typeof quantize<typeof model>>>;

  it('returns a new model at int8 on the CPU with the scales, leaving the argument as it was', async () => {
    const before = Object.entries(model.stateDict()).map(([k, t]) => [k, Array.from(t.data as Float32Array)]);
    q = await quantize(model, { calibration, method: 'minmax', quantizeInput: true });
    expect(q).not.toBe(model);
    expect(q).toBeInstanceOf(model.constructor);
    expect(q.placement).toEqual({ device: 'cpu', dtype: 'int8', benchmark: false });
    expect(model.placement.dtype).toBe('float32');
    expect(model.quantization).toBeNull();
    expect(Object.entries(model.stateDict()).map(([k, t]) => [k, Array.from(t.data as Float32Array)])).toEqual(before);
    // Its own copies: editing the copy's weights leaves the original.
    const copied = q.conv1.weight.data as Float32Array;
    const kept = copied[0]!;
    copied[0] = 100;
    expect((model.conv1.weight.data as Float32Array)[0]).toBe(before.find(([k]) => k === 'conv1.weight')![1]![0]);
    copied[0] = kept;
    const quantization = q.quantization!;
    expect(quantization.method).toBe('minmax');
    expect(quantization.perChannel).toBe(true);
    // Every conv of the trace, the option-A shortcuts' fixed embeddings included.
    const { graph, convPaths } = lowerWithPaths(Tracer.trace(model, [3, 32, 32]));
    const convs = graph.ops.filter((op): op is ConvOp => op.op === 'conv');
    expect(convs).toHaveLength(21);
    expect([...quantization.activations.keys()].sort()).toEqual(convs.map((op) => convPaths.get(op)!).sort());
    for (const op of convs) {
      const path = convPaths.get(op)!;
      // uint8 where the fused conv ends with a ReLU, and for the option-A shortcuts (a 0/1 embedding of a
      // ReLU output, never negative); int8 nowhere else in this network.
      const nonNegative = op.relu || path.endsWith('.shortcut');
      expect(quantization.activations.get(path)!.dtype).toBe(nonNegative ? 'uint8' : 'int8');
      expect(quantization.weightScales.get(path)).toEqual(weightScalesOf(op, true));
    }
    expect(quantization.input!.dtype).toBe('int8');
  });

  it('keeps the input and the stem conv in float unless asked (quantizeInput), its output quantized', async () => {
    const d = await quantize(model, { calibration, method: 'minmax' });
    expect(d.quantization!.input).toBeNull();
    expect(d.quantization!.activations.get('conv1')).toEqual(q.quantization!.activations.get('conv1'));
    const graph = lower(Tracer.trace(d, [3, 32, 32]), { quantization: d.quantization! });
    const stem = graph.ops.find((op): op is ConvOp => op.op === 'conv' && op.src === graph.input)!;
    expect(graph.values[graph.input]!.quant).toBeUndefined();
    expect(stem.weightScales).toBeUndefined();
    expect(graph.values[stem.dst]!.quant).toEqual(d.quantization!.activations.get('conv1'));
    // Its float weights as they are (BatchNorm folded, not on a grid); the next conv is an integer one.
    const next = graph.ops.find((op): op is ConvOp => op.op === 'conv' && op.src === stem.dst)!;
    expect(next.weightScales).toBeDefined();
    const out = await d.forward(calibration[0]!);
    expect(out.shape).toEqual([calibration[0]!.shape[0], 10]);
  });

  it('minmax: each scale is the largest |x| the float model writes there (observed by forwardNodes), / 255 or / 127', async () => {
    const quantization = q.quantization!;
    const nodes = ['relu', 'layer1.0', 'layer2.0', 'layer3.2', 'layer2.1.bn1'] as const;
    const outs = await Promise.all(calibration.map((x) => model.forwardNodes(x, nodes)));
    const observed = (node: (typeof nodes)[number]) => Math.max(...outs.map((o) => maxAbs(o[node].data as Float32Array)));
    // The stem conv's value is after bn1 and relu; a block's output is its shortcut conv's (add and ReLU fused).
    expect(quantization.activations.get('conv1')!.scale).toBe(Math.fround(observed('relu') / 255));
    expect(quantization.activations.get('layer1.0.conv2')).toBeDefined();
    const blockOutput = [...quantization.activations].filter(([p]) => p.startsWith('layer2.0.'));
    expect(blockOutput.map(([, v]) => v.scale)).toContain(Math.fround(observed('layer2.0') / 255));
    expect(quantization.activations.get('layer1.0.conv2')!.scale).toBe(Math.fround(observed('layer1.0') / 255));
    expect(quantization.activations.get('layer3.2.conv2')!.scale).toBe(Math.fround(observed('layer3.2') / 255));
    // bn1 is followed by the ReLU fused into conv1: the pre-ReLU value is not what is stored.
    expect(quantization.activations.get('layer2.1.conv1')!.scale).toBeLessThanOrEqual(Math.fround(observed('layer2.1.bn1') / 255));
    const inputMax = Math.max(...calibration.map((x) => maxAbs(x.data as Float32Array)));
    expect(quantization.input!.scale).toBe(Math.fround(inputMax / 127));
  });

  it('runs its float weights at float32, exactly as the original', async () => {
    const x = calibration[0]!;
    const want = (await model.forward(x)).data;
    const got = (await q.to('float32').forward(x)).data;
    expect(got).toEqual(want);
    q.to('int8');
  });

  it('at int8 runs on a backend that supports it, or is refused by the backend (ERR_UNSUPPORTED), never for lack of scales', async () => {
    try {
      const out = await q.forward(calibration[1]!);
      expect(out.shape).toEqual([4, 10]);
    } catch (error) {
      expect(error).not.toBeInstanceOf(NotQuantizedError);
      expect((error as { code?: string }).code).toBe('ERR_UNSUPPORTED');
    }
  });

  it('its annotated graph passes the native graph validation and runs at float32 (annotations ignored, weights on the grid)', async () => {
    const trace = Tracer.trace(q, [3, 32, 32]);
    const annotated = lower(trace, { quantization: q.quantization! });
    expect(annotated.values.filter((v) => v.quant !== undefined).length).toBe(22); // input + 21 convs
    const x = calibration[1]!;
    using executable = await compileGraph(annotated, { backend: 'cpu', batch: 4, precision: 'float32' });
    const [logits] = await executable.run(x.data as Float32Array);
    const want = (await model.forward(x)).data as Float32Array;
    // Weights rounded to 8 bits move the logits a little, not the predictions of a healthy net.
    expect(relativeL2(logits!, want)).toBeLessThan(0.05);
    expect(relativeL2(logits!, want)).toBeGreaterThan(0);
  });

  it('refuses int8 on a model that was never quantized, saying to call quantize()', async () => {
    const plain = resnet20().to('int8');
    const error = await plain.forward(calibration[1]!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotQuantizedError);
    expect((error as NotQuantizedError).code).toBe('ERR_UNSUPPORTED');
    expect((error as Error).message).toMatch(/quantize\(model, \{ calibration \}\)/);
  });

  it('percentile and entropy clip no more than minmax; perChannel false repeats one scale per conv', async () => {
    const p = (await quantize(model, { calibration, method: 'percentile', percentile: 99, quantizeInput: true })).quantization!;
    const e = (await quantize(model, { calibration, method: 'entropy', perChannel: false })).quantization!;
    for (const [path, m] of q.quantization!.activations) {
      expect(p.activations.get(path)!.scale).toBeLessThanOrEqual(m.scale);
      expect(e.activations.get(path)!.scale).toBeLessThanOrEqual(m.scale);
      expect(p.activations.get(path)!.dtype).toBe(m.dtype);
    }
    // 99% of a uniform input is well inside its range.
    expect(p.input!.scale).toBeLessThan(q.quantization!.input!.scale * 0.995);
    const { graph, convPaths } = lowerWithPaths(Tracer.trace(model, [3, 32, 32]));
    for (const op of graph.ops) {
      if (op.op !== 'conv') continue;
      const scales = e.weightScales.get(convPaths.get(op)!)!;
      expect(new Set(scales).size).toBe(1);
      expect(scales[0]).toBe(Math.fround(maxAbs(op.weight) / 127));
    }
  });

  it('calibrates on an async iterable and stops on an aborted signal', async () => {
    async function* batches() {
      yield* calibration;
    }
    const fromAsync = await quantize(model, { calibration: batches(), method: 'minmax', quantizeInput: true });
    expectSameQuantization(q.quantization!, fromAsync.quantization!);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(quantize(model, { calibration, signal: controller.signal })).rejects.toThrow('stop');
  });

  it('refuses bad calibration data and options with typed errors', async () => {
    const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code);
    expect(await code(quantize(model, { calibration: [] }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(quantize(model, { calibration: Tensor.zeros([2, 3, 32, 32], 'uint8') as never }))).toBe('ERR_INVALID_DTYPE');
    expect(await code(quantize(model, { calibration: Tensor.zeros([3, 32, 32]) }))).toBe('ERR_INVALID_SHAPE');
    expect(await code(quantize(model, { calibration: [Tensor.zeros([1, 3, 32, 32]), Tensor.zeros([1, 3, 16, 16])] }))).toBe('ERR_INVALID_SHAPE');
    expect(await code(quantize(model, { calibration, method: 'kl' as never }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(quantize(model, { calibration, percentile: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(quantize(model, { calibration, bins: 10 } as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(quantize(model, 42 as never))).toBe('ERR_INVALID_ARGUMENT');
  });

  describe('quantized safetensors', () => {
    it('round-trips: the float state dict plus scales, loaded into a fresh model by loadQuantized, the CLI and the server', async () => {
      const file = path.join(dir, 'resnet20-int8.safetensors');
      await saveQuantized(file, q);
      const { tensors, metadata } = await loadSafetensorsFile(file);
      expect(tensors['conv1.weight']!.dtype).toBe('float32');
      expect(tensors['layer1.0.conv1.weight_scale']!.shape).toEqual([16]);
      expect(tensors['layer1.0.conv1.output_scale']!.shape).toEqual([]);
      expect(tensors['input_scale']!.shape).toEqual([]);
      const meta = JSON.parse(metadata.quantization!);
      expect(meta).toMatchObject({ format: 1, method: 'minmax', perChannel: true, input: 'int8' });
      expect(meta.outputs['conv1']).toBe('uint8');

      const loaded = await loadQuantized(resnet20(), file);
      expectSameQuantization(q.quantization!, loaded.quantization!);
      expect(Object.entries(loaded.stateDict()).map(([k, t]) => [k, [...t.data]])).toEqual(Object.entries(q.stateDict()).map(([k, t]) => [k, [...t.data]]));

      const viaCli = resnet20();
      await loadWeightsFile(viaCli, 'resnet20', file);
      expectSameQuantization(q.quantization!, viaCli.quantization!);

      const quiet = { info() {}, warn() {} };
      const served = await loadModelSource({ name: 'r20', arch: 'resnet20', weights: file, inputSize: null } as never, quiet);
      expectSameQuantization(q.quantization!, served.model.quantization!);

      // A float file loaded over a quantized model drops its scales (they belonged to the old weights).
      const floatFile = path.join(dir, 'resnet20.safetensors');
      await saveSafetensors(floatFile, model.stateDict());
      await loadWeightsFile(viaCli, 'resnet20', floatFile);
      expect(viaCli.quantization).toBeNull();
    });

    it('refuses scales that do not fit the architecture, and malformed or undescribed scales', async () => {
      const { tensors, metadata } = quantizedSafetensors(q);
      const write = async (name: string, t: typeof tensors, m: Record<string, string> = metadata) => {
        const file = path.join(dir, name);
        await saveSafetensors(file, t, m);
        return file;
      };
      // Another architecture: resnet32 has convs resnet20's scales do not cover.
      const wrongArch = await loadQuantized(resnet32(), path.join(dir, 'resnet20-int8.safetensors')).catch((e: unknown) => e);
      expect(wrongArch).toBeInstanceOf(StateDictError);
      expect((wrongArch as StateDictError).missingKeys).toContain('layer1.3.conv1.output_scale');
      expect((wrongArch as Error).message).toMatch(/quantization scales of .* do not fit CifarResNet/);

      const short = { ...tensors, 'layer2.0.conv1.weight_scale': Tensor.from(new Float32Array(16).fill(0.01), [16]) };
      const shortError = await loadQuantized(resnet20(), await write('short.safetensors', short)).catch((e: unknown) => e);
      expect(shortError).toBeInstanceOf(StateDictError);
      expect((shortError as StateDictError).shapeMismatches).toEqual([{ key: 'layer2.0.conv1.weight_scale', expected: [32], received: [16] }]);
      // The CLI's one-line wording names the file.
      await expect(loadWeightsFile(resnet20(), 'resnet20', path.join(dir, 'short.safetensors'))).rejects.toThrow(/short\.safetensors.*does not fit resnet20/);

      const { ['layer1.1.conv2.output_scale']: _dropped, ...missing } = tensors;
      await expect(loadQuantized(resnet20(), await write('missing.safetensors', missing))).rejects.toMatchObject({ code: 'ERR_INVALID_FILE', message: expect.stringMatching(/layer1\.1\.conv2\.output_scale is missing/) });
      const extra = { ...tensors, 'fc.output_scale': Tensor.from(Float32Array.of(1), []) };
      await expect(loadQuantized(resnet20(), await write('extra.safetensors', extra))).rejects.toMatchObject({ code: 'ERR_INVALID_FILE', message: expect.stringMatching(/fc\.output_scale is not described/) });
      const negative = { ...tensors, input_scale: Tensor.from(Float32Array.of(-1), []) };
      await expect(loadQuantized(resnet20(), await write('negative.safetensors', negative))).rejects.toMatchObject({ code: 'ERR_INVALID_FILE' });
      const badMeta = { quantization: JSON.stringify({ ...JSON.parse(metadata.quantization!), format: 2 }) };
      await expect(loadQuantized(resnet20(), await write('format2.safetensors', tensors, badMeta))).rejects.toMatchObject({ code: 'ERR_INVALID_FILE' });
      // Without the metadata the scales are ordinary tensors: strict loading refuses them as unexpected keys.
      const noMeta = await loadQuantized(resnet20(), await write('nometa.safetensors', tensors, {})).catch((e: unknown) => e);
      expect(noMeta).toBeInstanceOf(StateDictError);
      expect((noMeta as StateDictError).unexpectedKeys).toContain('input_scale');
    });
  });
});
