// Hostile and invalid input to the native engine: every case rejects with the right code (never a crash),
// runs are checked for type and length, disposal is final, and NaN flows through a forward harmlessly.
import { describe, expect, it } from 'vitest';
import type { ConvOp, Graph, GraphOp } from '../../lib/compile/graph.js';
import { BackendUnavailableError, DisposedError, InvalidArgumentError, ShapeError, UnsupportedError, type ErrorCode } from '../../lib/errors.js';
import { compileGraph } from '../../lib/runtime/engine.js';
import { loadNative } from '../../lib/runtime/native.js';

function convOp(overrides: Partial<ConvOp> = {}): ConvOp {
  const base = { op: 'conv', src: 0, dst: 1, residual: -1, relu: false, outChannels: 4, kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 } as const;
  const merged = { ...base, ...overrides };
  const inChannels = 2;
  return {
    ...merged,
    weight: overrides.weight ?? new Float32Array(merged.outChannels * (inChannels / merged.groups) * merged.kernel[0] * merged.kernel[1]).fill(0.1),
    bias: overrides.bias ?? new Float32Array(merged.outChannels),
  };
}

/** A valid one-conv graph: [2, 5, 5] -> [4, 5, 5]. */
function validGraph(): Graph {
  return { values: [{ shape: [2, 5, 5] }, { shape: [4, 5, 5] }], input: 0, outputs: [1], ops: [convOp()] };
}

function withOps(...ops: GraphOp[]): Graph {
  return { ...validGraph(), ops };
}

/** Anything, passed where the typed API expects a Graph: these tests hand it what a careless or hostile caller might. */
const hostile = (value: unknown): Graph => value as Graph;

