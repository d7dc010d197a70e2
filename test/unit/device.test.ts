/**
 * Devices and compute dtypes: every spelling of a device and dtype (and every bad one, with its message),
 * 'auto' resolution and its float32 fallback on the CPU, `module.to` reaching every descendant, the
 * CUDA errors mapped to their classes, uint8 input and fused input normalisation against plain TS
 * references, and the compile options checked in TypeScript and natively.
 * Here (no GPU) an explicit 'cuda' forward rejects and the model keeps working on the CPU; on a machine
 * with a GPU the same file checks CUDA forwards against the CPU instead.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BackendUnavailableError, CudnnNotFoundError, CudnnVersionError, GpuOutOfMemoryError, NoGpuError, OutOfMemoryError,
  Module, ResnetError, Sequential, Conv2d, ReLU, Tensor, UnsupportedError, fromNative, getModel, manualSeed, resnet18, setForwardExecutor,
  type ComputeDType,
} from '../../lib/index.js';
import type { ConvOp, Graph } from '../../lib/compile/graph.js';
import { CompiledExecutor } from '../../lib/compile/executor.js';
import { defaultPlacement } from '../../lib/nn/placement.js';
import {
  backendOf, checkComputeDType, cpuBFloat16Refusal, cpuPrecisionSupport, cudaAvailable, dtypeFallbackWarning, parseDevice, resolveDevice, resolvePlacement,
  type CpuPrecisionSupport,
} from '../../lib/runtime/device.js';
import { compileGraph } from '../../lib/runtime/engine.js';
import { loadNative } from '../../lib/runtime/native.js';
import { codeOf, maxRelativeError, randomizeBatchNorms, uniform } from '../helpers/helpers.js';
import { cpuFlags, cpuHasNativeBFloat16 } from '../helpers/cpu-flags.js';

const hasCuda = cudaAvailable();
if (!hasCuda) console.warn('test/device.test.ts: CUDA forwards skipped, backendInfo().backends.cuda is unavailable here');

function messageOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a rejection').toBeInstanceOf(Error);
  return error as Error & { code?: string };
}

/**
 * Each case's options (`optionsOf(value)`) rejected with ERR_INVALID_ARGUMENT and a message matching its
 * pattern, by compileGraph (checked in TypeScript) and by the addon's compile (checked natively) alike.
 */
async function expectRejectedTwice(cases: readonly [unknown, RegExp][], optionsOf: (value: unknown) => object): Promise<void> {
  const addon = loadNative();
  for (const [value, message] of cases) {
    const options = optionsOf(value) as never;
    for (const error of [await rejection(compileGraph(convGraph(), options)), await rejection(addon.compile(convGraph(), options))]) {
      expect(error.code, JSON.stringify(value)).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(message);
    }
  }
}

