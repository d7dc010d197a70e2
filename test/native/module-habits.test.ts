/**
 * PyTorch habits that run the network: after `model.fc = new Linear(…)` the next forward compiles the new
 * graph (the old executable is not reused) and applies the new head (checked against the head computed
 * here in float64 on the model's own features); `warmup` compiles ahead so the first forward of a warmed
 * size does not compile, and honours its signal; `dispose()` and `using` free the compiled executables and
 * prepared graphs, and the module still runs. Compiles are observed through `lastForwardStats(model).compiled`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Executable, Generator, Identity, Linear, PreparedGraph, Tensor, lastForwardStats, manualSeed, resnet18, type Module } from '../../lib/index.js';
import { maxRelativeError, uniform } from '../helpers/helpers.js';

afterEach(() => vi.restoreAllMocks());

manualSeed(33);
const x = Tensor.from(uniform(2 * 3 * 32 * 32, 11), [2, 3, 32, 32]);

describe('forward after re-registering a child', () => {
  it('model.fc = new Linear(512, 10): compiles again and gives features · Wᵀ + b, [N, 10]', async () => {
    // Built before the model, so its weights are not newer than the model's: only the assignment itself can
    // tell the compile cache that the model changed.
    const head = new Linear(512, 10, { generator: new Generator(6) });
    const model = resnet18({ generator: new Generator(5) });
    expect((await model.forward(x)).shape).toEqual([2, 1000]);
    expect(lastForwardStats(model)!.compiled).toBe(true);
    await model.forward(x);
    expect(lastForwardStats(model)!.compiled).toBe(false);

    model.fc = head;
    const logits = await model.forward(x);
    expect(logits.shape).toEqual([2, 10]);
    expect(lastForwardStats(model)!.compiled).toBe(true); // the 1000-class executable was not reused

    // The head, computed here in float64 on the features the same model returns without it.
    const features = await model.forwardFeatures(x);
    const w = head.weight.data;
    const b = head.bias!.data;
    const expected = new Float64Array(2 * 10);
    for (let n = 0; n < 2; n++) {
      for (let o = 0; o < 10; o++) {
        let sum = b[o]!;
        for (let i = 0; i < 512; i++) sum += features.data[n * 512 + i]! * w[o * 512 + i]!;
        expected[n * 10 + o] = sum;
      }
    }
    expect(maxRelativeError(logits.data as Float32Array, expected)).toBeLessThan(1e-5);
  });

  it('replacing a child deep in the tree with an older module compiles again too (the version follows the assignment)', async () => {
    const identity = new Identity(); // older than every module of the model
    const model = resnet18({ numClasses: 6 });
    const before = await model.forward(x);
    (model.layer1[0] as unknown as { relu: Module }).relu = identity;
    const after = await model.forward(x);
    expect(lastForwardStats(model)!.compiled).toBe(true);
    expect(maxRelativeError(after.data as Float32Array, before.data as Float32Array)).toBeGreaterThan(1e-3);
  });
});

describe('warmup', () => {
  it('compiles the given batch sizes ahead: their first forward does not compile, another size does', async () => {
    const model = resnet18({ numClasses: 3 });
    const runs = vi.spyOn(Executable.prototype, 'run');
    await model.warmup({ batchSizes: [1, 2, 2], size: 32, runs: 0 });
    expect(runs).not.toHaveBeenCalled();
    await model.forward(x);
    expect(lastForwardStats(model)!.compiled).toBe(false);
    await model.forward(Tensor.from(uniform(3 * 32 * 32, 2), [1, 3, 32, 32]));
    expect(lastForwardStats(model)!.compiled).toBe(false);
    await model.forward(Tensor.from(uniform(3 * 3 * 32 * 32, 3), [3, 3, 32, 32]));
    expect(lastForwardStats(model)!.compiled).toBe(true);
  });

  it('runs each size once (default) in the given input form; a uint8 NHWC forward then finds it compiled', async () => {
    const model = resnet18({ numClasses: 3 });
    const runs = vi.spyOn(Executable.prototype, 'run');
    await model.warmup({ batchSizes: [4, 1], size: [24, 40], dtype: 'uint8', layout: 'nhwc' });
    expect(runs.mock.calls.map(([input]) => {
      const { data, dtype, layout } = input as { data: Uint8Array; dtype: string; layout: string };
      return [data.length, dtype, layout, data.every((v) => v === 0)];
    })).toEqual([[4 * 24 * 40 * 3, 'uint8', 'nhwc', true], [24 * 40 * 3, 'uint8', 'nhwc', true]]);
    const pixels = Tensor.from(new Uint8Array(4 * 24 * 40 * 3).fill(7), [4, 24, 40, 3], 'uint8').asLayout('nhwc');
    expect((await model.forward(pixels)).shape).toEqual([4, 3]);
    expect(lastForwardStats(model)!.compiled).toBe(false);
  });

  it('honours its signal: aborted before, nothing compiles; aborted during the first size, the second is not compiled', async () => {
    const model = resnet18({ numClasses: 3 });
    const reason = new Error('stop');
    await expect(model.warmup({ batchSizes: [1], size: 32, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);

    const controller = new AbortController();
    const stop = new Error('stop during the first size');
    const original = Executable.prototype.run;
    vi.spyOn(Executable.prototype, 'run').mockImplementation(function (this: Executable, input) {
      const run = original.call(this, input);
      controller.abort(stop);
      return run;
    });
    await expect(model.warmup({ batchSizes: [2, 1], size: 32, signal: controller.signal })).rejects.toBe(stop);
    vi.restoreAllMocks();
    await model.forward(x); // batch 2: compiled by the warm-up before it was aborted
    expect(lastForwardStats(model)!.compiled).toBe(false);
    await model.forward(Tensor.from(uniform(3 * 32 * 32, 4), [1, 3, 32, 32])); // batch 1: never compiled
    expect(lastForwardStats(model)!.compiled).toBe(true);
  });
});

describe('dispose', () => {
  it('frees the executables and prepared graphs; the next forward compiles again and gives the same output', async () => {
    const model = resnet18({ numClasses: 5 });
    const before = await model.forward(x);
    const executables = vi.spyOn(Executable.prototype, 'dispose');
    const graphs = vi.spyOn(PreparedGraph.prototype, 'dispose');
    model.dispose();
    await new Promise((resolve) => setImmediate(resolve)); // executables go once their (settled) compile promise is seen
    expect(executables).toHaveBeenCalledTimes(1);
    expect(graphs).toHaveBeenCalledTimes(1);
    const after = await model.forward(x);
    expect(lastForwardStats(model)!.compiled).toBe(true);
    expect(Array.from(after.data as Float32Array)).toEqual(Array.from(before.data as Float32Array));
  });

  it('a forward in flight when dispose() is called finishes with the right output; its executable goes after its run', async () => {
    const model = resnet18({ numClasses: 5 });
    const reference = await model.forward(x);
    const events: string[] = [];
    const originalRun = Executable.prototype.run;
    vi.spyOn(Executable.prototype, 'run').mockImplementation(function (this: Executable, input) {
      events.push('run started');
      const run = originalRun.call(this, input);
      void run.then(() => events.push('run settled'));
      return run;
    });
    const originalDispose = Executable.prototype.dispose;
    vi.spyOn(Executable.prototype, 'dispose').mockImplementation(function (this: Executable) {
      events.push('executable disposed');
      originalDispose.call(this);
    });
    const inFlight = model.forward(x).then((y) => {
      events.push('forward resolved');
      return y;
    });
    await new Promise((resolve) => setImmediate(resolve));
    events.push('dispose() called');
    model.dispose();
    const y = await inFlight;
    expect(events).toEqual(['run started', 'dispose() called', 'run settled', 'executable disposed', 'forward resolved']);
    expect(Array.from(y.data as Float32Array)).toEqual(Array.from(reference.data as Float32Array));
  });

  it('`using` disposes at the end of the scope', async () => {
    const disposed = vi.spyOn(Executable.prototype, 'dispose');
    {
      using model = resnet18({ numClasses: 5 });
      await model.forward(x);
      expect(disposed).not.toHaveBeenCalled();
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(disposed).toHaveBeenCalledTimes(1);
  });
});