async function expectCode(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a rejection').toBeInstanceOf(Error);
  expect((error as { code?: unknown }).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

const compile = (graph: Graph, batch = 1) => compileGraph(graph, { backend: 'cpu', batch });

describe('graph validation', () => {
  it('accepts the valid baseline graph used by the cases below', async () => {
    using executable = await compile(validGraph());
    expect(executable.weightBytes).toBeGreaterThan(0);
  });

  const cases: [string, () => Graph, ErrorCode, RegExp][] = [
    ['an op reads a value id past the end', () => withOps(convOp({ src: 9 })), 'ERR_INVALID_ARGUMENT', /value 9, but the graph has values 0\.\.1/],
    ['an op writes a negative value id', () => withOps(convOp({ dst: -1 })), 'ERR_INVALID_ARGUMENT', /between 0 and/],
    ['the input id is out of range', () => ({ ...validGraph(), input: 2 }), 'ERR_INVALID_ARGUMENT', /graph\.input refers to value 2/],
    ['an output id is out of range', () => ({ ...validGraph(), outputs: [5] }), 'ERR_INVALID_ARGUMENT', /graph\.outputs refers to value 5/],
    ['no outputs', () => ({ ...validGraph(), outputs: [] }), 'ERR_INVALID_ARGUMENT', /at least one graph output/],
    ['an output nobody writes', () => ({ ...validGraph(), values: [...validGraph().values, { shape: [4, 5, 5] }], outputs: [2] }), 'ERR_INVALID_ARGUMENT', /value 2, which no op writes/],
    [
      'a value read before it is written',
      () => ({
        values: [{ shape: [2, 5, 5] }, { shape: [2, 5, 5] }, { shape: [2, 5, 5] }],
        input: 0,
        outputs: [2],
        ops: [{ op: 'relu', src: 1, dst: 2 }, { op: 'relu', src: 0, dst: 1 }],
      }),
      'ERR_INVALID_ARGUMENT',
      /reads value 1 before any op writes it/,
    ],
    ['a value written twice', () => withOps(convOp(), { op: 'relu', src: 0, dst: 1 }), 'ERR_INVALID_ARGUMENT', /already written/],
    ['an op writes the graph input', () => withOps({ op: 'relu', src: 0, dst: 0 }), 'ERR_INVALID_ARGUMENT', /already written/],
    ['a conv weight one element short', () => withOps(convOp({ weight: new Float32Array(4 * 2 * 9 - 1) })), 'ERR_INVALID_SHAPE', /weight has 71 elements, expected 72/],
    ['a conv bias of the wrong length', () => withOps(convOp({ bias: new Float32Array(3) })), 'ERR_INVALID_SHAPE', /bias has 3 elements, expected 4/],
    [
      'groups that do not divide the input channels',
      () => ({ ...validGraph(), values: [{ shape: [2, 5, 5] }, { shape: [3, 5, 5] }], ops: [convOp({ groups: 3, outChannels: 3, weight: new Float32Array(27), bias: new Float32Array(3) })] }),
      'ERR_INVALID_ARGUMENT',
      /groups \(3\) must divide both the input channels \(2\) and outChannels \(3\)/,
    ],
    ['zero groups', () => withOps(convOp({ groups: 0, weight: new Float32Array(72) })), 'ERR_INVALID_ARGUMENT', /groups but received 0/],
    ['a zero dimension', () => ({ ...validGraph(), values: [{ shape: [2, 0, 5] }, { shape: [4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /at least 1/],
    ['a negative dimension', () => ({ ...validGraph(), values: [{ shape: [2, 5, 5] }, { shape: [-4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /at least 1/],
    ['a NaN dimension', () => ({ ...validGraph(), values: [{ shape: [Number.NaN, 5, 5] }, { shape: [4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /graph\.values\[0\]\.shape\[0\] but received NaN/],
    ['a fractional dimension', () => ({ ...validGraph(), values: [{ shape: [2, 5.5, 5] }, { shape: [4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /received 5\.5/],
    ['an infinite dimension', () => ({ ...validGraph(), values: [{ shape: [2, Infinity, 5] }, { shape: [4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /received Infinity/],
    ['a shape of rank 2', () => ({ ...validGraph(), values: [{ shape: [2, 5] }, { shape: [4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /expected \[C, H, W\] or \[F\]/],
    ['a zero stride', () => withOps(convOp({ stride: [0, 1] })), 'ERR_INVALID_ARGUMENT', /stride\[0\] but received 0/],
    ['a negative kernel', () => withOps(convOp({ kernel: [-3, 3], weight: new Float32Array(72) })), 'ERR_INVALID_ARGUMENT', /kernel\[0\] but received -3/],
    ['a fractional stride', () => withOps(convOp({ stride: [1.5, 1] })), 'ERR_INVALID_ARGUMENT', /stride\[0\] but received 1\.5/],
    ['a NaN padding', () => withOps(convOp({ padding: [Number.NaN, 1] })), 'ERR_INVALID_ARGUMENT', /padding\[0\] but received NaN/],
    ['a string kernel size', () => withOps(convOp({ kernel: hostile(['3', 3]) as unknown as ConvOp['kernel'] })), 'ERR_INVALID_ARGUMENT', /kernel\[0\] but received "3"/],
    ['an output size that disagrees with the conv formula', () => ({ ...validGraph(), values: [{ shape: [2, 5, 5] }, { shape: [4, 4, 5] }] }), 'ERR_INVALID_SHAPE', /gives \[5, 5\]/],
    ['outChannels that disagree with the output value', () => withOps(convOp({ outChannels: 3, weight: new Float32Array(54), bias: new Float32Array(3) })), 'ERR_INVALID_SHAPE', /outChannels is 3/],
    ['a window larger than the padded input', () => withOps(convOp({ kernel: [9, 9], padding: [0, 0], weight: new Float32Array(4 * 2 * 81) })), 'ERR_INVALID_SHAPE', /larger than the padded input/],
    ['a residual of another shape', () => ({ ...validGraph(), ops: [convOp({ residual: 0 })] }), 'ERR_INVALID_SHAPE', /must match/],
    [
      'max pool padding above half the kernel',
      () => ({
        values: [{ shape: [2, 5, 5] }, { shape: [2, 7, 7] }],
        input: 0,
        outputs: [1],
        ops: [{ op: 'maxpool', src: 0, dst: 1, kernel: [2, 2], stride: [1, 1], padding: [2, 2], dilation: [1, 1], ceilMode: false }],
      }),
      'ERR_INVALID_ARGUMENT',
      /at most half the kernel/,
    ],
    [
      'a linear weight of the wrong length',
      () => ({
        values: [{ shape: [2, 5, 5] }, { shape: [3] }],
        input: 0,
        outputs: [1],
        ops: [{ op: 'linear', src: 0, dst: 1, outFeatures: 3, weight: new Float32Array(3 * 50 + 1), bias: new Float32Array(3) }],
      }),
      'ERR_INVALID_SHAPE',
      /weight has 151 elements, expected 150/,
    ],
    [
      'a flatten whose output is the wrong size',
      () => ({ values: [{ shape: [2, 5, 5] }, { shape: [49] }], input: 0, outputs: [1], ops: [{ op: 'flatten', src: 0, dst: 1 }] }),
      'ERR_INVALID_SHAPE',
      /gives \[50\]/,
    ],
    [
      'an add of two shapes',
      () => ({ values: [{ shape: [2, 5, 5] }, { shape: [4, 5, 5] }, { shape: [2, 5, 5] }], input: 0, outputs: [2], ops: [convOp(), { op: 'add', a: 0, b: 1, dst: 2, relu: false }] }),
      'ERR_INVALID_SHAPE',
      /must match/,
    ],
    ['a weight given as a Float64Array', () => withOps(convOp({ weight: hostile(new Float64Array(72)) as unknown as Float32Array })), 'ERR_INVALID_ARGUMENT', /Float32Array for graph\.ops\[0\]\.weight/],
    ['a conv without its weight', () => withOps({ ...convOp(), weight: hostile(undefined) as unknown as Float32Array }), 'ERR_INVALID_ARGUMENT', /weight but received undefined/],
    ['a conv without relu', () => withOps(hostile({ ...convOp(), relu: undefined }) as unknown as GraphOp), 'ERR_INVALID_ARGUMENT', /boolean for graph\.ops\[0\]\.relu/],
    ['an op that is null', () => withOps(hostile(null) as unknown as GraphOp), 'ERR_INVALID_ARGUMENT', /object for graph\.ops\[0\] but received null/],
    ['an op name that is a number', () => withOps(hostile({ op: 42, src: 0, dst: 1 }) as unknown as GraphOp), 'ERR_INVALID_ARGUMENT', /op name/],
    ['an op the engine does not run', () => withOps(hostile({ op: 'softmax', src: 0, dst: 1 }) as unknown as GraphOp), 'ERR_UNSUPPORTED', /"softmax", which the native engine does not run/],
    ['a graph without ops', () => hostile({ values: validGraph().values, input: 0, outputs: [1] }), 'ERR_INVALID_ARGUMENT', /array for graph\.ops but received undefined/],
    ['a value without a shape', () => ({ ...validGraph(), values: [hostile({}) as unknown as { shape: number[] }, { shape: [4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /graph\.values\[0\]\.shape but received undefined/],
    ['a graph that is not an object', () => hostile('graph'), 'ERR_INVALID_ARGUMENT', /object for graph but received "graph"/],
    ['a graph that is null', () => hostile(null), 'ERR_INVALID_ARGUMENT', /received null/],
    [
      'a sparse values array claiming 2^32 - 1 entries',
      () => {
        const values: { shape: number[] }[] = [];
        values.length = 2 ** 32 - 1;
        return { ...validGraph(), values };
      },
      'ERR_INVALID_ARGUMENT',
      /graph\.values\[0\] but received undefined/,
    ],
    ['dimensions whose product overflows', () => ({ ...validGraph(), values: [{ shape: [2 ** 30, 2 ** 30, 2 ** 30] }, { shape: [4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /too large/],
    ['a dimension beyond 2^53', () => ({ ...validGraph(), values: [{ shape: [2 ** 60, 1, 1] }, { shape: [4, 5, 5] }] }), 'ERR_INVALID_SHAPE', /shape\[0\]/],
    ['a linear weight whose size overflows', () => ({
      values: [{ shape: [2 ** 20, 2 ** 10, 2 ** 10] }, { shape: [2 ** 20] }],
      input: 0,
      outputs: [1],
      ops: [{ op: 'linear', src: 0, dst: 1, outFeatures: 2 ** 20, weight: new Float32Array(1), bias: new Float32Array(1) }],
    }), 'ERR_INVALID_SHAPE', /too large/],
  ];

  it.each(cases)('rejects %s', async (_name, graph, code, message) => {
    await expectCode(compile(graph()), code, message);
  });

  it('rejects a value that only overflows once multiplied by the batch', async () => {
    const graph: Graph = { values: [{ shape: [2 ** 15, 2 ** 15, 2 ** 10] }, { shape: [2 ** 15, 2 ** 15, 2 ** 10] }], input: 0, outputs: [1], ops: [{ op: 'relu', src: 0, dst: 1 }] };
    await expectCode(compile(graph, 2 ** 10), 'ERR_INVALID_SHAPE', /too large at batch 1024/);
  });

  it('maps native codes onto the typed error classes, with the caller in the stack', async () => {
    const error = await compile(withOps(convOp({ weight: new Float32Array(3) }))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShapeError);
    expect((error as Error).stack).toContain('native-errors.test.ts');
    await expect(compile(withOps(convOp({ src: 7 })))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(compile(withOps(hostile({ op: 'softmax', src: 0, dst: 1 }) as unknown as GraphOp))).rejects.toBeInstanceOf(UnsupportedError);
  });

  it('passes on an exception thrown by a getter of the graph', async () => {
    const graph = { ...validGraph(), get ops(): GraphOp[] { throw new Error('getter says no'); } };
    await expect(compile(graph)).rejects.toThrow('getter says no');
    const proxy = new Proxy(validGraph(), { get() { throw new TypeError('proxy says no'); } });
    await expect(compile(proxy)).rejects.toThrow('proxy says no');
  });
});

describe('compile options', () => {
  it('rejects a missing or unknown backend and bad batch or thread counts, in TypeScript and natively', async () => {
    await expectCode(compileGraph(validGraph(), { backend: hostile('tpu') as unknown as 'cpu', batch: 1 }), 'ERR_INVALID_ARGUMENT', /"cpu" or "cuda" for options\.backend/);
    await expectCode(compileGraph(validGraph(), { backend: 'cpu', batch: 0 }), 'ERR_INVALID_ARGUMENT', /options\.batch/);
    await expectCode(compileGraph(validGraph(), { backend: 'cpu', batch: 1, threads: 0.5 }), 'ERR_INVALID_ARGUMENT', /options\.threads/);
    // The addon checks again for callers that reach it without the wrapper.
    const addon = loadNative();
    await expectCode(addon.compile(validGraph(), hostile({ backend: 'tpu', batch: 1 }) as never), 'ERR_INVALID_ARGUMENT', /options\.backend/);
    await expectCode(addon.compile(validGraph(), hostile({ backend: 'cpu', batch: 0 }) as never), 'ERR_INVALID_ARGUMENT', /options\.batch/);
    await expectCode(addon.compile(validGraph(), hostile({ backend: 'cpu', batch: 1, threads: -2 }) as never), 'ERR_INVALID_ARGUMENT', /options\.threads/);
    await expectCode(addon.compile(validGraph(), hostile(undefined) as never), 'ERR_INVALID_ARGUMENT', /object for options/);
  });

  // A CPU-only build says it was built without CUDA; a CUDA build on a machine without a GPU names what is missing.
  it.runIf(!loadNative().info().backends.cuda.available)('reports cuda as unavailable here, saying why', async () => {
    await expect(compileGraph(validGraph(), { backend: 'cuda', batch: 1 })).rejects.toBeInstanceOf(BackendUnavailableError);
    const info = loadNative().info();
    expect(info.backends.cuda).toMatchObject({
      available: false,
      reason: expect.stringMatching(/built without CUDA|no NVIDIA driver|no CUDA device|cuDNN/),
    });
    expect(info.backends.cpu).toMatchObject({ available: true, library: 'oneDNN', runtime: 'OpenMP' });
    expect(info.backends.cpu.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(info.backends.cpu.isa).not.toBe('generic');
    expect(info.backends.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(info.addonVersion).toBe((await import('../../package.json', { with: { type: 'json' } })).default.version);
  });

  it('refuses a NativeExecutable constructed from JavaScript', () => {
    const { NativeExecutable } = loadNative();
    const Construct = NativeExecutable as unknown as new () => unknown;
    expect(() => new Construct()).toThrow(/come from compile\(\)/);
  });
});

describe('run', () => {
  it('rejects input of the wrong type or length', async () => {
    using executable = await compile(validGraph(), 2);
    await expectCode(executable.run(new Float32Array(2 * 50 - 1)), 'ERR_INVALID_SHAPE', /Expected 100 elements for input \(batch 2 of \[2, 5, 5\]\) but received 99/);
    await expectCode(executable.run(hostile(new Float64Array(100)) as unknown as Float32Array), 'ERR_INVALID_ARGUMENT', /Expected a Float32Array or Uint8Array for input/);
    await expectCode(executable.run(new Uint8Array(101)), 'ERR_INVALID_SHAPE', /Expected 100 elements for input \(batch 2 of \[2, 5, 5\]\) but received 101/);
    await expectCode(executable.run(hostile(Array.from({ length: 100 }, () => 0)) as unknown as Float32Array), 'ERR_INVALID_ARGUMENT', /received an array of length 100/);
    await expectCode(executable.run(hostile(undefined) as unknown as Float32Array), 'ERR_INVALID_ARGUMENT', /received undefined/);
    await expect(executable.run(new Float32Array(100))).resolves.toHaveLength(1);
  });

  it('reads typed-array views at an offset (input and weights) as their own elements', async () => {
    const graph = validGraph();
    const conv = graph.ops[0] as ConvOp;
    const paddedWeight = new Float32Array(conv.weight.length + 5);
    paddedWeight.set(conv.weight.map((_, i) => Math.sin(i)), 5);
    const viewGraph: Graph = { ...graph, ops: [{ ...conv, weight: paddedWeight.subarray(5) }] };
    const copyGraph: Graph = { ...graph, ops: [{ ...conv, weight: paddedWeight.slice(5) }] };
    const input = Float32Array.from({ length: 53 }, (_, i) => Math.cos(i));
    using fromView = await compile(viewGraph);
    using fromCopy = await compile(copyGraph);
    const [viaView] = await fromView.run(input.subarray(3));
    const [viaCopy] = await fromCopy.run(input.slice(3));
    expect(viaView).toEqual(viaCopy);
  });

  it('rejects runs after dispose with ERR_DISPOSED, and dispose is idempotent', async () => {
    const executable = await compile(validGraph());
    executable.dispose();
    executable.dispose();
    const error = await executable.run(new Float32Array(50)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DisposedError);
    expect((error as DisposedError).code).toBe('ERR_DISPOSED');
  });

  it('finishes a run queued before dispose', async () => {
    const executable = await compile(validGraph());
    const pending = executable.run(new Float32Array(50).fill(1));
    executable.dispose();
    const [out] = await pending;
    expect(out).toHaveLength(100);
  });

  it('lets NaN flow through a forward, and the next run is unaffected', async () => {
    // 5 and 12 channels: oneDNN's blocked layouts pad them, so stale NaNs in padding would show up. No ReLU
    // or max pool: oneDNN's (x86 max) turn NaN into 0 or skip it, where PyTorch would propagate it.
    const c1 = { ...convOp({ outChannels: 12 }), weight: new Float32Array(12 * 5 * 9).map((_, i) => Math.sin(i)), bias: new Float32Array(12).fill(0.1) };
    const c2 = { ...convOp({ src: 1, dst: 2, outChannels: 5 }), weight: new Float32Array(5 * 12 * 9).map((_, i) => Math.cos(i)), bias: new Float32Array(5) };
    const graph: Graph = {
      values: [{ shape: [5, 6, 6] }, { shape: [12, 6, 6] }, { shape: [5, 6, 6] }, { shape: [5, 3, 3] }],
      input: 0,
      outputs: [3],
      ops: [c1, c2, { op: 'adaptive_avgpool', src: 2, dst: 3 }],
    };
    const clean = new Float32Array(2 * 180).map((_, i) => Math.sin(i * 0.37));
    const poisoned = clean.slice();
    poisoned[7] = Number.NaN;
    using fresh = await compile(graph, 2);
    const [expected] = await fresh.run(clean);
    using executable = await compile(graph, 2);
    const [withNaN] = await executable.run(poisoned);
    expect(withNaN!.some(Number.isNaN)).toBe(true);
    expect(withNaN!.some((v) => !Number.isNaN(v))).toBe(true); // the second sample has no NaN
    const [after] = await executable.run(clean);
    expect(after).toEqual(expected);
  });
});