describe('device and dtype names', () => {
  it('parses every spelling', () => {
    expect(parseDevice('cpu')).toEqual({ type: 'cpu' });
    expect(parseDevice('auto')).toEqual({ type: 'auto' });
    expect(parseDevice('cuda')).toEqual({ type: 'cuda', index: 0 });
    expect(parseDevice('cuda:0')).toEqual({ type: 'cuda', index: 0 });
    expect(parseDevice('cuda:7')).toEqual({ type: 'cuda', index: 7 });
    expect(parseDevice('cuda:1023')).toEqual({ type: 'cuda', index: 1023 });
    for (const d of ['float32', 'tf32', 'float16', 'bfloat16'] as const) expect(checkComputeDType(d)).toBe(d);
  });

  it('rejects every bad spelling with one message', () => {
    const bad: [unknown, string][] = [
      ['gpu', '"gpu"'], ['CUDA', '"CUDA"'], ['Cpu', '"Cpu"'], ['cuda:', '"cuda:"'], ['cuda:-1', '"cuda:-1"'],
      ['cuda:1.5', '"cuda:1.5"'], ['cuda:01', '"cuda:01"'], ['cuda:1024', '"cuda:1024"'], ['cuda:99999', '"cuda:99999"'],
      [' cuda', '" cuda"'], ['cuda:0 ', '"cuda:0 "'], ['cuda:x', '"cuda:x"'], ['mps', '"mps"'], ['', '""'],
      [0, '0'], [null, 'null'], [undefined, 'undefined'], [{ type: 'cuda' }, '{"type":"cuda"}'],
    ];
    for (const [value, shown] of bad) {
      expect(messageOf(() => parseDevice(value))).toBe(`Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for device but received ${shown}`);
      expect(codeOf(() => parseDevice(value))).toBe('ERR_INVALID_ARGUMENT');
    }
    for (const [value, shown] of [['half', '"half"'], ['fp16', '"fp16"'], ['float64', '"float64"'], ['FLOAT32', '"FLOAT32"'], [16, '16']] as const) {
      expect(messageOf(() => checkComputeDType(value))).toBe(
        `Expected 'float32', 'tf32', 'float16', 'bfloat16' or 'int8' for dtype but received ${shown}`,
      );
    }
  });

  it("resolves 'cuda' to cuda:0 and 'auto' by what the machine offers", () => {
    expect(resolveDevice('cuda')).toBe('cuda:0');
    expect(resolveDevice('cuda:3')).toBe('cuda:3');
    expect(resolveDevice('cpu')).toBe('cpu');
    expect(resolveDevice('auto', () => true)).toBe('cuda:0');
    expect(resolveDevice('auto', () => false)).toBe('cpu');
    expect(resolveDevice('auto')).toBe(hasCuda ? 'cuda:0' : 'cpu');
    expect(backendOf('cpu')).toEqual({ backend: 'cpu' });
    expect(backendOf('cuda:2')).toEqual({ backend: 'cuda', device: 2 });
  });

  it("keeps the asked dtype on a GPU and falls back to float32, with a warning, when 'auto' lands on a CPU that cannot run it", () => {
    const gpu = () => true;
    const noGpu = () => false;
    const bf16Cpu = (): CpuPrecisionSupport => ({ isa: 'avx512_core_bf16', bfloat16: true });
    const avx2Cpu = (): CpuPrecisionSupport => ({ isa: 'avx2', bfloat16: false });
    const warnings = warningsDuring(() => {
      expect(resolvePlacement({ device: 'auto', dtype: 'float16' }, defaultPlacement, gpu, avx2Cpu)).toEqual({ device: 'cuda:0', dtype: 'float16', benchmark: false });
      expect(resolvePlacement({ device: 'auto', dtype: 'float16' }, defaultPlacement, noGpu, bf16Cpu)).toEqual({ device: 'cpu', dtype: 'float32', benchmark: false });
    });
    expect(warnings).toEqual([[`device 'auto' runs on the CPU here, in float32 rather than float16: float16 needs a CUDA device, and none works`, dtypeFallbackWarning]]);
    // What the request leaves out keeps its value.
    const onGpu = resolvePlacement({ device: 'cuda:1', dtype: 'bfloat16', benchmark: true }, defaultPlacement, noGpu, avx2Cpu);
    expect(onGpu).toEqual({ device: 'cuda:1', dtype: 'bfloat16', benchmark: true });
    expect(resolvePlacement({ dtype: 'tf32' }, onGpu, noGpu, avx2Cpu)).toEqual({ device: 'cuda:1', dtype: 'tf32', benchmark: true });
    // bfloat16 stays bfloat16 on a CPU that computes it natively, and falls back, naming the ISA, on one that does not.
    expect(warningsDuring(() => {
      expect(resolvePlacement({ device: 'auto' }, onGpu, noGpu, bf16Cpu)).toEqual({ device: 'cpu', dtype: 'bfloat16', benchmark: true });
    })).toEqual([]);
    expect(warningsDuring(() => {
      expect(resolvePlacement({ device: 'auto' }, onGpu, noGpu, avx2Cpu)).toEqual({ device: 'cpu', dtype: 'float32', benchmark: true });
    })).toEqual([[`device 'auto' runs on the CPU here, in float32 rather than bfloat16: bfloat16 on the CPU needs AVX512-BF16 or AMX (this CPU's oneDNN ISA is avx2)`, dtypeFallbackWarning]]);
    // int8 runs on the CPU: no fallback.
    expect(resolvePlacement({ device: 'auto', dtype: 'int8' }, defaultPlacement, noGpu, avx2Cpu).dtype).toBe('int8');
    // An explicit CPU does not fall back: asking it for float16, or for bfloat16 without the ISA, is an error that says what to do.
    expect(() => resolvePlacement({ device: 'cpu' }, { ...onGpu, dtype: 'float16' }, gpu, bf16Cpu)).toThrow(UnsupportedError);
    expect(messageOf(() => resolvePlacement({ dtype: 'float16' }, defaultPlacement, gpu, bf16Cpu))).toBe(
      "dtype 'float16' needs a CUDA device: the CPU backend runs float32, bfloat16 and int8 only; use device 'cuda' (or 'auto', which falls back to float32 on the CPU), or dtype 'float32'",
    );
    expect(resolvePlacement({ device: 'cpu' }, onGpu, gpu, bf16Cpu)).toEqual({ device: 'cpu', dtype: 'bfloat16', benchmark: true });
    expect(codeOf(() => resolvePlacement({ device: 'cpu' }, onGpu, gpu, avx2Cpu))).toBe('ERR_UNSUPPORTED');
    expect(messageOf(() => resolvePlacement({ device: 'cpu' }, onGpu, gpu, avx2Cpu))).toBe(
      "bfloat16 on the CPU needs AVX512-BF16 or AMX (this CPU's oneDNN ISA is avx2); use dtype 'float32'",
    );
    // Unknown support (no addon) leaves the decision to the compile.
    expect(resolvePlacement({ device: 'cpu' }, onGpu, gpu, () => null).dtype).toBe('bfloat16');
    expect(messageOf(() => resolvePlacement({ benchmark: 'yes' as never }, defaultPlacement, gpu))).toBe('Expected a boolean for benchmark but received "yes"');
  });

  it("reads this CPU's bfloat16 support from the addon, which agrees with /proc/cpuinfo's flags", () => {
    const support = cpuPrecisionSupport();
    expect(support).not.toBeNull();
    const flags = cpuFlags();
    // oneDNN caps its ISA with ONEDNN_MAX_CPU_ISA; unset (as here) it uses what the CPU has.
    if (flags !== null && !process.env.ONEDNN_MAX_CPU_ISA) expect(support!.bfloat16).toBe(cpuHasNativeBFloat16(flags));
    expect(cpuBFloat16Refusal(support!.isa)).toContain(`this CPU's oneDNN ISA is ${support!.isa}`);
  });
});

