/**
 * The `resnet` command as a user runs it: the compiled CLI in a child process (needs `npm run build`,
 * which the README's set-up and CI do; skipped with a message otherwise).
 */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cliBuilt, resnet, resnetWith } from '../helpers/cli-runner.js';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { backendInfo } from '../../lib/index.js';
import { describeCuda, describeImageDecoder } from '../../lib/cli/info.js';
import { cpuFlags, cpuHasNativeBFloat16 } from '../helpers/cpu-flags.js';

const built = cliBuilt;
if (!built) console.warn(`test/cli.test.ts: skipped, ${cli} is missing (run npm run build)`);


describe.runIf(built)('resnet CLI', () => {
  it('info --json reports the version and the oneDNN backend', async () => {
    const { stdout, code } = await resnet('info', '--json');
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.backends.cpu.library).toBe('oneDNN');
    expect(info.backends.cpu.version).toMatch(/^\d+\.\d+/);
    expect(info.backends.cpu.isa.length).toBeGreaterThan(0);
    expect(info.backends.cuda.available).toBe(false);
  });

  it("info lists the CPU's low-precision ISAs as /proc/cpuinfo does, and whether bfloat16 runs natively", async () => {
    const flags = cpuFlags();
    const [text, json] = await Promise.all([resnet('info'), resnet('info', '--json')]);
    const cpu = JSON.parse(json.stdout).backends.cpu as { isa: string; lowPrecisionIsas: string[]; bfloat16: boolean };
    if (flags !== null) {
      const expected = ['avx_vnni', 'avx512_vnni', 'avx512_bf16', 'amx_int8', 'amx_bf16'].filter((name) => flags.has(name));
      expect(cpu.lowPrecisionIsas).toEqual(expected);
      if (!process.env.ONEDNN_MAX_CPU_ISA) expect(cpu.bfloat16).toBe(cpuHasNativeBFloat16(flags));
      const found = expected.length > 0 ? expected.join(' ') : 'none';
      expect(text.stdout).toContain(`low-precision ISAs: ${found} (${cpu.bfloat16 ? 'bfloat16 native' : `no bfloat16: oneDNN's ISA is ${cpu.isa}`})`);
    }
  });

  it('bench --compare onnxruntime prints both engines, and --json gives the rows', async () => {
    const { stdout, code } = await resnet('bench', '--model', 'resnet18', '--input-size', '64', '--batch', '1,2', '--iters', '2', '--warmup', '1', '--threads', '1', '--compare', 'onnxruntime', '--json');
    expect(code).toBe(0);
    const rows = JSON.parse(stdout) as { batch: number; engine: string; imgPerSec: number; ratio?: number; gflops: number }[];
    expect(rows.map((r) => r.batch)).toEqual([1, 1, 2, 2]);
    expect(rows[0]!.engine).toBe('resnet-cudnn (cpu)');
    expect(rows[1]!.engine).toMatch(/^onnxruntime-node /);
    for (const r of rows) expect(r.imgPerSec).toBeGreaterThan(0);
    expect(rows[0]!.ratio).toBeUndefined();
    expect(rows[1]!.ratio).toBeCloseTo(rows[0]!.imgPerSec / rows[1]!.imgPerSec, 6);
    // resnet18 at 64x64: every feature map is 2/7 of the 224 one's side, so the convs cost
    // (1814.08 − 0.512) M MAC × 4/49 and the fc 0.512 M: 148.55 M MAC = 0.2971 GFLOP per image.
    expect(rows[0]!.gflops / rows[0]!.imgPerSec).toBeCloseTo(0.2971, 3);
  });

  it('bench prints a table by default', async () => {
    const { stdout, code } = await resnet('bench', '--model', 'resnet18', '--input-size', '32', '--batch', '1', '--iters', '1', '--warmup', '1');
    expect(code).toBe(0);
    expect(stdout).toMatch(/model\s+batch\s+engine\s+img\/s\s+ms median\s+ms p90\s+GFLOP\/s/);
    expect(stdout).toMatch(/resnet18\s+1\s+resnet-cudnn \(cpu\)/);
  });

  it('bench --input-dtype uint8 --input-layout nhwc feeds pixels from engine memory; onnxruntime is not compared on them', async () => {
    const { stdout, code } = await resnet('bench', '--model', 'resnet18', '--input-size', '32', '--batch', '2', '--iters', '1', '--warmup', '1', '--input-dtype', 'uint8', '--input-layout', 'nhwc');
    expect(code).toBe(0);
    expect(stdout).toContain('input uint8 nhwc in engine memory');
    expect(stdout).toMatch(/resnet18\s+2\s+resnet-cudnn \(cpu\)/);
    const refused = await resnet('bench', '--model', 'resnet18', '--input-dtype', 'uint8', '--compare', 'onnxruntime');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--compare onnxruntime feeds both engines the same float32 NCHW input');
    const bad = await resnet('bench', '--input-dtype', 'int8');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("argument 'int8' is invalid. Allowed choices are float32, float16, uint8.");
  });

  it('export writes an ONNX file that onnxruntime runs', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'resnet-cli-')), 'r18.onnx');
    const { code, stdout } = await resnet('export', '--model', 'resnet18', '--num-classes', '5', '--input-size', '64', '--out', out);
    expect(code).toBe(0);
    expect(stdout).toContain(out);
    expect(statSync(out).size).toBeGreaterThan(40e6); // 11.2 M float32 parameters
    const session = await ort.InferenceSession.create(out);
    const result = await session.run({ input: new ort.Tensor('float32', new Float32Array(2 * 3 * 64 * 64).fill(0.5), [2, 3, 64, 64]) });
    expect(result.output!.dims).toEqual([2, 5]);
    await session.release();
  });

  it('an unknown model is a wrong command line: exit 2 with the choices, before any work', async () => {
    const { code, stderr } = await resnet('bench', '--model', 'resnet19', '--iters', '1');
    expect(code).toBe(2);
    expect(stderr).toContain(`error: option '-m, --model <name>' argument 'resnet19' is invalid. Unknown model "resnet19"; choose one of resnet101, resnet152, resnet18`);
  });

  it('info prints the CUDA block or why CUDA is unavailable, and what device auto takes', async () => {
    const { stdout, code } = await resnet('info');
    expect(code).toBe(0);
    const info = backendInfo();
    if (info.backends.cuda.available) {
      const cuda = info.backends.cuda;
      expect(stdout).toContain(`cuda: ${cuda.deviceName}, compute capability ${cuda.computeCapability}`);
      expect(stdout).toContain(`cuDNN ${cuda.version} loaded from ${cuda.cudnnPath}`);
      expect(stdout).toContain("device 'auto' takes: cuda:0");
    } else {
      expect(stdout).toContain(`cuda: unavailable (${info.backends.cuda.reason})`);
      expect(stdout).toContain("device 'auto' takes: cpu");
    }
    // The image decoder: on this GPU-less machine the CPU workers, and why.
    for (const line of describeImageDecoder(info.imageDecoder)) expect(stdout).toContain(line);
    if (!info.backends.cuda.available) expect(stdout).toContain('image decoder: CPU workers (');
    const json = JSON.parse((await resnet('info', '--json')).stdout);
    expect(json.autoDevice).toBe(info.backends.cuda.available ? 'cuda:0' : 'cpu');
    expect(json.backends.cuda).toEqual(info.backends.cuda);
    expect(json.imageDecoder).toEqual(info.imageDecoder);
  });

  it('bench --device auto reports where it ran and in which dtype', async () => {
    const { stdout, code } = await resnet('bench', '--model', 'resnet18', '--input-size', '32', '--batch', '1', '--iters', '1', '--warmup', '1', '--device', 'auto', '--dtype', 'float16', '--json');
    expect(code).toBe(0);
    const [row] = JSON.parse(stdout) as { device: string; dtype: string; engine: string }[];
    const gpu = backendInfo().backends.cuda.available;
    expect(row).toMatchObject(gpu ? { device: 'cuda:0', dtype: 'float16', engine: 'resnet-cudnn (cuda:0)' } : { device: 'cpu', dtype: 'float32', engine: 'resnet-cudnn (cpu)' });
  });

  it('bench --dtype bfloat16 runs on a CPU with native bfloat16, and elsewhere says which ISA is missing', async () => {
    const cpu = backendInfo().backends.cpu;
    const { stdout, stderr, code } = await resnet('bench', '--model', 'resnet18', '--input-size', '64', '--batch', '1', '--iters', '2', '--warmup', '1', '--threads', '1', '--dtype', 'bfloat16', '--json');
    if (cpu.bfloat16) {
      expect(code, stderr).toBe(0);
      const [row] = JSON.parse(stdout) as { dtype: string; device: string; msMedian: number }[];
      expect(row).toMatchObject({ dtype: 'bfloat16', device: 'cpu' });
      expect(row!.msMedian).toBeGreaterThan(0);
    } else {
      expect(code).toBe(1);
      expect(stderr).toContain(`bfloat16 on the CPU needs AVX512-BF16 or AMX (this CPU's oneDNN ISA is ${cpu.isa})`);
    }
    // oneDNN capped below bfloat16, as on a CPU without it: refused before anything is compiled, with the fix.
    const capped = await resnetWith({ env: { ONEDNN_MAX_CPU_ISA: 'AVX2' } }, 'bench', '--model', 'resnet18', '--input-size', '64', '--batch', '1', '--iters', '1', '--dtype', 'bfloat16');
    expect(capped.code).toBe(1);
    expect(capped.stderr).toMatch(/bfloat16 on the CPU needs AVX512-BF16 or AMX \(this CPU's oneDNN ISA is (avx2|avx|sse41)\); use dtype 'float32' \[ERR_UNSUPPORTED\]/);
  });

  it('bench refuses bad devices and dtypes, float16 on the CPU, and onnxruntime against a GPU', async () => {
    const device = await resnet('bench', '--device', 'gpu');
    expect(device.code).toBe(2);
    expect(device.stderr).toContain(`Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for --device but received "gpu"`);
    const dtype = await resnet('bench', '--dtype', 'half');
    expect(dtype.code).toBe(2);
    expect(dtype.stderr).toContain(`Expected 'float32', 'tf32', 'float16', 'bfloat16' or 'int8' for --dtype but received "half"`);
    const cpuHalf = await resnet('bench', '--model', 'resnet18', '--dtype', 'float16');
    expect(cpuHalf.code).toBe(1);
    expect(cpuHalf.stderr).toContain("dtype 'float16' needs a CUDA device");
    expect(cpuHalf.stderr).toContain('[ERR_UNSUPPORTED]');
    const ortOnGpu = await resnet('bench', '--model', 'resnet18', '--device', 'cuda:0', '--compare', 'onnxruntime');
    expect(ortOnGpu.code).toBe(1);
    expect(ortOnGpu.stderr).toContain('--compare onnxruntime runs onnxruntime-node on its CPU provider only, so it is not compared with a model on cuda:0');
  });

  it('a bad batch list is refused before any work', async () => {
    const { code, stderr } = await resnet('bench', '--batch', '1,x');
    expect(code).toBe(2);
    expect(stderr).toContain('expected a positive integer but received "x"');
  });
});

describe('resnet info, CUDA block', () => {
  it('names the GPU, its memory, the driver and runtime, and where cuDNN came from', () => {
    const lines = describeCuda({
      available: true, library: 'cuDNN', version: '9.10.2', cudnnPath: '/opt/torch/lib/nvidia/cudnn/lib/libcudnn.so.9',
      cudaRuntime: '13.0', driver: '12.8', devices: 2, deviceName: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0',
      memoryBytes: 85_031_714_816,
    });
    expect(lines).toEqual([
      'cuda: NVIDIA H100 80GB HBM3, compute capability 9.0, 79.2 GiB (device 0 of 2)',
      '      driver 12.8, CUDA runtime 13.0',
      '      cuDNN 9.10.2 loaded from /opt/torch/lib/nvidia/cudnn/lib/libcudnn.so.9',
    ]);
    expect(describeCuda({ available: false, reason: 'no NVIDIA driver' })).toEqual(['cuda: unavailable (no NVIDIA driver)']);
  });
});
