/**
 * `resnet bench --compare pytorch`: python/bench_pytorch.py driven by lib/cli/pytorch.ts.
 *
 * With a Python that has torch and torchvision (RESNET_CUDNN_PYTHON, else python3 on PATH) this is a real
 * cross-check: torchvision's resnet18 with our weights (non-trivial BatchNorm statistics) gives the logits
 * of our CPU forward within 1e-5 relative L2, whether the weights are read by the safetensors package or by
 * the script's own reader, and the timings come back by the bench's rules. Without torch those tests skip
 * and say why. The protocol's failures (no Python, no torch, a crash, a hang, a garbled answer) run
 * everywhere, with stand-in "Pythons" written here as shell scripts (and python3 itself where it exists).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resnet18, manualSeed, getNumThreads, Tensor } from '../../lib/index.js';
import { PyTorchError, PyTorchUnavailableError } from '../../lib/errors.js';
import { runPyTorchBench, pytorchBenchScript, type PyTorchBenchRequest } from '../../lib/cli/pytorch.js';
import { median, quantile } from '../../lib/cli/stats.js';
import { randomizeBatchNorms, relativeL2, uniform } from '../helpers/helpers.js';
import { cliBuilt, resnet } from '../helpers/cli-runner.js';
import { findAll, parseXml } from '../helpers/xml.js';

const python = process.env.RESNET_CUDNN_PYTHON || 'python3';
const probe = spawnSync(python, ['-c', 'import torch, torchvision; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
const torchReason =
  probe.error ? `${python} could not be run (${probe.error.message})` : probe.status !== 0 ? `${python} cannot import torch/torchvision: ${probe.stderr.trim().split('\n').pop()}` : '';
if (torchReason) console.warn(`test/cli/bench-pytorch.test.ts: the PyTorch cross-checks are skipped: ${torchReason} (set RESNET_CUDNN_PYTHON to a Python with torch and torchvision)`);
const hasPython3 = spawnSync('python3', ['-c', 'pass']).status === 0;

const scratch = mkdtempSync(path.join(tmpdir(), 'bench-pytorch-test-'));
afterAll(() => spawnSync('rm', ['-rf', scratch]));

/** An executable shell script standing in for Python. */
function fakePython(name: string, body: string): string {
  const file = path.join(scratch, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

const size = 64;
const batches = [1, 2];

/** resnet18 with non-trivial BatchNorms, the request for it, and our CPU logits for its check input. */
async function subject(): Promise<{ request: PyTorchBenchRequest; ours: Float32Array }> {
  manualSeed(7);
  const model = resnet18();
  randomizeBatchNorms(model, 11);
  model.markWeightsChanged();
  const checkShape = [batches[0]!, 3, size, size] as const;
  const checkInput = uniform(3 * size * size, 5);
  const ours = (await model.forward(Tensor.from(checkInput, [...checkShape]))).toFloat32().data;
  const request: PyTorchBenchRequest = {
    model: 'resnet18', weights: model.stateDict(), checkInput, checkShape, size, batches, warmup: 1, iters: 3,
    threads: getNumThreads(), device: 'cpu', dtype: 'float32', compile: false,
  };
  return { request, ours };
}

const tinyRequest = (): PyTorchBenchRequest => ({
  model: 'resnet18', weights: { w: Tensor.from(new Float32Array([1, 2]), [2]) }, checkInput: new Float32Array(3 * 4 * 4),
  checkShape: [1, 3, 4, 4], size: 4, batches: [1], warmup: 1, iters: 1, threads: 1, device: 'cpu', dtype: 'float32',
});

describe.skipIf(torchReason !== '')('PyTorch against our CPU forward (real torch)', () => {
  it('resnet18 eager: the same logits within 1e-5 relative L2, timings by the bench rules', async () => {
    const { request, ours } = await subject();
    const result = await runPyTorchBench(request, { python });
    expect(result.device).toBe('cpu');
    expect(result.dtype).toBe('float32');
    expect(result.threads).toBe(request.threads);
    // Our engine's OpenMP wait policy (PASSIVE unless the user chose): spinning threads would skew the comparison.
    expect(result.ompWaitPolicy).toBe(process.env.GOMP_SPINCOUNT === undefined ? (process.env.OMP_WAIT_POLICY ?? 'PASSIVE') : (process.env.OMP_WAIT_POLICY ?? null));
    expect(result.torch).toMatch(/^\d+\.\d+/);
    expect(result.eager.logits).toHaveLength(1000);
    const error = relativeL2(ours, result.eager.logits);
    console.log(`resnet18 ${size}x${size}: ours vs torch ${result.torch} eager, relative L2 ${error.toExponential(2)} (weights read by ${result.weightsLoader})`);
    expect(error).toBeLessThan(1e-5);
    expect(result.compile).toEqual({ status: 'off' });
    expect(result.eager.timings.map((t) => t.batch)).toEqual(batches);
    for (const t of result.eager.timings) {
      expect(t.timesMs).toHaveLength(request.iters);
      for (const ms of t.timesMs) expect(ms).toBeGreaterThan(0);
      expect(t.firstMs).toBeGreaterThan(0);
      // Python's quantiles are the bench's (linear interpolation).
      expect(t.medianMs).toBeCloseTo(median(t.timesMs), 9);
      expect(t.p10Ms).toBeCloseTo(quantile(t.timesMs, 0.1), 9);
      expect(t.p90Ms).toBeCloseTo(quantile(t.timesMs, 0.9), 9);
    }
  });

  it("the script's own safetensors reader loads the same weights as the safetensors package", async () => {
    const { request, ours } = await subject();
    const builtin = await runPyTorchBench({ ...request, weightsLoader: 'builtin', batches: [1], iters: 1 }, { python });
    expect(builtin.weightsLoader).toBe('builtin');
    expect(relativeL2(ours, builtin.eager.logits)).toBeLessThan(1e-5);
    const auto = await runPyTorchBench({ ...request, batches: [1], iters: 1 }, { python });
    if (auto.weightsLoader === 'safetensors') expect(Array.from(builtin.eager.logits)).toEqual(Array.from(auto.eager.logits));
    else console.warn('the safetensors package is not importable here: only the builtin reader was checked');
  });

  it.runIf(process.env.RESNET_TEST_TORCH_COMPILE === '1')('torch.compile: timed and its logits checked (RESNET_TEST_TORCH_COMPILE=1; minutes on a small CPU)', async () => {
    const { request, ours } = await subject();
    const result = await runPyTorchBench({ ...request, batches: [1], iters: 2, compile: true }, { python });
    expect(result.compile.status, JSON.stringify(result.compile)).toBe('ok');
    if (result.compile.status !== 'ok') return;
    expect(result.compile.timings[0]!.timesMs).toHaveLength(2);
    expect(result.compile.seconds).toBeGreaterThan(0);
    expect(relativeL2(ours, result.compile.logits)).toBeLessThan(1e-5);
  }, 900_000);
});

describe('the PyTorch protocol when something is missing or goes wrong', () => {
  it('no such Python: PyTorchUnavailableError saying what to install', async () => {
    const missing = path.join(scratch, 'no-such-python');
    const error = await runPyTorchBench(tinyRequest(), { python: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PyTorchUnavailableError);
    expect((error as PyTorchUnavailableError).code).toBe('ERR_PYTORCH_UNAVAILABLE');
    expect((error as Error).message).toContain(`${missing} was not found`);
    expect((error as Error).message).toContain('pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu');
  });

  it.runIf(hasPython3)('a Python whose `import torch` fails: the script says so (exit 3) and the error names the fix', async () => {
    const shadow = path.join(scratch, 'shadow');
    spawnSync('mkdir', ['-p', shadow]);
    writeFileSync(path.join(shadow, 'torch.py'), 'raise ImportError("no torch in this test Python")\n');
    const noTorch = fakePython('python-without-torch', `PYTHONPATH="${shadow}" exec python3 "$@"`);
    const error = await runPyTorchBench(tinyRequest(), { python: noTorch }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PyTorchUnavailableError);
    expect((error as Error).message).toContain('cannot import torch: ImportError: no torch in this test Python');
    expect((error as Error).message).toContain('RESNET_CUDNN_PYTHON');
  });

  it('a crash: PyTorchError with the exit status and the end of stderr', async () => {
    const crash = fakePython('python-crash', 'echo "line one" >&2; echo "RuntimeError: boom in the test" >&2; exit 1');
    const error = await runPyTorchBench(tinyRequest(), { python: crash }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PyTorchError);
    expect((error as PyTorchError).code).toBe('ERR_PYTORCH');
    expect((error as PyTorchError).exitCode).toBe(1);
    expect((error as PyTorchError).stderrTail).toBe('line one\nRuntimeError: boom in the test');
    expect((error as Error).message).toContain('exited with status 1; its stderr ended with:\nline one\nRuntimeError: boom in the test');
  });

  it('a hang: stopped at the time limit with its whole process group', async () => {
    const pidFile = path.join(scratch, 'child.pid');
    const hang = fakePython('python-hang', `sleep 60 & echo $! > "${pidFile}"; echo "compiling..." >&2; wait`);
    const begin = Date.now();
    const error = await runPyTorchBench(tinyRequest(), { python: hang, timeoutMs: 1500 }).catch((e: unknown) => e);
    expect(Date.now() - begin).toBeLessThan(10_000);
    expect(error).toBeInstanceOf(PyTorchError);
    expect((error as Error).message).toContain('did not finish within 2 s and was stopped');
    expect((error as PyTorchError).stderrTail).toBe('compiling...');
    expect((error as PyTorchError).exitCode).toBeNull();
    // The grandchild (as torch.compile's workers would be) went with the group: gone, or a zombie
    // waiting for whichever process adopted it to reap it.
    const child = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stat = path.join('/proc', String(child), 'stat');
    if (existsSync(stat)) expect(readFileSync(stat, 'utf8').split(') ')[1]![0]).toBe('Z');
  });

  it('an answer that is not the result: PyTorchError quoting it', async () => {
    const garbled = fakePython('python-garbled', 'echo "Downloading weights..."; exit 0');
    const error = await runPyTorchBench(tinyRequest(), { python: garbled }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PyTorchError);
    expect((error as Error).message).toContain('answered something that is not its result');
    expect((error as Error).message).toContain('Downloading weights...');
  });

  it('the script ships where the module looks for it', () => {
    expect(existsSync(pytorchBenchScript)).toBe(true);
  });
});

describe.runIf(cliBuilt)('resnet bench --compare (CLI)', () => {
  it('without a usable PyTorch the rest of the bench still runs and says what to install', async () => {
    process.env.RESNET_CUDNN_PYTHON = path.join(scratch, 'no-such-python');
    try {
      const { stdout, stderr, code } = await resnet('bench', '--model', 'resnet18', '--input-size', '32', '--batch', '1', '--iters', '1', '--warmup', '1', '--compare', 'pytorch', '--json');
      expect(code).toBe(0);
      expect(stderr).toContain('resnet bench: PyTorch is left out');
      expect(stderr).toContain('pip install torch torchvision');
      const rows = JSON.parse(stdout) as { engine: string }[];
      expect(rows.map((r) => r.engine)).toEqual(['resnet-cudnn (cpu)']);
    } finally {
      delete process.env.RESNET_CUDNN_PYTHON;
    }
  });

  it('refuses what PyTorch cannot be compared on', async () => {
    const cifar = await resnet('bench', '--model', 'resnet20', '--compare', 'pytorch');
    expect(cifar.code).toBe(1);
    expect(cifar.stderr).toContain('--compare pytorch builds the model from torchvision, which has no CIFAR-10 ResNets');
    const unknown = await resnet('bench', '--compare', 'onnxruntime,tensorflow');
    expect(unknown.code).toBe(2); // a wrong command line
    expect(unknown.stderr).toContain('--compare accepts onnxruntime and pytorch (comma-separated) but received "tensorflow"');
  });

  it.skipIf(torchReason !== '')('onnxruntime and PyTorch eager side by side: rows, ratios, relative L2 and the chart of the same medians', async () => {
    const chart = path.join(scratch, 'bench.svg');
    process.env.RESNET_CUDNN_PYTHON = python;
    try {
      const { stdout, stderr, code } = await resnet(
        'bench', '--model', 'resnet18', '--input-size', '64', '--batch', '1,2', '--iters', '2', '--warmup', '1', '--threads', '2',
        '--compare', 'onnxruntime,pytorch', '--torch-compile', 'off', '--chart', chart, '--json',
      );
      expect(code, stderr).toBe(0);
      const rows = JSON.parse(stdout) as { batch: number; engine: string; imgPerSec: number; ratio?: number; relL2?: number }[];
      expect(rows.map((r) => r.batch)).toEqual([1, 1, 1, 2, 2, 2]);
      expect(rows[0]!.engine).toBe('resnet-cudnn (cpu)');
      expect(rows[1]!.engine).toMatch(/^onnxruntime-node /);
      expect(rows[2]!.engine).toMatch(/^pytorch \S+ eager$/);
      for (const [i, r] of rows.entries()) {
        expect(r.imgPerSec).toBeGreaterThan(0);
        if (i % 3 === 0) expect(r.ratio).toBeUndefined();
        else expect(r.ratio).toBeCloseTo(rows[i - (i % 3)]!.imgPerSec / r.imgPerSec, 9);
      }
      // Logits of one fixed input against PyTorch eager's: ours and onnxruntime's (also on the batch-2 rows).
      expect(rows[0]!.relL2).toBeLessThan(1e-5);
      expect(rows[1]!.relL2).toBeLessThan(1e-5);
      expect(rows[2]!.relL2).toBeUndefined();
      // The chart: one line per engine, each point labelled with the row's median as the table prints it.
      const root = parseXml(readFileSync(chart, 'utf8'));
      const lines = findAll(root, (e) => e.attributes['aria-roledescription'] === 'line mark').map((e) => e.attributes['aria-label']);
      expect(lines).toEqual(rows.slice(0, 3).map((r) => r.engine));
      const points = findAll(root, (e) => e.attributes['aria-roledescription'] === 'point').map((e) => e.attributes['aria-label']!);
      const plotted = points.map((p) => /^(.*), batch (\d+): ([\d.]+) img\/s/.exec(p)!.slice(1).join(' | ')).sort();
      expect(plotted).toEqual(rows.map((r) => [r.engine, r.batch, r.imgPerSec.toFixed(2)].join(' | ')).sort());
      const title = findAll(root, (e) => e.attributes['aria-roledescription'] === 'title')[0]!.attributes['aria-label'];
      expect(title).toBe("Title text 'resnet18 64×64, float32 on cpu'");
    } finally {
      delete process.env.RESNET_CUDNN_PYTHON;
    }
  }, 300_000);
});