/** The (message, code) of every process warning `f` emits. */
function warningsDuring(f: () => void): [string, string | undefined][] {
  const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  try {
    f();
    return spy.mock.calls.map(([warning, options]) => [String(warning), (options as { code?: string } | undefined)?.code]);
  } finally {
    spy.mockRestore();
  }
}

/** conv1 → relu → conv2, with the modules' own weights. */
function smallNet(): Sequential {
  manualSeed(11);
  return new Sequential<Module>(new Conv2d(3, 4, 3, { padding: 1 }), new ReLU(), new Sequential(new Conv2d(4, 2, 1)));
}

describe('module.to', () => {
  afterEach(() => setForwardExecutor(new CompiledExecutor()));

  it('defaults to the CPU in float32, reaches every descendant and returns the module', () => {
    const net = smallNet();
    expect([net.device, net.dtype, net.placement.benchmark]).toEqual(['cpu', 'float32', false]);
    expect(net.to({ device: 'cuda:1', dtype: 'bfloat16', benchmark: true })).toBe(net);
    for (const m of net.modules()) expect(m.placement).toEqual({ device: 'cuda:1', dtype: 'bfloat16', benchmark: true });
    expect(net.to('cuda')).toBe(net);
    for (const m of net.modules()) expect([m.device, m.dtype]).toEqual(['cuda:0', 'bfloat16']);
    expect(net.to('float16').dtype).toBe('float16');
    // The CPU cannot keep float16: moving there without a dtype is refused and changes nothing.
    expect(net.device).toBe('cuda:0');
    expect(codeOf(() => net.to('cpu'))).toBe('ERR_UNSUPPORTED');
    net.to({ device: 'cpu', dtype: 'float32' });
    for (const m of net.modules()) expect([m.device, m.dtype]).toEqual(['cpu', 'float32']);
    // A child moved alone does not move its parent.
    net.getSubmodule('2').to('cuda:2');
    expect([net.device, net.getSubmodule('2').device, net.getSubmodule('2.0').device, net.getSubmodule('0').device]).toEqual(['cpu', 'cuda:2', 'cuda:2', 'cpu']);
  });

  it.runIf(!hasCuda)("warns once per move when 'auto' lands on the CPU in float32 rather than the dtype asked, however many modules move", () => {
    const net = smallNet().to({ device: 'cuda:0', dtype: 'float16' });
    const warnings = warningsDuring(() => net.to('auto'));
    expect(warnings).toEqual([[`device 'auto' runs on the CPU here, in float32 rather than float16: float16 needs a CUDA device, and none works`, dtypeFallbackWarning]]);
    for (const m of net.modules()) expect([m.device, m.dtype]).toEqual(['cpu', 'float32']);
  });

  it('rejects bad targets and unknown options', () => {
    const net = smallNet();
    expect(messageOf(() => net.to('gpu' as never))).toBe(`Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for device but received "gpu"`);
    expect(messageOf(() => net.to({ dtype: 'half' as never }))).toBe(`Expected 'float32', 'tf32', 'float16', 'bfloat16' or 'int8' for dtype but received "half"`);
    expect(messageOf(() => net.to({ devices: 'cpu' } as never))).toBe('to: unknown option "devices"; the options are device, dtype, benchmark');
    expect(codeOf(() => net.to(3 as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => net.to(null as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(messageOf(() => net.to('float16'))).toMatch(/^dtype 'float16' needs a CUDA device/);
    expect([net.device, net.dtype]).toEqual(['cpu', 'float32']);
  });

  it('asks the executor to release exactly the modules whose placement changed', () => {
    const net = smallNet();
    const released: unknown[] = [];
    setForwardExecutor({ forward: async () => Tensor.zeros([1]), release: (m) => released.push(m) });
    net.getSubmodule('2').to('cuda');
    expect(released).toEqual([net.getSubmodule('2'), net.getSubmodule('2.0')]);
    released.length = 0;
    net.to('cuda');
    expect(released).toEqual([net, net.getSubmodule('0'), net.getSubmodule('1')]);
    released.length = 0;
    net.to({ device: 'cuda:0' });
    expect(released).toEqual([]);
    net.to({ benchmark: true });
    expect(released).toHaveLength(5);
    expect(codeOf(() => setForwardExecutor({ forward: async () => Tensor.zeros([1]), release: 5 } as never))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('factories and getModel take device and dtype, and still reject unknown options', () => {
    expect(resnet18({ numClasses: 3, device: 'cpu', dtype: 'float32' }).device).toBe('cpu');
    const m = getModel('resnet18', { numClasses: 3, device: 'cuda:1', dtype: 'float16' });
    expect([m.device, m.dtype, m.fc.device, m.layer4.getSubmodule('1.conv2').dtype]).toEqual(['cuda:1', 'float16', 'cuda:1', 'float16']);
    expect(getModel('resnet18', { numClasses: 3, device: 'auto', dtype: 'bfloat16' }).dtype).toBe(hasCuda || cpuPrecisionSupport()!.bfloat16 ? 'bfloat16' : 'float32');
    expect(messageOf(() => resnet18({ device: 'cpu', dtype: 'float16' }))).toMatch(/^dtype 'float16' needs a CUDA device/);
    expect(codeOf(() => resnet18({ device: 'tpu' as never }))).toBe('ERR_INVALID_ARGUMENT');
    expect(messageOf(() => resnet18({ Device: 'cuda' } as never))).toMatch(/^resnet18: unknown option "Device" \(did you mean "device"\?\)/);
  });
});

describe('forward on each device', () => {
  manualSeed(3);
  const reference = resnet18({ numClasses: 7 });
  randomizeBatchNorms(reference, 4);
  const input = Tensor.from(uniform(2 * 3 * 40 * 40, 9), [2, 3, 40, 40]);

  function twin(): ReturnType<typeof resnet18> {
    const model = resnet18({ numClasses: 7 });
    model.loadStateDict(reference.stateDict());
    return model;
  }

  it("'auto' runs where it resolved and matches the CPU model", async () => {
    const expected = (await reference.forward(input)).data as Float32Array;
    const model = twin().to('auto');
    expect(model.device).toBe(hasCuda ? 'cuda:0' : 'cpu');
    const actual = (await model.forward(input)).data as Float32Array;
    if (hasCuda) expect(maxRelativeError(actual, expected)).toBeLessThanOrEqual(1e-4);
    else expect(Array.from(actual)).toEqual(Array.from(expected));
  });

  it('benchmark: true compiles and gives the same result on the CPU', async () => {
    const expected = Array.from((await reference.forward(input)).data as Float32Array);
    const model = twin().to({ device: 'cpu', benchmark: true });
    expect(Array.from((await model.forward(input)).data as Float32Array)).toEqual(expected);
  });

  it.runIf(!hasCuda)("an explicit 'cuda' forward rejects with a BackendUnavailableError, and the model works again on the CPU", async () => {
    const expected = Array.from((await reference.forward(input)).data as Float32Array);
    const model = twin();
    // Compiled for the CPU first, so moving back must find (or rebuild) a working CPU executable.
    expect(Array.from((await model.forward(input)).data as Float32Array)).toEqual(expected);
    for (const device of ['cuda', 'cuda:1'] as const) {
      model.to({ device, dtype: 'float16' });
      const error = await rejection(model.forward(input));
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(['ERR_NO_GPU', 'ERR_CUDNN_NOT_FOUND', 'ERR_BACKEND_UNAVAILABLE']).toContain(error.code);
      // The caller's frames are kept through the asynchronous compile.
      expect(error.stack).toContain('device.test.ts');
    }
    model.to({ device: 'cpu', dtype: 'float32' });
    expect(Array.from((await model.forward(input)).data as Float32Array)).toEqual(expected);
  });

  describe.runIf(hasCuda)('on the GPU', () => {
    const tolerance: Record<Exclude<ComputeDType, 'int8'>, number> = { float32: 1e-4, tf32: 5e-3, float16: 2e-2, bfloat16: 6e-2 };
    for (const dtype of ['float32', 'tf32', 'float16', 'bfloat16'] as const) {
      it(`cuda ${dtype} matches the CPU within ${tolerance[dtype]}`, async () => {
        const expected = (await reference.forward(input)).data as Float32Array;
        const model = twin().to({ device: 'cuda', dtype });
        const actual = (await model.forward(input)).data as Float32Array;
        expect(maxRelativeError(actual, expected)).toBeLessThanOrEqual(tolerance[dtype]);
        model.to({ device: 'cpu', dtype: 'float32' });
        expect(Array.from((await model.forward(input)).data as Float32Array)).toEqual(Array.from(expected));
      });
    }
  });

  it('uint8 input equals the float input of the same values', async () => {
    const bytes = new Uint8Array(2 * 3 * 40 * 40).map((_, i) => (i * 53 + 7) % 256);
    const model = twin().to('auto');
    const fromBytes = Array.from((await model.forward(Tensor.from(bytes, [2, 3, 40, 40]))).data as Float32Array);
    const fromFloats = Array.from((await model.forward(Tensor.from(Float32Array.from(bytes), [2, 3, 40, 40]))).data as Float32Array);
    expect(fromBytes).toEqual(fromFloats);
    expect(fromBytes.every(Number.isFinite)).toBe(true);
  });
});

// One 3x3 convolution [3, 5, 5] -> [4, 5, 5], padding 1, no ReLU (so signs survive into the output).
const conv: ConvOp = {
  op: 'conv', src: 0, dst: 1, residual: -1, relu: false, outChannels: 4, kernel: [3, 3], stride: [1, 1], padding: [1, 1],
  dilation: [1, 1], groups: 1, weight: uniform(4 * 3 * 9, 21, -0.3, 0.3), bias: uniform(4, 22, -0.5, 0.5),
};
const convGraph = (): Graph => ({ values: [{ shape: [3, 5, 5] }, { shape: [4, 5, 5] }], input: 0, outputs: [1], ops: [conv] });

/** The convolution in float64, one sample at a time, on input already normalised. */
function convReference(x: ArrayLike<number>, batch: number): Float64Array {
  const out = new Float64Array(batch * 4 * 25);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < 4; o++) {
      for (let y = 0; y < 5; y++) {
        for (let z = 0; z < 5; z++) {
          let sum = conv.bias[o]!;
          for (let i = 0; i < 3; i++) {
            for (let p = 0; p < 3; p++) {
              for (let q = 0; q < 3; q++) {
                const iy = y + p - 1;
                const ix = z + q - 1;
                if (iy >= 0 && iy < 5 && ix >= 0 && ix < 5) sum += x[((n * 3 + i) * 5 + iy) * 5 + ix]! * conv.weight[((o * 3 + i) * 3 + p) * 3 + q]!;
              }
            }
          }
          out[((n * 4 + o) * 5 + y) * 5 + z] = sum;
        }
      }
    }
  }
  return out;
}

/** torchvision's ToTensor + Normalize, in float64: (x * scale - mean[c]) / std[c]. */
function normaliseInJs(x: ArrayLike<number>, scale: number, mean: readonly number[], std: readonly number[]): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / 25) % 3;
    out[i] = (x[i]! * scale - mean[c]!) / std[c]!;
  }
  return out;
}

describe('compile options: normalisation, precision, device', () => {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];

  it('normalisation fused on the CPU equals normalising in JS first (float and uint8 input)', async () => {
    const batch = 2;
    const floats = uniform(batch * 75, 30, -2, 3);
    using plain = await compileGraph(convGraph(), { backend: 'cpu', batch });
    using fused = await compileGraph(convGraph(), { backend: 'cpu', batch, normalization: { scale: 0.5, mean, std } });
    const normalised = Float32Array.from(normaliseInJs(floats, 0.5, mean, std));
    const [expected] = await plain.run(normalised);
    const [actual] = await fused.run(floats);
    expect(maxRelativeError(actual!, expected!)).toBeLessThanOrEqual(1e-6);
    expect(maxRelativeError(actual!, convReference(normaliseInJs(floats, 0.5, mean, std), batch))).toBeLessThanOrEqual(1e-6);

    const bytes = new Uint8Array(batch * 75).map((_, i) => (i * 97 + 13) % 256);
    using pixels = await compileGraph(convGraph(), { backend: 'cpu', batch, normalization: { scale: 1 / 255, mean, std } });
    const [fromBytes] = await pixels.run(bytes);
    const [fromJs] = await plain.run(Float32Array.from(normaliseInJs(bytes, 1 / 255, mean, std)));
    expect(maxRelativeError(fromBytes!, fromJs!)).toBeLessThanOrEqual(1e-6);
    expect(maxRelativeError(fromBytes!, convReference(normaliseInJs(bytes, 1 / 255, mean, std), batch))).toBeLessThanOrEqual(1e-6);
    // Without a scale, the values are used as they are.
    using unscaled = await compileGraph(convGraph(), { backend: 'cpu', batch, normalization: { mean, std } });
    const [noScale] = await unscaled.run(floats);
    expect(maxRelativeError(noScale!, convReference(normaliseInJs(floats, 1, mean, std), batch))).toBeLessThanOrEqual(1e-6);
  });

  it('uint8 runs equal float runs of the same values', async () => {
    using executable = await compileGraph(convGraph(), { backend: 'cpu', batch: 1 });
    const bytes = new Uint8Array(75).map((_, i) => (i * 31) % 256);
    const [a] = await executable.run(bytes);
    const [b] = await executable.run(Float32Array.from(bytes));
    expect(Array.from(a!)).toEqual(Array.from(b!));
    expect(maxRelativeError(a!, convReference(bytes, 1))).toBeLessThanOrEqual(1e-6);
  });

  it('rejects bad normalisation options in TypeScript and natively, with messages', async () => {
    const cases: [unknown, RegExp][] = [
      [{ mean: [0.5, 0.5], std: [0.2, 0.2] }, /^Expected 3 numbers \(one per input channel\) for options\.normalization\.mean and \.std but received 2$/],
      [{ mean, std: [0.2, 0, 0.2] }, /^Expected a finite positive number for options\.normalization\.std\[1\] but received 0$/],
      [{ mean, std: [0.2, -1, 0.2] }, /^Expected a finite positive number for options\.normalization\.std\[1\] but received -1$/],
      [{ mean: [0.5, NaN, 0.5], std }, /^Expected a finite number for options\.normalization\.mean\[1\] but received NaN$/],
      [{ mean, std: [0.2, 0.2] }, /^Expected as many numbers in options\.normalization\.std as in \.mean \(3\) but received 2$/],
      [{ mean: [], std: [] }, /for options\.normalization\.mean but received/],
      [{ mean: 'imagenet', std }, /^Expected an array of numbers for options\.normalization\.mean but received "imagenet"$/],
      [{ std }, /^Expected an array of numbers for options\.normalization\.mean but received undefined$/],
      [{ scale: Infinity, mean, std }, /^Expected a finite number for options\.normalization\.scale but received Infinity$/],
      [5, /for options\.normalization but received 5$/],
    ];
    await expectRejectedTwice(cases, (normalization) => ({ backend: 'cpu', batch: 1, normalization }));
  });

  it('checks the cudnn options in TypeScript and natively, with messages; the CPU backend ignores valid ones', async () => {
    const cases: [unknown, RegExp][] = [
      [true, /^Expected an object.* for options\.cudnn but received true$/],
      [{ graphApi: 0 }, /^Expected a boolean for options\.cudnn\.graphApi but received 0$/],
      [{ graphCandidates: 0 }, /^Expected an integer between 1 and 16 for options\.cudnn\.graphCandidates but received 0$/],
      [{ graphCandidates: 2.5 }, /^Expected an integer between 1 and 16 for options\.cudnn\.graphCandidates but received 2\.5$/],
      [{ graphBudgetMs: -1 }, /^Expected a finite number >= 0 \(0 for no limit\) for options\.cudnn\.graphBudgetMs but received -1$/],
      [{ graphBudgetMs: Infinity }, /^Expected a finite number >= 0 \(0 for no limit\) for options\.cudnn\.graphBudgetMs but received Infinity$/],
      [{ verbose: 'yes' }, /^Expected a boolean for options\.cudnn\.verbose but received "yes"$/],
      [{ graphAPI: false }, /^options\.cudnn: unknown option "graphAPI"/],
      [{ stem: 'fastest' }, /^Expected "auto", "direct", "space_to_depth" or "four_channel" for options\.cudnn\.stem but received "fastest"$/],
      [{ stem: 2 }, /^Expected "auto", "direct", "space_to_depth" or "four_channel" for options\.cudnn\.stem but received 2$/],
    ];
    await expectRejectedTwice(cases, (cudnn) => ({ backend: 'cpu', batch: 1, cudnn }));
    using plain = await compileGraph(convGraph(), { backend: 'cpu', batch: 1 });
    using knobs = await compileGraph(convGraph(), { backend: 'cpu', batch: 1, cudnn: { graphApi: false, graphCandidates: 16, graphBudgetMs: 0, verbose: true, stem: 'space_to_depth' } });
    const input = new Float32Array(75).map((_, i) => Math.sin(i));
    expect(Array.from((await knobs.run(input))[0]!)).toEqual(Array.from((await plain.run(input))[0]!));
  });

  it('the CPU backend refuses tf32 and float16, and int8 on a graph not quantized, saying so', async () => {
    using ok = await compileGraph(convGraph(), { backend: 'cpu', batch: 1, precision: 'float32' });
    expect(ok.weightBytes).toBeGreaterThan(0);
    for (const precision of ['tf32', 'float16'] as const) {
      const error = await rejection(compileGraph(convGraph(), { backend: 'cpu', batch: 1, precision }));
      expect(error).toBeInstanceOf(UnsupportedError);
      expect(error.code).toBe('ERR_UNSUPPORTED');
      expect(error.message).toContain(`the CPU backend runs float32, bfloat16 and int8 only, not ${precision}`);
    }
    const float = await rejection(compileGraph(convGraph(), { backend: 'cpu', batch: 1, precision: 'int8' }));
    expect(float).toBeInstanceOf(UnsupportedError);
    expect(float.message).toContain('precision int8 needs a quantized graph: quantize the model first');
    const quantized: Graph = { ...convGraph(), values: [{ shape: [3, 5, 5], quant: { scale: 0.05, dtype: 'int8' } }, { shape: [4, 5, 5] }] };
    using int8 = await compileGraph(quantized, { backend: 'cpu', batch: 1, precision: 'int8' });
    expect(int8.weightBytes).toBeGreaterThan(0);
  });

  it('checks precision, device and benchmark in TypeScript with the engine’s wording', async () => {
    const bad: [object, string][] = [
      [{ precision: 'half' }, 'Expected "float32", "tf32", "float16", "bfloat16" or "int8" for options.precision but received "half"'],
      [{ device: -1 }, 'Expected an integer between 0 and 1023 for options.device but received -1'],
      [{ device: 1.5 }, 'Expected an integer between 0 and 1023 for options.device but received 1.5'],
      [{ device: 'cuda:0' }, 'Expected an integer between 0 and 1023 for options.device but received "cuda:0"'],
      [{ benchmark: 1 }, 'Expected a boolean for options.benchmark but received 1'],
    ];
    for (const [extra, message] of bad) {
      const error = await rejection(compileGraph(convGraph(), { backend: 'cuda', batch: 1, ...extra } as never));
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toBe(message);
    }
  });

  it.runIf(!hasCuda)('compiling for cuda here rejects with a BackendUnavailableError subclass', async () => {
    for (const device of [0, 3]) {
      const error = await rejection(compileGraph(convGraph(), { backend: 'cuda', batch: 1, device, precision: 'float16' }));
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(['ERR_NO_GPU', 'ERR_CUDNN_NOT_FOUND', 'ERR_BACKEND_UNAVAILABLE']).toContain(error.code);
      expect(error.message.length).toBeGreaterThan(20);
    }
  });
});

describe('GPU error classes', () => {
  const cases = [
    ['ERR_NO_GPU', NoGpuError, BackendUnavailableError],
    ['ERR_CUDNN_NOT_FOUND', CudnnNotFoundError, BackendUnavailableError],
    ['ERR_CUDNN_VERSION', CudnnVersionError, BackendUnavailableError],
    ['ERR_GPU_OUT_OF_MEMORY', GpuOutOfMemoryError, OutOfMemoryError],
  ] as const;

  it('fromNative maps each code to its class, under the general one, keeping message and call site', () => {
    for (const [code, Class, Parent] of cases) {
      const callSite = new Error('here');
      const typed = fromNative(Object.assign(new Error(`native says ${code}`), { code }), callSite);
      expect(typed).toBeInstanceOf(Class);
      expect(typed).toBeInstanceOf(Parent);
      expect(typed).toBeInstanceOf(ResnetError);
      expect(typed.code).toBe(code);
      expect(typed.name).toBe(Class.name);
      expect(typed.message).toBe(`native says ${code}`);
      expect(typed.stack).toContain('device.test.ts');
      // Built directly, each carries its own code too.
      const direct = new Class('x');
      expect([direct.code, direct.name]).toEqual([code, Class.name]);
    }
    // The general classes keep theirs.
    expect(new BackendUnavailableError('x').code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(new OutOfMemoryError('x').code).toBe('ERR_OUT_OF_MEMORY');
    expect(fromNative(Object.assign(new Error('x'), { code: 'ERR_BACKEND_UNAVAILABLE' }))).not.toBeInstanceOf(NoGpuError);
    expect(fromNative(Object.assign(new Error('x'), { code: 'ERR_OUT_OF_MEMORY' }))).not.toBeInstanceOf(GpuOutOfMemoryError);
  });
});
